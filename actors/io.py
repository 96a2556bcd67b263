"""One daemon thread per actor for blocking I/O, so the actor's own thread stays responsive."""
from __future__ import annotations

import concurrent.futures
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
        self._lock = threading.Lock()
        self._stopped = False
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[..., Any], *args: Any) -> concurrent.futures.Future:
        """Queue ``fn(*args)``; its future has the call's result or exception. A call that will not
        run (submitted after :meth:`shutdown`, or still queued at it) has its future cancelled, so
        a thread waiting on it learns so at once instead of at its own timeout."""
        future: concurrent.futures.Future = concurrent.futures.Future()
        with self._lock:
            if self._stopped:
                future.cancel()
            else:
                self._queue.put((future, fn, args))
        return future

    def shutdown(self) -> None:
        """Drop queued calls; the running one (if any) finishes on its own, bounded by its timeout."""
        with self._lock:
            self._stopped = True
            self._queue.put(_STOP)

    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            future, fn, args = item
            if self._stopped:
                future.cancel()
                self._drain()
                return
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(*args))
            except Exception as exc:
                logger.exception("I/O call {} failed", getattr(fn, "__name__", fn))
                future.set_exception(exc)

    def _drain(self) -> None:
        """Cancel what is still queued behind a shutdown."""
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            item[0].cancel()
