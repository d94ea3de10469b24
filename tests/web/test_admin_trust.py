"""Trust between services (issue 14): the services' admin routes take the admin token or an admin-scoped
JWT, never a loopback address alone (behind the gateway every caller is loopback)."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from fastapi import Depends

from sync import cli
from sync.gateway.auth import issue_token
from sync.settings import Settings
from sync.web import create_service_app, require_admin
from sync.web.admin_token import load_or_create, with_admin_token
from tests.serving import running


def _app(settings: Settings) -> object:
    app = create_service_app(title="probe", settings=settings)

    @app.post("/admin", dependencies=[Depends(require_admin)])
    def admin() -> dict[str, bool]:
        return {"ok": True}

    return app


@pytest.fixture
def serve() -> Iterator[object]:
    """Serve an app with a real uvicorn on 127.0.0.1, so the caller really is loopback."""
    with ExitStack() as servers:
        yield lambda settings: servers.enter_context(running(_app(settings)))


def test_a_loopback_caller_without_a_token_is_refused(serve: object) -> None:
    base = serve(Settings())  # type: ignore[operator]
    resp = httpx.post(f"{base}/admin", timeout=10)
    assert resp.status_code == 403, resp.text
    assert "ADMIN_TOKEN" in resp.json()["error"]["message"]
    forwarded = httpx.post(f"{base}/admin", headers={"X-Forwarded-For": "127.0.0.1"}, timeout=10)
    assert forwarded.status_code == 403


@pytest.mark.slow
def test_a_loopback_caller_needs_the_token_even_so(serve: object) -> None:
    base = serve(Settings(ADMIN_TOKEN="s3cret"))  # type: ignore[arg-type, operator]
    assert httpx.post(f"{base}/admin", timeout=10).status_code == 401
    assert httpx.post(f"{base}/admin", headers={"Authorization": "Bearer s3cret"}, timeout=10).status_code == 200


def test_an_admin_scoped_jwt_is_accepted(serve: object) -> None:
    secret = "jwt-secret-for-tests-0123456789abcdef"
    base = serve(Settings(JWT_SECRET=secret))  # type: ignore[arg-type, operator]
    admin = issue_token(secret, "ops", ["admin"])
    reader = issue_token(secret, "ops", ["read"])
    forged = issue_token("another-secret-0123456789abcdef-xyz", "ops", ["admin"])
    assert httpx.post(f"{base}/admin", headers={"Authorization": f"Bearer {admin}"}, timeout=10).status_code == 200
    assert httpx.post(f"{base}/admin", headers={"Authorization": f"Bearer {reader}"}, timeout=10).status_code == 403
    assert httpx.post(f"{base}/admin", headers={"Authorization": f"Bearer {forged}"}, timeout=10).status_code == 401
    assert httpx.post(f"{base}/admin", timeout=10).status_code == 401


def test_the_per_install_token_is_private_random_and_stable(tmp_path: Path) -> None:
    path = tmp_path / "var" / "admin-token"
    with ThreadPoolExecutor(8) as pool:  # several services starting at once agree on one token
        tokens = set(pool.map(lambda _: load_or_create(path), range(16)))
    assert len(tokens) == 1
    token = tokens.pop()
    assert len(token) >= 40
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create(path) == token
    assert with_admin_token(Settings(), path).ADMIN_TOKEN.get_secret_value() == token  # type: ignore[union-attr]
    assert with_admin_token(Settings(ADMIN_TOKEN="set"), path).ADMIN_TOKEN.get_secret_value() == "set"  # type: ignore[arg-type, union-attr]
    assert load_or_create(tmp_path / "other") != token


def test_cli_prints_the_token_services_take(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ADMIN_TOKEN", raising=False)
    assert cli.main(["admin-token"]) == 0
    printed = capsys.readouterr().out.strip()
    assert printed == (tmp_path / "var" / "admin-token").read_text().strip()
    served: list[Settings] = []
    monkeypatch.setattr("sync.web.server.serve", lambda app, **kwargs: served.append(app.state.settings))
    assert cli.main(["serve", "inventory", "--port", "1"]) == 0
    assert served[0].ADMIN_TOKEN is not None and served[0].ADMIN_TOKEN.get_secret_value() == printed
