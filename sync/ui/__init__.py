"""The planner's dashboard (static files served by the gateway at ``/ui/``) and the operator's CLI commands.

Both use only the public HTTP API through the gateway. ``sync.ui.app.dashboard_app()`` is the ASGI app
the gateway mounts; ``sync.ui.cli_commands`` holds the ``inventory-system`` commands' logic.
"""
