"""The ML service's learning routes: lead time from purchase orders, explanations, A/B tests, continuous learning.

* ``POST /learning/lead-time``: retrain ``lead_time_prediction`` on the purchase orders the inventory
  service has received in full, when there are ``ML_LEAD_TIME_MIN_ORDERS`` of them (``sync.ml.lead_time``).
* ``POST /explain``: a prediction with each feature's exact Shapley contribution (``sync.ml.explain``).
* ``POST /explain/forecast``: per SKU, the candidate blend the forecaster chose, why, and each candidate's forecast.
* ``GET /learning``: the continuous learner's state (``sync.ml.learning``); ``POST /learning/step`` (admin)
  polls the inventory outbox now instead of waiting for ``ML_LEARNING_INTERVAL``.
* ``/ab/{model_name}``: A/B tests of two saved versions (``sync.ml.ab``): ``POST .../start``, ``.../promote``,
  ``.../stop`` (admin), ``POST .../predict`` (keyed), ``POST .../actuals``, ``GET`` (figures and decision).

Included by ``sync.ml.service.create_app``; docs/ml.md describes each.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request
from pydantic import Field

from sync.errors import UpstreamUnavailable, ValidationFailed
from sync.ml import ab, schemas
from sync.ml.demand import demand_history
from sync.ml.deps import inventory_of, ml_of, settings_of
from sync.ml.explain import explain_forecast, explain_prediction
from sync.ml.lead_time import refresh_lead_time_model
from sync.ml.validation import feature_row
from sync.web import require_admin

router = APIRouter(tags=["learning"])
_ERROR = {"description": "The shared error body {\"error\": {\"code\", \"message\", \"details\"}}"}
#: error statuses each kind of route answers (documented, so clients and the fuzz suite know them)
BASE: dict[int | str, dict[str, Any]] = {400: _ERROR, 503: _ERROR}  # 400: a body that is not JSON
MODEL: dict[int | str, dict[str, Any]] = {400: _ERROR, 404: _ERROR, 409: _ERROR, 503: _ERROR}
ADMIN: dict[int | str, dict[str, Any]] = {401: _ERROR, 403: _ERROR}
#: routes that read the inventory service: 502 when it answers against its contract (sync.clients.inventory)
INVENTORY: dict[int | str, dict[str, Any]] = {502: _ERROR}


@router.post("/learning/lead-time", responses=BASE | INVENTORY,
             summary="Retrain the lead-time model on received purchase orders (when enough)")
def learn_lead_time(request: Request) -> dict[str, Any]:
    return refresh_lead_time_model(ml_of(request), inventory_of(request),
                                   min_orders=settings_of(request).ML_LEAD_TIME_MIN_ORDERS)


@router.post("/explain", responses=MODEL,
             summary="A prediction and how much each feature moved it (exact Shapley values)")
def explain(body: schemas.PredictRequest, request: Request) -> dict[str, Any]:
    ml = ml_of(request)
    fitted = ml.fitted(body.model_name)
    row = feature_row(body.features, fitted.metadata["feature_columns"], body.model_name)
    return {"model_name": body.model_name, "model_version": fitted.version_label} | explain_prediction(fitted, row)


@router.post("/explain/forecast", responses=BASE | INVENTORY,
             summary="Per SKU: the candidate blend behind the forecast, and why")
def explain_forecast_route(body: schemas.ForecastRequest, request: Request) -> dict[str, Any]:
    if body.history is not None:
        if body.sku is not None:
            raise ValidationFailed("sku: only with history omitted (it picks a SKU from the inventory)",
                                   details=[{"field": "sku", "problem": "not allowed with history"}])
        schemas.check_history_span(body.history, body.freq)
        history = schemas.history_frame(body.history)
    else:
        history = demand_history(inventory_of(request), sku=body.sku)
    return {"freq": body.freq, "horizon": body.horizon,
            "items": explain_forecast(history, body.horizon, body.freq, tuple(body.quantiles))}


def _learner(request: Request) -> Any:
    learner = ml_of(request).learner
    if learner is None:
        raise UpstreamUnavailable("continuous learning is not running in this service")
    return learner


@router.get("/learning", responses=BASE, summary="Continuous learning: live accuracy, drift, thresholds, retrains")
def learning_status(request: Request) -> dict[str, Any]:
    status: dict[str, Any] = _learner(request).status()
    return status


@router.post("/learning/step", dependencies=[Depends(require_admin)], responses=BASE | ADMIN | INVENTORY,
             summary="Poll the inventory outbox now: refresh history, score forecasts, retrain if needed")
def learning_step(request: Request) -> dict[str, Any]:
    step: dict[str, Any] = _learner(request).step()
    return step


class ABStart(schemas._Body):
    challenger_version: Annotated[int, Field(ge=1, strict=True)]
    share: Annotated[float, Field(gt=0, lt=1, allow_inf_nan=False)] = Field(
        0.1, description="Share of keys whose predictions the challenger serves.")
    min_samples: Annotated[int, Field(ge=10, le=1_000_000)] | None = Field(
        None, description="Actuals before a decision; default ML_AB_MIN_SAMPLES.")


class ABPredict(schemas._Body):
    key: Annotated[str, Field(min_length=1, max_length=200)] = Field(
        description="What the split is consistent for: a SKU code, a caller id.")
    features: dict[str, schemas.Number]


class ABActual(schemas._Body):
    prediction_id: Annotated[str, Field(min_length=1, max_length=64)]
    actual: schemas.Number


class ABActuals(schemas._Body):
    items: Annotated[list[ABActual], Field(min_length=1, max_length=10_000)]


class ABPromote(schemas._Body):
    force: bool = Field(False, description="Promote even without a 'promote' decision.")


Admin = [Depends(require_admin)]


@router.post("/ab/{model_name}/start", dependencies=Admin, status_code=201, responses=MODEL | ADMIN,
             summary="Start an A/B test: a saved challenger version takes a share of keyed predictions")
def ab_start(model_name: schemas.ModelName, body: ABStart, request: Request) -> dict[str, Any]:
    min_samples = body.min_samples or settings_of(request).ML_AB_MIN_SAMPLES
    return ab.start(ml_of(request), model_name, body.challenger_version, body.share, min_samples).summary()


@router.post("/ab/{model_name}/predict", responses=MODEL,
             summary="Predict for a key: the key's arm serves, both are kept")
def ab_predict(model_name: schemas.ModelName, body: ABPredict, request: Request) -> dict[str, Any]:
    test = ab.running(ml_of(request), model_name)
    row = feature_row(body.features, test.champion.metadata["feature_columns"], model_name)
    return test.predict(body.key, row)


@router.post("/ab/{model_name}/actuals", responses=MODEL,
             summary="Actual values for earlier A/B predictions (scores both versions)")
def ab_actuals(model_name: schemas.ModelName, body: ABActuals, request: Request) -> dict[str, Any]:
    test = ab.running(ml_of(request), model_name)
    scored = test.record_actuals([(item.prediction_id, float(item.actual)) for item in body.items])
    return {"accepted": scored} | test.summary()


@router.get("/ab/{model_name}", responses=MODEL,
            summary="An A/B test: both versions' errors and the promote/stop decision")
def ab_status(model_name: schemas.ModelName, request: Request) -> dict[str, Any]:
    return ab.running(ml_of(request), model_name).summary()


@router.post("/ab/{model_name}/promote", dependencies=Admin, responses=MODEL | ADMIN,
             summary="Serve the challenger from now on")
def ab_promote(model_name: schemas.ModelName, request: Request,
               body: Annotated[ABPromote | None, Body()] = None) -> dict[str, Any]:
    return ab.promote(ml_of(request), model_name, force=bool(body and body.force))


@router.post("/ab/{model_name}/stop", dependencies=Admin, responses=MODEL | ADMIN,
             summary="End the test; the champion stays served")
def ab_stop(model_name: schemas.ModelName, request: Request) -> dict[str, Any]:
    return ab.stop(ml_of(request), model_name)
