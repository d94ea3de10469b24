"""The ML service's learning routes: lead time from purchase orders, explanations, A/B tests, continuous learning.

* ``POST /learning/lead-time``: retrain ``lead_time_prediction`` on the purchase orders the inventory
  service has received in full, when there are ``ML_LEAD_TIME_MIN_ORDERS`` of them (``sync.ml.lead_time``).
* ``POST /explain``: a prediction with each feature's exact Shapley contribution (``sync.ml.explain``).
* ``POST /explain/forecast``: per SKU, the candidate blend the forecaster chose, why, and each candidate's forecast.

Included by ``sync.ml.service.create_app``; docs/ml.md describes each.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from sync.errors import UpstreamUnavailable, ValidationFailed
from sync.ml import schemas
from sync.ml.explain import explain_forecast, explain_prediction
from sync.ml.inventory_client import demand_history
from sync.ml.lead_time import refresh_lead_time_model
from sync.ml.validation import feature_row
from sync.settings import Settings

router = APIRouter(tags=["learning"])


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _ml(request: Request) -> Any:
    ml = getattr(request.app.state, "ml", None)
    if ml is None:
        raise UpstreamUnavailable("the ML service is still starting")
    return ml


@router.post("/learning/lead-time", summary="Retrain the lead-time model on received purchase orders (when enough)")
def learn_lead_time(request: Request) -> dict[str, Any]:
    settings = _settings(request)
    return refresh_lead_time_model(_ml(request), settings.INVENTORY_URL, min_orders=settings.ML_LEAD_TIME_MIN_ORDERS,
                                   timeout=settings.GATEWAY_TIMEOUT)


@router.post("/explain", summary="A prediction and how much each feature moved it (exact Shapley values)")
def explain(body: schemas.PredictRequest, request: Request) -> dict[str, Any]:
    ml = _ml(request)
    fitted = ml._fitted(body.model_name)
    row = feature_row(body.features, fitted.metadata["feature_columns"], body.model_name)
    return {"model_name": body.model_name, "model_version": fitted.version_label} | explain_prediction(fitted, row)


@router.post("/explain/forecast", summary="Per SKU: the candidate blend behind the forecast, and why")
def explain_forecast_route(body: schemas.ForecastRequest, request: Request) -> dict[str, Any]:
    settings = _settings(request)
    if body.history is not None:
        if body.sku is not None:
            raise ValidationFailed("sku: only with history omitted (it picks a SKU from the inventory)",
                                   details=[{"field": "sku", "problem": "not allowed with history"}])
        history = schemas.history_frame(body.history)
    else:
        history = demand_history(settings.INVENTORY_URL, sku=body.sku, timeout=settings.GATEWAY_TIMEOUT)
    return {"freq": body.freq, "horizon": body.horizon,
            "items": explain_forecast(history, body.horizon, body.freq, tuple(body.quantiles))}
