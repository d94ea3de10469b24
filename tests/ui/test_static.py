"""The dashboard's files as the gateway serves them at /ui/ (in-process gateway, no services needed)."""

from __future__ import annotations

from pathlib import Path

import jwt
import pytest

from sync.api_gateway import APIGateway
from sync.cli import main
from sync.ui.app import STATIC_DIR
from tests.gateway.conftest import ADMIN, SECRET, direct, make_settings

pytestmark = pytest.mark.anyio


async def test_the_gateway_serves_the_dashboard_with_a_strict_content_security_policy() -> None:
    async with direct(APIGateway(settings=make_settings())) as client:
        page = await client.get("/ui/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert '<script type="module" src="app.js"></script>' in page.text
        csp = page.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "default-src 'none'" in csp and "unsafe-inline" not in csp
        assert page.headers["x-content-type-options"] == "nosniff"
        bare = await client.get("/ui")
        assert bare.status_code in (307, 308) and bare.headers["location"].endswith("/ui/")
        script = await client.get("/ui/app.js")
        assert script.status_code == 200 and "javascript" in script.headers["content-type"]
        assert (await client.get("/ui/style.css")).headers["content-type"].startswith("text/css")


async def test_a_missing_file_or_a_path_out_of_the_folder_is_a_404_in_the_error_shape() -> None:
    async with direct(APIGateway(settings=make_settings())) as client:
        missing = await client.get("/ui/nothing.js")
        assert missing.status_code == 404 and missing.json()["error"]["code"]
        for path in ("/ui/%2e%2e/app.py", "/ui/..%2fapp.py", "/ui/../settings.py"):
            resp = await client.get(path)
            assert resp.status_code in (400, 404), path
            assert "import" not in resp.text, path


async def test_with_jwt_on_the_page_needs_no_token_holds_no_secret_and_the_api_still_does() -> None:
    gateway = APIGateway(settings=make_settings(JWT_SECRET=SECRET))
    async with direct(gateway) as client:
        for name in sorted(p.name for p in STATIC_DIR.iterdir()):
            resp = await client.get(f"/ui/{name}")
            assert resp.status_code == 200, name
            assert SECRET not in resp.text, name
        assert (await client.get("/services")).status_code == 401


async def test_no_service_can_take_the_ui_prefix() -> None:
    async with direct(APIGateway(settings=make_settings())) as client:
        resp = await client.post("/services/ui", headers=ADMIN, json={"name": "ui-1", "url": "http://127.0.0.1:9",
                                                       "health_check_url": "http://127.0.0.1:9/health"})
        assert resp.status_code == 422 and resp.json()["error"]["details"]["field"] == "service_name"


def test_the_static_files_ship_inside_the_package() -> None:
    pyproject = (Path(__file__).parents[2] / "pyproject.toml").read_text()
    assert '"ui/static/*"' in pyproject
    assert {"index.html", "app.js", "style.css"} <= {p.name for p in STATIC_DIR.iterdir()}


def test_token_link_puts_the_token_in_the_fragment(monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("JWT_SECRET", SECRET)
    monkeypatch.setenv("GATEWAY_PORT", "8123")
    monkeypatch.delenv("CLI_GATEWAY_URL", raising=False)
    assert main(["token", "--scope", "admin", "--link"]) == 0
    link = capsys.readouterr().out.strip()
    assert link.startswith("http://127.0.0.1:8123/ui/#token=")
    claims = jwt.decode(link.split("#token=", 1)[1], SECRET, algorithms=["HS256"])
    assert claims["scope"] == "admin"
