"""The bundled real sample as the forecast benchmark's weekly history, and a cheap forecaster for
tests about parameters and plan shape (the policy's own figures use ``forecast_demand``)."""

from __future__ import annotations

from importlib import resources

import pandas as pd
import pytest

from sync.ml.forecasting.weekly import read_transactions, weekly_history


@pytest.fixture(scope="session")
def sample_history() -> pd.DataFrame:
    path = resources.files("sync") / "data" / "online_retail_sample.csv"
    with resources.as_file(path) as csv:
        return weekly_history(read_transactions(csv))


def mean_forecaster(history: pd.DataFrame, horizon: int) -> pd.DataFrame:
    """Each SKU's mean of its last 13 weeks, flat over the horizon."""
    frame = history.assign(date=pd.to_datetime(history["date"]))
    last = frame["date"].max()
    recent = frame[frame["date"] > last - pd.Timedelta(weeks=13)]
    level = recent.groupby("sku")["quantity"].sum() / 13.0
    dates = pd.date_range(last, periods=horizon + 1, freq="W-SUN")[1:]
    rows = [{"sku": sku, "date": d, "forecast": float(v)} for sku, v in level.items() for d in dates]
    return pd.DataFrame(rows)
