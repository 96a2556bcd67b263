"""A provider's health record: status with thresholds, latency, error rate and uptime over a window.

Error rate and uptime are two views of the same checks within the window: the share of checks
that failed, and the share of time during which the newest check had succeeded.
"""
from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Optional

HEALTHY, DEGRADED, UNHEALTHY = "healthy", "degraded", "unhealthy"
RATE_LIMITED, UNAVAILABLE, MISCONFIGURED, UNKNOWN = "rate_limited", "unavailable", "misconfigured", "unknown"
# Error kinds (ProviderError.kind) that say something other than "the provider is down".
_CONFIG_KINDS = ("auth",)
_RATE_KINDS = ("rate_limited",)


@dataclass(frozen=True)
class Check:
    """One observation: a probe or a refresh."""

    at: float
    ok: bool
    latency_ms: Optional[float]
    via: str  # probe | refresh
    kind: Optional[str] = None
    error: Optional[str] = None

    def to_dict(self) -> dict[str, Any]:
        return {"at": self.at, "ok": self.ok, "latency_ms": self.latency_ms, "via": self.via,
                "kind": self.kind, "error": self.error}


# The checks a source's record keeps within health_window at most (about 2 MB of them).
MAX_CHECKS = 10_000


class HealthRecord:
    """Moves status on thresholds, not on one blip.

    ``failure_threshold`` consecutive failures make a provider unhealthy (fewer: degraded, with
    the failure's reason, whatever the status was);
    ``recovery_threshold`` consecutive successes make it healthy again. An auth error is a
    configuration problem (misconfigured) and a 429 is rate_limited, at once; an open breaker
    is unavailable until a call succeeds.
    """

    def __init__(self, failure_threshold: int = 3, recovery_threshold: int = 2, window: float = 3600.0):
        self.failure_threshold = failure_threshold
        self.recovery_threshold = recovery_threshold
        self.window = window
        self.status = UNKNOWN
        self.reason: Optional[str] = None
        self.consecutive_failures = 0
        self.consecutive_successes = 0
        self.last_check: Optional[Check] = None
        # Every check within the window, oldest first, up to MAX_CHECKS: error_rate and uptime
        # cover the whole window unless checks come more often than window / MAX_CHECKS (every
        # 0.36 s for the default hour), and no setting of window and interval grows it further.
        self.checks: deque[Check] = deque(maxlen=MAX_CHECKS)

    def _move(self, status: str, reason: Optional[str], now: float) -> Optional[tuple[str, str]]:
        old = self.status
        self.reason = reason
        if status == old:
            return None
        self.status = status
        return old, status

    def observe(self, ok: bool, latency_ms: Optional[float], via: str, kind: Optional[str] = None,
                error: Optional[str] = None, now: Optional[float] = None) -> Optional[tuple[str, str]]:
        """Record a check; return (old, new) if the status changed."""
        now = now or time.time()
        check = Check(now, ok, latency_ms, via, kind, error)
        self.checks.append(check)
        while self.checks and now - self.checks[0].at > self.window:
            self.checks.popleft()
        self.last_check = check
        if ok:
            self.consecutive_successes += 1
            self.consecutive_failures = 0
            if self.status in (UNKNOWN, HEALTHY) or self.consecutive_successes >= self.recovery_threshold:
                return self._move(HEALTHY, None, now)
            return self._move(DEGRADED, "recovering", now)
        self.consecutive_failures += 1
        self.consecutive_successes = 0
        if self.status == UNAVAILABLE and kind not in _CONFIG_KINDS:
            # The breaker is open: only a success (its trial call) ends that state.
            return None
        if kind in _CONFIG_KINDS:
            return self._move(MISCONFIGURED, error, now)
        if kind in _RATE_KINDS:
            return self._move(RATE_LIMITED, error, now)
        if kind == "circuit_open":
            return self._move(UNAVAILABLE, error, now)
        if self.consecutive_failures >= self.failure_threshold:
            return self._move(UNHEALTHY, error, now)
        # Below the threshold the status is degraded, whatever the last one was (recovering,
        # rate_limited...), and the reason is this failure's: never an earlier check's.
        return self._move(DEGRADED, error, now)

    def breaker_opened(self, reason: str, now: Optional[float] = None) -> Optional[tuple[str, str]]:
        """The breaker opened: calls are refused until its reset timeout."""
        return self._move(UNAVAILABLE, reason, now or time.time())

    def _recent(self, now: float) -> list[Check]:
        return [c for c in self.checks if now - c.at <= self.window]

    def error_rate(self, now: Optional[float] = None) -> Optional[float]:
        """Share of the checks within the window that failed; None with no checks."""
        recent = self._recent(now or time.time())
        if not recent:
            return None
        return sum(not c.ok for c in recent) / len(recent)

    def uptime(self, now: Optional[float] = None) -> Optional[float]:
        """Share of the time from the window's first check to now during which the newest check
        had succeeded; None with no checks. Judged on the same checks as :meth:`error_rate`, so
        every check failing is 0 and every check passing is 1."""
        now = now or time.time()
        recent = self._recent(now)
        if not recent:
            return None
        start = recent[0].at
        if now <= start:
            return 1.0 if recent[-1].ok else 0.0
        up = 0.0
        for check, following in zip(recent, recent[1:] + [None]):
            until = following.at if following is not None else now
            if check.ok and until > check.at:
                up += min(until, now) - check.at
        return up / (now - start)

    def to_dict(self, history: int = 20) -> dict[str, Any]:
        """The record as the health endpoint returns it, with the newest checks."""
        last = self.last_check
        return {
            "status": self.status,
            "reason": self.reason,
            "last_check_at": last.at if last else None,
            "last_latency_ms": last.latency_ms if last else None,
            "error_rate": self.error_rate(),
            "uptime": self.uptime(),
            "window_seconds": self.window,
            "consecutive_failures": self.consecutive_failures,
            "consecutive_successes": self.consecutive_successes,
            "thresholds": {"failure": self.failure_threshold, "recovery": self.recovery_threshold},
            "history": [c.to_dict() for c in list(self.checks)[-history:]],
        }
