"""Large panels: the global model trains on a sample of SKUs past its row cap and forecasts in chunks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sync.ml.forecasting import gbm
from sync.ml.forecasting.gbm import GlobalModel
from sync.ml.forecasting.panel import to_panel

pytestmark = pytest.mark.slow

HORIZON = 4


@pytest.fixture(scope="module")
def panel(sample_history: pd.DataFrame):
    return to_panel(sample_history)


def test_forecasting_in_chunks_of_skus_equals_all_at_once(panel, monkeypatch: pytest.MonkeyPatch) -> None:
    model = GlobalModel(HORIZON, num_rounds=30).fit(panel)
    whole = model.predict(panel, [panel.n_periods - HORIZON, panel.n_periods])
    monkeypatch.setattr(gbm, "PREDICT_CHUNK", 8)  # 35 SKUs: 5 chunks, the last one short
    chunked = model.predict(panel, [panel.n_periods - HORIZON, panel.n_periods])
    np.testing.assert_array_equal(chunked, whole)


def test_past_the_row_cap_it_trains_on_a_sample_and_still_forecasts_every_sku(panel) -> None:
    full = GlobalModel(HORIZON, num_rounds=30).fit(panel)
    assert full._training_skus(len(panel.skus), panel.n_periods) is None
    capped = GlobalModel(HORIZON, num_rounds=30, max_train_rows=10 * 68 * HORIZON)
    sample = capped._training_skus(len(panel.skus), panel.n_periods)
    assert sample is not None and len(sample) == 10 and len(set(sample)) == 10
    capped.fit(panel)
    assert capped.calibration_ is not None and capped.calibration_.shape == (len(panel.skus),)
    forecast = capped.predict(panel)
    assert forecast.shape == (len(panel.skus), 1, HORIZON)
    assert np.isfinite(forecast).all() and (forecast >= 0).all()
    assert not np.allclose(forecast, full.predict(panel))  # a different (smaller) training set
    # the level still follows each SKU: ranks of the two models' forecasts agree
    a, b = forecast.mean(axis=(1, 2)), full.predict(panel).mean(axis=(1, 2))
    assert pd.Series(a).corr(pd.Series(b), method="spearman") > 0.8
