"""How fast the dashboard's pages are ready in headless Chromium, on the demo data.

Starts the stack (``python -m sync.cli up`` in a scratch directory, free ports, demo data) unless
``--url`` names a running gateway, then opens each page ``--runs`` times, each in a fresh browser context
(no cache), and prints the time from navigation start until the page's data is drawn (``main[data-ready-ms]``,
set by the page itself). Needs Debian's chromium (scripts/install-debian-tools.sh) and the playwright package.

    python bench/dashboard.py [--url http://127.0.0.1:8000] [--runs 6] [--data FILE.csv.xz]

``--data`` imports that sales history instead of the demo data (e.g. the SPEC's
``transactions-dev.csv.xz``, thousands of SKUs) before the stack starts. For the stock page it also prints
when names, classes and reorder status (from analytics) were merged in.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

VIEWS = ["stock", "sku/22197", "replenishment", "orders", "kpis", "ops"]
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_stack(workdir: str, data: str | None) -> tuple[subprocess.Popen[str], str]:
    ports = {name: free_port() for name in ("GATEWAY_PORT", "INVENTORY_PORT", "ANALYTICS_PORT", "ML_PORT")}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS", "RATE_LIMIT", "JWT", "DATABASE"))}
    env.update({k: str(v) for k, v in ports.items()}, LOG_LEVEL="WARNING", RATE_LIMIT_DEFAULT_PER_MINUTE="10000")
    if data:
        env["DEMO_DATA"] = "false"
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "sync.cli", "import", os.path.abspath(data), "--quiet"], cwd=workdir,
                       env=env, check=True, stdout=subprocess.DEVNULL)
        print(f"imported {data} in {time.perf_counter() - started:.1f} s")
    proc = subprocess.Popen([sys.executable, "-m", "sync.cli", "up"], cwd=workdir, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    up = threading.Event()

    def drain() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if "Press Ctrl-C to stop" in line:
                up.set()

    threading.Thread(target=drain, daemon=True).start()
    if not up.wait(240):
        proc.kill()
        raise SystemExit("the stack did not come up within 240 s")
    return proc, f"http://127.0.0.1:{ports['GATEWAY_PORT']}"


def measure(base: str, runs: int) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS, headless=True)
        print(f"{'page':15s} {'first':>7s} {'median':>7s} {'max':>7s}   (ms from navigation start to data drawn; "
              f"first = cold service caches, then {runs - 1} more)")
        for view in VIEWS:
            times, merged = [], []
            for _ in range(runs):
                context = browser.new_context(viewport={"width": 1366, "height": 768})
                page = context.new_page()
                page.goto(f"{base}/ui/#/{view}")
                page.wait_for_selector("main[data-state=ready][data-ready-ms]", timeout=60_000)
                times.append(int(page.get_attribute("main", "data-ready-ms") or 0))
                if view == "stock":
                    page.wait_for_selector("#stock-table[data-enriched-ms]", timeout=120_000)
                    merged.append(int(page.get_attribute("#stock-table", "data-enriched-ms") or 0))
                    rows = page.inner_text("#stock-count")
                context.close()
            rest = times[1:] or times
            print(f"{view:15s} {times[0]:7d} {statistics.median(rest):7.0f} {max(rest):7d}")
            if merged:
                later = merged[1:] or merged
                print(f"{'  (analytics)':15s} {merged[0]:7d} {statistics.median(later):7.0f} {max(later):7d}   {rows}")
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=None, help="a running gateway (default: start a stack)")
    parser.add_argument("--runs", type=int, default=6)
    parser.add_argument("--data", default=None, help="import this sales history instead of the demo data")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    if args.url:
        measure(args.url.rstrip("/"), args.runs)
        return
    with tempfile.TemporaryDirectory() as workdir:
        proc, base = start_stack(workdir, args.data)
        try:
            time.sleep(2)
            measure(base, args.runs)
        finally:
            proc.terminate()
            proc.wait(30)


if __name__ == "__main__":
    main()
