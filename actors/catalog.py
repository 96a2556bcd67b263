"""CatalogActor: the single writer of the catalog and the store."""
from __future__ import annotations

import concurrent.futures
import itertools
import threading
import time
from typing import Any, Optional

import pykka
from cachetools import TTLCache
from loguru import logger

from discovery import store
from discovery.catalog import CatalogState
from discovery.diff import STATUS_CHANGED
from discovery.messages import ChangeBatch, ProviderSnapshot, RefreshFailure, RefreshOutcome
from discovery.model import Model
from discovery.query import CatalogIndex
from discovery.settings import Settings


class CatalogView:
    """What readers share without going through the actor's mailbox.

    ``index`` is swapped (one reference assignment) after each commit, so a view reads the
    newest committed catalog in microseconds and never waits behind a write. ``cache`` holds
    full per-model records (with the provider's raw answer) for detail lookups.
    """

    def __init__(self, cache_size: int = 4096, cache_ttl: float = 300.0):
        self.index: CatalogIndex = CatalogIndex({})
        # Stored provider rows (last refresh, last error...), swapped like the index.
        self.provider_rows: dict[str, dict[str, Any]] = {}
        self.ready = threading.Event()
        self._run_ids = itertools.count(1)
        self._first_run_id = 1
        self.last_run_id = 0
        self._cache: TTLCache = TTLCache(maxsize=cache_size, ttl=cache_ttl)
        self._lock = threading.Lock()

    def publish(self, index: CatalogIndex, changed: Optional[set[str]] = None) -> None:
        with self._lock:
            if changed is None:
                self._cache.clear()
            else:
                for model_id in changed:
                    self._cache.pop(model_id, None)
            self.index = index
        self.ready.set()

    def start_run_ids(self, after: int) -> None:
        """Run ids continue from the largest stored one."""
        self._run_ids = itertools.count(after + 1)
        self._first_run_id = after + 1
        self.last_run_id = after

    def next_run_id(self) -> int:
        """Allocate a refresh run id without a round trip to the writer (thread-safe in CPython)."""
        run_id = next(self._run_ids)
        self.last_run_id = max(self.last_run_id, run_id)
        return run_id

    def allocated(self, run_id: int) -> bool:
        """True if this process handed out ``run_id`` (its row may not be written yet)."""
        return self._first_run_id <= run_id <= self.last_run_id

    def cached(self, model_id: str) -> Optional[Model]:
        with self._lock:
            return self._cache.get(model_id)

    def remember(self, model: Model) -> None:
        with self._lock:
            self._cache[model.id] = model


