"""What the fault suite needs to break things for real: processes it can kill, a PostgreSQL and a Redis of its
own that it can stop, restart and hang, a write load that retries as a careful client would, and the audit
that counts what was lost or applied twice.

Everything listens on loopback, on free ports; every loop is bounded in count and time.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import requests

from tests.servers import _pg_bin, _wait_port, free_port


def wait_healthy(url: str, timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/health", timeout=2).status_code == 200:
                return True
        except requests.RequestException:
            pass
        time.sleep(0.1)
    return False


@dataclass
class Service:
    """One ``inventory-system serve NAME`` process."""

    name: str
    port: int
    env: dict[str, str]
    workdir: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> Service:
        log = open(self.workdir / f"{self.name}-{self.port}.log", "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sync.cli", "serve", self.name, "--port", str(self.port)],
            cwd=self.workdir, env=self.env, stdout=log, stderr=subprocess.STDOUT,
        )
        if not wait_healthy(self.url, timeout):
            self.stop()
            raise RuntimeError(f"{self.name} on {self.port} did not come up: {self.log_tail()}")
        return self

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()

    def log_tail(self, chars: int = 3000) -> str:
        path = self.workdir / f"{self.name}-{self.port}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""


def service_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("REDIS", "RATE_LIMIT", "JWT", "DATABASE", "GATEWAY_SERVICES", "INVENTORY_URL"))}
    env.update({"DEMO_DATA": "false", "LOG_LEVEL": "WARNING"})
    env.update(extra)
    return env


class Postgres:
    """A throwaway PostgreSQL cluster that can be stopped (immediately, as a crash would) and started again."""

    def __init__(self) -> None:
        self.initdb, self.pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
        self.as_user: list[str] = []
        if os.geteuid() == 0 and shutil.which("runuser"):
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self.tmp = tempfile.mkdtemp(prefix="pgfault-")
        os.chmod(self.tmp, 0o777)  # noqa: S103 - throwaway dir the postgres user must write into
        self.data = os.path.join(self.tmp, "data")
        self.port = free_port()

    @property
    def available(self) -> bool:
        return bool(self.initdb and self.pg_ctl)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def init(self) -> None:
        subprocess.run([*self.as_user, str(self.initdb), "-D", self.data, "-U", "postgres", "--auth=trust"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.start()

    def start(self) -> None:
        subprocess.run([*self.as_user, str(self.pg_ctl), "-D", self.data, "-w", "-l", os.path.join(self.tmp, "log"),
                        "-o", f"-p {self.port} -k {self.tmp} -c listen_addresses=127.0.0.1 -c fsync=off", "start"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self, mode: str = "immediate") -> None:
        subprocess.run([*self.as_user, str(self.pg_ctl), "-D", self.data, "-m", mode, "stop"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)


class Redis:
    """A throwaway redis-server (no persistence) that can be killed, restarted empty, and hung with SIGSTOP."""

    def __init__(self) -> None:
        self.binary = shutil.which("redis-server")
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        assert self.binary
        self.proc = subprocess.Popen([self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not _wait_port(self.port):
            raise RuntimeError("redis-server did not start")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait(10)

    def hang(self) -> None:
        assert self.proc
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc
        self.proc.send_signal(signal.SIGCONT)


@dataclass
class Outcome:
    """What a load run saw: per request, whether (and when) it was acknowledged."""

    sent: int = 0
    succeeded: int = 0
    failed: Counter[str] = field(default_factory=Counter)
    acked: set[str] = field(default_factory=set)
    attempts: int = 0
    #: (monotonic start, end, ok) of every attempt: the last failure after a fault ended, the slowest answer
    timeline: list[tuple[float, float, bool]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def recovery_after(self, fault_end: float) -> float:
        """Seconds from the fault's end to the last failed attempt after it (0 when none failed after it)."""
        late = [end for _, end, ok in self.timeline if not ok and end >= fault_end]
        return max(late) - fault_end if late else 0.0

    def slowest_between(self, start: float, end: float) -> float:
        """The longest attempt that started in [start, end], in seconds."""
        return max((done - began for began, done, _ in self.timeline if start <= began <= end), default=0.0)


def write_load(base_url: str, sku: str, location: str, *, prefix: str, clients: int, seconds: float,
               retries: int = 60, retry_pause: float = 0.1) -> Outcome:
    """``clients`` threads post receipts of one unit for ``seconds``, each with its own reference and
    Idempotency-Key; a failed attempt (connection error, 5xx) is retried with the same key, as a careful client
    would, up to ``retries`` times. A 4xx is final."""
    outcome = Outcome()
    stop_at = time.monotonic() + seconds

    def client(n: int) -> None:
        session = requests.Session()
        i = 0
        while time.monotonic() < stop_at:
            ref = f"{prefix}-{n}-{i}"
            i += 1
            with outcome.lock:
                outcome.sent += 1
            last = "none"
            for _ in range(retries):
                began = time.monotonic()
                try:
                    resp = session.post(f"{base_url}/movements", timeout=10,
                                        headers={"Idempotency-Key": ref},
                                        json={"type": "receipt", "sku": sku, "location": location, "quantity": 1,
                                              "reference": ref})
                    ok, last = resp.status_code == 201, str(resp.status_code)
                    final = ok or resp.status_code < 500
                except requests.RequestException as exc:
                    ok, last, final = False, type(exc).__name__, False
                    session = requests.Session()
                with outcome.lock:
                    outcome.attempts += 1
                    outcome.timeline.append((began, time.monotonic(), ok))
                if ok:
                    with outcome.lock:
                        outcome.succeeded += 1
                        outcome.acked.add(ref)
                    break
                if final:
                    break
                time.sleep(retry_pause)
            if ref not in outcome.acked:
                with outcome.lock:
                    outcome.failed[last] += 1

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + retries * (retry_pause + 10) + 30)
    return outcome


def audit(inventory_url: str, prefix: str, acked: set[str]) -> tuple[int, int, bool]:
    """(lost, double-applied, reconciliation ok): acknowledged references missing from the ledger, references
    the ledger holds more than once, and whether cached levels still equal the ledger's sums."""
    counts: Counter[str] = Counter()
    cursor: str | None = None
    for _ in range(10_000):
        params: dict[str, str | int] = {"limit": 1000}
        if cursor:
            params["cursor"] = cursor
        page = requests.get(f"{inventory_url}/movements", params=params, timeout=30).json()
        for row in page["items"]:
            ref = row.get("reference") or ""
            if ref.startswith(prefix + "-"):
                counts[ref] += 1
        cursor = page.get("next_cursor")
        if not cursor:
            break
    lost = sum(1 for ref in acked if counts[ref] == 0)
    double = sum(1 for n in counts.values() if n > 1)
    recon = requests.get(f"{inventory_url}/reconciliation", timeout=30).json()
    return lost, double, bool(recon.get("ok"))


#: rows of the suite's table, printed at the end of the run (conftest's terminal summary)
RESULTS: list[dict[str, object]] = []


def record(scenario: str, outcome: Outcome, *, lost: int, double: int, recovery: float | None,
           note: str = "") -> None:
    RESULTS.append({"scenario": scenario, "sent": outcome.sent, "succeeded": outcome.succeeded,
                    "failed": dict(outcome.failed), "attempts": outcome.attempts, "lost": lost,
                    "double": double, "recovery_s": recovery, "note": note})
