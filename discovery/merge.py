"""From what each source reports to the one published catalog.

Live sources (a provider's own model list) own the models they list: each live model is matched
to an entry of every catalog (models.dev, LiteLLM) by the rules in :mod:`discovery.enrich` and
enriched field by field (live value, then the catalogs in precedence order, then the id
heuristic), every field recording its source in ``provenance``. Catalog entries no live model
matched are published as catalog-only models, ``live=False``; entries with the same id in
several catalogs are combined by the same precedence (exact ids only: a catalog's dated and
undated ids are distinct models there).

This is a pure function of its inputs, recomputed on every snapshot, so it is built for speed:
each catalog's lookup index, the combined catalog-only models and each live source's enriched
models are cached, keyed by the identities of the Model objects passed in (in order). Callers
that keep unchanged records as the same instances across snapshots (the catalog state does) hit
the cache for every source but the one that changed, whether they pass tuples or fresh lists.
"""
from __future__ import annotations

import operator
import threading
from collections import OrderedDict
from collections.abc import Hashable, Iterable, Mapping
from typing import Any

from discovery.enrich import (
    CatalogIndex,
    FieldOrder,
    Precedence,
    combine,
    live_match_keys,
)
from discovery.model import Model

_CACHE_SIZE = 16
_lock = threading.Lock()
_indexes: OrderedDict[Hashable, tuple[tuple[Model, ...], CatalogIndex]] = OrderedDict()
_catalog_only: OrderedDict[Hashable, tuple[tuple[Any, ...], dict[str, Model]]] = OrderedDict()
_enriched: OrderedDict[Hashable, tuple[tuple[Any, ...], list[Model], frozenset[str]]] = OrderedDict()
_ENRICHED_CACHE_SIZE = 256


def _remember(cache: OrderedDict, key: Hashable, value: Any, size: int = _CACHE_SIZE) -> None:
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > size:
        cache.popitem(last=False)


def _identity(models: Iterable[Model]) -> tuple[tuple[Model, ...], int]:
    """The models as a tuple, and a hash of their object identities in order."""
    items = models if isinstance(models, tuple) else tuple(models)
    return items, hash(tuple(map(id, items)))


def _same(cached: tuple[Model, ...], items: tuple[Model, ...]) -> bool:
    # The cache holds the objects it was built from, so their ids cannot have been reused.
    return cached is items or (len(cached) == len(items) and all(map(operator.is_, cached, items)))


def catalog_index(source: str, models: Iterable[Model]) -> CatalogIndex:
    """The lookup index of one catalog, cached while the same Model objects are passed in."""
    items, fingerprint = _identity(models)
    key = (source, len(items), fingerprint)
    with _lock:
        hit = _indexes.get(key)
        if hit is not None and _same(hit[0], items):
            _indexes.move_to_end(key)
            return hit[1]
    index = CatalogIndex(source, items)
    with _lock:
        _remember(_indexes, key, (items, index))
    return index


def _combined_catalog_only(indexes: list[CatalogIndex], order: FieldOrder) -> dict[str, Model]:
    """Every catalog id, its entries from all catalogs combined field by field."""
    key = (tuple((ix.source, id(ix)) for ix in indexes), order.key)
    with _lock:
        hit = _catalog_only.get(key)
        if hit is not None and all(a is b for a, b in zip(hit[0], indexes)):
            return hit[1]
    grouped: dict[str, dict[str, Model]] = {}
    for ix in indexes:
        for model_id, m in ix.by_id.items():
            grouped.setdefault(model_id, {})[ix.source] = m
    out: dict[str, Model] = {}
    for model_id, by_source in grouped.items():
        template = next(iter(by_source.values()))
        # An id only one catalog lists is that catalog's entry as it is (already with provenance).
        out[model_id] = template if len(by_source) == 1 else combine(None, by_source, order, template=template)
    with _lock:
        _remember(_catalog_only, key, (tuple(indexes), out))
    return out


def _enrich_all(models: Iterable[Model], indexes: list[CatalogIndex], order: FieldOrder,
                names: Mapping[str, str]) -> tuple[list[Model], frozenset[str]]:
    """One live source's models enriched, and the ids of the catalog entries they absorbed."""
    enriched: list[Model] = []
    absorbed: set[str] = set()
    for m in models:
        provider = names.get(m.provider, m.provider)
        keys = live_match_keys(m)
        matches: dict[str, Model] = {}
        for ix in indexes:
            hit = ix.lookup(provider, keys)
            if hit is not None:
                matches[ix.source] = hit
                absorbed.add(hit.id)
        # A catalog entry under one of the model's aliases is the same model, not another one.
        for alias in m.attributes.get("aliases") or ():
            absorbed.add(f"{provider}/{alias}")
        enriched.append(combine(m, matches, order))
    return enriched, frozenset(absorbed)


def _enriched_live(source: str, models: Iterable[Model], indexes: list[CatalogIndex], order: FieldOrder,
                   names: Mapping[str, str]) -> tuple[list[Model], frozenset[str]]:
    """:func:`_enrich_all`, cached while the same live models meet the same catalog indexes.

    A snapshot changes one source at a time, so every other live source is served from here.
    """
    items, fingerprint = _identity(models)
    key = (source, len(items), fingerprint, tuple(id(ix) for ix in indexes), order.key,
           tuple(sorted(names.items())))
    with _lock:
        hit = _enriched.get(key)
        if hit is not None and _same(hit[0][0], items) and all(a is b for a, b in zip(hit[0][1:], indexes)):
            _enriched.move_to_end(key)
            return hit[1], hit[2]
    enriched, absorbed = _enrich_all(items, indexes, order, names)
    with _lock:
        _remember(_enriched, key, ((items, *indexes), enriched, absorbed), _ENRICHED_CACHE_SIZE)
    return enriched, absorbed


def merge_sources(
    live: Mapping[str, Iterable[Model]],
    catalogs: Mapping[str, Iterable[Model]],
    *,
    include_catalog_only: bool = True,
    precedence: Precedence = None,
    catalog_provider: Mapping[str, str] | None = None,
) -> dict[str, Model]:
    """The effective catalog, keyed by model id.

    ``live`` and ``catalogs`` map a source name to that source's last good models. The first
    live source listing an id wins over later ones. ``precedence`` orders the catalogs (and
    ``heuristic``) after the live value: a list for every field, or a mapping from a field path,
    section name or ``"*"`` to a list; by default the order of ``catalogs``, then the heuristic.
    ``catalog_provider`` maps a live provider name to the name its models have in the catalogs
    (default: the same name). Output order: live models in input order, then catalog-only ones.
    """
    indexes = [catalog_index(name, models) for name, models in catalogs.items()]
    order = FieldOrder([ix.source for ix in indexes], precedence)
    names = dict(catalog_provider or {})
    out: dict[str, Model] = {}
    absorbed: set[str] = set()
    for source, models in live.items():
        enriched, hits = _enriched_live(source, models, indexes, order, names)
        absorbed |= hits
        for m in enriched:
            out.setdefault(m.id, m)
    if include_catalog_only:
        for model_id, m in _combined_catalog_only(indexes, order).items():
            if model_id not in out and model_id not in absorbed:
                out[model_id] = m
    return out


__all__ = ["catalog_index", "merge_sources"]
