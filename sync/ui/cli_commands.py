"""The operator's commands of ``inventory-system``: status, plan, forecast, backtest, orders.

Each talks only to the gateway's public HTTP API (``--url``, default ``CLI_GATEWAY_URL`` or
``http://127.0.0.1:GATEWAY_PORT``) with the token of ``--token`` / ``CLI_TOKEN`` when JWT is on.
Tables and progress come from rich; progress goes to stderr, so stdout holds only the answer (and
``--json`` prints the API's JSON instead of tables).

Exit codes a script can rely on, each failure with one line on stderr starting ``error:``:
0 done (``status``: every service healthy); 1 the API refused or failed (``status``: something is
down or degraded); 2 a wrong argument (argparse's usage errors, and an unknown SKU or order);
3 the stack is down (nothing answers at the URL).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from sync.settings import Settings
from sync.ui.client import ApiError, ClientError, GatewayClient, StackDown

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_DOWN = 0, 1, 2, 3
PLAN_POLL_SECONDS = 1.0
PLAN_MAX_POLLS = 3600
OPEN_STATUSES = "approved,sent,partially_received"


class UsageError(ClientError):
    """A wrong argument found only by asking the API (an unknown SKU or order)."""


def _out() -> Console:
    return Console(soft_wrap=False)


def _err() -> Console:
    return Console(stderr=True)


def _client(args: argparse.Namespace, settings: Settings) -> GatewayClient:
    url = args.url or settings.CLI_GATEWAY_URL or f"http://127.0.0.1:{settings.GATEWAY_PORT}"
    token = args.token or (settings.CLI_TOKEN.get_secret_value() if settings.CLI_TOKEN else None)
    return GatewayClient(url, token=token, timeout=args.timeout)


def _run(command: Callable[[GatewayClient, argparse.Namespace], int]) -> Callable[[argparse.Namespace, Settings], int]:
    """Wrap a command: one ``error:`` line and the documented exit code for every failure."""

    def run(args: argparse.Namespace, settings: Settings) -> int:
        for noisy in ("httpx", "httpcore", "matplotlib"):  # stdout/stderr are the command's answer, not a log
            logging.getLogger(noisy).setLevel(logging.WARNING)
        try:
            with _client(args, settings) as client:
                return command(client, args)
        except StackDown as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_DOWN
        except UsageError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        except ApiError as exc:
            print(f"error: {_explain(exc)}", file=sys.stderr)
            return EXIT_FAILED
        except KeyboardInterrupt:
            print("error: interrupted", file=sys.stderr)
            return 130

    return run


def _explain(exc: ApiError) -> str:
    if exc.status == 401:
        hint = "the token has expired" if exc.code == "token_expired" else "a valid token is needed"
        return f"{exc} ({hint}: pass --token or set CLI_TOKEN; issue one with inventory-system token)"
    if exc.status in (502, 503, 504):
        return f"{exc} (a service behind the gateway is down)"
    return str(exc)


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, default=str))


def _num(value: Any, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{value:,.{digits}f}"


# --- status ------------------------------------------------------------------------------------
def cmd_status(client: GatewayClient, args: argparse.Namespace) -> int:
    root = client.get("/")
    health = client.get("/health")
    services = client.get("/services")
    limits = client.get("/rate-limits")
    metrics = client.request("GET", "/metrics", text=True)
    own: dict[str, Any] = {}
    for name in root.get("services", []):
        try:
            own[name] = client.get(f"/{name}/health")
        except ApiError as exc:
            own[name] = {"status": "down", "error": exc.message}
    rejected = _rate_limited(metrics)
    try:
        drafts = client.get("/inventory/purchase-orders", status="draft", limit=100)["items"]
        open_orders = client.get("/inventory/purchase-orders", status=OPEN_STATUSES, limit=100)["items"]
    except ApiError:  # the inventory service is down: reported above as its health, not a crash here
        drafts, open_orders = [], []
    planned = [po for po in drafts + open_orders if po.get("plan_id")]
    last_plan = max(planned, key=lambda po: po["created_at"]) if planned else None
    healthy = health.get("status") == "ok" and all(v.get("status") == "ok" for v in own.values())
    if args.json:
        _print_json({"gateway": root, "health": health, "services": own, "instances": services["services"],
                     "rate_limits": limits, "rate_limited": rejected, "draft_orders": len(drafts),
                     "open_orders": len(open_orders), "last_plan": last_plan and last_plan["plan_id"]})
        return EXIT_OK if healthy else EXIT_FAILED
    out = _out()
    out.print(f"gateway {client.url}: {health.get('status')} (auth: {root.get('auth')}, "
              f"rate limits: {root.get('rate_limit_backend')})")
    table = Table("service", "health", "instance", "healthy", "breaker", "failures", title="Services")
    for name, inst_info in services["services"].items():
        for inst in inst_info["instances"]:
            table.add_row(name, own.get(name, {}).get("status", "?"), inst["name"], "yes" if inst["healthy"] else "no",
                          inst["circuit_breaker"], str(inst["consecutive_failures"]))
    out.print(table)
    lim = Table("pattern", "per minute", "per hour", "burst", "refused", title="Rate limits")
    for pattern, rule in [*limits["rules"].items(), ("default", limits["default"])]:
        lim.add_row(pattern, str(rule["requests_per_minute"]), str(rule["requests_per_hour"]), str(rule["burst_limit"]),
                    _num(rejected.get(pattern, 0)))
    out.print(lim)
    if last_plan:
        out.print(f"last plan: {last_plan['plan_id']} (order #{last_plan['id']} created "
                  f"{last_plan['created_at'][:16]}); {len(drafts)} draft and {len(open_orders)} open order(s)")
    else:
        out.print(f"last plan: none turned into orders; {len(drafts)} draft and {len(open_orders)} open order(s)")
    if not healthy:
        down = [n for n, v in own.items() if v.get("status") != "ok"]
        print(f"error: not every service is healthy: {', '.join(down) or 'gateway ' + str(health.get('status'))}",
              file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def _rate_limited(metrics: str) -> dict[str, float]:
    """Refusals per rule from the gateway's Prometheus text (``gateway_rate_limited_total{rule=...}``)."""
    out: dict[str, float] = {}
    for line in metrics.splitlines():
        if line.startswith("gateway_rate_limited_total{"):
            labels, _, value = line.rpartition(" ")
            rule = labels.split('rule="', 1)[1].split('"', 1)[0] if 'rule="' in labels else ""
            out[rule] = out.get(rule, 0.0) + float(value)
    return out


