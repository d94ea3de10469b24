"""The ML service's replenishment routes: ``POST /simulate`` (what-if) and ``POST /plan``.

``/simulate`` replays our policy and the textbook rule over a stretch of history (the request's, or
the inventory service's ``/demand-history``). ``/plan`` reads demand history, SKU parameters
(``/skus``: unit cost, supplier, lead time) and stock levels (``/levels``: on hand + incoming) from the
inventory service, plans every SKU and answers the plan with the purchase-order lines it proposes;
with ``background`` it answers 202 and a job id at once (``GET /plan/jobs/{job_id}``: progress, then
the answer), for large catalogues.
Included by ``sync.ml.service.create_app``; the library is ``sync.ml.replenishment``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path as FilePath
from typing import Annotated, Any

import pandas as pd
from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse
from pydantic import Field

from sync.clients.inventory import InventoryClient
from sync.errors import Conflict, NotFound, SyncError, error_body
from sync.ml import schemas
from sync.ml.demand import demand_history
from sync.ml.deps import inventory_of, settings_of
from sync.ml.jsonable import json_object, jsonable
from sync.ml.replenishment import plan_replenishment, propose_orders, simulate_policy
from sync.ml.replenishment.apply import apply_plan
from sync.settings import Settings

router = APIRouter(tags=["replenishment"])
log = logging.getLogger("sync.ml")
MAX_JOBS = 20  # finished background plans kept for polling
_JOBS_LOCK = threading.Lock()

Level = Annotated[float, Field(gt=0, lt=1)]
#: money (a cost per order or per unit): finite, up to the inventory service's own cap on money
Money = Annotated[float, Field(ge=0, le=1e10, allow_inf_nan=False)]
#: a number of periods (lead time, its spread): finite, at most two years of weeks
Periods = Annotated[float, Field(ge=0, le=104, allow_inf_nan=False)]
SkuCode = Annotated[str, Field(min_length=1, max_length=64)]
MIN_OBSERVED = 3  # received orders before a supplier's observed lead time replaces the promised one


class _Policy(schemas._Body):
    service_level: Level | dict[SkuCode, Level] = Field(0.95, description="Target fill rate, or {sku: rate}.")
    class_service_levels: dict[Annotated[str, Field(min_length=1, max_length=2)], Level] | None = Field(
        None, description='Targets per ABC or ABC-XYZ class, e.g. {"A": 0.98, "B": 0.95, "C": 0.90}.')
    review_period: Annotated[int, Field(ge=1, le=52)] = 1
    ordering_cost: Money | dict[SkuCode, Money] | None = Field(None, description="Cost per order.")
    holding_cost_rate: Annotated[float, Field(gt=0, le=100, allow_inf_nan=False)] = Field(
        0.25, description="Per year, of the unit's value.")
    lead_time_sd: Periods | dict[SkuCode, Periods] | None = Field(None, description="Periods.")
    freq: str = "W-SUN"


class SimulateRequest(_Policy):
    history: schemas.History | None = Field(None, description="Omitted: read from the inventory service.")
    start: dt.date | None = Field(None, description="First simulated period (a date in it); default: the last "
                                                   "`periods` periods of the history.")
    periods: Annotated[int, Field(ge=1, le=260)] = 24
    replan_every: Annotated[int, Field(ge=1, le=52)] = 8
    lead_time: Annotated[int, Field(ge=0, le=104)] | dict[SkuCode, Annotated[int, Field(ge=0, le=104)]] = Field(
        2, description="Whole periods, or {sku: periods}.")
    unit_cost: Money | dict[SkuCode, Money] | None = Field(
        None, description="Default: the SKU's mean sale price when history has prices.")
    textbook_k: Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)] | None = Field(
        None, description="The textbook rule's k; default z(service level).")
    include_skus: bool = Field(False, description="Also answer the per-SKU outcomes.")


class PlanRequest(_Policy):
    background: bool = Field(False, description="Answer 202 with a job id at once; poll /plan/jobs/{job_id}.")
    plan_periods: Annotated[int, Field(ge=1, le=52)] = Field(
        1, description="Periods the plan stays in force; it protects every review in them.")
    lead_time: Periods | None = Field(
        None, description="Periods for every SKU; default: the supplier's observed lead time (3+ orders "
                          "received), else the SKU's lead_time_days, from the inventory service.")
    apply: bool = Field(True, description=(
        "Write the plan to the inventory service: reorder_point and order_up_to of SKUs whose policy is "
        "'planner', and the proposals as draft purchase orders per supplier and location (replacing the "
        "drafts of earlier plans). false: answer the plan only."))


def _jsonable(value: dict[str, Any]) -> dict[str, Any]:
    return json_object(value, dates=True)  # plan and simulation rows are per period: dates, not instants


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = jsonable(frame.to_dict("records"), dates=True)
    return rows






def _lead_time(sku: dict[str, Any], supplier: dict[str, Any] | None, days: float) -> tuple[float, float, str]:
    """Lead time and its spread in periods, and where they came from: the supplier's observed lead time
    over at least MIN_OBSERVED orders received in full, else the SKU's ``lead_time_days`` with the
    supplier's promised spread (``lead_time_sd_days``) when there is one."""
    observed = (supplier or {}).get("observed_lead_time") or {}
    if (observed.get("orders") or 0) >= MIN_OBSERVED and observed.get("mean_days") is not None:
        return (float(observed["mean_days"]) / days, float(observed.get("sd_days") or 0.0) / days,
                f"supplier {supplier['code']}: observed over {observed['orders']} orders")  # type: ignore[index]
    sd = float((supplier or {}).get("lead_time_sd_days") or 0.0) / days
    source = "sku lead_time_days" + (f" (spread: supplier {supplier['code']})" if supplier and sd > 0 else "")
    return float(sku.get("lead_time_days") or 0) / days, sd, source


