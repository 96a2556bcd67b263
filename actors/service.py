"""start_service / Service.stop: the one place that wires the actors together."""
from __future__ import annotations

import concurrent.futures
import contextlib
import gc
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, Optional

import pykka
from loguru import logger

from actors.bedrock import BedrockQueries, bedrock_children, discover_bedrock_regions
from actors.benchmark import BenchmarkQueries, benchmark_children
from actors.calls import Calls
from actors.catalog import CatalogActor
from actors.heap import limit_arenas
from actors.history import HistoryActor, HistoryQueries
from actors.notifier import NotifierActor
from actors.provider import ProviderActor, RefreshRateLimited, RefreshTicket
from actors.reader import StoreReaderActor
from actors.roles import Roles
from actors.stopped import while_running
from actors.subscriber import CallbackSubscriber
from actors.subscriptions import Subscriptions
from actors.supervisor import SupervisorActor
from actors.view import CatalogView
from actors.webhooks import WebhookAdmin, WebhookDispatcherActor
from discovery import store
from discovery.bedrock import region_of, source_name
from discovery.benchmark import stored
from discovery.catalog import UNCONFIGURED
from discovery.health import UNKNOWN
from discovery.messages import RefreshOutcome
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


class AnotherInstance(RuntimeError):
    """Another process already serves this SQLite file."""


# A refresh of many sources starts them in waves of this many, slowest first, each wave once the
# one before is underway (its fetches begun) or after WAVE_WAIT seconds, whichever comes first.
REFRESH_WAVE = 8
WAVE_WAIT = 0.02
# How often a caller waiting on refreshes looks whether the service began to stop (Service.wait).
STOP_POLL = 0.1


def wait_underway(asks: Iterable[pykka.Future], bound: float) -> None:
    """Wait until every refresh asked for is underway (its fetch begun or the refresh over), at
    most ``bound`` seconds in all. A follow-up queued behind a refresh in flight is not waited for;
    an ask that failed is left to its caller, who gets the same error from it again."""
    deadline = time.monotonic() + bound
    for ask in asks:
        left = deadline - time.monotonic()
        if left <= 0:
            return
        try:
            ticket = ask.get(timeout=left)
        except Exception:  # rate-limited, the actor gone, not answered in time: the caller's to handle
            continue
        if not ticket.queued:
            ticket.underway.wait(max(0.0, deadline - time.monotonic()))


