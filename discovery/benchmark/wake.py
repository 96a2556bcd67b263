"""How much later a request is answered after a pause than back to back: what a timing taken on
this machine can be trusted to.

Two things add such a delay, and neither is the probe's doing: a machine (often a virtual one)
that is slow to wake from idle, and a server that writes an answer in several sends without
TCP_NODELAY, whose second send then waits for the client's delayed ACK (about 40 ms on Linux;
the simulator sets TCP_NODELAY on every connection for this reason). A probe measuring a 300 ms
TTFT reads every sample that much late; the accuracy test and bench measure this first.
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
