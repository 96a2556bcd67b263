"""The catalog's state machine: per-source answers in, the published index and the change set out.

Plain logic with no threads; :class:`actors.catalog.CatalogActor` owns one and serializes calls.
Cost follows the change: a source whose answer is unchanged costs nothing but its run row; in a
changed answer, items that are the very records handed out last time (the memo) are skipped by
identity; only changed items are stored; the merge engine names the merged models they can
affect, and only those are resolved, diffed, encoded and written (the commit of a batch is
:class:`discovery.catalog_commit.CatalogCommit`, a mixin of :class:`CatalogState`).
"""
from __future__ import annotations

import hashlib
import itertools
import operator
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Optional

from loguru import logger

from discovery import limits, refresh_commit, store, stored_models
from discovery.bedrock import PROVIDER as BEDROCK
from discovery.bedrock import SOURCE_PREFIX as BEDROCK_SOURCE
from discovery.bedrock import RegionFold, region_of
from discovery.catalog_commit import MERGE_KEY, MISSING_KEY, CatalogCommit
from discovery.diff import (
    flatten,
)
from discovery.enrich import with_provenance
from discovery.entry import CatalogEntry, PackedModel, trace_hash
from discovery.history import CommitsUnderWay
from discovery.index import CatalogIndex
from discovery.lifecycle import due, may_have_dates, today_of
from discovery.merge import MergeEngine
from discovery.messages import ProviderSnapshot, RefreshOutcome
from discovery.model import Model, dumps, loads
from discovery.providers.errors import SuspiciousSnapshot
from discovery.reconcile import CHECKED_FIELDS, Findings, ModelValues, Reconciler, conflicts_of
from discovery.redaction import REDACTOR


@dataclass(frozen=True)
class SourceMemo:
    """What a provider needs to skip unchanged work: the last accepted body hash and, per item
    fingerprint, the record it was normalized into (handed back as the very same object)."""

    body_hash: Optional[str]
    items: Mapping[str, Model]


@dataclass
class _Source:
    """One source's last accepted answer: records (without raw) and their fingerprints."""

    models: dict[str, Model] = field(default_factory=dict)
    fingerprints: dict[str, Optional[str]] = field(default_factory=dict)
    body_hash: Optional[str] = None
    _memo: Optional[SourceMemo] = None
    # Ids of the records the write in progress brought in (kept unpacked until it ends).
    fresh: tuple[str, ...] = ()
    # Models the last answers left out but still inside their grace: id → (first missed, answers missed).
    missing: dict[str, tuple[float, int]] = field(default_factory=dict)

    def memo(self) -> SourceMemo:
        """The memo providers read (made once per accepted answer)."""
        if self._memo is None:
            items = {fp: self.models[mid] for mid, fp in self.fingerprints.items() if fp}
            self._memo = SourceMemo(self.body_hash, items)
        return self._memo


def _masked(m: Model) -> Model:
    """``m`` with every configured secret masked in its fields, provenance and raw answer."""
    # Masked in the strings, not in the JSON text: a secret that matches part of a number or of the
    # document's syntax must not change what the record says or make it unreadable.
    return Model.from_dict(REDACTOR.scrub_strings(m.to_dict(raw=False)),
                           raw=dumps(REDACTOR.scrub_strings(loads(m.raw.json))))


_EMPTY = _Source()
# The trigger of the run that takes out a source the settings no longer name (CatalogState.retire),
# and the status such a source is listed with when its models are kept (Settings.keeps).
UNCONFIGURED = "unconfigured"
# Rejection reasons kept per run (the count covers all of them).
MAX_REASONS = 20


def _shown(model_id: str) -> str:
    """A model id as a rejection reason quotes it: escaped, and cut short."""
    text = model_id if len(model_id) <= 80 else model_id[:77] + "..."
    return ascii(text)[1:-1] if not text.isprintable() else text