class Service(Roles, BedrockQueries, BenchmarkQueries, HistoryQueries, Subscriptions):
    """The running service: what the web app and in-process users talk to."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.view = CatalogView(settings.model_cache_size, settings.model_cache_ttl, settings.model_cache_mb)
        self.notifier: Any = None
        self._notifier_thread: Optional[int] = None
        self.catalog: Any = None
        self.reader: Any = None
        self.supervisor: Any = None
        # Webhook subscriptions (actors.webhooks.WebhookAdmin): CRUD, replay, retention.
        self.webhooks: Any = None
        self._refs: list[pykka.ActorRef] = []
        # Every actor this service started, supervised children too (by urn; the dead are
        # dropped as others start): what stop may stop, and nothing else of the process.
        self._own: dict[str, pykka.ActorRef] = {}
        self._own_lock = threading.Lock()
        self._process_state: Optional[tuple] = None
        self._stopped = threading.Event()
        # Set when the service begins to stop: long-lived streams end instead of holding it up.
        self.closing = threading.Event()
        self._streams: set = set()
        self._streams_lock = threading.Lock()
        # In-process subscribers' own delivery threads (actors.subscriber), by subscription id.
        self._callbacks: dict[int, CallbackSubscriber] = {}
        self._callbacks_lock = threading.Lock()
        self.started_at: Optional[float] = None
        # Roles (docs/replicas.md): "leader" runs discovery and writes; a "follower" (several
        # instances on PostgreSQL) serves from an index it keeps current and hands mutations over.
        self.role = "leader"
        self.replicated = False
        self.instance_id = settings.instance_id or f"{socket.gethostname()}:{os.getpid()}"
        self.epoch: Optional[int] = None
        self.elector: Any = None
        self.follower: Any = None
        self.leader_client: Any = None
        self._follower_ref: Optional[pykka.ActorRef] = None
        self._instance_lock: Any = None
        self._clients: Optional[dict] = None
        self._clock: Optional[Callable[[], float]] = None
        self._role_lock = threading.Lock()
        # Set when this instance lost the leadership; on_deposed (the CLI: exit 75) is then called once.
        self.deposed = threading.Event()
        self.deposed_reason: Optional[str] = None
        self._leader_seen: tuple[float, Optional[dict[str, Any]]] = (0.0, None)
        self.on_deposed: Optional[Callable[[str], None]] = None

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

    @while_running
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

        if self.role == "follower":
            return self._relay("reconciliation", kinds=list(kinds) if kinds else None, providers=list(providers),
                               tolerance=tolerance, limit=limit)
        missing: dict[str, dict[str, tuple[float, int]]] = {}
        for models in self.view.missing.values():
            for model_id, since_count in models.items():
                held = missing.setdefault(model_id.split("/", 1)[0], {})
                # A Bedrock model missing from several regions: the earliest miss.
                held[model_id] = min(since_count, held.get(model_id, since_count))
        return self.view.findings.report(kinds=kinds or KINDS, providers=providers, tolerance=tolerance,
                                         limit=limit, missing=missing)

    @while_running
    def check_lifecycle(self) -> int:
        """Check every model's retirement and deprecation dates now (the timer does it every
        lifecycle_check_interval); returns how many retiring_soon notices were given."""
        if self.role == "follower":
            return self._relay("check_lifecycle")
        return self.catalog.check_lifecycle().get(timeout=self.settings.ask_timeout)

    def cache_stats(self) -> dict[str, Any]:
        """The model-record cache: hits, misses, entries, evictions, bytes, hit rate."""
        return self.view.cache.stats()

    def keep_history(self, history: Any) -> None:
        """Called by the history actor as it is made (see :meth:`history_cache_stats`)."""
        self._history = history

    def history_cache_stats(self) -> dict[str, Any]:
        """The cache of past catalogs built for ``as_of`` and /changes: hits, misses, the catalogs
        and models it holds, and the most models it may hold."""
        history = getattr(self, "_history", None)
        if history is None:
            return {"hits": 0, "misses": 0, "catalogs": 0, "models": 0, "max_models": 0}
        return history.stats()

    @while_running
    def history(self, model_id: str, limit: int = 100, before: Optional[int] = None) -> list[dict]:
        """A model's newest ``limit`` versions (older than version ``before``), oldest first."""
        return self.reader.history(model_id, limit, before).get(timeout=self.settings.ask_timeout)

    @while_running
    def history_page(self, model_id: str, limit: int = 100, before: Optional[int] = None
                     ) -> tuple[list[dict], bool, int]:
        """:meth:`history`, whether older versions are left, and how many versions there are in all."""
        return self.reader.history_page(model_id, limit, before).get(timeout=self.settings.ask_timeout)

    @while_running
    def refresh_runs(self, provider: Optional[str] = None, limit: int = 50, before: Optional[int] = None) -> list[dict]:
        return self.reader.runs(provider, limit, before).get(timeout=self.settings.ask_timeout)

    @while_running
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
        if self.role == "follower" and self.bedrock_board is None:
            bedrock = self.settings.bedrock
            return self.provider_names() + ([source_name(r) for r in sorted(bedrock.regions)] if bedrock.enabled else [])
        return self.provider_names() + self.bedrock_sources()

    def bedrock_regions(self) -> list[dict[str, Any]]:
        """Every watched region's status (BedrockQueries.bedrock_regions); a follower's, from the leader."""
        if self.role == "follower":
            return self._relay("bedrock_regions") if self.settings.bedrock.enabled else []
        return BedrockQueries.bedrock_regions(self)

    @while_running
    def providers(self) -> list[dict[str, Any]]:
        """Every provider's status: actor view (breaker, in-flight) merged with stored history."""
        if self.role == "follower":
            return self._relay("providers")
        rows = self.view.provider_rows
        states = self.supervisor.child_states().get(timeout=self.settings.ask_timeout)
        refs = self.supervisor.refs(self.provider_names()).get(timeout=self.settings.ask_timeout)
        asks = {name: self.calls_of(ref).status() for name, ref in refs.items() if ref is not None}
        out = []
        index = self.index
        for name in self.provider_names():
            row = rows.get(name, {})
            entry: dict[str, Any] = {"name": name}
            try:
                entry.update(asks[name].get(timeout=self.settings.ask_timeout) if name in asks else {})
            except (pykka.Timeout, pykka.ActorDeadError):
                entry["status"] = "unresponsive"
            if entry.get("status") == UNKNOWN and row.get("status") in CARRIED_STATUSES:
                # Not checked since this start: the status stored before it stands until the first
                # check says otherwise (a failing provider showed "unknown" for a whole slow refresh).
                said = row.get("status_reason")
                entry["status"] = row["status"]
                entry["status_reason"] = (f"{said}; " if said else "") + "as stored before this start, not checked since"
            sup = states.get(name, {})
            if sup.get("state") in ("failed", "restarting"):
                entry["status"] = sup["state"]
            entry["actor"] = sup
            entry["given_up"] = sup.get("state") == "failed"
            entry.setdefault("format", row.get("format"))
            entry.setdefault("is_catalog", row.get("is_catalog"))
            entry.update({
                "last_refresh_at": row.get("last_refresh_at"), "last_success_at": row.get("last_success_at"),
                "last_error": row.get("last_error"), "reported_models": row.get("model_count", 0),
                "model_count": index.provider_count(name),
            })
            out.append(entry)
        return out + self.kept_source_rows() + self.bedrock_provider_rows(states)  # each region is a source of its own

    def kept_source_rows(self) -> list[dict[str, Any]]:
        """Each stored source the settings do not name whose models are kept (Settings.keeps), as
        ``GET /api/v1/providers`` lists it: status ``unconfigured``, the reason, no actor."""
        rows, index, out = self.view.provider_rows, self.index, []
        for name, (reason, count) in sorted(self.view.kept_sources.items()):
            row = rows.get(name, {})
            out.append({
                "name": name, "format": row.get("format"), "is_catalog": row.get("is_catalog"),
                "status": UNCONFIGURED, "status_reason": reason, "actor": {}, "given_up": False,
                "last_refresh_at": row.get("last_refresh_at"), "last_success_at": row.get("last_success_at"),
                "last_error": row.get("last_error"), "reported_models": row.get("model_count", 0),
                # A region's models are Bedrock's in the catalog: count its own, as a watched one's row does.
                "model_count": count if region_of(name) else index.provider_count(name),
            })
        return out

    def given_up_sources(self) -> list[str]:
        """The sources whose actor the supervisor stopped restarting (it kept crashing), from the
        supervisor's live state: none of them refreshes again until the service restarts."""
        if self.supervisor is None:
            return []
        try:
            states = self.supervisor.child_states().get(timeout=self.settings.ask_timeout)
        except (pykka.Timeout, pykka.ActorDeadError):
            return []
        return sorted(name for name, state in states.items() if state.get("state") == "failed")

    # -- refresh ---------------------------------------------------------------------------------
    def _provider_ref(self, name: str) -> Optional[pykka.ActorRef]:
        if name not in self.provider_names() and name not in self.bedrock_sources():
            raise UnknownProvider(name)
        return self.supervisor.ref(name).get(timeout=self.settings.ask_timeout)

    def calls_of(self, ref: pykka.ActorRef) -> Any:
        """An actor's methods by message (actors/calls.py): no pykka proxy, whose making introspects
        the whole actor, on the way of a refresh."""
        return Calls(ref)

    def _provider_calls(self, name: str) -> Any:
        ref = self._provider_ref(name)
        if ref is None:
            raise ProviderUnavailable(f"provider {name} is not running (restarting or failed)")
        return self.calls_of(ref)

    @while_running
    def refresh(self, name: str, trigger: str = "manual") -> RefreshTicket:
        """Start (or join) a refresh of one provider; returns its ticket at once."""
        if self.role == "follower":
            if name not in self.source_names():
                raise UnknownProvider(name)
            tickets, _ = self._relay_refresh("refresh", {"source": name, "trigger": trigger})
            return tickets[0]
        return self._provider_calls(name).refresh(trigger).get(timeout=self.settings.ask_timeout)

    @while_running
    def health(self, name: str, history: int = 50) -> dict[str, Any]:
        """One provider's health record and its recent checks."""
        if self.role == "follower":
            if name not in self.source_names():
                raise UnknownProvider(name)
            return self._relay("health", name, history)
        # A region's actor keeps its record as a provider's does (every refresh and check).
        return self._provider_calls(name).health_record(history).get(timeout=self.settings.ask_timeout)

    def refresh_all(self, trigger: str = "manual") -> list[RefreshTicket]:
        """Start (or join) a refresh of every provider; the tickets of those that started."""
        return self.refresh_many(trigger)[0]

    @while_running
    def refresh_many(self, trigger: str = "manual") -> tuple[list[RefreshTicket], list[dict[str, Any]]]:
        """Refresh every provider: the tickets, and the providers skipped with why (``reason``)."""
        if self.role == "follower":
            return self._relay_refresh("refresh_many", {"trigger": trigger})
        tickets, skipped = [], []
        order = self.source_names()
        timeout = self.settings.ask_timeout
        # A region that said it offers no Bedrock to this account is asked again on its own slow
        # timer (unavailable_recheck_interval), or when refreshed by name; not by every refresh of
        # all, whose every run would fail for it (the demo's af-south-1 made each one exit 1).
        board = self.bedrock_board.snapshot() if self.bedrock_board is not None else {}
        shelved = {source_name(r): st for r, st in board.items() if st.status == "unavailable"}
        for name in order:
            if name in shelved:
                skipped.append({"provider": name, "reason": "unavailable", "message": (
                    f"{name} offers no Bedrock to this account ({shelved[name].reason or 'unavailable'}); it is "
                    "asked again every unavailable_recheck_interval, or now when refreshed by name")})
        for name, ask in self.ask_refreshes([n for n in order if n not in shelved], trigger):
            if ask is None:
                skipped.append({"provider": name, "reason": "unavailable",
                                "message": f"provider {name} is not running (restarting or failed)"})
                continue
            try:
                tickets.append(ask.get(timeout=timeout))
            except RefreshRateLimited as exc:
                skipped.append({"provider": name, "reason": "rate_limited", "message": str(exc),
                                "retry_after": round(exc.retry_after, 1)})
            except (pykka.ActorDeadError, pykka.Timeout) as exc:
                skipped.append({"provider": name, "reason": "unavailable", "message": str(exc) or type(exc).__name__})
        # Answered in the sources' own order, whatever order they were started in.
        position = {name: i for i, name in enumerate(order)}
        tickets.sort(key=lambda t: position.get(t.provider, len(position)))
        skipped.sort(key=lambda s: position.get(s["provider"], len(position)))
        if skipped:
            logger.info("refresh of every provider skipped {}", ", ".join(s["provider"] for s in skipped))
        return tickets, skipped

    def ask_refreshes(self, names: Iterable[str], trigger: str) -> list[tuple[str, Optional[pykka.Future]]]:
        """Ask each named source to refresh: (name, the ask's future, or None when its actor is not
        running), slowest first.

        A round ends when its slowest source has answered, so the slowest (by its last fetch, or
        its region's latency) start first. Started all at once, eighty sources' threads wake
        together and take the interpreter lock in whatever order the OS gives it: a slow source's
        request could leave 0.2 s after a fast one's. So they start in waves of ``REFRESH_WAVE``,
        slowest first, each once the wave before is underway (bounded by ``WAVE_WAIT``); no answer
        is awaited, so the sources still run together.
        """
        board = self.bedrock_board.snapshot() if self.bedrock_board is not None else {}
        slow = {source_name(r): st.latency or 0.0 for r, st in board.items()}
        slow.update(self.view.fetch_seconds)
        ordered = sorted(names, key=lambda n: -slow.get(n, 0.0))
        refs = self.supervisor.refs(ordered).get(timeout=self.settings.ask_timeout)
        asks: list[tuple[str, Optional[pykka.Future]]] = []
        for first in range(0, len(ordered), REFRESH_WAVE):
            wave = [(n, self.calls_of(refs[n]).refresh(trigger) if refs.get(n) is not None else None)
                    for n in ordered[first:first + REFRESH_WAVE]]
            asks.extend(wave)
            if first + REFRESH_WAVE < len(ordered):
                wait_underway([ask for _, ask in wave if ask is not None], WAVE_WAIT)
        return asks

    def wait(self, tickets: Iterable[RefreshTicket], timeout: float) -> list[RefreshOutcome]:
        """Wait for refresh tickets; raise TimeoutError if one is not done in time.

        Once the service begins to stop, a refresh not done yet is told as interrupted (its run is
        recorded so): the caller had waited on until the HTTP server's drain ran out and cut its
        request, answered with a plain-text 500 instead of the JSON every error is."""
        tickets = list(tickets)
        futures = [t.future for t in tickets]
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            _, not_done = concurrent.futures.wait(futures, timeout=max(0.0, min(left, STOP_POLL)))
            if not not_done:
                return [t.future.result() for t in tickets]
            if self.closing.is_set():
                return [t.future.result() if t.future.done() else RefreshOutcome(
                    t.run_id, t.provider, "interrupted",
                    error="the service stopped before this refresh ended; its run is recorded interrupted")
                    for t in tickets]
            if left <= 0:
                raise TimeoutError(f"{len(not_done)} refreshes still running after {timeout:g}s")

    def start_leader_actors(self) -> None:
        """The leader's actors, started on this instance (a follower promoted)."""
        _start_leader(self, self.settings, self._clients, self._clock)

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
        left: list = []
        try:
            self.begin_shutdown()
            if self.leader_client is not None:
                self.leader_client.close()
            with self._role_lock:  # not while a promotion starts the leader's actors
                # The notifier writes nothing (one stuck in an inline callable holds no file).
                left = [ref for ref in self._stop_actors(timeout) if ref.actor_class.__name__ != "NotifierActor"]
        finally:
            if self._instance_lock is not None and not left:
                self._instance_lock.close()
                self._instance_lock = None
            elif left:
                # An actor of this service may still write: the file stays this process's.
                logger.warning("the SQLite instance lock is kept while actors of this service still run: "
                               "another service on the same file is refused until they end")
            # Only now may another service start in this process (start_service checks _RUNNING).
            self._restore_process_state()
        logger.info("service stopped")

    def _restore_process_state(self) -> None:
        """The switch interval, the collector's thresholds and SIGUSR1's handler as they were
        before start_service; and the process free for another service."""
        global _RUNNING
        state, self._process_state = self._process_state, None
        if state is not None:
            interval, thresholds, handler = state
            sys.setswitchinterval(interval)
            gc.set_threshold(*thresholds)
            gc.unfreeze()  # what the catalog's load froze goes back to the collector
            if handler is not None:
                try:
                    signal.signal(signal.SIGUSR1, handler)
                except ValueError:
                    pass  # not the main thread
        with _RUNNING_LOCK:
            if _RUNNING is self:
                _RUNNING = None

    def catalog_holds(self, text: str) -> bool:
        """Whether a model's id or name holds ``text`` (any case), as ``q`` finds it."""
        from discovery.query import ModelQuery, run_query

        return bool(run_query(self.index, ModelQuery.from_args({"q": text, "limit": "1"})).items)

    def owned(self, factory: Callable[[Any], pykka.ActorRef]) -> Callable[[Any], pykka.ActorRef]:
        """``factory`` (of a supervised child), noting each actor it starts as this service's."""
        def start(sup: Any) -> pykka.ActorRef:
            ref = factory(sup)
            with self._own_lock:
                for urn in [urn for urn, known in self._own.items() if not known.is_alive()]:
                    del self._own[urn]
                self._own[ref.actor_urn] = ref
            return ref
        return start

    def _stop_actors(self, timeout: float) -> list:
        """Stop every actor of this service; the ones still running after ``timeout`` (told to stop)."""
        left: list = []
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
            self._close_callbacks(timeout)
            # This service's own actors only: the process may run actors of its own, or another
            # service, which a stop of this one must leave running.
            with self._own_lock:
                own = set(self._own) | {ref.actor_urn for ref in self._refs}
            left = [ref for ref in pykka.ActorRegistry.get_all() if ref.actor_urn in own]
            if left:
                if any(ref.actor_class.__name__ == "NotifierActor" for ref in left):
                    logger.warning("the notifier did not stop within {:g}s: an inline subscriber's callable is "
                                   "probably still running on its thread (an inline callable must return at "
                                   "once; inline=False gives one a thread of its own)", timeout)
                logger.warning("actors still running after stop: {}", left)
                for ref in left:
                    ref.stop(block=False)
        return left


    def _close_callbacks(self, timeout: float) -> None:
        """Give in-process callables what the notifier handed them last (up to ``timeout`` seconds
        for all), then end their threads; one stuck in its callable is left behind, logged."""
        with self._callbacks_lock:
            callbacks, self._callbacks = list(self._callbacks.values()), {}
        deadline = time.monotonic() + timeout
        for own in callbacks:
            own.close(drain=max(0.001, deadline - time.monotonic()))
        for own in callbacks:
            if not own.join(max(0.0, deadline - time.monotonic())):
                logger.warning("in-process subscriber {} still in its callable at stop ({} events not given)",
                               own.thread.name, own.behind())


