"""Faults under load, on the real processes: kill an inventory instance, restart PostgreSQL, stop and hang Redis,
a hanging upstream, a killed training run.

Each scenario drives a bounded load (a few clients for a few seconds, loopback only), breaks one thing in the
middle, and then audits the ledger: an acknowledged write must be there exactly once (lost 0, double-applied 0),
cached levels must equal the ledger's sums, and the service must be back within a few seconds of the fault's end.
PostgreSQL and Redis are throwaway servers of the suite's own; the machine's servers are never stopped.
The table of every run is printed at the end (``tests/faults/conftest.py``).
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.faults.harness import (
    Outcome,
    Service,
    audit,
    record,
    service_env,
    write_load,
)
from tests.servers import PostgresCluster, RedisServer, fresh_database, unavailable
from tests.serving import free_port

pytestmark = [pytest.mark.faults, pytest.mark.e2e, pytest.mark.slow, pytest.mark.postgres]

#: a gateway tuned for a short test: checks every second, breakers re-probe after 2 s, limits out of the way
GATEWAY_ENV = {"HEALTH_CHECK_INTERVAL": "1", "CIRCUIT_BREAKER_TIMEOUT": "2", "GATEWAY_TIMEOUT": "3",
               "RATE_LIMIT_DEFAULT_PER_MINUTE": "1000000", "RATE_LIMIT_DEFAULT_PER_HOUR": "10000000"}
RECOVERY_BOUND_S = 5.0


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture
def machine_database() -> Iterator[str]:
    """A fresh database on the machine's PostgreSQL (never restarted by this suite)."""
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        unavailable("TEST_DATABASE_URL is not set")
    with fresh_database(url, prefix="fault") as db:  # type: ignore[arg-type]
        yield db


def _catalog(inventory_url: str, sku: str = "FAULT-1", location: str = "MAIN") -> None:
    for path, body in (("/skus", {"code": sku, "name": "fault test"}),
                       ("/locations", {"code": location, "name": "main"})):
        resp = requests.post(f"{inventory_url}{path}", json=body, timeout=10)
        assert resp.status_code in (201, 409), resp.text


def _after(seconds: float, action: object) -> threading.Thread:
    def run() -> None:
        time.sleep(seconds)
        action()  # type: ignore[operator]

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_killed_inventory_instance_costs_clients_nothing(workdir: Path, machine_database: str) -> None:
    env = service_env(DATABASE_URL=machine_database)
    first = Service("inventory", free_port(), env, workdir).start()
    second = Service("inventory", free_port(), env, workdir).start()
    gateway = Service("gateway", free_port(), service_env(
        GATEWAY_SERVICES=f"inventory={first.url},inventory={second.url}", **GATEWAY_ENV), workdir).start()
    try:
        _catalog(first.url)
        _after(2.0, first.kill)
        outcome = write_load(f"{gateway.url}/inventory", "FAULT-1", "MAIN", prefix="kill", clients=8, seconds=6)
        lost, double, clean = audit(second.url, "kill", outcome.acked)
        record("kill -9 one of two inventory instances", outcome, lost=lost, double=double, recovery=None,
               note=f"attempts {outcome.attempts}")
        assert (lost, double, clean) == (0, 0, True)
        assert outcome.succeeded == outcome.sent, outcome.failed
    finally:
        for svc in (gateway, second, first):
            svc.stop()


@pytest.fixture
def own_postgres(workdir: Path) -> Iterator[tuple[PostgresCluster, Service]]:
    """A throwaway PostgreSQL cluster (the suite may stop it) and an inventory service on it, catalogue made."""
    pg = PostgresCluster().init()
    inventory = Service("inventory", free_port(), service_env(DATABASE_URL=pg.url), workdir).start()
    try:
        _catalog(inventory.url)
        yield pg, inventory
    finally:
        inventory.stop()
        pg.destroy()


