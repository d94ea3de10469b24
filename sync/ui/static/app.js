// The planner's dashboard: one hand-written ES module, no framework, no build step.
// It talks only to the gateway's public HTTP API (same origin). Every view renders from the API's
// answers; every failure becomes a message on the page (never a blank page). Charts are SVG drawn
// here; the plotted series are kept on the SVG (data-series) and in a table for screen readers.

const TOKEN_KEY = "inventory-system.token";
const PLAN_KEY = "inventory-system.plan";
const PAGE_SIZE = 50;
const SVGNS = "http://www.w3.org/2000/svg";

const state = {
  auth: null,             // "jwt" | "none", from the gateway's GET /
  token: sessionStorage.getItem(TOKEN_KEY),
  stock: null,            // joined stock rows, cached for STOCK_TTL
  stockAt: 0,
  render: 0,              // a counter: a view whose render was superseded stops drawing
};
const STOCK_TTL = 30_000;

// ---------------------------------------------------------------------------------------------
// DOM helpers
export function h(tag, attrs = {}, ...children) {
  const el = tag.startsWith("svg:") ? document.createElementNS(SVGNS, tag.slice(4)) : document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key === "style") el.style.cssText = value; // CSSOM: allowed by the page's CSP, a style attribute is not
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}
const $ = (sel, root = document) => root.querySelector(sel);
const fmt = (n, digits = 0) => (n === null || n === undefined || Number.isNaN(n)) ? "–"
  : Number(n).toLocaleString("en-GB", { maximumFractionDigits: digits, minimumFractionDigits: 0 });
const money = (n) => (n === null || n === undefined) ? "–"
  : Number(n).toLocaleString("en-GB", { style: "currency", currency: "GBP", maximumFractionDigits: 0 });
const pct = (n, digits = 1) => (n === null || n === undefined) ? "–" : `${(100 * n).toFixed(digits)} %`;
const isoDay = (d) => d.toISOString().slice(0, 10);

// ---------------------------------------------------------------------------------------------
// The API: one place that turns HTTP failures into messages a planner can act on
export class ApiError extends Error {
  constructor(status, code, message, details, path) {
    super(message);
    this.status = status; this.code = code; this.details = details; this.path = path;
  }
}

export async function api(path, { method = "GET", body, params } = {}) {
  const url = new URL(path, window.location.origin);
  for (const [k, v] of Object.entries(params || {})) if (v !== undefined && v !== null && v !== "") url.searchParams.set(k, v);
  const headers = { accept: "application/json" };
  if (body !== undefined) headers["content-type"] = "application/json";
  if (state.token) headers.authorization = `Bearer ${state.token}`;
  let resp;
  try {
    resp = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (exc) {
    throw new ApiError(0, "unreachable", "The gateway does not answer: is the stack running?", null, path);
  }
  const text = await resp.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!resp.ok) {
    const err = (data && data.error) || {};
    throw new ApiError(resp.status, err.code || `http_${resp.status}`, err.message || resp.statusText || "request failed",
      err.details, path);
  }
  return data;
}

/** Every item of a cursor-paginated inventory list ({items, next_cursor}). */
async function allPages(path, params = {}, maxPages = 200) {
  const items = [];
  let cursor = null;
  for (let i = 0; i < maxPages; i++) {
    const page = await api(path, { params: { ...params, limit: 1000, cursor } });
    items.push(...page.items);
    cursor = page.next_cursor;
    if (!cursor) return items;
  }
  return items;
}

/** Every item of an offset-paginated analytics list ({items, total}). */
async function allOffset(path, params = {}, pageSize = 5000) {
  const items = [];
  for (let offset = 0; offset < 1_000_000; offset += pageSize) {
    const page = await api(path, { params: { ...params, limit: pageSize, offset } });
    items.push(...page.items);
    if (items.length >= page.total || page.items.length === 0) return { ...page, items };
  }
  return { items };
}

const SERVICE_OF = (path) => (path || "").split("/")[1] || "gateway";
const SERVICE_NAMES = { inventory: "inventory", analytics: "analytics", ml: "ML (forecasting and planning)" };

/** One clear sentence for an error; auth problems also go to the banner with a way to fix them. */
export function describe(err, what = "") {
  if (!(err instanceof ApiError)) return `Something went wrong${what ? ` while loading ${what}` : ""}: ${err.message || err}`;
  const service = SERVICE_NAMES[SERVICE_OF(err.path)] || "gateway";
  if (err.status === 0) return err.message;
  if (err.status === 401) {
    return err.code === "token_expired"
      ? "Your access token has expired. Issue a new one (inventory-system token --link) and enter it with the Token button."
      : state.token ? `The gateway refused your access token (${err.message}). Enter a valid one with the Token button.`
        : "This gateway needs an access token (JWT is on). Enter one with the Token button.";
  }
  if (err.status === 403) return `Not allowed: ${err.message}`;
  if (err.status === 429) return "Too many requests: the gateway's rate limit was reached. Wait a minute and try again.";
  if (err.status === 404 && err.code === "not_found" && /no service named/.test(err.message)) {
    return `The ${service} service is not registered with the gateway.`;
  }
  if (err.status === 503 || err.status === 502 || err.status === 504) {
    return `The ${service} service is not available right now (${err.message}).`;
  }
  return `${err.message}${what ? ` (${what})` : ""}`;
}

function errorBox(err, what) {
  if (err instanceof ApiError && err.status === 401) showBanner(describe(err, what), true);
  return h("div", { class: "error", role: "alert", "data-error": err.code || "error" }, describe(err, what));
}

function showBanner(text, withTokenButton = false) {
  const banner = $("#banner");
  banner.replaceChildren(text);
  if (withTokenButton) banner.append(h("button", { type: "button", onclick: openTokenDialog }, "Enter token"));
  banner.hidden = false;
}
function hideBanner() { $("#banner").hidden = true; }

