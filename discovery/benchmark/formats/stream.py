"""What every HTTP probe shares: the streamed POST, its error statuses, and SSE and NDJSON readers.

Benchmark requests get their own session without urllib3 retries: a retried request would time
the retry, not the provider. Bodies are read with ``read1`` (whatever has arrived), so a piece is
timed when it arrives, whatever the transfer encoding; an overall deadline bounds a stream that
drips, and a size limit one that never ends.
"""
from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Mapping
from typing import Any, Optional

import orjson
import requests
from urllib3 import exceptions as urllib3_exceptions

from discovery.benchmark.sample import StreamBroken, StreamClock
from discovery.providers.base import ProviderClient
from discovery.providers.errors import (
    MalformedAnswer,
    ProviderAuthError,
    ProviderError,
    ProviderHTTPError,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnreachable,
    redirect_refused,
)
from discovery.redaction import excerpt
from discovery.sse import parse_sse

MAX_STREAM_BYTES = 8 << 20


def error_text(body: bytes) -> str:
    """The provider's own error message from an error body, in one line."""
    try:
        parsed: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        parsed = None
    if isinstance(parsed, list) and parsed:
        parsed = parsed[0]
    if isinstance(parsed, Mapping):
        err = parsed.get("error")
        if isinstance(err, Mapping) and err.get("message"):
            return excerpt(str(err["message"]), 300)
        if isinstance(err, str):
            return excerpt(err, 300)
        for key in ("message", "detail", "Message"):
            if parsed.get(key):
                return excerpt(str(parsed[key]), 300)
    text = body[:2048].decode("utf-8", "replace").strip()
    return "" if text.lower().startswith(("<!doctype", "<html")) else excerpt(" ".join(text.split()), 300)


class HTTPProbe:
    """Streams one request at a time to a provider with its own key and base URL (from ``client``)."""

    def __init__(self, client: ProviderClient, session: requests.Session, timeout: float):
        self.client = client
        self.session = session
        self.timeout = timeout
        self.name = client.name

    @property
    def deadline_seconds(self) -> float:
        """The longest a whole answer may take."""
        return self.timeout * 3

    def post(self, url: str, body: Mapping[str, Any], params: Optional[Mapping[str, str]] = None) -> requests.Response:
        """POST ``body`` as JSON and return the response once its headers arrived; error statuses raise."""
        headers = {"Content-Type": "application/json", **self.client.auth_headers()}
        try:
            # Redirects are not followed (as for listing): the key header would go along.
            resp = self.session.post(url, data=orjson.dumps(body), params=params, headers=headers,
                                     timeout=self.timeout, stream=True, allow_redirects=False)
        except requests.Timeout:
            raise ProviderTimeout(f"no answer from {self.name} within {self.timeout:g}s") from None
        except requests.ConnectionError:
            raise ProviderUnreachable(f"cannot connect to {self.name} at {url.split('?')[0]}") from None
        if resp.status_code >= 400:
            try:
                body_bytes = resp.raw.read(65536, decode_content=True) or b""
            except Exception:  # an error body that breaks off still has its status
                body_bytes = b""
            finally:
                resp.close()
            self.raise_for_status(resp.status_code, resp.headers, body_bytes)
        if 300 <= resp.status_code < 400:
            resp.close()
            raise redirect_refused(self.name, resp.status_code, resp.headers.get("Location"))
        return resp

    def raise_for_status(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        """The ProviderError of an error status, with the provider's message."""
        text = f"{self.name} answered HTTP {status}: {error_text(body) or 'no message'}"
        try:
            parsed: Any = orjson.loads(body)
        except orjson.JSONDecodeError:
            parsed = None
        retry_after = self.client.retry_after(headers, parsed)  # Retry-After, or the format's own way (Gemini's)
        if self.client.key_refused(status, parsed):  # 401/403, and the format's own way (Gemini's 400)
            raise ProviderAuthError(text, status=status)
        if status == 429:
            raise ProviderRateLimited(text, status=status, retry_after=retry_after)
        raise ProviderHTTPError(text, status=status, retry_after=retry_after)

    def chunks(self, resp: requests.Response) -> Iterator[bytes]:
        """The body as it arrives, within the deadline and size limit; a cut stream raises StreamBroken."""
        deadline = time.monotonic() + self.deadline_seconds
        size = 0
        try:
            while True:
                chunk = resp.raw.read1(65536, decode_content=True)
                if not chunk:
                    return
                size += len(chunk)
                if size > MAX_STREAM_BYTES:
                    raise MalformedAnswer(f"{self.name} streamed more than {MAX_STREAM_BYTES >> 20} MiB")
                if time.monotonic() > deadline:
                    raise ProviderTimeout(f"{self.name} did not finish its answer within {self.deadline_seconds:g}s")
                yield chunk
        except (requests.exceptions.ConnectionError, urllib3_exceptions.ReadTimeoutError):
            raise ProviderTimeout(f"{self.name} stopped sending mid-answer (read timeout)") from None
        except (urllib3_exceptions.ProtocolError, requests.exceptions.ChunkedEncodingError,
                urllib3_exceptions.DecodeError):
            raise StreamBroken(f"{self.name} broke the connection mid-answer") from None
        finally:
            resp.close()

    def lines(self, resp: requests.Response) -> Iterator[bytes]:
        """The body's lines (CR LF or LF), as each arrives."""
        pending = b""
        for chunk in self.chunks(resp):
            pending += chunk
            *complete, pending = pending.split(b"\n")
            for line in complete:
                yield line.rstrip(b"\r")
        if pending.strip():
            yield pending.rstrip(b"\r")

    def sse(self, resp: requests.Response) -> Iterator[tuple[Optional[str], str]]:
        """Server-Sent Events as (event name or None, data), each as it arrives."""
        for event in parse_sse((raw.decode("utf-8", "replace") for raw in self.lines(resp)), keep_unterminated=True):
            yield event.event, event.data


def parse_json(name: str, data: str | bytes) -> Any:
    """One frame's JSON; MalformedAnswer if it is not JSON."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        raise MalformedAnswer(f"{name} streamed a frame that is not JSON: {excerpt(str(data), 80)!r}") from None


@contextlib.contextmanager
def marking(clock: StreamClock) -> Iterator[None]:
    """Note on a failure whether answer text had arrived before it (``after_first_token``)."""
    try:
        yield
    except ProviderError as exc:
        exc.after_first_token = clock.answered  # type: ignore[attr-defined]
        raise


def nested(body: Any, *path: Any) -> Any:
    """``body[p0][p1]...`` or None where a step is missing (lists take integer steps)."""
    value = body
    for key in path:
        if isinstance(key, int):
            value = value[key] if isinstance(value, list) and len(value) > key else None
        else:
            value = value.get(key) if isinstance(value, Mapping) else None
        if value is None:
            return None
    return value


def int_or_none(value: Any) -> Optional[int]:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