def _usr1_handler() -> Any:
    """SIGUSR1's handler now (None where the platform has no such signal)."""
    try:
        return signal.getsignal(signal.SIGUSR1)
    except (AttributeError, ValueError):
        return None


def dump_threads(signum: int = 0, frame: Any = None) -> None:
    """SIGUSR1: every thread's stack to the log (deadlock debugging).

    The dump is written from a thread of its own, not from the signal handler: the handler runs
    in the main thread between two bytecodes, possibly while that thread is inside a log sink
    holding loguru's lock, and logging from there would be refused (loguru's deadlock guard) and
    the dump lost. At WARNING, one record for the whole dump (pykka's own logged a record per
    thread at CRITICAL: an alert on CRITICAL paged someone for a diagnostic)."""
    threading.Thread(target=_log_thread_stacks, name="thread-dump", daemon=True).start()


def _log_thread_stacks() -> None:
    """A WARNING saying how many threads, then one per thread with its innermost 30 frames: one
    record of them all was 65 KB for the idle demo, past what log shippers keep in one line."""
    import traceback

    names = {t.ident: t.name for t in threading.enumerate()}
    frames = sorted(sys._current_frames().items(), key=lambda item: names.get(item[0], ""))
    dump = f"{time.time():.0f}"
    logger.warning("thread dump (SIGUSR1) {}: {} threads, a record each follows", dump, len(frames))
    for n, (ident, frame) in enumerate(frames, 1):
        stack = "".join(traceback.format_stack(frame, limit=30))
        logger.warning("thread dump {} {}/{}: --- {} (ident {})\n{}", dump, n, len(frames), names.get(ident, "?"),
                       ident, stack)