def test_postgres_restart_recovers_within_seconds(own_postgres: tuple[PostgresCluster, Service]) -> None:
    pg, inventory = own_postgres
    marks: dict[str, float] = {}

    def outage() -> None:
        pg.stop("immediate")
        time.sleep(3)
        pg.start()
        marks["up"] = time.monotonic()

    fault = _after(2.0, outage)
    outcome = write_load(inventory.url, "FAULT-1", "MAIN", prefix="pg", clients=8, seconds=10)
    fault.join(30)
    lost, double, clean = audit(inventory.url, "pg", outcome.acked)
    recovery = outcome.recovery_after(marks["up"])
    health = requests.get(f"{inventory.url}/health", timeout=5)
    record("PostgreSQL stopped 3 s (immediate), restarted", outcome, lost=lost, double=double,
           recovery=recovery, note=f"attempts {outcome.attempts}")
    assert (lost, double, clean) == (0, 0, True)
    assert recovery <= RECOVERY_BOUND_S, f"writes still failing {recovery:.1f} s after PostgreSQL came back"
    assert health.status_code == 200


def test_postgres_restart_while_idle_costs_at_most_one_write(own_postgres: tuple[PostgresCluster, Service]) -> None:
    """The pool must not hand out connections that died with the server while nobody was writing."""
    pg, inventory = own_postgres
    warm = write_load(inventory.url, "FAULT-1", "MAIN", prefix="warm", clients=8, seconds=1)
    pg.stop("immediate")
    time.sleep(1)
    pg.start()
    up = time.monotonic()
    outcome = write_load(inventory.url, "FAULT-1", "MAIN", prefix="idle", clients=1, seconds=2, retries=1)
    lost, double, clean = audit(inventory.url, "idle", outcome.acked)
    first_failures = sum(outcome.failed.values())
    record("PostgreSQL restarted while idle", outcome, lost=lost, double=double,
           recovery=outcome.recovery_after(up), note=f"writes failed without retry: {first_failures}")
    assert warm.succeeded == warm.sent
    assert (lost, double, clean) == (0, 0, True)
    assert first_failures <= 1, outcome.failed


def test_redis_stopped_and_hung_under_gateway_load(workdir: Path, machine_database: str) -> None:
    redis_server = RedisServer().start()
    inventory = Service("inventory", free_port(), service_env(DATABASE_URL=machine_database), workdir).start()
    gateway = Service("gateway", free_port(), service_env(
        GATEWAY_SERVICES=f"inventory={inventory.url}", REDIS_URL=redis_server.url, **GATEWAY_ENV), workdir).start()
    try:
        _catalog(inventory.url)
        marks: dict[str, float] = {}

        def faults() -> None:
            redis_server.kill()  # 2 s down, then back empty
            time.sleep(2)
            redis_server.start()
            marks["restarted"] = time.monotonic()
            time.sleep(2)
            marks["hung"] = time.monotonic()
            redis_server.pause()  # 2 s hung: connections open, nothing answers
            time.sleep(2)
            redis_server.resume()
            marks["resumed"] = time.monotonic()

        fault = _after(2.0, faults)
        outcome = write_load(f"{gateway.url}/inventory", "FAULT-1", "MAIN", prefix="redis", clients=8, seconds=11)
        fault.join(30)
        lost, double, clean = audit(inventory.url, "redis", outcome.acked)
        recovery = outcome.recovery_after(marks["resumed"])
        slowest = outcome.slowest_between(marks["hung"], marks["resumed"])
        record("Redis killed 2 s, restarted empty; hung 2 s", outcome, lost=lost, double=double, recovery=recovery,
               note=f"attempts {outcome.attempts}; slowest answer while hung {slowest:.2f} s")
        assert (lost, double, clean) == (0, 0, True)
        assert recovery <= RECOVERY_BOUND_S
        assert outcome.succeeded == outcome.sent, outcome.failed  # RATE_LIMIT_FAIL_CLOSED=false: local limits
        assert slowest <= 0.75, f"a request waited {slowest:.2f} s behind the hung Redis"
        # the restarted Redis holds the gateway's registry again, so a gateway started now knows the instance
        late = Service("gateway", free_port(), service_env(
            GATEWAY_SERVICES="", REDIS_URL=redis_server.url, **GATEWAY_ENV), workdir).start()
        try:
            assert requests.get(f"{late.url}/inventory/health", timeout=5).status_code == 200
        finally:
            late.stop()
    finally:
        gateway.stop()
        inventory.stop()
        redis_server.kill()