# --- plan --------------------------------------------------------------------------------------
def cmd_plan(client: GatewayClient, args: argparse.Namespace) -> int:
    # apply: false: this command prints the proposals and makes drafts only with --create-drafts (the HTTP
    # API's default, apply: true, would also write the plan's drafts and levels)
    body = {"background": True, "service_level": args.service_level, "apply": False}
    try:
        job = client.post("/ml/plan", body)
    except ApiError as exc:
        if exc.status in (404, 405):
            raise ApiError(exc.status, "plan_unavailable", "the planning service is not available "
                           "(the ML service has no /plan route)", path="POST /ml/plan") from exc
        raise
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TimeElapsedColumn(), console=_err(), transient=True, disable=args.quiet) as progress:
        task = progress.add_task("planning", total=job.get("progress", {}).get("total", 5))
        for _ in range(PLAN_MAX_POLLS):
            progress.update(task, completed=job["progress"]["done"],
                            description=f"planning: {job['progress'].get('step') or 'done'}")
            if job["status"] != "running":
                break
            time.sleep(PLAN_POLL_SECONDS)
            job = client.get(f"/ml/plan/jobs/{job['job_id']}")
    if job["status"] != "done":
        err = job.get("error") or {}
        raise ApiError(503, str(err.get("code", "plan_failed")), str(err.get("message", "the plan did not finish")),
                       path=f"GET /ml/plan/jobs/{job['job_id']}")
    result = job["result"]
    proposals = result.get("proposals", [])
    created = _create_drafts(client, args, job["job_id"], proposals) if args.create_drafts else []
    if args.json:
        _print_json({"job_id": job["job_id"], "skus": result.get("skus"), "proposals": proposals,
                     "created_orders": created})
        return EXIT_OK
    out = _out()
    out.print(f"plan {job['job_id']}: {result.get('skus')} SKUs planned in {result.get('seconds')} s, "
              f"{len(proposals)} proposed order line(s)")
    if proposals:
        table = Table("supplier", "sku", "quantity", "position", "reorder point", "order-up-to", "reason",
                      title="Proposed purchase-order lines")
        for p in proposals:
            table.add_row(p.get("supplier") or "-", p["sku"], _num(p["quantity"]), _num(p["position"]),
                          _num(p["reorder_point"]), _num(p["order_up_to"]), str(p.get("reason", "")))
        out.print(table)
    for po in created:
        out.print(f"draft order #{po['id']} for {po['supplier']}: {len(po['lines'])} line(s), "
                  f"value {_num(po['value'], 2)}")
    return EXIT_OK


