"""The catalog as it stood at a past time, rebuilt from the append-only ``model_versions`` table.

The catalog at time *t* is, for each model id, its newest version written at or before *t*, unless
that version is a removal. Under the single writer a version row's id and its ``created_at`` grow
together, so a time resolves to a *point*: the newest version row written at or before it. Every
time between two commits resolves to the same point, and the catalog after a point never changes,
which makes the point the key of a small cache of built indexes.

A past catalog is a :class:`~discovery.index.CatalogIndex` like the published one, so the live
query machinery (:mod:`discovery.query`) filters, sorts and pages it unchanged.
"""
from __future__ import annotations

import itertools
import math
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, Optional

import peewee
from cachetools import LRUCache

from discovery.benchmark.board import PerformanceBoard
from discovery.benchmark.stored import latest_benchmark_results
from discovery.diff import ADDED, REMOVED, UPDATED, diff_contents
from discovery.entry import CatalogEntry
from discovery.index import CatalogIndex
from discovery.model import Model, dumps, loads
from discovery.refresh_runs import runs_pruned_before
from discovery.store import (
    SUCCEEDED,
    BenchmarkResultRow,
    EventRow,
    ModelVersionRow,
    RefreshRunRow,
    StoredEvent,
    db,
    event_providers,
)
from discovery.store import catalog_id as store_catalog_id
from discovery.timestamps import epoch, iso, parse_time  # noqa: F401 - re-exported

# Times are compared at the precision the API prints them with (microseconds).
RESOLUTION = 1e-6


def printed_through(when: float) -> float:
    """The smallest float past every time that prints (:func:`discovery.timestamps.iso`, rounded to
    the nearest microsecond) at or before ``when``'s microsecond: a time ``t`` is in the catalog
    "as of" ``when`` exactly when ``t < printed_through(when)``.

    A version made at 12.3456789 s is printed 12.345679, the time its event and history report: it
    is in the catalog as of 12.345679 and not as of 12.345678 (``when + 1e-6`` counted it in at
    12.345678, a microsecond before its own event's time). Exact: the bound is the half
    microsecond between the two, as a decimal, then the first float not below it.
    """
    edge = (Decimal(round(when * 1_000_000)) + Decimal("0.5")) / 1_000_000
    bound = float(edge)
    return bound if Decimal(bound) >= edge else math.nextafter(bound, math.inf)
# Models the cache of past catalogs holds at most, over all the catalogs it keeps.
CACHE_MODELS = 200_000
# The list form of a record as the catalog serves it today: every key, in order, unknown as null.
_SHAPE: dict[str, Any] = loads(Model("provider", "model").body())
_SECTIONS = tuple(k for k, v in _SHAPE.items() if isinstance(v, dict) and k != "attributes")


# Seconds a read of the past waits for a commit under way to end before it answers anyway.
COMMIT_WAIT = 60.0


class CommitsUnderWay:
    """The writer's commits begun and not yet ended, so a read of the past can wait for them.

    A commit stamps its versions with the time it begins and they become visible when it ends: a
    read for a time after the start, made meanwhile, would not see them, and the same time asked
    a moment later would. So a read for time *t* first waits for every commit begun by *t*.
    The writer marks each commit with :meth:`begin`, before it takes the time it stamps.
    """

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._open: dict[int, float] = {}
        self._ids = itertools.count(1)

    @contextmanager
    def begin(self, stamp: Optional[float] = None) -> Iterator[float]:
        """Mark a commit under way until the block ends; yields the time to stamp its versions
        with (``stamp``, or now), never before the mark."""
        with self._changed:
            token = next(self._ids)
            marked = time.time()
            self._open[token] = marked if stamp is None else min(marked, stamp)
        try:
            yield marked if stamp is None else stamp
        finally:
            with self._changed:
                del self._open[token]
                self._changed.notify_all()

    def under_way(self) -> int:
        """How many commits are under way now."""
        with self._changed:
            return len(self._open)

    def wait_until_committed(self, when: float, timeout: float = COMMIT_WAIT) -> bool:
        """Wait until no commit begun at or before ``when`` is under way; False if one still was
        after ``timeout`` seconds."""
        with self._changed:
            return self._changed.wait_for(
                lambda: not any(began < printed_through(when) for began in self._open.values()), timeout)


