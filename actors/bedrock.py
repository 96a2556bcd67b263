"""BedrockRegionActor: one per AWS region, with its own breaker, timer, boto3 client and latency.

Also the wiring (:func:`bedrock_children`, :func:`discover_bedrock_regions`) and the service's
Bedrock queries (:class:`BedrockQueries`, mixed into :class:`actors.service.Service`).
"""
from __future__ import annotations

import concurrent.futures
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any
from weakref import WeakKeyDictionary

import pybreaker
import pykka
from loguru import logger

from actors.calls import Calls, resolve
from actors.io import IOWorker
from actors.provider import (
    ProbeGate,
    RefreshTicket,
    breaker_storage,
    count_in_breaker,
    fail_and_wait,
    half_open_delay,
    interrupt,
    is_configuration_error,
    next_try_at,
    open_reason,
    submit_and_wait,
)
from actors.scheduling import Timer, jittered, schedule
from discovery.bedrock import (
    PROVIDER,
    BedrockRegionClient,
    Ewma,
    RegionBoard,
    RegionStatus,
    RegionUnavailable,
    describe_regions,
    model_region_rows,
    rank_regions,
    region_of,
    resolve_model,
    source_name,
)
from discovery.health import HealthRecord
from discovery.log_context import bind_thread, unbind_thread
from discovery.messages import ProviderSnapshot, RefreshFailure, RefreshOutcome
from discovery.model import Model
from discovery.providers.errors import ProviderError
from discovery.redaction import scrub
from discovery.settings import Settings


class _BreakerListener(pybreaker.CircuitBreakerListener):
    """Tells the actor when its breaker changes state (called on the I/O thread)."""

    def __init__(self, proxy: Any):
        self.proxy = proxy

    def state_change(self, cb, old_state, new_state) -> None:
        try:
            self.proxy.breaker_changed(new_state.name)
        except pykka.ActorDeadError:
            pass


