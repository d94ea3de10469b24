"""The ML service (port 8006): the HTTP face of ``MLInventoryIntelligence``.

``create_app(settings)`` loads saved models on start and trains the built-ins on the bundled sample
when none is saved, so ``POST /predict`` answers from the first request. Routes: ``GET /health``,
``POST /train``, ``POST /predict``, ``POST /predict/batch``, ``POST /optimize``, ``GET /report``,
``POST /anomalies``, ``GET /models``, ``POST /models/{name}/rollback`` (admin), ``POST /forecast``,
``POST /backtest`` (both read weekly history from the inventory service when the request has none).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import numpy as np
import pandas as pd
from fastapi import Body, Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, StrictBool

from sync import __version__
from sync.errors import UpstreamUnavailable, ValidationFailed
from sync.ml import schemas
from sync.ml.intelligence import MLInventoryIntelligence
from sync.ml.inventory_client import demand_history
from sync.ml.metrics import instrument
from sync.ml.startup import prepare, save_training_data
from sync.settings import Settings
from sync.web import create_service_app, require_admin


async def _ml(request: Request) -> MLInventoryIntelligence:
    ml: MLInventoryIntelligence | None = getattr(request.app.state, "ml", None)
    if ml is None:
        raise UpstreamUnavailable("the ML service is still starting")
    return ml


ML = Annotated[MLInventoryIntelligence, Depends(_ml)]
SkuData = Annotated[dict[str, schemas.Number | None], Body(description="The seed's sku_data object.")]


def _jsonable(value: Any) -> Any:
    """Report and result values as plain JSON (numpy scalars, NaN and timestamps included)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value


def _frame(rows: list[dict[str, Any]], what: str) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    try:
        return frame.astype(float)
    except (TypeError, ValueError) as exc:
        raise ValidationFailed(f"{what}: every value must be a number or null") from exc


class DebugSwitch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: StrictBool


