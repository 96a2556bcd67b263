"""How a refresh fails: :class:`ProviderError` and its kinds, each with a ``reason`` a person can
act on (scrubbed of secrets, one bounded line), and the readings of providers' error answers."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional
from urllib.parse import urlsplit

from discovery.redaction import excerpt, scrub

# The longest error reason kept: it goes into the run, the provider's status, its health history,
# a status_changed event and the log, each time the provider fails.
MAX_REASON_CHARS = 500


def one_line(text: str, limit: int = MAX_REASON_CHARS) -> str:
    """``text`` on one line (runs of white space, newlines included, as one space), cut to ``limit``
    characters with how many more there were."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    return f"{flat[:limit]}… ({len(flat) - limit} characters more)"


class ProviderError(Exception):
    """A refresh failed. ``kind`` says how; ``retryable`` whether trying again may help."""

    kind = "error"
    retryable = False

    def __init__(self, message: str, *, status: Optional[int] = None, retry_after: Optional[float] = None):
        # Providers echo keys in their error bodies: the text is scrubbed before anything keeps it
        # (all of it, so no secret is cut in two and missed), then made one bounded line.
        super().__init__(one_line(scrub(message)))
        self.status = status
        self.retry_after = retry_after

    @property
    def reason(self) -> str:
        """One line for refresh history and provider status."""
        return f"{self.kind}: {self}"


class ProviderHTTPError(ProviderError):
    """The provider answered with an error status."""

    kind = "http"

    @property
    def retryable(self) -> bool:  # type: ignore[override]
        return self.status is not None and (self.status == 429 or self.status >= 500)


class ProviderAuthError(ProviderHTTPError):
    """401/403: a configuration problem (key missing, wrong or without access), not an outage."""

    kind = "auth"


class ProviderRateLimited(ProviderHTTPError):
    """429 Too Many Requests."""

    kind = "rate_limited"


class ProviderTimeout(ProviderError):
    """The provider did not answer within the timeout."""

    kind = "timeout"
    retryable = True


class ProviderUnreachable(ProviderError):
    """The connection could not be made."""

    kind = "connection"
    retryable = True


class MalformedAnswer(ProviderError):
    """The provider answered 2xx but the body is not what its format says."""

    kind = "malformed"


# What JSON readers raise for an answer that is JSON in form but that nothing here can read: one
# nested deeper than the parsers (and the record encoder) recurse, or one whose strings are not
# UTF-8 (msgspec passes over the bytes of a member it keeps as a span; they fail when it is read).
UNREADABLE = (RecursionError, UnicodeDecodeError)


def unreadable_answer(name: str, exc: BaseException) -> MalformedAnswer:
    """The :class:`MalformedAnswer` for one of :data:`UNREADABLE`, saying which it was."""
    if isinstance(exc, UnicodeDecodeError):
        return MalformedAnswer(f"{name} answered with text that is not UTF-8 (byte {exc.object[exc.start]:#04x})")
    return MalformedAnswer(f"{name} answered with JSON nested too deeply to read")


class SuspiciousSnapshot(ProviderError):
    """An answer that would wipe or gut the catalog (empty, or losing too many models)."""

    kind = "refused"


def error_message(body: Any) -> Optional[str]:
    """Pull the human message out of any of the documented provider error bodies."""
    if isinstance(body, Mapping):
        err = body.get("error")
        if isinstance(err, Mapping):
            msg = err.get("message") or err.get("status")
            code = err.get("code") or err.get("type") or err.get("status")
            if msg:
                return f"{msg} ({code})" if code and str(code) not in str(msg) else str(msg)
        if isinstance(err, str):
            return err
        for key in ("message", "detail", "Message"):
            if body.get(key):
                return str(body[key])
    return None


def plain_snippet(body: bytes, size: int = 120) -> str:
    """A one-line excerpt of a non-JSON error body; HTML pages are not quoted."""
    text = body[:2048].decode("utf-8", "replace").strip()
    if text.lower().startswith(("<!doctype", "<html")):
        return ""
    return excerpt(" ".join(text.split()), size)


def redirect_refused(name: str, status: int, location: Optional[str]) -> ProviderHTTPError:
    """The error of a redirect, which is never followed: a key header other than Authorization
    (x-api-key, api-key, x-goog-api-key) would travel to wherever it points. Only the target's
    scheme and host are named (its path and query may echo the key)."""
    try:
        target = urlsplit(location or "")
        where = f" to {target.scheme}://{target.hostname}" if target.hostname else ""
    except ValueError:
        where = ""
    return ProviderHTTPError(f"{name} answered HTTP {status}: a redirect{where}; redirects are not followed "
                             "(check base_url)", status=status)