def start_service(settings: Settings, clients: Optional[dict] = None,
                  clock: Optional[Callable[[], float]] = None) -> Service:
    """Start every actor in order (notifier, catalog, supervisor, providers) and return the Service.

    The catalog loads the last committed state before any provider is started, so reads are
    served at once. ``clients`` maps a provider name to a prebuilt client (tests of formats);
    ``clock`` replaces time.time where the catalog reads lifecycle dates against today (tests).

    On PostgreSQL the instance first runs for leader (docs/replicas.md): the winner starts as
    above; the others start as followers and keep trying. On SQLite the instance is its own
    leader, and a second instance on the same file is refused (:class:`AnotherInstance`).

    One service runs in a process at a time (RuntimeError while another runs). What it sets for
    the process (the switch interval, the collector's thresholds, a SIGUSR1 handler dumping
    threads) is put back by :meth:`Service.stop`.
    """
    from discovery.settings_reader import token_problem

    for key in ("admin_token", "read_token"):
        problem = token_problem(getattr(settings, key, None))  # as load_settings refuses it
        if problem is not None:
            raise ValueError(f"{key}: {problem}")
    global _RUNNING
    with _RUNNING_LOCK:
        if _RUNNING is not None:
            stopping = " (it is still stopping)" if _RUNNING._stopped.is_set() else ""
            raise RuntimeError(f"a service is already running in this process{stopping}: its store connection, "
                               "write fence and settings are the process's own, so stop it first (several "
                               "instances: one process each, on one PostgreSQL database; docs/replicas.md)")
        service = Service(settings)
        _RUNNING = service
    try:
        return _start(service, settings, clients, clock)
    except BaseException:
        # What started is stopped and what was set for the process put back (it clears _RUNNING).
        service._stopped.set()
        for ref in reversed(service._refs):
            try:
                ref.stop(block=True, timeout=5.0)
            except (pykka.ActorDeadError, pykka.Timeout):
                pass
        service._restore_process_state()
        raise


