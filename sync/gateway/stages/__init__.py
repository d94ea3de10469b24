"""The gateway's request stages, each a plain ASGI class; their order is declared in :mod:`sync.gateway.pipeline`."""
