"""Gateway benchmark (SPEC): our gateway vs an nginx reverse proxy, same static nginx backend, one run; and the
gateway's hand-written protocol code against well-kept libraries, each through the same launch.

    python bench/gateway.py [--duration 6] [--repeat 3] [--connections 32] [--variants ours,granian,...]

Installs nginx and wrk with bench/install_tools.sh (Debian packages) when missing, then starts on free
loopback ports: a static nginx backend, an nginx reverse proxy in front of it, and the gateway in front of
it once per variant, each started as production starts it (``inventory-system serve gateway``, one
process, settings from the environment: JWT on with a token sent, a default rate limit high enough not
to trip, circuit breakers and metrics on). The variants (``VARIANTS``) differ in one setting each: the
server (``GATEWAY_SERVER``: granian as shipped, uvicorn), the upstream client
(``GATEWAY_UPSTREAM_CLIENT``: built-in, aiohttp, pyreqwest) and, with limits shared through Redis
(``--redis-url``, default ``REDIS_URL`` or db 14 of a local Redis; skipped when none answers), the
limiter's Redis client (``RATE_LIMIT_REDIS_CLIENT``: built-in RESP, redis-py with hiredis). A
featureless raw-ASGI forwarder on uvicorn with an aiohttp session (the SPEC's reference) runs beside them.

It runs ``wrk -t1 -c32`` against each and prints requests/s, CPU time per request (which other load
disturbs far less than requests/s), the ratio to nginx (goal for the default >= 0.20) and, per variant,
the ratio to the variant it replaces one piece of, per round and median; then ``wrk -t1 -c10`` against
the backend directly and through nginx and the default gateway and prints the p50/p99 latency each adds
(goal: gateway p50 <= 1 ms); with 10 closed-loop connections a saturated proxy's p50 is mostly queueing,
so the same figures are also printed for one connection. Timings are noisy on a shared 2-core machine,
so every figure is measured in ``--repeat`` rounds (default 3) that interleave the targets, medians are
printed, and so is the load average before and after. Every process it starts is stopped at the end.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ITEMS = b",".join(b'{"sku":"%05d","qty":%d}' % (i, i) for i in range(8))
BODY = b'{"status":"ok","service":"static","items":[' + ITEMS + b"]}\n"
SECRET = "bench-secret-bench-secret-bench-secret-0123"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(port: int, path: str = "/", timeout: float = 20.0, headers: dict[str, str] | None = None) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers or {})
            with urllib.request.urlopen(req, timeout=1) as resp:
                if resp.status == 200:
                    return
        except Exception as exc:
            last = exc
        time.sleep(0.1)
    raise RuntimeError(f"port {port}{path} did not answer 200: {last}")


def nginx_binary() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if not found:
        raise SystemExit("nginx not found after install_tools.sh")
    return found


def nginx_conf(workdir: Path, name: str, port: int, location: str) -> Path:
    conf = workdir / f"{name}.conf"
    conf.write_text(f"""
worker_processes 1;
daemon off;
pid {workdir}/{name}.pid;
error_log {workdir}/{name}.error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {workdir}/{name}-body;
    proxy_temp_path {workdir}/{name}-proxy;
    fastcgi_temp_path {workdir}/{name}-fastcgi;
    uwsgi_temp_path {workdir}/{name}-uwsgi;
    scgi_temp_path {workdir}/{name}-scgi;
    keepalive_requests 1000000;
    {location}
}}
""")
    return conf


def start_nginx(conf: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([nginx_binary(), "-c", str(conf), "-p", str(conf.parent)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


#: the gateway variants of one run: name -> (settings that differ from the default, the variant it is
#: compared with, what it is). Each runs through ``inventory-system serve gateway``, the production launch.
VARIANTS: dict[str, tuple[dict[str, str], str, str]] = {
    "ours": ({}, "ours", "as shipped: granian (ASGI, st runtime, uvloop) + built-in upstream client"),
    "uvicorn": ({"GATEWAY_SERVER": "uvicorn"}, "ours", "server: uvicorn (uvloop + httptools)"),
    "aiohttp": ({"GATEWAY_UPSTREAM_CLIENT": "aiohttp"}, "ours", "upstream client: aiohttp"),
    "pyreqwest": ({"GATEWAY_UPSTREAM_CLIENT": "pyreqwest"}, "ours", "upstream client: pyreqwest (Rust)"),
    "redis": ({"RATE_LIMIT_REDIS_CLIENT": "builtin"}, "redis", "limits on Redis, built-in RESP client"),
    "redis-py": ({"RATE_LIMIT_REDIS_CLIENT": "redis-py"}, "redis", "limits on Redis, redis-py + hiredis"),
}


def start_gateway(port: int, backend: int, settings: dict[str, str]) -> subprocess.Popen[bytes]:
    """``inventory-system serve gateway`` with the benchmark's settings (JWT on, a limit that never trips)."""
    env = {**os.environ, "JWT_SECRET": SECRET, "GATEWAY_SERVICES": f"static=http://127.0.0.1:{backend}",
           "HEALTH_CHECK_INTERVAL": "5", "PYTHONPATH": str(ROOT), "LOG_LEVEL": "WARNING",
           "RATE_LIMIT_DEFAULT_PER_MINUTE": "10000000", "RATE_LIMIT_DEFAULT_PER_HOUR": "1000000000",
           "GATEWAY_HOST": "127.0.0.1", "GATEWAY_PORT": str(port), "GATEWAY_WORKERS": "1"}
    for key in ("REDIS_URL", "RATE_LIMIT_REDIS_URL", "GATEWAY_SERVER", "GATEWAY_UPSTREAM_CLIENT",
                "RATE_LIMIT_REDIS_CLIENT"):
        env.pop(key, None)
    env.update(settings)
    return subprocess.Popen([sys.executable, "-m", "sync.cli", "serve", "gateway"], cwd=ROOT, env=env)


