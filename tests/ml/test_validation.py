"""Property tests of feature validation: numbers pass in column order, anything else is named."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync.errors import ValidationFailed
from sync.ml.validation import MAX_FEATURE_MAGNITUDE, feature_row

COLUMNS = ["historical_demand", "seasonality", "trend", "price", "promotions"]
numbers = st.one_of(st.integers(-10**9, 10**9), st.booleans(),
                    st.floats(-MAX_FEATURE_MAGNITUDE, MAX_FEATURE_MAGNITUDE, allow_nan=False, allow_infinity=False))
anything = st.one_of(numbers, st.none(), st.text(max_size=5), st.floats(), st.lists(st.integers(), max_size=2))


#: no deadline (the machine is shared, timing is not what is tested) and the same examples every run
stable = settings(deadline=None, derandomize=True, max_examples=200)


@stable
@given(st.fixed_dictionaries({c: numbers for c in COLUMNS}))
def test_numbers_are_accepted_in_column_order(features: dict[str, object]) -> None:
    row = feature_row(features, COLUMNS, "demand_forecast")
    assert row == tuple(float(features[c]) for c in COLUMNS)  # type: ignore[arg-type]


@stable
@given(st.dictionaries(st.sampled_from(COLUMNS), anything))
@pytest.mark.slow
def test_anything_else_is_refused_naming_the_feature(features: dict[str, object]) -> None:
    def ok(value: object) -> bool:
        return (isinstance(value, bool | int | float) and math.isfinite(float(value))
                and abs(value) <= MAX_FEATURE_MAGNITUDE)

    bad = [c for c in COLUMNS if c not in features or not ok(features[c])]
    if not bad:
        assert len(feature_row(features, COLUMNS, "m")) == len(COLUMNS)
        return
    with pytest.raises(ValidationFailed) as info:
        feature_row(features, COLUMNS, "m")
    assert any(c in info.value.message for c in bad)
