"""CallbackSubscriber: runs one in-process subscriber's callable on a thread of its own."""
from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from loguru import logger

from discovery.store import StoredEvent

_names = itertools.count(1)
# A subscriber this far behind is warned about (once each time it falls this far behind again):
# its events wait in memory until its callable takes them.
BEHIND_WARNING = 10_000


class CallbackSubscriber:
    """Hands each batch the notifier gives it (``__call__``: an append, never blocks) to the
    callable on this object's own thread, in order.

    The notifier's thread serves every subscriber, the event stream and the webhook dispatcher's
    wake-up: a callable run there that sleeps, blocks, or asks the service back (``subscribe``,
    an unsubscribe, ``wait``) would hold them all up or deadlock. Here it holds up only itself;
    while it is behind, the events waiting for it are joined into batches of at most ``max_batch``.
    """

    def __init__(self, target: Callable[[tuple[StoredEvent, ...]], Any], max_batch: int):
        self.target = target
        self.max_batch = max_batch
        self._events: deque[StoredEvent] = deque()
        self._ready = threading.Condition()
        self._closed = False
        self._calling = False  # a batch has been taken and its call has not returned yet
        self._drain_until = 0.0
        self._warned = False
        self.thread = threading.Thread(target=self._run, name=f"subscriber-{next(_names)}", daemon=True)
        self.thread.start()

    def __call__(self, events: tuple[StoredEvent, ...]) -> None:
        with self._ready:
            if self._closed:
                return
            self._events.extend(events)
            if len(self._events) >= BEHIND_WARNING and not self._warned:
                self._warned = True
                logger.warning("in-process subscriber {} is {} events behind (its callable is slow or blocked)",
                               self.thread.name, len(self._events))
            self._ready.notify()

    def behind(self) -> int:
        """Events handed over and not yet given to the callable."""
        with self._ready:
            return len(self._events)

    def close(self, drain: float = 0.0, wait: float = 0.0) -> bool:
        """Stop taking events; those waiting are given to the callable for up to ``drain`` seconds
        more (0: dropped). A call in flight finishes; none starts after the drain.

        ``wait``: from another thread, wait up to that long for a call under way (or whose batch
        was already taken) to return, so that none is made after this returns; whether none is."""
        with self._ready:
            self._closed = True
            self._drain_until = time.monotonic() + drain if drain > 0 else 0.0
            if not drain:
                self._events.clear()
            self._ready.notify_all()
            if wait > 0 and threading.current_thread() is not self.thread:
                deadline = time.monotonic() + wait
                while self._calling and time.monotonic() < deadline:
                    self._ready.wait(max(0.0, deadline - time.monotonic()))
            return not self._calling or threading.current_thread() is self.thread

    def join(self, timeout: float) -> bool:
        """Wait for the thread to end (never from the callable itself); whether it did."""
        if threading.current_thread() is not self.thread:
            self.thread.join(timeout)
        return not self.thread.is_alive()

    def _run(self) -> None:
        while True:
            with self._ready:
                while not self._events and not self._closed:
                    self._ready.wait()
                if self._closed and (not self._events or time.monotonic() >= self._drain_until):
                    self._events.clear()
                    return
                size = min(len(self._events), self.max_batch)
                batch = tuple(self._events.popleft() for _ in range(size))
                if len(self._events) < BEHIND_WARNING // 2:
                    self._warned = False
                self._calling = True
            try:
                self.target(batch)
            except Exception:
                # One bad subscriber must not affect the others, nor its own next batch.
                logger.exception("in-process subscriber {} raised while handling {} events",
                                 self.thread.name, len(batch))
            except BaseException:
                # SystemExit and the like end this thread: stop taking events rather than keep
                # them for a callable that will never be called again.
                logger.exception("in-process subscriber {} ended its thread; it gets no more events",
                                 self.thread.name)
                self._returned()
                self.close()
                return
            self._returned()

    def _returned(self) -> None:
        with self._ready:
            self._calling = False
            self._ready.notify_all()
