"""``GET /api/v1`` (the API's resources) and ``GET /version`` (the running build)."""
from __future__ import annotations

from flask import Blueprint, jsonify, request

from discovery.build import build_info, package_version
from web.openapi.paths import operations

bp = Blueprint("about", __name__)


@bp.get("/api/v1")
def index():
    """The API's resources: every path under /api/v1 with its methods and summary, and where the
    OpenAPI document and its page are."""
    resources = []
    for path, item in operations().items():
        if not path.startswith("/api/v1/"):
            continue
        methods = [m.upper() for m in ("get", "post", "put", "patch", "delete") if m in item]
        first = item[methods[0].lower()]
        resources.append({"name": first["tags"][0], "path": path, "methods": methods, "summary": first["summary"]})
    return jsonify({"version": package_version(), "openapi": "/openapi.json", "docs": "/docs",
                    "resources": resources})


@bp.get("/version")
def version():
    """The package version, the Python it runs on and the build (source commit and date, when
    known); and ``admin_open``: whether a change sent from where this request came would be
    accepted with no token (a service without an admin token, asked on its loopback name from
    its own host), so the dashboard offers admin actions there without asking for one."""
    from web.auth import check_access, forwarded_by
    from web.context import service

    settings = service().settings
    host = request.headers.get("Host")
    own = f"{request.scheme}://{host}" if host else None  # the dashboard's own page sends its origin
    refusal = check_access("POST", "/api/v1/refresh", request.remote_addr, None, settings.admin_token,
                           settings.read_token, own, host, forwarded_by(request.headers))
    return jsonify({**build_info().to_dict(), "admin_open": refusal is None})


__all__ = ["bp", "package_version"]
