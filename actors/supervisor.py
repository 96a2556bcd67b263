"""Supervisor: starts child actors, restarts one that dies (with backoff), stops all in reverse."""
from __future__ import annotations

import collections
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Optional

import pykka
from loguru import logger

from actors.calls import Calls
from actors.scheduling import Timer, schedule
from discovery.redaction import scrub


@dataclass
class Child:
    """One supervised actor: how to start it, its current ref, its restart record."""

    name: str
    factory: Callable[[Any], pykka.ActorRef]  # called with the supervisor's proxy
    ref: Optional[pykka.ActorRef] = None
    restarts: collections.deque = field(default_factory=lambda: collections.deque(maxlen=100))
    state: str = "running"  # running | restarting | failed | stopped
    last_error: Optional[str] = None
    restart_count: int = 0
    timer: Optional[Timer] = None


class SupervisorActor(pykka.ThreadingActor):
    """Restarts a dead child after a backoff that doubles per recent restart.

    More than ``max_restarts_per_minute`` restarts within a minute and the child is reported
    ``failed`` (with the last error) and left stopped; the rest of the service goes on.
    Deaths are reported by the child's ``on_failure``; a periodic check catches any other way
    an actor can stop.
    """

    def __init__(self, backoff: float = 0.5, backoff_max: float = 30.0, max_per_minute: int = 5,
                 check_interval: float = 1.0, on_failed: Optional[Callable[[str, str], None]] = None):
        super().__init__()
        self.backoff = backoff
        self.backoff_max = backoff_max
        self.max_per_minute = max_per_minute
        self.check_interval = check_interval
        self.on_failed = on_failed
        self.children: dict[str, Child] = {}
        self._check_timer: Optional[Timer] = None
        self.stopping = False

    def on_start(self) -> None:
        self._proxy = Calls(self.actor_ref)
        self._check_timer = schedule(self.check_interval, lambda: self._proxy.check(), name="supervisor-check")

    def on_stop(self) -> None:
        self.stopping = True
        if self._check_timer:
            self._check_timer.cancel()
        for child in self.children.values():
            if child.timer:
                child.timer.cancel()

    def start_child(self, name: str, factory: Callable[[Any], pykka.ActorRef]) -> pykka.ActorRef:
        """Start and supervise an actor under ``name``."""
        child = Child(name, factory)
        self.children[name] = child
        child.ref = factory(self._proxy)
        return child.ref

    def start_children(self, children: list[tuple[str, Callable[[Any], pykka.ActorRef]]]) -> None:
        """Start and supervise several actors in one message (each starts its own work at once)."""
        for name, factory in children:
            try:
                self.start_child(name, factory)
            except Exception as exc:  # one actor that cannot start must not keep the others from starting
                logger.exception("{} could not start", name)
                self.children[name].state = "running"
                self.child_failed(name, f"start failed: {type(exc).__name__}: {exc}")

    def ref(self, name: str) -> Optional[pykka.ActorRef]:
        """The live ref of a child, or None (unknown, restarting or failed)."""
        child = self.children.get(name)
        if child is None or child.ref is None or not child.ref.is_alive():
            return None
        return child.ref

    def refs(self, names) -> dict[str, Optional[pykka.ActorRef]]:
        """The live ref of each named child (None where unknown, restarting or failed)."""
        return {name: self.ref(name) for name in names}

    def child_states(self) -> dict[str, dict[str, Any]]:
        return {name: {"state": c.state, "restarts": c.restart_count, "last_error": c.last_error}
                for name, c in self.children.items()}

    def child_failed(self, name: str, error: str) -> None:
        """A child died: schedule its restart, or give up on it."""
        child = self.children.get(name)
        if child is None or self.stopping or child.state in ("restarting", "failed", "stopped"):
            return
        # Shown in every provider's and region's row (and handed to followers through the database).
        child.last_error = error = scrub(error)
        now = time.monotonic()
        recent = [t for t in child.restarts if now - t < 60]
        if len(recent) >= self.max_per_minute:
            child.state = "failed"
            logger.error("{} crashed {} times within a minute; giving up: {}", name, len(recent) + 1, error)
            if self.on_failed:
                try:
                    self.on_failed(name, error)
                except Exception:
                    logger.exception("on_failed hook raised")
            return
        delay = min(self.backoff_max, self.backoff * (2 ** len(recent)))
        child.state = "restarting"
        logger.warning("{} died ({}); restarting in {:.2f}s", name, error, delay)
        child.timer = schedule(delay, lambda: self._proxy.restart(name), name=f"restart-{name}")

    def restart(self, name: str) -> None:
        """Start a fresh actor for a dead child."""
        child = self.children.get(name)
        if child is None or self.stopping or child.state != "restarting":
            return
        child.restarts.append(time.monotonic())
        child.restart_count += 1
        try:
            child.ref = child.factory(self._proxy)
            child.state = "running"
            logger.info("{} restarted (restart #{})", name, child.restart_count)
        except Exception as exc:
            child.state = "running"  # let child_failed run its normal accounting
            self.child_failed(name, f"restart failed: {type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}")

    def check(self) -> None:
        """Periodic: treat any child whose actor is no longer alive as failed."""
        if self.stopping:
            return
        for name, child in self.children.items():
            if child.state == "running" and (child.ref is None or not child.ref.is_alive()):
                self.child_failed(name, child.last_error or "actor stopped unexpectedly")
        self._check_timer = schedule(self.check_interval, lambda: self._proxy.check(), name="supervisor-check")

    def stop_children(self, timeout: float = 5.0) -> None:
        """Stop every child, newest first; no restarts from here on."""
        self.stopping = True
        for child in reversed(list(self.children.values())):
            if child.timer:
                child.timer.cancel()
            child.state = "stopped"
            if child.ref is not None and child.ref.is_alive():
                try:
                    child.ref.stop(block=True, timeout=timeout)
                except (pykka.ActorDeadError, pykka.Timeout):
                    logger.warning("{} did not stop within {}s", child.name, timeout)
