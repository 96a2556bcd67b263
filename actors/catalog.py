"""CatalogActor: the single writer of the catalog and the store."""
from __future__ import annotations

import concurrent.futures
import contextlib
import gc
import time
from collections.abc import Callable
from typing import Any, Optional

import peewee
import pykka
from loguru import logger

from actors.calls import Calls, resolve
from actors.heap import release_free_memory
from actors.scheduling import schedule
from actors.sources_at_start import SourcesAtStart
from actors.view import RUN_ID_BLOCK, CatalogView
from discovery import refresh_runs, replication, store, stored_models
from discovery.benchmark import stored
from discovery.benchmark.board import PerformanceBoard
from discovery.benchmark.records import BenchmarkReport
from discovery.catalog import CatalogState
from discovery.collector import collector_paused
from discovery.diff import STATUS_CHANGED
from discovery.health import UNKNOWN
from discovery.messages import STORE_FAILURE, ChangeBatch, ProviderSnapshot, RefreshFailure, RefreshOutcome
from discovery.redaction import scrub
from discovery.settings import ProviderConfig, Settings
from discovery.sources import region_of

# Models in one apply above which the transient memory of the write is handed back to the OS.
LARGE_WRITE = 1000
# Records per write transaction when queued answers are applied together (flush_snapshots).
BATCH_MODELS = 3000
# Seconds the writer waits for the notifier to fan a commit's events out before going on.
NOTIFY_HANDOVER = 0.002
# At start-up, up to this many bytes of stored list forms are served as read, and packed with the
# sources' load, before any refresh is let through: packing was a fifth of the time to serve 10k
# stored models. Beyond it, entries are packed as they load.
UNPACKED_AT_LOAD = 32 * 2**20
# Models whose details one message of the start-up cache warm loads (warm_cache): an answer that
# comes while a chunk is warmed waits for it, about 8 ms at this size. A chunk is only taken when
# nothing else is queued for the writer; else it is tried again after WARM_RETRY seconds.
WARM_CHUNK = 250
WARM_RETRY = 0.02
# The tidy after a large answer with few changes runs once TIDY_DELAY seconds have passed without
# another and no run is open (checked every TIDY_RETRY seconds), TIDY_MAX seconds after the first
# at the latest (CatalogActor.tidy_when_due).
TIDY_DELAY = 0.2
TIDY_RETRY = 0.1
TIDY_MAX = 5.0
# Seconds the first queued answer waits for the answers of other runs still open before it is
# committed with whatever came meanwhile (CatalogActor.flush_snapshots).
BATCH_WAIT = 0.015
# Runs begun longer ago than this are not waited for (by a batch or the put-off tidy), and past
# MAX_OPEN_RUNS open runs those are forgotten: a run whose actor died without reporting back.
ROUND_WINDOW = 5.0
MAX_OPEN_RUNS = 10_000
MAX_INTERRUPTED = 1_000


def write_batches(pending: list[tuple[ProviderSnapshot, Any]], limit: int) -> list[list[tuple[ProviderSnapshot, Any]]]:
    """Queued answers cut into consecutive groups of at most ``limit`` records each (an answer
    larger than that is a group of its own), in their order."""
    groups: list[list[tuple[ProviderSnapshot, Any]]] = []
    size = 0
    for item in pending:
        n = len(item[0].models)
        if not groups or size + n > limit:
            groups.append([])
            size = 0
        groups[-1].append(item)
        size += n
    return groups