def _create_drafts(client: GatewayClient, args: argparse.Namespace, plan_id: str,
                   proposals: list[dict[str, Any]]) -> list[dict[str, Any]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for p in proposals:
        supplier = p.get("supplier") or args.supplier
        if not supplier:
            raise UsageError(f"SKU {p['sku']} has no supplier on record: pass --supplier CODE for such lines")
        groups.setdefault(supplier, []).append(p)
    created = []
    for supplier, lines in sorted(groups.items()):
        body = {"supplier": supplier, "location": args.location, "plan_id": plan_id, "lines": [
            {"sku": p["sku"], "quantity": p["quantity"], "reason": {
                "text": p.get("reason"), "position": p.get("position"), "reorder_point": p.get("reorder_point"),
                "order_up_to": p.get("order_up_to"), "risk_period_demand": p.get("risk_period_demand"),
                "fill_rate_without_order": p.get("fill_rate_without_order")}} for p in lines]}
        created.append(_argument_call(partial(client.post, "/inventory/purchase-orders", body)))
    return created


def _argument_call(call: Callable[[], Any]) -> Any:
    """An API call whose 404/422 means the user's argument was wrong (exit 2, not 1)."""
    try:
        return call()
    except ApiError as exc:
        if exc.status in (404, 422):
            raise UsageError(_explain(exc)) from exc
        raise


# --- forecast ----------------------------------------------------------------------------------
def cmd_forecast(client: GatewayClient, args: argparse.Namespace) -> int:
    sku = _argument_call(lambda: client.get(f"/inventory/skus/{args.sku}"))
    history = client.get("/inventory/demand-history", sku=args.sku, freq="W")["items"]
    answer = _waiting("forecasting", args.quiet,
                      lambda: client.post("/ml/forecast", {"sku": args.sku, "horizon": args.horizon}))
    rows = [r for r in answer["items"] if r["sku"] == args.sku]
    if args.png:
        write_forecast_png(Path(args.png), args.sku, sku.get("name") or "", history[-52:], rows)
    if args.json:
        _print_json({"sku": args.sku, "items": rows})
        return EXIT_OK
    title = f"Weekly demand forecast of {args.sku} {sku.get('name') or ''}"
    table = Table("week ending", "forecast", "q90", title=title)
    for r in rows:
        table.add_row(r["date"], _num(r["forecast"], 1), _num(r.get("q90"), 1))
    out = _out()
    out.print(table)
    if args.png:
        out.print(f"chart written to {args.png}")
    return EXIT_OK


def write_forecast_png(path: Path, sku: str, name: str, history: list[dict[str, Any]],
                       forecast: list[dict[str, Any]]) -> None:
    """Weekly history, forecast and its q90 as a PNG (matplotlib, the optional ``plot`` extra)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise UsageError("--png needs matplotlib: pip install 'inventory-improvements-system[plot]'") from exc
    import numpy as np

    def day(text: str) -> np.datetime64:
        return np.datetime64(text[:10], "D")

    fig, ax = plt.subplots(figsize=(9, 4), dpi=100)
    ax.plot([day(r["date"]) for r in history], [r["quantity"] for r in history], color="#1f5fbf", label="weekly demand")
    if forecast:
        dates = [day(r["date"]) for r in forecast]
        ax.fill_between(dates, [r["forecast"] for r in forecast], [r.get("q90") or r["forecast"] for r in forecast],
                        color="#d0541b", alpha=0.2, label="up to q90")
        ax.plot(dates, [r["forecast"] for r in forecast], color="#d0541b", linestyle="--", label="forecast")
    ax.set_title(f"{sku} {name}".strip())
    ax.set_ylabel("units per week")
    ax.set_ylim(bottom=0)
    ax.legend(loc="upper left")
    fig.autofmt_xdate()
    fig.tight_layout()
    try:
        fig.savefig(path, format="png")
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from exc
    finally:
        plt.close(fig)


def _waiting(label: str, quiet: bool, call: Callable[[], Any]) -> Any:
    """Run one long API call with a spinner on stderr (the call itself reports no progress)."""
    result: dict[str, Any] = {}

    def work() -> None:
        try:
            result["value"] = call()
        except BaseException as exc:  # handed to the caller's thread below
            result["error"] = exc

    thread = threading.Thread(target=work, daemon=True)
    with Progress(SpinnerColumn(), TextColumn(label), TimeElapsedColumn(), console=_err(), transient=True,
                  disable=quiet) as progress:
        progress.add_task(label, total=None)
        thread.start()
        while thread.is_alive():
            thread.join(0.1)
    if "error" in result:
        raise result["error"]
    return result["value"]


# --- backtest ----------------------------------------------------------------------------------
def cmd_backtest(client: GatewayClient, args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"horizon": args.horizon, "windows": args.windows}
    if args.sku:
        _argument_call(lambda: client.get(f"/inventory/skus/{args.sku}"))
        body["sku"] = args.sku
    answer = _waiting(f"back-testing {args.windows} window(s) of {args.horizon} week(s)", args.quiet,
                      lambda: client.post("/ml/backtest", body))
    if args.json:
        _print_json(answer)
        return EXIT_OK
    metrics = answer.get("metrics") or []
    columns = ["model", "wape", "bias", "mase", "rmsse", "q90_coverage"]
    table = Table(*columns, title=f"Backtest: {args.windows} origin(s), horizon {args.horizon} week(s)"
                  + (f", SKU {args.sku}" if args.sku else ", all SKUs"))
    for row in metrics:
        table.add_row(str(row.get("model")), *(_num(row.get(c), 3) for c in columns[1:]))
    out = _out()
    out.print(table)
    if answer.get("origins"):
        out.print(f"origins: {', '.join(answer['origins'])}; {answer.get('seconds', 0):.1f} s")
    return EXIT_OK


# --- orders ------------------------------------------------------------------------------------
def cmd_orders(client: GatewayClient, args: argparse.Namespace) -> int:
    action = args.action
    if action == "list":
        status = None if args.status == "all" else OPEN_STATUSES if args.status == "open" else args.status
        items = _argument_call(
            lambda: client.get("/inventory/purchase-orders", status=status, limit=args.limit))["items"]
        if args.json:
            _print_json(items)
            return EXIT_OK
        table = Table("id", "status", "supplier", "location", "lines", "outstanding", "value", "expected", "plan",
                      title=f"Purchase orders ({args.status})")
        for po in items:
            table.add_row(str(po["id"]), po["status"], po["supplier"], po["location"], str(len(po["lines"])),
                          _num(sum(line["outstanding"] for line in po["lines"])), _num(po["value"], 2),
                          (po.get("expected_at") or "")[:10], (po.get("plan_id") or "")[:8])
        _out().print(table)
        return EXIT_OK
    path = f"/inventory/purchase-orders/{args.id}"
    po = _argument_call(lambda: client.get(path))
    if action == "approve":
        po = client.post(f"{path}/approve")
        done = f"order #{po['id']} approved: {sum(line['outstanding'] for line in po['lines']):g} unit(s) now incoming"
    else:  # receive
        if args.line:
            lines = [_receipt_line(text) for text in args.line]
        else:
            lines = [{"sku": line["sku"], "quantity": line["outstanding"]}
                     for line in po["lines"] if line["outstanding"]]
        if not lines:
            raise UsageError(f"order #{po['id']} has nothing outstanding to receive (status {po['status']})")
        po = _argument_call(lambda: client.post(f"{path}/receive", {"lines": lines}))
        done = (f"order #{po['id']} received {sum(line['quantity'] for line in lines):g} unit(s) into "
                f"{po['location']}: now {po['status']}")
    if args.json:
        _print_json(po)
    else:
        _out().print(done)
    return EXIT_OK


def _receipt_line(text: str) -> dict[str, Any]:
    sku, sep, qty = text.rpartition("=")
    if not sep or not sku or not qty.isdigit() or int(qty) < 1:
        raise UsageError(f"--line {text!r}: write SKU=QUANTITY with a whole quantity of at least 1")
    return {"sku": sku, "quantity": int(qty)}


# --- registration ------------------------------------------------------------------------------
def _level(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not between 0 and 1 (e.g. 0.95)")
    return value


def _whole(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is not between {low} and {high}")
        return value

    return parse


def add_commands(sub: Any) -> None:
    """Register status, plan, forecast, backtest and orders on ``inventory-system``'s subparsers."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", default=None, help="the gateway (default CLI_GATEWAY_URL, else "
                                                    "http://127.0.0.1:GATEWAY_PORT)")
    common.add_argument("--token", default=None, help="bearer token when JWT is on (default CLI_TOKEN)")
    common.add_argument("--timeout", type=float, default=120.0, help="seconds per request (default 120)")
    common.add_argument("--json", action="store_true", help="print the API's JSON instead of tables")
    common.add_argument("--quiet", action="store_true", help="no progress on stderr")

    status = sub.add_parser("status", parents=[common], help="services, breakers, rate limits, last plan "
                            "(exit 1 when something is down)")
    status.set_defaults(func=_run(cmd_status))

    plan = sub.add_parser("plan", parents=[common], help="run the planning job with a progress bar and print the "
                          "proposed purchase-order lines")
    plan.add_argument("--service-level", type=_level, default=0.95, help="target fill rate (default 0.95)")
    plan.add_argument("--create-drafts", action="store_true", help="turn the proposals into draft orders, one per "
                      "supplier")
    plan.add_argument("--supplier", default=None, help="with --create-drafts: supplier for lines whose SKU has none")
    plan.add_argument("--location", default="MAIN", help="with --create-drafts: where the orders arrive (MAIN)")
    plan.set_defaults(func=_run(cmd_plan))

    fc = sub.add_parser("forecast", parents=[common], help="a SKU's weekly demand forecast with its q90 (a table; "
                        "--png FILE for a chart)")
    fc.add_argument("sku")
    fc.add_argument("--horizon", type=_whole(1, 104), default=12, help="weeks ahead (default 12)")
    fc.add_argument("--png", metavar="FILE", default=None, help="also write a chart (needs matplotlib)")
    fc.set_defaults(func=_run(cmd_forecast))

    bt = sub.add_parser("backtest", parents=[common], help="rolling-origin backtest of the forecaster, with "
                        "progress and a results table")
    bt.add_argument("--sku", default=None, help="one SKU (default all)")
    bt.add_argument("--horizon", type=_whole(1, 104), default=4, help="weeks per window (default 4)")
    bt.add_argument("--windows", type=_whole(1, 12), default=3, help="origins (default 3)")
    bt.set_defaults(func=_run(cmd_backtest))

    orders = sub.add_parser("orders", help="purchase orders: list, approve, receive")
    actions = orders.add_subparsers(dest="action", required=True)
    ls = actions.add_parser("list", parents=[common], help="orders, newest first")
    ls.add_argument("--status", default="open", help="open (default), all, or statuses like draft,approved")
    ls.add_argument("--limit", type=_whole(1, 1000), default=100)
    approve = actions.add_parser("approve", parents=[common], help="approve a draft (its units become incoming)")
    approve.add_argument("id", type=_whole(1, 2**62))
    receive = actions.add_parser("receive", parents=[common], help="receive an order: all outstanding units, or "
                                 "--line SKU=QTY")
    receive.add_argument("id", type=_whole(1, 2**62))
    receive.add_argument("--line", action="append", default=[], metavar="SKU=QTY", help="repeatable")
    orders.set_defaults(func=_run(cmd_orders))