@dataclass(frozen=True)
class PastCatalog:
    """The catalog as it stood after one point in history.

    ``point`` is the newest ``model_versions`` id at or before the time asked (0: before any
    history), ``committed_at`` when that version was written; ``index`` answers queries like the
    published index; ``versions`` maps each model id to the version row it stood at.
    """

    point: int
    committed_at: Optional[float]
    index: CatalogIndex
    versions: Mapping[str, int]
    # The measured performance as of the time asked (set by CatalogHistory.catalog_at).
    performance: PerformanceBoard = field(default_factory=PerformanceBoard)

    def __len__(self) -> int:
        return len(self.index)


@dataclass(frozen=True)
class PastRecord:
    """One model as it stood at a time: its list form, provenance and raw answer; each source's
    last successful refresh by then; the measured performance by then."""

    body: bytes
    provenance: dict[str, Any]
    raw: Any
    answered: Mapping[str, float]
    performance: PerformanceBoard


@dataclass(frozen=True)
class CatalogChange:
    """One model's difference between two past catalogs (``diff``: ``{path: [old, new]}`` when updated)."""

    model_id: str
    provider: str
    change: str
    diff: Optional[Mapping[str, list]] = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.model_id, "provider": self.provider, "change": self.change}
        if self.diff is not None:
            out["diff"] = dict(self.diff)
        return out


def list_form(data: Mapping[str, Any]) -> bytes:
    """A stored record's list form (no provenance, no raw answer) in the shape served today.

    A version written before the taxonomy gained a field lacks its key; it is filled with null
    (unknown), and a key the taxonomy no longer has is left out, as the live catalog does.
    """
    out: dict[str, Any] = {}
    for key, blank in _SHAPE.items():
        value = data.get(key, blank)
        if key in _SECTIONS and type(value) is dict:  # (not an ABC check: this runs per field of 10k records)
            value = {k: value.get(k) for k in blank}
        out[key] = value
    return dumps(out)


def split_record(data: Mapping[str, Any]) -> tuple[bytes, dict[str, Any], Any]:
    """A stored version's full record split into its list form, its provenance and its raw answer."""
    return list_form(data), dict(data.get("provenance") or {}), data.get("raw")


def history_point(when: float) -> tuple[int, Optional[float]]:
    """The newest version row written at or before ``when`` (epoch seconds): its id and time, or (0, None)."""
    row = (ModelVersionRow.select(ModelVersionRow.id, ModelVersionRow.created_at)
           .where(ModelVersionRow.created_at < printed_through(when))
           .order_by(ModelVersionRow.created_at.desc(), ModelVersionRow.id.desc())
           .limit(1).tuples().first())
    return (row[0], row[1]) if row else (0, None)


def versions_at(point: int) -> peewee.ModelSelect:
    """One query: each model's newest version at or before ``point``, removals left out.

    The newest version of a model is its largest row id (versions are appended in order), so the
    inner query is a group-by over the ``model_id`` index (which carries the row id in SQLite) and
    the outer one a primary-key join; both are plain SQL that PostgreSQL runs too.
    """
    newest = (ModelVersionRow.select(peewee.fn.MAX(ModelVersionRow.id).alias("vid"))
              .where(ModelVersionRow.id <= point).group_by(ModelVersionRow.model_id))
    return (ModelVersionRow.select(ModelVersionRow.id, ModelVersionRow.content_hash, ModelVersionRow.data)
            .join(newest, on=(ModelVersionRow.id == newest.c.vid))
            .where(ModelVersionRow.change != REMOVED))


def build_past_catalog(point: int, committed_at: Optional[float], near: Optional[PastCatalog] = None) -> PastCatalog:
    """Read the catalog after ``point`` from the store and index it.

    Entries are immutable, so a version that ``near`` (a catalog built before) already holds is
    taken from it, not decoded again: the catalog at a nearby point costs what changed in between.
    """
    entries, versions = [], {}
    held = {version_id: model_id for model_id, version_id in near.versions.items()} if near else {}
    if point:
        # Rows as stored (no field converters): a record is decoded only when it is not held.
        for version_id, content_hash, data in db.execute_sql(*versions_at(point).sql()):
            model_id = held.get(version_id)
            entry = near.index.entry(model_id) if model_id is not None and near is not None else None
            if entry is None:
                body, provenance, _ = split_record(loads(data))
                entry = CatalogEntry.from_stored(body, content_hash, provenance)
            entries.append(entry)
            versions[entry.id] = version_id
    return PastCatalog(point, committed_at, CatalogIndex.from_entries(entries, point), versions)


