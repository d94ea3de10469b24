"""Inventory benchmark: movements/s over HTTP on PostgreSQL, import time, level-read latency vs ledger size.

One command (PostgreSQL from ``--database-url``, ``BENCH_DATABASE_URL`` or ``TEST_DATABASE_URL``, else
127.0.0.1:5432/test; a fresh database is created for each part and dropped afterwards):

    .venv/bin/python bench/inventory.py [--workers 1] [--seconds 15] [--clients 32]
        [--data ../shared/data/online-retail-ii/transactions-dev.csv.xz]

1. throughput: the service under uvicorn (uvloop + httptools, ``--workers`` processes) and ``--clients``
   concurrent aiohttp clients posting single movements (alternating shipments and receipts of 1 unit) to
   100 hot SKUs for ``--seconds``; prints movements/s, latency percentiles and CPU per movement (service, PostgreSQL,
   load generator, from /proc), then checks reconciliation.
2. import: ``import_transactions`` of the dev file into an empty database (wall clock, as the CLI runs it).
3. level reads: p50/p99 of ``GET /levels?sku=&location=`` with ~1k ledger rows, then after 1M more ledger
   rows for that same SKU (bulk-loaded with COPY, level adjusted to match), and the ledger-sum query a
   non-cached design would run, for contrast.

Timings share the machine with everything else running on it; run it on a quiet machine for clean figures.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import aiohttp
import httpx
import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sync.inventory.importer import import_transactions  # noqa: E402

HOT_SKUS = 100
LOCATION = "WH"


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    base = server_url.replace("postgresql+psycopg://", "postgresql://")
    name = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(base, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{base.rpartition('/')[0]}/{name}"
    finally:
        with psycopg.connect(base, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def service(database_url: str, workers: int) -> Iterator[tuple[str, int]]:
    port = _free_port()
    env = os.environ | {"DATABASE_URL": database_url, "DEMO_DATA": "false", "LOG_LEVEL": "WARNING"}
    cmd = [sys.executable, "-m", "uvicorn", "sync.inventory.app:create_app", "--factory", "--host", "127.0.0.1",
           "--port", str(port), "--loop", "uvloop", "--http", "httptools", "--no-access-log",
           "--log-level", "warning", "--workers", str(workers)]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("inventory service did not start")
            time.sleep(0.2)
        yield url, proc.pid
    finally:
        proc.terminate()
        proc.wait(20)


_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of one process, from /proc (Linux): 0 when it has exited."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime (fields 14, 15 of proc(5))


def _processes(name: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == name:
                    pids.append(int(entry.name))
            except OSError:
                pass
    return pids


def cpu_sample(service_pid: int) -> dict[str, float]:
    """CPU seconds so far of the service (its process and worker children), every local PostgreSQL
    process (backends, WAL writer, checkpointer: right only while nothing else uses that server) and this
    load generator. CPU per movement is the figure that stays steady on a shared two-core machine, where
    movements/s moves with whatever else runs."""
    children = Path(f"/proc/{service_pid}/task/{service_pid}/children")
    kids = [int(pid) for pid in children.read_text().split()] if children.exists() else []
    return {"service": sum(_cpu_seconds(pid) for pid in [service_pid, *kids]),
            "postgres": sum(_cpu_seconds(pid) for pid in _processes("postgres")),
            "client": time.process_time()}


def seed(url: str, on_hand: int) -> list[str]:
    codes = [f"HOT-{i:03d}" for i in range(HOT_SKUS)]
    with httpx.Client(base_url=url, timeout=30) as client:
        client.post("/locations", json={"code": LOCATION, "name": "Bench warehouse"}).raise_for_status()
        for code in codes:
            client.post("/skus", json={"code": code, "name": code, "reorder_point": 10}).raise_for_status()
            client.post("/movements", json={"type": "receipt", "sku": code, "location": LOCATION,
                                            "quantity": on_hand}).raise_for_status()
    return codes


async def _client(session: aiohttp.ClientSession, url: str, codes: list[str], stop_at: float,
                  latencies: list[float], statuses: dict[int, int], record_from: float, keyed: bool) -> None:
    rng = random.Random()
    flip = rng.random() < 0.5
    while True:
        now = time.perf_counter()
        if now >= stop_at:
            return
        flip = not flip
        body = {"type": "shipment" if flip else "receipt", "sku": rng.choice(codes), "location": LOCATION,
                "quantity": 1}
        headers = {"Idempotency-Key": uuid.uuid4().hex} if keyed else None
        async with session.post(f"{url}/movements", json=body, headers=headers) as resp:
            await resp.read()
            done = time.perf_counter()
            if now >= record_from:
                statuses[resp.status] = statuses.get(resp.status, 0) + 1
                latencies.append(done - now)


async def _sample_at(when: float, service_pid: int) -> dict[str, float]:
    await asyncio.sleep(max(0.0, when - time.perf_counter()))
    return cpu_sample(service_pid)


async def _throughput(url: str, service_pid: int, codes: list[str], clients: int, seconds: float, warmup: float,
                      keyed: bool) -> dict[str, float]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector) as session:
        start = time.perf_counter()
        record_from, stop_at = start + warmup, start + warmup + seconds
        first = asyncio.ensure_future(_sample_at(record_from, service_pid))
        last = asyncio.ensure_future(_sample_at(stop_at, service_pid))
        await asyncio.gather(*(_client(session, url, codes, stop_at, latencies, statuses, record_from, keyed)
                               for _ in range(clients)))
        before, after = await first, await last
        used = {part: after[part] - before[part] for part in before}
    ok = statuses.get(201, 0)
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 100 else [0.0] * 99
    per = 1e6 / max(ok, 1)
    return {"movements_per_s": ok / seconds, "ok": ok, "other_statuses": sum(statuses.values()) - ok,
            "p50_ms": q[49] * 1000, "p99_ms": q[98] * 1000, "service_us": used["service"] * per,
            "postgres_us": used["postgres"] * per, "client_us": used["client"] * per}


def bench_throughput(server: str, workers: int, clients: int, seconds: float, keyed: bool = False) -> None:
    with fresh_database(server) as db, service(db, workers) as (url, pid):
        codes = seed(url, on_hand=1_000_000)
        result = asyncio.run(_throughput(url, pid, codes, clients, seconds, warmup=2.0, keyed=keyed))
        recon = httpx.get(f"{url}/reconciliation", timeout=120).json()
    print(f"throughput: {result['movements_per_s']:.0f} movements/s over HTTP on PostgreSQL "
          f"({clients} clients, {HOT_SKUS} hot SKUs, {workers} uvicorn worker(s), {seconds:.0f} s"
          f"{', a fresh Idempotency-Key on every request' if keyed else ''}; "
          f"{result['ok']} movements, {result['other_statuses']} non-201; latency p50 {result['p50_ms']:.1f} ms, "
          f"p99 {result['p99_ms']:.1f} ms); reconciliation ok={recon['ok']}, drift={len(recon['drift'])}")
    print(f"  CPU per movement: service {result['service_us']:.0f} us, PostgreSQL {result['postgres_us']:.0f} us, "
          f"load generator {result['client_us']:.0f} us (two cores: 2,000,000 us of CPU per second in all)")


def bench_import(server: str, data: Path) -> None:
    with fresh_database(server) as db:
        started = time.perf_counter()
        report = import_transactions(data, database_url=db)
        elapsed = time.perf_counter() - started
    print(f"import: {elapsed:.1f} s for {report.lines} lines of {data.name} ({report.movements_written} movements "
          f"written, {report.skus_created} SKUs; shipments {report.shipments}, cancellations {report.cancellations}, "
          f"adjustments -{report.adjustments_out}/+{report.adjustments_in}, non-product {report.non_product}, "
          f"rejected {report.rejected})")


def _read_latency(url: str, sku: str, n: int = 500) -> tuple[float, float]:
    samples = []
    with httpx.Client(base_url=url) as client:
        for _ in range(20):
            client.get("/levels", params={"sku": sku, "location": LOCATION})
        for _ in range(n):
            t = time.perf_counter()
            client.get("/levels", params={"sku": sku, "location": LOCATION}).raise_for_status()
            samples.append(time.perf_counter() - t)
    q = statistics.quantiles(samples, n=100)
    return q[49] * 1000, q[98] * 1000


def _bulk_ledger(db: str, sku: str, rows: int) -> float:
    """COPY ``rows`` one-unit receipts for ``sku`` into the ledger, keep its level equal; returns the sum time."""
    with psycopg.connect(db) as conn:
        sku_id = conn.execute("SELECT id FROM skus WHERE code = %s", (sku,)).fetchone()[0]  # type: ignore[index]
        loc_id = conn.execute("SELECT id FROM locations WHERE code = %s", (LOCATION,)).fetchone()[0]  # type: ignore[index]
        on_hand = conn.execute("SELECT on_hand FROM stock_levels WHERE sku_id = %s AND location_id = %s",
                               (sku_id, loc_id)).fetchone()[0]  # type: ignore[index]
        with conn.cursor() as cur, cur.copy("COPY movements (type, sku_id, location_id, quantity, on_hand_after, "
                                            "reason, reference, actor, created_at) FROM STDIN") as copy:
            for start in range(0, rows, 100_000):
                buf = io.StringIO()
                for i in range(start, min(rows, start + 100_000)):
                    buf.write(f"receipt\t{sku_id}\t{loc_id}\t1\t{on_hand + i + 1}\t\\N\tbench\tbench\t"
                              f"2020-01-01 00:00:00+00\n")
                copy.write(buf.getvalue())
        conn.execute("UPDATE stock_levels SET on_hand = on_hand + %s WHERE sku_id = %s AND location_id = %s",
                     (rows, sku_id, loc_id))
        conn.commit()
        conn.execute("ANALYZE movements")
        try:  # let the 1M-row write settle so the reads after it are not measuring the checkpointer
            conn.execute("CHECKPOINT")
        except psycopg.Error:
            conn.rollback()
        started = time.perf_counter()
        conn.execute("SELECT SUM(quantity) FROM movements WHERE sku_id = %s AND location_id = %s", (sku_id, loc_id))
        return time.perf_counter() - started


def bench_level_reads(server: str, extra_rows: int) -> None:
    with fresh_database(server) as db, service(db, 1) as (url, _):
        codes = seed(url, on_hand=10_000)
        with httpx.Client(base_url=url) as client:  # ~1k ledger rows in all
            for i in range(900):
                client.post("/movements", json={"type": "shipment", "sku": codes[i % 10], "location": LOCATION,
                                                 "quantity": 1}).raise_for_status()
        rows = httpx.get(f"{url}/movements", params={"limit": 1000}).json()["items"]
        small = _read_latency(url, codes[0])
        sum_seconds = _bulk_ledger(db, codes[0], extra_rows)
        large = _read_latency(url, codes[0])
        control = _read_latency(url, codes[50])  # same moment, a SKU with one ledger row
        recon = httpx.get(f"{url}/reconciliation", timeout=300).json()
    print(f"level read: p50 {small[0]:.2f} ms / p99 {small[1]:.2f} ms at {len(rows)} ledger rows; "
          f"p50 {large[0]:.2f} ms / p99 {large[1]:.2f} ms with {extra_rows:,} more rows for that SKU "
          f"(right after: p50 {control[0]:.2f} ms / p99 {control[1]:.2f} ms for a SKU with 1 ledger row; "
          f"a ledger SUM for the big SKU takes {sum_seconds * 1000:.0f} ms); reconciliation ok={recon['ok']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL")
                        or os.environ.get("TEST_DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--data", type=Path,
                        default=ROOT.parent / "shared" / "data" / "online-retail-ii" / "transactions-dev.csv.xz")
    parser.add_argument("--ledger-rows", type=int, default=1_000_000)
    parser.add_argument("--only", choices=["throughput", "import", "levels"], default=None)
    parser.add_argument("--idempotency-keys", action="store_true",
                        help="send a fresh Idempotency-Key with every movement (the general write path)")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start (shared machine)")
    if args.only in (None, "throughput"):
        bench_throughput(args.database_url, args.workers, args.clients, args.seconds, args.idempotency_keys)
    if args.only in (None, "import"):
        if args.data.exists():
            bench_import(args.database_url, args.data)
        else:
            print(f"import: skipped, {args.data} not found (pass --data)")
    if args.only in (None, "levels"):
        bench_level_reads(args.database_url, args.ledger_rows)


if __name__ == "__main__":
    main()
