"""Training data for the built-in models, derived from the bundled Online Retail II sample.

The ML service trains on these frames on its first start, when nothing is saved under ML_MODEL_PATH,
so the seed's ``POST /ml/predict`` answers right after ``make run``. What is real and what is
synthetic is listed in docs/ml.md; in short:

* weekly sales per product (week ending Sunday; sales lines only; weeks without sales are 0) give
  ``demand`` (that week's units), ``historical_demand`` (mean of the 4 weeks before), ``seasonality``
  (sin(2π · ISO week / 52)), ``trend`` (weeks since the sample's first full week), ``price``
  (revenue / units that week, carried forward over weeks without sales) and ``promotions`` (1 when
  that price is below the product's median price): all real;
* lead-time rows are synthetic (the sample has no supplier data): per-product supplier performance,
  per-row supply-chain health, and a documented formula with noise; only ``order_quantity`` (4 weeks
  of real demand) and ``seasonality`` come from the data;
* pricing rows use the real weekly price as ``optimal_price`` (the price the retailer set) with real
  ``historical_demand`` and ``seasonality``; ``competitor_price``, ``cost`` and ``inventory_level``
  are synthetic.
"""

from __future__ import annotations

from importlib import resources
from os import PathLike

import numpy as np
import pandas as pd

HISTORY_WEEKS = 4


def sample_path() -> PathLike[str]:
    return resources.files("sync") / "data" / "online_retail_sample.csv"  # type: ignore[return-value]


def weekly_sales(path: str | PathLike[str] | None = None) -> pd.DataFrame:
    """Columns ``sku``, ``week`` (Sunday), ``quantity`` (0 when unsold), ``price``, ``sold`` (bool)."""
    raw = pd.read_csv(path or sample_path(), usecols=["Invoice", "StockCode", "Quantity", "InvoiceDate", "Price"],
                      dtype={"Invoice": str, "StockCode": str})
    keep = ((raw.Quantity > 0) & (raw.Price > 0) & ~raw.Invoice.str.startswith("C")
            & raw.StockCode.str.match(r"^\d{5}"))
    sales = raw[keep].copy()
    sales["week"] = pd.to_datetime(sales.InvoiceDate, format="%m/%d/%Y %H:%M").dt.to_period("W-SUN").dt.end_time \
        .dt.normalize()
    sales["revenue"] = sales.Quantity * sales.Price
    weekly = sales.groupby(["StockCode", "week"], as_index=False)[["Quantity", "revenue"]].sum()
    weeks = pd.date_range(weekly.week.min(), weekly.week.max(), freq="W-SUN")[1:-1]  # drop partial ends
    full = pd.MultiIndex.from_product([sorted(weekly.StockCode.unique()), weeks], names=["StockCode", "week"])
    panel = weekly.set_index(["StockCode", "week"]).reindex(full).reset_index()
    panel["sold"] = panel.Quantity.notna()
    panel["quantity"] = panel.Quantity.fillna(0.0)
    panel["price"] = (panel.revenue / panel.Quantity).groupby(panel.StockCode).transform(
        lambda s: s.ffill().bfill())
    return panel.rename(columns={"StockCode": "sku"})[["sku", "week", "quantity", "price", "sold"]]


def demand_rows(panel: pd.DataFrame) -> pd.DataFrame:
    """The demand model's frame: one row per product and week with 4 weeks of history before it."""
    panel = panel.sort_values(["sku", "week"]).copy()
    by_sku = panel.groupby("sku").quantity
    panel["historical_demand"] = by_sku.transform(lambda s: s.shift(1).rolling(HISTORY_WEEKS).mean())
    panel["seasonality"] = np.sin(2 * np.pi * panel.week.dt.isocalendar().week.astype(float) / 52)
    panel["trend"] = ((panel.week - panel.week.min()).dt.days // 7).astype(float)
    panel["promotions"] = (panel.price < panel.groupby("sku").price.transform("median")).astype(float)
    panel["demand"] = panel.quantity
    return panel.dropna(subset=["historical_demand"]).reset_index(drop=True)


def lead_time_rows(demand: pd.DataFrame, rng: np.random.Generator, n: int = 1500) -> pd.DataFrame:
    """Synthetic lead times (days) on real order quantities and seasonality; see the module docstring."""
    rows = demand.sample(n=min(n, len(demand)), random_state=int(rng.integers(2**31))).reset_index(drop=True)
    skus = rows.sku.unique()
    base = pd.Series(rng.uniform(0.6, 1.0, len(skus)), index=skus)
    performance = np.clip(rows.sku.map(base).to_numpy() + rng.normal(0, 0.03, len(rows)), 0, 1)
    health = rng.uniform(0.6, 1.0, len(rows))
    quantity = np.round(HISTORY_WEEKS * rows.historical_demand.to_numpy())
    lead = (3 + 10 * (1 - performance) + 8 * (1 - health) + 0.002 * quantity
            + 1.5 * np.clip(rows.seasonality.to_numpy(), 0, None) + rng.normal(0, 1.0, len(rows)))
    return pd.DataFrame({"supplier_performance": performance, "order_quantity": quantity,
                         "supply_chain_health": health, "seasonality": rows.seasonality.to_numpy(),
                         "lead_time": np.clip(lead, 1, None)})


def pricing_rows(demand: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Weeks with sales: the real price as target, synthetic competitor price, cost and stock level."""
    sold = demand[demand.sold].reset_index(drop=True)
    median = sold.groupby("sku").price.transform("median").to_numpy()
    return pd.DataFrame({
        "historical_demand": sold.historical_demand.to_numpy(),
        "competitor_price": sold.price.to_numpy() * rng.lognormal(0, 0.1, len(sold)),
        "cost": 0.6 * median,
        "seasonality": sold.seasonality.to_numpy(),
        "inventory_level": np.round(sold.historical_demand.to_numpy() * rng.uniform(2, 6, len(sold))),
        "optimal_price": sold.price.to_numpy(),
    })


def bootstrap_frames(path: str | PathLike[str] | None = None, seed: int = 0) -> dict[str, pd.DataFrame]:
    """Training frames per built-in data type: ``demand``, ``lead_time``, ``pricing``."""
    rng = np.random.default_rng(seed)
    demand = demand_rows(weekly_sales(path))
    return {
        "demand": demand[["historical_demand", "seasonality", "trend", "price", "promotions", "demand"]].copy(),
        "lead_time": lead_time_rows(demand, rng),
        "pricing": pricing_rows(demand, rng),
    }
