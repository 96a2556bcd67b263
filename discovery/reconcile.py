"""Reconciliation: where the catalogs (models.dev, LiteLLM) and the providers' own lists disagree.

Three kinds of finding, kept current by :class:`Reconciler` as the merge changes (only the ids a
write touches are looked at again):

- ``stale``: a catalog entry of a provider whose live list has answered, that no live model
  matched (the provider no longer lists it, or never did under that id);
- ``unknown``: a live model that no catalog entry matched;
- ``conflicts``: a field (a price, a limit, a capability) whose sources state different values.
  Each keeps its relative difference, so a report can be asked at any tolerance; numeric values
  conflict when they differ by more than the tolerance (a fraction of the larger), capability
  flags (and any value that is not a number) whenever they differ, at any tolerance.

A fourth, ``missing`` (a live model its provider left out of its latest answers, kept through its
grace), comes from the catalog state itself and is added to the report by the caller.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Optional

KINDS = ("stale", "unknown", "conflicts", "missing")
KEEP = object()  # see Reconciler._look
# Fields whose disagreement is a finding: what a gateway routes and bills by.
CHECKED_FIELDS = ("pricing.", "limits.", "capabilities.")


@dataclass(frozen=True, slots=True)
class Conflict:
    """One field of one model on which two sources disagree."""

    field: str
    value: Any
    source: str
    entry: Optional[str]
    other_value: Any
    other_source: str
    other_entry: Optional[str]
    difference: float  # relative: |a - b| / max(|a|, |b|); 1.0 for flags and non-numbers

    def above(self, tolerance: float) -> bool:
        """Whether this is a conflict at ``tolerance``: numbers further apart than it, and flags
        and other values whenever they differ (a tolerance of 1 or more hid every flag)."""
        return self.difference > tolerance or not (_number(self.value) and _number(self.other_value))

    def json(self) -> dict[str, Any]:
        return {"field": self.field, "value": self.value, "source": self.source, "entry": self.entry,
                "other": {"value": self.other_value, "source": self.other_source, "entry": self.other_entry},
                "difference": round(self.difference, 6)}


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def difference(a: Any, b: Any) -> float:
    """How far apart two stated values are (0: the same)."""
    if a == b:
        return 0.0
    if not (_number(a) and _number(b)):
        return 1.0
    top = max(abs(a), abs(b))
    return abs(a - b) / top if top else 0.0


def conflicts_of(values: Mapping[str, Any], trace: Mapping[str, Any]) -> tuple[Conflict, ...]:
    """The checked fields of one merged model on which its sources disagree.

    ``trace`` is the merge's trace (path → (source, entry, match, [(source, entry, value)])) or
    its JSON form (path → {"source", "entry", "match", "conflicts": [...]}); ``values`` gives the
    chosen value of each such path.
    """
    out: list[Conflict] = []
    for path, item in trace.items():
        if not path.startswith(CHECKED_FIELDS):
            continue
        if isinstance(item, Mapping):
            others = [(c.get("source"), c.get("entry"), c.get("value")) for c in item.get("conflicts") or ()]
            source, entry = item.get("source"), item.get("entry")
        else:
            source, entry, _match, others = item
        if not others:
            continue
        value = values.get(path)
        for other_source, other_entry, other_value in others:
            gap = difference(value, other_value)
            if gap > 0:
                out.append(Conflict(path, value, source, entry, other_value, other_source, other_entry, gap))
    return tuple(out)


def value_at(model: Any, path: str) -> Any:
    """The value of a dotted field path (``pricing.input``) of a model."""
    section, _, name = path.partition(".")
    holder = getattr(model, section, None)
    return getattr(holder, name, None) if name else holder


class ModelValues(Mapping):
    """A model's fields by dotted path, read on demand (what :func:`conflicts_of` asks for)."""

    def __init__(self, model: Any):
        self._model = model

    def __getitem__(self, path: str) -> Any:
        return value_at(self._model, path)

    def __iter__(self):
        return iter(())

    def __len__(self) -> int:
        return 0


def _provider(model_id: str) -> str:
    return model_id.split("/", 1)[0]


