"""The ML service (port 8006): the HTTP face of ``MLInventoryIntelligence``.

``create_app(settings)`` loads saved models on start and trains the built-ins on the bundled sample
when none is saved, so ``POST /predict`` answers from the first request. Routes: ``GET /health``,
``POST /train``, ``POST /predict``, ``POST /predict/batch``, ``POST /optimize``, ``GET /report``,
``POST /anomalies``, ``GET /models``, ``POST /models/{name}/rollback`` (admin), ``POST /forecast``,
``POST /backtest`` (both read weekly history from the inventory service when the request has none),
``POST /simulate`` and ``POST /plan`` (replenishment, ``sync/ml/routes_replenishment.py``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import pandas as pd
from fastapi import Body, Depends, FastAPI, Header, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, StrictBool

from sync import __version__
from sync.clients.inventory import InventoryClient
from sync.errors import Forbidden, Unauthorized, ValidationFailed
from sync.ml import idempotency, schemas
from sync.ml.demand import demand_history
from sync.ml.deps import inventory_of, ml_of
from sync.ml.intelligence import MLInventoryIntelligence
from sync.ml.jsonable import json_object
from sync.ml.learning import ContinuousLearner
from sync.ml.metrics import instrument
from sync.ml.routes_learning import router as learning_router
from sync.ml.routes_replenishment import router as replenishment_router
from sync.ml.startup import prepare
from sync.settings import Settings
from sync.web import create_service_app, require_admin
from sync.web.input_guards import check_idempotency_key


async def _ml(request: Request) -> MLInventoryIntelligence:
    """:func:`~sync.ml.deps.ml_of` as an async dependency (a sync one would cost a threadpool hop per call)."""
    return ml_of(request)


ML = Annotated[MLInventoryIntelligence, Depends(_ml)]
SkuData = Annotated[dict[str, schemas.Number | None], Body(description="The seed's sku_data object.")]




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
        inventory = app.state.inventory = InventoryClient.from_settings(settings)  # every call to inventory
        app.state.recovered = idempotency.recover(ml.store, settings.ML_TRAINING_DATA_PATH)
        app.state.startup = prepare(ml, settings.ML_TRAINING_DATA_PATH)
        instrument(app, ml)  # GET /metrics: prediction latency, accuracy, drift, training age
        app.state.ml = ml
        ml.learner = ContinuousLearner(ml, settings, inventory)  # follows the inventory outbox (sync/ml/learning.py)
        ml.learner.start()
        if settings.ML_DEBUG:
            switch_debug(ml, True)
        yield
        ml.learner.stop()
        inventory.close()

    app = create_service_app(title="ML service", settings=settings, version=__version__, lifespan=lifespan,
                             description="Train, predict, optimise, detect anomalies, forecast, report.")
    app.include_router(replenishment_router)
    app.include_router(learning_router)  # lead time from orders, explanations, A/B tests (routes_learning.py)

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

    @app.post("/predict", response_model=schemas.PredictResponse,
              responses=schemas.errors(400, 404, 409, 413, 422, 503))
    async def predict(body: schemas.PredictRequest, ml: ML) -> dict[str, Any]:
        served = ml.served(body.model_name)
        if served is not None and served.fast is None:
            # no compiled path (e.g. gradient boosting): Pipeline.predict takes ms, keep it off the loop
            result = await run_in_threadpool(ml.predict, body.model_name, body.features)
        else:
            result = ml.predict(body.model_name, body.features)  # sub-millisecond: cheaper than a thread hop
        return dict(result.to_dict(), cached=result.cached)

    @app.post("/predict/batch", response_model=schemas.BatchPredictResponse,
              responses=schemas.errors(400, 404, 409, 413, 422, 503))
    def predict_batch(body: schemas.BatchPredictRequest, ml: ML) -> dict[str, Any]:
        results = ml.predict_batch(body.model_name, body.rows)
        return {"model_name": body.model_name, "model_version": results[0].model_version,
                "predictions": [{"prediction": r.prediction, "confidence": r.confidence, "lower": r.lower,
                                 "upper": r.upper} for r in results]}

    @app.post("/train", responses=schemas.errors(400, 404, 409, 413, 422, 503))
    def train(body: schemas.TrainRequest, ml: ML, response: Response,
              idempotency_key: Annotated[str | None, Header(
                  description="Makes a retry safe: the same key and body answer the first result and train "
                              "nothing; the same key with another body is a 409. Kept next to the models.")] = None,
              ) -> dict[str, Any]:
        model = ml.model(body.model_name)
        data_type = body.data_type or model.training_data_type
        key = check_idempotency_key(idempotency_key)
        keys = idempotency.TrainKeys(ml.store, settings.ML_TRAINING_DATA_PATH)
        fp = idempotency.fingerprint(body.model_dump(mode="json")) if key else ""
        with train_lock:
            if key is not None:
                replayed = keys.replay(key, fp, body.model_name)
                if replayed is not None:
                    response.headers["Idempotent-Replayed"] = "true"
                    return json_object(replayed)
            previous = ml.training_data.get(data_type)
            staged = None
            tag: dict[str, Any] = {}
            try:
                if body.data is not None:
                    if not body.data:
                        raise ValidationFailed("data: no rows", details={"field": "data"})
                    if body.replace:
                        ml.training_data.pop(data_type, None)
                    ml.add_training_data(data_type, _frame(body.data, "data"))
                if key is not None:
                    tag = {"idempotency": {"key_sha256": idempotency.key_hash(key), "fingerprint": fp,
                                           "data_type": data_type}}
                    if body.data is not None:  # staged before the commit point, moved in after it
                        staged = keys.stage(data_type, key, ml.training_data[data_type])
                with ml.store.tagging(tag):
                    ml.train_model(body.model_name, data_type)
            except BaseException:
                if previous is None:  # leave the held rows as they were before a failed request
                    ml.training_data.pop(data_type, None)
                else:
                    ml.training_data[data_type] = previous
                if staged is not None:
                    staged.unlink(missing_ok=True)
                raise
            if staged is not None:
                keys.finish(data_type, idempotency.key_hash(key))  # type: ignore[arg-type]
            elif body.data is not None:
                idempotency.write_csv(ml.training_data[data_type],
                                      idempotency.training_data_path(settings.ML_TRAINING_DATA_PATH, data_type))
            fitted = ml.fitted(body.model_name)
            meta = fitted.metadata
            result = json_object({"model_name": body.model_name, "trained": True, "data_type": data_type,
                                "model_version": fitted.version_label, "rows": meta["n_rows"],
                                "metrics": meta["metrics"], "selection": meta["selection"],
                                "training_time_s": meta["training_time_s"]})
            if key is not None:
                keys.save(key, fp, result)
        return result

    @app.post("/optimize", responses=schemas.errors(400, 413, 422, 503))
    def optimize(sku_data: SkuData, ml: ML) -> dict[str, Any]:
        return json_object(ml.optimize_inventory_with_ml({k: v for k, v in sku_data.items() if v is not None}))

    async def has_admin_token(request: Request) -> bool:
        """Whether the caller proves admin rights (the admin token, or an admin-scoped JWT)."""
        try:
            await require_admin(request)
        except (Unauthorized, Forbidden):
            return False
        return True

    @app.get("/report", responses=schemas.errors(503))
    async def report(request: Request, ml: ML) -> dict[str, Any]:
        """Per-model metrics, drift and training facts; library versions only with the admin token."""
        body = await run_in_threadpool(ml.generate_ml_report)
        if not await has_admin_token(request):
            for section in body["models"].values():
                section.pop("library_versions", None)
        return json_object(body)

    @app.post("/anomalies", responses=schemas.errors(400, 413, 422, 503))
    def anomalies(body: schemas.AnomaliesRequest, ml: ML) -> dict[str, Any]:
        found = ml.detect_anomalies(_frame(body.rows, "rows"), body.columns)
        return json_object({"count": len(found), "rows": len(body.rows), "contamination": ml.anomaly_threshold,
                          "anomalies": found})

    @app.get("/models", responses=schemas.errors(503))
    def models(ml: ML) -> dict[str, Any]:
        items = []
        for name, model in ml.models.items():
            items.append({"name": name, "model_type": model.model_type, "data_type": model.training_data_type,
                          "feature_columns": model.feature_columns, "target_column": model.target_column,
                          "trained": model.is_trained,
                          "version": model.fitted_.version_label if model.fitted_ else None,
                          "saved_versions": ml.model_versions(name)})
        return json_object({"items": items})

    @app.put("/debug", dependencies=[Depends(require_admin)], summary="Switch debug mode (log every prediction)")
    def put_debug(body: DebugSwitch, ml: ML) -> dict[str, bool]:
        switch_debug(ml, body.enabled)
        return {"enabled": ml.debug_mode}

    @app.post("/models/{name}/rollback", dependencies=[Depends(require_admin)],
              responses=schemas.errors(400, 401, 403, 404, 409, 413, 422, 503))
    def rollback(name: schemas.ModelName, ml: ML,
                 body: Annotated[schemas.RollbackRequest | None, Body()] = None) -> dict[str, Any]:
        ml.model(name)  # an unknown model is a 404 before the store is asked
        version = ml.rollback_model(name, body.version if body else None)
        return {"model_name": name, "model_version": f"v{version}", "versions": ml.model_versions(name)}

    def history(body: schemas.ForecastRequest | schemas.BacktestRequest, request: Request) -> pd.DataFrame:
        if body.history is not None:
            if body.sku is not None:
                raise ValidationFailed("sku: only with history omitted (it picks a SKU from the inventory)",
                                       details=[{"field": "sku", "problem": "not allowed with history"}])
            schemas.check_history_span(body.history, body.freq)
            return schemas.history_frame(body.history)
        return demand_history(inventory_of(request), sku=body.sku)

    forecast_cache: list[Any] = []  # the ForecastCache, made on first use (imports the forecasting stack)

    def forecasts() -> Any:
        if not forecast_cache:
            from sync.ml.forecasting.cache import ForecastCache

            forecast_cache.append(ForecastCache())
        return forecast_cache[0]

    @app.post("/forecast", responses=schemas.errors(400, 404, 413, 422, 502, 503))
    def forecast(body: schemas.ForecastRequest, ml: ML, request: Request) -> dict[str, Any]:
        # One answer per SKU: a request for one SKU gets that SKU's rows of the whole panel's forecast
        # (fitted once per distinct data, see sync/ml/forecasting/cache.py), not a fit on its rows alone.
        if body.history is None and body.sku is not None:  # an unknown SKU is a 404 naming it (the inventory says)
            history(body, request)
        data = history(body, request) if body.history is not None else demand_history(inventory_of(request))
        result = forecasts().forecast(data, body.horizon, freq=body.freq, quantiles=tuple(body.quantiles),
                                    sku=body.sku)
        frame = result.frame.assign(date=pd.to_datetime(result.frame["date"]).dt.date.astype(str))
        return json_object({"freq": body.freq, "horizon": body.horizon, "items": frame.to_dict("records"),
                          "fit": result.info.as_dict() | {"cached": result.cached}})

    @app.post("/backtest", responses=schemas.errors(400, 404, 413, 422, 502, 503))
    def backtest(body: schemas.BacktestRequest, ml: ML, request: Request) -> dict[str, Any]:
        result = ml.backtest(history(body, request), body.horizon, body.windows, body.freq, progress=False)
        metrics = getattr(result, "metrics", result)
        out: dict[str, Any] = {"horizon": body.horizon, "windows": body.windows}
        out["metrics"] = metrics.reset_index().to_dict("records") if isinstance(metrics, pd.DataFrame) else metrics
        if hasattr(result, "origins"):
            out["origins"] = [pd.Timestamp(o).date().isoformat() for o in result.origins]
            out["seconds"] = result.seconds
        return json_object(out)

    return app
