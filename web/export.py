"""/api/v1/export/litellm: the catalog as a LiteLLM proxy ``model_list`` (discovery/export.py).

Filtered as ``GET /api/v1/models`` filters (every matching model, no paging); ``names=provider``
names each deployment by the provider's own id instead of the id here.
"""
from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterable
from typing import Any
from weakref import WeakKeyDictionary

from cachetools import TTLCache
from flask import Blueprint, Response, request

from actors.heap import release_free_memory
from discovery.bedrock import PROVIDER as BEDROCK
from discovery.bedrock import RegionStatus, rank_regions
from discovery.export import NAMES, encode_entry, litellm_model_list
from discovery.model import Model, dumps
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
    if query.live is False:
        # The export has the models a configured provider lists, never a catalog's alone: this
        # selected none, and answered an empty model_list as if all were well.
        raise ApiError(400, "invalid_parameter", "live=false selects nothing here: the export has only the models "
                                                 "a configured provider lists (catalog-only ones are counted in "
                                                 "catalog_only)")
    index, performance = svc.index, svc.view.performance
    statuses, health = _region_health(svc)
    key = (index.version, names, tuple(sorted((k, tuple(v)) for k, v in args.items())), health)
    with _lock:
        made = _made.setdefault(svc, _Exports())
        found = made.get(key)
    if found is not None and found[0] is performance:
        return _answer(found[1], found[2])
    body, tag = _export(svc, (e.model() for e in index.pick(query.bits(index, performance))), statuses, names)
    # The records decoded for it are garbage now: their heap goes back to the system (at 10k
    # models the export left 16 MB more resident).
    release_free_memory()
    with _lock:
        made.put(key, (performance, body, tag))
    return _answer(body, tag)


def _answer(body: bytes, tag: str) -> Response:
    resp = Response(body, mimetype="application/json")
    resp.set_etag(tag)
    return resp


def _region_health(svc: Any) -> tuple[dict[str, RegionStatus] | None, tuple]:
    """(the Bedrock regions' statuses, or None when a follower's leader did not answer for them
    (Service.region_statuses: asked at most once in twice ask_timeout); which regions can be
    called, for the cache key)."""
    if not svc.settings.bedrock.enabled:
        return {}, ()
    statuses = svc.region_statuses()
    if statuses is None:
        return None, ("unknown",)
    return statuses, tuple(sorted((r, _callable(s)) for r, s in statuses.items()))


def _callable(status: RegionStatus | None) -> bool:
    """Whether a region may be exported: any but one whose last refresh failed (one not yet tried,
    at a restart, is no failure)."""
    return status is None or status.status in ("available", "starting")


# Exports made, per service, by catalog version, measured performance and parameters, for a
# minute: a gateway polling its list costs one build a minute (0.5 s of CPU at 10k models), and a
# Bedrock model's region follows the regions' health and latency within that minute.
EXPORT_TTL = 60.0
EXPORT_BYTES = 8 << 20  # the exports kept, by their size: a whole 10k catalog's is 2.3 MB
_made: WeakKeyDictionary = WeakKeyDictionary()
_lock = threading.Lock()


class _Exports:
    """The exports kept for one service: any number within EXPORT_BYTES together, and besides them
    the newest one larger than that alone (a whole 100k catalog's is 23 MB and took 3-5 s of CPU to
    make, at every poll while it fitted nowhere)."""

    def __init__(self) -> None:
        self.small: TTLCache = TTLCache(maxsize=EXPORT_BYTES, ttl=EXPORT_TTL, getsizeof=lambda v: len(v[1]))
        self.large: TTLCache = TTLCache(maxsize=1, ttl=EXPORT_TTL)

    def get(self, key: tuple) -> Any:
        return self.small.get(key) or self.large.get(key)

    def put(self, key: tuple, made: tuple) -> None:
        (self.small if len(made[1]) <= self.small.maxsize else self.large)[key] = made


def _export(svc: Any, models: Iterable[Model], statuses: dict[str, RegionStatus] | None,
            names: str) -> tuple[bytes, str]:
    index, performance = svc.index, svc.view.performance
    providers = {p.name: p for p in svc.settings.providers if p.enabled}
    if svc.settings.bedrock.enabled:
        providers[BEDROCK] = ProviderConfig(name=BEDROCK, format=BEDROCK)
    known = statuses or {}

    def regions(model: Model) -> list[str]:
        return rank_regions(model.regions or (), (), known, performance.region_ttft(model.id))

    # Each entry is encoded as it is made: the body is their JSON joined, then the rest.
    entries, skipped, catalog_only = litellm_model_list(
        models, providers, regions, lambda region: _callable(known.get(region)), names,
        encode=lambda entry: encode_entry(entry, dumps), record_of=index.get,
        runtime_endpoint=svc.settings.bedrock.runtime_endpoint_url if svc.settings.bedrock.enabled else None)
    said: dict[str, Any] = {"skipped": skipped, "catalog_only": catalog_only}
    if statuses is None:
        said["regions_health"] = ("unknown: the leader did not answer for the Bedrock regions' health; "
                                  "regions ranked by measured TTFT alone")
    # The tag covers what a gateway takes from the export, not when or by which instance it was
    # made (generated_at, catalog_version): the same list is a 304 on every instance and rebuild.
    digest = hashlib.blake2b(digest_size=16)
    for part in (*entries, dumps(said)):
        digest.update(part)
    rest = {**said, "catalog_version": index.version, "generated_at": iso(time.time())}
    return b"".join((b'{"model_list":[', b",".join(entries), b"],", dumps(rest)[1:])), digest.hexdigest()
