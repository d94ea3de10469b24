"""Weekly history of the bundled real sample, derived exactly as the forecast benchmark derives it."""

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