class Reconciler:
    """The findings for the merged catalog, updated id by id from the merge engine.

    Not thread-safe: the catalog writer owns it; readers take :meth:`snapshot` (plain dict copies
    of immutable items, cheap to make and safe to read from any thread).
    """

    def __init__(self, tolerance: float = 0.05):
        self._tolerance = tolerance
        self.unknown: dict[str, str] = {}  # live model id → its provider
        self.conflicts: dict[str, tuple[Conflict, ...]] = {}
        self.stale: dict[str, tuple[str, tuple[str, ...]]] = {}  # catalog id → (live provider, catalogs)
        # catalog provider name → the live provider answering for it.
        self.live_providers: dict[str, str] = {}
        self._snapshot: Optional[Findings] = None
        # Per provider, the findings of each kind (conflicts at the configured tolerance), kept by
        # the deltas: a write reads them without counting every finding again.
        self._totals: dict[str, Counter] = {}

    # -- keeping current -------------------------------------------------------------------------
    def update(self, engine: Any, ids: Iterable[str], resolved: Mapping[str, tuple[Conflict, ...]]
               ) -> dict[str, Counter]:
        """Look again at ``ids`` (the merged ids a write touched); ``resolved`` gives, for those
        resolved again, their conflicts (:func:`conflicts_of`; empty when there is no merged
        model); an id it leaves out keeps the conflicts it had. Returns, per provider, how many findings (at
        the configured tolerance) appeared (+) and went (-) by kind."""
        delta: dict[str, Counter] = {}
        ids = set(ids)
        providers = self._live_providers(engine)
        if providers != self.live_providers:
            # A provider's live list answered for the first time (or went): all its catalog entries count.
            changed = {p for p in providers.keys() ^ self.live_providers.keys()}
            changed |= {p for p in providers.keys() & self.live_providers.keys()
                        if providers[p] != self.live_providers[p]}
            self.live_providers = providers
            for table in engine.catalogs.values():
                ids.update(cid for cid in table.by_id if _provider(cid) in changed)
            ids.update(cid for cid in self.stale if _provider(cid) in changed)
        for model_id in ids:
            self._look(engine, model_id, resolved.get(model_id, KEEP), delta)
        if delta:
            self._snapshot = None
            for provider, counter in delta.items():
                total = self._totals.setdefault(provider, Counter())
                total.update(counter)
                if not any(total.values()):
                    del self._totals[provider]
        return {p: c for p, c in delta.items() if any(c.values())}

    def _look(self, engine: Any, model_id: str, resolved, delta: dict[str, Counter]) -> None:
        """``resolved``: the merged model's conflicts, or the marker ``KEEP`` when the id's merged
        record was not looked at (its conflicts stand)."""
        owners = engine.owners.get(model_id)
        provider = _provider(model_id)
        if owners:
            link = engine.links.get((owners[0], model_id))
            unknown = bool(engine.catalogs) and link is not None and not link.matches
            self._set(self.unknown, model_id, provider if unknown else None, "unknown", provider, delta)
        else:
            self._drop(self.unknown, model_id, "unknown", delta)
        if resolved is not KEEP:
            tolerance = self.tolerance
            found = resolved or ()
            old = self.conflicts.get(model_id, ())
            if found != old:
                if found:
                    self.conflicts[model_id] = found
                else:
                    self.conflicts.pop(model_id, None)
                counter = delta.setdefault(provider, Counter())
                counter["conflicts"] += (sum(1 for c in found if c.above(tolerance))
                                         - sum(1 for c in old if c.above(tolerance)))
        # As a catalog entry: stale when its provider's live list answers and nothing there matched it.
        live_provider = self.live_providers.get(provider)
        listed = tuple(name for name, table in engine.catalogs.items() if model_id in table.by_id)
        if live_provider and listed and not engine.is_absorbed(model_id) and not owners:
            self._set(self.stale, model_id, (live_provider, listed), "stale", live_provider, delta)
        else:
            self._drop(self.stale, model_id, "stale", delta)

    def _set(self, table: dict, key: str, value: Any, kind: str, provider: str, delta: dict[str, Counter]) -> None:
        if value is None:
            self._drop(table, key, kind, delta)
            return
        old = table.get(key)
        if old == value:
            return
        table[key] = value
        if old is None:
            delta.setdefault(provider, Counter())[kind] += 1
        elif kind == "stale" and old[0] != provider:
            # The same stale entry, now counted for another live provider.
            delta.setdefault(old[0], Counter())[kind] -= 1
            delta.setdefault(provider, Counter())[kind] += 1

    def _drop(self, table: dict, key: str, kind: str, delta: dict[str, Counter]) -> None:
        old = table.pop(key, None)
        if old is not None:
            provider = old[0] if kind == "stale" else old
            delta.setdefault(provider, Counter())[kind] -= 1

    @staticmethod
    def _live_providers(engine: Any) -> dict[str, str]:
        out: dict[str, str] = {}
        for models in engine.live.values():
            for model in models.values():
                name = engine.names.get(model.provider, model.provider)
                # Several providers of one catalog name (openai, openai-eu): the entries' staleness
                # is the one named after the catalog's provider's, when there is one.
                if out.get(name) != name:
                    out[name] = model.provider
                break
        return out

    def rebuild(self, engine: Any, ids: Iterable[str], resolved: Mapping[str, tuple[Conflict, ...]]) -> None:
        """Start over from the merge (start-up): every id looked at, no delta kept."""
        self.unknown.clear()
        self.conflicts.clear()
        self.stale.clear()
        self.live_providers = self._live_providers(engine)
        delta: dict[str, Counter] = {}
        for model_id in ids:
            self._look(engine, model_id, resolved.get(model_id, KEEP), delta)
        self._snapshot = None
        self._count_totals()

    def _count_totals(self) -> None:
        self._totals = {provider: Counter({k: v for k, v in row.items() if k != "missing"})
                        for provider, row in self.snapshot().counts().items() if any(row.values())}

    @property
    def tolerance(self) -> float:
        return self._tolerance

    @tolerance.setter
    def tolerance(self, value: float) -> None:
        # Conflicts are counted at the tolerance: another one counts them all again.
        self._tolerance = value
        self._snapshot = None
        self._count_totals()

    # -- reading ---------------------------------------------------------------------------------
    def totals(self, providers: Optional[Iterable[str]] = None) -> dict[str, dict[str, int]]:
        """What :meth:`counts` gives at the configured tolerance (without ``missing``), for
        ``providers`` (default all), kept up to date by each update instead of counted again."""
        names = sorted(self._totals) if providers is None else sorted(set(providers) & self._totals.keys())
        return {p: {kind: self._totals[p][kind] for kind in KINDS if kind != "missing"} for p in names}

    def counts(self, tolerance: Optional[float] = None) -> dict[str, dict[str, int]]:
        """Per provider, the number of findings of each kind (conflicts: fields above the tolerance)."""
        return self.snapshot().counts(tolerance)

    def snapshot(self) -> "Findings":
        """The findings as they stand, safe to read from other threads."""
        if self._snapshot is None:
            self._snapshot = Findings(dict(self.unknown), dict(self.conflicts), dict(self.stale), self.tolerance)
        return self._snapshot