def start_featureless(port: int, backend: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "BENCH_BACKEND": f"http://127.0.0.1:{backend}",
           "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'bench'}"}
    return subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "--app-dir", str(ROOT / "bench"),
         "gateway:make_featureless_app", "--host", "127.0.0.1", "--port", str(port), "--loop", "uvloop",
         "--http", "httptools", "--no-access-log", "--log-level", "warning"], cwd=ROOT, env=env)


def wrk(url: str, connections: int, duration: float, token: str | None = None) -> dict[str, float]:
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{duration:g}s", "--latency", url]
    if token:
        cmd[1:1] = ["-H", f"Authorization: Bearer {token}"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    lat = {p: _ms(v, unit) for p, v, unit in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)}
    return {"rps": rps, "p50": lat["50"], "p99": lat["99"], "non2xx": float(non2xx.group(1)) if non2xx else 0.0,
            "socket_errors": 1.0 if errors else 0.0}


def cpu_seconds(pid: int) -> float:
    """User+system CPU of a process and its direct children (an nginx master and its worker)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        this = int(stat.parent.name)
        if this == pid or int(fields[1]) == pid:
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def measured(url: str, connections: int, duration: float, pid: int, token: str | None = None) -> dict[str, float]:
    """wrk figures plus the proxy's CPU microseconds per request (robust to other load on the machine)."""
    before = cpu_seconds(pid)
    result = wrk(url, connections, duration, token)
    used = cpu_seconds(pid) - before
    result["cpu_us"] = used / max(1.0, result["rps"] * duration) * 1e6
    return result


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def make_featureless_app() -> Any:
    """The reference point of the SPEC: a raw-ASGI forwarder with one aiohttp session and no features."""
    import aiohttp
    from yarl import URL

    backend = os.environ["BENCH_BACKEND"]
    state: dict[str, aiohttp.ClientSession] = {}

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        session = state.get("s")
        if session is None:
            session = state["s"] = aiohttp.ClientSession(auto_decompress=False)
        tail = scope["raw_path"].split(b"/", 2)[2].decode()
        async with session.request(scope["method"], URL(f"{backend}/{tail}", encoded=True)) as resp:
            body = await resp.read()
            headers = [(k.lower(), v) for k, v in resp.raw_headers
                       if k.lower() not in (b"connection", b"date", b"server", b"keep-alive")]
            await send({"type": "http.response.start", "status": resp.status, "headers": headers})
            await send({"type": "http.response.body", "body": body})

    return app


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, as ``uptime`` prints them."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=6.0, help="seconds per throughput run")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved rounds; medians are reported")
    parser.add_argument("--connections", type=int, default=32, help="connections of the throughput run")
    parser.add_argument("--latency-connections", type=int, default=10)
    parser.add_argument("--latency-duration", type=float, default=4.0)
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help=f"comma-separated gateway variants to measure (of {', '.join(VARIANTS)})")
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/14"),
                        help="Redis for the variants with limits shared through Redis (skipped if unreachable)")
    args = parser.parse_args()
    redis_url = args.redis_url if redis_reachable(args.redis_url) else None
    chosen = ["ours", *(v for v in args.variants.split(",") if v and v != "ours")]
    if unknown := [v for v in chosen if v not in VARIANTS]:
        parser.error(f"unknown variants {unknown}")
    if not redis_url:
        chosen = [v for v in chosen if VARIANTS[v][1] != "redis"]

    subprocess.run(["bash", str(ROOT / "bench" / "install_tools.sh")], check=True)
    sys.path.insert(0, str(ROOT))
    from sync.gateway.auth import issue_token

    token = issue_token(SECRET, "bench", ["read"], ttl_seconds=3600)
    load_before = load_average()
    procs: list[subprocess.Popen[Any]] = []
    with tempfile.TemporaryDirectory(prefix="gw-bench-") as tmp:
        work = Path(tmp)
        work.chmod(0o755)  # nginx workers run as an unprivileged user and must read the files
        (work / "www").mkdir()
        (work / "www" / "item.json").write_bytes(BODY)
        (work / "www" / "health").write_bytes(b'{"status":"ok"}\n')
        backend, proxy, plain = free_port(), free_port(), free_port()
        ports = {name: free_port() for name in chosen}
        try:
            procs.append(start_nginx(nginx_conf(work, "backend", backend, f"""
    server {{ listen 127.0.0.1:{backend}; root {work}/www; default_type application/json;
             location / {{ }} }}""")))
            nginx = start_nginx(nginx_conf(work, "proxy", proxy, f"""
    upstream backend {{ server 127.0.0.1:{backend}; keepalive 64; }}
    server {{ listen 127.0.0.1:{proxy};
             location /static/ {{ proxy_pass http://backend/; proxy_http_version 1.1;
                                  proxy_set_header Connection ""; }} }}"""))
            procs.append(nginx)
            featureless = start_featureless(plain, backend)
            procs.append(featureless)
            gateways: dict[str, subprocess.Popen[bytes]] = {}
            for name in chosen:
                settings, baseline, _ = VARIANTS[name]
                if baseline == "redis":
                    settings = {**settings, "RATE_LIMIT_REDIS_URL": str(redis_url)}
                gateways[name] = start_gateway(ports[name], backend, settings)
                procs.append(gateways[name])
            wait_http(backend, "/item.json")
            wait_http(plain, "/static/item.json")
            wait_http(proxy, "/static/item.json")
            for name in chosen:
                wait_http(ports[name], "/static/item.json", headers={"Authorization": f"Bearer {token}"})
            direct_url = f"http://127.0.0.1:{backend}/item.json"
            targets: dict[str, tuple[str, int, str | None]] = {  # name -> url, pid, token
                "nginx": (f"http://127.0.0.1:{proxy}/static/item.json", nginx.pid, None),
                "featureless": (f"http://127.0.0.1:{plain}/static/item.json", featureless.pid, None),
                **{name: (f"http://127.0.0.1:{ports[name]}/static/item.json", gateways[name].pid, token)
                   for name in chosen},
            }
            for url, _, tok in targets.values():  # warm-up
                wrk(url, args.connections, 2, tok)
            runs: dict[str, list[dict[str, float]]] = {name: [] for name in targets}
            lat: dict[str, list[dict[str, float]]] = {name: [] for name in ("d", "n", "g", "d1", "n1", "g1")}
            c = args.latency_connections
            for _ in range(args.repeat):  # rounds interleave the targets, so a slow spell hits all of them
                for name, (url, pid, tok) in targets.items():
                    runs[name].append(measured(url, args.connections, args.duration, pid, tok))
                for key, (url, tok), conns in (("d", (direct_url, None), c), ("n", targets["nginx"][::2], c),
                                               ("g", targets["ours"][::2], c), ("d1", (direct_url, None), 1),
                                               ("n1", targets["nginx"][::2], 1), ("g1", targets["ours"][::2], 1)):
                    lat[key].append(wrk(url, conns, args.latency_duration, tok))
            with urllib_open(f"http://127.0.0.1:{ports['ours']}/metrics") as metrics:
                limited = sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                              if line.startswith("gateway_rate_limited_total"))
        finally:
            for proc in reversed(procs):
                proc.terminate()
            for proc in procs:
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
    load_after = load_average()
    med = {name: {k: median(r[k] for r in rs) for k in ("rps", "cpu_us", "non2xx")} for name, rs in runs.items()}

    def ratios(name: str, base: str) -> list[float]:
        return [x["rps"] / y["rps"] for x, y in zip(runs[name], runs[base], strict=True)]

    print(f"wrk -t1 -c{args.connections} -d{args.duration:g}s, static nginx backend, one process each; "
          f"median of {args.repeat} interleaved rounds; load average before {load_before}, after {load_after}")
    n = med["nginx"]
    print(f"  {'nginx reverse proxy':<22}: {n['rps']:9.0f} req/s  {n['cpu_us']:6.1f} us CPU/request")
    for name in chosen:
        m = med[name]
        settings, base, what = VARIANTS[name]
        to_nginx = ratios(name, "nginx")
        line = (f"  {name:<22}: {m['rps']:9.0f} req/s  {m['cpu_us']:6.1f} us CPU/request  /nginx "
                f"{median(to_nginx):.3f}")
        if base != name:
            to_base = ratios(name, base)
            line += (f"  /{base} {median(to_base):.3f} (rounds {', '.join(f'{x:.3f}' for x in to_base)}; "
                     f"{'within 10%' if median(to_base) >= 0.9 else 'more than 10% slower'})")
        else:
            line += f" (rounds {', '.join(f'{x:.3f}' for x in to_nginx)})"
        print(f"{line}  [{what}; non-2xx {m['non2xx']:.0f}]")
    if not redis_url:
        print(f"  limits on Redis       : skipped (no Redis answers at {args.redis_url})")
    f = med["featureless"]
    print(f"  {'featureless forwarder':<22}: {f['rps']:9.0f} req/s  {f['cpu_us']:6.1f} us CPU/request  /nginx "
          f"{median(ratios('featureless', 'nginx')):.3f}  [raw ASGI on uvicorn + one aiohttp session, no "
          "features: the SPEC's reference]")
    ratio = median(ratios("ours", "nginx"))
    print(f"  ratio gateway/nginx   : {ratio:.3f}  (goal >= 0.20: {'met' if ratio >= 0.20 else 'MISSED'}; "
          f"429s during the run: {limited:.0f})")
    p50 = {k: median(x["p50"] for x in v) for k, v in lat.items()}
    p99 = {k: median(x["p99"] for x in v) for k, v in lat.items()}
    added_runs = [g_["p50"] - d_["p50"] for g_, d_ in zip(lat["g"], lat["d"], strict=True)]
    added = median(added_runs)
    print(f"latency, wrk -t1 -c{c} -d{args.latency_duration:g}s (p50 / p99, ms; medians of the rounds)")
    print(f"  backend direct      : {p50['d']:.3f} / {p99['d']:.3f}")
    print(f"  via nginx           : {p50['n']:.3f} / {p99['n']:.3f}   added {p50['n'] - p50['d']:.3f} / "
          f"{p99['n'] - p99['d']:.3f}")
    print(f"  via our gateway     : {p50['g']:.3f} / {p99['g']:.3f}   added {added:.3f} / {p99['g'] - p99['d']:.3f}"
          f"  (goal p50 added <= 1 ms: {'met' if added <= 1.0 else 'MISSED'}; rounds "
          f"{', '.join(f'{x:.3f}' for x in added_runs)})")
    print(f"latency, one connection (wrk -t1 -c1 -d{args.latency_duration:g}s): nothing queues, so this is the "
          "time each hop adds to one request")
    print(f"  backend direct      : {p50['d1']:.3f} / {p99['d1']:.3f}")
    print(f"  via nginx           : {p50['n1']:.3f} / {p99['n1']:.3f}   added {p50['n1'] - p50['d1']:.3f} / "
          f"{p99['n1'] - p99['d1']:.3f}")
    added1 = p50["g1"] - p50["d1"]
    print(f"  via our gateway     : {p50['g1']:.3f} / {p99['g1']:.3f}   added {added1:.3f} / "
          f"{p99['g1'] - p99['d1']:.3f}  (p50 added <= 1 ms: {'met' if added1 <= 1.0 else 'MISSED'})")
    return 0


def redis_reachable(url: str) -> bool:
    try:
        import redis

        client = redis.Redis.from_url(url, socket_connect_timeout=0.5)
        client.ping()
        client.close()
        return True
    except Exception:
        return False


def urllib_open(url: str) -> Any:
    import contextlib
    import urllib.request

    @contextlib.contextmanager
    def ctx() -> Any:
        with urllib.request.urlopen(url, timeout=5) as resp:
            yield resp.read().decode()

    return ctx()


if __name__ == "__main__":
    raise SystemExit(main())
