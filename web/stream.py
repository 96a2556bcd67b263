"""The live event stream as a native ASGI route: every open stream is a coroutine, not a thread.

One :class:`StreamHub` per server holds one notifier subscription for all its clients. A commit's
events arrive on the notifier's thread and cross to the event loop once; there each stream gets
the bytes of the events its filter wants (each event encoded once, each distinct (filter,
position) joined once) and is woken. A resuming stream (``Last-Event-ID`` or ``?since=``) reads
the stored feed on a worker thread while live events wait in its buffer, so the switch from stored
to live has no gap and no duplicate. The number of open streams is capped (``sse_max_streams``):
past it a client gets 503 with ``Retry-After``, and the API, served by its own threads, never
waits for a stream.
"""
from __future__ import annotations

import asyncio
import collections
import itertools
from typing import Any, Optional
from urllib.parse import parse_qs

from loguru import logger

from discovery.messages import EventFilter
from discovery.store import StoredEvent
from web.auth import check_access
from web.events import MAX_ID, PAGE_SIZE, EncodedEvents

STREAM_PATH = "/api/v1/events/stream"
# A client this far behind (bytes queued for it and not yet taken by its socket) is dropped; it
# reconnects with Last-Event-ID and catches up from the store.
MAX_BUFFER = 8 * 1024 * 1024
# A client whose socket takes nothing for this long is dropped (it stopped reading).
SEND_TIMEOUT = 30.0
PREAMBLE = b"retry: 2000\n: connected\n\n"
HEADERS = [(b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache"),
           (b"x-accel-buffering", b"no")]


async def send_json_error(send: Any, status: int, code: str, message: str,
                          headers: Optional[dict[str, str]] = None) -> None:
    """An ASGI answer with the API's JSON error body."""
    from discovery.model import dumps

    body = dumps({"error": {"code": code, "message": message}})
    extra = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *extra]})
    await send({"type": "http.response.body", "body": body})


class StreamRequestError(ValueError):
    """A stream request with a malformed filter or resume point."""


def parse_stream_request(query: bytes, last_event_id: Optional[str]) -> tuple[EventFilter, Optional[int]]:
    """The filter and resume point of a stream request (``Last-Event-ID`` wins over ``since``)."""
    args = parse_qs(query.decode("latin-1"), keep_blank_values=False)

    def names(key: str) -> tuple[str, ...]:
        return tuple(v.strip() for raw in args.get(key, ()) for v in raw.split(",") if v.strip())

    try:
        flt = EventFilter.build(names("kinds") or names("kind"), names("provider"), names("capability"),
                                (args.get("model") or [None])[0])
    except ValueError as exc:
        raise StreamRequestError(str(exc)) from None
    if last_event_id is not None and last_event_id.strip():
        raw, what = last_event_id.strip(), "Last-Event-ID"
    elif args.get("since"):
        raw, what = args["since"][0].strip(), "since"
    else:
        return flt, None
    try:
        since = int(raw)
    except ValueError:
        raise StreamRequestError(f"{what} must be an event id, got {raw!r}") from None
    if not 0 <= since <= MAX_ID:
        raise StreamRequestError(f"{what} must be between 0 and {MAX_ID}")
    return flt, since


class _Stream:
    """One open stream: its filter, the last event id it has passed, and bytes waiting to be sent."""

    __slots__ = ("buffer", "closed", "filter", "held", "id", "last", "size", "wake")

    def __init__(self, stream_id: int, flt: EventFilter, last: int):
        self.id = stream_id
        self.filter = flt
        self.last = last
        self.buffer: collections.deque[bytes] = collections.deque()
        self.size = 0
        self.wake = asyncio.Event()
        self.closed = False
        # Live events that arrived while the stored ones were read (None: not resuming now).
        self.held: Optional[list[StoredEvent]] = None

    def push(self, data: bytes) -> None:
        if data and not self.closed:
            self.buffer.append(data)
            self.size += len(data)
            if self.size > MAX_BUFFER:
                self.close()  # too far behind: it resumes from the store
            self.wake.set()

    def close(self) -> None:
        self.closed = True
        self.wake.set()


