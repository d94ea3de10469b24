"""What the fault suite needs to break things for real: service processes it can kill (its PostgreSQL and Redis
are ``tests.servers.PostgresCluster`` and ``RedisServer``), a write load that retries as a careful client would,
and the audit that counts what was lost or applied twice.

Everything listens on loopback, on free ports; every loop is bounded in count and time.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import requests

from tests.serving import Spawned, answers


@dataclass
class Service:
    """One ``inventory-system serve NAME`` process; its output goes to ``NAME-PORT.log`` in ``workdir``."""

    name: str
    port: int
    env: dict[str, str]
    workdir: Path
    process: Spawned | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> Service:
        self.process = Spawned([sys.executable, "-m", "sync.cli", "serve", self.name, "--port", str(self.port)],
                               ready=answers(f"{self.url}/health"), cwd=self.workdir, env=self.env,
                               log=self.workdir / f"{self.name}-{self.port}.log", timeout=timeout,
                               what=f"{self.name} on {self.port}").start()
        return self

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()


def service_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("REDIS", "RATE_LIMIT", "JWT", "DATABASE", "GATEWAY_SERVICES", "INVENTORY_URL"))}
    env.update({"DEMO_DATA": "false", "LOG_LEVEL": "WARNING"})
    env.update(extra)
    return env


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