def stored_version(version_id: int) -> Optional[Mapping[str, Any]]:
    """The full record (list form, provenance, raw answer) one version row holds."""
    return ModelVersionRow.select(ModelVersionRow.data).where(ModelVersionRow.id == version_id).scalar()


# A commit's version rows are stamped when it begins and its run's finish when it ends; no commit
# takes longer than this, so the versions a run in commit at some time had written are found
# among those of the minute before it.
COMMIT_SPAN = 60.0


def _last_successes(before: float, pruned_before: float = 0.0) -> dict[str, float]:
    """Each source's last successful run that finished before ``before``: source → its finish.

    ``pruned_before``: runs that finished earlier may have been pruned (refresh_runs.prune_runs). A
    success found before it is then given only if it is the source's newest of all (which pruning
    keeps); otherwise a pruned one may have come after it, and none is known.

    One seek per source, not a pass over every run (a GROUP BY reads them all: 147 ms at 230,000
    runs here): the sources are walked one after the other through the provider index (each the
    least name above the last), and each one's newest success is read backwards from ``before``
    through the (provider, outcome, finished_at) index.
    """
    param = db.param
    table = RefreshRunRow._meta.table_name
    sql = (f'WITH RECURSIVE sources(name) AS ('
           f'SELECT MIN(provider) FROM "{table}" UNION ALL '
           f'SELECT (SELECT MIN(provider) FROM "{table}" WHERE provider > sources.name) '
           f'FROM sources WHERE sources.name IS NOT NULL) '
           f'SELECT name, (SELECT MAX(finished_at) FROM "{table}" WHERE provider = sources.name '
           f'AND outcome = {param} AND finished_at < {param}), (SELECT MAX(finished_at) FROM "{table}" '
           f'WHERE provider = sources.name AND outcome = {param}) FROM sources WHERE name IS NOT NULL')
    rows = db.execute_sql(sql, (SUCCEEDED, before, SUCCEEDED)).fetchall()
    return {name: finished for name, finished, newest in rows
            if finished is not None and (finished >= pruned_before or finished == newest)}


def last_answers(when: float) -> dict[str, float]:
    """Each source's last successful refresh that had answered at ``when``: source → time.

    That is its run's finish, or, for a run whose commit was under way at ``when`` (its versions
    written, its finish stamped a few milliseconds later), the time of its versions: the record
    ``as_of`` shows at that moment is that run's answer, so its time is the one to show with it.
    """
    pruned_before = runs_pruned_before()
    if when < pruned_before:
        # Runs of then that changed nothing were pruned: the newest success left would be an
        # older one, a wrong answer. None is known, so none is given (verified_at is null).
        return {}
    out = _last_successes(printed_through(when), pruned_before)
    # Commits newest first, back from ``when``, through the (created_at, id) index (every version of
    # one commit has its time): each commit's runs, until one had finished by then (the writer
    # commits one at a time, so every older one had too). Usually one seek and one run row.
    before = printed_through(when)
    while True:
        newest = (ModelVersionRow.select(ModelVersionRow.created_at)
                  .where((ModelVersionRow.created_at < before) & (ModelVersionRow.created_at >= when - COMMIT_SPAN))
                  .order_by(ModelVersionRow.created_at.desc()).limit(1).scalar())
        if newest is None:
            return out
        runs = (RefreshRunRow.select(RefreshRunRow.provider, RefreshRunRow.outcome, RefreshRunRow.finished_at)
                .where(RefreshRunRow.id.in_(ModelVersionRow.select(ModelVersionRow.run).distinct()
                                            .where(ModelVersionRow.created_at == newest))).tuples())
        done = False
        for provider, outcome, finished in runs:
            if finished is not None and finished < printed_through(when):
                done = True  # this commit had ended by then: so had every older one
            elif outcome == SUCCEEDED and newest > (out.get(provider) or 0.0):
                out[provider] = newest
        if done:
            return out
        before = newest


def performance_at(when: float) -> PerformanceBoard:
    """The measured performance as it stood at ``when``: each (model, region)'s newest result with
    samples measured by then, marked failing when a newer one by then kept none (results are
    append-only, like versions)."""
    return PerformanceBoard.from_rows(latest_benchmark_results(BenchmarkResultRow.measured_at < printed_through(when)))