def switch_debug(ml: MLInventoryIntelligence, enabled: bool) -> None:
    """``ml.debug_mode`` in a running service; the ``sync.ml`` logger shows DEBUG lines while it is on."""
    ml.debug_mode = enabled
    logging.getLogger("sync.ml").setLevel(logging.DEBUG if enabled else logging.NOTSET)
    logging.getLogger("sync.ml").info("ML debug mode %s", "on: every prediction is logged" if enabled else "off")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    train_lock = threading.Lock()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        ml = MLInventoryIntelligence(settings=settings)
        app.state.startup = prepare(ml, settings.ML_TRAINING_DATA_PATH)
        instrument(app, ml)  # GET /metrics: prediction latency, accuracy, drift, training age
        app.state.ml = ml
        if settings.ML_DEBUG:
            switch_debug(ml, True)
        yield

    app = create_service_app(title="ML service", settings=settings, version=__version__, lifespan=lifespan,
                             description="Train, predict, optimise, detect anomalies, forecast, report.")

    @app.get("/health")
    def health(request: Request) -> dict[str, Any]:
        ml: MLInventoryIntelligence | None = getattr(request.app.state, "ml", None)
        models = {} if ml is None else {
            name: {"status": "ok" if m.is_trained else "untrained",
                   "version": m.fitted_.version_label if m.fitted_ else None}
            for name, m in ml.models.items()}
        startup = getattr(request.app.state, "startup", {})
        refused = {n: s for n, s in startup.items() if s.get("status") == "refused"}
        models.update(refused)
        store_ok = settings.ML_MODEL_PATH.is_dir()
        degraded = bool(refused) or not store_ok or any(m["status"] != "ok" for m in models.values())
        return {"status": "degraded" if degraded else "ok", "service": "ml", "version": __version__,
                "dependencies": {"model_store": {"status": "ok" if store_ok else "missing",
                                                 "path": str(settings.ML_MODEL_PATH)},
                                 "models": {"status": "degraded" if degraded else "ok", "models": models}}}

    @app.post("/predict", response_model=schemas.PredictResponse)
    async def predict(body: schemas.PredictRequest, ml: ML) -> dict[str, Any]:
        model = ml.models.get(body.model_name)
        if model is not None and model.fitted_ is not None and model.fitted_.fast is None:
            # no compiled path (e.g. gradient boosting): Pipeline.predict takes ms, keep it off the loop
            result = await run_in_threadpool(ml.predict, body.model_name, body.features)
        else:
            result = ml.predict(body.model_name, body.features)  # sub-millisecond: cheaper than a thread hop
        return dict(result.to_dict(), cached=result.cached)

    @app.post("/predict/batch", response_model=schemas.BatchPredictResponse)
    def predict_batch(body: schemas.BatchPredictRequest, ml: ML) -> dict[str, Any]:
        results = ml.predict_batch(body.model_name, body.rows)
        return {"model_name": body.model_name, "model_version": results[0].model_version,
                "predictions": [{"prediction": r.prediction, "confidence": r.confidence, "lower": r.lower,
                                 "upper": r.upper} for r in results]}

    @app.post("/train")
    def train(body: schemas.TrainRequest, ml: ML) -> dict[str, Any]:
        model = ml._model(body.model_name)
        data_type = body.data_type or model.training_data_type
        with train_lock:
            previous = ml.training_data.get(data_type)
            if body.data is not None:
                if not body.data:
                    raise ValidationFailed("data: no rows", details={"field": "data"})
                if body.replace:
                    ml.training_data.pop(data_type, None)
                ml.add_training_data(data_type, _frame(body.data, "data"))
            try:
                ml.train_model(body.model_name, data_type)
            except BaseException:
                if previous is None:  # leave the held rows as they were before a failed request
                    ml.training_data.pop(data_type, None)
                else:
                    ml.training_data[data_type] = previous
                raise
            if body.data is not None:
                save_training_data(ml, settings.ML_TRAINING_DATA_PATH, data_type)
        fitted = ml.models[body.model_name].fitted_
        meta = fitted.metadata
        return _jsonable({"model_name": body.model_name, "trained": True, "data_type": data_type,
                          "model_version": fitted.version_label, "rows": meta["n_rows"], "metrics": meta["metrics"],
                          "selection": meta["selection"], "training_time_s": meta["training_time_s"]})

    @app.post("/optimize")
    def optimize(sku_data: SkuData, ml: ML) -> dict[str, Any]:
        return _jsonable(ml.optimize_inventory_with_ml({k: v for k, v in sku_data.items() if v is not None}))

    @app.get("/report")
    def report(ml: ML) -> dict[str, Any]:
        return _jsonable(ml.generate_ml_report())

    @app.post("/anomalies")
    def anomalies(body: schemas.AnomaliesRequest, ml: ML) -> dict[str, Any]:
        found = ml.detect_anomalies(_frame(body.rows, "rows"), body.columns)
        return _jsonable({"count": len(found), "rows": len(body.rows), "contamination": ml.anomaly_threshold,
                          "anomalies": found})

    @app.get("/models")
    def models(ml: ML) -> dict[str, Any]:
        items = []
        for name, model in ml.models.items():
            items.append({"name": name, "model_type": model.model_type, "data_type": model.training_data_type,
                          "feature_columns": model.feature_columns, "target_column": model.target_column,
                          "trained": model.is_trained,
                          "version": model.fitted_.version_label if model.fitted_ else None,
                          "saved_versions": ml.model_versions(name)})
        return _jsonable({"items": items})

    @app.put("/debug", dependencies=[Depends(require_admin)], summary="Switch debug mode (log every prediction)")
    def put_debug(body: DebugSwitch, ml: ML) -> dict[str, bool]:
        switch_debug(ml, body.enabled)
        return {"enabled": ml.debug_mode}

    @app.post("/models/{name}/rollback", dependencies=[Depends(require_admin)])
    def rollback(name: schemas.ModelName, ml: ML,
                 body: Annotated[schemas.RollbackRequest | None, Body()] = None) -> dict[str, Any]:
        ml._model(name)
        version = ml.rollback_model(name, body.version if body else None)
        return {"model_name": name, "model_version": f"v{version}", "versions": ml.model_versions(name)}

    def history(body: schemas.ForecastRequest | schemas.BacktestRequest) -> pd.DataFrame:
        if body.history is not None:
            if body.sku is not None:
                raise ValidationFailed("sku: only with history omitted (it picks a SKU from the inventory)",
                                       details=[{"field": "sku", "problem": "not allowed with history"}])
            return schemas.history_frame(body.history)
        return demand_history(settings.INVENTORY_URL, sku=body.sku, timeout=settings.GATEWAY_TIMEOUT)

    @app.post("/forecast")
    def forecast(body: schemas.ForecastRequest, ml: ML) -> dict[str, Any]:
        frame = ml.forecast_demand(history(body), body.horizon, freq=body.freq,
                                   quantiles=tuple(body.quantiles), progress=False)
        frame = frame.assign(date=pd.to_datetime(frame["date"]).dt.date.astype(str))
        return _jsonable({"freq": body.freq, "horizon": body.horizon, "items": frame.to_dict("records")})

    @app.post("/backtest")
    def backtest(body: schemas.BacktestRequest, ml: ML) -> dict[str, Any]:
        result = ml.backtest(history(body), body.horizon, body.windows, body.freq, progress=False)
        metrics = getattr(result, "metrics", result)
        out: dict[str, Any] = {"horizon": body.horizon, "windows": body.windows}
        out["metrics"] = metrics.reset_index().to_dict("records") if isinstance(metrics, pd.DataFrame) else metrics
        if hasattr(result, "origins"):
            out["origins"] = [pd.Timestamp(o).date().isoformat() for o in result.origins]
            out["seconds"] = result.seconds
        return _jsonable(out)

    return app
