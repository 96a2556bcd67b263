"""ProviderActor: one per configured source, with its own breaker, timers, session and budget."""
from __future__ import annotations

import collections
import concurrent.futures
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timezone
from typing import Any, Optional

import pybreaker
import pykka
import requests
from loguru import logger

from actors.calls import Calls, resolve
from actors.io import IOWorker
from actors.scheduling import Timer, jittered, schedule
from discovery.health import UNAVAILABLE, UNKNOWN, HealthRecord
from discovery.log_context import bind_thread, unbind_thread
from discovery.messages import STORE_FAILURE, ProviderSnapshot, RefreshFailure, RefreshOutcome
from discovery.providers import ProviderAuthError, ProviderClient, ProviderError, ProviderHTTPError, client_for
from discovery.providers.errors import ProviderRateLimited
from discovery.ratelimit import TokenBucket
from discovery.redaction import scrub
from discovery.settings import ProviderConfig, Settings
from discovery.timestamps import iso


@dataclass
class RefreshTicket:
    """A refresh in flight: its run id and a future that resolves to its RefreshOutcome.

    ``underway`` is set once the refresh's I/O thread has begun its fetch (or the refresh ended
    without one): a caller starting many refreshes waits on it to start them in the order it chose.
    ``queued`` marks a follow-up, which begins when the refresh in flight ends: nobody waits for it.
    """

    run_id: int
    provider: str
    trigger: str
    future: concurrent.futures.Future = field(default_factory=concurrent.futures.Future)
    underway: threading.Event = field(default_factory=threading.Event, compare=False, repr=False)
    queued: bool = field(default=False, compare=False)

    def abandon(self, error: str) -> None:
        """End a refresh its actor will not run (the actor stopped): underway, and interrupted
        with ``error`` unless it already resolved, as its run is recorded (it said "failed")."""
        self.underway.set()
        resolve(self.future, RefreshOutcome(self.run_id, self.provider, "interrupted", error=error))


def interrupt(catalog: Any, ticket: RefreshTicket, reason: str) -> None:
    """End the refresh of an actor that crashed: the catalog records its run interrupted, resolves
    the ticket so unless the answer was committed already (the ticket then gets that outcome from
    the fetch), and writes nothing of an answer that comes later."""
    ticket.underway.set()
    try:
        catalog.interrupt_run.defer(ticket.run_id, reason, ticket.provider, ticket.future)
    except pykka.ActorDeadError:
        ticket.abandon(reason)


class RefreshRateLimited(Exception):
    """Too many manual refreshes of one provider within a minute, or the provider asked to be left
    alone for a while (a 429 or 503 with a wait longer than the refresh could wait out)."""

    def __init__(self, provider: str, retry_after: float, message: Optional[str] = None):
        super().__init__(message or f"too many manual refreshes of {provider}; try again in {retry_after:.0f}s")
        self.provider = provider
        self.retry_after = retry_after


# How long a first refresh waits for the catalog to load the last accepted answers at start-up.
MEMO_WAIT = 30.0
# How long a refresh waits for the writer to commit its snapshot before it is reported failed.
COMMIT_WAIT = 600.0
# The longest a provider's Retry-After puts off the next timer refresh (a day's wait, or a
# broken header's year 9999, must not stop a source's refreshes for good).
MAX_PAUSE = 6 * 3600.0
# How long after its reset timeout an open breaker's source is tried: pybreaker compares times
# strictly, so a tick exactly at the reset timeout could still be refused.
HALF_OPEN_MARGIN = 0.05


def submit_and_wait(catalog: Any, snapshot: ProviderSnapshot) -> RefreshOutcome:
    """Hand a snapshot to the catalog writer by tell and wait on our own future for the outcome.

    No ask: a writer busy with a large commit never makes the producer time out; the wait is
    bounded only by ``COMMIT_WAIT`` (a stuck writer) and by the writer dying (it fails the future).
    """
    future: concurrent.futures.Future = concurrent.futures.Future()
    try:
        catalog.submit_snapshot.defer(snapshot, future)
    except pykka.ActorDeadError:
        return _writer_gone(snapshot.run_id, snapshot.source)
    try:
        return future.result(timeout=COMMIT_WAIT)
    except concurrent.futures.TimeoutError:
        return RefreshOutcome(snapshot.run_id, snapshot.source, "failed",
                              error=f"internal: the catalog did not commit within {COMMIT_WAIT:g}s")