# Part of the merge fingerprint: change it when the merge rules change what they make of the
# same records, so a store merged by older code is checked (and brought up to date) at start-up.
# 3: no -latest entry for a dated id unless its alias; the closer match first. 4: an entry under a
# live provider's own name stands for that provider's model alone (MergeEngine.is_absorbed).
MERGE_VERSION = "4"


def _stored_record(source: str, record: bytes, content_hash: str, packed: Any = None) -> Any:
    """A stored source row as kept in memory: packed (as stored, where it was), except Bedrock's
    (the region fold reads them)."""
    if source.startswith(BEDROCK_SOURCE):
        return Model.from_dict(loads(record), raw=b"{}")
    return PackedModel.from_stored(record, content_hash, packed)


def raw_fingerprint(model: Model) -> str:
    """The fingerprint of a record that came without one: the hash of its raw answer."""
    return hashlib.blake2b(model.raw.json, digest_size=16).hexdigest()


class _CurrentView(Mapping):
    """The published catalog as a read-only id → Model mapping (records decoded on access)."""

    def __init__(self, index: CatalogIndex):
        self._index = index

    def __getitem__(self, model_id: str) -> Model:
        m = self._index.get(model_id)
        if m is None:
            raise KeyError(model_id)
        return m

    def __contains__(self, model_id: object) -> bool:
        return model_id in self._index

    def __iter__(self) -> Iterator[str]:
        return iter(self._index.ids())

    def __len__(self) -> int:
        return len(self._index)


