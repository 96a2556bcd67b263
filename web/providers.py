"""/api/v1/providers: status of every source and its models."""
from __future__ import annotations

from flask import Blueprint, jsonify

from web.context import service
from web.errors import ApiError
from web.models import _page, _query_args

bp = Blueprint("providers", __name__, url_prefix="/api/v1")


@bp.get("/providers")
def list_providers():
    """Every configured provider: status, breaker state, last refresh, model count."""
    return jsonify({"data": service().providers()})


@bp.get("/providers/<name>")
def get_provider(name: str):
    """One provider's status.

    :raise 404: no provider by that name.
    """
    for p in service().providers():
        if p["name"] == name:
            return jsonify(p)
    raise ApiError(404, "provider_not_found", f"no provider {name!r}; configured: {', '.join(service().provider_names())}")


@bp.get("/providers/<name>/models")
def provider_models(name: str):
    """The provider's models (same filters and paging as /api/v1/models).

    :raise 404: no provider by that name.
    """
    if name not in service().provider_names():
        raise ApiError(404, "provider_not_found", f"no provider {name!r}")
    return _page(_query_args(("provider",)), provider=name)
