"""Timers that tell an actor something later: how actors wait without sleeping.

Every timer of the process shares one daemon thread (a heap of due times), instead of a thread
per timer: a service watching eighty sources re-arms hundreds of timers, and starting a thread
for each costs more than the tell it fires. A timer's action must be quick (a tell to an
actor's proxy); it runs on the timer thread.
"""
from __future__ import annotations

import heapq
import itertools
import random
import threading
import time
from collections.abc import Callable
from typing import Optional

import pykka
from loguru import logger


def jittered(interval: float, jitter: float) -> float:
    """``interval`` moved by up to ±``jitter`` (a fraction), so providers do not refresh in lockstep."""
    if jitter <= 0:
        return interval
    return max(0.0, interval * (1 + random.uniform(-jitter, jitter)))


class Timer:
    """One scheduled action; :meth:`cancel` keeps it from running (it may already have run)."""

    __slots__ = ("action", "cancelled", "name", "when")

    def __init__(self, when: float, action: Callable[[], object], name: str):
        self.when = when
        self.action = action
        self.name = name
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class _TimerThread:
    """The process's one timer thread: runs each due, uncancelled action in time order."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Timer]] = []
        self._seq = itertools.count()
        self._wake = threading.Condition()
        self._thread: Optional[threading.Thread] = None

    def add(self, timer: Timer) -> None:
        with self._wake:
            heapq.heappush(self._heap, (timer.when, next(self._seq), timer))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="timer-shared", daemon=True)
                self._thread.start()
            elif self._heap[0][2] is timer:
                self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._heap or self._heap[0][0] > time.monotonic():
                    self._wake.wait(self._heap[0][0] - time.monotonic() if self._heap else None)
                _, _, timer = heapq.heappop(self._heap)
            if timer.cancelled:
                continue
            try:
                timer.action()
            except pykka.ActorDeadError:
                pass  # the actor stopped meanwhile: nothing to do
            except Exception:  # the timer thread must not die; log and move on
                logger.exception("timer action {} failed", timer.name)


_timers = _TimerThread()


MAX_TIMER_DELAY = 1e8  # seconds: about three years


def schedule(delay: float, action: Callable[[], object], name: str = "actor-timer") -> Timer:
    """Run ``action`` (typically a tell to an actor's own proxy) after ``delay`` seconds.

    A dead actor at fire time is not an error: the timer just does nothing.
    """
    # Past what the timer thread can wait for (threading.TIMEOUT_MAX, or time_t), a delay would
    # end that thread, every actor's timers with it: such a timer waits a few years instead.
    timer = Timer(time.monotonic() + min(max(0.0, delay), MAX_TIMER_DELAY), action, name)
    _timers.add(timer)
    return timer