class StreamHub:
    """Every open event stream of one server, fed from one subscription."""

    def __init__(self, service: Any, max_streams: Optional[int] = None, heartbeat: Optional[float] = None):
        settings = service.settings
        self.service = service
        self.max_streams = settings.sse_max_streams if max_streams is None else max_streams
        self.heartbeat = settings.sse_heartbeat if heartbeat is None else heartbeat
        self.encoded = EncodedEvents()
        self._streams: dict[int, _Stream] = {}
        self._filters: dict[EventFilter, EventFilter] = {}
        self._ids = itertools.count(1)
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._unsubscribe: Any = None
        self._closing = False

    @property
    def stream_count(self) -> int:
        """Streams open now."""
        return len(self._streams)

    # -- life cycle ----------------------------------------------------------------------------------
    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Subscribe to every committed event; events are handed to ``loop`` (idempotent)."""
        if self._loop is not None:
            return
        self._loop = loop
        self._unsubscribe = self.service.subscribe(self._on_events, max_batch=10_000, max_delay=0)
        # begin_shutdown() ends every stream: it calls put(None) on what is registered.
        self.service.register_stream(self)
        logger.info("event stream: at most {} open streams", self.max_streams)

    def stop(self) -> None:
        """End every stream and drop the subscription (idempotent; any thread)."""
        self.put(None)
        if self._unsubscribe is not None:
            unsubscribe, self._unsubscribe = self._unsubscribe, None
            self.service.unregister_stream(self)
            unsubscribe()

    def put(self, item: Any) -> None:
        """``None`` (the service is stopping): every stream ends now. Thread-safe."""
        if item is None and self._loop is not None and not self._loop.is_closed():
            try:
                self._loop.call_soon_threadsafe(self._close_all)
            except RuntimeError:
                pass  # the loop has stopped

    def _close_all(self) -> None:
        self._closing = True
        for stream in list(self._streams.values()):
            stream.close()

    # -- the notifier's thread -------------------------------------------------------------------------
    def _on_events(self, events: tuple[StoredEvent, ...]) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(self._fan_out, events)
            except RuntimeError:
                pass

    # -- the event loop ------------------------------------------------------------------------------
    def _fan_out(self, events: tuple[StoredEvent, ...]) -> None:
        # Streams with the same filter at the same position get the same bytes: built once.
        chunks: dict[tuple[int, int], bytes] = {}
        newest = events[-1].id if events else 0
        encode = self.encoded.get
        for stream in self._streams.values():
            if stream.held is not None:
                stream.held.extend(events)
                continue
            key = (id(stream.filter), stream.last)
            data = chunks.get(key)
            if data is None:
                flt, last = stream.filter, stream.last
                data = chunks[key] = b"".join([encode(e) for e in events if e.id > last and flt.matches(e)])
            if newest > stream.last:
                stream.last = newest
            if data:
                stream.push(data)

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        """Serve ``GET /api/v1/events/stream`` (see the module docstring)."""
        if scope["method"] not in ("GET", "HEAD"):
            await send_json_error(send, 405, "method_not_allowed", "the event stream is read with GET",
                                  {"Allow": "GET, HEAD"})
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers") or ()}
        settings = self.service.settings
        client = scope.get("client")
        refusal = check_access("GET", STREAM_PATH, client[0] if client else None, headers.get("authorization"),
                               settings.admin_token, settings.read_token)
        if refusal is not None:
            await send_json_error(send, refusal.status, refusal.code, refusal.message, refusal.headers)
            return
        try:
            flt, since = parse_stream_request(scope.get("query_string") or b"", headers.get("last-event-id"))
        except StreamRequestError as exc:
            await send_json_error(send, 400, "invalid_parameter", str(exc))
            return
        if self._closing or self.service.closing.is_set():
            await send_json_error(send, 503, "stopping", "the service is stopping", {"Retry-After": "5"})
            return
        if len(self._streams) >= self.max_streams:
            await send_json_error(send, 503, "too_many_streams",
                                  f"{self.max_streams} event streams are open, the most this server holds; "
                                  "try again later", {"Retry-After": "10"})
            return
        self.start(asyncio.get_running_loop())
        await self._stream(flt, since, receive, send, scope["method"] == "HEAD")

    async def _stream(self, flt: EventFilter, since: Optional[int], receive: Any, send: Any, head_only: bool) -> None:
        loop = asyncio.get_running_loop()
        flt = self._filters.setdefault(flt, flt)
        stream = _Stream(next(self._ids), flt, 0)
        # Registered before the newest id is read: nothing committed from here on is missed.
        self._streams[stream.id] = stream
        stream.held = []
        watcher: Optional[asyncio.Task] = None
        try:
            await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
            if head_only:
                return
            await _send_body(send, PREAMBLE)
            watcher = asyncio.ensure_future(self._watch_disconnect(receive, stream))
            head = await loop.run_in_executor(None, self.service.last_event_id)
            stored: list[StoredEvent] = []
            if since is None:
                stream.last = head
            elif since > head:
                # A resume point from another feed (or a replaced store): go on from the newest event.
                stream.last = head
                stream.push(b": resume point %d is past the newest event %d; streaming from there\n\n"
                            % (since, head))
            else:
                stream.last = since
                stored = await loop.run_in_executor(None, self._backfill, flt, since)
                if stored:
                    stream.last = max(stream.last, stored[-1].id)
            held, stream.held = stream.held, None
            encode = self.encoded.get
            chunks = [encode(e) for e in stored if flt.matches(e)]
            chunks += [encode(e) for e in held if e.id > stream.last and flt.matches(e)]
            if held:
                stream.last = max(stream.last, held[-1].id)
            stream.push(b"".join(chunks))
            await self._pump(stream, send)
        except (OSError, TimeoutError):
            pass  # the client went away, or stopped reading
        except Exception:  # noqa: BLE001 - one stream's failure must not end others
            logger.exception("event stream {} failed", stream.id)
        finally:
            self._streams.pop(stream.id, None)
            if watcher is not None:
                watcher.cancel()
        if not head_only:
            try:
                async with asyncio.timeout(1.0):
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
            except Exception:  # noqa: BLE001 - the connection is gone already
                pass

    def _backfill(self, flt: EventFilter, since: int) -> list[StoredEvent]:
        """On a worker thread: every stored event after ``since`` of the filter's kinds and providers."""
        found: list[StoredEvent] = []
        last = since
        while True:
            page = self.service.events_after(last, PAGE_SIZE, flt.kinds, flt.providers)
            found.extend(page)
            if len(page) < PAGE_SIZE:
                return found
            last = page[-1].id

    @staticmethod
    async def _watch_disconnect(receive: Any, stream: _Stream) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                stream.close()
                return

    async def _pump(self, stream: _Stream, send: Any) -> None:
        """Send what the stream's buffer holds as it comes; a heartbeat comment when nothing did."""
        while not stream.closed:
            if not stream.buffer:
                stream.wake.clear()
                try:
                    async with asyncio.timeout(self.heartbeat):
                        await stream.wake.wait()
                except TimeoutError:
                    await _send_body(send, b": heartbeat\n\n")
                    continue
            if stream.buffer:
                data = b"".join(stream.buffer) if len(stream.buffer) > 1 else stream.buffer[0]
                stream.buffer.clear()
                stream.size = 0
                await _send_body(send, data)
        if stream.size > MAX_BUFFER:
            await _send_body(send, b": too far behind; reconnect with Last-Event-ID to catch up from the stored feed\n\n")


async def _send_body(send: Any, data: bytes) -> None:
    """One piece of the stream; a client that takes none of it for SEND_TIMEOUT seconds is dropped."""
    async with asyncio.timeout(SEND_TIMEOUT):
        await send({"type": "http.response.body", "body": data, "more_body": True})
