"""A throwaway PostgreSQL cluster the test controls: stop, start and restart it (never the machine's server)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.servers import _pg_bin, free_port, unavailable


class Cluster:
    def __init__(self, pg_ctl: str, data: str, tmp: str, port: int, as_user: list[str]) -> None:
        self.pg_ctl, self.data, self.tmp, self.port, self.as_user = pg_ctl, data, tmp, port, as_user
        self.url = f"postgresql://postgres@127.0.0.1:{port}/postgres"

    def ctl(self, *args: str) -> None:
        opts = f"-p {self.port} -k {self.tmp} -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run([*self.as_user, self.pg_ctl, "-D", self.data, "-w", "-t", "30", "-l",
                        os.path.join(self.tmp, "log"), "-o", opts, *args],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)

    def start(self) -> None:
        self.ctl("start")

    def stop(self) -> None:
        self.ctl("-m", "fast", "stop")

    def restart(self) -> None:
        self.ctl("-m", "fast", "restart")


@contextmanager
def throwaway_cluster() -> Iterator[Cluster]:
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not (initdb and pg_ctl):
        unavailable("no PostgreSQL server binaries (initdb, pg_ctl) for a throwaway cluster")
    assert initdb and pg_ctl
    as_user: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        runuser = shutil.which("runuser")
        if not runuser:
            unavailable("running as root without runuser: cannot start a throwaway PostgreSQL")
        as_user = [str(runuser), "-u", "postgres", "--"]
    tmp = tempfile.mkdtemp(prefix="pgrestart-")
    os.chmod(tmp, 0o777)  # noqa: S103 - throwaway dir the postgres user must write into
    data = os.path.join(tmp, "data")
    cluster = Cluster(pg_ctl, data, tmp, free_port(), as_user)
    try:
        subprocess.run([*as_user, initdb, "-D", data, "-U", "postgres", "--auth=trust"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
        cluster.start()
    except (subprocess.SubprocessError, OSError) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        pytest.skip(f"could not start a throwaway PostgreSQL: {exc}")
    try:
        yield cluster
    finally:
        subprocess.run([*as_user, pg_ctl, "-D", data, "-m", "immediate", "stop"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, timeout=60)
        shutil.rmtree(tmp, ignore_errors=True)
