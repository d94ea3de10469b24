"""``inventory-system``: start the stack, serve one service, import sales history, issue tokens; and the
operator's client commands (status, plan, forecast, backtest, orders; logic in ``sync.ui.cli_commands``)."""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
from collections.abc import Sequence
from typing import Any

from sync import __version__
from sync.settings import Settings

#: service name -> (module, factory); each factory takes a Settings and returns an ASGI app. The gateway
#: is not among them: it has its own launch (:func:`sync.gateway.launch.serve_gateway`).
SERVICE_FACTORIES: dict[str, tuple[str, str]] = {
    "inventory": ("sync.inventory.app", "create_app"),
    "analytics": ("sync.analytics.app", "create_app"),
    "ml": ("sync.ml.service", "create_app"),
}
SERVICES = (*SERVICE_FACTORIES, "gateway")


def build_app(name: str, settings: Settings) -> Any:
    module_name, factory_name = SERVICE_FACTORIES[name]
    return getattr(importlib.import_module(module_name), factory_name)(settings)


def _cmd_up(args: argparse.Namespace, settings: Settings) -> int:
    from sync.supervisor import Supervisor
    from sync.web.admin_token import TOKEN_FILE, with_admin_token

    if settings.ADMIN_TOKEN is None:  # each `serve` child reads the same per-install file
        with_admin_token(settings)
        print(f"admin routes take the token in {TOKEN_FILE} (inventory-system admin-token prints it)")
    return Supervisor(settings, replicas=args.replicas).run()


def _cmd_admin_token(args: argparse.Namespace, settings: Settings) -> int:
    from sync.web.admin_token import with_admin_token

    token = with_admin_token(settings).ADMIN_TOKEN
    assert token is not None
    print(token.get_secret_value())
    return 0


def _cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    if args.service == "gateway":
        from sync.gateway.launch import serve_gateway

        return serve_gateway(settings, host=args.host, port=args.port, workers=args.workers)
    if args.workers:
        print("--workers: only the gateway runs several processes", file=sys.stderr)
        return 2
    from sync.web.admin_token import with_admin_token
    from sync.web.server import serve

    default_port = {"inventory": settings.INVENTORY_PORT, "analytics": settings.ANALYTICS_PORT,
                    "ml": settings.ML_PORT}[args.service]
    settings = with_admin_token(settings)  # admin routes always need a token: ADMIN_TOKEN or the per-install one
    serve(build_app(args.service, settings), host=args.host or settings.SERVICE_HOST, port=args.port or default_port,
          log_level=settings.LOG_LEVEL)
    return 0


def _cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    from sync.inventory.importer import import_transactions

    report = import_transactions(args.path, database_url=args.database_url or settings.DATABASE_URL,
                                 progress=not args.quiet)
    print(json.dumps(report.to_dict(), indent=2, default=str))
    return 0


def _cmd_token(args: argparse.Namespace, settings: Settings) -> int:
    from sync.gateway.auth import issue_token

    if settings.JWT_SECRET is None:
        print("JWT_SECRET is not set: there is no key to sign a token with", file=sys.stderr)
        return 2
    token = issue_token(settings.JWT_SECRET.get_secret_value(), args.subject, args.scope,
                        ttl_seconds=args.ttl, audience=settings.JWT_AUDIENCE, issuer=settings.JWT_ISSUER)
    if args.link:
        from sync.ui.app import dashboard_link

        token = dashboard_link(settings, token)
    print(token)
    return 0


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is less than 1")
    return value


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="inventory-system",
        description="Inventory Improvements System: stock ledger, analytics, ML and an API gateway. "
        "Configuration comes from environment variables (see the README).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="start all four services (gateway :8000, inventory :8004, analytics :8005, "
                                   "ML :8006) and stop them together on Ctrl-C")
    up.add_argument("--replicas", type=_positive, default=1, metavar="N",
                    help="N inventory instances (ports INVENTORY_PORT + 100*i) and N gateway workers, balanced by "
                         "the gateway; N > 1 needs REDIS_URL and a PostgreSQL DATABASE_URL")
    up.set_defaults(func=_cmd_up)

    serve = sub.add_parser("serve", help="run one service in this process")
    serve.add_argument("service", choices=sorted(SERVICES))
    serve.add_argument("--host", default=None)
    serve.add_argument("--port", type=int, default=None)
    serve.add_argument("--workers", type=int, default=None,
                       help="gateway only: processes sharing the port (default GATEWAY_WORKERS; >1 needs REDIS_URL)")
    serve.set_defaults(func=_cmd_serve)

    imp = sub.add_parser("import", help="import sales history (Online Retail II CSV, .csv or .csv.xz, "
                                        "or the generic format) into the inventory database")
    imp.add_argument("path")
    imp.add_argument("--database-url", default=None, help="default: DATABASE_URL")
    imp.add_argument("--quiet", action="store_true", help="no progress bar")
    imp.set_defaults(func=_cmd_import)

    adm = sub.add_parser("admin-token", help="print the services' admin token (ADMIN_TOKEN, else the "
                                             "per-install one in var/admin-token, created if missing)")
    adm.set_defaults(func=_cmd_admin_token)

    tok = sub.add_parser("token", help="issue a JWT signed with JWT_SECRET")
    tok.add_argument("--subject", default="operator")
    tok.add_argument("--scope", action="append", default=[], help="repeatable, e.g. --scope admin")
    tok.add_argument("--ttl", type=int, default=3600, help="seconds until it expires")
    tok.add_argument("--link", action="store_true", help="print the dashboard's address with the token in its "
                                                         "fragment (never sent to a server): open it to sign in")
    tok.set_defaults(func=_cmd_token)

    from sync.ui.cli_commands import add_commands

    add_commands(sub)  # status, plan, forecast, backtest, orders: clients of the gateway's HTTP API
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    settings = Settings()
    logging.basicConfig(level=settings.LOG_LEVEL.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return int(args.func(args, settings))


if __name__ == "__main__":
    sys.exit(main())
