"""ProviderActor: one per configured source, with its own breaker, timer and HTTP session."""
from __future__ import annotations

import concurrent.futures
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Optional

import pybreaker
import pykka
import requests
from loguru import logger

from actors.scheduling import jittered, schedule
from discovery.messages import ProviderSnapshot, RefreshFailure, RefreshOutcome
from discovery.providers import ProviderClient, ProviderError, client_for
from discovery.settings import ProviderConfig, Settings


@dataclass
class RefreshTicket:
    """A refresh in flight: its run id and a future that resolves to its RefreshOutcome."""

    run_id: int
    provider: str
    trigger: str
    future: concurrent.futures.Future = field(default_factory=concurrent.futures.Future)


class _BreakerListener(pybreaker.CircuitBreakerListener):
    """Tells the actor when its breaker changes state (called on the I/O thread)."""

    def __init__(self, proxy: Any):
        self.proxy = proxy

    def state_change(self, cb, old_state, new_state) -> None:
        try:
            self.proxy.breaker_changed(old_state.name if old_state else None, new_state.name)
        except pykka.ActorDeadError:
            pass


class ProviderActor(pykka.ThreadingActor):
    """Refreshes one source on a timer and on request.

    The network call runs on the actor's single I/O thread, so the actor itself stays free to
    answer status questions and to coalesce refresh requests into the one in flight. The
    breaker is only ever used from that one I/O thread.
    """

    def __init__(self, config: ProviderConfig, settings: Settings, catalog: Any, view: Any,
                 supervisor: Any = None, client: Optional[ProviderClient] = None):
        super().__init__()
        self.view = view
        self.config = config
        self.settings = settings
        self.catalog = catalog
        self.supervisor = supervisor
        self._client = client
        self.in_flight: Optional[RefreshTicket] = None
        self.last_outcome: Optional[RefreshOutcome] = None
        self.consecutive_failures = 0
        self.next_refresh_at: Optional[float] = None
        self.breaker_state = "closed"
        self._timer: Optional[threading.Timer] = None
        self._io: Optional[concurrent.futures.ThreadPoolExecutor] = None

    # -- life cycle ------------------------------------------------------------------------------
    def on_start(self) -> None:
        self.proxy = self.actor_ref.proxy()
        self.session = requests.Session()
        self.client = self._client or client_for(self.config, session=self.session)
        self.breaker = pybreaker.CircuitBreaker(
            fail_max=self.config.fail_max, reset_timeout=self.config.reset_timeout,
            name=self.config.name, throw_new_error_on_trip=False,
            listeners=[_BreakerListener(self.proxy)])
        self._io = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"io-{self.config.name}")
        first = 0.0 if self.settings.refresh_on_start else jittered(self.config.refresh_interval, self.config.jitter)
        self._schedule(first)

    def on_stop(self) -> None:
        self._cleanup()

    def on_failure(self, exception_type, exception_value, traceback) -> None:
        logger.error("provider actor {} died: {}: {}", self.config.name, exception_type.__name__, exception_value)
        self._cleanup()
        if self.supervisor is not None:
            try:
                self.supervisor.child_failed(self.config.name, f"{exception_type.__name__}: {exception_value}")
            except pykka.ActorDeadError:
                pass

    def _cleanup(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._io is not None:
            # Do not wait for an in-flight HTTP call; it is bounded by its timeout.
            self._io.shutdown(wait=False, cancel_futures=True)
        if self.in_flight is not None and not self.in_flight.future.done():
            self.in_flight.future.set_result(RefreshOutcome(self.in_flight.run_id, self.config.name, "failed",
                                                            error="abandoned: the provider actor stopped"))
        try:
            self.session.close()
        except Exception:
            pass

    def on_receive(self, message: Any) -> Any:
        # Anything but a proxy call is a bug in the sender; dying lets the supervisor restart us clean.
        raise TypeError(f"{self.config.name}: unexpected message {message!r}")

    # -- timer -----------------------------------------------------------------------------------
    def _schedule(self, delay: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self.next_refresh_at = time.time() + delay
        self._timer = schedule(delay, lambda: self.proxy.tick(), name=f"timer-{self.config.name}")

    def tick(self) -> None:
        """The refresh timer fired: refresh, then schedule the next tick."""
        try:
            self.refresh(trigger="timer")
        except Exception:
            logger.exception("{}: timer refresh failed to start", self.config.name)
        self._schedule(jittered(self.config.refresh_interval, self.config.jitter))

    # -- refresh ---------------------------------------------------------------------------------
    def refresh(self, trigger: str = "manual") -> RefreshTicket:
        """Start a refresh, or join the one in flight; returns its ticket at once."""
        if self.in_flight is not None:
            return self.in_flight
        # The id comes from the view and the row is written by a tell: never wait on the writer here.
        run_id = self.view.next_run_id()
        self.catalog.begin_run(run_id, self.config.name, trigger)
        ticket = RefreshTicket(run_id, self.config.name, trigger)
        self.in_flight = ticket
        assert self._io is not None
        self._io.submit(self._run_refresh, ticket)
        return ticket

    def _run_refresh(self, ticket: RefreshTicket) -> None:
        """On the I/O thread: fetch through the breaker, hand the result to the catalog."""
        started = time.monotonic()
        outcome: Optional[RefreshOutcome] = None
        try:
            try:
                models = self.breaker.call(self.client.fetch_models)
            except pybreaker.CircuitBreakerError:
                failure = RefreshFailure(self.config.name, ticket.run_id,
                                         f"circuit open: skipped after {self.config.fail_max} consecutive failures; "
                                         f"next try after {self.config.reset_timeout:g}s", "circuit_open")
            except ProviderError as exc:
                failure = RefreshFailure(self.config.name, ticket.run_id, exc.reason, exc.kind)
            except Exception as exc:  # a bug in a format: report it like a failed refresh
                logger.opt(exception=exc).error("{}: unexpected error while fetching", self.config.name)
                failure = RefreshFailure(self.config.name, ticket.run_id, f"internal: {type(exc).__name__}: {exc}")
            else:
                failure = None
                snapshot = ProviderSnapshot(
                    source=self.config.name, run_id=ticket.run_id, models=tuple(models),
                    is_catalog=self.client.is_catalog, fetched_at=time.time(),
                    duration=time.monotonic() - started, allow_empty=self.config.allow_empty,
                    max_removal_ratio=self.config.max_removal_ratio)
                outcome = self.catalog.apply_snapshot(snapshot).get(timeout=max(60.0, self.settings.ask_timeout))
            if failure is not None:
                logger.warning("refresh {} of {} failed: {}", ticket.run_id, self.config.name, failure.reason)
                outcome = self.catalog.record_failure(failure).get(timeout=self.settings.ask_timeout)
        except Exception as exc:
            logger.opt(exception=exc).error("{}: refresh {} could not be completed", self.config.name, ticket.run_id)
            outcome = RefreshOutcome(ticket.run_id, self.config.name, "failed", error=f"internal: {exc}")
        finally:
            if outcome is None:
                outcome = RefreshOutcome(ticket.run_id, self.config.name, "failed", error="abandoned")
            if not ticket.future.done():
                ticket.future.set_result(outcome)
            try:
                self.proxy.refresh_finished(ticket, outcome)
            except pykka.ActorDeadError:
                pass

    def refresh_finished(self, ticket: RefreshTicket, outcome: RefreshOutcome) -> None:
        """Back on the actor thread: forget the ticket, keep the outcome for status."""
        if self.in_flight is ticket:
            self.in_flight = None
        self.last_outcome = outcome
        self.consecutive_failures = 0 if outcome.outcome == "succeeded" else self.consecutive_failures + 1

    def breaker_changed(self, old: Optional[str], new: str) -> None:
        """Keep the breaker state for status; record the change."""
        self.breaker_state = new
        logger.info("{}: circuit breaker {} → {}", self.config.name, old, new)

    # -- status ----------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """How this source is doing, as the providers endpoint shows it."""
        if self.consecutive_failures == 0 and self.last_outcome is not None:
            status = "ok"
        elif self.breaker_state == "open":
            status = "unavailable"
        elif self.consecutive_failures:
            status = "failing"
        else:
            status = "starting"
        return {
            "name": self.config.name,
            "format": self.config.format,
            "is_catalog": self.client.is_catalog,
            "status": status,
            "breaker": {"state": self.breaker_state, "fail_counter": self.breaker.fail_counter,
                        "fail_max": self.config.fail_max, "reset_timeout": self.config.reset_timeout},
            "consecutive_failures": self.consecutive_failures,
            "refreshing": self.in_flight.run_id if self.in_flight else None,
            "last_outcome": self.last_outcome.to_dict() if self.last_outcome else None,
            "refresh_interval": self.config.refresh_interval,
            "next_refresh_at": self.next_refresh_at,
        }