def _period_days(freq: str) -> float:
    base = "".join(ch for ch in freq.split("-")[0] if ch.isalpha()).upper()
    return {"W": 7.0, "D": 1.0, "M": 365.25 / 12, "MS": 365.25 / 12, "ME": 365.25 / 12}.get(base, 7.0)


@router.post("/simulate", summary="What-if: replay our policy and the textbook rule over history",
             responses=schemas.errors(502))
def simulate(body: SimulateRequest, request: Request) -> dict[str, Any]:
    history = (schemas.history_frame(body.history) if body.history is not None
               else demand_history(inventory_of(request)))
    report = simulate_policy(
        history, start=body.start, periods=body.periods, replan_every=body.replan_every,
        service_level=body.service_level, lead_time=body.lead_time, review_period=body.review_period,
        unit_cost=body.unit_cost, ordering_cost=body.ordering_cost, holding_cost_rate=body.holding_cost_rate,
        freq=body.freq, lead_time_sd=body.lead_time_sd, class_service_levels=body.class_service_levels,
        textbook_k=body.textbook_k)
    out: dict[str, Any] = {
        "start": report.start, "periods": report.periods, "origins": report.origins,
        "stock_value_unit": "currency" if report.value_known else "units (no unit cost or price known)",
        "policies": {name: o.as_dict() for name, o in report.outcomes.items()},
    }
    if body.include_skus:
        out["skus"] = {name: _records(o.per_sku) for name, o in report.outcomes.items()}
    answer: dict[str, Any] = _jsonable(out)
    return answer


class Job:
    """A background ``/plan``: its progress through STEPS, then its answer or its error."""

    STEPS = ("demand history", "SKU records", "forecast and plan", "stock levels", "proposals",
             "levels and draft orders written")

    def __init__(self) -> None:
        self.id = uuid.uuid4().hex
        self.status = "running"
        self.step = 0
        self.result: dict[str, Any] | None = None
        self.error: dict[str, Any] | None = None

    def advance(self, step: int) -> None:
        self.step = step

    def view(self) -> dict[str, Any]:
        out: dict[str, Any] = {"job_id": self.id, "status": self.status, "progress": {
            "done": self.step, "total": len(self.STEPS),
            "step": self.STEPS[min(self.step, len(self.STEPS) - 1)] if self.status == "running" else None}}
        if self.result is not None:
            out["result"] = self.result
        if self.error is not None:
            out["error"] = self.error
        return out


def _make_plan(body: PlanRequest, inventory: InventoryClient, advance: Callable[[int], None]) -> dict[str, Any]:
    started = time.perf_counter()
    history = demand_history(inventory)
    advance(1)
    planned = set(history["sku"].astype(str))
    skus = {str(s["code"]): s for s in inventory.skus() if str(s["code"]) in planned}
    advance(2)
    days = _period_days(body.freq)
    suppliers_known = {str(s["code"]): s for s in inventory.suppliers()} if any(
        s.get("supplier") for s in skus.values()) else {}
    lead = {code: _lead_time(s, suppliers_known.get(str(s.get("supplier"))), days) for code, s in skus.items()}
    lead_time: Any = body.lead_time if body.lead_time is not None else {c: v[0] for c, v in lead.items()}
    lead_time_sd: Any = body.lead_time_sd
    if lead_time_sd is None and body.lead_time is None:
        lead_time_sd = {c: v[1] for c, v in lead.items() if v[1] > 0} or None
    unit_cost = {code: float(s.get("unit_cost") or 0) or float(s.get("price") or 0) for code, s in skus.items()}
    unit_cost = {code: value for code, value in unit_cost.items() if value > 0}
    ordering_cost: Any = body.ordering_cost
    if ordering_cost is None:
        ordering_cost = {c: float(s["ordering_cost"]) for c, s in skus.items() if s.get("ordering_cost")} or None
    result = plan_replenishment(
        history, service_level=body.service_level, lead_time=lead_time, review_period=body.review_period,
        unit_cost=unit_cost or None, ordering_cost=ordering_cost, holding_cost_rate=body.holding_cost_rate,
        freq=body.freq, lead_time_sd=lead_time_sd, class_service_levels=body.class_service_levels,
        plan_periods=body.plan_periods)
    sources = {c: v[2] for c, v in lead.items()}
    result["lead_time_source"] = ("request" if body.lead_time is not None
                                  else result["sku"].map(lambda c: sources.get(c, "default: 2 periods")))
    advance(3)
    positions: dict[str, float] = {}
    levels = inventory.levels()
    for level in levels:
        code = str(level["sku"])
        if code in planned:
            positions[code] = positions.get(code, 0.0) + float(level.get("on_hand") or 0) + float(
                level.get("incoming") or 0)
    advance(4)
    suppliers = {code: s.get("supplier") for code, s in skus.items()}
    proposals = propose_orders(result, positions, suppliers)
    result = result.assign(position=result["sku"].map(lambda c: positions.get(c, 0.0)))
    advance(5)
    plan_id = uuid.uuid4().hex[:12]
    items, proposed = _records(result), _records(proposals)
    applied = apply_plan(inventory, plan_id=plan_id, plan_rows=items, proposals=proposed, skus=skus,
                         levels=levels) if body.apply else None
    advance(6)
    plan: dict[str, Any] = _jsonable({
        "plan_id": plan_id, "planned_at": dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z"),
        "inputs": body.model_dump(mode="json", exclude={"background"}),
        "history_end": str(history["date"].max().date()) if len(history) else None,
        "freq": body.freq, "skus": len(result), "seconds": round(time.perf_counter() - started, 3),
        "applied": applied, "items": items, "proposals": proposed,
    })
    return plan


