"""Analytics service: inventory KPIs and ABC/XYZ classification, computed from the inventory service.

The service reads the inventory service over HTTP only (``INVENTORY_URL``, the contract in
``docs/CONTRACTS.md``); the computations are pure pandas functions in :mod:`sync.analytics.kpis`,
:mod:`sync.analytics.classification` and :mod:`sync.analytics.reorder` so they can be tested on frames.
"""
