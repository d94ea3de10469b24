"""The ML service's learning routes: lead time from purchase orders, explanations, A/B tests, continuous learning.

* ``POST /learning/lead-time``: retrain ``lead_time_prediction`` on the purchase orders the inventory
  service has received in full, when there are ``ML_LEAD_TIME_MIN_ORDERS`` of them (``sync.ml.lead_time``).

Included by ``sync.ml.service.create_app``; docs/ml.md describes each.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from sync.errors import UpstreamUnavailable
from sync.ml.lead_time import refresh_lead_time_model
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
