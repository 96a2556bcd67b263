"""start_service / Service.stop: the one place that wires the actors together."""
from __future__ import annotations

import concurrent.futures
import gc
import signal
import threading
from typing import Any, Callable, Iterable, Optional

import pykka
import pykka.debug
from loguru import logger

from actors.bedrock import BedrockQueries, bedrock_children, discover_bedrock_regions
from actors.benchmark import BenchmarkQueries, benchmark_children
from actors.catalog import CatalogActor, CatalogView, StoreReaderActor
from actors.heap import limit_arenas
from actors.history import HistoryActor, HistoryQueries
from actors.notifier import NotifierActor, make_unsubscribe
from actors.provider import ProviderActor, RefreshRateLimited, RefreshTicket
from actors.supervisor import SupervisorActor
from actors.webhooks import WebhookAdmin, WebhookDispatcherActor
from discovery.messages import EventFilter, RefreshOutcome
from discovery.model import Model
from discovery.providers.base import PARSE_SLOT
from discovery.query import CatalogIndex
from discovery.redaction import REDACTOR
from discovery.redaction import install as install_redaction
from discovery.settings import Settings


class UnknownProvider(KeyError):
    """No provider is configured under that name."""


class ProviderUnavailable(RuntimeError):
    """The provider's actor is not running (restarting, or failed for good)."""


