"""Purchasing: suppliers, purchase orders (draft -> approved -> sent -> received, or cancelled) and SKU upkeep.

A purchase order's units count as ``incoming`` on the level of its SKU at its location from approval until they
are received or the order is cancelled; a receipt is a movement plan (``store/plan.py``: on hand up, incoming
down, a ``receipt`` ledger row) run by the same code as ``POST /movements``, in the same transaction as the
order line's ``received``.
"""