class CatalogActor(pykka.ThreadingActor):
    """Serializes every write: diff, one transaction, publish the index, tell the notifier."""

    def __init__(self, settings: Settings, view: CatalogView, notifier: Any = None):
        super().__init__()
        self.settings = settings
        self.view = view
        self.notifier = notifier
        self.state = CatalogState()
        self._pending: list[tuple[ProviderSnapshot, concurrent.futures.Future]] = []
        self._flush_queued = False

    # -- life cycle ------------------------------------------------------------------------------
    def on_start(self) -> None:
        self._proxy = self.actor_ref.proxy()
        store.open_database(self.settings.database_url)
        interrupted = store.interrupt_running_runs()
        if interrupted:
            logger.warning("marked {} refresh runs interrupted (left running by a previous process)", interrupted)
        from discovery.enrich import catalog_provider_names
        from discovery.providers import FORMATS

        for p in self.settings.providers:
            fmt = FORMATS.get(p.format)
            is_catalog = bool(fmt and fmt.is_catalog)
            self.state.is_catalog[p.name] = is_catalog
            self.state.formats[p.name] = p.format
            store.ensure_provider(p.name, p.format, is_catalog)
        self.state.catalog_provider = catalog_provider_names(self.settings.providers)
        self.state.precedence = tuple(self.settings.enrichment_precedence)
        self.state.include_catalog_only = self.settings.include_catalog_only
        self.view.start_run_ids(store.last_run_id())
        self.state.load()
        self.view.provider_rows = store.provider_rows()
        self.view.publish(self.state.index())
        logger.info("catalog loaded: {} models from the store", len(self.state.current))

    def on_stop(self) -> None:
        # Snapshots already handed over commit before the store closes.
        self.flush_snapshots()
        store.close_database()

    def on_failure(self, exception_type, exception_value, traceback) -> None:
        logger.error("catalog actor died: {}", exception_value)
        store.close_database()

    # -- writes ----------------------------------------------------------------------------------
    def begin_run(self, run_id: int, provider: str, trigger: str) -> None:
        """Record a refresh run (id allocated by the view) as started. Reached by tell."""
        try:
            store.begin_run(provider, trigger, run_id=run_id)
        except Exception:
            logger.exception("could not record the start of run {}", run_id)

    def submit_snapshot(self, snapshot: ProviderSnapshot) -> concurrent.futures.Future:
        """Queue a source's answer; the returned future resolves to its RefreshOutcome.

        Every snapshot queued before the next flush is applied together (one merge, one diff,
        one transaction): when many sources answer at once (thirty Bedrock regions at start-up)
        the writer keeps up instead of committing them one by one.
        """
        future: concurrent.futures.Future = concurrent.futures.Future()
        self._pending.append((snapshot, future))
        if not self._flush_queued:
            self._flush_queued = True
            self._proxy.flush_snapshots()
        return future

    def flush_snapshots(self) -> None:
        """Apply every queued snapshot (reached by tell)."""
        batch, self._pending, self._flush_queued = self._pending, [], False
        if not batch:
            return
        snapshots = [snap for snap, _ in batch]
        for (_, future), outcome in zip(batch, self._apply(snapshots)):
            future.set_result(outcome)

    def apply_snapshot(self, snapshot: ProviderSnapshot) -> RefreshOutcome:
        """Diff and commit one source's answer now (queued ones first, to keep their order)."""
        self.flush_snapshots()
        return self._apply([snapshot])[0]

    def _apply(self, snapshots: list[ProviderSnapshot]) -> list[RefreshOutcome]:
        """Diff and commit; a refused or failed write leaves everything as it was."""
        try:
            outcomes, events, changed = self.state.apply_many(snapshots)
        except Exception as exc:  # database trouble: the transaction rolled back; keep serving
            logger.exception("refresh of {} could not be committed", ", ".join(s.source for s in snapshots))
            return [self._fail(s.source, s.run_id, f"store: {type(exc).__name__}: {exc}") for s in snapshots]
        if changed:
            self.view.publish(self.state.index(), changed)
        if events:
            # Announce as soon as readers can see the change; the provider rows (a query) can follow.
            self._announce(events)
        for snap, outcome in zip(snapshots, outcomes):
            if outcome.outcome != store.SUCCEEDED:
                logger.warning("refresh {} of {} refused: {}", snap.run_id, snap.source, outcome.error)
                self._fail(snap.source, snap.run_id, outcome.error or "refused")
            elif outcome.added or outcome.updated or outcome.removed:
                logger.info("{}: +{} ~{} -{} (run {})", snap.source, outcome.added, outcome.updated,
                            outcome.removed, snap.run_id)
        self.view.provider_rows = store.provider_rows()
        return outcomes

    def record_failure(self, failure: RefreshFailure) -> RefreshOutcome:
        """Record a refresh that produced no snapshot."""
        return self._fail(failure.source, failure.run_id, failure.reason)

    def _fail(self, source: str, run_id: int, reason: str) -> RefreshOutcome:
        try:
            store.fail_run(run_id, reason)
            self.view.provider_rows = store.provider_rows()
        except Exception:
            logger.exception("could not record the failure of run {}", run_id)
        return RefreshOutcome(run_id, source, store.FAILED, error=reason)

    def interrupt_run(self, run_id: int, reason: str) -> None:
        """Mark a run that will not finish (reached by tell; a commit already made stands)."""
        try:
            store.RefreshRunRow.update(outcome=store.INTERRUPTED, error=reason, finished_at=time.time()).where(
                (store.RefreshRunRow.id == run_id) & (store.RefreshRunRow.outcome == store.RUNNING)).execute()
        except Exception:
            logger.exception("could not mark run {} interrupted", run_id)

    def set_provider_status(self, name: str, status: str, reason: Optional[str], old: Optional[str] = None) -> None:
        """Persist a provider status change and announce it as a ``status_changed`` event."""
        try:
            with store.db.atomic():
                store.set_provider_status(name, status, reason)
                events = store.insert_events(
                    [(STATUS_CHANGED, name, None, None, {"old": old, "new": status, "reason": reason})], time.time())
            self.view.provider_rows = store.provider_rows()
        except Exception:
            logger.exception("could not record the status of {}", name)
            return
        self._announce(events)

    def _announce(self, events: list[store.StoredEvent]) -> None:
        if events and self.notifier is not None:
            self.notifier.publish(ChangeBatch(tuple(events)))


class StoreReaderActor(pykka.ThreadingActor):
    """Answers reads that need the store (history, runs, the event feed) on its own connection.

    SQLite in WAL mode (and PostgreSQL) let this connection read while the catalog actor writes,
    so these reads never queue behind a large commit in the writer's mailbox.
    """

    def __init__(self, settings: Settings):
        super().__init__()
        self.settings = settings

    def on_start(self) -> None:
        store.open_database(self.settings.database_url)

    def on_stop(self) -> None:
        store.close_database()

    def on_failure(self, exception_type, exception_value, traceback) -> None:
        store.close_database()

    def load_model(self, model_id: str) -> Optional[Model]:
        return store.load_model(model_id)

    def history(self, model_id: str, limit: int = 100) -> list[dict[str, Any]]:
        return store.model_history(model_id, limit)

    def runs(self, provider: Optional[str] = None, limit: int = 50, before: Optional[int] = None) -> list[dict]:
        return store.list_runs(provider, limit, before)

    def get_run(self, run_id: int) -> Optional[dict]:
        return store.get_run(run_id)

    def events_after(self, after_id: int, limit: int = 100, kinds=(), providers=()) -> list[store.StoredEvent]:
        return store.events_after(after_id, limit, kinds, providers)

    def last_event_id(self) -> int:
        return store.last_event_id()
