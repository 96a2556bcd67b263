"""The HTTP/1.1 connection: uvicorn's httptools protocol with a bounded request head.

httptools takes a request line and headers of any size, and its parser joins a header's value
chunk by chunk (quadratic, holding the interpreter lock): one client sending a 200 MB header
made ``/healthz`` take 7-15 s, a 1 GB one five minutes, and nothing else ran meanwhile. Nor
does it give up on a head that arrives a byte at a time. Here a request head is at most
:data:`MAX_HEAD_BYTES` (a 431 past it) and must be complete within :data:`HEAD_SECONDS` of its
first byte, or of the connection's start (a 408); either answer is JSON, as every error of the
service, and closes the connection before the parser is fed more.
"""
from __future__ import annotations

import asyncio
import json
from typing import Any, Optional

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

# The request line and every header together. The API refuses a query string past 40 KiB (414)
# on its own; browsers and proxies send a few KiB.
MAX_HEAD_BYTES = 64 * 1024
HEAD_SECONDS = 10.0
END_OF_HEAD = b"\r\n\r\n"


class BoundedHeadProtocol(HttpToolsProtocol):
    """:class:`HttpToolsProtocol` that counts each request head's bytes before the parser sees them."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_open = True  # bytes now are a request head's
        self._head_bytes = 0
        self._tail = b""  # the last bytes of the head so far: its end may straddle two reads
        self._head_timer: Optional[asyncio.TimerHandle] = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()  # a connection that sends nothing is closed too

    def connection_lost(self, exc: Optional[Exception]) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._head_open:
            seen = self._tail + data
            end = seen.find(END_OF_HEAD)
            used = len(data) if end < 0 else end + len(END_OF_HEAD) - len(self._tail)
            if self._head_bytes + used > MAX_HEAD_BYTES:
                self._refuse(431, "headers_too_large", f"the request line and headers are over {MAX_HEAD_BYTES} bytes")
                return
            if end < 0:
                self._head_bytes += len(data)
                self._tail = seen[-(len(END_OF_HEAD) - 1):]
        super().data_received(data)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()

    def on_headers_complete(self) -> None:
        self._head_open = False
        self._disarm()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        # What follows this request's body is the next request's head.
        self._head_open, self._head_bytes, self._tail = True, 0, b""
        super().on_message_complete()

    def _arm(self) -> None:
        if self._head_timer is None and self._head_open:
            self._head_timer = self.loop.call_later(HEAD_SECONDS, self._too_slow)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _too_slow(self) -> None:
        self._head_timer = None
        if not self._head_open or self.transport is None or self.transport.is_closing():
            return
        if self._head_bytes or self._tail:
            self._refuse(408, "request_timeout", f"the request's headers did not arrive within {HEAD_SECONDS:g}s")
        else:
            self.transport.close()  # nothing asked: nothing to answer

    def _refuse(self, status: int, code: str, message: str) -> None:
        """Answer ``status`` with the service's JSON error body, then close the connection."""
        self._disarm()
        self._head_open = False
        body = json.dumps({"error": {"code": code, "message": message}}).encode()
        head = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            head += [name, b": ", value, b"\r\n"]
        head += [b"content-type: application/json\r\ncontent-length: ", str(len(body)).encode(),
                 b"\r\nconnection: close\r\n\r\n"]
        self.transport.write(b"".join(head) + body)
        self.transport.close()
        self.logger.warning("%s %s: %s", self.client[0] if self.client else "-", status, message)
