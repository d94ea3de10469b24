"""The dashboard in real headless Chromium (Debian's, driven by Playwright) against the real stack.

One stack (JWT on, demo data) and one browser for the module. Screenshots at laptop (1366x768) and
tablet (768x1024) width go to ``test-artifacts/ui/`` (git-ignored). ``scripts/install-debian-tools.sh``
installs Chromium (``make test`` runs it); without it these tests skip (fail with CI=true).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sync.gateway.service import create_gateway
from tests.gateway.conftest import make_settings
from tests.servers import unavailable
from tests.serving import free_port, running
from tests.ui.conftest import UiStack, expired_token

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).parents[2] / "test-artifacts" / "ui"
LAPTOP = {"width": 1366, "height": 768}
TABLET = {"width": 768, "height": 1024}
SKU = "22197"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        unavailable(f"no {CHROMIUM}: run scripts/install-debian-tools.sh")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("the playwright package is not installed (pip install -e '.[dev]')")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield chromium
        chromium.close()


class Page:
    """A browser tab on the dashboard that records console errors."""

    def __init__(self, browser: Any, stack: UiStack, viewport: dict[str, int] = LAPTOP) -> None:
        self.stack = stack
        self.context = browser.new_context(viewport=viewport)
        self.page = self.context.new_page()
        self.page.set_default_timeout(60_000)
        self.errors: list[str] = []
        self.page.on("console", lambda msg: self.errors.append(msg.text) if msg.type == "error" else None)
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))

    def open(self, view: str, token: str | None = None) -> float:
        """Load the dashboard on ``view`` (with ``token`` handed over in the fragment); seconds until drawn."""
        token = self.stack.token if token is None else token
        started = time.perf_counter()
        fragment = f"#token={token}&next=/{view}" if token else f"#/{view}"
        self.page.goto(f"{self.stack.base}/ui/{fragment}")
        self.wait_view(view.split("/")[0].split("?")[0])
        return time.perf_counter() - started

    def go(self, view: str) -> None:
        self.page.evaluate("h => { window.location.hash = h; }", f"#/{view}")
        self.wait_view(view.split("/")[0].split("?")[0])

    def wait_view(self, name: str) -> None:
        self.page.wait_for_function(
            "name => { const m = document.querySelector('main'); return m.dataset.view === name "
            "&& m.dataset.state === 'ready'; }", arg=name)

    def shot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        size = self.page.viewport_size
        path = ARTIFACTS / f"{name}-{size['width']}x{size['height']}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def tab(browser: Any, ui_stack: UiStack) -> Iterator[Page]:
    page = Page(browser, ui_stack)
    yield page
    page.close()


def column(page: Any, selector: str, index: int) -> list[str]:
    return page.eval_on_selector_all(f"{selector} tbody tr", f"rows => rows.map(r => r.cells[{index}]?.innerText)")


def test_stock_page_loads_without_console_errors_and_searches_filters_and_pages(tab: Page, ui_stack: UiStack) -> None:
    seconds = tab.open("stock?size=10")
    tab.page.wait_for_selector("#stock-table[data-enriched='1']")
    print(f"\nstock page: levels drawn {seconds:.2f} s after navigation (classes and reorder status "
          f"{tab.page.evaluate('performance.now()') / 1000:.2f} s after it started)")
    levels = ui_stack.api("GET", "/inventory/levels", params={"limit": 1000})["items"]
    kpis = ui_stack.api("GET", "/analytics/kpis", params={"limit": 10000})["items"]
    page = tab.page
    assert len(column(page, "#stock-table", 0)) == 10
    assert page.inner_text("#stock-count") == f"1-10 of {len(levels)} rows"
    page.click("#stock-next")
    assert page.inner_text("#stock-count") == f"11-20 of {len(levels)} rows"
    assert column(page, "#stock-table", 0) == [lv["sku"] for lv in levels[10:20]]

    page.fill("#stock-search", "popcorn")
    page.wait_for_function("() => document.querySelector('#stock-count').innerText.startsWith('1-')")
    names = {k["sku"] for k in kpis if "POPCORN" in (k["name"] or "")}
    assert set(column(page, "#stock-table", 0)) == names and names
    page.fill("#stock-search", "")

    page.check("#stock-below")
    below = {k["sku"] for k in kpis if k["below_reorder_point"]}
    page.select_option("#stock-location", "MAIN")
    shown = set()
    while True:  # every page of the filtered rows
        shown |= set(column(page, "#stock-table", 0))
        if page.is_disabled("#stock-next"):
            break
        page.click("#stock-next")
    assert shown == below and below
    page.uncheck("#stock-below")
    page.check("#stock-dead")
    dead = {k["sku"] for k in kpis if k["movement_class"] == "dead"}
    assert set(column(page, "#stock-table", 0)) == dead
    page.uncheck("#stock-dead")
    page.select_option("#stock-location", "STORE")
    store = [lv["sku"] for lv in levels if lv["location"] == "STORE"]
    assert set(column(page, "#stock-table", 0)) == set(store) and len(store) == 5
    assert tab.errors == []


def test_sku_chart_draws_the_api_numbers(tab: Page, ui_stack: UiStack) -> None:
    tab.open(f"sku/{SKU}")
    page = tab.page
    page.wait_for_selector("#demand-chart path.forecast")
    page.wait_for_selector("#stock-chart path.stock")
    page.wait_for_selector("#accuracy")

    def series(selector: str) -> list[list[Any]]:
        return json.loads(page.get_attribute(selector, "data-series"))

    history = ui_stack.api("GET", "/inventory/demand-history", params={"sku": SKU, "freq": "W"})["items"][-52:]
    assert series("#demand-chart path.history") == [[r["date"], r["quantity"]] for r in history]
    forecast = ui_stack.api("POST", "/ml/forecast", json={"sku": SKU, "horizon": 12})["items"]
    drawn = series("#demand-chart path.forecast")
    assert [d for d, _ in drawn] == [r["date"] for r in forecast]
    assert [v for _, v in drawn] == pytest.approx([r["forecast"] for r in forecast], rel=1e-9)
    band = series("#demand-chart path.band")
    assert [hi for _, _, hi in band] == pytest.approx([r["q90"] for r in forecast], rel=1e-9)
    # the path has one point per plotted value
    d = page.get_attribute("#demand-chart path.history", "d")
    assert d.count("M") + d.count("L") == len(history)

    sku = ui_stack.api("GET", f"/inventory/skus/{SKU}")
    rop = page.get_attribute("#stock-chart line[data-name=reorder_point]", "data-value")
    assert float(rop) == sku["reorder_point"]
    projected = series("#stock-chart path.stock")
    on_hand = sum(lv["on_hand"] for lv in ui_stack.api("GET", "/inventory/levels", params={"sku": SKU})["items"])
    assert projected[0][1] == on_hand and all(v >= 0 for _, v in projected)
    # the accessible table holds the same numbers
    page.click("details summary")
    assert page.inner_text("#demand-data tbody tr:first-child td:nth-child(2)") == str(history[0]["quantity"])
    assert len(column(page, "#movements", 0)) > 0
    assert "%" in page.inner_text("#accuracy")
    assert tab.errors == []


def _order_card(page: Any, po_id: int) -> str:
    return f"#order-{po_id}"


def test_a_draft_is_edited_and_approved_then_receiving_changes_the_level_on_screen(tab: Page,
                                                                                    ui_stack: UiStack) -> None:
    sku = "20723"
    draft = ui_stack.draft_order("UI-SUP", sku, 25)
    rejected = ui_stack.draft_order("UI-SUP", "22197", 5)
    tab.open("replenishment")
    page = tab.page
    card = _order_card(page, draft["id"])
    page.wait_for_selector(f"{card} [data-action=approve]")
    assert "test: order 25 of 20723" in page.inner_text(card)  # the line's reason
    page.fill(f"{card} input[type=number]", "30")
    page.click(f"{card} [data-action=approve]")
    page.wait_for_selector(f"{card} .notice")
    order = ui_stack.api("GET", f"/inventory/purchase-orders/{draft['id']}")
    assert order["status"] == "approved" and order["lines"][0]["quantity"] == 30
    page.wait_for_selector(card, state="detached")  # the page redraws: no longer a draft

    other = _order_card(page, rejected["id"])
    page.click(f"{other} [data-action=reject]")
    page.wait_for_selector(f"{other} .notice")
    assert ui_stack.api("GET", f"/inventory/purchase-orders/{rejected['id']}")["status"] == "cancelled"
    page.wait_for_selector(other, state="detached")

    tab.go("orders")
    row = f"{card} tr[data-sku='{sku}']"
    assert page.get_attribute(card, "data-status") == "approved"  # shows as an open order
    before = ui_stack.on_hand(sku, "MAIN")
    assert page.inner_text(f"{row} td[data-field=on_hand]") == f"{before:,.0f}"
    page.fill(f"{row} input[type=number]", "12")
    page.click(f"{card} [data-action=receive]")
    page.wait_for_function(
        "sel => { const c = document.querySelector(sel); return c && c.dataset.status === 'partially_received'; }",
        arg=card)
    page.wait_for_function("([sel, text]) => document.querySelector(sel)?.innerText === text",
                           arg=[f"{row} td[data-field=on_hand]", f"{before + 12:,.0f}"])
    assert ui_stack.on_hand(sku, "MAIN") == before + 12
    tab.go(f"stock?q={sku}")
    assert page.inner_text(f"#stock-table tr[data-sku='{sku}'][data-location=MAIN] td[data-field=on_hand]") == \
        f"{before + 12:,.0f}"
    assert tab.errors == []


def test_running_a_plan_shows_proposals_or_says_planning_is_not_available(tab: Page, ui_stack: UiStack) -> None:
    has_plan = "/plan" in ui_stack.api("GET", "/ml/openapi.json")["paths"]
    ui_stack.supplier("UI-SUP")
    tab.open("replenishment")
    page = tab.page
    page.click("#plan-run")
    if not has_plan:
        box = page.wait_for_selector("[data-error=plan_unavailable]")
        assert "planning service is not available" in box.inner_text()
        return
    page.wait_for_selector("#proposals, #plan-box p.muted", timeout=300_000)
    assert "proposed order line" in page.inner_text("#plan-status")
    groups = page.query_selector_all("#proposals .proposal-group")
    if not groups:
        return
    group = groups[0]
    group.query_selector("select[aria-label=Supplier]").select_option("UI-SUP")
    first_qty = int(group.query_selector("input[type=number]").input_value())
    group.query_selector("button.primary").click()
    page.wait_for_selector("#proposals .notice")
    drafts = ui_stack.api("GET", "/inventory/purchase-orders", params={"status": "draft"})["items"]
    newest = drafts[0]
    assert newest["plan_id"] and newest["lines"][0]["quantity"] == first_qty and newest["lines"][0]["reason"]["text"]
    assert tab.errors == []


def test_what_if_simulates_a_service_level_and_the_kpis_show_its_fill_rate(tab: Page, ui_stack: UiStack) -> None:
    has_simulate = "/simulate" in ui_stack.api("GET", "/ml/openapi.json")["paths"]
    tab.open("whatif")
    page = tab.page
    page.fill("#whatif-level", "0.9")
    page.click("#whatif-run")
    if not has_simulate:
        assert "not available" in page.wait_for_selector("[data-error=plan_unavailable]").inner_text()
        return
    page.wait_for_selector("#whatif-results tr[data-policy=ours]", timeout=300_000)
    runs = page.evaluate("JSON.parse(sessionStorage.getItem('inventory-system.whatif'))")
    assert runs[-1]["level"] == 0.9
    ours = runs[-1]["ours"]
    assert page.inner_text("#whatif-results tr[data-policy=ours] td[data-field=fill_rate]") == \
        f"{100 * ours['fill_rate']:.1f} %"
    assert page.inner_text("#whatif-results tr[data-policy=ours] td[data-field=stock_value]") == \
        f"{ours['stock_value']:,.0f}"
    tab.go("kpis")
    assert page.inner_text("#kpi-fill .value") == f"{100 * ours['fill_rate']:.1f} %"
    assert "simulated" in page.inner_text("#kpi-fill")
    assert tab.errors == []


def test_kpis_matrix_and_operations_pages(tab: Page, ui_stack: UiStack) -> None:
    tab.open("kpis")
    page = tab.page
    metrics = ui_stack.api("GET", "/analytics/metrics")
    assert page.inner_text("#kpi-stockouts .value") == f"{metrics['stockouts']:,}"
    matrix = ui_stack.api("GET", "/analytics/classification", params={"limit": 1})["matrix"]
    assert page.inner_text("#abc-xyz td[data-class=AZ] strong") == str(matrix["A"]["Z"]["sku_count"])
    page.click("#abc-xyz td[data-class=AZ] a")
    tab.wait_view("stock")
    assert page.input_value("#stock-class") == "AZ"
    tab.go("ops")
    assert page.inner_text("#service-health").count("ok") >= 3
    assert "closed" in page.inner_text("#breakers")
    assert page.inner_text("#rate-limited") == "0"
    assert tab.errors == []


def test_keyboard_alone_reaches_every_section(tab: Page) -> None:
    tab.open("stock")
    page = tab.page
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    for view in ("replenishment", "orders", "whatif", "kpis", "ops", "stock"):
        page.focus(f"#nav a[data-view={view}]")
        page.keyboard.press("Enter")
        tab.wait_view(view)
        assert page.get_attribute(f"#nav a[data-view={view}]", "aria-current") == "page"
    page.wait_for_selector("#stock-table[data-enriched='1']")
    page.focus("#stock-search")
    page.keyboard.type("parasol")
    page.wait_for_function("() => document.querySelectorAll('#stock-table tbody tr').length === 1")
    assert tab.errors == []


def test_a_missing_or_expired_token_shows_a_clear_message(browser: Any, ui_stack: UiStack) -> None:
    tab = Page(browser, ui_stack)
    try:
        tab.open("stock", token="")
        page = tab.page
        assert "needs an access token" in page.inner_text("main")
        assert page.is_visible("#token-dialog")
        page.fill("#token-input", ui_stack.token)  # typing a valid token in the dialog loads the page
        page.click("#token-dialog button[value=save]")
        page.wait_for_selector("#stock-table tbody tr")

    finally:
        tab.close()
    tab = Page(browser, ui_stack)
    try:
        tab.open("stock", token=expired_token())
        page = tab.page
        assert "expired" in page.inner_text("#banner")
        assert "expired" in page.inner_text("main [role=alert]")
        assert page.inner_text("#auth-state") == "token expired"
    finally:
        tab.close()


@pytest.mark.parametrize("viewport", [LAPTOP, TABLET], ids=["laptop", "tablet"])
def test_screenshots_and_no_sideways_scrolling(browser: Any, ui_stack: UiStack, viewport: dict[str, int]) -> None:
    tab = Page(browser, ui_stack, viewport)
    try:
        for view in ("stock", f"sku/{SKU}", "replenishment", "orders", "kpis", "ops"):
            tab.open(view) if view == "stock" else tab.go(view)
            if view.startswith("sku/"):
                tab.page.wait_for_selector("#demand-chart path.forecast")
            overflow = tab.page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
            assert overflow <= 0, f"{view} scrolls sideways by {overflow}px at {viewport['width']}px"
            assert tab.shot(view.replace("/", "-")).stat().st_size > 5_000
            if view.startswith("sku/") and viewport is LAPTOP:  # the README's picture: docs/img/dashboard.png
                tab.page.screenshot(path=str(ARTIFACTS / "dashboard.png"))
        assert tab.errors == []
    finally:
        tab.close()


def test_services_that_are_down_give_clear_messages_not_a_blank_page(browser: Any) -> None:
    """A real gateway whose three services do not answer (nothing listens on their ports)."""
    dead = {name: f"http://127.0.0.1:{free_port()}" for name in ("inventory", "analytics", "ml")}
    gateway = create_gateway(make_settings(GATEWAY_SERVICES=",".join(f"{k}={v}" for k, v in dead.items()),
                                           HEALTH_CHECK_INTERVAL=0.5))
    with running(gateway.app, free_port()) as base:
        context = browser.new_context(viewport=LAPTOP)
        try:
            page = context.new_page()
            page.set_default_timeout(60_000)
            for view, service in (("stock", "inventory"), ("kpis", "analytics"), ("sku/22197", "inventory")):
                page.goto(f"{base}/ui/#/{view}")
                page.wait_for_function("() => document.querySelector('main').dataset.state === 'ready'")
                text = page.inner_text("main [role=alert]")
                assert f"The {service} service is not available right now" in text, text
            page.goto(f"{base}/ui/#/ops")
            page.wait_for_function("() => document.querySelector('main').dataset.view === 'ops' "
                                   "&& document.querySelector('main').dataset.state === 'ready'")
            alerts = page.inner_text("#alerts")
            assert "inventory service is down" in alerts and "ml service is down" in alerts
        finally:
            context.close()