class _Trickler:
    """An upstream whose ``/health`` answers at once (so the gateway routes to it), while every other request
    gets one byte every 2 s: its headers never finish."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.stopped = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        self.sock.settimeout(0.5)
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._trickle, args=(conn,), daemon=True).start()

    def _trickle(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            try:
                head = conn.recv(65536)
            except OSError:
                return
            if head.startswith(b"GET /health "):
                conn.sendall(b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 15\r\n'
                             b'Connection: close\r\n\r\n{"status":"ok"}')
                return
            for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"[:15]:
                if self.stopped.wait(2):
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return

    def close(self) -> None:
        self.stopped.set()
        self.sock.close()


def test_hanging_upstream_is_cut_at_the_deadline(workdir: Path, machine_database: str) -> None:
    trickler = _Trickler()
    good = Service("inventory", free_port(), service_env(DATABASE_URL=machine_database), workdir).start()
    hung_url = f"http://127.0.0.1:{trickler.port}"
    gateway = Service("gateway", free_port(), service_env(
        GATEWAY_SERVICES=f"inventory={hung_url},inventory={good.url}", **dict(GATEWAY_ENV, HEALTH_CHECK_INTERVAL="30")),
        workdir).start()
    try:
        timings, statuses = [], []
        for _ in range(6):
            started = time.monotonic()
            resp = requests.get(f"{gateway.url}/inventory/levels", timeout=30)
            timings.append(time.monotonic() - started)
            statuses.append(resp.status_code)
        worst = max(timings)
        outcome = Outcome(sent=len(statuses), succeeded=statuses.count(200))
        outcome.failed.update(str(s) for s in statuses if s != 200)
        record("upstream trickling 1 byte / 2 s", outcome, lost=0, double=0, recovery=None,
               note=f"reads; slowest answer {worst:.2f} s with timeout 3 s")
        assert worst <= 3 + 1.5, f"a request was held {worst:.1f} s past its 3 s deadline"
        assert all(s in (200, 504) for s in statuses), statuses
        assert statuses.count(200) >= 3  # the healthy instance serves, no retry lands on the hung one
    finally:
        gateway.stop()
        good.stop()
        trickler.close()


def test_killed_training_run_trains_once_on_retry(workdir: Path) -> None:
    models = workdir / "models"
    env = service_env(ML_MODEL_PATH=str(models), ML_TRAINING_DATA_PATH=str(workdir / "training"),
                      INVENTORY_URL="http://127.0.0.1:9")
    ml = Service("ml", free_port(), env, workdir).start(timeout=120)
    try:
        before = _versions(ml.url)
        from tests.ml.data import demand_frame

        body = {"model_name": "demand_forecast", "data": demand_frame(3000, seed=11).to_dict("records"),
                "replace": True}
        key = {"Idempotency-Key": "train-fault-1"}

        def kill_once_saved() -> None:  # killed after saving, before (or just after) the answer goes out
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    if _versions(ml.url) > before:
                        break
                except requests.RequestException:
                    pass
                time.sleep(0.01)
            ml.kill()

        killer = threading.Thread(target=kill_once_saved, daemon=True)
        killer.start()
        try:
            first = requests.post(f"{ml.url}/train", json=body, headers=key, timeout=120)
            first_status = str(first.status_code)
        except requests.RequestException as exc:
            first_status = type(exc).__name__
        killer.join(70)
        ml.start(timeout=120)
        retry = requests.post(f"{ml.url}/train", json=body, headers=key, timeout=120)
        after = _versions(ml.url)
        empty = [p for p in workdir.rglob("*") if p.is_file() and p.stat().st_size == 0 and "log" not in p.name]
        outcome = Outcome(sent=1, succeeded=int(retry.status_code == 200))
        record("ML killed while saving a trained model", outcome, lost=0, double=max(0, after - before - 1),
               recovery=None, note=f"first attempt: {first_status}; retry with the same key: {retry.status_code}")
        assert retry.status_code == 200, retry.text
        assert after == before + 1, (before, after)
        assert not empty, empty
    finally:
        ml.stop()


def _versions(ml_url: str) -> int:
    items = requests.get(f"{ml_url}/models", timeout=10).json()["items"]
    return next(len(i["saved_versions"]) for i in items if i["name"] == "demand_forecast")