# The stored statuses a provider not yet checked since a start shows: its health as last seen.
# Not "failed" (the supervisor gave up on the actor of a process gone) nor "unconfigured".
CARRIED_STATUSES = frozenset({"healthy", "degraded", "unhealthy", "rate_limited", "unavailable", "misconfigured"})

# The one service this process runs (start_service refuses a second while it runs).
_RUNNING: Optional[Service] = None
_RUNNING_LOCK = threading.Lock()


def _start(service: Service, settings: Settings, clients: Optional[dict],
           clock: Optional[Callable[[], float]]) -> Service:
    import sys

    from discovery import replication

    service.started_at = time.time()
    service._clients, service._clock = clients, clock
    # Every secret the settings name is known to the one redaction layer before anything runs.
    REDACTOR.add_settings(settings)
    install_redaction(logger)
    # What this process had before, put back by stop (an embedding application's own choices).
    service._process_state = (sys.getswitchinterval(), gc.get_threshold(), _usr1_handler())
    if settings.switch_interval > 0:
        # A commit's fan-out waits for the GIL behind whatever thread holds it; 5 ms is too long.
        sys.setswitchinterval(settings.switch_interval)
    if settings.malloc_arenas > 0:
        limit_arenas(settings.malloc_arenas)
    if settings.gc_full_threshold > 0:
        young, middle, _ = gc.get_threshold()
        gc.set_threshold(young, middle, settings.gc_full_threshold)
    try:
        signal.signal(signal.SIGUSR1, dump_threads)
    except ValueError:
        pass  # not the main thread: no signal handlers there
    service.replicated = replication.is_postgres(settings.database_url)
    store.set_fence(service.replicated, None)
    store.FENCE.on_fenced = service._lost
    if not service.replicated:
        service._instance_lock = hold_single_instance(settings.database_url)
    try:
        notifier_ref = NotifierActor.start(settings.batch_max_size, settings.batch_max_delay, service.view)
        service._refs.append(notifier_ref)
        service.notifier = notifier_ref.proxy()
        service._notifier_thread = service.notifier.thread_ident().get(timeout=settings.ask_timeout)
        if not service.replicated:
            _start_leader(service, settings, clients, clock)
            return service
        from actors.replica import ElectorActor

        # The schema exists before the election reads the leadership row; this deployment's
        # notification channels are named after its database and schema.
        store.open_database(settings.database_url)
        replication.configure(replication.channel_suffix(store.schema_lock_key("channels")))
        store.close_database()
        elector_ref = ElectorActor.start(settings, service.instance_id, service._elected, service._lost)
        service._refs.insert(1, elector_ref)  # stopped last but one: a leader stopping still writes
        service.elector = elector_ref.proxy()
        epoch = service.elector.try_lead().get(timeout=max(30.0, settings.ask_timeout))
        if epoch is not None:
            store.set_fence(True, epoch)
            service.epoch = epoch
            logger.info("{} is the leader (epoch {})", service.instance_id, epoch)
            _start_leader(service, settings, clients, clock)
        else:
            _start_follower(service, settings)
        service.elector.start_ticking()
    except BaseException:
        if service._instance_lock is not None:
            service._instance_lock.close()
        raise
    return service