class CatalogState(CatalogCommit):
    """The last good answer of each source and the merged catalog built from them."""

    def __init__(self, catalog_sources: Mapping[str, bool] | None = None,
                 include_catalog_only: bool = True, precedence: tuple[str, ...] = (),
                 catalog_provider: Mapping[str, str] | None = None,
                 formats: Mapping[str, str] | None = None, missing_grace_refreshes: int = 1,
                 missing_grace_seconds: float = 0.0, reconciliation_tolerance: float = 0.05,
                 clock: Callable[[], float] = time.time, commits: Optional[CommitsUnderWay] = None):
        # Every write is marked under way here, from before the time its versions are stamped
        # with until it has ended, so a read of the past for a time within it waits for it.
        self.commits = commits if commits is not None else CommitsUnderWay()
        # source name → is it a catalog (models.dev, LiteLLM) rather than a live API.
        self.is_catalog: dict[str, bool] = dict(catalog_sources or {})
        self.include_catalog_only = include_catalog_only
        self.precedence = tuple(precedence)
        # live source name → the provider name its models carry in the catalogs.
        self.catalog_provider: dict[str, str] = dict(catalog_provider or {})
        # source name → wire format, to order catalogs when no precedence is configured.
        self.formats: dict[str, str] = dict(formats or {})
        self._sources: dict[str, _Source] = {}
        # A model a live list leaves out stays (as "missing") until it has been left out of more
        # than this many answers in a row, or, when missing_grace_seconds is set, for that long.
        self.missing_grace_refreshes = missing_grace_refreshes
        self.missing_grace_seconds = missing_grace_seconds
        self.clock = clock
        self.reconciler = Reconciler(reconciliation_tolerance)
        # retiring_soon horizons (days) and the notices given: (model id, kind) → (date, horizons).
        self.retiring_horizons: tuple[int, ...] = (90, 30, 7)
        self._notices: Optional[dict[tuple[str, str], tuple[str, frozenset[int]]]] = None
        self._stored_conflicts: dict[str, dict[str, Any]] = {}
        # source → the rejections last warned about (see _accept).
        self._rejections_shown: dict[str, frozenset[str]] = {}
        # Entries loaded with their list form unpacked, until pack_loaded (see load_index).
        self._unpacked: list[CatalogEntry] = []
        self._index = CatalogIndex.from_entries([], 0)
        self._merge_fingerprint: Optional[str] = None
        self.version = 0
        self._engine: Optional[MergeEngine] = None
        self._fold = RegionFold()
        self._sources_loaded = True
        # Ids to resolve again at the next write (the stored catalog disagreed with the merge).
        self._dirty: set[str] = set()
        # Whether the store says its catalog was merged under the current settings.
        self._settings_recorded = False
        # When the last commit ended (every run of it carries this time).
        self.last_commit_at: Optional[float] = None
        # What the last commit wrote of each new version's detail: id → (raw answer, provenance) JSON.
        self.last_details: dict[str, tuple[bytes, bytes]] = {}
        # Bedrock region sources whose first answer is awaited, and region changes held until
        # they have all answered (or failed) so the merge sees them together (see _commit).
        self.awaited_regions: set[str] = set()
        self._held: list[tuple[str, Mapping[str, Any], Any]] = []
        self._held_run: Optional[int] = None

    # -- loading ---------------------------------------------------------------------------------
    def load(self) -> None:
        """Rebuild from the store (start-up): the last committed state, before any provider answers."""
        self.load_index()
        self.load_sources()

    def load_index(self, pack_later: int = 0) -> None:
        """The published catalog from the store: enough to serve reads (fast; no merge state).

        ``pack_later``: up to this many bytes of list forms are kept as read, to be packed by
        :meth:`pack_loaded` once reads are served (packing was a fifth of loading 10k models).
        """
        entries = []
        unpacked = []
        # Stored traces that name conflicts, kept to seed the reconciliation when the sources load.
        conflicted: dict[str, dict[str, Any]] = {}
        for content_hash, body, provenance, packed in stored_models.load_current_rows():
            trace = loads(provenance)
            entry = CatalogEntry.from_stored(body, content_hash, trace, trace_hash(provenance),
                                             pack_later=pack_later > 0, stored_packed=packed)
            if entry.plain:  # no packed form stored (a row written by an older release)
                pack_later -= len(body)
                unpacked.append(entry)
            entries.append(entry)
            if (b'"conflicts"' if isinstance(provenance, bytes) else '"conflicts"') in provenance:
                disputed = {path: item for path, item in trace.items()
                            if isinstance(item, dict) and item.get("conflicts") and path.startswith(CHECKED_FIELDS)}
                if disputed:
                    conflicted[entry.id] = disputed
        self._stored_conflicts = conflicted
        self._unpacked = unpacked
        self.version += 1
        self._index = CatalogIndex.from_entries(entries, self.version)
        self._sources_loaded = False
        self._engine = None

    def pack_loaded(self) -> int:
        """Pack the entries :meth:`load_index` left unpacked; how many they were."""
        unpacked, self._unpacked = self._unpacked, []
        for entry in unpacked:
            entry.release()
        return len(unpacked)

    def load_sources(self) -> None:
        """Every source's last answer from the store, and the merge state built from them.

        The merge is then checked against the loaded catalog; ids that disagree (the settings or
        the merge rules changed since they were written) are resolved again at the next write.
        """
        self._sources = {name: _Source(dict(s.models), dict(s.fingerprints), s.body_hash)
                         for name, s in stored_models.load_sources(_stored_record).items()}
        for value in store.meta_with_prefix(MISSING_KEY).values():
            kept = loads(value)
            source = self._sources.get(kept.get("source"))
            if source is not None:
                source.missing = {model_id: (float(since), int(count)) for model_id, (since, count)
                                  in kept.get("models", {}).items() if model_id in source.models}
        self._build_engine()
        self._sources_loaded = True
        self._rebuild_findings()
        if store.get_meta(MERGE_KEY) == self.merge_fingerprint():
            self._settings_recorded = True
            return  # merged under these very settings and rules: nothing to check
        self._settings_recorded = False
        engine, index = self._engine_now(), self._index
        for model_id in engine.ids() | set(index.ids()):
            entry, merged = index.entry(model_id), engine.resolve(model_id)
            if (entry is None) != (merged is None) or (
                    entry is not None and merged is not None and (
                        entry.content_hash != merged.content_hash() or entry.provenance != merged.provenance
                        or entry.source != merged.source)):
                self._dirty.add(model_id)
        if self._dirty:
            logger.info("catalog: {} stored models differ from the merge of their sources; "
                        "they are brought up to date at the next refresh", len(self._dirty))

    def check_lifecycle(self, ids=None) -> list[store.StoredEvent]:
        """Give the retiring_soon notices now due (see discovery.lifecycle), for ``ids`` or, with
        None, every published model; returns the committed events."""
        if self._notices is None:
            self._notices = store.load_notices()
        index = self._index
        entries = index.entries() if ids is None else [e for e in map(index.entry, ids) if e is not None]
        records = [loads(body) for body in (e.body for e in entries) if may_have_dates(body)]
        notices = due(records, today_of(self.clock()), self.retiring_horizons, self._notices)
        if not notices:
            return []
        events = store.record_notices(notices, time.time())
        for n in notices:
            day, covered = self._notices.get((n.model_id, n.kind), (None, frozenset()))
            self._notices[(n.model_id, n.kind)] = (n.date, frozenset(n.covers) | (covered if day == n.date else set()))
        return events

    def _rebuild_findings(self) -> None:
        """The reconciliation from the merge state and the traces stored with the published models."""
        engine = self._engine_now()
        ids = set(self._index.ids()) | engine.ids()
        index = self._index
        resolved = {model_id: conflicts_of(flatten(loads(entry.body)), trace)
                    for model_id, trace in self._stored_conflicts.items()
                    if (entry := index.entry(model_id)) is not None}
        self._stored_conflicts = {}
        self.reconciler.rebuild(engine, ids, resolved)

    def _rebuild_after_failure(self) -> None:
        """After a failed commit the findings may run ahead of the store: recompute them whole."""
        engine = self._engine_now()
        resolved: dict[str, Any] = {}
        for model_id in self._index.ids():
            trace: dict = {}
            merged = engine.resolve(model_id, trace)
            resolved[model_id] = conflicts_of(ModelValues(merged), trace) if merged is not None else ()
        self.reconciler.rebuild(engine, set(self._index.ids()) | engine.ids(), resolved)

    def _reconciliation_event(self, delta) -> dict[str, Any]:
        totals = self.reconciler.totals()  # kept by the updates: no count of every finding here
        return {"counts": {kind: sum(row[kind] for row in totals.values()) for kind in ("stale", "unknown", "conflicts")},
                "changes": {provider: {kind: n for kind, n in sorted(counter.items()) if n}
                            for provider, counter in sorted(delta.items())},
                "providers": {provider: totals.get(provider, {}) for provider in sorted(delta)}}

    def findings(self) -> Findings:
        """The reconciliation findings as they stand (safe to read from other threads)."""
        return self.reconciler.snapshot()

    def merge_fingerprint(self) -> str:
        """A hash of everything the merge depends on besides the sources' records."""
        settings = [MERGE_VERSION, self.include_catalog_only, list(self.precedence),
                    sorted(self.catalog_provider.items()),
                    self.catalog_order([s for s, flag in self.is_catalog.items() if flag])]
        return hashlib.blake2b(dumps(settings), digest_size=16).hexdigest()

    def _ensure_sources(self) -> None:
        if not self._sources_loaded:
            self.load_sources()

    def _engine_now(self) -> MergeEngine:
        if self._engine is None:
            self._build_engine()
        assert self._engine is not None
        return self._engine

    def _build_engine(self) -> None:
        """The merge engine and the Bedrock fold, from every source's committed models."""
        catalogs = self.catalog_order([s for s, flag in self.is_catalog.items() if flag])
        self._engine = MergeEngine(catalogs, include_catalog_only=self.include_catalog_only,
                                   precedence=list(self.precedence) or None, catalog_provider=self.catalog_provider)
        self._fold = RegionFold()
        for name in catalogs:
            if name in self._sources:
                self._engine.update(name, self._sources[name].models)
        for name in sorted(self._sources):
            if name not in self._engine.catalogs:
                self._feed(name, self._sources[name].models, ())

    def _feed(self, source: str, upserts: Mapping[str, Model], removed) -> set[str]:
        """Hand one source's changes to the merge (Bedrock regions through the fold); the affected ids."""
        engine = self._engine_now()
        if source.startswith(BEDROCK_SOURCE):
            return self._feed_regions([(source, upserts, removed)])
        if self.is_catalog.get(source) and source not in engine.catalogs:
            return engine.add_catalog(source) | engine.update(source, upserts, removed)
        return engine.update(source, upserts, removed)

    def _feed_regions(self, changes) -> set[str]:
        """Bedrock regions' changes, folded together: a model several regions list is recombined once."""
        combined, gone = self._fold.update_many((region_of(source) or source, upserts, removed)
                                                for source, upserts, removed in changes)
        return self._engine_now().update(BEDROCK, combined, gone)

    # -- reading ---------------------------------------------------------------------------------
    def index(self) -> CatalogIndex:
        """The published catalog (immutable)."""
        return self._index

    @property
    def current(self) -> Mapping[str, Model]:
        """The published catalog as id → record (decoded on access)."""
        return _CurrentView(self._index)

    @property
    def sources(self) -> dict[str, dict[str, Model]]:
        """Every source's last accepted records, by source name."""
        self._ensure_sources()
        return {name: dict(s.models) for name, s in self._sources.items()}

    def memos(self, names=None) -> dict[str, SourceMemo]:
        """The memo of each source (or of ``names``), for providers to skip unchanged work."""
        self._ensure_sources()
        wanted = self._sources.keys() if names is None else [n for n in names if n in self._sources]
        return {name: self._sources[name].memo() for name in wanted}

    def catalog_order(self, names) -> list[str]:
        """Catalog sources in precedence order: as configured, else models.dev, LiteLLM, others."""
        rank = {"modelsdev": 0, "litellm": 1}
        configured = {name: i for i, name in enumerate(self.precedence)}
        return sorted(dict.fromkeys(names), key=lambda n: (configured.get(n, len(configured)),
                                                           rank.get(self.formats.get(n, ""), 2), n))

    # -- writing ---------------------------------------------------------------------------------
    def check(self, snapshot: ProviderSnapshot, sources: Optional[Mapping[str, Mapping[str, Model]]] = None) -> None:
        """Refuse an answer that would wipe or gut the source (raise SuspiciousSnapshot)."""
        if snapshot.unchanged:
            return
        if sources is not None:
            previous: Mapping[str, Any] = sources.get(snapshot.source, {})
        else:
            self._ensure_sources()
            previous = self._sources.get(snapshot.source, _EMPTY).models
        _check(snapshot, previous, {m.id for m in snapshot.models})

    def apply(self, snapshot: ProviderSnapshot, now: Optional[float] = None
              ) -> tuple[RefreshOutcome, list[store.StoredEvent], set[str]]:
        """Apply one snapshot (see :meth:`apply_many`); raises SuspiciousSnapshot if it is refused."""
        outcomes, events, changed = self.apply_many([snapshot], now)
        if outcomes[0].outcome != store.SUCCEEDED:
            raise SuspiciousSnapshot(outcomes[0].error or "refused")
        return outcomes[0], events, changed

    def apply_many(self, snapshots: list[ProviderSnapshot], now: Optional[float] = None
                   ) -> tuple[list[RefreshOutcome], list[store.StoredEvent], set[str]]:
        """Diff and persist several sources' answers in one transaction.

        Returns an outcome per snapshot (in order), the committed events and the ids whose served
        record or raw answer changed. A refused snapshot (it would gut its source) gets a failed
        outcome with the reason and nothing of it is written; the others still commit. Each
        model change is attributed to the run of a snapshot whose source lists the model (the
        last such one), so a model that 30 Bedrock regions report at start-up gets one version.
        """
        self._ensure_sources()
        with self.commits.begin(now or None) as now:
            return self._apply_many(snapshots, now)

    def _apply_many(self, snapshots: list[ProviderSnapshot], now: float
                    ) -> tuple[list[RefreshOutcome], list[store.StoredEvent], set[str]]:
        outcomes: dict[int, RefreshOutcome] = {}
        working: dict[str, _Source] = {}
        accepted: list[tuple[ProviderSnapshot, _Source, _Source, refresh_commit.SourceWrite]] = []
        for snap in snapshots:
            previous = working.get(snap.source) or self._sources.get(snap.source) or _EMPTY
            try:
                new, write = self._accept(snap, previous)
            except SuspiciousSnapshot as exc:
                outcomes[snap.run_id] = RefreshOutcome(snap.run_id, snap.source, store.FAILED, error=exc.reason)
                continue
            working[snap.source] = new
            accepted.append((snap, previous, new, write))
        if not accepted:
            return [outcomes[s.run_id] for s in snapshots], [], set()
        try:
            return self._commit(snapshots, accepted, working, outcomes, now)
        except Exception:
            # The store rolled back; the merge state was updated in place: rebuild it from what is stored.
            self._build_engine()
            self._rebuild_after_failure()
            raise
        finally:
            # The records this write brought in were kept unpacked for it; from now on they are packed.
            for _, _, new, _ in accepted:
                for model_id in new.fresh:
                    record = new.models.get(model_id)
                    if isinstance(record, PackedModel):
                        record.release()
            for _, _, new, _ in accepted:
                new.fresh = ()

    def stored_sources(self) -> dict[str, int]:
        """Every source with models in the catalog's state, and how many it holds."""
        self._ensure_sources()
        return {name: len(s.models) for name, s in self._sources.items() if s.models}

    def retire(self, sources: Mapping[str, tuple[int, str]], now: Optional[float] = None
               ) -> tuple[list[RefreshOutcome], list[store.StoredEvent], set[str]]:
        """Take every model of these sources (name → (run id, reason)) out of the catalog in one
        commit, as an answer listing none of them would once their grace had run out: no grace
        and no loss check (the operator removed the source; see docs/architecture.md), each
        version and event carrying the reason. Returns what :meth:`apply_many` returns."""
        self._ensure_sources()
        accepted: list[tuple[ProviderSnapshot, _Source, _Source, refresh_commit.SourceWrite]] = []
        working: dict[str, _Source] = {}
        for name, (run_id, _) in sources.items():
            previous = self._sources.get(name)
            if previous is None:
                continue
            snap = ProviderSnapshot(source=name, run_id=run_id, models=(), allow_empty=True)
            write = refresh_commit.SourceWrite(run_id=run_id, source=name, upserts=(), deletes=tuple(previous.models),
                                      total=0, counts={})
            working[name] = _Source()
            accepted.append((snap, previous, working[name], write))
        if not accepted:
            return [], [], set()
        reasons = {run_id: reason for run_id, reason in sources.values()}
        try:
            with self.commits.begin(now or None) as now:
                result = self._commit([a[0] for a in accepted], accepted, working, {}, now, reasons)
        except Exception:
            self._build_engine()
            self._rebuild_after_failure()
            raise
        for name in working:
            # Nothing of it is left: a source configured again starts as a new one.
            self._sources.pop(name, None)
            self._rejections_shown.pop(name, None)
        return result

    def await_regions(self, sources) -> None:
        """Hold the Bedrock merge until each of these region sources has answered once (start-up)."""
        self._ensure_sources()
        self.awaited_regions = {s for s in sources if s not in self._sources}

    def region_settled(self, source: str, now: Optional[float] = None
                       ) -> tuple[list[store.StoredEvent], set[str]]:
        """A region's first refresh failed (or is given up on): stop waiting for it; commit what was
        held if nothing else is awaited. Returns the committed events and the changed ids."""
        self.awaited_regions.discard(source)
        return self.release_held(now) if not self.awaited_regions else ([], set())

    def release_held(self, now: Optional[float] = None) -> tuple[list[store.StoredEvent], set[str]]:
        """Merge and commit the held region changes now, whatever is still awaited."""
        self.awaited_regions.clear()
        if not self._held:
            return [], set()
        try:
            with self.commits.begin(now or None) as now:
                _, events, changed = self._commit([], [], {}, {}, now)
        except Exception:
            self._build_engine()
            self._rebuild_after_failure()
            raise
        return events, changed

    @property
    def holding(self) -> bool:
        """Whether region changes are held, waiting for other regions' first answers."""
        return bool(self._held)

    def _missed(self, source: str, previous: _Source, absent) -> tuple[dict[str, tuple[float, int]], tuple[str, ...]]:
        """Of the models an answer leaves out: those still in their grace (with when they were
        first missed and how many answers missed them), and those to remove now."""
        if self.is_catalog.get(source) or (self.missing_grace_refreshes <= 0 and self.missing_grace_seconds <= 0):
            return {}, tuple(absent)
        now = self.clock()
        missing: dict[str, tuple[float, int]] = {}
        deletes: list[str] = []
        for model_id in absent:
            since, count = previous.missing.get(model_id, (now, 0))
            count += 1
            if self.missing_grace_seconds > 0:
                expired = now - since >= self.missing_grace_seconds
            else:
                expired = count > self.missing_grace_refreshes
            if expired:
                deletes.append(model_id)
            else:
                missing[model_id] = (since, count)
        return missing, tuple(deletes)

    def missing(self) -> dict[str, dict[str, tuple[float, int]]]:
        """Per live source, the models it no longer lists that are kept through their grace."""
        self._ensure_sources()
        return {name: dict(s.missing) for name, s in self._sources.items() if s.missing}

    def _accept(self, snap: ProviderSnapshot, previous: _Source) -> tuple[_Source, refresh_commit.SourceWrite]:
        """One snapshot against its source's previous answer: the new source state and its rows."""
        common = dict(run_id=snap.run_id, source=snap.source, body_hash=snap.body_hash, fetch_ms=snap.fetch_ms,
                      received_at=snap.received_at)
        if snap.unchanged and not previous.missing:
            # The same answer as the one accepted last: the same state (and memo) goes on.
            return previous, refresh_commit.SourceWrite(upserts=(), deletes=(), total=len(previous.models),
                                               counts={}, **common)
        if snap.unchanged:
            # The same answer, and models it leaves out are missing one answer longer.
            missing, deletes = self._missed(snap.source, previous, previous.missing.keys())
            models = {k: v for k, v in previous.models.items() if k not in deletes}
            fingerprints = {k: v for k, v in previous.fingerprints.items() if k not in deletes}
            new = _Source(models, fingerprints, previous.body_hash, missing=missing)
            return new, refresh_commit.SourceWrite(upserts=(), deletes=deletes, total=len(models), counts={}, **common)
        listed: dict[str, Model] = {}
        rejections: list[str] = []
        repeated: list[str] = []
        for m in snap.models:
            if listed.setdefault(m.id, m) is not m:
                repeated.append(f"{_shown(m.id)}: duplicate id (the first is kept)")
        _check(snap, previous.models, listed.keys())
        old_models, old_prints = previous.models, previous.fingerprints
        prints = snap.fingerprints
        # Most items are the memo's records, the very objects held: they stay as they are. Which
        # ones are is found by identity in one pass of C-level iteration (it saved about 1.5 ms of
        # a 1%-changed round's 14 ms here at 10k); the rest are looked at below.
        models: dict[str, Model] = dict(listed)
        fingerprints: dict[str, Optional[str]] = dict(zip(listed, map(old_prints.get, listed)))
        kept_same = map(operator.is_, map(old_models.get, listed), listed.values())
        records: list[refresh_commit.SourceRecord] = []
        for model_id in itertools.compress(listed, map(operator.not_, kept_same)):
            m = listed[model_id]
            old = old_models.get(model_id)
            fp = prints.get(model_id) or raw_fingerprint(m)
            if old is not None and fp == old_prints.get(model_id) and old.content_hash() == m.content_hash():
                models[model_id] = old
                fingerprints[model_id] = fp
                continue
            problem: Optional[str] = None
            shown = model_id
            if REDACTOR.echoes(m.raw.json):
                # The provider put a configured secret (the caller's key, say) into the record: it
                # is masked here, before the store, the events, the webhooks and the streams see it.
                # An id that holds it would become another model's: that record is left out.
                try:
                    m = _masked(m)
                except RecursionError:
                    # Nested deeper than Python recurses: it cannot be masked, so it is not kept.
                    problem = "it holds a configured secret nested too deeply to mask"
                    shown = REDACTOR.scrub_known_text(model_id)
                else:
                    if m.id != model_id:
                        problem, shown = "its id holds a configured secret", m.id
            # Per-record limits, here only (discovery/limits.py): a record that breaks one is left out
            # and counted; its last good version, if any, stays.
            if problem is None:
                problem = limits.record_problem(m, m.raw.json)
            stripped = None
            if problem is None:
                # The record kept: no raw answer, every filled field with its source, packed.
                stripped = with_provenance(m.without_raw())
                problem = limits.body_problem(stripped.body())  # encoded once, for the packed record and the row
            if problem is not None or stripped is None:
                rejections.append(f"{_shown(shown)}: {problem}")
                if old is not None:
                    models[model_id] = old
                    fingerprints[model_id] = old_prints.get(model_id)
                else:
                    del models[model_id], fingerprints[model_id]
                continue
            kept = stripped if snap.source.startswith(BEDROCK_SOURCE) else PackedModel.of(stripped)
            models[model_id] = kept
            fingerprints[model_id] = fp
            records.append(refresh_commit.SourceRecord(stripped, m.raw.json, fp, getattr(kept, "packed", None)))
        missing, deletes = self._missed(snap.source, previous,
                                        list(itertools.filterfalse(listed.__contains__, old_models)))
        for model_id in missing:
            # Still inside its grace: the last good record stays, and nothing is announced.
            models[model_id] = old_models[model_id]
            fingerprints[model_id] = old_prints.get(model_id)
        new = _Source(models, fingerprints, snap.body_hash if snap.body_hash is not None else previous.body_hash,
                      missing=missing)
        new.fresh = tuple(r.model.id for r in records)
        rejections += repeated
        # Warned about when a source's rejections change, not at each of its refreshes while it goes
        # on sending the same bad records (the run row and its events still count them every time).
        shown_before = self._rejections_shown.pop(snap.source, frozenset())
        if rejections:
            self._rejections_shown[snap.source] = now_shown = frozenset(rejections)
            (logger.debug if now_shown == shown_before else logger.warning)(
                "{}: {} records rejected, e.g. {}", snap.source, len(rejections), rejections[0])
        return new, refresh_commit.SourceWrite(upserts=tuple(records), deletes=deletes, total=len(models), counts={},
                                      rejected=len(rejections), rejections=tuple(rejections[:MAX_REASONS]),
                                      **common)


