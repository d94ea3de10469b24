"""The dashboard's static files as an ASGI app, mounted by the gateway's admin app at ``/ui``.

The files are plain HTML, CSS and one hand-written ES module in ``sync/ui/static`` (no build step). They
hold no secret: a token, when JWT is on, is typed in (or handed over by ``inventory-system token --link``
in the URL's fragment, which browsers never send) and kept in the tab's ``sessionStorage``. Every
answer carries a strict Content-Security-Policy (scripts and styles from this origin only, no inline
script) so an injected string cannot run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

from sync.settings import Settings

STATIC_DIR = Path(__file__).parent / "static"
PREFIX = "/ui"

SECURITY_HEADERS = [
    (b"content-security-policy", b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                                 b"connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-cache"),  # revalidate (ETag): a new release is picked up at once
]


class DashboardApp:
    """Static files plus the security headers above (the admin app's router redirects ``/ui`` to ``/ui/``)."""

    def __init__(self, directory: Path = STATIC_DIR) -> None:
        self.files = StaticFiles(directory=directory, html=True)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name for name, _ in SECURITY_HEADERS}
                headers = [(k, v) for k, v in message.get("headers", ()) if k.lower() not in names]
                message["headers"] = [*headers, *SECURITY_HEADERS]
            await send(message)

        await self.files(scope, receive, with_headers)


def dashboard_link(settings: Settings, token: str) -> str:
    """The dashboard's address with ``token`` in the fragment (kept by the page, never sent to a server)."""
    base = settings.CLI_GATEWAY_URL or f"http://127.0.0.1:{settings.GATEWAY_PORT}"
    return f"{base.rstrip('/')}{PREFIX}/#token={quote(token, safe='')}"


def mount_dashboard(app: Any) -> None:
    """Mount the dashboard on a Starlette/FastAPI ``app`` at ``/ui`` (the gateway's admin app)."""
    app.mount(PREFIX, DashboardApp(), name="ui")

