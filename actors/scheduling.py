"""Timers that tell an actor something later: how actors wait without sleeping."""
from __future__ import annotations

import random
import threading
from typing import Callable

import pykka
from loguru import logger


def jittered(interval: float, jitter: float) -> float:
    """``interval`` moved by up to ±``jitter`` (a fraction), so providers do not refresh in lockstep."""
    if jitter <= 0:
        return interval
    return max(0.0, interval * (1 + random.uniform(-jitter, jitter)))


def schedule(delay: float, action: Callable[[], object], name: str = "actor-timer") -> threading.Timer:
    """Run ``action`` (typically a tell to an actor's own proxy) after ``delay`` seconds.

    A dead actor at fire time is not an error: the timer just does nothing.
    """
    def fire() -> None:
        try:
            action()
        except pykka.ActorDeadError:
            pass
        except Exception:  # a timer thread must not die noisily; log and move on
            logger.exception("timer action {} failed", name)

    timer = threading.Timer(delay, fire)
    timer.name = name
    timer.daemon = True
    timer.start()
    return timer
