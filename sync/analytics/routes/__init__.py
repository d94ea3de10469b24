"""One router per resource of the analytics service."""

from sync.analytics.routes import classification, health, kpis, metrics, reorder, stock_value

ROUTERS = (health.router, metrics.router, kpis.router, classification.router, reorder.router,
           stock_value.router)

__all__ = ["ROUTERS"]
