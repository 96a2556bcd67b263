"""The commit of refreshes: one transaction that writes the sources' rows, the models' new
versions and current rows, the runs' outcomes, the provider rows and the outbox events together
(:func:`commit_refresh`, called by the catalog's writer only)."""
from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Optional

from discovery.entry import stored_pack
from discovery.model import Model, join_record
from discovery.schema import SUCCEEDED, ModelRow, ModelVersionRow, ProviderRow, RefreshRunRow, SourceModelRow, db
from discovery.store import (
    CHUNK,
    LOOKUP_CHUNK,
    StoredEvent,
    bulk_write,
    insert_events,
    set_meta,
    update_many,
    write_transaction,
)


@dataclass(frozen=True)
class SourceRecord:
    """One source item to store: its record (without raw), its raw answer and its fingerprint."""

    model: Model
    raw: bytes
    fingerprint: Optional[str]
    # The record's list form packed as the catalog keeps it (discovery.entry.pack), if it is.
    packed: Optional[bytes] = None


@dataclass(frozen=True)
class SourceWrite:
    """One source's accepted answer: its own rows and its run's outcome.

    ``received_at`` is when the answer's body was read (wall clock): the run's ``work_ms`` is
    measured from it to the end of the commit.
    """

    run_id: int
    source: str
    upserts: tuple[SourceRecord, ...]
    deletes: tuple[str, ...]
    total: int
    counts: Mapping[str, int]
    body_hash: Optional[str] = None
    fetch_ms: Optional[float] = None
    received_at: Optional[float] = None
    # Records left out for breaking a limit, and the first reasons.
    rejected: int = 0
    rejections: tuple[str, ...] = ()


@dataclass(frozen=True)
class ModelWrite:
    """A new version of a published model: added or updated (with its field diff)."""

    model: Model
    change: str
    run_id: int
    raw: bytes
    diff: Optional[Mapping[str, list]] = None
    # The record's list form, if the caller already encoded it.
    body: Optional[bytes] = None
    # The record's traced provenance (each field's source, entry, match, conflicts), JSON.
    provenance: Optional[bytes] = None
    # The list form packed as the catalog keeps it, if the caller has it (stored with the row).
    packed: Optional[bytes] = None
    # Why, when the run does not say it (ModelVersionRow.reason).
    reason: Optional[str] = None


@dataclass(frozen=True)
class ModelRemoval:
    """A published model that is gone; ``last`` is its last version's full JSON."""

    model_id: str
    content_hash: str
    last: bytes
    run_id: int
    reason: Optional[str] = None