// ---------------------------------------------------------------------------------------------
// Token: typed in, or handed over in the URL's fragment (#token=...), which browsers never send
function takeTokenFromFragment() {
  const match = window.location.hash.match(/^#token=([^&]+)(?:&next=(.*))?$/);
  if (!match) return;
  setToken(decodeURIComponent(match[1]));
  history.replaceState(null, "", `${window.location.pathname}#${match[2] ? decodeURIComponent(match[2]) : "/stock"}`);
}
function setToken(token) {
  state.token = token || null;
  if (state.token) sessionStorage.setItem(TOKEN_KEY, state.token); else sessionStorage.removeItem(TOKEN_KEY);
  state.stock = null;
  updateAuthState();
}
function tokenExpiry(token) {
  try {
    const payload = JSON.parse(atob(token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
    return payload.exp ? new Date(payload.exp * 1000) : null;
  } catch { return null; }
}
function updateAuthState() {
  const label = $("#auth-state");
  const button = $("#token-button");
  if (state.auth !== "jwt") { label.textContent = state.auth === "none" ? "open access" : ""; button.hidden = true; return; }
  button.hidden = false;
  if (!state.token) { label.textContent = "no token"; return; }
  const exp = tokenExpiry(state.token);
  label.textContent = exp ? (exp < new Date() ? "token expired" : `token until ${exp.toLocaleTimeString()}`) : "token set";
}
function openTokenDialog() {
  const dialog = $("#token-dialog");
  $("#token-input").value = state.token || "";
  if (!dialog.open) dialog.showModal();
  $("#token-input").focus();
}
function wireTokenDialog() {
  const dialog = $("#token-dialog");
  $("#token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const value = $("#token-input").value.trim().replace(/^Bearer\s+/i, "");
    if (!value) return;
    setToken(value);
    dialog.close();
    hideBanner();
    route();
  });
  $("#token-forget").addEventListener("click", () => { setToken(null); dialog.close(); route(); });
  $("#token-cancel").addEventListener("click", () => dialog.close());
  $("#token-button").addEventListener("click", openTokenDialog);
}

// ---------------------------------------------------------------------------------------------
// Router: #/view[/arg][?query]
const VIEWS = {};
function parseHash() {
  const raw = window.location.hash.replace(/^#\/?/, "") || "stock";
  const [pathPart, query = ""] = raw.split("?");
  const [name, ...rest] = pathPart.split("/");
  return { name, arg: rest.map(decodeURIComponent).join("/"), query: new URLSearchParams(query) };
}
export function go(hash) { window.location.hash = hash; }

/** Redraw the current view after a change, unless the user has moved on meanwhile. */
function refreshSoon(ms) {
  const shown = state.render;
  setTimeout(() => { if (shown === state.render) route(); }, ms);
}

async function route() {
  const { name, arg, query } = parseHash();
  const view = VIEWS[name] || VIEWS.stock;
  const navName = name === "sku" ? "stock" : name;
  for (const link of document.querySelectorAll("#nav a")) {
    if (link.dataset.view === navName) link.setAttribute("aria-current", "page"); else link.removeAttribute("aria-current");
  }
  const token = ++state.render;
  const main = $("#view");
  main.replaceChildren(h("p", { class: "muted" }, "Loading…"));
  main.dataset.view = name;
  main.dataset.state = "loading";
  if (state.auth === "jwt" && !state.token) {
    main.replaceChildren(h("h2", {}, "Access token needed"),
      h("div", { class: "error", role: "alert", "data-error": "token_missing" },
        "This gateway needs an access token (JWT is on). Issue one on the server with ",
        h("code", {}, "inventory-system token --link"), " and open its link, or enter a token with the Token button."));
    main.dataset.state = "ready";
    openTokenDialog();
    return;
  }
  try {
    const content = await view({ arg, query, alive: () => token === state.render });
    if (token !== state.render) return;
    main.replaceChildren(...[content].flat());
  } catch (err) {
    if (token !== state.render) return;
    main.replaceChildren(h("h2", {}, "Could not load this page"), errorBox(err, name));
  }
  main.dataset.state = "ready";
  main.dataset.readyMs = String(Math.round(performance.now()));  // since navigation start (bench/dashboard.py)
  const heading = main.querySelector("h2");
  if (heading && document.activeElement === document.body) heading.setAttribute("tabindex", "-1");
}

// ---------------------------------------------------------------------------------------------
// Stock: levels with search, filters and paging (all rows in memory once, one page in the DOM)
async function loadStock(force = false) {
  if (!force && state.stock && Date.now() - state.stockAt < STOCK_TTL) return state.stock;
  // Levels first (the inventory service answers from cached rows at once); names, classes and
  // reorder status from analytics follow and are merged in place (see enrichStock).
  const [levels, locations] = await Promise.all([allPages("/inventory/levels"), allPages("/inventory/locations")]);
  const rows = levels.map((level) => ({ ...level, name: "", reorder_point: null, below: false, movement: "", klass: "",
    search: level.sku.toLowerCase() }));
  const stock = { rows, locations, kpiError: null, classError: null };
  stock.extras = enrichStock(stock);
  state.stock = stock;
  state.stockAt = Date.now();
  return stock;
}

async function enrichStock(stock) {
  const [kpis, classes] = await Promise.all([
    allOffset("/analytics/kpis").catch((err) => ({ items: [], error: err })),
    allOffset("/analytics/classification").catch((err) => ({ items: [], error: err })),
  ]);
  const kpiBy = new Map(kpis.items.map((k) => [k.sku, k]));
  const classBy = new Map(classes.items.map((c) => [c.sku, c]));
  for (const row of stock.rows) {
    const k = kpiBy.get(row.sku) || {};
    const c = classBy.get(row.sku) || {};
    Object.assign(row, { name: k.name || c.name || "", reorder_point: k.reorder_point ?? null,
      below: Boolean(k.below_reorder_point), movement: k.movement_class || "", klass: c.class || "",
      search: `${row.sku} ${k.name || c.name || ""}`.toLowerCase() });
  }
  stock.kpiError = kpis.error || null;
  stock.classError = classes.error || null;
}

VIEWS.stock = async ({ query, alive }) => {
  const data = await loadStock();
  const filters = {
    q: query.get("q") || "", location: query.get("location") || "", klass: query.get("class") || "",
    below: query.get("below") === "1", dead: query.get("dead") === "1", page: 0,
  };
  const size = Math.min(500, Math.max(5, Number(query.get("size")) || PAGE_SIZE));
  const classes = ["AX", "AY", "AZ", "BX", "BY", "BZ", "CX", "CY", "CZ"];
  const tbody = h("tbody");
  const status = h("span", { id: "stock-count", "aria-live": "polite" });
  const prev = h("button", { type: "button", id: "stock-prev" }, "← Previous");
  const next = h("button", { type: "button", id: "stock-next" }, "Next →");

  const draw = () => {
    const q = filters.q.trim().toLowerCase();
    const rows = data.rows.filter((r) => (!q || r.search.includes(q))
      && (!filters.location || r.location === filters.location)
      && (!filters.klass || r.klass === filters.klass)
      && (!filters.below || r.below) && (!filters.dead || r.movement === "dead"));
    const pages = Math.max(1, Math.ceil(rows.length / size));
    filters.page = Math.min(filters.page, pages - 1);
    const start = filters.page * size;
    const shown = rows.slice(start, start + size);
    tbody.replaceChildren(...shown.map((r) => h("tr", { class: r.below ? "below" : "", dataset: { sku: r.sku, location: r.location } },
      h("td", {}, h("a", { href: `#/sku/${encodeURIComponent(r.sku)}` }, r.sku)),
      h("td", {}, r.name), h("td", {}, r.location),
      h("td", { class: "num", "data-field": "on_hand" }, fmt(r.on_hand)),
      h("td", { class: "num" }, fmt(r.available)), h("td", { class: "num" }, fmt(r.incoming)),
      h("td", { class: "num" }, fmt(r.reorder_point)), h("td", {}, r.klass || "–"),
      h("td", {}, r.below ? h("span", { class: "warn" }, "below reorder point") : (r.movement || "–")))));
    if (!shown.length) tbody.append(h("tr", {}, h("td", { colspan: 9, class: "muted" }, "No stock matches these filters.")));
    status.textContent = rows.length ? `${start + 1}-${start + shown.length} of ${fmt(rows.length)} rows` : "0 rows";
    prev.disabled = filters.page === 0;
    next.disabled = filters.page >= pages - 1;
  };
  const refilter = () => { filters.page = 0; draw(); };
  let timer = null;
  prev.addEventListener("click", () => { filters.page -= 1; draw(); });
  next.addEventListener("click", () => { filters.page += 1; draw(); });

  const search = h("input", { type: "search", id: "stock-search", value: filters.q, placeholder: "SKU or name",
    oninput: (e) => { filters.q = e.target.value; clearTimeout(timer); timer = setTimeout(refilter, 120); } });
  const location = h("select", { id: "stock-location", onchange: (e) => { filters.location = e.target.value; refilter(); } },
    h("option", { value: "" }, "All locations"),
    data.locations.map((l) => h("option", { value: l.code, selected: l.code === filters.location }, `${l.code} – ${l.name}`)));
  const klass = h("select", { id: "stock-class", onchange: (e) => { filters.klass = e.target.value; refilter(); } },
    h("option", { value: "" }, "All classes"), classes.map((c) => h("option", { value: c, selected: c === filters.klass }, c)));
  const below = h("input", { type: "checkbox", id: "stock-below", checked: filters.below,
    onchange: (e) => { filters.below = e.target.checked; refilter(); } });
  const dead = h("input", { type: "checkbox", id: "stock-dead", checked: filters.dead,
    onchange: (e) => { filters.dead = e.target.checked; refilter(); } });
  draw();
  const warnings = h("div", {});
  const tableEl = h("table", { id: "stock-table" },
    h("caption", { class: "sr-only" }, "Stock levels per SKU and location"),
    h("thead", {}, h("tr", {}, ["SKU", "Name", "Location"].map((t) => h("th", { scope: "col" }, t)),
      ["On hand", "Available", "Incoming", "Reorder point"].map((t) => h("th", { scope: "col", class: "num" }, t)),
      h("th", { scope: "col" }, "Class"), h("th", { scope: "col" }, "Status"))),
    tbody);
  data.extras.then(() => {
    if (!alive()) return;
    draw();
    warnings.replaceChildren(...[data.kpiError, data.classError].filter(Boolean)
      .map((e) => errorBox(e, "names, classes and reorder points")));
    tableEl.dataset.enriched = "1";
    tableEl.dataset.enrichedMs = String(Math.round(performance.now()));
  });
  return [
    h("h2", {}, "Stock"),
    warnings,
    h("div", { class: "filters", role: "search" },
      h("label", { for: "stock-search" }, "Search", search),
      h("label", { for: "stock-location" }, "Location", location),
      h("label", { for: "stock-class" }, "ABC-XYZ class", klass),
      h("label", { class: "check" }, below, "Below reorder point"),
      h("label", { class: "check" }, dead, "Dead stock"),
      h("button", { type: "button", onclick: async () => { await loadStock(true); route(); } }, "Refresh")),
    h("div", { class: "table-wrap" }, tableEl),
    h("div", { class: "pager" }, prev, next, status),
  ];
};

// ---------------------------------------------------------------------------------------------
// Charts (SVG). Each plotted series is kept as JSON in data-series on its path.
function scaleLinear([d0, d1], [r0, r1]) {
  const span = d1 - d0 || 1;
  return (v) => r0 + ((v - d0) / span) * (r1 - r0);
}
function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  return [1, 2, 2.5, 5, 10].map((m) => m * p).find((m) => m >= v);
}
function pathOf(points, x, y) {
  return points.map(([d, v], i) => `${i ? "L" : "M"}${x(d).toFixed(1)},${y(v).toFixed(1)}`).join("");
}

/** A time chart: series [{cls, label, points: [[isoDate, value]], band?: [[isoDate, lo, hi]]}], lines [{cls, label, value}]. */
export function timeChart({ id, title, series, lines = [], marks = [], width = 760, height = 260 }) {
  const pad = { l: 56, r: 12, t: 12, b: 28 };
  const dates = series.flatMap((s) => (s.points || s.band || []).map((p) => Date.parse(p[0])));
  const values = [
    ...series.flatMap((s) => (s.points || []).map((p) => p[1])),
    ...series.flatMap((s) => (s.band || []).map((p) => p[2])),
    ...lines.map((l) => l.value).filter((v) => v !== null && v !== undefined),
  ];
  const minValue = Math.min(0, ...values);
  const x = scaleLinear([Math.min(...dates), Math.max(...dates)], [pad.l, width - pad.r]);
  const y = scaleLinear([minValue, niceMax(Math.max(1, ...values))], [height - pad.b, pad.t]);
  const xd = (d) => x(Date.parse(d));
  const top = niceMax(Math.max(1, ...values));
  const svg = h("svg:svg", { id, class: "chart", viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": title });
  svg.append(h("svg:title", {}, title));
  for (let i = 0; i <= 4; i++) {
    const v = minValue + ((top - minValue) * i) / 4;
    svg.append(h("svg:line", { class: "grid", x1: pad.l, x2: width - pad.r, y1: y(v), y2: y(v) }),
      h("svg:text", { x: pad.l - 6, y: y(v) + 4, "text-anchor": "end" }, fmt(v, 1)));
  }
  svg.append(h("svg:line", { class: "axis", x1: pad.l, x2: width - pad.r, y1: y(minValue), y2: y(minValue) }));
  const d0 = Math.min(...dates), d1 = Math.max(...dates);
  for (let i = 0; i <= 4; i++) {
    const t = d0 + ((d1 - d0) * i) / 4;
    svg.append(h("svg:text", { x: x(t), y: height - 8, "text-anchor": i === 0 ? "start" : i === 4 ? "end" : "middle" },
      isoDay(new Date(t))));
  }
  for (const s of series) {
    if (s.band && s.band.length) {
      const upper = s.band.map(([d, , hi]) => `${xd(d).toFixed(1)},${y(hi).toFixed(1)}`);
      const lower = s.band.slice().reverse().map(([d, lo]) => `${xd(d).toFixed(1)},${y(lo).toFixed(1)}`);
      svg.append(h("svg:path", { class: s.cls, d: `M${upper.join("L")}L${lower.join("L")}Z`,
        "data-series": JSON.stringify(s.band), "data-name": s.name }));
    }
    if (s.points && s.points.length) {
      svg.append(h("svg:path", { class: s.cls, d: pathOf(s.points.map(([d, v]) => [Date.parse(d), v]), x, y),
        "data-series": JSON.stringify(s.points), "data-name": s.name }));
    }
  }
  for (const l of lines) {
    if (l.value === null || l.value === undefined) continue;
    svg.append(h("svg:line", { class: l.cls, x1: pad.l, x2: width - pad.r, y1: y(l.value), y2: y(l.value),
      "data-name": l.name, "data-value": l.value }));
  }
  for (const m of marks) svg.append(h("svg:line", { class: m.cls, x1: xd(m.date), x2: xd(m.date), y1: pad.t, y2: height - pad.b }));
  return svg;
}

function legend(items) {
  return h("div", { class: "legend" }, items.map(([cls, label]) => h("span", {}, h("i", { class: `l-${cls}` }), label)));
}

// ---------------------------------------------------------------------------------------------
// SKU page: demand history + forecast + q90, projected stock against reorder point and order-up-to,
// recent movements, recent forecast accuracy
function latestPlan() {
  try { return JSON.parse(sessionStorage.getItem(PLAN_KEY) || "null"); } catch { return null; }
}

VIEWS.sku = async ({ arg: code, alive }) => {
  if (!code) return [h("h2", {}, "SKU"), h("p", {}, "Pick a SKU on the Stock page.")];
  const since = isoDay(new Date(Date.now() - 120 * 864e5));
  const [sku, levels, history, movements, orders] = await Promise.all([
    api(`/inventory/skus/${encodeURIComponent(code)}`),
    api("/inventory/levels", { params: { sku: code } }),
    api("/inventory/demand-history", { params: { sku: code, freq: "W" } }),
    allPages("/inventory/movements", { sku: code, since }, 10),
    api("/inventory/purchase-orders", { params: { sku: code, status: "approved,sent,partially_received" } }),
  ]);
  const onHand = levels.items.reduce((a, l) => a + l.on_hand, 0);
  const incoming = levels.items.reduce((a, l) => a + l.incoming, 0);
  const weeks = history.items.slice(-52).map((r) => [r.date, r.quantity]);
  const plan = latestPlan();
  const planned = plan && plan.rows ? plan.rows[code] : null;
  const rop = planned ? planned.reorder_point : sku.reorder_point;
  const out = planned ? planned.order_up_to : (sku.order_up_to ?? sku.max_qty);
  const source = planned ? `the plan of ${plan.at}` : "the SKU record";

  const demandBox = h("div", { id: "demand-chart-box" }, h("p", { class: "muted" }, "Forecasting…"));
  const stockBox = h("div", { id: "stock-chart-box" }, h("p", { class: "muted" }, "Waiting for the forecast…"));
  const accuracyBox = h("div", { id: "accuracy-box" }, h("p", { class: "muted" }, "Back-testing the last weeks…"));
  const dataTable = h("details", {}, h("summary", {}, "Chart data (table)"));

  const drawDemand = (forecast) => {
    const fc = forecast.map((r) => [r.date, r.forecast]);
    const band = forecast.map((r) => [r.date, r.forecast, r.q90 ?? r.forecast]);
    demandBox.replaceChildren(
      timeChart({ id: "demand-chart", title: `Weekly demand of ${code}: history, forecast and q90`,
        series: [{ cls: "band", name: "q90", band }, { cls: "history", name: "history", points: weeks },
          { cls: "forecast", name: "forecast", points: fc }],
        marks: [{ cls: "today", date: isoDay(new Date()) }] }),
      legend([["history", "weekly demand (units)"], ["forecast", "forecast"], ["band", "up to q90"]]));
    const rows = [...weeks.map(([d, q]) => [d, q, null, null]), ...forecast.map((r) => [r.date, null, r.forecast, r.q90])];
    dataTable.append(h("div", { class: "table-wrap" }, h("table", { id: "demand-data" },
      h("thead", {}, h("tr", {}, h("th", {}, "Week ending"), ["Demand", "Forecast", "q90"].map((t) => h("th", { class: "num" }, t)))),
      h("tbody", {}, rows.map(([d, q, f, q90]) => h("tr", {}, h("td", {}, d), h("td", { class: "num" }, q ?? ""),
        h("td", { class: "num" }, f === null ? "" : fmt(f, 1)), h("td", { class: "num" }, q90 === null ? "" : fmt(q90, 1))))))));
  };
  const drawStock = (forecast) => {
    // Projected on hand: today's on hand, minus the forecast week by week, plus open orders when they are due.
    const arrivals = new Map();
    for (const po of orders.items) {
      const line = po.lines.find((l) => l.sku === code);
      if (!line || !line.outstanding) continue;
      const due = forecast.find((r) => r.date >= (po.expected_at || "").slice(0, 10)) || forecast[forecast.length - 1];
      if (due) arrivals.set(due.date, (arrivals.get(due.date) || 0) + line.outstanding);
    }
    // Unmet demand is lost (the planner's model), so the projection stops at 0.
    const today = isoDay(new Date());
    let level = onHand;
    const points = [[today, level]];
    for (const r of forecast) {
      if (r.date <= today) continue;
      level = Math.max(0, level - r.forecast + (arrivals.get(r.date) || 0));
      points.push([r.date, Math.round(level * 10) / 10]);
    }
    stockBox.replaceChildren(
      timeChart({ id: "stock-chart", title: `Projected stock of ${code} against its reorder point and order-up-to level`,
        series: [{ cls: "stock", name: "projected", points }],
        lines: [{ cls: "rop", name: "reorder_point", value: rop }, { cls: "out", name: "order_up_to", value: out }],
        width: 1100, height: 260 }),
      legend([["stock", "projected on hand (forecast, open orders)"], ["rop", `reorder point ${fmt(rop)}`],
        ["out", `order-up-to ${fmt(out)}`]]),
      h("p", { class: "muted" }, `Reorder point and order-up-to level from ${source}.`));
  };
  api("/ml/forecast", { method: "POST", body: { sku: code, horizon: 12 } }).then((answer) => {
    if (!alive()) return;
    const forecast = answer.items.filter((r) => r.sku === code);
    drawDemand(forecast);
    drawStock(forecast);
  }).catch((err) => {
    if (!alive()) return;
    demandBox.replaceChildren(timeChart({ id: "demand-chart", title: `Weekly demand of ${code}`,
      series: [{ cls: "history", name: "history", points: weeks }] }), errorBox(err, "the forecast"));
    stockBox.replaceChildren(h("p", { class: "muted" }, "No projection without a forecast."));
  });
  api("/ml/backtest", { method: "POST", body: { sku: code, horizon: 4, windows: 3 } }).then((answer) => {
    if (!alive()) return;
    const m = (answer.metrics || []).find((r) => r.model === "ensemble") || (answer.metrics || [])[0];
    if (!m) { accuracyBox.replaceChildren(h("p", { class: "muted" }, "Not enough history to back-test.")); return; }
    accuracyBox.replaceChildren(h("dl", { class: "facts", id: "accuracy" },
      h("dt", {}, "WAPE"), h("dd", {}, pct(m.wape)), h("dt", {}, "Bias"), h("dd", {}, pct(m.bias)),
      h("dt", {}, "q90 coverage"), h("dd", {}, pct(m.q90_coverage, 0)), h("dt", {}, "MASE"), h("dd", {}, fmt(m.mase, 2))),
    h("p", { class: "muted" }, `Forecasts made ${answer.windows} times for the following ${answer.horizon} weeks`
      + `${answer.origins ? `, from ${answer.origins[0]} to ${answer.origins[answer.origins.length - 1]}` : ""}.`));
  }).catch((err) => { if (alive()) accuracyBox.replaceChildren(errorBox(err, "the forecast's accuracy")); });

  const recent = movements.slice(-25).reverse();
  return [
    h("p", {}, h("a", { href: "#/stock" }, "← Stock")),
    h("h2", { id: "sku-title" }, `${sku.code} · ${sku.name}`),
    h("div", { class: "grid" },
      kpi("On hand", fmt(onHand), levels.items.map((l) => `${l.location} ${fmt(l.on_hand)}`).join(", "), "sku-on-hand"),
      kpi("Incoming", fmt(incoming), `${orders.items.length} open order(s)`),
      kpi("Reorder point", fmt(rop), source), kpi("Order-up-to", fmt(out), source),
      kpi("Lead time", `${fmt(sku.lead_time_days)} d`, sku.supplier || "no supplier")),
    h("div", { class: "two" },
      h("section", { class: "card" }, h("h3", {}, "Weekly demand and forecast"), demandBox, dataTable),
      h("section", { class: "card" }, h("h3", {}, "Forecast accuracy, recent weeks"), accuracyBox)),
    h("section", { class: "card" }, h("h3", {}, "Projected stock"), stockBox),
    h("section", { class: "card" }, h("h3", {}, "Recent movements"),
      recent.length ? h("div", { class: "table-wrap" }, h("table", { id: "movements" },
        h("thead", {}, h("tr", {}, ["When", "Type", "Location"].map((t) => h("th", {}, t)),
          h("th", { class: "num" }, "Change"), h("th", { class: "num" }, "On hand after"), h("th", {}, "Reference"))),
        h("tbody", {}, recent.map((m) => h("tr", {}, h("td", {}, m.created_at.slice(0, 16).replace("T", " ")),
          h("td", {}, m.type), h("td", {}, m.location), h("td", { class: "num" }, fmt(m.quantity)),
          h("td", { class: "num" }, fmt(m.on_hand_after)), h("td", {}, m.reference || m.reason || ""))))))
        : h("p", { class: "muted" }, "No movements in the last 120 days.")),
  ];
};

function kpi(label, value, note, id) {
  return h("div", { class: "kpi", id }, h("div", { class: "label" }, label), h("div", { class: "value" }, value),
    note ? h("div", { class: "note" }, note) : null);
}

// ---------------------------------------------------------------------------------------------
// Replenishment: run the plan (background job), turn proposals into draft orders, approve/edit/reject drafts
async function runPlan(serviceLevel, progressEl, statusEl) {
  // apply: false: the planner turns proposals into drafts here, by hand (the API's default would write them too)
  const started = await api("/ml/plan", { method: "POST", body: { background: true, service_level: serviceLevel, apply: false } });
  let job = started;
  for (let i = 0; i < 900 && job.status === "running"; i++) {
    progressEl.max = job.progress?.total || 5;
    progressEl.value = job.progress?.done || 0;
    statusEl.textContent = `Planning: ${job.progress?.step || "starting"}…`;
    await new Promise((r) => setTimeout(r, 1000));
    job = await api(`/ml/plan/jobs/${encodeURIComponent(started.job_id)}`);
  }
  if (job.status !== "done") {
    throw new ApiError(503, job.error?.code || "plan_failed", job.error?.message || "the planning job did not finish", null, "/ml/plan");
  }
  progressEl.value = progressEl.max;
  const rows = {};
  for (const r of job.result.items || []) rows[r.sku] = { reorder_point: r.reorder_point, order_up_to: r.order_up_to };
  const plan = { id: job.job_id, at: new Date().toISOString().slice(0, 16).replace("T", " "), service_level: serviceLevel,
    skus: job.result.skus, proposals: job.result.proposals || [], rows };
  sessionStorage.setItem(PLAN_KEY, JSON.stringify(plan));
  return plan;
}

function planUnavailable(err) {
  return err instanceof ApiError && (err.status === 404 || err.status === 405) && /plan/.test(err.path || "");
}

VIEWS.replenishment = async () => {
  const [suppliers, locations, drafts] = await Promise.all([
    allPages("/inventory/suppliers"), allPages("/inventory/locations"),
    api("/inventory/purchase-orders", { params: { status: "draft", limit: 200 } }),
  ]);
  const planBox = h("div", { id: "plan-box" });
  const progress = h("progress", { id: "plan-progress", max: 5, value: 0, hidden: true });
  const statusEl = h("p", { id: "plan-status", class: "muted", "aria-live": "polite" });
  const level = h("input", { type: "number", id: "plan-service-level", min: 0.5, max: 0.999, step: 0.01, value: 0.95 });
  const runButton = h("button", { type: "button", class: "primary", id: "plan-run" }, "Run plan");
  runButton.addEventListener("click", async () => {
    runButton.disabled = true; progress.hidden = false; planBox.replaceChildren();
    try {
      const plan = await runPlan(Number(level.value), progress, statusEl);
      statusEl.textContent = `Planned ${fmt(plan.skus)} SKUs: ${plan.proposals.length} proposed order line(s).`;
      planBox.replaceChildren(proposalsView(plan, suppliers, locations));
    } catch (err) {
      statusEl.textContent = "";
      planBox.replaceChildren(planUnavailable(err)
        ? h("div", { class: "error", role: "alert", "data-error": "plan_unavailable" },
          "The planning service is not available: this ML service has no /plan route (it answered 404). "
          + "Draft orders below can still be approved, edited or rejected.")
        : errorBox(err, "the plan"));
    } finally { runButton.disabled = false; progress.hidden = true; }
  });
  const plan = latestPlan();
  if (plan) planBox.replaceChildren(proposalsView(plan, suppliers, locations));
  return [
    h("h2", {}, "Replenishment"),
    h("section", { class: "card" }, h("h3", {}, "Plan"),
      h("div", { class: "filters" }, h("label", { for: "plan-service-level" }, "Target fill rate", level), runButton),
      progress, statusEl, planBox),
    h("section", { class: "card" }, h("h3", {}, "Draft orders"), draftsView(drafts.items)),
  ];
};

function proposalsView(plan, suppliers, locations) {
  if (!plan.proposals.length) return h("p", { class: "muted" }, `The plan of ${plan.at} proposes no orders: every SKU is above its reorder point.`);
  const groups = new Map();
  for (const p of plan.proposals) {
    const key = p.supplier || "";
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(p);
  }
  return h("div", { id: "proposals" }, h("p", { class: "muted" }, `Proposals of the plan of ${plan.at} (target ${pct(plan.service_level, 0)}).`),
    [...groups.entries()].map(([supplier, lines]) => proposalGroup(plan, supplier, lines, suppliers, locations)));
}

function proposalGroup(plan, supplier, lines, suppliers, locations) {
  const kept = new Set(lines.map((l) => l.sku));
  const quantities = new Map(lines.map((l) => [l.sku, l.quantity]));
  const message = h("div", { "aria-live": "polite" });
  const supplierSelect = h("select", { "aria-label": "Supplier" },
    supplier ? h("option", { value: supplier }, supplier) : h("option", { value: "" }, "Choose a supplier…"),
    suppliers.filter((s) => s.code !== supplier).map((s) => h("option", { value: s.code }, `${s.code} – ${s.name}`)));
  const locationSelect = h("select", { "aria-label": "Deliver to" }, locations.map((l) => h("option", { value: l.code }, l.code)));
  const rows = lines.map((l) => {
    const qty = h("input", { type: "number", min: 1, step: 1, value: l.quantity, "aria-label": `Quantity of ${l.sku}`,
      onchange: (e) => quantities.set(l.sku, Number(e.target.value)) });
    const reject = h("button", { type: "button", class: "danger" }, "Reject");
    const tr = h("tr", { dataset: { sku: l.sku } }, h("td", {}, h("a", { href: `#/sku/${encodeURIComponent(l.sku)}` }, l.sku)),
      h("td", { class: "num" }, qty), h("td", { class: "num" }, fmt(l.position)), h("td", { class: "num" }, fmt(l.reorder_point)),
      h("td", { class: "reason" }, l.reason), h("td", {}, reject));
    reject.addEventListener("click", () => {
      const gone = kept.has(l.sku);
      if (gone) kept.delete(l.sku); else kept.add(l.sku);
      tr.style.opacity = gone ? 0.45 : 1; qty.disabled = gone; reject.textContent = gone ? "Undo" : "Reject";
    });
    return tr;
  });
  const create = h("button", { type: "button", class: "primary" }, "Create draft order");
  create.addEventListener("click", async () => {
    const chosen = supplierSelect.value;
    if (!chosen) { message.replaceChildren(h("div", { class: "error", role: "alert" }, "Choose a supplier for these lines first.")); supplierSelect.focus(); return; }
    const body = { supplier: chosen, location: locationSelect.value, plan_id: plan.id,
      lines: lines.filter((l) => kept.has(l.sku)).map((l) => ({ sku: l.sku, quantity: quantities.get(l.sku),
        reason: { text: l.reason, position: l.position, reorder_point: l.reorder_point, order_up_to: l.order_up_to,
          risk_period_demand: l.risk_period_demand, fill_rate_without_order: l.fill_rate_without_order } })) };
    if (!body.lines.length) { message.replaceChildren(h("div", { class: "error", role: "alert" }, "Every line was rejected.")); return; }
    create.disabled = true;
    try {
      const po = await api("/inventory/purchase-orders", { method: "POST", body });
      message.replaceChildren(h("div", { class: "notice" }, `Draft order #${po.id} created for ${po.supplier}.`));
      refreshSoon(600);
    } catch (err) { message.replaceChildren(errorBox(err, "creating the order")); create.disabled = false; }
  });
  return h("div", { class: "card proposal-group", dataset: { supplier } },
    h("h3", {}, supplier ? `Supplier ${supplier}` : "No supplier on record"),
    h("div", { class: "table-wrap" }, h("table", {},
      h("thead", {}, h("tr", {}, h("th", {}, "SKU"), ["Quantity", "Position", "Reorder point"].map((t) => h("th", { class: "num" }, t)),
        h("th", {}, "Reason"), h("th", {}, ""))), h("tbody", {}, rows))),
    h("div", { class: "actions" }, supplierSelect, locationSelect, create), message);
}

function draftsView(drafts) {
  if (!drafts.length) return h("p", { class: "muted", id: "drafts-empty" }, "No draft orders.");
  return h("div", { id: "drafts" }, drafts.map((po) => orderCard(po, "draft")));
}

function reasonText(reason) {
  if (!reason) return "";
  if (typeof reason === "string") return reason;
  return reason.text || Object.entries(reason).map(([k, v]) => `${k} ${typeof v === "number" ? fmt(v, 2) : v}`).join(", ");
}

function orderCard(po, mode, levels = new Map()) {
  const message = h("div", { "aria-live": "polite", class: "order-message" });
  const inputs = new Map();
  const rows = po.lines.map((l) => {
    const value = mode === "draft" ? l.quantity : l.outstanding;
    const input = h("input", { type: "number", min: mode === "draft" ? 1 : 0, max: mode === "draft" ? undefined : l.outstanding,
      step: 1, value, "aria-label": `${mode === "draft" ? "Quantity" : "Receive"} ${l.sku}`, disabled: mode !== "draft" && !l.outstanding });
    inputs.set(l.sku, input);
    const level = levels.get(`${l.sku}@${po.location}`);
    return h("tr", { dataset: { sku: l.sku } }, h("td", {}, h("a", { href: `#/sku/${encodeURIComponent(l.sku)}` }, l.sku)),
      mode === "draft" ? [h("td", { class: "num" }, input), h("td", { class: "reason" }, reasonText(l.reason))]
        : [h("td", { class: "num" }, fmt(l.quantity)), h("td", { class: "num" }, fmt(l.received)),
          h("td", { class: "num" }, fmt(l.outstanding)),
          h("td", { class: "num", "data-field": "on_hand" }, level ? fmt(level.on_hand) : "–"), h("td", { class: "num" }, input)]);
  });
  const act = async (button, label, call) => {
    button.disabled = true;
    try {
      await call();
      message.replaceChildren(h("div", { class: "notice" }, `Order #${po.id}: ${label}.`));
      state.stock = null;
      refreshSoon(400);
    } catch (err) { message.replaceChildren(errorBox(err, `order #${po.id}`)); button.disabled = false; }
  };
  const buttons = [];
  const button = (label, cls, call, done) => {
    const b = h("button", { type: "button", class: cls, "data-action": label.toLowerCase() }, label);
    b.addEventListener("click", () => act(b, done, call));
    buttons.push(b);
  };
  const base = `/inventory/purchase-orders/${po.id}`;
  if (mode === "draft") {
    button("Save quantities", "", () => api(base, { method: "PATCH",
      body: { lines: [...inputs].map(([sku, i]) => ({ sku, quantity: Number(i.value) })) } }), "quantities saved");
    button("Approve", "primary", async () => {
      const changed = po.lines.filter((l) => Number(inputs.get(l.sku).value) !== l.quantity);
      if (changed.length) await api(base, { method: "PATCH", body: { lines: [...inputs].map(([sku, i]) => ({ sku, quantity: Number(i.value) })) } });
      await api(`${base}/approve`, { method: "POST" });
    }, "approved (now an open order)");
    button("Reject", "danger", () => api(`${base}/cancel`, { method: "POST" }), "rejected (cancelled)");
  } else {
    if (po.status === "approved") button("Mark sent", "", () => api(`${base}/send`, { method: "POST" }), "sent");
    button("Receive", "primary", () => {
      const lines = [...inputs].map(([sku, i]) => ({ sku, quantity: Number(i.value) })).filter((l) => l.quantity > 0);
      if (!lines.length) throw new Error("enter a quantity to receive");
      return api(`${base}/receive`, { method: "POST", body: { lines } });
    }, "received");
    button("Cancel rest", "danger", () => api(`${base}/cancel`, { method: "POST" }), "cancelled");
  }
  const heads = mode === "draft" ? [h("th", { class: "num" }, "Quantity"), h("th", {}, "Reason")]
    : ["Ordered", "Received", "Outstanding", `On hand at ${po.location}`, "Receive now"].map((t) => h("th", { class: "num" }, t));
  return h("article", { class: "card order", id: `order-${po.id}`, dataset: { id: po.id, status: po.status } },
    h("h3", {}, `Order #${po.id} · ${po.supplier} → ${po.location} `, h("span", { class: `badge ${po.status}` }, po.status.replace("_", " "))),
    h("p", { class: "muted" }, `Value ${money(po.value)} · expected ${(po.expected_at || "").slice(0, 10) || "–"}`
      + `${po.plan_id ? ` · from plan ${po.plan_id.slice(0, 8)}` : ""}`),
    h("div", { class: "table-wrap" }, h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, "SKU"), heads)), h("tbody", {}, rows))),
    h("div", { class: "actions" }, buttons), message);
}

