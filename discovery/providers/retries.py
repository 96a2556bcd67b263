"""Retries inside one refresh: urllib3's Retry mounted on a provider's session, reading
Retry-After safely (and, for a 429 without one, the provider's rate-limit reset headers) and
stopping at the refresh's deadline; a request timeout capped by it too."""
from __future__ import annotations

import math
import re
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


# A Go duration, as OpenAI and Groq write their rate limits' resets: "6m0s", "1.5s", "20ms", "1h2m".
_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(h|ms|us|µs|ns|m|s)")
_DURATION_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
# The rate limits a provider reports, as (remaining, reset) header pairs: OpenAI's and Groq's
# (x-ratelimit-remaining-requests, x-ratelimit-reset-requests) and Anthropic's
# (anthropic-ratelimit-requests-remaining, anthropic-ratelimit-requests-reset, an RFC 3339 time).
RATE_LIMIT_HEADERS = tuple(
    [(f"x-ratelimit-remaining-{kind}", f"x-ratelimit-reset-{kind}") for kind in ("requests", "tokens")]
    + [(f"anthropic-ratelimit-{kind}-remaining", f"anthropic-ratelimit-{kind}-reset")
       for kind in ("requests", "tokens", "input-tokens", "output-tokens")])


def parse_reset(value: Optional[str]) -> Optional[float]:
    """Seconds until a rate limit resets, from its reset header: a Go duration (``6m0s``,
    ``1.5s``, ``20ms``), plain seconds, or an RFC 3339 time (Anthropic's); None for anything
    else. Never raises."""
    if not value:
        return None
    text = value.strip()
    seconds: Optional[float] = None
    if _DURATION.sub("", text) == "" and text:
        seconds = sum(float(number) * _DURATION_UNITS[unit] for number, unit in _DURATION.findall(text))
    else:
        try:
            seconds = float(text)
        except ValueError:
            try:
                when = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
            except ValueError:
                return None
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            try:
                seconds = (when - datetime.now(UTC)).total_seconds()
            except OverflowError:
                return None
    if not math.isfinite(seconds):
        return None if math.isnan(seconds) else MAX_RETRY_AFTER_SECONDS
    return min(max(0.0, seconds), MAX_RETRY_AFTER_SECONDS)


def rate_limit_reset(headers: Any) -> Optional[float]:
    """Seconds until the provider's exhausted rate limits have all reset, from its rate-limit
    headers (a limit whose ``remaining`` is 0 and whose ``reset`` can be read); None when no
    limit says it is exhausted. For an answer without Retry-After: OpenAI and Groq send only
    these, and a 429 is then waited out until the reset instead of the backoff."""
    waits = []
    for remaining, reset in RATE_LIMIT_HEADERS:
        left = headers.get(remaining)
        if left is None or left.strip() != "0":
            continue
        seconds = parse_reset(headers.get(reset))
        if seconds is not None:
            waits.append(seconds)
    return max(waits) if waits else None


def asked_wait(headers: Any) -> Optional[float]:
    """The wait an answer asks for: its Retry-After, else when its exhausted rate limits reset."""
    seconds = parse_retry_after(headers.get("Retry-After"))
    return seconds if seconds is not None else rate_limit_reset(headers)


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

    def get_retry_after(self, response: Any) -> Optional[float]:
        """The answer's Retry-After, else (a 429 without one) when its exhausted rate limits
        reset (:func:`rate_limit_reset`); at most ``retry_after_max``."""
        if response.headers.get("Retry-After") is not None:
            return super().get_retry_after(response)
        if response.status != 429:
            return None
        seconds = rate_limit_reset(response.headers)
        return None if seconds is None else min(seconds, self.retry_after_max)

    def increment(self, method: Optional[str] = None, url: Optional[str] = None, response: Any = None,
                  error: Optional[Exception] = None, _pool: Any = None, _stacktrace: Any = None) -> Retry:
        """As urllib3's, but an answer asking for a longer wait than ``retry_after_max`` is not
        retried: it is the refresh's answer (failed, rate_limited for a 429), as the settings say.
        urllib3 caps such a wait and retries, early, an answer that asked for an hour."""
        if response is not None and self.respect_retry_after_header:
            wait = (asked_wait(response.headers) if response.status == 429
                    else parse_retry_after(response.headers.get("Retry-After")))
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
