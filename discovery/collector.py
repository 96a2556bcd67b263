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


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Hold the cyclic garbage collector off while the block runs.

    For short bursts that allocate many objects that stay (a large commit, a fan-out to every
    subscriber): a collection falling inside one walks every young object the burst has made
    so far, only to find them alive. Reference counting still frees what the block drops.
    Process-wide and nesting across threads: the collector is back on when the last paused
    block ends, if it was on when the first began.
    """
    global _pausers, _resume
    with _pause_lock:
        if _pausers == 0:
            _resume = gc.isenabled()
            gc.disable()
        _pausers += 1
    try:
        yield
    finally:
        with _pause_lock:
            _pausers -= 1
            if _pausers == 0 and _resume:
                gc.enable()