def compare(old: PastCatalog, new: PastCatalog, providers: Iterable[str] = ()) -> list[CatalogChange]:
    """What differs between two past catalogs, by id: models added, removed and updated (with the
    field diff). A model added and removed again in between is in neither, so it is not here."""
    wanted = set(providers)
    out = []
    for model_id in sorted(old.versions.keys() | new.versions.keys()):
        before, after = old.versions.get(model_id), new.versions.get(model_id)
        if before == after:
            continue
        a, b = old.index.entry(model_id), new.index.entry(model_id)
        provider = (b or a).provider  # type: ignore[union-attr]
        if wanted and provider not in wanted:
            continue
        if a is None:
            out.append(CatalogChange(model_id, provider, ADDED))
        elif b is None:
            out.append(CatalogChange(model_id, provider, REMOVED))
        elif a.content_hash != b.content_hash and (diff := diff_contents(a.data(), b.data())):
            out.append(CatalogChange(model_id, provider, UPDATED, diff))
    return out


def events_before(before: Optional[int], limit: int, kinds: Iterable[str] = (),
                  providers: Iterable[str] = ()) -> list[StoredEvent]:
    """The newest events of the feed, newest first (ids below ``before``, if given)."""
    query = EventRow.select().order_by(EventRow.id.desc()).limit(limit)
    if before is not None:
        query = query.where(EventRow.id < before)
    kinds, providers = list(kinds), list(providers)
    if kinds:
        query = query.where(EventRow.kind.in_(kinds))
    if providers:
        query = query.where(event_providers(providers))
    return [StoredEvent(r.id, r.kind, r.provider, r.model_id, r.run_id, r.created_at, r.data) for r in query]


class CatalogHistory:
    """Past catalogs from the store, the latest few kept built (keyed by their point in history).

    Plain logic on the caller's connection; :class:`actors.history.HistoryActor` gives it a
    mailbox and a connection of its own.
    """

    def __init__(self, cache_models: int = CACHE_MODELS):
        # Bounded by the models held, so a few large catalogs cannot pile up in memory.
        self._built: LRUCache = LRUCache(maxsize=max(1, cache_models), getsizeof=lambda c: max(1, len(c)))
        # The last few comparisons, so paging through a long one compares once.
        self._compared: LRUCache = LRUCache(maxsize=8)
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def catalog_at(self, when: float) -> PastCatalog:
        """The catalog as it stood at ``when`` (epoch seconds; a future time is now), with the
        measured performance of then."""
        return replace(self._catalog_at(when), performance=performance_at(when))

    def _catalog_at(self, when: float) -> PastCatalog:
        point, committed_at = history_point(when)
        with self._lock:
            found = self._built.get(point)
            if found is not None:
                self.hits += 1
                return found
            self.misses += 1
            nearest = min(self._built, key=lambda p: abs(p - point), default=None)
            near = self._built.get(nearest) if nearest is not None else None
        built = build_past_catalog(point, committed_at, near)
        with self._lock:
            try:
                self._built[point] = built
            except ValueError:  # larger than the whole cache: served, not kept
                pass
        return built

    def record_at(self, model_id: str, when: float) -> Optional[PastRecord]:
        """One model as it stood at ``when``, or None if the catalog did not hold it then."""
        version_id = self._catalog_at(when).versions.get(model_id)
        if version_id is None:
            return None
        data = stored_version(version_id)
        if data is None:
            return None
        body, provenance, raw = split_record(data)
        return PastRecord(body, provenance, raw, last_answers(when), performance_at(when))

    def changes(self, start: float, end: float, providers: Iterable[str] = ()) -> list[CatalogChange]:
        """What was added, removed and updated between the catalogs at ``start`` and at ``end``."""
        old, new = self._catalog_at(start), self._catalog_at(end)
        key = (old.point, new.point, tuple(sorted(set(providers))))
        with self._lock:
            found = self._compared.get(key)
        if found is None:
            found = tuple(compare(old, new, key[2]))
            with self._lock:
                self._compared[key] = found
        return list(found)

    def events_before(self, before: Optional[int], limit: int, kinds: Iterable[str] = (),
                      providers: Iterable[str] = ()) -> list[StoredEvent]:
        """The newest events, newest first (see :func:`events_before`)."""
        return events_before(before, limit, kinds, providers)

    def catalog_id(self) -> str:
        """The store's own name (:func:`discovery.store.catalog_id`)."""
        return store_catalog_id()

    def stats(self) -> dict[str, Any]:
        """The cache of built past catalogs: hits, misses, catalogs and models held."""
        with self._lock:
            return {"hits": self.hits, "misses": self.misses, "catalogs": len(self._built),
                    "models": int(self._built.currsize), "max_models": int(self._built.maxsize)}
