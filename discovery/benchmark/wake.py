"""How slowly this machine wakes from idle: what a timing measurement on it can be trusted to.

Some virtual machines take tens of milliseconds to answer the first request after a pause. A
probe measuring a 300 ms TTFT against a simulator on such a machine reads every sample that much
late, whatever the probe does; the accuracy test and bench measure this first.
"""
from __future__ import annotations

import time

import requests

PAUSE = 0.3


def idle_penalty_ms(url: str, samples: int = 5) -> float:
    """How much longer a GET of ``url`` takes after ``PAUSE`` s of idleness than back to back
    (medians of ``samples``), in ms."""
    session = requests.Session()

    def once() -> float:
        started = time.perf_counter()
        session.get(url, timeout=5)
        return (time.perf_counter() - started) * 1000

    once()
    busy = sorted(once() for _ in range(samples))[samples // 2]
    idle = []
    for _ in range(samples):
        time.sleep(PAUSE)
        idle.append(once())
    return sorted(idle)[samples // 2] - busy