def _jobs(request: Request) -> dict[str, Job]:
    jobs: dict[str, Job] | None = getattr(request.app.state, "plan_jobs", None)
    if jobs is None:
        jobs = request.app.state.plan_jobs = {}
    return jobs


def _latest_path(settings: Settings) -> FilePath:
    return FilePath(settings.ML_MODEL_PATH) / "plans" / "latest.json"


def _remember(state: Any, settings: Settings, result: dict[str, Any]) -> None:
    """Keep the last plan (memory, and a file beside the models so a restart still shows it)."""
    state.latest_plan = result
    path = _latest_path(settings)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(result, separators=(",", ":")))
        os.replace(tmp, path)
    except OSError as exc:  # the plan itself succeeded; only its copy on disk is missing
        log.warning("could not save the latest plan to %s: %s", path, exc)


def _run_job(job: Job, body: PlanRequest, settings: Settings, inventory: InventoryClient, state: Any) -> None:
    try:
        job.result = _make_plan(body, inventory, job.advance)
        _remember(state, settings, job.result)
        job.status = "done"
    except SyncError as exc:
        job.error, job.status = exc.to_dict()["error"], "failed"
    except Exception:  # a background thread has no handler above it: record, never raise
        log.exception("background plan %s failed", job.id)
        job.error, job.status = error_body(500, "planning failed")["error"], "failed"


@router.post("/plan", summary="Plan every SKU from the inventory service's data and propose orders",
             responses={202: {"description": "With background: the job, to poll at /plan/jobs/{job_id}"},
                        409: {"description": "With background: another background plan is still running"},
                        **schemas.errors(502)})
def plan(body: PlanRequest, request: Request) -> Any:
    settings, inventory = settings_of(request), inventory_of(request)
    if not body.background:
        result = _make_plan(body, inventory, lambda step: None)
        _remember(request.app.state, settings, result)
        return result
    jobs = _jobs(request)
    with _JOBS_LOCK:
        running = [j.id for j in jobs.values() if j.status == "running"]
        if running:  # one forecast at a time: a second would only halve the speed of both
            raise Conflict("a background plan is already running; poll it or wait for it",
                           details={"job_id": running[0], "poll": f"/plan/jobs/{running[0]}"})
        for old in [j for j in jobs.values() if j.status != "running"][: max(len(jobs) - MAX_JOBS + 1, 0)]:
            jobs.pop(old.id, None)
        job = Job()
        jobs[job.id] = job
    threading.Thread(target=_run_job, args=(job, body, settings, inventory, request.app.state), name=f"plan-{job.id}",
                     daemon=True).start()
    return JSONResponse(job.view(), status_code=202)


@router.get("/plan/jobs/{job_id}", summary="A background plan: progress, then its answer")
def plan_job(job_id: Annotated[str, Path(max_length=64)], request: Request) -> dict[str, Any]:
    job = _jobs(request).get(job_id)
    if job is None:
        raise NotFound(f"no plan job {job_id!r}", details={"field": "job_id"})
    return job.view()


@router.get("/plan/latest", summary="The last plan: when, on what inputs, its rows, proposals and what it wrote",
            responses={404: {"description": "No plan has been made yet"}})
def plan_latest(request: Request) -> Any:
    latest = getattr(request.app.state, "latest_plan", None)
    if latest is None:
        path = _latest_path(settings_of(request))
        try:
            latest = request.app.state.latest_plan = json.loads(path.read_text())
        except (OSError, ValueError):
            raise NotFound("no plan has been made yet: POST /plan", details={"field": "plan"}) from None
    return JSONResponse(latest)
