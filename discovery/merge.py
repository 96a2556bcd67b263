"""From what each source reports to the one published catalog, kept current change by change.

Live sources (a provider's own model list) own the models they list: each live model is matched
to an entry of every catalog (models.dev, LiteLLM) by the rules in :mod:`discovery.enrich` and
enriched field by field (live value, then the catalogs in precedence order, then the id
heuristic), every field recording its source in ``provenance``. Catalog entries no live model
matched are published as catalog-only models, ``live=False``; entries with the same id in
several catalogs are combined by the same precedence (exact ids only: a catalog's dated and
undated ids are distinct models there). The first live source (by name) listing an id wins.

:class:`MergeEngine` holds every source's models and the links between live models and the
catalog entries they matched, so a change to a few models of one source touches only the merged
models it can affect: the changed ids themselves, the live models whose lookup slots changed, and
the catalog-only entries whose "absorbed by a live model" state flipped. :meth:`MergeEngine.resolve`
computes one merged model on demand. :func:`merge_sources` is the whole merge at once.
"""
from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Optional

from discovery.enrich import (
    CatalogLookup,
    FieldOrder,
    Precedence,
    Trace,
    combine,
    id_date,
    live_match_plan,
    slot_key,
    trace_of,
)
from discovery.model import Model


class _Link:
    """A live model's ties to the catalogs: the slots it looked in, what it matched, what it absorbed."""

    __slots__ = ("absorbed", "matches", "slots")

    def __init__(self, slots: tuple[str, ...], matches: tuple[tuple[str, str, str], ...], absorbed: tuple[str, ...]):
        self.slots = slots
        self.matches = matches
        self.absorbed = absorbed


