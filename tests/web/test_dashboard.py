"""The dashboard's files as HTTP serves them: the page at / and /ui/..., assets cached by version."""
from __future__ import annotations

import configparser
import posixpath
import re
from fnmatch import fnmatch
from pathlib import Path
from types import SimpleNamespace

import pytest

from web import create_app
from web.dashboard import UI_DIR, bundle

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def client():
    # The dashboard's routes read no service state: a stand-in with no settings is enough.
    return create_app(SimpleNamespace(settings=None)).test_client()


def asset_urls(html: str) -> list[str]:
    return re.findall(r'(?:href|src)="(/ui/assets/[^"]+)"', html)


@pytest.mark.parametrize("path", ["/", "/ui/", "/ui/catalog", "/ui/changes", "/ui/providers", "/ui/benchmarks",
                                  "/ui/compare", "/ui/models/bedrock/anthropic.claude-3-haiku-20240307-v1:0"])
def test_the_page_is_served_at_root_and_at_each_of_its_paths(client, path):
    resp = client.get(path)
    assert resp.status_code == 200 and resp.mimetype == "text/html"
    assert resp.headers["Cache-Control"] == "no-cache" and resp.headers["ETag"]
    assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
    assert f"/ui/assets/{bundle().version}/app.js" in resp.get_data(as_text=True)


def test_a_path_the_dashboard_does_not_have_is_a_json_404(client):
    resp = client.get("/ui/nothing-here")
    assert resp.status_code == 404 and resp.get_json()["error"]["code"] == "not_found"


def test_the_page_is_revalidated_by_etag(client):
    etag = client.get("/").headers["ETag"]
    assert client.get("/", headers={"If-None-Match": etag}).status_code == 304


def test_assets_of_the_current_version_are_cached_for_a_year_and_revalidate_by_etag(client):
    urls = asset_urls(client.get("/").get_data(as_text=True))
    assert any(u.endswith("/app.js") for u in urls) and any(u.endswith("/app.css") for u in urls)
    for url in urls:
        resp = client.get(url)
        assert resp.status_code == 200, url
        assert resp.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert client.get(url, headers={"If-None-Match": resp.headers["ETag"]}).status_code == 304
    assert client.get(f"/ui/assets/{bundle().version}/app.js").mimetype == "text/javascript"


def test_an_asset_asked_for_under_another_version_is_served_but_not_cached_as_that_version(client):
    resp = client.get("/ui/assets/0123456789ab/app.js")
    assert resp.status_code == 200 and resp.headers["Cache-Control"] == "no-cache"


@pytest.mark.parametrize("name", ["nope.js", "../dashboard.py", "index.html", "pages/../../cli.py"])
def test_only_the_dashboards_own_assets_are_served(client, name):
    assert client.get(f"/ui/assets/{bundle().version}/{name}").status_code == 404


def test_every_module_the_page_imports_is_an_asset():
    assets = bundle().assets
    for name, asset in assets.items():
        if name.endswith(".js"):
            for target in re.findall(r'^import .* from "(\.[^"]+)";$', asset.body.decode(), flags=re.M):
                resolved = posixpath.normpath(posixpath.join(posixpath.dirname(name), target))
                assert resolved in assets, f"{name} imports {target}, which is not served"


def test_package_data_ships_every_dashboard_file():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    patterns = [p.strip() for p in cfg["options.package_data"]["web"].split(",")]
    for path in UI_DIR.rglob("*"):
        if path.is_file():
            name = path.relative_to(UI_DIR.parent).as_posix()
            assert any(fnmatch(name, p) for p in patterns), f"{name} is not in setup.cfg's package_data"
