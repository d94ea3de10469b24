"""Continuous learning: follow the inventory outbox, score past forecasts on arriving actuals, retrain.

A :class:`ContinuousLearner` polls ``GET {INVENTORY_URL}/events?after=`` every ``ML_LEARNING_INTERVAL``
seconds (a daemon thread; 0 turns it off). Each :meth:`~ContinuousLearner.step`:

1. reads the new events; ``po.received`` retrains ``lead_time_prediction`` from the orders when there are
   enough (``sync.ml.lead_time``); a movement, import or level event (or the first step) re-reads the weekly
   demand history (``GET /demand-history``), so the history the learner holds follows the ledger;
2. scores the forecasts it made earlier for weeks that are now complete (a week is complete once a later
   week is in the history, or its end is past): each SKU's ``demand_forecast`` prediction for that week,
   made from the 4 weeks before it, against the units shipped in it. Only forecasts of the version served
   now count, so a retrained model starts a fresh score;
3. retrains ``demand_forecast`` on rows derived from the held history when, over at least
   ``ML_RETRAIN_MIN_ACTUALS`` scored forecasts, accuracy (1 - WAPE) fell more than
   ``ML_RETRAIN_ACCURACY_DROP`` below the version's held-out accuracy, or the worst feature's (but the
   calendar features', ``NO_DRIFT_CHECK``) PSI between
   those forecasts' features and the training rows exceeds ``ML_RETRAIN_DRIFT_PSI``. ``train_model`` fits the
   new version aside and swaps it in with one assignment, so no request meets a half-trained model;
4. forecasts the week after the last complete one for every SKU, to be scored when it arrives.

Rows from the ledger (one per SKU and week with 4 weeks before it): ``demand`` = units shipped net of
returns, ``historical_demand`` = mean of the 4 weeks before, ``seasonality`` = sin(2π · ISO week / 52),
``trend`` = weeks since the history's first week, ``price`` = the SKU's catalogue price (the ledger keeps
no weekly price; 0 when unknown), ``promotions`` = 0 (the ledger records none).
"""

from __future__ import annotations

import logging
import math
import threading
from collections import deque
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from sync.clients.inventory import InventoryClient, UpstreamContractError
from sync.errors import SyncError, UpstreamUnavailable, ValidationFailed
from sync.ml.builtins import DEMAND_FEATURES
from sync.ml.demand import demand_history
from sync.ml.drift import psi
from sync.ml.lead_time import refresh_lead_time_model
from sync.ml.metrics import accuracy
from sync.ml.training import FittedModel
from sync.settings import Settings

log = logging.getLogger("sync.ml.learning")
MODEL = "demand_forecast"
DATA_TYPE = "demand"
HISTORY_WEEKS = 4
HISTORY_EVENTS = ("movement.created", "import.completed", "level.changed")
EVENT_PAGE = 1000
MAX_EVENT_PAGES = 1000
MAX_SCORED = 5000
#: calendar features: the forecasts of any few weeks lie past (trend) or in a narrow part (seasonality) of the
#: training rows' range by construction, so their PSI would call for a retrain every week
NO_DRIFT_CHECK = ("trend", "seasonality")


def _week_features(quantity: np.ndarray, t: int, week: pd.Timestamp, price: float) -> list[float]:
    """Features of week index ``t`` of one SKU's series (the 4 weeks before it must exist)."""
    return [float(quantity[t - HISTORY_WEEKS:t].mean()), math.sin(2 * math.pi * week.isocalendar().week / 52),
            float(t), price, 0.0]


