"""Inventory Improvements System: stock ledger, analytics, ML and an API gateway."""

__version__ = "0.1.0"  # the package version (pyproject.toml reads it); every service reports it