class CatalogActor(SourcesAtStart, pykka.ThreadingActor):
    """Serializes every write: diff, one transaction, publish the index, tell the notifier."""

    def __init__(self, settings: Settings, view: CatalogView, notifier: Any = None,
                 clock: Optional[Callable[[], float]] = None):
        super().__init__()
        self.settings = settings
        self.view = view
        self.notifier = notifier
        # The clock lifecycle dates are read against (tests set one; time.time otherwise).
        self.state = CatalogState(clock=clock or time.time, commits=view.commits)
        self._lifecycle_timer: Any = None
        self._pending: list[tuple[ProviderSnapshot, concurrent.futures.Future]] = []
        # Ids whose details the start-up cache warm has still to load (warm_cache).
        self._warming: list[str] = []
        # When the tidy a large answer with few changes put off is due, at the latest, its timer.
        self._tidy_due: Optional[float] = None
        self._tidy_latest: Optional[float] = None
        self._tidy_timer: Any = None
        # Runs begun and not yet committed or failed, by id, with when their begin_run came
        # (monotonic): a flush waits up to BATCH_WAIT for their answers and the put-off tidy for
        # them to end, counting only runs begun within ROUND_WINDOW.
        self._open_runs: dict[int, float] = {}
        # Runs marked interrupted (their actor crashed or stopped mid-refresh), with the reason, the
        # newest MAX_INTERRUPTED: an answer or failure of one that comes later is not written.
        self._interrupted: dict[int, str] = {}
        self._pending_since = 0.0
        self._flush_timer: Any = None
        # Runs begun and not yet written (begin_run, write_begun).
        self._begun: list[dict[str, Any]] = []
        self._flush_queued = False
        # The regions watched, as EC2 named them while the start-up merge still waited for a
        # region's first answer: the others are taken out once it waits no more (retire_unconfigured).
        self._retire_after_hold: Optional[list[str]] = None

    # -- life cycle ------------------------------------------------------------------------------
    def on_start(self) -> None:
        self._proxy = Calls(self.actor_ref)
        store.open_database(self.settings.database_url)
        # A large commit does not also copy the write-ahead log into the database file before it
        # returns: a thread of its own does that (discovery/checkpoint.py).
        store.checkpoint_in_background()
        interrupted = refresh_runs.interrupt_running_runs()
        if interrupted:
            logger.warning("marked {} refresh runs interrupted (left running by a previous process)", interrupted)
        from discovery.enrich import catalog_provider_names
        from discovery.providers import FORMATS

        def is_catalog(p: ProviderConfig) -> bool:
            fmt = FORMATS.get(p.format)
            return bool(fmt and fmt.is_catalog)

        store.ensure_providers(((p.name, p.format, is_catalog(p)) for p in self.settings.providers),
                               catalog_provider_names(self.settings.providers))
        rows = store.provider_rows()
        merged = [*self.settings.providers, *self._kept_configs(rows)]
        for p in merged:
            self.state.is_catalog[p.name] = is_catalog(p)
            self.state.formats[p.name] = p.format
        self.state.catalog_provider = catalog_provider_names(merged)
        self.state.precedence = tuple(self.settings.enrichment_precedence)
        self.state.include_catalog_only = self.settings.include_catalog_only
        self.state.missing_grace_refreshes = self.settings.missing_grace_refreshes
        self.state.missing_grace_seconds = self.settings.missing_grace_seconds
        self.state.reconciler.tolerance = self.settings.reconciliation_tolerance
        self.state.retiring_horizons = tuple(self.settings.retiring_horizons)
        # Run ids are handed out before their rows are written (the 202 of a manual refresh), so
        # they continue after every id reserved before, not after the last stored one: a process
        # killed in between must not leave its ids to be handed out again for other runs.
        self.view.start_run_ids(max(refresh_runs.last_run_id(), int(store.get_meta("run_ids_reserved") or 0)))
        self.reserve_run_ids()
        self.view.last_event_id = store.last_event_id()
        # Reads are served from here on; the merge state (every source's records) loads next,
        # from this actor's mailbox, before any snapshot is applied.
        self.state.load_index(pack_later=UNPACKED_AT_LOAD)
        self.view.provider_rows = rows
        if stored.interrupt_benchmark_runs():
            logger.warning("marked benchmark runs interrupted (left running by a previous process)")
        self.view.performance = PerformanceBoard.from_rows(stored.latest_benchmark_results())
        self.view.publish(self.state.index())
        if stored_models.has_sources():
            self._proxy.load_sources.defer()
        else:
            # A new store: nothing to load, nothing for the first refreshes to wait for.
            self.state.load_sources()
            self._await_regions()
            self.state.pack_loaded()  # before the memos let the first refreshes through, as in load_sources
            self.view.publish_memos({})
            self.view.cache_warmed.set()  # nothing stored, nothing to warm
            self._proxy.check_lifecycle.defer()  # arms the periodic check
        logger.info("catalog loaded: {} models from the store", len(self.state.index()))

    def reserve_run_ids(self) -> None:
        """Reserve the next block of run ids in the store (at start, then by tell when half used)."""
        upto = self.view.last_run_id + RUN_ID_BLOCK
        try:
            with store.write_transaction():
                store.set_meta("run_ids_reserved", str(upto))
        except Exception as exc:
            logger.warning("could not reserve run ids up to {}: {}", upto, exc)
            return
        self.view.run_ids_reserved = upto
        self.view.on_run_ids_low = self._proxy.reserve_run_ids.defer

    def reserve_benchmark_run_ids(self, upto: int) -> int:
        """Reserve benchmark run ids up to ``upto`` in the store (asked by the benchmark book)."""
        stored.reserve_benchmark_run_ids(upto)
        return upto

    def load_sources(self) -> None:
        """Load every source's last answer and the merge state (reached by tell, after start)."""
        try:
            self.state.load_sources()
            # Before the regions are awaited: a region's models leave now, not with the held merge.
            self.retire_unconfigured()
            self._await_regions()
        except Exception:
            logger.exception("could not load the sources' last answers; they load again at the next refresh")
        # Served as read since start-up; packed here, while refreshes still wait for their memos
        # (done later, by the writer between answers, it made the first refreshes' work 4-6 times longer).
        self.state.pack_loaded()
        if len(self.state.index()) >= LARGE_WRITE:
            # Long-lived records are never garbage: keep the collector from walking them again and again.
            gc.collect()
            gc.freeze()
            release_free_memory()
        self._publish_findings()
        self.check_lifecycle()
        # Last, so refreshes waiting for their memos start once this work is done.
        try:
            self.view.publish_memos(self.state.memos())
        finally:
            self.view.memos_ready.set()
        # The record cache is warmed after the memos, a chunk per message when the writer is idle:
        # warmed before them it held the first refreshes back by a third of the sources' load
        # (0.32 s of 0.92 s at 10k); warmed in large chunks after them, each refresh that came
        # meanwhile waited for a chunk (an unchanged round's work at 10k went from 5-10 to 75-90 ms).
        self._warming = [e.id for e in self.state.index().entries()]
        self._proxy.warm_cache.defer()

    def check_lifecycle(self, ids=None) -> int:
        """Give the retiring_soon notices due now (all models, or ``ids``); re-arms the daily check
        when called for all. Reached by tell from the timer; returns how many were given."""
        if ids is None and self.settings.lifecycle_check_interval > 0:
            if self._lifecycle_timer is not None:
                self._lifecycle_timer.cancel()
            self._lifecycle_timer = schedule(self.settings.lifecycle_check_interval, self._proxy.check_lifecycle.defer,
                                             name="timer-catalog-lifecycle")
        try:
            events = self.state.check_lifecycle(ids)
        except Exception:
            logger.exception("could not check the models' retirement dates")
            store.heal_connection()
            return 0
        self._announce(events)
        return len(events)

    def _publish_findings(self) -> None:
        """Swap in the reconciliation findings and the missing models as they stand now."""
        self.view.findings = self.state.findings()
        self.view.missing = self.state.missing()

    def _published(self, events: list[store.StoredEvent], changed: set[str]) -> None:
        self._publish_findings()
        if changed:
            self.view.publish(self.state.index(), changed)
        if events:
            self._announce(events)
        self._retire_when_settled()

    def tidy(self) -> None:
        """Collect the young generations, freeze the survivors (long-lived records) out of the
        collector's way, and hand free heap memory back to the OS."""
        self._tidy_due = self._tidy_latest = None
        gc.collect(1)
        gc.freeze()
        release_free_memory()

    def tidy_when_due(self) -> None:
        """The :meth:`tidy` a large answer with few changes put off (reached by tell from its
        timer): later if another came since, or while runs are open (up to its latest time)."""
        self._tidy_timer = None
        if self._tidy_due is None:
            return  # a large write tidied up meanwhile
        now = time.monotonic()
        wait = self._tidy_due - now
        if wait <= 0 and self._round_open() and self._tidy_latest is not None and now < self._tidy_latest:
            wait = TIDY_RETRY  # refreshes are under way: after them
        if wait > 0:
            self._tidy_timer = schedule(wait, self._proxy.tidy_when_due.defer, name="timer-catalog-tidy")
            return
        self.tidy()

    def warm_cache(self) -> None:
        """Fill the record cache with the next ``WARM_CHUNK`` published models' details, as far as its
        budget goes, then queue the next chunk (reached by tell); only while nothing else is queued.

        Each id is looked up in the current index, so a model changed or removed since the warm
        began is warmed as it is now (or not at all); details are read from the store, which holds
        every committed change.
        """
        if not self.actor_inbox.empty():
            # Answers to commit (or anything else queued) go first: the warm is idle-time work.
            schedule(WARM_RETRY, self._proxy.warm_cache.defer, name="timer-catalog-warm")
            return
        chunk, self._warming = self._warming[:WARM_CHUNK], self._warming[WARM_CHUNK:]
        try:
            self._warm(chunk)
        except Exception:
            logger.exception("could not warm the record cache; details are read from the store as asked")
            self._warming = []
        if self._warming:
            self._proxy.warm_cache.defer()
        else:
            self.view.cache_warmed.set()

    def _warm(self, ids: list[str]) -> None:
        cache, index = self.view.cache, self.state.index()
        entries = [e for e in map(index.entry, ids) if e is not None]
        raws = stored_models.load_raws((e.source, e.id) for e in entries)
        provenances = stored_models.load_provenances(e.id for e in entries)
        evictions = cache.evictions
        for e in entries:
            raw, provenance = raws.get((e.source, e.id)), provenances.get(e.id)  # type: ignore[arg-type]
            if raw is not None and provenance is not None:
                cache.put(e.id, (raw, provenance))
                if cache.evictions > evictions:  # full: the budget (packed) is used up
                    self._warming = []
                    return

    def on_stop(self) -> None:
        if self._lifecycle_timer is not None:
            self._lifecycle_timer.cancel()
        for timer in (self._tidy_timer, self._flush_timer):
            if timer is not None:
                timer.cancel()
        # Runs begun and snapshots already handed over are written before the store closes.
        self.write_begun()
        self.flush_snapshots(force=True)
        store.stop_background_checkpoints()
        store.close_database()

    def on_failure(self, exception_type, exception_value, traceback) -> None:
        logger.error("catalog actor died: {}", exception_value)
        for _, future in self._pending:
            if not future.done():
                future.set_exception(RuntimeError(f"the catalog writer died: {exception_value}"))
        store.close_database()

    # -- writes ----------------------------------------------------------------------------------
    def begin_run(self, run_id: int, provider: str, trigger: str, started_at: Optional[float] = None) -> None:
        """Record a refresh run (id allocated by the view) as started. Reached by tell.

        ``started_at`` is when the source's actor started the run: a writer busy with a large
        commit may read this message much later, and stamping it here would shorten the run's
        ``duration_ms`` by that wait.

        Runs that start together (a refresh of every source) are written in one transaction, by
        the ``write_begun`` this queues behind them: one transaction each was a tenth of the
        writer's time in a round of 80 sources. Every write that touches a run writes them first.
        """
        now = time.monotonic()
        if len(self._open_runs) >= MAX_OPEN_RUNS:  # runs that never reported back: forget the old ones
            self._open_runs = {r: t for r, t in self._open_runs.items() if now - t < ROUND_WINDOW}
        self._open_runs[run_id] = now
        self._begun.append({"id": run_id, "provider": provider, "trigger": trigger,
                            "started_at": time.time() if started_at is None else started_at,
                            "epoch": store.FENCE.epoch})
        if len(self._begun) == 1:
            self._proxy.write_begun.defer()

    def write_begun(self) -> None:
        """Write the runs recorded by ``begin_run`` since the last time (reached by tell)."""
        begun, self._begun = self._begun, []
        if not begun:
            return
        try:
            refresh_runs.begin_runs(begun)
        except Exception as exc:
            # Kept to be written again by the next write that touches a run (every one calls this
            # first), unless the rows themselves are refused: dropped, a run's commit or failure
            # later found no row (events naming runs that do not exist, failures never recorded).
            again = not isinstance(exc, (peewee.IntegrityError, store.Fenced))
            if again:
                self._begun = (begun + self._begun)[-MAX_OPEN_RUNS:]
            logger.exception("could not record the start of runs {}{}", ", ".join(str(r["id"]) for r in begun),
                             " (tried again at the next write)" if again else "")

    def submit_snapshot(self, snapshot: ProviderSnapshot,
                        future: Optional[concurrent.futures.Future] = None) -> concurrent.futures.Future:
        """Queue a source's answer; ``future`` (made here if not given) resolves to its RefreshOutcome.

        Producers reach this by tell (``defer``) with their own future, so a busy writer never
        makes them time out. Every snapshot queued before the next flush is applied together
        (one transaction): when many sources answer at once the writer keeps up.
        """
        future = future if future is not None else concurrent.futures.Future()
        if snapshot.run_id in self._interrupted:  # a late answer: its run already ended
            if not future.done():
                future.set_result(self._interrupted_outcome(snapshot.run_id, snapshot.source))
            return future
        if not self._pending:
            self._pending_since = time.monotonic()
        self._pending.append((snapshot, future))
        if not self._flush_queued:
            self._flush_queued = True
            self._proxy.flush_snapshots.defer()
        return future

    def _round_open(self, besides: frozenset[int] | set[int] = frozenset()) -> bool:
        """Whether a run begun within the last ROUND_WINDOW seconds (other than ``besides``) has
        not reported back: a run begun earlier is not of the round under way (or never ended)."""
        since = time.monotonic() - ROUND_WINDOW
        return any(t >= since and r not in besides for r, t in self._open_runs.items())

    def flush_when_due(self) -> None:
        """The flush :meth:`flush_snapshots` put off (reached by tell from its timer)."""
        self._flush_timer = None
        self.flush_snapshots(force=True)

    def flush_snapshots(self, force: bool = False) -> None:
        """Apply every queued snapshot (reached by tell), in transactions of at most
        ``BATCH_MODELS`` records (a larger snapshot is one of its own), in the order they came.

        One transaction for many answers keeps the writer up with them; a bound on its size keeps
        the memory it holds until its commit (each record's encoded forms, about 2 KB) bounded too,
        and lets the first answers of a cold start commit without waiting for the last.
        """
        self._flush_queued = False
        if not self._pending:
            return
        if not force:
            # Other runs of this round are still fetching: their answers come within a few
            # milliseconds of each other, and each flush has costs of its own (a transaction, the
            # next index version, the memos), so the first answers wait up to BATCH_WAIT for them.
            # An unchanged answer costs the writer only its run's row: it does not wait.
            waiting = self._round_open({snap.run_id for snap, _ in self._pending})
            wait = self._pending_since + BATCH_WAIT - time.monotonic()
            if waiting and wait > 0 and not all(snap.unchanged for snap, _ in self._pending):
                if self._flush_timer is None:
                    self._flush_timer = schedule(wait, self._proxy.flush_when_due.defer, name="timer-catalog-flush")
                return
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush_timer = None
        pending, self._pending = self._pending, []
        for batch in write_batches(pending, BATCH_MODELS):
            snapshots = [snap for snap, _ in batch]
            try:
                outcomes = self._apply(snapshots)
            except Exception as exc:  # a tell handler must not die of its errors
                logger.exception("applying {} snapshots failed", len(snapshots))
                outcomes = [RefreshOutcome(s.run_id, s.source, store.FAILED, error=f"internal: {exc}")
                            for s in snapshots]
            for (_, future), outcome in zip(batch, outcomes):
                if not future.done():
                    future.set_result(outcome)

    def apply_snapshot(self, snapshot: ProviderSnapshot) -> RefreshOutcome:
        """Diff and commit one source's answer now (queued ones first, to keep their order)."""
        self.flush_snapshots(force=True)
        return self._apply([snapshot])[0]

    def apply_snapshots(self, snapshots: list[ProviderSnapshot]) -> list[RefreshOutcome]:
        """Diff and commit several sources' answers now, as one batch (queued ones first)."""
        self.flush_snapshots(force=True)
        return self._apply(list(snapshots))

    def _apply(self, snapshots: list[ProviderSnapshot]) -> list[RefreshOutcome]:
        """Diff and commit; a refused or failed write leaves everything as it was.

        A batch whose commit fails is tried again one snapshot at a time, so one source's bad
        write never fails another's.
        """
        self.write_begun()
        # A large write makes thousands of records that all stay: a collection inside it walks
        # them only to find them alive (0.10 s of a 1.0 s models.dev commit, with Python's
        # default thresholds). After it, they are collected once and frozen (below).
        large = sum(len(s.models) for s in snapshots) >= LARGE_WRITE
        try:
            with collector_paused() if large else contextlib.nullcontext():
                outcomes, events, changed = self.state.apply_many(snapshots)
        except Exception as exc:  # database trouble: the transaction rolled back; keep serving
            if store.heal_connection():
                logger.warning("the database dropped the writer's connection; the next write opens another")
            if len(snapshots) > 1:
                logger.warning("a batch of {} snapshots could not be committed ({}: {}); committing each on its own",
                               len(snapshots), type(exc).__name__, exc)
                return [outcome for snap in snapshots for outcome in self._apply([snap])]
            logger.exception("refresh of {} could not be committed", ", ".join(s.source for s in snapshots))
            reason = scrub(f"{STORE_FAILURE}{type(exc).__name__}: {exc}")
            self.view.store_failure = (time.time(), reason)
            self.view.telemetry.store_write_failures.inc()
            return [self._fail(s.source, s.run_id, reason) for s in snapshots]
        return self._committed(snapshots, outcomes, events, changed, large)

    def _committed(self, snapshots: list[ProviderSnapshot], outcomes: list[RefreshOutcome],
                   events: list[store.StoredEvent], changed: set[str], large: bool = False) -> list[RefreshOutcome]:
        """After a commit: publish the new index and memos, announce the events, update the rows."""
        self.view.store_failure = None
        if changed:
            self.view.publish(self.state.index(), changed)
            # Write-through: the raw answers this commit stored are the ones detail reads want next.
            for model_id, detail in self.state.last_details.items():
                self.view.cache.put(model_id, detail)
        if len(changed) >= LARGE_WRITE:
            # Many records were written: hand the transient memory back now, and keep the collector
            # from walking the new long-lived records again and again.
            self.tidy()
        elif large:
            # A large answer with few changes (a routine refresh) was parsed: its memory goes back
            # too (skipping this left 40 MB more steady RSS at 100k), but once no run is open and
            # the writer has had TIDY_DELAY seconds without such a write (TIDY_MAX at the latest),
            # not in the middle of a round of refreshes, where it was 6-9 ms of a 1%-changed
            # round's 67 at 10k (the collection walks what other threads are still parsing).
            now = time.monotonic()
            self._tidy_due = now + TIDY_DELAY
            if self._tidy_latest is None:
                self._tidy_latest = now + TIDY_MAX
            if self._tidy_timer is None:
                self._tidy_timer = schedule(TIDY_DELAY, self._proxy.tidy_when_due.defer, name="timer-catalog-tidy")
        if events:
            # Announce as soon as readers can see the change; the provider rows (a query) can follow.
            self._announce(events)
        if changed:
            self.check_lifecycle(changed)
        for snap in snapshots:
            self._open_runs.pop(snap.run_id, None)
        accepted = [s.source for s, o in zip(snapshots, outcomes) if o.outcome == store.SUCCEEDED]
        if accepted:
            self._publish_findings()
            memos = self.state.memos(accepted)
            if memos:  # none for sources taken out (retire_unconfigured): refreshes still wait for the load
                self.view.publish_memos(memos)
        for snap, outcome in zip(snapshots, outcomes):
            log = logger.bind(provider=snap.source, run_id=snap.run_id)
            if outcome.outcome != store.SUCCEEDED:
                log.warning("refresh {} of {} refused: {}", snap.run_id, snap.source, outcome.error)
                self._fail(snap.source, snap.run_id, outcome.error or "refused")
            elif outcome.added or outcome.updated or outcome.removed:
                log.info("{}: +{} ~{} -{} (run {})", snap.source, outcome.added, outcome.updated,
                         outcome.removed, snap.run_id)
        if accepted:
            # What the commit wrote to the provider rows, without reading them back.
            rows = dict(self.view.provider_rows)
            finished = self.state.last_commit_at
            for snap, outcome in zip(snapshots, outcomes):
                if outcome.outcome == store.SUCCEEDED:
                    row = dict(rows.get(snap.source) or {"name": snap.source})
                    row.update(last_refresh_at=finished, last_success_at=finished, last_error=None,
                               model_count=outcome.total, body_hash=snap.body_hash or row.get("body_hash"))
                    rows[snap.source] = row
            self.view.provider_rows = rows
        self._retire_when_settled()
        return outcomes

    def submit_benchmark(self, report: BenchmarkReport, future: concurrent.futures.Future) -> None:
        """Commit a benchmark run's row and results with their events (one transaction), publish the
        new performance summaries, announce; ``future`` gets the events or the error. Reached by tell."""
        try:
            bench = self.settings.benchmarks
            committed = stored.commit_benchmarks(report, bench.regression_threshold, bench.regression_window)
        except Exception as exc:  # the transaction rolled back; the producer hears why
            logger.exception("benchmark run {} could not be committed", report.run.id)
            store.heal_connection()
            if not future.done():
                future.set_exception(exc)
            return
        if report.results:
            self.view.performance = self.view.performance.with_results(report.results)
        self._announce(committed.events)
        if not future.done():
            future.set_result(committed.events)

    def record_failure(self, failure: RefreshFailure,
                       future: Optional[concurrent.futures.Future] = None) -> RefreshOutcome:
        """Record a refresh that produced no snapshot; ``future`` (if given) gets the outcome."""
        if failure.run_id in self._interrupted:
            outcome = self._interrupted_outcome(failure.run_id, failure.source)
        else:
            outcome = self._fail(failure.source, failure.run_id, failure.reason)
        if future is not None and not future.done():
            future.set_result(outcome)
        return outcome

    def _fail(self, source: str, run_id: int, reason: str) -> RefreshOutcome:
        self._open_runs.pop(run_id, None)
        reason = scrub(reason)  # whatever produced it, no secret is stored or returned
        self.write_begun()
        try:
            finished = refresh_runs.fail_run(run_id, reason)
            self._update_row(source, last_refresh_at=finished, last_error=reason)
        except Exception:
            logger.exception("could not record the failure of run {}", run_id)
            store.heal_connection()
        self._stop_awaiting(source)
        return RefreshOutcome(run_id, source, store.FAILED, error=reason)

    def _stop_awaiting(self, source: Optional[str]) -> None:
        """A region that will not answer this time (failed, or interrupted): at start-up, the
        others' held answers need not wait for it any more."""
        if source is not None and source in self.state.awaited_regions:
            try:
                self._published(*self.state.region_settled(source))
            except Exception:
                logger.exception("could not merge the held Bedrock region answers")

    def interrupt_run(self, run_id: int, reason: str, source: Optional[str] = None,
                      future: Optional[concurrent.futures.Future] = None) -> None:
        """Mark a run that will not finish (reached by tell; a commit already made stands).

        Its answer, queued or still to come, is not written. ``future`` (the run's ticket) gets the
        interrupted outcome if the run had not ended; if it had, it is left to get that outcome.
        """
        reason = scrub(reason)
        self._open_runs.pop(run_id, None)
        self._interrupted[run_id] = reason
        if len(self._interrupted) > MAX_INTERRUPTED:
            del self._interrupted[next(iter(self._interrupted))]
        queued = [(snap, fut) for snap, fut in self._pending if snap.run_id == run_id]
        if queued:
            self._pending = [(snap, fut) for snap, fut in self._pending if snap.run_id != run_id]
            for snap, fut in queued:
                if not fut.done():
                    fut.set_result(self._interrupted_outcome(run_id, snap.source))
        self.write_begun()
        marked = 0
        try:
            with store.write_transaction():
                marked = store.RefreshRunRow.update(outcome=store.INTERRUPTED, error=reason,
                                                    finished_at=time.time()).where(
                    (store.RefreshRunRow.id == run_id) & (store.RefreshRunRow.outcome == store.RUNNING)).execute()
        except Exception:
            logger.exception("could not mark run {} interrupted", run_id)
        if future is not None and (marked or queued):
            # The ticket is the refresh's own: the dead actor's I/O thread may end it at this very
            # moment, and a tell that raised would stop the writer.
            resolve(future, self._interrupted_outcome(run_id, source or ""))
        self._stop_awaiting(source)

    def _interrupted_outcome(self, run_id: int, source: str) -> RefreshOutcome:
        return RefreshOutcome(run_id, source, store.INTERRUPTED, error=self._interrupted.get(run_id, "interrupted"))

    def set_provider_status(self, name: str, status: str, reason: Optional[str], old: Optional[str] = None) -> None:
        """Persist a provider's or a Bedrock region's status change and announce it as a
        ``status_changed`` event.

        A provider actor starts at ``unknown``, so after a restart or a change of leader its first
        check reports unknown → healthy. Against the stored status that is no change: nothing is
        written or announced (every failover announced one per provider). If the stored status
        differs, the event's ``old`` is the stored one.
        """
        reason = scrub(reason)
        if old in (None, UNKNOWN):
            stored = (self.view.provider_rows.get(name) or {}).get("status")
            if stored == status:
                return
            old = stored or old or UNKNOWN  # a row's status is never empty in the store
        # A region has no provider row until its first status is stored: made then (an upsert).
        made = "bedrock" if region_of(name) is not None else None
        try:
            with store.write_transaction():
                store.set_provider_status(name, status, reason, made)
                events = store.insert_events(
                    [(STATUS_CHANGED, name, None, None, {"old": old, "new": status, "reason": reason})], time.time())
            self._update_row(name, status=status, status_reason=reason, **({"format": made} if made else {}))
        except Exception:
            logger.exception("could not record the status of {}", name)
            store.heal_connection()
            return
        self._announce(events)

    def set_provider_asked(self, name: str, until: float, by: Optional[str]) -> None:
        """Persist the wait a provider asked for (ProviderActor._asked): its actor, started again
        in this process or the next, does not call it before that time."""
        by = scrub(by)
        try:
            with store.write_transaction():
                store.set_provider_asked(name, until, by)
            self._update_row(name, asked_until=until, asked_by=by)
        except Exception:
            logger.exception("could not record the wait {} asked for", name)
            store.heal_connection()

    def _update_row(self, name: str, **values: Any) -> None:
        """Change one provider row in the view as the store was just changed (no read back)."""
        rows = dict(self.view.provider_rows)
        rows[name] = {**(rows.get(name) or {"name": name}), **values}
        self.view.provider_rows = rows

    def _announce(self, events: list[store.StoredEvent]) -> None:
        if events:
            self.view.last_event_id = max(self.view.last_event_id, events[-1].id)
            self.view.telemetry.events_committed(e.kind for e in events)
            if store.FENCE.required:
                # Followers read the commit at once (docs/replicas.md); a lost notification is
                # caught up by their next poll.
                try:
                    replication.notify_commit(events[-1].id, time.time())
                except Exception:
                    logger.exception("could not notify the followers of events up to {}", events[-1].id)
        if events and self.notifier is not None:
            fanned_out = self.notifier.publish(ChangeBatch(tuple(events)))
            if self.view.immediate_subscribers:
                # Wait (briefly) for the notifier to call them before this thread's post-commit
                # work: the two share the GIL, and the notifier, once woken, waits for the GIL
                # until this thread blocks. Waiting hands it over now (bench_notify at 1,000
                # subscribers: p50 1.0 -> 0.8 ms). A slow fan-out delays the writer this long at
                # most; with no such subscriber (actor refs are only told) it does not wait.
                try:
                    fanned_out.get(timeout=NOTIFY_HANDOVER)
                except Exception:  # a timeout, or the notifier's own failure (it logs that)
                    pass
