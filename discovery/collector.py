"""Holding the cyclic garbage collector off during bursts that make many objects that all stay."""
from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

# Blocks running with the collector held off (any thread), and whether to turn it back on when
# the last one ends (it was on when the first began).
_pause_lock = threading.Lock()
_pausers = 0
_resume = False


def hold_collector() -> None:
    """Hold the cyclic collector off until the matching :func:`let_collector_go` (any thread; nests)."""
    global _pausers, _resume
    with _pause_lock:
        if _pausers == 0:
            _resume = gc.isenabled()
            gc.disable()
        _pausers += 1


def let_collector_go() -> None:
    """End one :func:`hold_collector`: the collector is back on after the last, if it was on before."""
    global _pausers
    with _pause_lock:
        _pausers -= 1
        if _pausers == 0 and _resume:
            gc.enable()


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Hold the cyclic garbage collector off while the block runs.

    For short bursts that allocate many objects that stay (a large commit, a fan-out to every
    subscriber): a collection falling inside one walks every young object the burst has made
    so far, only to find them alive. Reference counting still frees what the block drops.
    Process-wide and nesting across threads: the collector is back on when the last paused
    block ends, if it was on when the first began.
    """
    hold_collector()
    try:
        yield
    finally:
        let_collector_go()
