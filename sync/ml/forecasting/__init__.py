"""Demand forecasting for many SKUs: ``forecast_demand`` and ``backtest`` (see docs/forecasting.md)."""

from sync.ml.forecasting.backtest import BacktestResult, backtest
from sync.ml.forecasting.model import forecast_demand

__all__ = ["BacktestResult", "backtest", "forecast_demand"]