// ---------------------------------------------------------------------------------------------
// Orders: open orders and receiving (with the current on-hand of each line at its location)
VIEWS.orders = async ({ query }) => {
  const show = query.get("show") || "open";
  const statuses = show === "all" ? undefined : show === "closed" ? "received,cancelled" : "approved,sent,partially_received";
  const [orders, levels] = await Promise.all([
    api("/inventory/purchase-orders", { params: { status: statuses, limit: 200 } }),
    allPages("/inventory/levels"),
  ]);
  const levelBy = new Map(levels.map((l) => [`${l.sku}@${l.location}`, l]));
  const tabs = [["open", "Open"], ["closed", "Closed"], ["all", "All"]].map(([key, label]) =>
    h("a", { href: `#/orders?show=${key}`, "aria-current": key === show ? "page" : undefined, class: "badge" }, label));
  return [
    h("h2", {}, "Orders"),
    h("p", { class: "filters" }, tabs),
    orders.items.length ? h("div", { id: "orders" }, orders.items.map((po) =>
      orderCard(po, po.status === "draft" ? "draft" : "open", levelBy)))
      : h("p", { class: "muted", id: "orders-empty" }, show === "open" ? "No open orders. Approve a draft on the Replenishment page." : "No orders."),
  ];
};

// ---------------------------------------------------------------------------------------------
// What-if: change the service level, see the simulated fill rate and stock value move
async function unitCosts() {
  if (state.costs === undefined) {
    const skus = await allPages("/inventory/skus");
    const costs = Object.fromEntries(skus.filter((s) => s.unit_cost > 0).map((s) => [s.code, s.unit_cost]));
    state.costs = Object.keys(costs).length ? costs : null;
  }
  return state.costs;
}

