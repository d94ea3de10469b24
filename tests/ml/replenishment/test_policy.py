"""``plan_replenishment``: its parameters, its columns, and what each figure must do."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from sync.errors import ValidationFailed
from sync.ml.replenishment import plan_replenishment
from sync.ml.replenishment.risk import lead_time_lengths
from sync.ml_integration import MLInventoryIntelligence
from tests.ml.replenishment.conftest import mean_forecaster

COLUMNS = {"sku", "reorder_point", "order_up_to", "safety_stock", "risk_period_demand", "expected_fill_rate",
           "order_quantity", "demand_source", "distribution_source", "quantity_source", "rule", "abc_xyz"}


def plan(history: pd.DataFrame, **kwargs: Any) -> pd.DataFrame:
    return plan_replenishment(history, forecaster=mean_forecaster, **kwargs)


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"service_level": 0.0}, "service_level"),
    ({"service_level": 1.0}, "service_level"),
    ({"service_level": 1.5}, "service_level"),
    ({"service_level": {"21116": 1.2}}, "service_level"),
    ({"ordering_cost": -10}, "ordering_cost"),
    ({"unit_cost": -1.0}, "unit_cost"),
    ({"unit_cost": {"21116": -1.0}}, "unit_cost"),
    ({"holding_cost_rate": -0.25}, "holding_cost_rate"),
    ({"lead_time": -1}, "lead_time"),
    ({"lead_time": {"21116": -2}}, "lead_time"),
    ({"lead_time": {"NO-SUCH-SKU": 2}}, "lead_time"),
    ({"unit_cost": {"NO-SUCH-SKU": 2.0}}, "unit_cost"),
    ({"lead_time_sd": -0.5}, "lead_time_sd"),
    ({"review_period": 0}, "review_period"),
    ({"service_level": "high"}, "service_level"),
    ({"class_service_levels": {"D": 0.9}}, "class_service_levels"),
    ({"class_service_levels": {"A": 1.1}}, "class_service_levels"),
    ({"plan_periods": 0}, "plan_periods"),
])
def test_bad_parameters_are_value_errors_naming_the_field(sample_history: pd.DataFrame, kwargs: dict[str, Any],
                                                          field: str) -> None:
    with pytest.raises(ValueError, match=field) as info:
        plan(sample_history, **kwargs)
    assert isinstance(info.value, ValidationFailed) and info.value.details["field"] == field


def test_the_plan_has_a_row_per_sku_and_says_where_each_figure_came_from(sample_history: pd.DataFrame) -> None:
    result = plan(sample_history, ordering_cost=10)
    assert COLUMNS <= set(result.columns)
    assert sorted(result["sku"]) == sorted(sample_history["sku"].unique())
    assert (result["reorder_point"] >= 0).all() and (result["order_up_to"] >= result["reorder_point"]).all()
    # the order quantity covers at least a review period's demand, and EOQ when that is larger
    assert (result["order_quantity"] >= result["demand_per_period"] - 1e-9).all()
    eoq_rows = result["quantity_source"] == "EOQ"
    assert eoq_rows.any()
    assert np.allclose(result.loc[eoq_rows, "order_quantity"], np.ceil(result.loc[eoq_rows, "eoq"]), atol=1.0)
    np.testing.assert_allclose(result["safety_stock"], result["reorder_point"] - result["risk_period_demand"])
    empirical = result["distribution_source"].str.startswith("empirical")
    assert empirical.all()  # every sample SKU has a year of history
    assert (result.loc[empirical, "expected_fill_rate"] >= 0.95 - 1e-9).all()
    assert set(result["demand_source"]) == {"mean_forecaster"}


@pytest.mark.slow
def test_a_higher_target_or_an_uncertain_lead_time_raises_the_reorder_point(sample_history: pd.DataFrame) -> None:
    low = plan(sample_history, ordering_cost=10, service_level=0.90).set_index("sku")
    high = plan(sample_history, ordering_cost=10, service_level=0.99).set_index("sku")
    assert (high["reorder_point"] >= low["reorder_point"]).all()
    assert high["reorder_point"].sum() > low["reorder_point"].sum()
    base = plan(sample_history, ordering_cost=10).set_index("sku")
    unsure = plan(sample_history, ordering_cost=10, lead_time_sd=1.0).set_index("sku")
    assert unsure["reorder_point"].sum() > base["reorder_point"].sum()
    longer = plan(sample_history, ordering_cost=10, lead_time={"21116": 6}).set_index("sku")
    assert longer.loc["21116", "reorder_point"] > base.loc["21116", "reorder_point"]
    assert longer.loc["21116", "lead_time"] == 6 and longer.drop(index="21116")["lead_time"].eq(2).all()


def test_lead_time_distribution_is_a_discretised_normal_or_the_two_neighbours() -> None:
    assert lead_time_lengths(2.0, 0.0) == [(2, 1.0)]
    assert lead_time_lengths(2.25, 0.0) == [(2, 0.75), (3, 0.25)]
    mix = lead_time_lengths(3.0, 1.0)
    assert abs(sum(p for _, p in mix) - 1.0) < 1e-12 and max(mix, key=lambda kp: kp[1])[0] == 3


def test_class_service_levels_set_each_class_target(sample_history: pd.DataFrame) -> None:
    result = plan(sample_history, ordering_cost=10, class_service_levels={"A": 0.98, "C": 0.90, "BZ": 0.93})
    first = result["abc_xyz"].str[0]
    assert (result.loc[first == "A", "service_level"] == 0.98).all()
    assert (result.loc[first == "C", "service_level"] == 0.90).all()
    assert (result.loc[result["abc_xyz"] == "BZ", "service_level"] == 0.93).all()
    assert (result.loc[(first == "B") & (result["abc_xyz"] != "BZ"), "service_level"] == 0.95).all()
    assert set(first) == {"A", "B", "C"}


def test_without_prices_or_costs_the_order_quantity_is_a_review_periods_demand(sample_history: pd.DataFrame) -> None:
    result = plan(sample_history.drop(columns="price"))
    assert result["eoq"].isna().all() and result["quantity_source"].str.contains("no unit or ordering cost").all()


def test_the_public_face_delegates(sample_history: pd.DataFrame, tmp_path: Any) -> None:
    from sync.settings import Settings

    ml = MLInventoryIntelligence(settings=Settings(ML_MODEL_PATH=tmp_path), autosave=False)
    result = ml.plan_replenishment(sample_history, ordering_cost=10, forecaster=mean_forecaster)
    assert len(result) == sample_history["sku"].nunique()
    with pytest.raises(ValueError, match="service_level"):
        ml.plan_replenishment(sample_history, service_level=2, forecaster=mean_forecaster)
