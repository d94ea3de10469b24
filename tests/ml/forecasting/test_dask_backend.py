"""The statistical candidates on statsforecast's own Dask backend give the in-process forecasts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sync.ml.forecasting import forecast_demand
from sync.ml.forecasting.candidates import stat_forecasts
from sync.ml.forecasting.panel import to_panel

distributed = pytest.importorskip("distributed", reason="the 'distributed' extra is not installed")
pytest.importorskip("dask.dataframe", reason="the 'distributed' extra is not installed")

HORIZON = 3


@pytest.fixture(scope="module")
def small(sample_history: pd.DataFrame) -> pd.DataFrame:
    skus = sorted(sample_history["sku"].unique())[:12]
    return sample_history[sample_history["sku"].isin(skus)]


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None, memory_limit="1GiB")
    with distributed.Client(cluster) as dask_client:
        yield dask_client
    cluster.close()


@pytest.mark.slow
def test_statistical_candidates_on_a_local_dask_cluster_equal_the_in_process_ones(small, client) -> None:
    panel = to_panel(small)
    origins = [panel.n_periods - HORIZON, panel.n_periods]
    local = stat_forecasts(panel, HORIZON, origins)
    on_dask = stat_forecasts(panel, HORIZON, origins, backend="dask")
    assert set(on_dask) == set(local)
    for name, values in local.items():
        np.testing.assert_allclose(on_dask[name], values, rtol=1e-6, atol=1e-9, err_msg=name)  # ETS: ~5e-8 apart
    assert client.run(lambda: True)  # the work ran on the cluster's worker processes


@pytest.mark.slow
def test_forecast_demand_on_dask_equals_in_process(small, client) -> None:
    local = forecast_demand(small, HORIZON)
    on_dask = forecast_demand(small, HORIZON, backend="dask")
    pd.testing.assert_frame_equal(on_dask, local, rtol=1e-6, atol=1e-9)


def test_an_unknown_backend_is_named(small) -> None:
    with pytest.raises(ValueError, match="backend"):
        stat_forecasts(to_panel(small), HORIZON, [40], backend="spark")