VIEWS.whatif = async () => {
  const runs = JSON.parse(sessionStorage.getItem("inventory-system.whatif") || "[]");
  const level = h("input", { type: "range", id: "whatif-level", min: 0.8, max: 0.99, step: 0.01, value: 0.95, "aria-describedby": "whatif-value" });
  const shown = h("output", { id: "whatif-value", for: "whatif-level" }, "95 %");
  level.addEventListener("input", () => { shown.textContent = pct(Number(level.value), 0); });
  const button = h("button", { type: "button", class: "primary", id: "whatif-run" }, "Simulate");
  const status = h("p", { class: "muted", "aria-live": "polite" });
  const table = h("div", { id: "whatif-results" });
  const draw = () => {
    if (!runs.length) { table.replaceChildren(h("p", { class: "muted" }, "No simulation yet.")); return; }
    const maxValue = Math.max(...runs.map((r) => Math.max(r.ours.stock_value, r.textbook.stock_value)));
    table.replaceChildren(h("div", { class: "table-wrap" }, h("table", {},
      h("thead", {}, h("tr", {}, h("th", {}, "Target"), h("th", {}, "Policy"),
        ["Fill rate", "Stock value", "Orders", "Stockout periods"].map((t) => h("th", { class: "num" }, t)), h("th", {}, "Stock value"))),
      h("tbody", {}, runs.flatMap((r) => ["ours", "textbook"].map((p) => h("tr", { dataset: { level: r.level, policy: p } },
        h("td", {}, pct(r.level, 0)), h("td", {}, p === "ours" ? "ours" : "textbook (z)"),
        h("td", { class: "num", "data-field": "fill_rate" }, pct(r[p].fill_rate)),
        h("td", { class: "num", "data-field": "stock_value" }, fmt(r[p].stock_value)),
        h("td", { class: "num" }, fmt(r[p].orders)), h("td", { class: "num" }, fmt(r[p].stockout_periods)),
        h("td", { style: "min-width:8rem" }, h("div", { class: "bar", style: `width:${(100 * r[p].stock_value / maxValue).toFixed(1)}%` })))))))),
    h("p", { class: "muted" }, `Stock value ${runs[runs.length - 1].unit === "currency" ? "at unit cost (£)"
      : `in ${runs[runs.length - 1].unit}`}: the mean value on hand. Each run replays the last 12 weeks of the ledger's demand, re-planning every 4 weeks.`));
  };
  button.addEventListener("click", async () => {
    button.disabled = true; status.textContent = "Simulating (forecasts every SKU; this takes a while)…";
    try {
      const body = { service_level: Number(level.value), periods: 12, replan_every: 4 };
      const costs = await unitCosts();
      let answer;
      try {
        answer = await api("/ml/simulate", { method: "POST", body: costs ? { ...body, unit_cost: costs } : body });
      } catch (err) {  // a SKU without history in the cost mapping: simulate in units instead
        if (!(costs && err instanceof ApiError && err.status === 422)) throw err;
        answer = await api("/ml/simulate", { method: "POST", body });
      }
      runs.push({ level: Number(level.value), ours: answer.policies.ours, textbook: answer.policies.textbook, unit: answer.stock_value_unit });
      sessionStorage.setItem("inventory-system.whatif", JSON.stringify(runs.slice(-8)));
      status.textContent = `Simulated ${answer.periods} periods from ${answer.start}.`;
      draw();
    } catch (err) {
      status.textContent = "";
      table.prepend(err instanceof ApiError && err.status === 404
        ? h("div", { class: "error", role: "alert", "data-error": "plan_unavailable" }, "The planning service is not available: this ML service has no /simulate route (it answered 404).")
        : errorBox(err, "the simulation"));
    } finally { button.disabled = false; }
  });
  draw();
  return [h("h2", {}, "What-if: service level"),
    h("section", { class: "card" }, h("div", { class: "filters" },
      h("label", { for: "whatif-level" }, "Target fill rate", level), shown, button), status, table)];
};

