"""The catalog's state machine: per-source answers in, merged catalog and change set out.

Plain logic with no threads; :class:`actors.catalog.CatalogActor` owns one and serializes calls.
"""
from __future__ import annotations

import time
from typing import Any, Mapping, Optional

from discovery import store
from discovery.bedrock import combine_region_sources
from discovery.diff import (
    MODELS_REFRESHED,
    capability_counts,
    capability_events,
    compute_changes,
    event_specs,
)
from discovery.merge import merge_sources
from discovery.messages import ProviderSnapshot, RefreshOutcome
from discovery.model import Model
from discovery.providers.base import SuspiciousSnapshot
from discovery.query import CatalogIndex


def reuse_unchanged(previous: Mapping[str, Model], models) -> dict[str, Model]:
    """Key ``models`` by id, keeping the previous instance wherever the record is equal.

    Equal records are the common case of a refresh; the previous instances carry their memoized
    hash and JSON, so only records that really differ get hashed and serialized again.
    """
    out: dict[str, Model] = {}
    for m in models:
        if m.id in out:
            continue
        old = previous.get(m.id)
        out[m.id] = old if old is not None and old == m else m
    return out


class CatalogState:
    """The last good answer of each source and the merged catalog built from them."""

    def __init__(self, catalog_sources: Mapping[str, bool] | None = None,
                 include_catalog_only: bool = True, precedence: tuple[str, ...] = (),
                 catalog_provider: Mapping[str, str] | None = None,
                 formats: Mapping[str, str] | None = None):
        # source name → is it a catalog (models.dev, LiteLLM) rather than a live API.
        self.is_catalog: dict[str, bool] = dict(catalog_sources or {})
        self.include_catalog_only = include_catalog_only
        self.precedence = tuple(precedence)
        # live source name → the provider name its models carry in the catalogs.
        self.catalog_provider: dict[str, str] = dict(catalog_provider or {})
        # source name → wire format, to order catalogs when no precedence is configured.
        self.formats: dict[str, str] = dict(formats or {})
        self.sources: dict[str, dict[str, Model]] = {}
        self.current: dict[str, Model] = {}
        self.version = 0
        self._counts: Optional[dict[str, int]] = None  # capability counts of ``current``

    def load(self) -> None:
        """Rebuild from the store (start-up): the last committed state, before any provider answers."""
        self.sources = store.load_source_models()
        self.current = store.load_current_models()
        self._counts = None

    def index(self) -> CatalogIndex:
        self.version += 1
        return CatalogIndex(dict(self.current), version=self.version)

    def catalog_order(self, names) -> list[str]:
        """Catalog sources in precedence order: as configured, else models.dev, LiteLLM, others."""
        rank = {"modelsdev": 0, "litellm": 1}
        configured = {name: i for i, name in enumerate(self.precedence)}
        return sorted(names, key=lambda n: (configured.get(n, len(configured)),
                                            rank.get(self.formats.get(n, ""), 2), n))

    def merged(self, sources: Mapping[str, Mapping[str, Model]]) -> dict[str, Model]:
        """The published catalog from every source's last good answer (deterministic order)."""
        # Bedrock answers region by region (bedrock@<region>); the catalog lists each model once.
        sources = combine_region_sources(sources)
        live = {s: list(sources[s].values()) for s in sorted(sources) if not self.is_catalog.get(s)}
        catalogs = {s: list(sources[s].values())
                    for s in self.catalog_order([s for s in sources if self.is_catalog.get(s)])}
        return merge_sources(live, catalogs, include_catalog_only=self.include_catalog_only,
                             precedence=list(self.precedence) or None, catalog_provider=self.catalog_provider)

    def check(self, snapshot: ProviderSnapshot, sources: Optional[Mapping[str, Mapping[str, Model]]] = None) -> None:
        """Refuse an answer that would wipe or gut the source (raise SuspiciousSnapshot)."""
        previous = (self.sources if sources is None else sources).get(snapshot.source, {})
        before = len(previous)
        after = len({m.id for m in snapshot.models})
        if before and after == 0 and not snapshot.allow_empty:
            raise SuspiciousSnapshot(f"{snapshot.source} answered with no models but had {before}; "
                                     "kept the last good catalog")
        if before and after < before:
            lost = before - len({m.id for m in snapshot.models} & previous.keys())
            if lost / before > snapshot.max_removal_ratio and not snapshot.allow_empty:
                raise SuspiciousSnapshot(
                    f"{snapshot.source} answered with {after} models, losing {lost} of {before} "
                    f"(more than {snapshot.max_removal_ratio:.0%}); kept the last good catalog")

    def apply(self, snapshot: ProviderSnapshot, now: Optional[float] = None
              ) -> tuple[RefreshOutcome, list[store.StoredEvent], set[str]]:
        """Apply one snapshot (see :meth:`apply_many`); raises SuspiciousSnapshot if it is refused."""
        outcomes, events, changed = self.apply_many([snapshot], now)
        if outcomes[0].outcome != store.SUCCEEDED:
            raise SuspiciousSnapshot(outcomes[0].error or "refused")
        return outcomes[0], events, changed

    def apply_many(self, snapshots: list[ProviderSnapshot], now: Optional[float] = None
                   ) -> tuple[list[RefreshOutcome], list[store.StoredEvent], set[str]]:
        """Diff and persist several sources' answers in one merge and one transaction.

        Returns an outcome per snapshot (in order), the committed events and the changed ids. A
        refused snapshot (it would gut its source) gets a failed outcome with the reason and
        nothing of it is written; the others still commit. Each model change is attributed to the
        run of a snapshot whose source lists the model (the last such one), so a model that 30
        Bedrock regions report at start-up gets one version, not thirty.
        """
        now = now or time.time()
        sources = dict(self.sources)
        outcomes: dict[int, RefreshOutcome] = {}
        accepted: list[tuple[ProviderSnapshot, dict[str, Model], dict[str, Model]]] = []
        source_writes = []
        for snap in snapshots:
            try:
                self.check(snap, sources)
            except SuspiciousSnapshot as exc:
                outcomes[snap.run_id] = RefreshOutcome(snap.run_id, snap.source, store.FAILED, error=exc.reason)
                continue
            old_source = sources.get(snap.source, {})
            new_source = reuse_unchanged(old_source, snap.models)
            sources[snap.source] = new_source
            accepted.append((snap, old_source, new_source))
            source_writes.append((snap, tuple(m for mid, m in new_source.items()
                                              if mid not in old_source
                                              or old_source[mid].content_hash() != m.content_hash()),
                                  tuple(mid for mid in old_source if mid not in new_source)))
        if not accepted:
            return [outcomes[s.run_id] for s in snapshots], [], set()

        merged = reuse_unchanged(self.current, self.merged(sources).values())
        changes = compute_changes(self.current, merged)

        def run_of(model_id: str) -> ProviderSnapshot:
            for snap, old_source, new_source in reversed(accepted):
                if model_id in new_source or model_id in old_source:
                    return snap
            return accepted[-1][0]

        specs: list[tuple[str, Optional[str], Optional[str], Optional[int], Mapping[str, Any]]] = []
        upserts, deletes, diffs = [], [], {}
        counts = {snap.run_id: {"added": 0, "updated": 0, "removed": 0} for snap, _, _ in accepted}
        for ch in changes:
            snap = run_of(ch.model_id)
            counts[snap.run_id][ch.change] += 1
            for kind, data in event_specs(ch):
                specs.append((kind, ch.provider, ch.model_id, snap.run_id, data))
            if ch.new is not None:
                upserts.append((ch.new, ch.change, snap.run_id))
                if ch.diff:
                    diffs[ch.model_id] = ch.diff
            else:
                deletes.append((ch.old, snap.run_id))
        before_counts = self._counts if self._counts is not None else capability_counts(self.current)
        after_counts = capability_counts(merged) if changes else before_counts
        last_run = accepted[-1][0].run_id
        for kind, data in capability_events(before_counts, after_counts):
            specs.append((kind, None, None, last_run, data))
        for snap, _, new_source in accepted:
            specs.append((MODELS_REFRESHED, snap.source, None, snap.run_id,
                          {"source": snap.source, "total": len(new_source), **counts[snap.run_id]}))

        write = store.RefreshWrite(
            sources=tuple(store.SourceWrite(snap.run_id, snap.source, ups, dels, len(sources[snap.source]),
                                            counts[snap.run_id]) for snap, ups, dels in source_writes),
            model_upserts=tuple(upserts), model_deletes=tuple(deletes), diffs=diffs, events=tuple(specs),
        )
        events = store.commit_refresh(write, now=now)
        # Only after the commit: the in-memory state follows what is stored.
        self.sources = sources
        self.current = merged
        self._counts = after_counts
        for snap, _, new_source in accepted:
            outcomes[snap.run_id] = RefreshOutcome(snap.run_id, snap.source, store.SUCCEEDED,
                                                   total=len(new_source), **counts[snap.run_id])
        return [outcomes[s.run_id] for s in snapshots], events, {ch.model_id for ch in changes}