# The fewest models an answer must leave out before max_removal_ratio is looked at (see _check).
SMALL_LOSS = 3


def _check(snapshot: ProviderSnapshot, previous: Mapping[str, Any], listed) -> None:
    """Raise SuspiciousSnapshot for an answer that would wipe or gut its source.

    What counts is how many of the source's models the answer leaves out, however many others it
    lists: an answer as long as the last, or longer, whose ids are all new (every one of them
    rejected, say, for a NUL in its id) would remove the whole source as surely as an empty one.
    """
    before = len(previous)
    after = len(listed)
    if before and after == 0 and not snapshot.allow_empty:
        raise SuspiciousSnapshot(f"{snapshot.source} answered with no models but had {before}; "
                                 "kept the last good catalog")
    if before:
        lost = before - len(previous.keys() & listed)
        # A loss of fewer than SMALL_LOSS models is not suspicious by itself: a small source (an
        # Ollama with one model pulled, a local server) swaps its few models as a matter of course,
        # and a share of them would refuse every such answer until the settings changed.
        if lost >= SMALL_LOSS and lost / before > snapshot.max_removal_ratio and not snapshot.allow_empty:
            raise SuspiciousSnapshot(
                f"{snapshot.source} answered with {after} models, losing {lost} of {before} "
                f"(more than {snapshot.max_removal_ratio:.0%}); kept the last good catalog")
