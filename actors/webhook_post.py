"""One webhook POST: the signed batch sent to the very address that was checked, bounded by one
deadline, cut at once when the service stops.

Runs on the dispatcher's worker threads (``actors.webhooks``); it touches no actor and no table,
and says how the POST ended in a :class:`PostResult`.
"""
from __future__ import annotations

import http.client
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import certifi
import urllib3
import urllib3.connection

from discovery.redaction import excerpt, scrub
from discovery.webhooks import Delivery, InvalidWebhookURL, resolve_host, resolve_webhook_target

# What a failure keeps of the receiver's answer.
ERROR_BODY_BYTES = 512


@dataclass(frozen=True)
class PostResult:
    """How one POST ended (made on a worker thread, read by the actor)."""

    ok: bool
    status_code: int | None
    error: str | None
    duration_ms: float


MIN_URL_PIECE = 8


def redact(text: str, url: str) -> str:
    """``text`` with the URL's path and query cut out, whole or apart, as sent or decoded: they may
    carry the receiver's own tokens (a receiver's error page may echo them, a library's message
    may quote them)."""
    parts = urlsplit(url)
    tail = url[len(f"{parts.scheme}://{parts.netloc}"):]
    pieces = {tail, parts.path, parts.query, f"?{parts.query}" if parts.query else "", parts.fragment}
    # Each segment of the path and each value of the query that could be a token on its own (8
    # characters or more, as for every secret the service masks).
    pieces |= {segment for segment in parts.path.split("/") if len(segment) >= MIN_URL_PIECE}
    pieces |= {value for _, value in parse_qsl(parts.query, keep_blank_values=True) if len(value) >= MIN_URL_PIECE}
    pieces |= {unquote(p) for p in pieces}
    for piece in sorted((p for p in pieces if p not in ("", "/", "?") and len(p) > 1), key=len, reverse=True):
        text = text.replace(piece, "…")
    return text


def describe_url(url: str) -> str:
    """What logs show of a webhook URL: scheme and host only."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}"


class InFlight:
    """The connections of the POSTs in flight, so that a stop can cut them at once (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._connections: set[Any] = set()
        self.closed = False

    def add(self, conn: Any) -> bool:
        """Track ``conn``; False once closed (the POST is not to be sent)."""
        with self._lock:
            if not self.closed:
                self._connections.add(conn)
            return not self.closed

    def discard(self, conn: Any) -> None:
        with self._lock:
            self._connections.discard(conn)

    def close(self) -> None:
        """Cut every POST in flight (its worker sees a failure and ends); refuse new ones."""
        with self._lock:
            self.closed = True
            connections, self._connections = list(self._connections), set()
        for conn in connections:
            cut(conn)


def cut(conn: Any) -> None:
    """Shut a connection's socket down, so that a read blocked on it in another thread returns now
    (closing the descriptor alone does not wake it)."""
    sock = getattr(conn, "sock", None)
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # not connected yet, or already closed


def post_delivery(url: str, delivery: Delivery, timeout: float, allow_private: bool,
                  resolver: Callable[[str, int], Any] = resolve_host, inflight: InFlight | None = None) -> PostResult:
    """POST one signed batch; 2xx is an acknowledgement, anything else (or no answer) a failure.

    The host is resolved and checked once, here, and the connection goes to the very address
    that was checked (``Host`` and the TLS server name still come from the URL): a name that
    resolves elsewhere a moment later (DNS rebinding) cannot redirect the POST.

    ``timeout`` bounds each connect and read and the whole POST: a receiver that answers a byte at
    a time, each within the read timeout, is cut at the deadline and the POST is a failure, so it
    holds its worker no longer than any other unanswered POST.
    """
    started = time.perf_counter()

    def elapsed() -> float:
        return (time.perf_counter() - started) * 1000

    try:
        target = resolve_webhook_target(url, allow_private, resolver)
    except InvalidWebhookURL as exc:
        return PostResult(False, None, scrub(f"refused: {exc}"), elapsed())
    address = target.addresses[0].split("%", 1)[0]
    conn: urllib3.connection.HTTPConnection
    if target.scheme == "https":
        conn = urllib3.connection.HTTPSConnection(
            address, target.port, timeout=timeout, server_hostname=target.host, assert_hostname=target.host,
            cert_reqs="CERT_REQUIRED", ca_certs=certifi.where())
    else:
        conn = urllib3.connection.HTTPConnection(address, target.port, timeout=timeout)
    if inflight is not None and not inflight.add(conn):
        return PostResult(False, None, "not sent: the service is stopping", elapsed())
    expired = threading.Event()

    def expire() -> None:
        expired.set()
        cut(conn)

    deadline = threading.Timer(timeout, expire)
    deadline.daemon = True
    deadline.name = "webhook-deadline"
    deadline.start()
    error: str | None = None
    try:
        conn.connect()
        if inflight is not None and inflight.closed:  # stopped while connecting: nothing is sent
            return PostResult(False, None, "not sent: the service is stopping", elapsed())
        if expired.is_set():  # the deadline passed while connecting, before there was a socket to cut
            return PostResult(False, None, f"no complete answer within {timeout:g}s", elapsed())
        conn.request("POST", target.target, body=delivery.body,
                     headers={**delivery.headers, "Host": target.host_header}, preload_content=False)
        resp = conn.getresponse()
        status = resp.status
        snippet = b"" if 200 <= status < 300 else resp.read(ERROR_BODY_BYTES, decode_content=True)
    except urllib3.exceptions.NewConnectionError as exc:
        # Refused, unreachable, reset while connecting: said so (urllib3 makes it a kind of
        # connect timeout, and it was reported as no answer within the timeout).
        cause = exc.__cause__ if isinstance(exc.__cause__, OSError) else None
        error = scrub(redact(f"could not connect: {type(cause).__name__ if cause else type(exc).__name__}"
                             + (f" ({cause.strerror})" if cause is not None and cause.strerror else ""), url))
    except (TimeoutError, urllib3.exceptions.TimeoutError):
        expired.set()  # a connect or read timeout: no answer within ``timeout`` either
    except (urllib3.exceptions.HTTPError, OSError, http.client.HTTPException, ValueError) as exc:
        # ValueError: a certificate for another name (urllib3's CertificateError) and bad headers.
        error = scrub(redact(f"{type(exc).__name__}: {exc}", url))
    finally:
        deadline.cancel()
        if inflight is not None:
            inflight.discard(conn)
        conn.close()
    # A cut connection can still look answered (the headers read up to the cut), so a cut POST is
    # a failure whatever was read.
    if expired.is_set():
        return PostResult(False, None, f"no complete answer within {timeout:g}s", elapsed())
    if inflight is not None and inflight.closed:
        return PostResult(False, None, "cut short: the service is stopping", elapsed())
    if error is not None:
        return PostResult(False, None, error, elapsed())
    if 200 <= status < 300:
        return PostResult(True, status, None, elapsed())
    body = redact(snippet.decode("utf-8", "replace").strip(), url)
    return PostResult(False, status, scrub(f"HTTP {status}" + (f": {excerpt(body, 200)}" if body else "")), elapsed())
