"""One daemon thread per actor for blocking I/O, so the actor's own thread stays responsive."""
from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

from loguru import logger

_STOP = object()


class IOWorker:
    """Runs submitted calls one at a time on a daemon thread.

    Daemon, unlike ``ThreadPoolExecutor``'s workers: a call stuck in a slow HTTP request must
    not hold up process exit. Nothing run here writes the store (the catalog actor does), so
    abandoning a call loses nothing.
    """

    def __init__(self, name: str):
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._stopped = False
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        if not self._stopped:
            self._queue.put((fn, args))

    def shutdown(self) -> None:
        """Drop queued calls; the running one (if any) finishes on its own, bounded by its timeout."""
        self._stopped = True
        self._queue.put(_STOP)

    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP or self._stopped:
                return
            fn, args = item
            try:
                fn(*args)
            except Exception:
                logger.exception("I/O call {} failed", getattr(fn, "__name__", fn))