@dataclass(frozen=True)
class Findings:
    """A reconciliation snapshot (see :class:`Reconciler`)."""

    unknown: Mapping[str, str]
    conflicts: Mapping[str, tuple[Conflict, ...]]
    stale: Mapping[str, tuple[str, tuple[str, ...]]]
    tolerance: float

    def counts(self, tolerance: Optional[float] = None,
               missing: Mapping[str, Iterable[str]] = {}) -> dict[str, dict[str, int]]:  # noqa: B006
        tol = self.tolerance if tolerance is None else tolerance
        out: dict[str, dict[str, int]] = {}

        def bump(provider: str, kind: str, n: int = 1) -> None:
            if n:
                row = out.setdefault(provider, dict.fromkeys(KINDS, 0))
                row[kind] += n

        for provider in self.unknown.values():
            bump(provider, "unknown")
        for provider, _ in self.stale.values():
            bump(provider, "stale")
        for model_id, found in self.conflicts.items():
            bump(_provider(model_id), "conflicts", sum(1 for c in found if c.above(tol)))
        for provider, ids in missing.items():
            bump(provider, "missing", len(list(ids)))
        return dict(sorted(out.items()))

    def report(self, *, kinds: Iterable[str] = KINDS, providers: Iterable[str] = (),
               tolerance: Optional[float] = None, limit: int = 1000,
               missing: Mapping[str, Mapping[str, tuple[float, int]]] = {}) -> dict[str, Any]:  # noqa: B006
        """The findings as the API shows them: totals, then per provider the counts and the items
        of the kinds asked (each list at most ``limit`` long, ``truncated`` saying when cut)."""
        tol = self.tolerance if tolerance is None else tolerance
        wanted = set(kinds)
        only = set(providers)
        missing_ids = {p: list(models) for p, models in missing.items()}
        counts = self.counts(tol, missing_ids)
        items: dict[str, dict[str, list]] = {}

        def add(provider: str, kind: str, item: dict[str, Any]) -> None:
            if kind in wanted and (not only or provider in only):
                items.setdefault(provider, {}).setdefault(kind, []).append(item)

        for cid, (provider, catalogs) in sorted(self.stale.items()):
            add(provider, "stale", {"entry": cid, "catalogs": list(catalogs)})
        for model_id, provider in sorted(self.unknown.items()):
            add(provider, "unknown", {"model_id": model_id})
        for model_id, found in sorted(self.conflicts.items()):
            for c in found:
                if c.above(tol):
                    add(_provider(model_id), "conflicts", {"model_id": model_id, **c.json()})
        for provider, models in sorted(missing.items()):
            for model_id, (since, count) in sorted(models.items()):
                add(provider, "missing", {"model_id": model_id, "missing_since": since, "answers_missed": count})
        out_providers: dict[str, Any] = {}
        for provider, row in counts.items():
            if only and provider not in only:
                continue
            entry: dict[str, Any] = {"counts": {k: row[k] for k in KINDS if k in wanted}}
            for kind in KINDS:
                if kind in wanted:
                    listed = items.get(provider, {}).get(kind, [])
                    entry[kind] = listed[:limit]
                    if len(listed) > limit:
                        entry.setdefault("truncated", []).append(kind)
            out_providers[provider] = entry
        totals = {k: sum(row[k] for p, row in counts.items() if not only or p in only) for k in KINDS if k in wanted}
        return {"tolerance": tol, "counts": totals, "providers": out_providers}
