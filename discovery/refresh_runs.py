"""The refresh runs in the store: each source's refresh recorded as it begins and ends, listed
for the API, and pruned by age (a run the history names is kept)."""
from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any, Optional

import peewee

from discovery.schema import FAILED, INTERRUPTED, RUNNING, SUCCEEDED, EventRow, ModelVersionRow, ProviderRow, RefreshRunRow
from discovery.store import FENCE, bulk_write, get_meta, set_meta, sources_named, write_transaction


def begin_run(provider: str, trigger: str, now: Optional[float] = None, run_id: Optional[int] = None) -> int:
    """Record a refresh run as running; return its id (``run_id`` if the caller allocated one)."""
    fields_ = {"provider": provider, "trigger": trigger, "started_at": now or time.time()}
    if run_id is not None:
        fields_["id"] = run_id
    fields_["epoch"] = FENCE.epoch
    with write_transaction():
        new_id = RefreshRunRow.insert(**fields_).execute()
    return run_id if run_id is not None else new_id


def begin_runs(rows: Sequence[Mapping[str, Any]]) -> None:
    """Record several refresh runs as running, in one transaction (each row: id, provider,
    trigger, started_at, epoch)."""
    # bulk_write sends only what it is given: the columns' defaults (outcome running, counts 0) too.
    defaults = {f.name: f.default for f in RefreshRunRow._meta.sorted_fields
                if f.default is not None and not callable(f.default)}
    with write_transaction():
        bulk_write(RefreshRunRow, ({**defaults, **row} for row in rows))


def last_run_id() -> int:
    return RefreshRunRow.select(peewee.fn.MAX(RefreshRunRow.id)).scalar() or 0


def fail_run(run_id: int, error: str, now: Optional[float] = None) -> float:
    """Mark a run failed with a reason, and the provider's last error; returns the time it ended."""
    now = now or time.time()
    with write_transaction():
        run = RefreshRunRow.get_by_id(run_id)
        RefreshRunRow.update(outcome=FAILED, error=error, finished_at=now,
                             duration_ms=(now - run.started_at) * 1000).where(RefreshRunRow.id == run_id).execute()
        ProviderRow.update(last_refresh_at=now, last_error=error).where(ProviderRow.name == run.provider).execute()
    return now


def interrupt_running_runs(now: Optional[float] = None) -> int:
    """Runs left ``running`` by a crash (or a deposed leader) become ``interrupted``; return how many."""
    with write_transaction():
        return (RefreshRunRow.update(outcome=INTERRUPTED, finished_at=now or time.time(),
                                     error="interrupted: the service stopped before this refresh finished")
                .where(RefreshRunRow.outcome == RUNNING).execute())


