"""Per-provider request budget: a token bucket shared by refreshes, probes and benchmarks."""
from __future__ import annotations

import threading
import time
from typing import Optional


class TokenBucket:
    """``rate`` tokens per second, holding at most ``burst``. Thread-safe."""

    def __init__(self, rate: float, burst: int, clock=time.monotonic):
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._at = clock()
        self._lock = threading.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now

    def try_acquire(self) -> Optional[float]:
        """Take a token if one is there (None); else return the seconds until one will be."""
        with self._lock:
            self._refill()
            if self._tokens >= 1:
                self._tokens -= 1
                return None
            return (1 - self._tokens) / self.rate

    def acquire(self, timeout: float) -> bool:
        """Wait up to ``timeout`` for a token (called on I/O threads, never on an actor's)."""
        deadline = self._clock() + timeout
        while True:
            wait = self.try_acquire()
            if wait is None:
                return True
            if self._clock() + wait > deadline:
                return False
            time.sleep(wait)