class StoreUnusable(RuntimeError):
    """The database named by the settings cannot be used: said in one line before any actor starts."""


def check_sqlite_directory(path: str) -> None:
    """:class:`StoreUnusable` for a SQLite path whose directory is missing."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise StoreUnusable(f"the SQLite database's directory {folder} does not exist")


def check_sqlite_file(path: str) -> None:
    """:class:`StoreUnusable` for a SQLite file that is not a database it can read (each actor that
    opened it failed, with a traceback, and the start with an ActorDeadError that named none of
    this). Opened read-only by a ``file:`` URI made from the path, so that no character of the
    name (``%``, ``#``, ``?``) is read as URI syntax."""
    import sqlite3
    from pathlib import Path

    if not os.path.exists(path) or os.path.getsize(path) == 0:
        return  # a new database, made at the first open
    try:
        with contextlib.closing(sqlite3.connect(Path(path).absolute().as_uri() + "?mode=ro", uri=True)) as conn:
            conn.execute("PRAGMA schema_version").fetchone()
    except sqlite3.Error as exc:
        raise StoreUnusable(f"{path} cannot be read as a SQLite database: {exc}") from None


def hold_single_instance(url: str) -> Any:
    """Lock ``<file>.instance`` beside a SQLite database for as long as this process serves it;
    :class:`AnotherInstance` when another process holds it."""
    import fcntl

    if not url.startswith("sqlite"):
        return None
    from playhouse.db_url import parse

    path = str(parse(url).get("database") or "")  # the file peewee opens: no query, no fragment
    if not path or path == ":memory:":
        return None
    check_sqlite_directory(path)
    lock = f"{path}.instance"
    made = not os.path.exists(lock)
    try:
        handle = open(lock, "a+")
    except OSError as exc:  # a read-only directory or filesystem, no permission
        raise StoreUnusable(f"cannot make the instance lock {lock}: {exc.strerror or exc}") from None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise AnotherInstance(
            f"another instance ({holder}) is serving {path}: one instance per SQLite file; for several "
            "instances use PostgreSQL (DATABASE_URL, docs/replicas.md)") from None
    try:
        check_sqlite_file(path)
    except StoreUnusable:
        handle.close()
        if made:
            os.remove(lock)  # no stray lock left beside a file that is no database
        raise
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
    handle.flush()
    return handle


def _start_readers(service: Service, settings: Settings) -> None:
    """The store readers every role has (history, runs, the event feed; the catalog as it was)."""
    if service.reader is not None:
        return
    reader_ref = StoreReaderActor.start(settings)
    service._refs.append(reader_ref)
    service.reader = reader_ref.proxy()
    # The catalog as it was. A read waits for this process's commits under way (the writer marks
    # them) before it asks (HistoryQueries), so the actor's mailbox never waits for one.
    history_ref = HistoryActor.start(settings, made=service.keep_history)
    service._refs.append(history_ref)
    service.history_reader = history_ref.proxy()


def _start_follower(service: Service, settings: Settings) -> None:
    """A follower: the stored catalog published, then kept current from the leader's commits."""
    from actors.replica import FollowerActor, LeaderClient, RemoteWebhookAdmin
    from discovery.benchmark.board import PerformanceBoard
    from discovery.catalog import CatalogState

    service.role = "follower"
    _start_readers(service, settings)
    store.open_database(settings.database_url)
    try:
        # The cursor first: an event committed while the catalog loads is applied again (a no-op).
        after = store.last_event_id()
        state = CatalogState()
        state.load_index()
        service.view.provider_rows = store.provider_rows()
        service.view.performance = PerformanceBoard.from_rows(stored.latest_benchmark_results())
    finally:
        store.close_database()
    service.view.last_event_id = after
    service.view.publish(state.index())
    del state
    service.leader_client = LeaderClient(settings, service.instance_id)
    service.webhooks = RemoteWebhookAdmin(service.leader_client, settings)
    follower_ref = FollowerActor.start(settings, service.view, service.notifier, after, service.leader_client)
    service._refs.append(follower_ref)
    service._follower_ref = follower_ref
    service.follower = follower_ref.proxy()
    gc.collect(1)
    gc.freeze()
    logger.info("{} follows (catalog of {} models loaded; events after {})", service.instance_id,
                len(service.view.index), after)


def _start_leader(service: Service, settings: Settings, clients: Optional[dict],
                  clock: Optional[Callable[[], float]]) -> None:
    """The leader's actors: the catalog writer, webhook delivery, supervision, providers, regions,
    benchmarks (and, with several instances, the answering of followers' requests)."""
    catalog_ref = CatalogActor.start(settings, service.view, service.notifier, clock)
    service._refs.append(catalog_ref)
    service.catalog = catalog_ref.proxy()
    # on_start (loading the last committed catalog, run ids) finishes before this answers, so
    # reads are served from the stored catalog before any provider is started.
    service.catalog.state.get(timeout=max(60.0, settings.ask_timeout))
    _start_readers(service, settings)
    # Before any provider starts: webhooks resume from their cursors, then follow new commits.
    # Each actor connects in on_start; wait for one to be up before the next starts.
    service.reader.last_event_id().get(timeout=settings.ask_timeout)
    webhooks_ref = WebhookDispatcherActor.start(settings, service.notifier, service.view.telemetry)
    service._refs.append(webhooks_ref)
    service.webhooks = WebhookAdmin(webhooks_ref.proxy(), settings, service.catalog_holds)
    service.webhooks.list_all()

    def report_failed(name: str, error: str) -> None:
        service.catalog.set_provider_status(name, "failed", error)
        service.region_given_up(name, error)

    sup_ref = SupervisorActor.start(settings.restart_backoff, settings.restart_backoff_max,
                                    settings.max_restarts_per_minute, on_failed=report_failed)
    service._refs.append(sup_ref)
    service.supervisor = sup_ref.proxy()
    # Everything made so far (modules, the loaded catalog) lives as long as the process: the
    # collector need not walk it again at every full collection while providers pour in.
    gc.collect(1)
    gc.freeze()
    # One supervised actor per provider and per AWS region (model_regions, best_regions_for_model...
    # in BedrockQueries), all started in one message: each begins its first refresh as it starts.
    # Providers first: each sends its first request within about 2 ms of CPU, where a region first
    # makes a boto3 client (about 2.5 ms more, on its I/O thread, competing for the GIL with every
    # start after it). bench_fanout, cold rounds: the last provider's refresh began at 0.12-0.14 s
    # instead of 0.36 s.
    children = []
    for cfg in settings.providers:
        if not cfg.enabled:
            continue
        client = (clients or {}).get(cfg.name)

        def factory(sup, cfg=cfg, client=client):
            return ProviderActor.start(cfg, settings, service.catalog, service.view, sup, client)

        children.append((cfg.name, factory))
    children += bedrock_children(service, settings)
    # Benchmark actors last: each looks its provider's actor up when a run starts.
    children += benchmark_children(service, settings)
    # Answers that come in while the actors start are parsed once every actor is up: the starts
    # (cheap, but many) then do not queue behind the parsing of the fastest providers' answers,
    # and every first request goes out as early as it can.
    with PARSE_SLOT:
        service.supervisor.start_children([(name, service.owned(factory)) for name, factory in children]).get(
            timeout=max(30.0, settings.ask_timeout))
    discover_bedrock_regions(service, settings)
    if service.replicated:
        from actors.replica import RequestServerActor

        server_ref = RequestServerActor.start(settings, service.handle_request, service.closing)
        service._refs.append(server_ref)
