"""Retries inside one refresh: urllib3's Retry mounted on a provider's session, reading
Retry-After safely and stopping at the refresh's deadline; a request timeout capped by it too."""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Optional

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import MaxRetryError, ResponseError
from urllib3.util.retry import Retry
from urllib3.util.timeout import Timeout

from discovery.settings import ProviderConfig

# Longer than any wait this service would honour (max_retry_after caps the waits made): a
# Retry-After of 1e400 or the year 9999 is kept as this, a finite number.
MAX_RETRY_AFTER_SECONDS = 86400.0


def parse_retry_after(value: Optional[str]) -> Optional[float]:
    """Seconds from a Retry-After header (delta-seconds, or an HTTP date); None for one that is
    neither. Never raises: the header is the provider's text, whatever it holds."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            when = parsedate_to_datetime(value)
            if when.tzinfo is None:  # "-0000": a date in UTC, says RFC 5322
                when = when.replace(tzinfo=UTC)
            seconds = (when - datetime.now(UTC)).total_seconds()
        except (TypeError, ValueError, OverflowError):
            return None
    if math.isnan(seconds):
        return None
    return min(max(0.0, seconds), MAX_RETRY_AFTER_SECONDS)


class RetryAfterAware(Retry):
    """urllib3's Retry, with a Retry-After read by :func:`parse_retry_after`: one that is not a
    time (``soon``, ``-5``, ``1.5``, a date past the year 9999) waits the backoff instead.

    urllib3's own reading raises InvalidHeader (or ValueError) for those, out of the request:
    the refresh failed as ``internal: InvalidHeader`` instead of with the provider's status.

    ``deadline``: when the refresh under way must be done by (``time.monotonic()``; inf outside
    one): no retry is made that could only begin after it.
    """

    def __init__(self, *args: Any, deadline: Callable[[], float] = lambda: math.inf, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.deadline = deadline
        # The wait before the next attempt, once increment has decided it (see get_backoff_time).
        self.wait: Optional[float] = None

    def new(self, **kw: Any) -> Retry:
        retry = super().new(**kw)
        retry.deadline = self.deadline  # type: ignore[attr-defined]
        return retry

    def get_backoff_time(self) -> float:
        # The wait increment held to the deadline, not a second draw of the jitter.
        return super().get_backoff_time() if self.wait is None else self.wait

    def parse_retry_after(self, retry_after: str) -> float:
        seconds = parse_retry_after(retry_after)
        return 0.0 if seconds is None else min(seconds, self.retry_after_max)

    def increment(self, method: Optional[str] = None, url: Optional[str] = None, response: Any = None,
                  error: Optional[Exception] = None, _pool: Any = None, _stacktrace: Any = None) -> Retry:
        """As urllib3's, but an answer asking for a longer wait than ``retry_after_max`` is not
        retried: it is the refresh's answer (failed, rate_limited for a 429), as the settings say.
        urllib3 caps such a wait and retries, early, an answer that asked for an hour."""
        if response is not None and self.respect_retry_after_header:
            wait = parse_retry_after(response.headers.get("Retry-After"))
            if wait is not None and wait > self.retry_after_max:
                raise MaxRetryError(_pool, url or "", ResponseError(f"Retry-After {wait:g}s"))  # type: ignore[arg-type]
        retry = super().increment(method, url, response, error, _pool, _stacktrace)
        deadline = self.deadline()
        if deadline < math.inf:
            # What sleep() will wait: the answer's Retry-After, else the backoff (drawn once here).
            after = retry.get_retry_after(response) if response is not None else None
            retry.wait = after or retry.get_backoff_time()
            if time.monotonic() + retry.wait >= deadline:
                # An answer is the refresh's (as above); an error raises RetryError (see request_body).
                raise MaxRetryError(_pool, url or "", ResponseError("refresh_timeout"))  # type: ignore[arg-type]
        return retry


class DeadlineTimeout(Timeout):
    """A request's timeout capped by the time left before the refresh's deadline, at each of
    urllib3's attempts (it retries with the same timeout): no attempt runs past the deadline."""

    def __init__(self, seconds: float, deadline: float) -> None:
        super().__init__(connect=seconds, read=seconds)
        self.deadline = deadline

    def clone(self) -> Timeout:
        return DeadlineTimeout(self._connect, self.deadline)  # type: ignore[arg-type]

    def _capped(self, seconds: Any) -> Any:
        # A millisecond at least: past the deadline an attempt times out at once (a socket
        # refuses a negative timeout).
        return max(0.001, min(seconds, self.deadline - time.monotonic()))

    @property
    def connect_timeout(self) -> Any:
        return self._capped(super().connect_timeout)

    @property
    def read_timeout(self) -> Any:
        return self._capped(super().read_timeout)


# 529: Anthropic's overloaded_error, its word for a transient overload (as 503 is others').
RETRY_STATUSES = (429, 500, 502, 503, 504, 529)


def mount_retries(session: requests.Session, config: ProviderConfig,
                  deadline: Callable[[], float] = lambda: math.inf) -> None:
    """Retry transient failures inside a refresh with urllib3's Retry.

    Timeouts, connection errors, 429 and 5xx are retried with exponential backoff and jitter,
    honouring Retry-After up to ``max_retry_after`` seconds; other 4xx are not retried. When
    retries run out on an error status the last answer is returned, so its error body still
    reaches the refresh history. ``deadline``: the refresh's (refresh_timeout), which stops them.
    """
    retry = RetryAfterAware(
        total=config.retries, connect=config.retries, read=config.retries, status=config.retries, other=0,
        allowed_methods=None,  # every call here is a read, POST /api/show included
        status_forcelist=RETRY_STATUSES, backoff_factor=config.retry_backoff,
        backoff_jitter=config.retry_backoff / 2, backoff_max=10, raise_on_status=False,
        respect_retry_after_header=True, retry_after_max=max(0, int(config.max_retry_after)),
        deadline=deadline,
    )
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