class MergeEngine:
    """Every source's models, and the merged catalog computed from them one id at a time.

    ``catalogs`` lists the catalog sources in precedence order; ``live_order`` (optional) fixes
    which live source wins an id several list (default: by name). Update with :meth:`update`;
    each call returns the merged ids whose value may have changed.
    """

    def __init__(self, catalogs: Sequence[str] = (), *, include_catalog_only: bool = True,
                 precedence: Precedence = None, catalog_provider: Mapping[str, str] | None = None,
                 live_order: Sequence[str] | None = None):
        self.include_catalog_only = include_catalog_only
        self.precedence = precedence
        self.names = dict(catalog_provider or {})
        self.catalogs: dict[str, CatalogLookup] = {c: CatalogLookup(c) for c in catalogs}
        self.order = FieldOrder(list(self.catalogs), precedence)
        self._live_rank = {name: i for i, name in enumerate(live_order or ())}
        self.live: dict[str, dict[str, Model]] = {}
        # merged id → the live sources listing it, the winner first.
        self.owners: dict[str, list[str]] = {}
        self.links: dict[tuple[str, str], _Link] = {}
        # slot → the live model (source, id) that looked there, or a set of them when several did
        # (most slots have one watcher: a tuple costs far less than a set).
        self.watchers: dict[str, Any] = {}
        # catalog id → how many live models matched it (or name it as an alias).
        self.absorbed: dict[str, int] = {}
        # catalog id → how many of them are of the live provider whose name the entry carries
        # (``openai/gpt-4o``, matched by the provider ``openai``; not by ``openai-eu``): see
        # :meth:`is_absorbed`.
        self.own_absorbed: dict[str, int] = {}

    # -- updates ---------------------------------------------------------------------------------
    def is_catalog(self, source: str) -> bool:
        return source in self.catalogs

    def add_catalog(self, source: str) -> set[str]:
        """Start a catalog source the engine did not know (last in precedence); relinks everything."""
        self.catalogs[source] = CatalogLookup(source)
        self.order = FieldOrder(list(self.catalogs), self.precedence)
        return self._relink_all()

    def update(self, source: str, upserts: Mapping[str, Model], removed: Iterable[str] = ()) -> set[str]:
        """Apply one source's changed models (id → new record) and removed ids; the merged ids affected."""
        if source in self.catalogs:
            return self._update_catalog(source, upserts, removed)
        return self._update_live(source, upserts, removed)

    def _live_key(self, source: str) -> tuple[int, str]:
        return (self._live_rank.get(source, len(self._live_rank)), source)

    def _update_live(self, source: str, upserts: Mapping[str, Model], removed: Iterable[str]) -> set[str]:
        models = self.live.setdefault(source, {})
        owned_before = self._owns(source)
        affected = self._update_live_models(source, models, upserts, removed)
        if self._owns(source) != owned_before:
            # The source's list began (or ceased) to have models: the entries under its name that
            # other providers' models matched change hands (is_absorbed), each to be looked at again.
            prefix = source + "/"
            affected.update(cid for cid in self.absorbed if cid.startswith(prefix))
        return affected

    def _update_live_models(self, source: str, models: dict[str, Model], upserts: Mapping[str, Model],
                            removed: Iterable[str]) -> set[str]:
        affected: set[str] = set()
        for model_id in removed:
            if models.pop(model_id, None) is None:
                continue
            self._unlink(source, model_id, affected)
            owners = self.owners.get(model_id)
            if owners is not None:
                owners.remove(source)
                if not owners:
                    del self.owners[model_id]
            affected.add(model_id)
        for model_id, model in upserts.items():
            if model_id in models:
                self._unlink(source, model_id, affected)
            else:
                owners = self.owners.setdefault(model_id, [])
                keys = [self._live_key(s) for s in owners]
                owners.insert(bisect.bisect_left(keys, self._live_key(source)), source)
            models[model_id] = model
            self._link(source, model_id, model, affected)
            affected.add(model_id)
        return affected

    def _update_catalog(self, source: str, upserts: Mapping[str, Model], removed: Iterable[str]) -> set[str]:
        table = self.catalogs[source]
        affected: set[str] = set()
        slots: set[str] = set()
        for model_id in removed:
            if model_id in table.by_id:
                slots |= table.remove(model_id)
                affected.add(model_id)
        for model_id, model in upserts.items():
            slots |= table.put(model)
            affected.add(model_id)
        watching: set[tuple[str, str]] = set()
        for name in slots:
            held = self.watchers.get(name)
            if type(held) is tuple:
                watching.add(held)
            elif held:
                watching |= held
        for source_name, model_id in watching:
            self._unlink(source_name, model_id, affected)
            self._link(source_name, model_id, self.live[source_name][model_id], affected)
            affected.add(model_id)
        return affected

    def _relink_all(self) -> set[str]:
        affected: set[str] = set()
        for source, models in self.live.items():
            for model_id, model in models.items():
                self._unlink(source, model_id, affected)
                self._link(source, model_id, model, affected)
                affected.add(model_id)
        for table in self.catalogs.values():
            affected.update(table.by_id)
        return affected

    def _link(self, source: str, model_id: str, model: Model, affected: set[str]) -> None:
        provider = self.names.get(model.provider, model.provider)
        plan = live_match_plan(model)
        live_date = id_date(model.provider_model_id)
        matches: list[tuple[str, str, str]] = []
        absorbed: list[str] = []
        for name, table in self.catalogs.items():
            found = table.find(provider, plan, live_date)
            if found is not None:
                hit, kind = found
                matches.append((name, hit.id, kind))
                absorbed.append(hit.id)
        # A catalog entry under one of the model's aliases is the same model, not another one.
        for alias in model.aliases:
            absorbed.append(f"{provider}/{alias}")
        link = _Link(tuple(slot_key(provider, k) for k, _ in plan), tuple(matches), tuple(dict.fromkeys(absorbed)))
        self.links[(source, model_id)] = link
        key = (source, model_id)
        for name in link.slots:
            held = self.watchers.get(name)
            if held is None:
                self.watchers[name] = key
            elif type(held) is tuple:
                if held != key:
                    self.watchers[name] = {held, key}
            else:
                held.add(key)
        own = provider == model.provider
        for catalog_id in link.absorbed:
            count = self.absorbed.get(catalog_id, 0)
            self.absorbed[catalog_id] = count + 1
            if count == 0:
                affected.add(catalog_id)
            if own:
                count = self.own_absorbed.get(catalog_id, 0)
                self.own_absorbed[catalog_id] = count + 1
                if count == 0:
                    affected.add(catalog_id)

    def _unlink(self, source: str, model_id: str, affected: set[str]) -> None:
        link = self.links.pop((source, model_id), None)
        if link is None:
            return
        key = (source, model_id)
        for name in link.slots:
            held = self.watchers.get(name)
            if held is None:
                continue
            if type(held) is tuple:
                if held == key:
                    del self.watchers[name]
                continue
            held.discard(key)
            if len(held) == 1:
                self.watchers[name] = next(iter(held))
            elif not held:
                del self.watchers[name]
        for catalog_id in link.absorbed:
            count = self.absorbed.get(catalog_id, 0) - 1
            if count <= 0:
                self.absorbed.pop(catalog_id, None)
                affected.add(catalog_id)
            else:
                self.absorbed[catalog_id] = count
            count = self.own_absorbed.get(catalog_id, 0)
            if count == 1:
                del self.own_absorbed[catalog_id]
                affected.add(catalog_id)
            elif count > 1:
                self.own_absorbed[catalog_id] = count - 1

    def is_absorbed(self, catalog_id: str) -> bool:
        """Whether a catalog entry stands for a live model, so that it is not a model of its own.

        An entry under the name of a configured live provider (``openai/gpt-4o`` with a provider
        ``openai``) stands for that provider's model only: when ``openai`` stops listing it, it is
        the catalog's entry again (delisted), though ``openai-eu`` still lists a ``gpt-4o`` that
        matched it. An entry no live provider is named after is absorbed by any live model that
        matched it (``openai-eu/gpt-4o`` alone)."""
        if not self.absorbed.get(catalog_id):
            return False
        owner = catalog_id.partition("/")[0]
        if self._owns(owner):
            return bool(self.own_absorbed.get(catalog_id))
        return True

    def _owns(self, owner: str) -> bool:
        """Whether the live provider named ``owner`` stands for the catalog's ``owner/...`` entries
        alone: it is matched against that catalog name and its live list has models (one
        configured but never answered, or disabled, leaves them to the others)."""
        return self.names.get(owner) == owner and bool(self.live.get(owner))

    # -- reading ---------------------------------------------------------------------------------
    def resolve(self, model_id: str, trace: Optional[Trace] = None) -> Optional[Model]:
        """The merged model published under ``model_id``, or None if no source makes one.

        With ``trace`` (a dict), it is filled with each field's source, entry, match and conflicts.
        """
        owners = self.owners.get(model_id)
        if owners:
            source = owners[0]
            link = self.links[(source, model_id)]
            matches = {name: self.catalogs[name].by_id[entry_id].model() for name, entry_id, _ in link.matches}
            kinds = {name: kind for name, _, kind in link.matches}
            return combine(self.live[source][model_id].model(), matches, self.order, kinds=kinds, trace=trace)
        if not self.include_catalog_only or self.is_absorbed(model_id):
            return None
        by_source = {name: table.by_id[model_id].model() for name, table in self.catalogs.items()
                     if model_id in table.by_id}
        if not by_source:
            return None
        template = next(iter(by_source.values()))
        if len(by_source) == 1:
            # An id only one catalog lists is that catalog's entry as it is (already with provenance).
            if trace is not None:
                trace.update(trace_of(template))
            return template
        return combine(None, by_source, self.order, template=template, trace=trace)

    def ids(self) -> set[str]:
        """Every id some source could publish (a superset of the merged catalog's ids)."""
        out = set(self.owners)
        for table in self.catalogs.values():
            out.update(table.by_id)
        return out

    def merged(self) -> dict[str, Model]:
        """The whole merged catalog (every id resolved; for tests and start-up checks)."""
        out = {}
        for model_id in sorted(self.ids()):
            m = self.resolve(model_id)
            if m is not None:
                out[model_id] = m
        return out


