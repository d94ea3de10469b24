"""One answer per SKU: panel forecasts cached by the data they were fitted on.

The ensemble is fitted on the whole panel (the global model learns from every SKU; the blend and the
conformal quantiles are chosen per demand segment), so a forecast of one SKU fitted on that SKU alone
would differ from the same SKU's rows in the full run. ``ForecastCache`` fits the whole panel once per
distinct input and answers a single SKU by selecting its rows from that fit: the same forecast and the
same calibrated quantiles as in the full run, and, for a panel already fitted, without refitting.

The key is a fingerprint of the validated panel (SKUs, periods, quantities and every optional column,
after snapping dates to periods), plus horizon, frequency and quantiles: row order or daily rows summed
into the same weeks give the same key; any change of data gives a new fit. ``FitInfo`` says when the
fit was made and on what data, so a caller can tell two answers from the same fit.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from sync.errors import NotFound
from sync.ml.forecasting.model import forecast_panel, validate_quantiles
from sync.ml.forecasting.panel import Panel, to_panel, validate_horizon

DEFAULT_ENTRIES = 4


def panel_fingerprint(panel: Panel) -> str:
    """SHA-256 of everything the forecast depends on in ``panel`` (hex, 64 characters)."""
    digest = hashlib.sha256()
    digest.update(panel.freq.encode())
    digest.update("\x1f".join(str(s) for s in panel.skus).encode())
    digest.update(np.asarray(panel.dates.asi8, dtype=np.int64).tobytes())
    for name in ("y", "price", "promotion", "orders"):
        values = getattr(panel, name)
        digest.update(name.encode())
        if values is not None:
            digest.update(np.ascontiguousarray(values, dtype=np.float64).tobytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class FitInfo:
    """When a panel forecast was fitted and on what data."""

    fitted_at: str  # ISO 8601, UTC
    fingerprint: str  # panel_fingerprint of the data it was fitted on
    history_start: str  # first period (end date) of the panel
    history_end: str  # last period of the panel: forecasts start one period later
    n_skus: int
    n_periods: int
    history_rows: int  # rows of the history it was given
    horizon: int
    freq: str
    quantiles: tuple[float, ...]
    fit_seconds: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"quantiles": list(self.quantiles)}


@dataclass(frozen=True)
class CachedForecast:
    frame: pd.DataFrame  # forecast_demand's frame: sku, date, forecast, q..
    info: FitInfo
    cached: bool  # True when this answer came from an earlier fit


class ForecastCache:
    """Thread-safe cache of whole-panel forecasts, at most ``max_entries`` fits (least recently used goes).

    Concurrent requests for the same key wait for one fit instead of each fitting.
    """

    def __init__(self, max_entries: int = DEFAULT_ENTRIES) -> None:
        self.max_entries = max(1, int(max_entries))
        self._entries: OrderedDict[tuple[Any, ...], tuple[pd.DataFrame, FitInfo]] = OrderedDict()
        self._lock = threading.Lock()
        self._fitting: dict[tuple[Any, ...], threading.Lock] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def forecast(
        self, history: pd.DataFrame, horizon: int, freq: str = "W-SUN",
        quantiles: Sequence[float] = (0.9,), sku: str | None = None,
    ) -> CachedForecast:
        """The whole panel's forecast for ``history`` (fitted once per distinct panel), or one SKU's rows of it."""
        steps = validate_horizon(horizon)
        levels = validate_quantiles(quantiles)
        panel = to_panel(history, freq)
        if sku is not None and sku not in set(panel.skus):
            raise NotFound(f"no demand history for SKU {sku!r}", details={"field": "sku", "sku": sku})
        key = (panel_fingerprint(panel), steps, panel.freq, levels)
        cached = True
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                gate = self._fitting.setdefault(key, threading.Lock())
        if entry is None:
            try:
                with gate:
                    with self._lock:
                        entry = self._entries.get(key)
                    if entry is None:
                        entry = self._fit(panel, key, len(history), steps, levels)
                        cached = False
            finally:
                with self._lock:
                    self._fitting.pop(key, None)
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
        frame, info = entry
        if sku is not None:
            frame = frame[frame["sku"] == sku].reset_index(drop=True)
        return CachedForecast(frame=frame, info=info, cached=cached)

    def _fit(
        self, panel: Panel, key: tuple[Any, ...], rows: int, steps: int, levels: tuple[float, ...]
    ) -> tuple[pd.DataFrame, FitInfo]:
        start = time.perf_counter()
        frame = forecast_panel(panel, steps, levels).frame()
        info = FitInfo(
            fitted_at=datetime.now(UTC).isoformat(timespec="seconds"),
            fingerprint=key[0],
            history_start=pd.Timestamp(panel.dates[0]).date().isoformat(),
            history_end=pd.Timestamp(panel.dates[-1]).date().isoformat(),
            n_skus=len(panel.skus),
            n_periods=panel.n_periods,
            history_rows=int(rows),
            horizon=steps,
            freq=panel.freq,
            quantiles=levels,
            fit_seconds=round(time.perf_counter() - start, 3),
        )
        with self._lock:
            self._entries[key] = (frame, info)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return frame, info
