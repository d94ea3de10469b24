"""One answer per SKU: ``POST /forecast`` for one SKU equals that SKU's rows of the all-SKU forecast.

Real inventory service (SQLite, demo data) and real ML service over HTTP; the ML service reads demand
history from the inventory, fits the whole panel once and answers single SKUs from that fit.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from sync.inventory.app import create_app as create_inventory_app
from sync.ml import schemas
from sync.ml.forecasting.cache import ForecastCache, panel_fingerprint
from sync.ml.forecasting.panel import to_panel
from sync.ml.service import create_app
from sync.settings import Settings
from tests.ml.servers import serving

SKU = "15044D"  # the SKU of the report: 14.43 alone against 11.11 in the full run


@pytest.mark.slow
def test_single_sku_forecast_over_http_equals_its_rows_of_the_full_forecast(tmp_path: Path) -> None:
    inventory_settings = Settings(DATABASE_URL=f"sqlite:///{tmp_path / 'inventory.db'}", DEMO_DATA=True)
    with serving(create_inventory_app(inventory_settings)) as inventory:
        settings = Settings(ML_MODEL_PATH=tmp_path / "models", ML_TRAINING_DATA_PATH=tmp_path / "data",
                            INVENTORY_URL=inventory.base)
        with serving(create_app(settings)) as ml:
            full = ml.post("/forecast", json={"horizon": 4})
            assert full.status_code == 200, full.text
            items = pd.DataFrame(full.json()["items"])
            assert SKU in set(items["sku"])
            fit = full.json()["fit"]
            assert fit["cached"] is False
            assert fit["n_skus"] == items["sku"].nunique() and fit["horizon"] == 4
            assert len(fit["fingerprint"]) == 64 and fit["fitted_at"].endswith("+00:00")
            assert pd.Timestamp(items["date"].min()) == pd.Timestamp(fit["history_end"]) + pd.Timedelta(weeks=1)

            one = ml.post("/forecast", json={"horizon": 4, "sku": SKU})
            assert one.status_code == 200, one.text
            single = pd.DataFrame(one.json()["items"])
            expected = items[items["sku"] == SKU].reset_index(drop=True)
            pd.testing.assert_frame_equal(single, expected)  # forecast and q90, every week, exactly
            assert one.json()["fit"] == fit | {"cached": True}

            unknown = ml.post("/forecast", json={"horizon": 4, "sku": "NO-SUCH-SKU"})
            assert unknown.status_code == 404 and unknown.json()["error"]["details"]["field"] == "sku"

            # issue 14 item 5: the longest horizon the schema allows, history read from the inventory
            longest = ml.post("/forecast", json={"horizon": 104, "sku": SKU})
            assert longest.status_code == 200, longest.text
            assert len(longest.json()["items"]) == 104 and longest.json()["fit"]["horizon"] == 104


@pytest.mark.slow
def test_the_cache_key_is_the_data_not_the_row_order(sample_history: pd.DataFrame) -> None:
    """Shuffled rows are the same panel (one fit); a changed quantity is new data (a new fit)."""
    cache = ForecastCache(max_entries=2)
    first = cache.forecast(sample_history, 2, sku=str(sample_history["sku"].iloc[0]))
    shuffled = cache.forecast(sample_history.sample(frac=1.0, random_state=1), 2)
    assert shuffled.cached and shuffled.info == first.info
    pd.testing.assert_frame_equal(first.frame, shuffled.frame[shuffled.frame["sku"] == first.frame["sku"][0]]
                                  .reset_index(drop=True))
    changed = sample_history.copy()
    changed.loc[changed.index[-1], "quantity"] += 1.0
    again = cache.forecast(changed, 2)
    assert not again.cached and again.info.fingerprint != first.info.fingerprint
    assert again.info.fingerprint == panel_fingerprint(to_panel(changed))
    assert len(cache) == 2


@pytest.mark.slow
def test_every_horizon_the_schema_allows_is_answered(sample_history: pd.DataFrame) -> None:
    """Issue 14 item 5: horizons past 64 periods raised IndexError (a 500) in the global model's features."""
    longest = max(m.le for m in schemas.ForecastRequest.model_fields["horizon"].metadata if hasattr(m, "le"))
    for horizon in (longest,):  # anything past 64 periods used to fail
        result = ForecastCache().forecast(sample_history, horizon)
        frame = result.frame
        assert len(frame) == sample_history["sku"].nunique() * horizon
        assert frame[["forecast", "q90"]].notna().all().all()
        assert (frame["q90"] >= frame["forecast"]).all() and (frame["forecast"] >= 0).all()
        last = pd.Timestamp(sample_history["date"].max())
        assert pd.Timestamp(frame["date"].max()) == last + pd.Timedelta(weeks=horizon)


@pytest.mark.slow
def test_concurrent_requests_for_the_same_data_share_one_fit(sample_history: pd.DataFrame) -> None:
    from concurrent.futures import ThreadPoolExecutor

    cache = ForecastCache()
    skus = sorted(sample_history["sku"].astype(str).unique())[:4]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda sku: cache.forecast(sample_history, 2, sku=sku), skus))
    assert sum(not r.cached for r in results) == 1  # one fit; the others waited for it
    assert len({r.info.fitted_at + r.info.fingerprint for r in results}) == 1
    assert [r.frame["sku"].unique().tolist() for r in results] == [[s] for s in skus]