@dataclass(frozen=True)
class RefreshWrite:
    """Everything one or more successful refreshes write, in one transaction.

    Each model change carries the run it is attributed to (the run of the source that lists it).
    """

    sources: tuple[SourceWrite, ...]
    model_upserts: tuple[ModelWrite, ...]
    model_deletes: tuple[ModelRemoval, ...]
    events: tuple[tuple[str, Optional[str], Optional[str], Optional[int], Mapping[str, Any]], ...]
    diffs: Mapping[str, Mapping[str, list]] = field(default_factory=dict)
    # Published models whose content is unchanged but whose provenance or source moved, with
    # their list forms, traced provenance and packed forms (None: not at hand): the current row is
    # rewritten, no version is made.
    model_touches: tuple[tuple[Model, bytes, bytes, Optional[bytes]], ...] = ()
    # Facts written with the catalog (e.g. the merge settings it now follows).
    meta: Mapping[str, Optional[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class CommitResult:
    """What a commit stored: its events, and when it ended (every run's timestamps are this)."""

    events: list[StoredEvent]
    finished_at: float


def commit_refresh(write: RefreshWrite, now: Optional[float] = None) -> CommitResult:
    """Write refreshes' source rows, versions, current rows, run outcomes and events atomically.

    Run timestamps (``finished_at``, ``duration_ms``, ``work_ms``, ``last_success_at``) are taken
    after every other row is written, as the transaction ends.
    """
    now = now or time.time()
    with write_transaction():
        for sw in write.sources:
            for i in range(0, len(sw.deletes), CHUNK):
                SourceModelRow.delete().where((SourceModelRow.source == sw.source)
                                              & (SourceModelRow.model_id.in_(sw.deletes[i:i + CHUNK]))).execute()
            bulk_write(SourceModelRow, ({"source": sw.source, "model_id": r.model.id,
                                         "content_hash": r.model.content_hash(), "fingerprint": r.fingerprint,
                                         "data": data, "raw": r.raw,
                                         "packed": stored_pack(data, r.packed) if r.packed is not None else None}
                                        for r in sw.upserts for data in (_source_data(r.model),)),
                       conflict=("source", "model_id"))

        ids = [w.model.id for w in write.model_upserts] + [r.model_id for r in write.model_deletes]
        current_versions: dict[str, int] = {}
        first_seen: dict[str, float] = {}
        # Plain SQL: peewee builds a query at tens of microseconds per value, which a cold
        # ingest of thousands of models would pay twice per id.
        for i in range(0, len(ids), LOOKUP_CHUNK):
            chunk = ids[i:i + LOOKUP_CHUNK]
            marks = ", ".join([db.param] * len(chunk))
            current_versions.update(db.execute_sql(
                f'SELECT "model_id", MAX("version") FROM "model_versions" WHERE "model_id" IN ({marks}) '
                'GROUP BY "model_id"', chunk).fetchall())
            first_seen.update(db.execute_sql(
                f'SELECT "id", "first_seen" FROM "models" WHERE "id" IN ({marks})', chunk).fetchall())

        def versions() -> Iterable[dict[str, Any]]:
            for w in write.model_upserts:
                m = w.model
                diff = w.diff if w.diff is not None else write.diffs.get(m.id)
                yield {"model_id": m.id, "version": current_versions.get(m.id, 0) + 1, "change": w.change,
                       "content_hash": m.content_hash(), "data": join_record(_body(w), _traced(w), w.raw),
                       "diff": dict(diff or {}) or None, "run": w.run_id, "created_at": now, "reason": w.reason}
            for r in write.model_deletes:
                yield {"model_id": r.model_id, "version": current_versions.get(r.model_id, 0) + 1,
                       "change": "removed", "content_hash": r.content_hash, "data": r.last, "diff": None,
                       "run": r.run_id, "created_at": now, "reason": r.reason}

        def current() -> Iterable[dict[str, Any]]:
            for w in write.model_upserts:
                m = w.model
                body = _body(w)
                yield {"id": m.id, "provider": m.provider, "source": m.source, "live": m.live,
                       "content_hash": m.content_hash(), "version": current_versions.get(m.id, 0) + 1,
                       "body": body, "provenance": _traced(w),
                       "packed": stored_pack(body, w.packed) if w.packed is not None else None,
                       "first_seen": first_seen.get(m.id, now), "updated_at": now}

        bulk_write(ModelVersionRow, versions())
        bulk_write(ModelRow, current(), conflict=("id",))
        if write.model_touches:
            db.cursor().executemany(
                f'UPDATE "models" SET "source" = {db.param}, "live" = {db.param}, "body" = {db.param}, '
                f'"provenance" = {db.param}, "packed" = {db.param}, "content_hash" = {db.param}, '
                f'"updated_at" = {db.param} WHERE "id" = {db.param}',
                [(m.source, m.live, body.decode(), provenance.decode(),
                  stored_pack(body, packed) if packed is not None else None, m.content_hash(), now, m.id)
                 for m, body, provenance, packed in write.model_touches])
        deleted = [r.model_id for r in write.model_deletes]
        for i in range(0, len(deleted), CHUNK):
            ModelRow.delete().where(ModelRow.id.in_(deleted[i:i + CHUNK])).execute()

        events = insert_events(write.events, now)
        for key, value in write.meta.items():
            set_meta(key, value)
        finished = time.time()
        run_ids = [sw.run_id for sw in write.sources]
        started: dict[int, float] = {}
        for i in range(0, len(run_ids), LOOKUP_CHUNK):
            chunk = run_ids[i:i + LOOKUP_CHUNK]
            marks = ", ".join([db.param] * len(chunk))
            started.update(db.execute_sql(
                f'SELECT "id", "started_at" FROM "refresh_runs" WHERE "id" IN ({marks})', chunk).fetchall())

        def runs() -> Iterable[dict[str, Any]]:
            for sw in write.sources:
                started_at = started.get(sw.run_id)
                yield {"id": sw.run_id, "outcome": SUCCEEDED, "finished_at": finished,
                       "duration_ms": (finished - started_at) * 1000 if started_at is not None else None,
                       "fetch_ms": sw.fetch_ms,
                       "work_ms": (finished - sw.received_at) * 1000 if sw.received_at else None,
                       "total": sw.total, "added": sw.counts.get("added", 0), "updated": sw.counts.get("updated", 0),
                       "removed": sw.counts.get("removed", 0), "error": None,
                       "rejected": sw.rejected, "rejections": list(sw.rejections) or None}

        def providers() -> Iterable[dict[str, Any]]:
            for sw in write.sources:
                row = {"name": sw.source, "last_refresh_at": finished, "last_success_at": finished,
                       "last_error": None, "model_count": sw.total}
                if sw.body_hash is not None:
                    row["body_hash"] = sw.body_hash
                yield row

        update_many(RefreshRunRow, "id", runs())
        update_many(ProviderRow, "name", providers())
    return CommitResult(events, finished)


def _source_data(model: Model) -> bytes:
    """A source row's record: the list form and provenance, without the raw answer.

    The list form is encoded here without being kept on the record: a source record that is not
    published as it is (a live model the catalogs enrich) never needs it again.
    """
    return join_record(model.encode_body(), _provenance(model), None)


def _body(write: ModelWrite) -> bytes:
    return write.body if write.body is not None else write.model.encode_body()


def _traced(write: ModelWrite) -> bytes:
    return write.provenance if write.provenance is not None else _provenance(write.model)


def _provenance(model: Model) -> bytes:
    return model.provenance.json()  # type: ignore[attr-defined]