def fail_and_wait(catalog: Any, failure: RefreshFailure) -> RefreshOutcome:
    """Hand a failed refresh to the catalog writer by tell and wait on our own future (as
    :func:`submit_and_wait`)."""
    future: concurrent.futures.Future = concurrent.futures.Future()
    try:
        catalog.record_failure.defer(failure, future)
    except pykka.ActorDeadError:
        return _writer_gone(failure.run_id, failure.source)
    try:
        return future.result(timeout=COMMIT_WAIT)
    except concurrent.futures.TimeoutError:
        return RefreshOutcome(failure.run_id, failure.source, "failed", error=failure.reason)


def _writer_gone(run_id: int, source: str) -> RefreshOutcome:
    """The outcome of an answer that came back after the catalog writer stopped (the service is
    stopping): nothing of it is written, and its run was already marked interrupted at stop."""
    logger.info("refresh {} of {}: the answer came after the catalog writer stopped; nothing written", run_id, source)
    return RefreshOutcome(run_id, source, "interrupted", error="abandoned: the service stopped during this refresh")


def is_configuration_error(exc: BaseException) -> bool:
    """4xx other than 429 say the request is wrong (key, URL, version), not that the provider is
    down; so does a key that is not set (refused before any request: it opened the breaker, and
    the status went back and forth between misconfigured and unavailable)."""
    if isinstance(exc, ProviderAuthError):
        return True
    return isinstance(exc, ProviderHTTPError) and exc.status is not None and 400 <= exc.status < 500 \
        and exc.status != 429


@dataclass(frozen=True)
class ProbeGate:
    """How a benchmark actor respects a source actor's breaker and token bucket (runner.Gate).

    The breaker is only ever *called* on its owner's I/O thread (pybreaker holds its lock for the
    whole call, so a probe inside it would make refreshes wait). A benchmark reads the breaker's
    state (a plain attribute read) and sends nothing unless it is closed; it hands each outcome to
    the owner by tell, and the owner counts it on its I/O thread, in order with its own calls.
    The token bucket is thread-safe and shared as it is.
    """

    name: str
    breaker: pybreaker.CircuitBreaker
    rate_limiter: Optional[TokenBucket]
    owner: Any

    def closed_reason(self) -> Optional[str]:
        state = self.breaker.current_state
        if state == "closed":
            return None
        return f"circuit {state}: {self.name} is failing; benchmarks wait until its breaker closes again"

    def wait_turn(self, timeout: float) -> bool:
        return self.rate_limiter is None or self.rate_limiter.acquire(timeout)

    def record(self, error: Optional[BaseException]) -> None:
        try:
            self.owner.count_probe(error)
        except pykka.ActorDeadError:
            pass


def breaker_storage() -> pybreaker.CircuitMemoryStorage:
    """A breaker's state kept where its owner can read when it opened (pybreaker's ``opened_at``)."""
    return pybreaker.CircuitMemoryStorage(pybreaker.STATE_CLOSED)


def next_try_at(breaker: pybreaker.CircuitBreaker, storage: pybreaker.CircuitMemoryStorage) -> Optional[float]:
    """When an open breaker lets its next call through (epoch seconds): when it opened plus its
    ``reset_timeout``; None while it is not open."""
    opened = storage.opened_at
    if breaker.current_state != "open" or opened is None:
        return None
    if opened.tzinfo is None:  # pybreaker before 1.3 keeps datetime.utcnow(): UTC, not local time
        opened = opened.replace(tzinfo=timezone.utc)
    return opened.timestamp() + breaker.reset_timeout


def half_open_delay(breaker: pybreaker.CircuitBreaker, storage: pybreaker.CircuitMemoryStorage) -> Optional[float]:
    """Seconds from now until an open breaker lets a call through, with HALF_OPEN_MARGIN; None
    while it is not open. What a source's next timer refresh waits for at least."""
    at = next_try_at(breaker, storage)
    return None if at is None else max(0.0, at - time.time()) + HALF_OPEN_MARGIN


