"""The operator's commands against the real stack (JWT on), and against no stack at all.

Each command runs in-process through ``sync.cli.main`` (same parser, same exit codes as the console
script); the stack-down case also runs as a real subprocess to check what a shell script sees.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sync.cli import main
from sync.gateway.service import create_gateway
from tests.gateway.conftest import make_settings
from tests.serving import free_port, running
from tests.ui.conftest import UiStack, expired_token


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse's usage errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def cli_env(ui_stack: UiStack, monkeypatch: pytest.MonkeyPatch) -> UiStack:
    monkeypatch.setenv("CLI_GATEWAY_URL", ui_stack.base)
    monkeypatch.setenv("CLI_TOKEN", ui_stack.token)
    monkeypatch.setenv("COLUMNS", "200")
    return ui_stack


# --- no stack ----------------------------------------------------------------------------------
@pytest.mark.parametrize("argv", [["status"], ["orders", "list"], ["forecast", "22197"], ["backtest"], ["plan"]])
def test_a_stack_that_is_down_is_exit_3_with_one_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, *argv[:1], *argv[1:], "--url", f"http://127.0.0.1:{free_port()}")
    assert code == 3 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: the gateway at") and "not reachable" in lines[0]


@pytest.mark.slow
def test_a_script_sees_exit_3_and_one_line_when_the_stack_is_down(tmp_path: Path) -> None:
    path = os.pathsep.join([str(Path(__file__).parents[2]), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path}
    proc = subprocess.run([sys.executable, "-m", "sync.cli", "status", "--url", f"http://127.0.0.1:{free_port()}"],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path, env=env)
    assert proc.returncode == 3 and proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1 and proc.stderr.startswith("error: ")


def test_status_with_services_down_is_exit_1_naming_them(capsys: pytest.CaptureFixture[str]) -> None:
    dead = ",".join(f"{name}=http://127.0.0.1:{free_port()}" for name in ("inventory", "analytics", "ml"))
    gateway = create_gateway(make_settings(GATEWAY_SERVICES=dead, HEALTH_CHECK_INTERVAL=0.5))
    with running(gateway.app, free_port()) as base:
        code, out, err = run(capsys, "status", "--url", base)
        assert code == 1 and "inventory-1" in out
        assert err.strip().splitlines() == ["error: not every service is healthy: analytics, inventory, ml"]
        code, out, err = run(capsys, "orders", "list", "--url", base)
        assert code == 1 and out == "" and "down" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("argv", [
    ["plan", "--service-level", "1.5"], ["forecast", "22197", "--horizon", "0"], ["backtest", "--windows", "x"],
    ["orders", "approve", "zero"], ["orders", "frobnicate"], ["forecast"],
])
def test_a_wrong_argument_is_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert "error:" in err


# --- the real stack ----------------------------------------------------------------------------
@pytest.mark.e2e
@pytest.mark.slow
def test_status_shows_services_breakers_limits_and_the_last_plan(cli_env: UiStack,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "status")
    assert code == 0, err
    for text in ("inventory-1", "analytics-1", "ml-1", "closed", "Rate limits", "default", "last plan:", "auth: jwt"):
        assert text in out
    code, out, _ = run(capsys, "status", "--json")
    body = json.loads(out)
    assert code == 0 and set(body["services"]) == {"inventory", "analytics", "ml"}
    assert all(i["circuit_breaker"] == "closed" for s in body["instances"].values() for i in s["instances"])


@pytest.mark.e2e
@pytest.mark.slow
def test_a_missing_or_expired_token_is_exit_1_with_one_line_naming_it(cli_env: UiStack, monkeypatch: pytest.MonkeyPatch,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("CLI_TOKEN")
    code, out, err = run(capsys, "orders", "list")
    assert code == 1 and out == "" and len(err.strip().splitlines()) == 1 and "token" in err
    code, out, err = run(capsys, "orders", "list", "--token", expired_token())
    assert code == 1 and "expired" in err and len(err.strip().splitlines()) == 1


@pytest.mark.e2e
@pytest.mark.slow
def test_forecast_prints_the_api_figures_and_writes_a_png(cli_env: UiStack, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    png = tmp_path / "forecast.png"
    code, out, err = run(capsys, "forecast", "22197", "--horizon", "6", "--json", "--png", str(png))
    assert code == 0, err
    printed = json.loads(out)["items"]
    answer = cli_env.api("POST", "/ml/forecast", json={"sku": "22197", "horizon": 6})["items"]
    assert [r["date"] for r in printed] == [r["date"] for r in answer] and len(printed) == 6
    assert [r["forecast"] for r in printed] == pytest.approx([r["forecast"] for r in answer], rel=1e-6)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    code, out, _ = run(capsys, "forecast", "22197", "--horizon", "3")
    assert code == 0 and "q90" in out and printed[0]["date"] in out
    code, out, err = run(capsys, "forecast", "NO-SUCH-SKU")
    assert code == 2 and out == "" and "NO-SUCH-SKU" in err and len(err.strip().splitlines()) == 1


@pytest.mark.e2e
@pytest.mark.slow
def test_backtest_prints_a_results_table(cli_env: UiStack, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "backtest", "--sku", "22197", "--windows", "2", "--horizon", "4")
    assert code == 0, err
    assert "ensemble" in out and "wape" in out and "origins:" in out


@pytest.mark.e2e
@pytest.mark.slow
def test_plan_prints_proposals_or_says_planning_is_not_available(cli_env: UiStack,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    has_plan = "/plan" in cli_env.api("GET", "/ml/openapi.json")["paths"]
    code, out, err = run(capsys, "plan", "--json", "--quiet")
    if not has_plan:
        assert code == 1 and out == "" and "planning service is not available" in err
        return
    assert code == 0, err
    body = json.loads(out)
    assert body["skus"] > 0 and isinstance(body["proposals"], list)
    for line in body["proposals"]:
        assert line["quantity"] > 0 and line["reason"]


@pytest.mark.e2e
@pytest.mark.slow
def test_orders_list_approve_and_receive(cli_env: UiStack, capsys: pytest.CaptureFixture[str]) -> None:
    sku, qty = "22197", 40
    po = cli_env.draft_order("CLI-SUP", sku, qty, location="STORE")
    before = cli_env.on_hand(sku, "STORE")
    code, out, err = run(capsys, "orders", "list", "--status", "draft", "--json")
    assert code == 0 and po["id"] in [o["id"] for o in json.loads(out)]
    code, out, err = run(capsys, "orders", "approve", str(po["id"]))
    assert code == 0 and "approved" in out, err
    assert cli_env.api("GET", f"/inventory/purchase-orders/{po['id']}")["status"] == "approved"
    code, out, _ = run(capsys, "orders", "list", "--json")
    assert po["id"] in [o["id"] for o in json.loads(out)]  # open orders by default
    code, out, err = run(capsys, "orders", "receive", str(po["id"]), "--line", f"{sku}=15")
    assert code == 0, err
    assert cli_env.on_hand(sku, "STORE") == before + 15
    code, out, err = run(capsys, "orders", "receive", str(po["id"]))  # the rest
    assert code == 0 and "received" in out
    assert cli_env.on_hand(sku, "STORE") == before + qty
    code, out, err = run(capsys, "orders", "receive", str(po["id"]))
    assert code == 2 and "nothing outstanding" in err
    code, out, err = run(capsys, "orders", "receive", str(po["id"]), "--line", "oops")
    assert code == 2 and "SKU=QUANTITY" in err
    code, out, err = run(capsys, "orders", "approve", "99999999")
    assert code == 2 and "not found" in err