def prune_runs(max_age: float, now: Optional[float] = None, chunk: int = 5000, keep_after: Optional[int] = None) -> int:
    """Delete refresh runs that ended more than ``max_age`` seconds ago (0: keep every run);
    return how many went.

    Kept whatever their age: a run that wrote a model version (the history names it, and
    ``as_of`` reads its finish), each source's newest successful run (its last answer), and the
    newest run of all (a run id must never be handed out twice). What goes is, overwhelmingly,
    the refreshes that changed nothing: one row per source per interval, which otherwise piles
    up for as long as the service runs. Deletes in chunks so the writer is never held long.

    ``keep_after``: the event id after which the feed is kept whatever its age (a webhook still has
    to receive those events, see :func:`prune_events`); no run that finished since the first of
    them goes, so every kept event's run can still be read.
    """
    if max_age <= 0:
        return 0
    newest = last_run_id()
    if not newest:
        return 0
    cutoff = (now or time.time()) - max_age
    if keep_after is not None:
        # An event is made as its run's commit begins and the run's finish is stamped as it ends,
        # so a held event's run finished at or after the event's time.
        held = (EventRow.select(EventRow.created_at).where(EventRow.id > keep_after)
                .order_by(EventRow.id).limit(1).scalar())
        if held is not None:
            cutoff = min(cutoff, held)
    # Each source's newest success: a few ids (one per source), listed in the query.
    keep = [newest] + [run_id for (run_id,) in RefreshRunRow.select(peewee.fn.MAX(RefreshRunRow.id))
                       .where(RefreshRunRow.outcome == SUCCEEDED).group_by(RefreshRunRow.provider).tuples()]
    # NOT EXISTS, not NOT IN (SELECT run FROM model_versions): PostgreSQL hashes a NOT IN list only
    # while it fits in work_mem, and past that checks each run against a scan of every version.
    # The correlated probe is one seek of the run index of model_versions on both backends.
    version = ModelVersionRow.alias("wrote")
    wrote = peewee.fn.EXISTS(version.select(peewee.SQL("1")).where(version.run == RefreshRunRow.id))
    doomed = (RefreshRunRow.select(RefreshRunRow.id)
              .where((RefreshRunRow.finished_at < cutoff) & (RefreshRunRow.outcome != RUNNING)
                     & (RefreshRunRow.id < newest) & RefreshRunRow.id.not_in(keep) & ~wrote)
              .order_by(RefreshRunRow.id).limit(chunk))
    deleted = 0
    while True:
        ids = [run_id for (run_id,) in doomed.tuples()]
        if not ids:
            return deleted
        with write_transaction():
            # Checked again in the transaction: a run a version names is never deleted (its
            # versions would lose their run, on_delete SET NULL).
            gone = RefreshRunRow.delete().where(RefreshRunRow.id.in_(ids) & ~wrote).execute()
            if gone:
                # Before this time a source's last answer is no longer known (see runs_pruned_before).
                if cutoff > runs_pruned_before():
                    set_meta(RUNS_PRUNED_KEY, repr(cutoff))
            deleted += gone
        if len(ids) < chunk:
            return deleted


RUNS_PRUNED_KEY = "runs_pruned_before"


def runs_pruned_before() -> float:
    """The time before which refresh runs may have been pruned (0: none ever were): a source's
    last successful answer at an earlier time is not known any more."""
    value = get_meta(RUNS_PRUNED_KEY)
    return float(value) if value else 0.0


def run_dict(row: RefreshRunRow) -> dict[str, Any]:
    """A refresh run as the API shows it."""
    return {
        "id": row.id, "provider": row.provider, "trigger": row.trigger, "outcome": row.outcome,
        "started_at": row.started_at, "finished_at": row.finished_at, "duration_ms": row.duration_ms,
        "total": row.total, "added": row.added, "updated": row.updated, "removed": row.removed,
        "error": row.error, "fetch_ms": row.fetch_ms, "work_ms": row.work_ms,
        "rejected": row.rejected or 0, "rejections": row.rejections or [],
    }


def get_run(run_id: int) -> Optional[dict[str, Any]]:
    row = RefreshRunRow.get_or_none(RefreshRunRow.id == run_id)
    return run_dict(row) if row else None


def provider_names(provider: Optional[str] | Sequence[str]) -> list[str]:
    """A provider filter: one name, several (any of them), or none."""
    return [provider] if isinstance(provider, str) else list(provider or ())


def list_runs(provider: Optional[str] | Sequence[str] = None, limit: int = 50,
              before: Optional[int] = None) -> list[dict[str, Any]]:
    """Newest first; ``provider``: one name or several (``bedrock`` takes its regions' runs: a
    region's source, ``bedrock@<region>``, runs Bedrock's refreshes)."""
    q = RefreshRunRow.select().order_by(RefreshRunRow.id.desc()).limit(limit)
    if provider:
        q = q.where(sources_named(RefreshRunRow.provider, provider_names(provider)))
    if before:
        q = q.where(RefreshRunRow.id < before)
    return [run_dict(r) for r in q]
