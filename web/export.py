"""/api/v1/export/litellm: the catalog as a LiteLLM proxy ``model_list`` (discovery/export.py).

Filtered as ``GET /api/v1/models`` filters (every matching model, no paging); ``names=provider``
names each deployment by the provider's own id instead of the id here.
"""
from __future__ import annotations

import time

from flask import Blueprint, jsonify, request

from discovery.bedrock import rank_regions
from discovery.export import NAMES, litellm_model_list
from discovery.model import Model
from discovery.query import ModelQuery, QueryError
from discovery.settings import ProviderConfig
from discovery.timestamps import iso
from web.context import service
from web.errors import ApiError
from web.parameters import check_providers, values

bp = Blueprint("export", __name__, url_prefix="/api/v1/export")


@bp.get("/litellm")
def litellm():
    """Every matching model a configured provider lists, as LiteLLM ``model_list`` deployments;
    ``skipped`` names those that could not be mapped and why, ``catalog_only`` counts the models
    only a catalog knows (left out: no key here calls them).

    :raise 400: an unknown parameter (paging ones too) or filter value, or ``names`` other than id or provider.
    """
    svc = service()
    # Parameters the OpenAPI document does not name here (sort, limit, offset: the export has
    # every matching model) were refused before this view (web/parameters.py).
    args = {k: v for k, v in request.args.to_dict(flat=False).items() if k != "names"}
    names = request.args.get("names", "id")
    if names not in NAMES:
        raise ApiError(400, "invalid_parameter", f"names must be one of {', '.join(NAMES)}, got {names!r}")
    check_providers(svc, values("provider"))
    try:
        query = ModelQuery.from_args(args)
    except QueryError as exc:
        raise ApiError(400, "invalid_query", str(exc)) from None
    index, performance = svc.index, svc.view.performance
    models = [e.model() for e in index.pick(query.bits(index, performance))]
    providers = {p.name: p for p in svc.settings.providers if p.enabled}
    if svc.settings.bedrock.enabled:
        providers["bedrock"] = ProviderConfig(name="bedrock", format="bedrock")
    board = svc.bedrock_board.snapshot() if svc.bedrock_board is not None else {}

    def best_region(model: Model) -> str | None:
        ranked = rank_regions(model.regions or (), (), board, performance.region_ttft(model.id))
        return ranked[0] if ranked else None

    entries, skipped, catalog_only = litellm_model_list(models, providers, best_region, names)
    return jsonify({"model_list": entries, "skipped": skipped, "catalog_only": catalog_only,
                    "catalog_version": index.version, "generated_at": iso(time.time())})