class Service(BedrockQueries, BenchmarkQueries, HistoryQueries):
    """The running service: what the web app and in-process users talk to."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.view = CatalogView(settings.model_cache_size, settings.model_cache_ttl, settings.model_cache_mb)
        self.notifier: Any = None
        self.catalog: Any = None
        self.reader: Any = None
        self.supervisor: Any = None
        # Webhook subscriptions (actors.webhooks.WebhookAdmin): CRUD, replay, retention.
        self.webhooks: Any = None
        self._refs: list[pykka.ActorRef] = []
        self._proxies: dict[pykka.ActorRef, Any] = {}
        self._stopped = threading.Event()
        # Set when the service begins to stop: long-lived streams end instead of holding it up.
        self.closing = threading.Event()
        self._streams: set = set()
        self._streams_lock = threading.Lock()
        self.started_at: Optional[float] = None

    # -- reads -----------------------------------------------------------------------------------
    @property
    def index(self) -> CatalogIndex:
        """The newest committed catalog (no waiting: a reference read)."""
        return self.view.index

    def get_model(self, model_id: str) -> Optional[Model]:
        """The full record of one model (with the provider's raw answer), or None."""
        entry = self.view.index.entry(model_id)
        if entry is None:
            return None
        return Model.from_dict({**entry.data(), "provenance": entry.provenance}, raw=self.raw_answer(model_id))

    def raw_answer(self, model_id: str) -> bytes:
        """The provider's own answer behind a published model, as JSON bytes (cached; else a store read)."""
        return self.record_detail(model_id)[0]

    def record_detail(self, model_id: str) -> tuple[bytes, bytes]:
        """What a published model's detail adds to its list form, as JSON bytes: its raw answer and
        its traced provenance (each field's source, entry, match and conflicts). Cached; else read."""
        view = self.view
        found = view.cache.get(model_id)
        if found is not None:
            return found
        entry = view.index.entry(model_id)
        if entry is None:
            return b"{}", b"{}"
        detail = self.reader.load_detail(entry.source, model_id).get(timeout=self.settings.ask_timeout)
        # Cache only what is still the published record (a commit may have changed it meanwhile).
        if view.index.entry(model_id) is entry:
            view.cache.put(model_id, detail)
        return detail

    def reconciliation(self, kinds=None, providers=(), tolerance: Optional[float] = None,
                       limit: int = 1000) -> dict[str, Any]:
        """Where the catalogs and the live lists disagree, per provider (see discovery.reconcile):
        stale catalog entries, unknown live models, field conflicts above ``tolerance`` (default:
        the ``reconciliation_tolerance`` setting) and models missing within their grace."""
        from discovery.reconcile import KINDS

        missing: dict[str, dict[str, tuple[float, int]]] = {}
        for models in self.view.missing.values():
            for model_id, since_count in models.items():
                held = missing.setdefault(model_id.split("/", 1)[0], {})
                # A Bedrock model missing from several regions: the earliest miss.
                held[model_id] = min(since_count, held.get(model_id, since_count))
        return self.view.findings.report(kinds=kinds or KINDS, providers=providers, tolerance=tolerance,
                                         limit=limit, missing=missing)

    def check_lifecycle(self) -> int:
        """Check every model's retirement and deprecation dates now (the timer does it every
        lifecycle_check_interval); returns how many retiring_soon notices were given."""
        return self.catalog.check_lifecycle().get(timeout=self.settings.ask_timeout)

    def cache_stats(self) -> dict[str, Any]:
        """The model-record cache: hits, misses, entries, evictions, bytes, hit rate."""
        return self.view.cache.stats()

    def history(self, model_id: str, limit: int = 100) -> list[dict]:
        return self.reader.history(model_id, limit).get(timeout=self.settings.ask_timeout)

    def refresh_runs(self, provider: Optional[str] = None, limit: int = 50, before: Optional[int] = None) -> list[dict]:
        return self.reader.runs(provider, limit, before).get(timeout=self.settings.ask_timeout)

    def refresh_run(self, run_id: int) -> Optional[dict]:
        """One run; a run just started whose row the writer has not stored yet reads as running."""
        found = self.reader.get_run(run_id).get(timeout=self.settings.ask_timeout)
        if found is None and self.view.allocated(run_id):
            return {"id": run_id, "outcome": "running", "provider": None, "trigger": None, "started_at": None,
                    "finished_at": None, "duration_ms": None, "total": None, "added": 0, "updated": 0,
                    "removed": 0, "rejected": 0, "rejections": [], "error": None}
        return found

    def provider_names(self) -> list[str]:
        return [p.name for p in self.settings.providers if p.enabled]

    def source_names(self) -> list[str]:
        """Every refreshable source: the providers, then each watched Bedrock region (``bedrock@<region>``)."""
        return self.provider_names() + self.bedrock_sources()

    def providers(self) -> list[dict[str, Any]]:
        """Every provider's status: actor view (breaker, in-flight) merged with stored history."""
        rows = self.view.provider_rows
        states = self.supervisor.child_states().get(timeout=self.settings.ask_timeout)
        refs = self.supervisor.refs(self.provider_names()).get(timeout=self.settings.ask_timeout)
        asks = {name: self.proxy_of(ref).status() for name, ref in refs.items() if ref is not None}
        out = []
        index = self.index
        for name in self.provider_names():
            row = rows.get(name, {})
            entry: dict[str, Any] = {"name": name}
            try:
                entry.update(asks[name].get(timeout=self.settings.ask_timeout) if name in asks else {})
            except (pykka.Timeout, pykka.ActorDeadError):
                entry["status"] = "unresponsive"
            sup = states.get(name, {})
            if sup.get("state") in ("failed", "restarting"):
                entry["status"] = sup["state"]
            entry["actor"] = sup
            entry.setdefault("format", row.get("format"))
            entry.setdefault("is_catalog", row.get("is_catalog"))
            entry.update({
                "last_refresh_at": row.get("last_refresh_at"), "last_success_at": row.get("last_success_at"),
                "last_error": row.get("last_error"), "reported_models": row.get("model_count", 0),
                "model_count": index.provider_count(name),
            })
            out.append(entry)
        return out + self.bedrock_provider_rows(states)  # each region is a source of its own

    # -- refresh ---------------------------------------------------------------------------------
    def _provider_ref(self, name: str) -> Optional[pykka.ActorRef]:
        if name not in self.provider_names() and name not in self.bedrock_sources():
            raise UnknownProvider(name)
        return self.supervisor.ref(name).get(timeout=self.settings.ask_timeout)

    def proxy_of(self, ref: pykka.ActorRef) -> Any:
        """The proxy of an actor ref, made once per ref (pykka introspects the actor on every proxy())."""
        proxy = self._proxies.get(ref)
        if proxy is None:
            if len(self._proxies) > 4096:
                self._proxies.clear()
            proxy = self._proxies[ref] = ref.proxy()
        return proxy

    def _provider_proxy(self, name: str) -> Any:
        ref = self._provider_ref(name)
        if ref is None:
            raise ProviderUnavailable(f"provider {name} is not running (restarting or failed)")
        return self.proxy_of(ref)

    def refresh(self, name: str, trigger: str = "manual") -> RefreshTicket:
        """Start (or join) a refresh of one provider; returns its ticket at once."""
        return self._provider_proxy(name).refresh(trigger).get(timeout=self.settings.ask_timeout)

    def health(self, name: str, history: int = 50) -> dict[str, Any]:
        """One provider's health record and its recent checks."""
        if name in self.bedrock_sources():
            return self.bedrock_region_health(name)
        return self._provider_proxy(name).health_record(history).get(timeout=self.settings.ask_timeout)

    def refresh_all(self, trigger: str = "manual") -> list[RefreshTicket]:
        """Start (or join) a refresh of every provider; the tickets of those that started."""
        return self.refresh_many(trigger)[0]

    def refresh_many(self, trigger: str = "manual") -> tuple[list[RefreshTicket], list[dict[str, Any]]]:
        """Refresh every provider: the tickets, and the providers skipped with why (``reason``)."""
        tickets, skipped = [], []
        for name in self.source_names():
            try:
                tickets.append(self.refresh(name, trigger))
            except RefreshRateLimited as exc:
                skipped.append({"provider": name, "reason": "rate_limited", "message": str(exc),
                                "retry_after": round(exc.retry_after, 1)})
            except (ProviderUnavailable, pykka.ActorDeadError, pykka.Timeout) as exc:
                skipped.append({"provider": name, "reason": "unavailable", "message": str(exc) or type(exc).__name__})
        if skipped:
            logger.info("refresh of every provider skipped {}", ", ".join(s["provider"] for s in skipped))
        return tickets, skipped

    @staticmethod
    def wait(tickets: Iterable[RefreshTicket], timeout: float) -> list[RefreshOutcome]:
        """Wait for refresh tickets; raise TimeoutError if one is not done in time."""
        tickets = list(tickets)
        done, not_done = concurrent.futures.wait([t.future for t in tickets], timeout=timeout)
        if not_done:
            raise TimeoutError(f"{len(not_done)} refreshes still running after {timeout:g}s")
        return [t.future.result() for t in tickets]

    # -- subscriptions ---------------------------------------------------------------------------
    def subscribe(self, target: Callable[[tuple], Any] | pykka.ActorRef, kinds: Iterable[str] = (),
                  providers: Iterable[str] = (), capabilities: Iterable[str] = (),
                  model_glob: Optional[str] = None, max_batch: Optional[int] = None,
                  max_delay: Optional[float] = None) -> Callable[[], None]:
        """Deliver committed change events to ``target`` in batches; returns an unsubscribe callable."""
        flt = EventFilter.build(kinds, providers, capabilities, model_glob)
        sub_id = self.notifier.subscribe(target, flt, max_batch, max_delay).get(timeout=self.settings.ask_timeout)
        return make_unsubscribe(self.notifier, sub_id)

    def events_after(self, after_id: int = 0, limit: int = 100, kinds: Iterable[str] = (),
                     providers: Iterable[str] = ()) -> list[Any]:
        """A page of the persisted event feed (StoredEvent), ids greater than ``after_id``, oldest first."""
        return self.reader.events_after(after_id, limit, tuple(kinds), tuple(providers)).get(
            timeout=self.settings.ask_timeout)

    def last_event_id(self) -> int:
        """The newest committed event id (0 when the feed is empty)."""
        return self.reader.last_event_id().get(timeout=self.settings.ask_timeout)

    # -- long-lived streams ----------------------------------------------------------------------
    def register_stream(self, wake: Any) -> None:
        """Track a stream's queue so :meth:`begin_shutdown` can end it (``wake.put(None)``)."""
        with self._streams_lock:
            self._streams.add(wake)
        if self.closing.is_set():
            wake.put(None)

    def unregister_stream(self, wake: Any) -> None:
        with self._streams_lock:
            self._streams.discard(wake)

    def open_streams(self) -> int:
        """Event streams open now, over every server of this service (each hub's ``stream_count``)."""
        with self._streams_lock:
            hubs = list(self._streams)
        return sum(getattr(hub, "stream_count", 0) for hub in hubs)

    def begin_shutdown(self) -> None:
        """End every open stream now; called before the HTTP server drains its threads."""
        self.closing.set()
        with self._streams_lock:
            streams = list(self._streams)
        for wake in streams:
            wake.put(None)

    # -- stop ------------------------------------------------------------------------------------
    def stop(self, timeout: float = 5.0) -> None:
        """Stop providers, then notifier, then catalog (reverse of start); idempotent."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        self.begin_shutdown()
        try:
            if self.supervisor is not None:
                try:
                    self.supervisor.stop_children(timeout).get(timeout=timeout * 2)
                except (pykka.ActorDeadError, pykka.Timeout):
                    logger.warning("supervisor did not stop its children in time")
        finally:
            for ref in reversed(self._refs):
                try:
                    ref.stop(block=True, timeout=timeout)
                except (pykka.ActorDeadError, pykka.Timeout):
                    pass
            left = pykka.ActorRegistry.get_all()
            if left:
                logger.warning("actors still running after stop: {}", left)
                pykka.ActorRegistry.stop_all(block=True, timeout=timeout)
        logger.info("service stopped")


def start_service(settings: Settings, clients: Optional[dict] = None,
                  clock: Optional[Callable[[], float]] = None) -> Service:
    """Start every actor in order (notifier, catalog, supervisor, providers) and return the Service.

    The catalog loads the last committed state before any provider is started, so reads are
    served at once. ``clients`` maps a provider name to a prebuilt client (tests of formats);
    ``clock`` replaces time.time where the catalog reads lifecycle dates against today (tests).
    """
    import sys
    import time

    service = Service(settings)
    service.started_at = time.time()
    # Every secret the settings name is known to the one redaction layer before anything runs.
    REDACTOR.add_settings(settings)
    install_redaction(logger)
    if settings.switch_interval > 0:
        # A commit's fan-out waits for the GIL behind whatever thread holds it; 5 ms is too long.
        sys.setswitchinterval(settings.switch_interval)
    if settings.malloc_arenas > 0:
        limit_arenas(settings.malloc_arenas)
    try:
        signal.signal(signal.SIGUSR1, pykka.debug.log_thread_tracebacks)
    except ValueError:
        pass  # not the main thread: no signal handlers there
    notifier_ref = NotifierActor.start(settings.batch_max_size, settings.batch_max_delay)
    service._refs.append(notifier_ref)
    service.notifier = notifier_ref.proxy()
    catalog_ref = CatalogActor.start(settings, service.view, service.notifier, clock)
    service._refs.append(catalog_ref)
    service.catalog = catalog_ref.proxy()
    # on_start (loading the last committed catalog, run ids) finishes before this answers, so
    # reads are served from the stored catalog before any provider is started.
    service.catalog.state.get(timeout=max(60.0, settings.ask_timeout))
    reader_ref = StoreReaderActor.start(settings)
    service._refs.append(reader_ref)
    service.reader = reader_ref.proxy()
    history_ref = HistoryActor.start(settings)  # the catalog as it was (actors/history.py)
    service._refs.append(history_ref)
    service.history_reader = history_ref.proxy()
    # Before any provider starts: webhooks resume from their cursors, then follow new commits.
    # Each actor connects in on_start; wait for one to be up before the next starts.
    service.reader.last_event_id().get(timeout=settings.ask_timeout)
    webhooks_ref = WebhookDispatcherActor.start(settings, service.notifier, service.view.telemetry)
    service._refs.append(webhooks_ref)
    service.webhooks = WebhookAdmin(webhooks_ref.proxy(), settings)
    service.webhooks.list_all()

    def report_failed(name: str, error: str) -> None:
        service.catalog.set_provider_status(name, "failed", error)

    sup_ref = SupervisorActor.start(settings.restart_backoff, settings.restart_backoff_max,
                                    settings.max_restarts_per_minute, on_failed=report_failed)
    service._refs.append(sup_ref)
    service.supervisor = sup_ref.proxy()
    # Everything made so far (modules, the loaded catalog) lives as long as the process: the
    # collector need not walk it again at every full collection while providers pour in.
    gc.collect(1)
    gc.freeze()
    # One supervised actor per AWS region (model_regions, best_regions_for_model... in BedrockQueries)
    # and per provider, all started in one message: each begins its first refresh as it starts.
    children = bedrock_children(service, settings)
    for cfg in settings.providers:
        if not cfg.enabled:
            continue
        client = (clients or {}).get(cfg.name)

        def factory(sup, cfg=cfg, client=client):
            return ProviderActor.start(cfg, settings, service.catalog, service.view, sup, client)

        children.append((cfg.name, factory))
    # Benchmark actors last: each looks its provider's actor up when a run starts.
    children += benchmark_children(service, settings)
    # Answers that come in while the actors start are parsed once every actor is up: the starts
    # (cheap, but many) then do not queue behind the parsing of the fastest providers' answers,
    # and every first request goes out as early as it can.
    with PARSE_SLOT:
        service.supervisor.start_children(children).get(timeout=max(30.0, settings.ask_timeout))
    discover_bedrock_regions(service, settings)
    return service