class ContinuousLearner:
    """Follows the inventory service and keeps ``demand_forecast`` (and the lead-time model) current."""

    def __init__(self, ml: Any, settings: Settings, inventory: InventoryClient | None = None) -> None:
        """``inventory``: the service's client (default: one of this learner's own, at ``INVENTORY_URL``)."""
        self.ml = ml
        self.settings = settings
        self._own_inventory = inventory is None
        self.inventory = inventory or InventoryClient.from_settings(settings)
        self.after = 0
        self.history: pd.DataFrame | None = None  # wide: SKUs x weeks
        self.prices: dict[str, float] = {}
        self.pending: dict[tuple[str, pd.Timestamp], tuple[float, str, list[float]]] = {}
        self.scored: deque[tuple[float, float, list[float]]] = deque(maxlen=MAX_SCORED)
        self.scored_uid: str | None = None
        self.retrains: list[dict[str, Any]] = []
        self.last_step: dict[str, Any] | None = None
        self.errors = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- the loop ------------------------------------------------------------------------
    def start(self) -> None:
        if self.settings.ML_LEARNING_INTERVAL <= 0 or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="ml-continuous-learning", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._own_inventory:
            self.inventory.close()

    def _run(self) -> None:
        while not self._stop.wait(self.settings.ML_LEARNING_INTERVAL):
            try:
                self.step()
            except SyncError as exc:
                self.errors += 1
                log.warning("continuous learning step failed: %s", exc.message)
            except Exception:  # a background thread has no handler above it: log, keep following
                self.errors += 1
                log.exception("continuous learning step failed")

    # --- one step --------------------------------------------------------------------------
    def step(self) -> dict[str, Any]:
        """Poll the outbox once and act on it (see the module docstring); returns what it did."""
        with self._lock:
            types = self._poll_events()
            out: dict[str, Any] = {"at": datetime.now(UTC).isoformat(), "events": sum(types.values()),
                                   "scored": 0, "retrained": None, "lead_time": None}
            if types.get("po.received"):
                try:
                    out["lead_time"] = refresh_lead_time_model(
                        self.ml, self.inventory, min_orders=self.settings.ML_LEAD_TIME_MIN_ORDERS)
                except SyncError as exc:
                    out["lead_time"] = {"error": exc.message}
            if self.history is None or any(types.get(t) for t in HISTORY_EVENTS):
                self._read_history()
                if self.history is not None:
                    out["scored"] = self._score()
                    out["retrained"] = self._maybe_retrain()
                    self._forecast_next()
            self.last_step = out
            return out

    def _poll_events(self) -> dict[str, int]:
        types: dict[str, int] = {}
        for _ in range(MAX_EVENT_PAGES):
            items, after = self.inventory.events(after=self.after, limit=EVENT_PAGE)
            for item in items:
                types[str(item.get("type"))] = types.get(str(item.get("type")), 0) + 1
            self.after = after
            if len(items) < EVENT_PAGE:
                break
        return types

    def _read_history(self) -> None:
        try:
            frame = demand_history(self.inventory)
        except ValidationFailed:  # no demand history yet: nothing to score or learn from
            self.history = None
            return
        wide = frame.pivot_table(index="sku", columns="date", values="quantity", aggfunc="sum", fill_value=0.0)
        self.history = wide.sort_index(axis=1)
        try:
            skus = self.inventory.skus()
            self.prices = {str(s["code"]): float(s.get("price") or 0.0) for s in skus}
        except (UpstreamUnavailable, UpstreamContractError):
            pass  # keep the prices read before

    def _complete_weeks(self) -> list[pd.Timestamp]:
        assert self.history is not None
        weeks = list(self.history.columns)
        if weeks and pd.Timestamp(weeks[-1]).tz_localize(None) >= pd.Timestamp(datetime.now(UTC).date()):
            weeks = weeks[:-1]  # the current week is still open
        return weeks

    # --- scoring, retraining, forecasting --------------------------------------------------
    def _fitted(self) -> FittedModel | None:
        served: FittedModel | None = self.ml.served(MODEL)
        return served

    def _score(self) -> int:
        fitted = self._fitted()
        if fitted is None or self.history is None:
            return 0
        if self.scored_uid != fitted.uid:  # a new version (retrained, rolled back): start a fresh score
            self.scored.clear()
            self.scored_uid = fitted.uid
        complete = set(self._complete_weeks())
        done = 0
        for (sku, week), (predicted, uid, row) in list(self.pending.items()):
            if week not in complete:
                continue
            del self.pending[(sku, week)]
            if uid != fitted.uid:
                continue
            actual = float(self.history.at[sku, week]) if sku in self.history.index else 0.0
            self.scored.append((max(actual, 0.0), predicted, row))
            done += 1
        return done

    def live(self) -> dict[str, Any]:
        """Accuracy and drift of the served version on the forecasts scored so far."""
        fitted = self._fitted()
        scored = list(self.scored)  # one C-level copy: safe while a step appends in another thread
        n = len(scored)
        out: dict[str, Any] = {"scored": n, "min_actuals": self.settings.ML_RETRAIN_MIN_ACTUALS,
                               "held_out_accuracy": accuracy(fitted.metadata["metrics"]) if fitted else None,
                               "live_accuracy": None, "max_psi": None}
        if not n or fitted is None:
            return out
        actual = np.array([s[0] for s in scored])
        predicted = np.array([s[1] for s in scored])
        total = float(np.abs(actual).sum())
        out["live_accuracy"] = max(0.0, 1.0 - float(np.abs(actual - predicted).sum()) / total) if total else None
        profile = fitted.metadata.get("feature_profile") or {}
        rows = np.array([s[2] for s in scored], dtype=np.float64)
        values = [psi(profile[c], rows[:, i]) for i, c in enumerate(DEMAND_FEATURES)
                  if c in profile and c not in NO_DRIFT_CHECK]
        out["max_psi"] = max(values) if values and n >= 30 else None  # PSI needs enough rows (drift.py)
        return out

    def _maybe_retrain(self) -> dict[str, Any] | None:
        live = self.live()
        if live["scored"] < self.settings.ML_RETRAIN_MIN_ACTUALS:
            return None
        reasons = []
        held, now = live["held_out_accuracy"], live["live_accuracy"]
        if held is not None and now is not None and now < held - self.settings.ML_RETRAIN_ACCURACY_DROP:
            reasons.append(f"accuracy {now:.3f} on {live['scored']} actuals is more than "
                           f"{self.settings.ML_RETRAIN_ACCURACY_DROP} below the held-out {held:.3f}")
        if live["max_psi"] is not None and live["max_psi"] > self.settings.ML_RETRAIN_DRIFT_PSI:
            reasons.append(f"drift: PSI {live['max_psi']:.3f} > {self.settings.ML_RETRAIN_DRIFT_PSI}")
        if not reasons:
            return None
        return self.retrain("; ".join(reasons), live)

    def training_rows(self) -> pd.DataFrame:
        """The demand model's rows from the held history (complete weeks only)."""
        assert self.history is not None
        weeks = self._complete_weeks()
        rows = []
        for sku in self.history.index:
            quantity = self.history.loc[sku, weeks].to_numpy(dtype=np.float64).clip(min=0.0)
            price = self.prices.get(str(sku), 0.0)
            for t in range(HISTORY_WEEKS, len(weeks)):
                rows.append([*_week_features(quantity, t, pd.Timestamp(weeks[t]), price), quantity[t]])
        return pd.DataFrame(rows, columns=[*DEMAND_FEATURES, "demand"])

    def retrain(self, reason: str, live: dict[str, Any] | None = None) -> dict[str, Any]:
        """Train a new ``demand_forecast`` on the held history and serve it (the old one until it is done)."""
        if self.history is None:
            self._read_history()
        rows = self.training_rows()
        before = self._fitted()
        weeks = self._complete_weeks()
        source = f"inventory demand history ({len(rows)} rows, through {pd.Timestamp(weeks[-1]).date()})" \
            if weeks else "inventory demand history"
        previous = self.ml.training_data.get(DATA_TYPE)
        self.ml.training_data[DATA_TYPE] = rows
        try:
            self.ml.train_model(MODEL, DATA_TYPE, source=source)
        except BaseException:
            if previous is None:
                self.ml.training_data.pop(DATA_TYPE, None)
            else:
                self.ml.training_data[DATA_TYPE] = previous
            raise
        after: FittedModel = self.ml.fitted(MODEL)
        record = {"at": datetime.now(UTC).isoformat(), "model_name": MODEL, "reason": reason,
                  "from_version": before.version_label if before else None, "to_version": after.version_label,
                  "rows": len(rows), "live": live, "held_out_accuracy": accuracy(after.metadata["metrics"])}
        self.retrains.append(record)
        del self.retrains[:-50]
        self.scored.clear()
        self.scored_uid = after.uid
        log.warning("retrained %s %s -> %s: %s", MODEL, record["from_version"], record["to_version"], reason)
        self._forecast_next()
        return record

    def _forecast_next(self) -> None:
        fitted = self._fitted()
        if fitted is None or self.history is None:
            return
        weeks = self._complete_weeks()
        if len(weeks) < HISTORY_WEEKS:
            return
        following = pd.Timestamp(weeks[-1]) + pd.Timedelta(weeks=1)
        skus = list(self.history.index)
        rows = []
        for sku in skus:
            quantity = self.history.loc[sku, weeks].to_numpy(dtype=np.float64).clip(min=0.0)
            rows.append(_week_features(np.append(quantity, 0.0), len(weeks), following,
                                       self.prices.get(str(sku), 0.0)))
        predicted = fitted.predict_matrix(np.array(rows, dtype=np.float64))
        for sku, value, row in zip(skus, predicted, rows, strict=True):
            known = self.pending.get((str(sku), following))
            if known is None or known[1] != fitted.uid:  # a forecast stands once made by the served version
                self.pending[(str(sku), following)] = (float(value), fitted.uid, row)

    def status(self) -> dict[str, Any]:
        """What the report shows: settings, live accuracy and drift, retrains, the last step."""
        s = self.settings
        return {"enabled": s.ML_LEARNING_INTERVAL > 0, "interval_s": s.ML_LEARNING_INTERVAL,
                "thresholds": {"accuracy_drop": s.ML_RETRAIN_ACCURACY_DROP, "drift_psi": s.ML_RETRAIN_DRIFT_PSI,
                               "min_actuals": s.ML_RETRAIN_MIN_ACTUALS},
                "events_after": self.after, "pending_forecasts": len(self.pending), "live": self.live(),
                "retrains": list(self.retrains), "last_step": self.last_step, "failed_steps": self.errors}