def open_reason(breaker: pybreaker.CircuitBreaker, storage: pybreaker.CircuitMemoryStorage) -> str:
    """Why calls are skipped, and until when (ISO 8601, UTC)."""
    at = next_try_at(breaker, storage)
    until = f"next try at {iso(at)}" if at is not None else f"next try after {breaker.reset_timeout:g}s"
    return f"circuit open: skipped after {breaker.fail_max} consecutive failures; {until}"


def _replay(error: Optional[BaseException]) -> None:
    if error is not None:
        raise error


def count_in_breaker(breaker: pybreaker.CircuitBreaker, error: Optional[BaseException]) -> None:
    """Count a benchmark request's outcome as if the breaker had made it (call on its owner's I/O thread).

    Only while the breaker is closed: a probe's outcome must not stand in for the trial call of a
    half-open breaker, nor reset an open one.
    """
    if breaker.current_state != "closed":
        return
    try:
        breaker.call(_replay, error)
    except Exception:  # the failure itself, or the breaker opening on it: both already counted
        pass


class _BreakerListener(pybreaker.CircuitBreakerListener):
    """Tells the actor when its breaker changes state (called on the I/O thread)."""

    def __init__(self, proxy: Any):
        self._proxy = proxy

    def state_change(self, cb, old_state, new_state) -> None:
        try:
            self._proxy.breaker_changed(old_state.name if old_state else None, new_state.name)
        except pykka.ActorDeadError:
            pass


