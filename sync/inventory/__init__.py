"""The inventory service: SKUs, locations, cached stock levels over an append-only movement ledger."""