// ---------------------------------------------------------------------------------------------
// KPIs and the ABC-XYZ matrix
VIEWS.kpis = async () => {
  const [m, classes] = await Promise.all([api("/analytics/metrics"), api("/analytics/classification", { params: { limit: 1 } })]);
  const runs = JSON.parse(sessionStorage.getItem("inventory-system.whatif") || "[]");
  const simulated = runs.length ? runs[runs.length - 1] : null;
  const fill = m.fill_rate ?? (simulated ? simulated.ours.fill_rate : null);
  const fillNote = m.fill_rate !== null ? "recorded" : simulated ? `simulated at target ${pct(simulated.level, 0)} (What-if)` : "not recorded by the ledger; run a What-if";
  const matrix = h("table", { class: "matrix", id: "abc-xyz" },
    h("thead", {}, h("tr", {}, h("th", {}, ""), ["X (steady)", "Y (variable)", "Z (erratic)"].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, ["A", "B", "C"].map((a) => h("tr", {}, h("th", { scope: "row" }, a),
      ["X", "Y", "Z"].map((x) => {
        const cell = classes.matrix[a][x];
        return h("td", { "data-class": a + x }, h("a", { href: `#/stock?class=${a}${x}` }, h("strong", {}, fmt(cell.sku_count)),
          h("div", { class: "v" }, money(cell.annual_consumption_value))));
      })))));
  return [
    h("h2", {}, "KPIs"),
    h("p", { class: "muted" }, `Over the ${m.window_days} days to ${m.as_of.slice(0, 10)}.`),
    h("div", { class: "grid", id: "kpis" },
      kpi("Stock value (cost)", money(m.stock_value_at_cost), `${fmt(m.units_on_hand)} units`, "kpi-stock-value"),
      kpi("Turnover (annual)", fmt(m.annual_inventory_turnover, 2), `${fmt(m.inventory_turnover, 2)} in the window`, "kpi-turnover"),
      kpi("Days of supply", fmt(m.days_of_supply, 1), "stock value / COGS per day", "kpi-days"),
      kpi("Stockouts", fmt(m.stockouts), `${fmt(m.below_reorder_point)} below reorder point`, "kpi-stockouts"),
      kpi("Fill rate", pct(fill), fillNote, "kpi-fill"),
      kpi("Dead stock", money(m.dead_stock.value), `${fmt(m.dead_stock.sku_count)} SKUs`, "kpi-dead")),
    h("section", { class: "card" }, h("h3", {}, "ABC-XYZ matrix"),
      h("p", { class: "muted" }, "SKUs and annual consumption value per class; pick a cell to see its stock."),
      h("div", { class: "table-wrap" }, matrix)),
  ];
};

// ---------------------------------------------------------------------------------------------
// Operations: service health, breakers, rate limits and their rejections, alerts
export function parseMetrics(text) {
  const out = [];
  for (const line of text.split("\n")) {
    const m = line.match(/^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)$/);
    if (!m) continue;
    const labels = {};
    for (const pair of (m[2] || "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[pair[1]] = pair[2];
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

async function fetchText(path) {
  const headers = state.token ? { authorization: `Bearer ${state.token}` } : {};
  let resp;
  try { resp = await fetch(path, { headers }); } catch { throw new ApiError(0, "unreachable", "The gateway does not answer: is the stack running?", null, path); }
  if (!resp.ok) throw new ApiError(resp.status, `http_${resp.status}`, resp.statusText, null, path);
  return resp.text();
}

VIEWS.ops = async () => {
  const settle = (p) => p.then((v) => ({ ok: true, v }), (e) => ({ ok: false, e }));
  const [health, services, limits, metrics, alerts, ...own] = await Promise.all([
    settle(api("/health")), settle(api("/services")), settle(api("/rate-limits")), settle(fetchText("/metrics")),
    settle(api("/analytics/reorder-alerts", { params: { limit: 10 } })),
    ...["inventory", "analytics", "ml"].map((s) => settle(api(`/${s}/health`))),
  ]);
  const problems = [];
  const serviceRows = ["inventory", "analytics", "ml"].map((name, i) => {
    const r = own[i];
    const st = r.ok ? r.v.status : "down";
    if (st !== "ok") problems.push(`${name} service is ${st}${r.ok ? "" : `: ${describe(r.e)}`}`);
    return h("tr", { dataset: { service: name } }, h("td", {}, name),
      h("td", { class: st === "ok" ? "ok" : st === "degraded" ? "warn" : "bad" }, st),
      h("td", {}, r.ok ? Object.entries(r.v.dependencies || {}).map(([k, d]) => `${k}: ${d.status ?? (typeof d === "object" ? "…" : d)}`).join(", ") : describe(r.e)));
  });
  const instances = services.ok ? Object.entries(services.v.services).flatMap(([svc, s]) => s.instances.map((i) => ({ svc, ...i }))) : [];
  for (const i of instances) {
    if (i.circuit_breaker !== "closed") problems.push(`breaker ${i.circuit_breaker} on ${i.name}`);
    if (!i.healthy) problems.push(`${i.name} failed its health check${i.last_health_error ? `: ${i.last_health_error}` : ""}`);
  }
  const samples = metrics.ok ? parseMetrics(metrics.v) : [];
  const rejected = samples.filter((s) => s.name === "gateway_rate_limited_total");
  const totalRejected = rejected.reduce((a, s) => a + s.value, 0);
  if (totalRejected) problems.push(`${fmt(totalRejected)} request(s) refused by rate limits`);
  if (health.ok && health.v.dependencies?.redis?.status === "down") problems.push("Redis is down (rate limits are local)");
  const requests = samples.filter((s) => s.name === "gateway_requests_total");
  const errors5xx = requests.filter((s) => s.labels.status?.startsWith("5")).reduce((a, s) => a + s.value, 0);
  if (errors5xx) problems.push(`${fmt(errors5xx)} request(s) answered 5xx`);
  const reorder = alerts.ok ? alerts.v : null;
  if (reorder && reorder.total) problems.push(`${reorder.total} SKU(s) at or below their reorder point`);
  const breakerRows = instances.map((i) => h("tr", {}, h("td", {}, i.svc), h("td", {}, i.name), h("td", {}, i.url),
    h("td", { class: i.healthy ? "ok" : "bad" }, i.healthy ? "yes" : "no"),
    h("td", {}, h("span", { class: `badge ${i.circuit_breaker}` }, i.circuit_breaker)),
    h("td", { class: "num" }, i.consecutive_failures)));
  const refused = (p) => rejected.filter((s) => s.labels.rule === p || (p === "(default)" && s.labels.rule === "default"))
    .reduce((a, s) => a + s.value, 0);
  const limitRows = !limits.ok ? [] : [...Object.entries(limits.v.rules), ["(default)", limits.v.default]].map(([p, l]) =>
    h("tr", {}, h("td", {}, p), h("td", { class: "num" }, fmt(l.requests_per_minute)),
      h("td", { class: "num" }, fmt(l.requests_per_hour)), h("td", { class: "num" }, fmt(l.burst_limit)),
      h("td", { class: "num" }, fmt(refused(p)))));
  const failures = [health, services, limits, metrics].filter((r) => !r.ok).map((r) => errorBox(r.e, "gateway status"));
  return [
    h("h2", {}, "Operations"),
    failures,
    h("section", { class: "card" }, h("h3", {}, "Alerts"),
      problems.length ? h("ul", { id: "alerts" }, problems.map((p) => h("li", {}, p))) : h("p", { class: "ok", id: "alerts" }, "No alerts.")),
    h("div", { class: "two" },
      h("section", { class: "card" }, h("h3", {}, "Services"),
        h("div", { class: "table-wrap" }, h("table", { id: "service-health" },
          h("thead", {}, h("tr", {}, h("th", {}, "Service"), h("th", {}, "Health"), h("th", {}, "Dependencies"))),
          h("tbody", {}, serviceRows)))),
      h("section", { class: "card" }, h("h3", {}, "Gateway"),
        h("dl", { class: "facts" }, h("dt", {}, "Status"), h("dd", {}, health.ok ? health.v.status : "unknown"),
          h("dt", {}, "Requests"), h("dd", {}, fmt(requests.reduce((a, s) => a + s.value, 0))),
          h("dt", {}, "Rate-limited"), h("dd", { id: "rate-limited" }, fmt(totalRejected)),
          h("dt", {}, "Limit backend"), h("dd", {}, limits.ok ? limits.v.backend : "–")))),
    h("section", { class: "card" }, h("h3", {}, "Instances and circuit breakers"),
      table("breakers", ["Service", "Instance", "URL", "Healthy", "Breaker", "Failures"], breakerRows)),
    h("section", { class: "card" }, h("h3", {}, "Rate limits"),
      table("limits", ["Pattern", "Per minute", "Per hour", "Burst", "Refused"], limitRows)),
  ];
};

function table(id, heads, rows) {
  return h("div", { class: "table-wrap" }, h("table", { id },
    h("thead", {}, h("tr", {}, heads.map((t) => h("th", {}, t)))), h("tbody", {}, rows)));
}

// ---------------------------------------------------------------------------------------------
async function start() {
  wireTokenDialog();
  takeTokenFromFragment();
  try {
    const status = await api("/");
    state.auth = status.auth;
  } catch (err) {
    state.auth = null;
    showBanner(describe(err, "the gateway's status"));
  }
  updateAuthState();
  window.addEventListener("hashchange", () => { takeTokenFromFragment(); route(); });
  await route();
  document.documentElement.dataset.ready = "1";
}

start();