class BedrockRegionActor(pykka.ThreadingActor):
    """Refreshes one region's Bedrock models on a jittered timer and on request.

    Both list calls run at once (the refresh on the I/O thread, the profile pages on a second
    one), so a region costs one round trip of its latency. The breaker is used only from the I/O
    thread. A region that does not offer Bedrock, or denies access, is marked ``unavailable``
    and asked again only every ``unavailable_recheck_interval``.
    """

    def __init__(self, region: str, settings: Settings, catalog: Any, view: Any, board: RegionBoard,
                 supervisor: Any = None, client: Any = None):
        super().__init__()
        self._client = client
        self.region = region
        self.source = source_name(region)
        self.settings = settings
        self.config = settings.bedrock
        self.catalog = catalog
        self.view = view
        self.board = board
        self.supervisor = supervisor
        self.latency = Ewma(self.config.latency_alpha)
        self.status = RegionStatus(region)
        self.in_flight: RefreshTicket | None = None
        self.fetcher: BedrockRegionClient | None = None
        self.profile_count: int | None = None  # system inference profiles this region listed last
        self._last_answer: tuple[tuple[list, list], tuple[Model, ...]] | None = None  # I/O thread only
        self._timer: Timer | None = None
        self._check_timer: Timer | None = None
        self.checking = False  # a health check is on the I/O thread
        # Every refresh and check, as a provider's record keeps its probes and refreshes: error
        # rate, uptime and recent checks for /providers/bedrock@<region>/health (they were empty).
        self.health = HealthRecord()
        self._io: IOWorker | None = None
        self._calls: IOWorker | None = None

    # -- life cycle ------------------------------------------------------------------------------
    def on_start(self) -> None:
        # Every log line of this actor's thread names its region's source (lives as long as the thread).
        bind_thread(provider=self.source)
        self._proxy = Calls(self.actor_ref)
        self.breaker_state_storage = breaker_storage()
        self.breaker = pybreaker.CircuitBreaker(
            fail_max=self.config.fail_max, reset_timeout=self.config.reset_timeout, name=self.source,
            throw_new_error_on_trip=False, state_storage=self.breaker_state_storage,
            # A region without Bedrock (or access) is not failing: counted, a few manual refreshes
            # opened its breaker, and "circuit open" hid why it is unavailable.
            exclude=[RegionUnavailable], listeners=[_BreakerListener(self._proxy)])
        self._io = IOWorker(f"io-{self.source}")
        self._calls = IOWorker(f"io-{self.source}-profiles")
        # A restarted actor keeps what the board knew of the region (models, last success and error),
        # so that survives a crash; the breaker and the run under way were the dead actor's own.
        known = self.board.get(self.region)
        if known is not None:
            self.status = replace(
                known, refreshing=False, refreshing_run=None, breaker_state="closed", fail_counter=0,
                breaker_next_try_at=None, given_up=False,
                **({"status": "failing", "reason": known.last_error} if known.status == "circuit_open" else {}))
        first = 0.0 if self.settings.refresh_on_start else jittered(self.config.refresh_interval, self.config.jitter)
        self._schedule(first)
        if self.config.health_check_interval > 0:
            self._schedule_check()

    def on_stop(self) -> None:
        if self.in_flight is not None:
            self.catalog.interrupt_run(self.in_flight.run_id, "interrupted: the service stopped during this refresh")
        self._cleanup()

    def on_failure(self, exception_type, exception_value, traceback) -> None:
        logger.error("bedrock region actor {} died: {}: {}", self.region, exception_type.__name__, exception_value)
        if self.in_flight is not None:
            interrupt(self.catalog, self.in_flight, "interrupted: the region actor crashed during this refresh")
            self.in_flight = None
        self._cleanup()
        if self.supervisor is not None:
            try:
                self.supervisor.child_failed(self.source, f"{exception_type.__name__}: {exception_value}")
            except pykka.ActorDeadError:
                pass

    def _cleanup(self) -> None:
        unbind_thread()
        for timer in (self._timer, self._check_timer):
            if timer is not None:
                timer.cancel()
        for worker in (self._io, self._calls):
            if worker is not None:
                worker.shutdown()  # a call in flight ends on its own timeout
        if self.in_flight is not None:
            self.in_flight.abandon("abandoned: the region actor stopped")

    def on_receive(self, message: Any) -> Any:
        # Anything but a proxy call is a bug in the sender; dying lets the supervisor restart us clean.
        raise TypeError(f"{self.source}: unexpected message {message!r}")

    # -- timer -----------------------------------------------------------------------------------
    def _schedule(self, delay: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._publish(next_refresh_at=time.time() + delay)
        self._timer = schedule(delay, self._proxy.tick, name=f"timer-{self.source}")

    def tick(self) -> None:
        """The timer fired: refresh; the next tick is scheduled when this refresh ends."""
        try:
            self.refresh(trigger="timer")
        except Exception:  # reached by tell: an escaped error would kill the actor
            logger.exception("{}: timer refresh failed to start", self.source)
            self._schedule(jittered(self.config.refresh_interval, self.config.jitter))

    # -- health checks between refreshes ---------------------------------------------------------
    def _schedule_check(self) -> None:
        if self._check_timer is not None:
            self._check_timer.cancel()
        self._check_timer = schedule(jittered(self.config.health_check_interval, self.config.jitter),
                                     self._proxy.check, name=f"timer-{self.source}-check")

    def check(self) -> None:
        """Health-check timer: one small call through the breaker (BedrockRegionClient.check), so a
        region that fails, or recovers, is seen between refreshes. Not while a refresh runs (it is
        a check too), nor before the first answer, nor for a region without Bedrock (rechecked by
        its own timer) or behind an open breaker (its trial refresh is scheduled)."""
        self._schedule_check()
        if (self.in_flight is not None or self.checking or self._io is None
                or self.status.status not in ("available", "failing")):
            return
        self.checking = True
        self._io.submit(self._run_check)

    def _run_check(self) -> None:
        """On the I/O thread: the check through the breaker; its outcome back to the actor thread."""
        ok, reason, unavailable = True, None, False
        started = time.monotonic()
        try:
            self.breaker.call(self._fetcher().check, time.monotonic() + self.config.refresh_timeout)
        except pybreaker.CircuitBreakerError:
            ok = False  # opened meanwhile: the region's status already says so
        except ProviderError as exc:
            ok, reason, unavailable = False, exc.reason, isinstance(exc, RegionUnavailable)
        except Exception as exc:  # a bug: a failed check, as a refresh would report it
            logger.opt(exception=exc).error("{}: unexpected error while checking", self.source)
            ok, reason = False, scrub(f"internal: {type(exc).__name__}: {exc}")
        try:
            self._proxy.check_finished(ok, reason, unavailable, (time.monotonic() - started) * 1000)
        except pykka.ActorDeadError:
            pass

    def check_finished(self, ok: bool, reason: str | None, unavailable: bool = False,
                       latency_ms: float | None = None) -> None:
        """Back on the actor thread. A failed check marks an available region failing (its breaker
        counted it, and opens at ``fail_max`` in a row); a passed one after failures refreshes the
        region at once, which makes it available again with its models as they are now. A check
        told that the region no longer offers Bedrock, or denies access, marks it unavailable as a
        refresh told so would (its models kept, asked again every ``unavailable_recheck_interval``)."""
        self.checking = False
        now = time.time()
        self.health.observe(ok, None if latency_ms is None else round(latency_ms, 1), "probe",
                            None if ok else ("unavailable" if unavailable else "circuit_open" if reason is None
                                             else "check"), None if ok else (reason or self._open_reason()), now)
        if unavailable and reason is not None:
            if self.in_flight is not None:  # a refresh began meanwhile: its answer decides
                self._publish(last_check_at=now)
                return
            self._publish(status="unavailable", reason=reason, last_error=reason, last_check_at=now)
            self._schedule(jittered(self.config.unavailable_recheck_interval, self.config.jitter))
            return
        if not ok and reason is not None and self.status.status in ("available", "failing"):
            self._publish(status="failing", reason=reason, last_error=reason, last_check_at=now)
            return
        self._publish(last_check_at=now)
        if ok and self.status.status == "failing" and self.in_flight is None:
            self.refresh(trigger="recovery")

    # -- refresh ---------------------------------------------------------------------------------
    def refresh(self, trigger: str = "manual") -> RefreshTicket:
        """Start a refresh, or join the one in flight; returns its ticket at once."""
        if self.in_flight is not None:
            return self.in_flight
        run_id = self.view.next_run_id()
        self.catalog.begin_run(run_id, self.source, trigger, time.time())
        ticket = RefreshTicket(run_id, self.source, trigger)
        self.in_flight = ticket
        self._publish(refreshing=True, refreshing_run=run_id)
        assert self._io is not None
        self._io.submit(self._run_refresh, ticket)
        return ticket

    def _fetcher(self) -> BedrockRegionClient:
        """This region's client (I/O thread only), made at its first use, not in on_start: a client
        takes a few ms, and no region should wait for the others' before it asks AWS."""
        if self.fetcher is None:
            self.fetcher = BedrockRegionClient(self.region, self.config, self._client, on_latency=self.latency.add)
        return self.fetcher

    def _fetch(self) -> tuple[Model, ...]:
        """On the I/O thread: both list calls at once, normalized to this region's models, all of it
        by one deadline (``refresh_timeout``)."""
        from discovery.bedrock import normalize_region

        deadline = time.monotonic() + self.config.refresh_timeout
        fetcher = self._fetcher()
        profiles: concurrent.futures.Future = concurrent.futures.Future()

        def list_profiles() -> None:
            try:
                profiles.set_result(fetcher.list_inference_profiles(deadline))
            except Exception as exc:  # handed to the waiting thread, raised there
                profiles.set_exception(exc)

        assert self._calls is not None
        job = self._calls.submit(list_profiles)
        # A stop drops what the profiles worker has not begun: this refresh then asks for them
        # itself (below), instead of waiting for an answer that will never come until the deadline.
        job.add_done_callback(lambda job: job.cancelled() and profiles.cancel())
        summaries = fetcher.list_foundation_models(deadline)
        # The profile pages end by the deadline too; past it this refresh is over, and whatever
        # they answer later goes to this future, which nothing reads again.
        try:
            found = profiles.result(timeout=max(0.0, deadline - time.monotonic()))
        except concurrent.futures.TimeoutError:
            raise fetcher.out_of_time("ListInferenceProfiles") from None
        except concurrent.futures.CancelledError:
            found = fetcher.list_inference_profiles(deadline)
        answer = (summaries, found)
        self.profile_count = sum(1 for p in found if isinstance(p, dict)
                                 and p.get("type", "SYSTEM_DEFINED") == "SYSTEM_DEFINED")
        if self._last_answer is None or self._last_answer[0] != answer:
            # Most refreshes answer what the last one did: the same records are reused as they are,
            # which spares normalizing them and lets the catalog see unchanged models at a glance.
            self._last_answer = (answer, tuple(normalize_region(self.region, summaries, found)))
        return self._last_answer[1]

    def _run_refresh(self, ticket: RefreshTicket) -> None:
        """On the I/O thread: the refresh, with its region's source and run id on every log line it makes."""
        with logger.contextualize(provider=self.source, run_id=ticket.run_id):
            self._fetch_and_commit(ticket)

    def _fetch_and_commit(self, ticket: RefreshTicket) -> None:
        """On the I/O thread: fetch through the breaker, hand the result to the catalog."""
        started = time.monotonic()
        outcome: RefreshOutcome | None = None
        failure: RefreshFailure | None = None
        unavailable = False
        count: int | None = None
        ticket.underway.set()
        try:
            try:
                models = self.breaker.call(self._fetch)
            except pybreaker.CircuitBreakerError:
                failure = RefreshFailure(self.source, ticket.run_id, self._open_reason(), "circuit_open")
            except ProviderError as exc:
                unavailable = isinstance(exc, RegionUnavailable)
                failure = RefreshFailure(self.source, ticket.run_id, exc.reason, exc.kind)
            except Exception as exc:  # a bug: report it like a failed refresh
                logger.opt(exception=exc).error("{}: unexpected error while fetching", self.source)
                failure = RefreshFailure(self.source, ticket.run_id, f"internal: {type(exc).__name__}: {exc}")
            else:
                count = len(models)
                snapshot = ProviderSnapshot(
                    source=self.source, run_id=ticket.run_id, models=models, fetched_at=time.time(),
                    duration=time.monotonic() - started, max_removal_ratio=self.config.max_removal_ratio,
                    fetch_ms=(time.monotonic() - started) * 1000, received_at=time.time())
                outcome = submit_and_wait(self.catalog, snapshot)
            if failure is not None:
                log = logger.info if unavailable else logger.warning
                log("refresh {} of {} failed: {}", ticket.run_id, self.source, failure.reason)
                outcome = fail_and_wait(self.catalog, failure)
        except Exception as exc:  # the ticket must always resolve
            logger.opt(exception=exc).error("{}: refresh {} could not be completed", self.source, ticket.run_id)
            outcome = RefreshOutcome(ticket.run_id, self.source, "failed", error=f"internal: {exc}")
        finally:
            if outcome is None:
                outcome = RefreshOutcome(ticket.run_id, self.source, "failed", error="abandoned")
            ticket.underway.set()
            self.view.telemetry.refresh_finished(self.source, outcome.outcome, time.monotonic() - started)
            try:
                # The ticket resolves there, after the status is published: a waiter reads it fresh.
                self._proxy.refresh_finished(ticket, outcome, unavailable, count,
                                             failure.kind if failure is not None else None,
                                             (time.monotonic() - started) * 1000)
            except pykka.ActorDeadError:
                resolve(ticket.future, outcome)  # the catalog may end it at this very moment (interrupt_run)

    def _open_reason(self) -> str:
        return open_reason(self.breaker, self.breaker_state_storage)

    def refresh_finished(self, ticket: RefreshTicket, outcome: RefreshOutcome, unavailable: bool = False,
                         model_count: int | None = None, kind: str | None = None,
                         latency_ms: float | None = None) -> None:
        """Back on the actor thread: record the outcome and schedule the next refresh."""
        if self.in_flight is ticket:
            self.in_flight = None
        now = time.time()
        succeeded = outcome.outcome == "succeeded"
        self.health.observe(succeeded, None if latency_ms is None else round(latency_ms, 1), "refresh",
                            None if succeeded else kind or ("unavailable" if unavailable else "refused"),
                            None if succeeded else outcome.error, now)
        changes: dict[str, Any] = {"refreshing": False, "refreshing_run": None, "last_refresh_at": now,
                                   "last_outcome": outcome.to_dict()}
        if outcome.outcome == "succeeded":
            changes["consecutive_failures"] = 0
            changes.update(status="available", reason=None, last_success_at=now,
                           model_count=model_count if model_count is not None else outcome.total,
                           profile_count=self.profile_count)
        else:
            changes["consecutive_failures"] = self.status.consecutive_failures + 1
            changes.update(last_error=outcome.error, reason=outcome.error,
                           status="unavailable" if unavailable else
                           "circuit_open" if self.status.breaker_state == "open" else "failing")
        self._publish(**changes)
        if unavailable:
            # Not offered or no access: that will not change by the next tick, so ask much less often.
            self._schedule(jittered(self.config.unavailable_recheck_interval, self.config.jitter))
        elif not self._retry_when_half_open():
            self._schedule(jittered(self.config.refresh_interval, self.config.jitter))
        if not ticket.future.done():
            ticket.future.set_result(outcome)

    def _retry_when_half_open(self) -> bool:
        """With the breaker open, schedule the next refresh for when it lets a call through (its
        trial call), not a whole refresh interval later; False if it is not open."""
        delay = half_open_delay(self.breaker, self.breaker_state_storage)
        if delay is None:
            return False
        self._schedule(delay)
        return True

    def health_record(self, history: int = 50) -> dict[str, Any]:
        """The region's health record in a provider's shape: its status and reason in the
        providers' words (as ``GET /api/v1/providers`` shows them), with every refresh and check
        within the window (error rate, uptime, the consecutive counts, the newest ``history``)."""
        record = self.health.to_dict(history)
        record.update(status=REGION_HEALTH.get(self.status.status, self.status.status), reason=self.status.reason)
        return {"name": self.source, "breaker": self.status.breaker_state, **record}

    def probe_gate(self) -> ProbeGate:
        """What this region's benchmark actor needs to respect its breaker (Bedrock has no token bucket here)."""
        return ProbeGate(self.source, self.breaker, None, self._proxy)

    def count_probe(self, error: BaseException | None) -> None:
        """A benchmark request in this region ended; counted on the I/O thread. Reached by tell.

        A request refused as malformed (4xx but 429) says nothing about the region, and this
        breaker has no exclusion list: it is not counted.
        """
        if self._io is not None and not (error is not None and is_configuration_error(error)):
            self._io.submit(count_in_breaker, self.breaker, error)

    def breaker_changed(self, new: str) -> None:
        """Keep the breaker state for status; an open breaker is this region's alone."""
        logger.info("{}: circuit breaker → {}", self.source, new)
        changes: dict[str, Any] = {"breaker_state": new}
        if new == "open" and self.status.status in ("failing", "available", "starting"):
            changes["status"] = "circuit_open"
        self._publish(**changes)
        if new == "open" and self.in_flight is None and self.status.status != "unavailable":
            # Opened by benchmark requests, between refreshes (a refresh's end schedules its own).
            self._retry_when_half_open()

    def _publish(self, **changes: Any) -> None:
        before = self.status.status
        self.status = replace(self.status, latency=self.latency.value, latency_samples=self.latency.samples,
                              fail_counter=self.breaker.fail_counter,
                              breaker_next_try_at=next_try_at(self.breaker, self.breaker_state_storage), **changes)
        self.board.publish(self.status)
        if self.status.status != before:
            self._health_changed(before)

    def _health_changed(self, before: str) -> None:
        """The region's health moved (as ``GET /api/v1/providers`` shows it): stored and announced
        as a ``status_changed`` event, as a provider's is. The writer compares against the stored
        status, which is the event's ``old``: a restart's first answer announces nothing when the
        region is as it was, and a move between two states shown alike (circuit open, not offered:
        both ``unavailable``) announces nothing either."""
        new = REGION_HEALTH.get(self.status.status, self.status.status)
        if new == REGION_HEALTH.get(before, before) or new == REGION_HEALTH["starting"]:
            return
        # An open breaker says so, and until when, as a provider's does (its row keeps the last error).
        reason = self._open_reason() if self.status.status == "circuit_open" else self.status.reason
        if before == "starting" and (self.view.provider_rows.get(self.source) or {}).get("status") == new:
            # The first check since the start found what was stored: no change, none stored.
            logger.info("{}: status {} ({}), as stored before this start", self.source, self.status.status,
                        reason or "ok")
        else:
            logger.info("{}: status {} → {} ({})", self.source, before, self.status.status, reason or "ok")
        try:
            self.catalog.set_provider_status(self.source, new, reason)
        except pykka.ActorDeadError:
            pass  # the writer stopped: the next start compares again

    def region_status(self) -> RegionStatus:
        """This region's status, with the newest latency average."""
        self._publish()
        return self.status


def bedrock_children(service: Any, settings: Settings) -> list[tuple[str, Callable[[Any], pykka.ActorRef]]]:
    """A (name, factory) per configured region for the supervisor, if Bedrock is on.

    Each region's actor makes its boto3 client on its own I/O thread at its first refresh, so
    no region waits for the others' clients before it asks AWS.
    """
    if not settings.bedrock.enabled:
        return []
    board = service.bedrock_board = RegionBoard()
    out = []
    for region in settings.bedrock.regions:
        board.publish(RegionStatus(region))
        out.append((source_name(region), _region_factory(service, settings, region)))
    return out


def _region_factory(service: Any, settings: Settings, region: str) -> Callable[[Any], pykka.ActorRef]:
    def factory(sup: Any) -> pykka.ActorRef:
        return BedrockRegionActor.start(region, settings, service.catalog, service.view, service.bedrock_board, sup)
    return factory


def discover_bedrock_regions(service: Any, settings: Settings) -> None:
    """With ``discover_regions``, add the regions EC2 reports enabled, from a background thread."""
    if not settings.bedrock.enabled:
        return
    board = service.bedrock_board

    def start(region: str) -> None:
        board.publish(RegionStatus(region))
        factory = service.owned(_region_factory(service, settings, region))
        service.supervisor.start_child(source_name(region), factory).get(timeout=settings.ask_timeout)

    if settings.bedrock.discover_regions:
        def discover() -> None:
            try:
                found = describe_regions(settings.bedrock)
            except ProviderError as exc:
                logger.warning("bedrock: EC2 DescribeRegions failed, keeping the configured regions: {}", exc.reason)
                return
            for region in found:
                if region not in board.snapshot() and not service._stopped.is_set():
                    try:
                        start(region)
                    except (pykka.ActorDeadError, pykka.Timeout):
                        return  # stopping
            logger.info("bedrock: {} regions watched (EC2 DescribeRegions)", len(board.snapshot()))
            # A region stored from an earlier start that is watched no more: its models leave.
            try:
                service.catalog.retire_unconfigured.defer(sorted(board.snapshot()))
            except pykka.ActorDeadError:
                return  # stopping

        service.bedrock_discovery = threading.Thread(target=discover, name="bedrock-describe-regions", daemon=True)
        service.bedrock_discovery.start()


# A region's status in the words every other provider's status uses (GET /api/v1/providers, /metrics).
REGION_HEALTH = {"starting": "unknown", "available": "healthy", "failing": "unhealthy", "circuit_open": "unavailable",
                 "unavailable": "unavailable"}


# A follower's copy of the leader's region health, by service: (when asked, statuses or None).
_RELAYED: WeakKeyDictionary = WeakKeyDictionary()
_RELAYED_LOCK = threading.Lock()
_ASKING_LOCK = threading.Lock()  # held by the one caller asking the leader


class BedrockQueries:
    """The service's Bedrock questions; mixed into Service, which provides index, supervisor and settings."""

    bedrock_board: RegionBoard | None = None

    def bedrock_sources(self) -> list[str]:
        """``bedrock@<region>`` of every watched region, sorted (empty with Bedrock off)."""
        board = self.bedrock_board
        return [source_name(r) for r in sorted(board.snapshot())] if board is not None else []

    def bedrock_provider_rows(self, actor_states: dict[str, dict[str, Any]] | None = None) -> list[dict[str, Any]]:
        """Each watched region as a provider of its own, as ``GET /api/v1/providers`` lists them (no actor is asked)."""
        board = self.bedrock_board
        if board is None:
            return []
        config = self.settings.bedrock  # type: ignore[attr-defined]
        out = []
        for region, st in sorted(board.snapshot().items()):
            name = source_name(region)
            sup = (actor_states or {}).get(name, {})
            down = sup.get("state") in ("failed", "restarting")
            status = sup["state"] if down else REGION_HEALTH.get(st.status, st.status)
            row = {
                "name": name, "format": "bedrock", "is_catalog": False, "region": region, "status": status,
                "status_reason": st.reason, "region_status": st.status,
                "breaker": {"state": st.breaker_state, "fail_counter": st.fail_counter, "fail_max": config.fail_max,
                            "reset_timeout": config.reset_timeout, "next_try_at": st.breaker_next_try_at},
                "consecutive_failures": st.consecutive_failures, "refreshing": st.refreshing_run,
                "last_outcome": st.last_outcome,
                "refresh_interval": config.refresh_interval, "next_refresh_at": st.next_refresh_at, "actor": sup,
                "given_up": sup.get("state") == "failed" or bool(st.given_up),
                "last_refresh_at": st.last_refresh_at, "last_success_at": st.last_success_at,
                "last_error": st.last_error, "reported_models": st.model_count, "model_count": st.model_count or 0,
            }
            if down:  # the breaker went with the actor, as a provider's row shows none then
                del row["breaker"]
            out.append(row)
        return out

    def region_given_up(self, source: str, error: str) -> None:
        """The supervisor stopped restarting a region's actor: the region is unavailable from now
        on (its breaker and run went with the actor). Does nothing for another source."""
        board = self.bedrock_board
        region = region_of(source)
        known = board.get(region) if board is not None and region else None
        if known is None:
            return
        board.publish(replace(known, status="unavailable", reason=scrub(f"given up: its actor kept crashing ({error})"),
                              given_up=True, refreshing=False, refreshing_run=None, breaker_state=None,
                              fail_counter=0, breaker_next_try_at=None,
                              next_refresh_at=None))

    def bedrock_regions(self) -> list[dict[str, Any]]:
        """Every watched region: status, latency EWMA, model count, last error (no actor is asked)."""
        board = self.bedrock_board
        statuses = board.snapshot() if board is not None else {}
        return [statuses[r].to_dict() for r in sorted(statuses)]

    def bedrock_model(self, model_id: str) -> Model:
        """The catalog entry of a Bedrock model: ``bedrock/<modelId>``, a bare model id or a profile id.

        Raises :class:`discovery.bedrock.UnknownBedrockModel` when there is none.
        """
        index = self.index  # type: ignore[attr-defined]
        return resolve_model((e.model() for e in index.of_provider(PROVIDER)), index.get, model_id)

    def model_regions(self, model_id: str, statuses: dict[str, RegionStatus] | None = None) -> list[dict[str, Any]]:
        """The regions a Bedrock model is available in, each with its access, profiles and region health.

        ``model_id`` is ``bedrock/<modelId>``, a bare model id or an inference profile id.
        Raises :class:`discovery.bedrock.UnknownBedrockModel` for an unknown model.
        """
        model = self.bedrock_model(model_id)
        return model_region_rows(model, (self.region_statuses() if statuses is None else statuses) or {})

    def best_regions_for_model(self, model_id: str, preferred: Iterable[str] = (),
                               statuses: dict[str, RegionStatus] | None = None) -> list[str]:
        """The model's regions, best first: ``preferred`` ones in the given order, then by the model's
        measured TTFT where it was benchmarked, then by control-plane latency.

        Raises :class:`discovery.bedrock.UnknownBedrockModel` for an unknown model.
        """
        model = self.bedrock_model(model_id)
        measured = self.view.performance.region_ttft(model.id)  # type: ignore[attr-defined]
        return rank_regions(model.regions or (), tuple(preferred),
                            (self.region_statuses() if statuses is None else statuses) or {}, measured)

    def region_statuses(self) -> dict[str, RegionStatus] | None:
        """Every watched region's status: the board's; on a follower (which has none, and ranked
        an access-denied region first, as if healthy) the leader's, asked through the database
        at most once in twice ``ask_timeout`` and kept meanwhile, answered or not; None when the
        leader did not answer (a follower's answers then say the regions' health is unknown)."""
        board = self.bedrock_board
        if board is not None:
            return dict(board.snapshot())
        settings = self.settings  # type: ignore[attr-defined]
        if getattr(self, "role", None) != "follower" or not settings.bedrock.enabled:
            return {}
        from actors.replica import LeaderTimeout

        def fresh() -> tuple | None:
            with _RELAYED_LOCK:
                asked = _RELAYED.get(self)
            return asked if asked is not None and time.monotonic() - asked[0] <= 2 * settings.ask_timeout else None

        asked = fresh()
        if asked is None:
            # One caller asks; the others wait for its answer rather than each asking (and each
            # waiting on a stalled leader) at once.
            with _ASKING_LOCK:
                asked = fresh()
                if asked is None:
                    try:
                        found: dict[str, RegionStatus] | None = {
                            row["region"]: RegionStatus.from_dict(row) for row in self.bedrock_regions()}
                    except LeaderTimeout:
                        found = None
                    asked = (time.monotonic(), found)
                    with _RELAYED_LOCK:
                        _RELAYED[self] = asked
        return asked[1]

    def is_model_available_in_region(self, model_id: str, region: str) -> bool:
        """Whether the catalog lists the Bedrock model in ``region`` (False for an unknown model)."""
        try:
            return region in (self.bedrock_model(model_id).regions or ())
        except KeyError:
            return False

    def refresh_bedrock(self, regions: Iterable[str] | None = None, trigger: str = "manual") -> list[RefreshTicket]:
        """Start (or join) a refresh of some or all watched regions; returns their tickets."""
        board = self.bedrock_board
        wanted = list(regions) if regions is not None else sorted(board.snapshot() if board else {})
        # Slowest first, every ask sent before any is awaited (Service.ask_refreshes).
        asks = self.ask_refreshes([source_name(r) for r in wanted], trigger)  # type: ignore[attr-defined]
        started = [ask for _, ask in asks if ask is not None]
        return list(pykka.get_all(started, timeout=self.settings.ask_timeout))  # type: ignore[attr-defined]