def merge_sources(
    live: Mapping[str, Iterable[Model]],
    catalogs: Mapping[str, Iterable[Model]],
    *,
    include_catalog_only: bool = True,
    precedence: Precedence = None,
    catalog_provider: Mapping[str, str] | None = None,
) -> dict[str, Model]:
    """The effective catalog, keyed by model id, computed from scratch.

    ``live`` and ``catalogs`` map a source name to that source's last good models. The first
    live source listing an id wins over later ones. ``precedence`` orders the catalogs (and
    ``heuristic``) after the live value: a list for every field, or a mapping from a field path,
    section name or ``"*"`` to a list; by default the order of ``catalogs``, then the heuristic.
    ``catalog_provider`` maps a live provider name to the name its models have in the catalogs
    (default: the same name). Output order: live models in input order, then catalog-only ones.
    """
    engine = MergeEngine(list(catalogs), include_catalog_only=include_catalog_only, precedence=precedence,
                         catalog_provider=catalog_provider, live_order=list(live))
    for name, models in catalogs.items():
        first: dict[str, Model] = {}
        for m in models:
            first.setdefault(m.id, m)
        engine.update(name, first)
    listed: list[str] = []
    for name, models in live.items():
        first = {}
        for m in models:
            first.setdefault(m.id, m)
        listed.extend(first)
        engine.update(name, first)
    out: dict[str, Model] = {}
    for model_id in listed:
        if model_id not in out:
            out[model_id] = engine.resolve(model_id)  # type: ignore[assignment]
    for table in engine.catalogs.values():
        for model_id in table.by_id:
            if model_id not in out:
                m = engine.resolve(model_id)
                if m is not None:
                    out[model_id] = m
    return out


__all__ = ["MergeEngine", "merge_sources"]
