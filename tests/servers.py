"""Finding a real PostgreSQL or Redis for tests.

Order (as the SPEC says): the server named by ``TEST_DATABASE_URL`` / ``REDIS_URL``; otherwise a
throwaway one started from the installed binaries; otherwise skip with a reason. With ``CI=true`` a
missing server fails the run instead of skipping.

The throwaway servers (:class:`PostgresCluster`, :class:`RedisServer`) are also what the tests that stop,
kill or hang a server use: one class each, never the machine's server.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

import pytest

from tests.serving import Spawned, free_port, listening


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(reason: str) -> NoReturn:
    if in_ci():
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)


class RedisServer:
    """A redis-server of the test's own (never the machine's) on a fixed free port, without persistence: a
    restart comes back empty. A test may kill it, pause it (SIGSTOP: connections stay open, nothing answers),
    resume it and start it again. No binary skips the test (fails it with ``CI=true``)."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if not binary:
            unavailable("no redis-server binary for a throwaway Redis: set REDIS_URL or install redis-server")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = Spawned([str(binary), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                "--appendonly", "no"], ready=listening(self.port), timeout=20, what="redis-server")

    def start(self) -> RedisServer:
        self.process.start()
        return self

    def kill(self) -> None:
        """SIGKILL: gone at once, nothing saved."""
        self.process.kill()

    def pause(self) -> None:
        self.process.send(signal.SIGSTOP)

    def resume(self) -> None:
        self.process.send(signal.SIGCONT)

    def stop(self) -> None:
        self.process.stop()


@contextmanager
def throwaway_redis() -> Iterator[RedisServer]:
    """A started :class:`RedisServer`, stopped when the block ends."""
    server = RedisServer().start()
    try:
        yield server
    finally:
        server.stop()


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True):
        return str(candidate)
    return None


class PostgresCluster:
    """A throwaway PostgreSQL cluster of the test's own (never the machine's server), from the installed binaries,
    on a free port with fsync off. A test may stop it (``immediate``, as a crash would, or ``fast``), start and
    restart it. No binaries (or root without ``runuser``) skip the test (fail it with ``CI=true``)."""

    def __init__(self) -> None:
        initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
        if not (initdb and pg_ctl):
            unavailable("no PostgreSQL server binaries (initdb, pg_ctl) for a throwaway cluster: "
                        "set TEST_DATABASE_URL or install them")
        self.initdb, self.pg_ctl = str(initdb), str(pg_ctl)
        self.as_user: list[str] = []
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            runuser = shutil.which("runuser")
            if not runuser:
                unavailable("running as root without runuser: cannot start a throwaway PostgreSQL")
            self.as_user = [str(runuser), "-u", "postgres", "--"]
        self.tmp = tempfile.mkdtemp(prefix="pgtest-")
        os.chmod(self.tmp, 0o777)  # noqa: S103 - throwaway dir the postgres user must write into
        self.data = os.path.join(self.tmp, "data")
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, check: bool = True, timeout: float = 120) -> None:
        subprocess.run([*self.as_user, *args], check=check, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=timeout)

    def ctl(self, *args: str) -> None:
        """``pg_ctl`` on this cluster, waiting (up to 30 s) until the action is done."""
        opts = f"-p {self.port} -k {self.tmp} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(self.pg_ctl, "-D", self.data, "-w", "-t", "30", "-l", os.path.join(self.tmp, "log"), "-o", opts,
                  *args, timeout=60)

    def init(self) -> PostgresCluster:
        """Create the cluster and start it; a failure skips the test (fails it with ``CI=true``)."""
        try:
            self._run(self.initdb, "-D", self.data, "-U", "postgres", "--auth=trust")
            self.start()
        except (subprocess.SubprocessError, OSError) as exc:
            self.destroy()
            unavailable(f"could not start a throwaway PostgreSQL: {exc}")
        return self

    def start(self) -> None:
        self.ctl("start")

    def stop(self, mode: str = "fast") -> None:
        self.ctl("-m", mode, "stop")

    def restart(self) -> None:
        self.ctl("-m", "fast", "restart")

    def destroy(self) -> None:
        """Stop it at once (if it runs) and delete its files."""
        self._run(self.pg_ctl, "-D", self.data, "-m", "immediate", "stop", check=False, timeout=60)
        shutil.rmtree(self.tmp, ignore_errors=True)


@contextmanager
def throwaway_postgres() -> Iterator[PostgresCluster]:
    """A started :class:`PostgresCluster`, destroyed when the block ends."""
    cluster = PostgresCluster().init()
    try:
        yield cluster
    finally:
        cluster.destroy()


@contextmanager
def fresh_database(server_url: str, prefix: str = "t") -> Iterator[str]:
    """A new, empty database on ``server_url``'s PostgreSQL server, dropped (connections forced off) afterwards.
    An unreachable server skips the test (fails it with ``CI=true``)."""
    import psycopg

    base = server_url.replace("postgresql+psycopg://", "postgresql://")
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(base, autocommit=True, connect_timeout=5)
    except psycopg.Error as exc:
        unavailable(f"PostgreSQL at {base} does not answer: {exc}")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    head, _, _ = base.rpartition("/")
    try:
        yield f"{head}/{name}"
    finally:
        try:
            with psycopg.connect(base, autocommit=True, connect_timeout=5) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        except psycopg.Error:
            pass  # the server went away (a fault test stopped it): nothing left to drop