class ProviderActor(pykka.ThreadingActor):
    """Refreshes one source on a timer and on request, and probes its health.

    Network calls run on the actor's single I/O thread, so the actor itself stays free to
    answer status questions and to coalesce refresh requests into the one in flight. The
    breaker is only ever used from that one I/O thread.
    """

    def __init__(self, config: ProviderConfig, settings: Settings, catalog: Any, view: Any,
                 supervisor: Any = None, client: Optional[ProviderClient] = None):
        super().__init__()
        self.config = config
        self.settings = settings
        self.catalog = catalog
        self.view = view
        self.supervisor = supervisor
        self._client = client
        self.in_flight: Optional[RefreshTicket] = None
        # A manual refresh asked for while one was in flight: it starts when that one ends.
        self.follow_up: Optional[RefreshTicket] = None
        self.probing = False
        self.last_outcome: Optional[RefreshOutcome] = None
        self.consecutive_failures = 0
        self.next_refresh_at: Optional[float] = None
        self.breaker_state = "closed"
        self.health = HealthRecord(config.failure_threshold, config.recovery_threshold, config.health_window)
        self.manual_refreshes: collections.deque[float] = collections.deque()
        # Until when (epoch seconds) the provider asked not to be called (Retry-After, the reset
        # of an exhausted rate limit): no probe, trial call or manual refresh before it.
        self.asked_until: Optional[float] = None
        self.asked_by: Optional[str] = None  # the answer that asked it
        self._timers: dict[str, Timer] = {}
        self._io: Optional[IOWorker] = None
        self.session: Optional[requests.Session] = None

    # -- life cycle ------------------------------------------------------------------------------
    def on_start(self) -> None:
        # Every log line of this actor's thread names its provider (the context lives as long as the thread).
        bind_thread(provider=self.config.name)
        self._proxy = Calls(self.actor_ref)
        self.session = requests.Session()
        self.client = self._client or client_for(self.config, session=self.session)
        self.client.rate_limiter = TokenBucket(self.config.rate_limit_rps, self.config.rate_limit_burst)
        self.breaker_state_storage = breaker_storage()
        self.breaker = pybreaker.CircuitBreaker(
            fail_max=self.config.fail_max, reset_timeout=self.config.reset_timeout,
            name=self.config.name, throw_new_error_on_trip=False, state_storage=self.breaker_state_storage,
            exclude=[is_configuration_error], listeners=[_BreakerListener(self._proxy)])
        self._io = IOWorker(f"io-{self.config.name}")
        first = 0.0 if self.settings.refresh_on_start else jittered(self.config.refresh_interval, self.config.jitter)
        stored = self.view.provider_rows.get(self.config.name) or {}
        until = stored.get("asked_until")
        if until is not None and until > time.time():
            # Asked before this actor started (by the process before, or before a crash): kept to.
            # The first refresh still runs when due, and fails without calling ("not asked"), so
            # the start is attempted and ready; the next one is moved to the wait's end
            # (refresh_finished). Putting the first one off kept /readyz a 503 for the whole wait.
            self.asked_until, self.asked_by = until, stored.get("asked_by")
            logger.info("{}: asked not to be called before {} ({}); not called until then",
                        self.config.name, iso(until), self.asked_by or "rate limited")
        self._schedule_refresh(first)
        if self.config.health_check_interval > 0:
            self._later("probe", jittered(self.config.health_check_interval, self.config.jitter), self._proxy.probe)

    def on_stop(self) -> None:
        for ticket in (self.in_flight, self.follow_up):
            if ticket is not None:
                # Stopping mid-refresh: the run is abandoned (nothing of it was written) and says so now.
                self.catalog.interrupt_run(ticket.run_id, "interrupted: the service stopped during this refresh")
        self._cleanup()

    def on_failure(self, exception_type, exception_value, traceback) -> None:
        logger.error("provider actor {} died: {}: {}", self.config.name, exception_type.__name__, exception_value)
        for ticket in (self.in_flight, self.follow_up):
            if ticket is not None:
                interrupt(self.catalog, ticket, "interrupted: the provider actor crashed during this refresh")
        self.in_flight = self.follow_up = None
        self._cleanup()
        if self.supervisor is not None:
            try:
                self.supervisor.child_failed(self.config.name, f"{exception_type.__name__}: {exception_value}")
            except pykka.ActorDeadError:
                pass

    def _cleanup(self) -> None:
        unbind_thread()
        for timer in self._timers.values():
            timer.cancel()
        if self._io is not None:
            # Do not wait for an in-flight HTTP call; it is bounded by its timeout.
            self._io.shutdown()
        for ticket in (self.in_flight, self.follow_up):
            if ticket is not None:
                ticket.abandon("abandoned: the provider actor stopped")
        if self.session is not None:
            self.session.close()

    def on_receive(self, message: Any) -> Any:
        # Anything but a proxy call is a bug in the sender; dying lets the supervisor restart us clean.
        raise TypeError(f"{self.config.name}: unexpected message {message!r}")

    # -- timers ----------------------------------------------------------------------------------
    def _later(self, name: str, delay: float, action: Callable[[], object]) -> None:
        old = self._timers.pop(name, None)
        if old is not None:
            old.cancel()
        self._timers[name] = schedule(delay, action, name=f"timer-{self.config.name}-{name}")

    def _schedule_refresh(self, delay: float) -> None:
        self.next_refresh_at = time.time() + delay
        self._later("refresh", delay, self._proxy.tick)

    def tick(self) -> None:
        """The refresh timer fired: refresh, then schedule the next tick."""
        try:
            self.refresh(trigger="timer")
        except Exception:
            logger.exception("{}: timer refresh failed to start", self.config.name)
        self._schedule_refresh(jittered(self.config.refresh_interval, self.config.jitter))

    # -- refresh ---------------------------------------------------------------------------------
    def refresh(self, trigger: str = "manual") -> RefreshTicket:
        """Start a refresh; returns its ticket at once.

        A timer or recovery refresh joins the one in flight. A manual one never reports a fetch
        that began before it was asked for: with one in flight it gets the follow-up refresh that
        starts when that one ends (one follow-up, shared by every request made meanwhile). Raises
        RefreshRateLimited when manual refreshes exceed ``manual_refresh_per_minute``.
        """
        if self.in_flight is not None and trigger != "manual":
            return self.in_flight
        if self.follow_up is not None:
            return self.follow_up
        if trigger == "manual":
            wait = self._asked_wait()
            if wait:
                raise RefreshRateLimited(self.config.name, wait, (
                    f"{self.config.name} asked not to be called before {iso(self.asked_until)} ("
                    f"{self.asked_by or 'rate limited'}); try again in {wait:.0f}s"))
            now = time.monotonic()
            while self.manual_refreshes and now - self.manual_refreshes[0] > 60:
                self.manual_refreshes.popleft()
            if len(self.manual_refreshes) >= self.config.manual_refresh_per_minute:
                raise RefreshRateLimited(self.config.name, 60 - (now - self.manual_refreshes[0]))
            self.manual_refreshes.append(now)
        ticket = self._new_ticket(trigger)
        if self.in_flight is not None:
            ticket.queued = True
            self.follow_up = ticket
            return ticket
        self._start(ticket)
        return ticket

    def _new_ticket(self, trigger: str) -> RefreshTicket:
        # The id comes from the view and the row is written by a tell: never wait on the writer here.
        run_id = self.view.next_run_id()
        self.catalog.begin_run(run_id, self.config.name, trigger, time.time())
        return RefreshTicket(run_id, self.config.name, trigger)

    def _start(self, ticket: RefreshTicket) -> None:
        self.in_flight = ticket
        assert self._io is not None
        self._io.submit(self._run_refresh, ticket)

    def _run_refresh(self, ticket: RefreshTicket) -> None:
        """On the I/O thread: the refresh, with its provider and run id on every log line it makes."""
        with logger.contextualize(provider=self.config.name, run_id=ticket.run_id):
            self._fetch_and_commit(ticket)

    def _fetch_and_commit(self, ticket: RefreshTicket) -> None:
        """On the I/O thread: fetch through the breaker, hand the result to the catalog."""
        # The last accepted answer: an equal body, or equal items, cost no normalizing. Right after
        # a start the catalog may still be loading them: wait here, before the request is made.
        memo = self.view.memo(self.config.name, wait=MEMO_WAIT)
        started = time.monotonic()
        outcome: Optional[RefreshOutcome] = None
        failure: Optional[RefreshFailure] = None
        pause: Optional[float] = None  # a Retry-After the refresh's own retries could not wait out
        ticket.underway.set()
        asked_until = self.asked_until  # set on the actor's thread; a float read whole
        try:
            try:
                if asked_until is not None and asked_until > time.time():
                    # Every refresh (a timer's, a queued manual one, a recovery) waits for the end of
                    # what the provider asked; it is not called before. No status: this is no new
                    # answer asking a wait (that one's wait and words stand as they were).
                    raise ProviderRateLimited(
                        f"{self.config.name} asked not to be called before {iso(asked_until)} "
                        f"({self.asked_by or 'rate limited'}); not asked")
                fetched = self.breaker.call(self.client.fetch, memo)
            except pybreaker.CircuitBreakerError:
                failure = RefreshFailure(self.config.name, ticket.run_id, self._open_reason(), "circuit_open")
            except ProviderError as exc:
                failure = RefreshFailure(self.config.name, ticket.run_id, exc.reason, exc.kind)
                if exc.status in (429, 503) and exc.retry_after:
                    pause = exc.retry_after
            except Exception as exc:  # a bug in a format: report it like a failed refresh
                logger.opt(exception=exc).error("{}: unexpected error while fetching", self.config.name)
                failure = RefreshFailure(self.config.name, ticket.run_id,
                                         scrub(f"internal: {type(exc).__name__}: {exc}"))
            else:
                self.view.fetch_seconds[self.config.name] = time.monotonic() - started
                snapshot = ProviderSnapshot(
                    source=self.config.name, run_id=ticket.run_id, models=fetched.models,
                    is_catalog=self.client.is_catalog, fetched_at=time.time(),
                    duration=time.monotonic() - started, allow_empty=self.config.allow_empty,
                    max_removal_ratio=self.config.max_removal_ratio, unchanged=fetched.unchanged,
                    body_hash=fetched.body_hash, fingerprints=fetched.fingerprints,
                    fetch_ms=fetched.fetch_ms, received_at=fetched.received_at)
                outcome = submit_and_wait(self.catalog, snapshot)
            if failure is not None:
                logger.warning("refresh {} of {} failed: {}", ticket.run_id, self.config.name, failure.reason)
                outcome = fail_and_wait(self.catalog, failure)
        except Exception as exc:
            logger.opt(exception=exc).error("{}: refresh {} could not be completed", self.config.name, ticket.run_id)
            outcome = RefreshOutcome(ticket.run_id, self.config.name, "failed", error=scrub(f"internal: {exc}"))
        finally:
            if outcome is None:
                outcome = RefreshOutcome(ticket.run_id, self.config.name, "failed", error="abandoned")
            ticket.underway.set()
            resolve(ticket.future, outcome)  # the catalog may end it at this very moment (interrupt_run)
            latency = (time.monotonic() - started) * 1000
            self.view.telemetry.refresh_finished(self.config.name, outcome.outcome, latency / 1000)
            try:
                self._proxy.refresh_finished(ticket, outcome, failure.kind if failure else None, latency, pause)
            except pykka.ActorDeadError:
                pass

    def _open_reason(self) -> str:
        return open_reason(self.breaker, self.breaker_state_storage)

    def _not_before_half_open(self) -> None:
        """With the breaker open, no timer refresh before it lets a call through: one due sooner
        would only be skipped (a failed run, "circuit open"), and the status would show it as the
        next refresh. A later one stays as it is; health checks try the provider meanwhile."""
        delay = half_open_delay(self.breaker, self.breaker_state_storage)
        if delay is not None and (self.next_refresh_at is None or self.next_refresh_at < time.time() + delay):
            self._schedule_refresh(delay)

    def refresh_finished(self, ticket: RefreshTicket, outcome: RefreshOutcome, kind: Optional[str] = None,
                         latency_ms: Optional[float] = None, pause: Optional[float] = None) -> None:
        """Back on the actor thread: forget the ticket, record the outcome in health and status.

        ``pause``: the provider's Retry-After on the answer that failed the refresh (429 or 503):
        the next timer refresh comes no sooner than it asked (at most MAX_PAUSE from now)."""
        ok = outcome.outcome == "succeeded"
        if pause and not ok:
            self._asked(min(pause, MAX_PAUSE), outcome.error)  # before a queued refresh starts
        if self.in_flight is ticket:
            self.in_flight = None
            if self.follow_up is not None:
                follow, self.follow_up = self.follow_up, None
                self._start(follow)
        self.last_outcome = outcome
        if pause and not ok:
            wait = min(pause, MAX_PAUSE)
            if self.next_refresh_at is None or self.next_refresh_at < time.time() + wait:
                logger.info("{}: asked to wait {:g}s (Retry-After); the next refresh is in {:g}s",
                            self.config.name, pause, wait)
                self._schedule_refresh(wait)
        if not ok:
            self._not_before_half_open()
            left = self._asked_wait()
            if left and (self.next_refresh_at is None or self.next_refresh_at < time.time() + left):
                self._schedule_refresh(left + 0.05)  # a refresh sooner would fail unasked again
        if not ok and (outcome.error or "").startswith(STORE_FAILURE):
            # The provider answered; this service's database did not take it (disk full, a lost
            # connection): not the provider's failure, so not its health's (GET /api/v1/status
            # and discovery_store_write_failures_total say it).
            return
        self.consecutive_failures = 0 if ok else self.consecutive_failures + 1
        # A refused snapshot is the provider answering badly: it counts as a failed check.
        self._observe(ok, latency_ms, "refresh", kind or ("refused" if not ok else None), outcome.error)

    # -- benchmarks ------------------------------------------------------------------------------
    def probe_gate(self) -> ProbeGate:
        """What this provider's benchmark actor needs to respect the breaker and the token bucket."""
        return ProbeGate(self.config.name, self.breaker, self.client.rate_limiter, self._proxy)

    def count_probe(self, error: Optional[BaseException]) -> None:
        """A benchmark request ended (``error`` None: it succeeded); counted on the I/O thread. Reached by tell."""
        if self._io is not None:
            self._io.submit(count_in_breaker, self.breaker, error)

    # -- health ----------------------------------------------------------------------------------
    def probe(self) -> None:
        """Health-check timer: probe on the I/O thread unless a refresh is already doing so."""
        if self.config.health_check_interval > 0:
            self._later("probe", jittered(self.config.health_check_interval, self.config.jitter), self._proxy.probe)
        self._start_probe()

    def _asked(self, wait: float, by: Optional[str]) -> None:
        """The provider asked not to be called for ``wait`` seconds (a failed refresh's or probe's
        429 or 503, answered ``by``): probes, the breaker's trial call and manual refreshes wait too."""
        until = time.time() + wait
        if self.asked_until is None or until > self.asked_until:
            self.asked_until, self.asked_by = until, by
            self.catalog.set_provider_asked(self.config.name, until, by)

    def _asked_wait(self) -> float:
        """Seconds left of the provider's asked wait (0: none)."""
        if self.asked_until is None:
            return 0.0
        left = self.asked_until - time.time()
        if left <= 0:
            self.asked_until = None
            return 0.0
        return left

    def _start_probe(self) -> None:
        if self.in_flight is not None or self.probing or self._io is None:
            return
        if self._asked_wait():
            return  # the provider asked to be left alone; the next check comes after
        self.probing = True
        self._io.submit(self._run_probe)

    def _run_probe(self) -> None:
        started = time.monotonic()
        ok, kind, error, pause = True, None, None, None
        try:
            self.breaker.call(self.client.check)
        except pybreaker.CircuitBreakerError:
            ok, kind, error = False, "circuit_open", self._open_reason()
        except ProviderError as exc:
            ok, kind, error = False, exc.kind, exc.reason
            if exc.status in (429, 503) and exc.retry_after:
                pause = exc.retry_after
        except Exception as exc:
            ok, kind, error = False, "internal", scrub(f"internal: {type(exc).__name__}: {exc}")
        try:
            self._proxy.probe_finished(ok, (time.monotonic() - started) * 1000, kind, error, pause)
        except pykka.ActorDeadError:
            pass

    def probe_finished(self, ok: bool, latency_ms: float, kind: Optional[str], error: Optional[str],
                       pause: Optional[float] = None) -> None:
        self.probing = False
        if pause and not ok:
            wait = min(pause, MAX_PAUSE)
            self._asked(wait, error)
            if self.next_refresh_at is None or self.next_refresh_at < time.time() + wait:
                self._schedule_refresh(wait)  # the timer refresh no sooner than the provider asked
        self._observe(ok, latency_ms, "probe", kind, error)

    def _observe(self, ok: bool, latency_ms: Optional[float], via: str, kind: Optional[str],
                 error: Optional[str]) -> None:
        change = self.health.observe(ok, latency_ms, via, kind, scrub(error))
        if change is not None:
            self._status_changed(*change)

    def _status_changed(self, old: str, new: str) -> None:
        if old == UNKNOWN and (self.view.provider_rows.get(self.config.name) or {}).get("status") == new:
            # The first check since the start found what was stored: no change, none stored.
            logger.info("{}: status {} ({}), as stored before this start", self.config.name, new,
                        self.health.reason or "ok")
        else:
            logger.info("{}: status {} → {} ({})", self.config.name, old, new, self.health.reason or "ok")
        self.catalog.set_provider_status(self.config.name, new, self.health.reason, old)

    def breaker_changed(self, old: Optional[str], new: str) -> None:
        """The breaker moved: record it, and act on recovery at once rather than at the next tick."""
        self.breaker_state = new
        logger.info("{}: circuit breaker {} → {}", self.config.name, old, new)
        if new == "open":
            change = self.health.breaker_opened(self._open_reason())
            if change is not None:
                self._status_changed(*change)
            # Try again as soon as the breaker allows a trial call.
            self._later("recovery", self.config.reset_timeout + 0.05, self._proxy.recovery_probe)
        elif new == "closed" and old in ("open", "half-open", "half_open"):
            self._timers.pop("recovery", None)
            if self.in_flight is None:
                self.refresh(trigger="recovery")

    def recovery_probe(self) -> None:
        """The breaker's reset timeout has passed: make the trial call now, or, when the provider
        asked to be left alone longer, when that wait ends."""
        if self.breaker_state != "open":
            return
        wait = self._asked_wait()
        if wait:
            self._later("recovery", wait + 0.05, self._proxy.recovery_probe)
            return
        self._start_probe()

    # -- status ----------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """How this source is doing, as the providers endpoint shows it."""
        return {
            "name": self.config.name,
            "format": self.config.format,
            "is_catalog": self.client.is_catalog,
            "status": self.health.status if self.breaker_state != "open" else UNAVAILABLE,
            "status_reason": self.health.reason,
            "breaker": {"state": self.breaker_state, "fail_counter": self.breaker.fail_counter,
                        "fail_max": self.config.fail_max, "reset_timeout": self.config.reset_timeout,
                        "next_try_at": next_try_at(self.breaker, self.breaker_state_storage)},
            "consecutive_failures": self.consecutive_failures,
            "refreshing": self.in_flight.run_id if self.in_flight else None,
            "last_outcome": self.last_outcome.to_dict() if self.last_outcome else None,
            "refresh_interval": self.config.refresh_interval,
            "next_refresh_at": self.next_refresh_at,
            "asked_until": self.asked_until if self._asked_wait() else None,
        }

    def health_record(self, history: int = 50) -> dict[str, Any]:
        """The health record with its recent checks."""
        return {"name": self.config.name, "breaker": self.breaker_state, **self.health.to_dict(history)}
