"""/api/v1/providers: status of every source and its models."""
from __future__ import annotations

from flask import Blueprint, jsonify, request

from discovery.sources import region_of
from web.context import service
from web.errors import ApiError
from web.history import models_as_of
from web.models import _page, _query_args
from web.parameters import follower_takes_region, known_providers

bp = Blueprint("providers", __name__, url_prefix="/api/v1")


@bp.get("/providers")
def list_providers():
    """Every configured provider: status, breaker state, last refresh, model count; and each stored
    source whose models are kept though the settings do not name it, as ``unconfigured``."""
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


@bp.get("/providers/<name>/health")
def provider_health(name: str):
    """The provider's health record: status, last check and latency, error rate and uptime over
    the window, consecutive failures/successes, and the recent checks (``?history=N``).

    :raise 404: no provider by that name.
    :raise 503: the provider's actor is restarting or failed.
    """
    from actors.service import ProviderUnavailable, UnknownProvider
    from web.context import int_arg

    try:
        return jsonify(service().health(name, int_arg("history", 50, 0, 100)))
    except UnknownProvider:
        raise ApiError(404, "provider_not_found", f"no provider {name!r}") from None
    except ProviderUnavailable as exc:
        raise ApiError(503, "provider_unavailable", str(exc)) from None


@bp.get("/providers/<name>/models")
def provider_models(name: str):
    """The provider's models (same filters and paging as /api/v1/models).

    Any provider ``?provider=`` accepts: a configured one, one only a catalog lists, ``bedrock``,
    or a watched region (``bedrock@<region>``: Bedrock's models offered there).

    :raise 404: no provider by that name.
    """
    if name not in known_providers(service()) and not follower_takes_region(service(), region_of(name)):
        raise ApiError(404, "provider_not_found", f"no provider {name!r}")
    if "as_of" in request.args:  # as the catalog stood then (web/history.py)
        return models_as_of({**_query_args(("provider",)), "provider": [name]})
    return _page(_query_args(("provider",)), provider=name)
