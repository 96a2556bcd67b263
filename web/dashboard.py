"""The dashboard: one page (``web/ui/index.html``) and its static assets, served from the package.

The page reads the public API only (``/api/v1/...``), exactly as a client would; nothing here
queries the service. Assets are served under ``/ui/assets/<version>/``, where the version is a
hash of every asset: they are cached for a year and a new release is fetched at once. The ES
modules import each other by relative path, so they share that versioned prefix with no build
step. The page itself is revalidated on every load (ETag).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from flask import Blueprint, Response, request

from discovery.diff import EVENT_KINDS
from discovery.entry import SORT_FIELDS
from discovery.model import CAPABILITIES, KINDS, MODALITIES, STATUSES
from discovery.query import DEFAULT_LIMIT, PERFORMANCE_SORTS
from web.errors import ApiError

bp = Blueprint("dashboard", __name__)

UI_DIR = Path(__file__).with_name("ui")
# First path segments under /ui/ the page routes itself (web/ui/app.js).
PAGES = ("catalog", "compare", "models", "changes", "providers", "benchmarks")
CONTENT_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
                 ".svg": "image/svg+xml", ".txt": "text/plain; charset=utf-8"}
IMMUTABLE = "public, max-age=31536000, immutable"
# Everything the page loads comes from this origin; no inline script, no inline style attribute.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
MAX_COMPARE = 10


@dataclass(frozen=True)
class Asset:
    """One static file as served: its bytes, content type and ETag."""

    body: bytes
    content_type: str
    etag: str


@dataclass(frozen=True)
class Bundle:
    """Every asset, their common version, and the page with that version filled in."""

    version: str
    assets: dict[str, Asset]
    page: Asset


def page_config(version: str) -> dict:
    """What the page needs to know that is not data: the taxonomy's fixed names, the API's sort fields."""
    return {"version": version, "capabilities": list(CAPABILITIES), "kinds": list(KINDS),
            "modalities": list(MODALITIES), "statuses": list(STATUSES), "sorts": list(SORT_FIELDS),
            "performance_sorts": list(PERFORMANCE_SORTS),
            "event_kinds": list(EVENT_KINDS), "max_compare": MAX_COMPARE, "default_limit": DEFAULT_LIMIT}


@lru_cache(maxsize=1)
def bundle() -> Bundle:
    """The assets read from the package once per process."""
    assets: dict[str, Asset] = {}
    digest = hashlib.sha256()
    for path in sorted(UI_DIR.rglob("*")):
        name = path.relative_to(UI_DIR).as_posix()
        if not path.is_file() or name == "index.html" or path.suffix not in CONTENT_TYPES:
            continue
        body = path.read_bytes()
        digest.update(name.encode() + b"\0" + body)
        assets[name] = Asset(body, CONTENT_TYPES[path.suffix], hashlib.sha256(body).hexdigest()[:16])
    version = digest.hexdigest()[:12]
    # A data block, not a script: the CSP needs no exception, and '<' is escaped so no value can
    # close the element.
    config = json.dumps(page_config(version)).replace("<", "\\u003c")
    text = (UI_DIR / "index.html").read_text(encoding="utf-8")
    body = text.replace("{{version}}", version).replace("{{config}}", config).encode()
    page = Asset(body, "text/html; charset=utf-8", hashlib.sha256(body).hexdigest()[:16])
    return Bundle(version, assets, page)


def _page() -> Response:
    page = bundle().page
    resp = Response(page.body, content_type=page.content_type)
    resp.headers.update({"Cache-Control": "no-cache", "Content-Security-Policy": CSP,
                         "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"})
    resp.set_etag(page.etag)
    return resp.make_conditional(request)


@bp.get("/")
@bp.get("/ui/")
def home():
    """The dashboard page (the catalog first)."""
    return _page()


@bp.get("/ui/<page>")
@bp.get("/ui/<page>/<path:rest>")
def page(page: str, rest: str = ""):
    """The dashboard page for one of its own paths (``/ui/models/<id>``, ``/ui/changes``, ...).

    :raise 404: a path the dashboard does not have: to a browser, the page itself with status 404
        (it shows "Not found" with its navigation); to anything else, the JSON error.
    """
    if page not in PAGES:
        if request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html":
            resp = _page()
            if resp.status_code == 200:
                resp.status_code = 404
            return resp
        raise ApiError(404, "not_found", f"the dashboard has no page {page[:100]!r}; pages: {', '.join(PAGES)}")
    return _page()


@bp.get("/ui/assets/<version>/<path:name>")
def asset(version: str, name: str):
    """A static asset. Under the current version it may be cached for a year; under any other
    (a page older than this release) it is served revalidated, never cached as that version.

    :raise 404: no such asset.
    """
    found = bundle().assets.get(name)
    if found is None:
        raise ApiError(404, "not_found", f"no dashboard asset {name[:100]!r}")
    resp = Response(found.body, content_type=found.content_type)
    resp.headers["Cache-Control"] = IMMUTABLE if version == bundle().version else "no-cache"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.set_etag(found.etag)
    return resp.make_conditional(request)
