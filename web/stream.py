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
import sys
import weakref
from typing import Any, Optional
from urllib.parse import parse_qs

from loguru import logger

from discovery.messages import EventFilter
from discovery.query import number
from discovery.store import StoredEvent, events_missed
from web.auth import check_access
from web.events import MAX_ID, PAGE_SIZE, EncodedEvents, missed_message
from web.parameters import MAX_QUERY, known_providers, refusal

STREAM_PATH = "/api/v1/events/stream"
# A client this far behind (bytes queued for it and not yet taken by its socket) is dropped; it
# reconnects with Last-Event-ID and catches up from the store.
MAX_BUFFER = 8 * 1024 * 1024
# The thread switch interval while a commit is written to every stream (seconds).
FAN_OUT_SLICE = 0.05
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
    text = query.decode("latin-1")
    why = refusal("events.stream", parse_qs(text, keep_blank_values=True))
    if why is not None:
        raise StreamRequestError(why)
    args = parse_qs(text, keep_blank_values=False)

    def names(key: str) -> tuple[str, ...]:
        return tuple(v.strip() for raw in args.get(key, ()) for v in raw.split(",") if v.strip())

    try:
        # kinds and kind together are one list (their union), as GET /api/v1/events takes them.
        kinds = tuple(dict.fromkeys(names("kinds") + names("kind")))
        flt = EventFilter.build(kinds, names("provider"), names("capability"),
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
        since = number(raw)
    except ValueError:
        raise StreamRequestError(f"{what} must be an event id, got {raw!r}") from None
    if not 0 <= since <= MAX_ID:
        raise StreamRequestError(f"{what} must be between 0 and {MAX_ID}")
    return flt, since


class _Resumed:
    """Awaitable that finishes a coroutine which was started by hand and suspended.

    ``first`` is what the coroutine yielded (the future it waits on); a task awaiting this object
    waits on that future and then drives the coroutine on, exactly as if it had started it.
    """

    __slots__ = ("coro", "first")

    def __init__(self, coro: Any, first: Any):
        self.coro, self.first = coro, first

    def __await__(self):
        value = self.first
        while True:
            try:
                sent = yield value
            except BaseException as exc:  # noqa: BLE001 - handed to the coroutine, as a task would
                try:
                    value = self.coro.throw(exc)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    value = self.coro.send(sent)
                except StopIteration as stop:
                    return stop.value


class _Stream:
    """One open stream: its filter, the last event id it has passed, and how its bytes go out.

    A write is sent at once, in the caller's turn of the event loop: the server's ``send`` only
    suspends when the client's socket is full, and only then does a task take over (the bytes
    that come meanwhile queue behind it). So a commit's fan-out to a thousand streams is a
    thousand socket writes in one pass, not a thousand task switches.
    """

    __slots__ = ("buffer", "closed", "done", "filter", "held", "id", "last", "last_write", "send", "sending",
                 "size")

    def __init__(self, stream_id: int, flt: EventFilter, send: Any):
        self.id = stream_id
        self.filter = flt
        self.last = 0
        self.send = send
        self.buffer: collections.deque[bytes] = collections.deque()
        self.size = 0
        self.sending: Optional[asyncio.Task] = None
        self.closed = False
        self.done = asyncio.Event()
        self.last_write = 0.0
        # Live events that arrived while the stored ones were read (None: not resuming now).
        self.held: Optional[list[StoredEvent]] = None

    def write(self, data: bytes, now: float) -> None:
        """Send ``data`` now if the socket takes it, else queue it behind the send in progress."""
        if not data or self.closed:
            return
        self.last_write = now
        if self.sending is not None:
            self.buffer.append(data)
            self.size += len(data)
            if self.size > MAX_BUFFER:
                self.close()  # too far behind: it reconnects and resumes from the store
            return
        coro = self.send({"type": "http.response.body", "body": data, "more_body": True})
        try:
            first = coro.send(None)
        except StopIteration:
            return
        except Exception:  # noqa: BLE001 - the connection is gone
            self.close()
            return
        self.sending = asyncio.ensure_future(self._finish(_Resumed(coro, first)))

    async def _finish(self, pending: _Resumed) -> None:
        """The socket was full: wait for it, then send what queued meanwhile."""
        try:
            async with asyncio.timeout(SEND_TIMEOUT):
                await pending
            while self.buffer and not self.closed:
                data = b"".join(self.buffer)
                self.buffer.clear()
                self.size = 0
                async with asyncio.timeout(SEND_TIMEOUT):
                    await self.send({"type": "http.response.body", "body": data, "more_body": True})
        except BaseException:  # noqa: BLE001 - a client that stopped reading, or went away
            self.close()
        finally:
            self.sending = None

    def close(self) -> None:
        self.closed = True
        self.done.set()


class StreamHub:
    """Every open event stream of one server, fed from one subscription."""

    def __init__(self, service: Any, max_streams: Optional[int] = None, heartbeat: Optional[float] = None):
        settings = service.settings
        self.service = service
        self.max_streams = settings.sse_max_streams if max_streams is None else max_streams
        self.heartbeat = settings.sse_heartbeat if heartbeat is None else heartbeat
        self.encoded = EncodedEvents()
        self._streams: dict[int, _Stream] = {}
        # Equal filters of open streams share one object (a commit's bytes are built once per
        # filter); an entry goes with the last stream using it (keyed by the fields, which do not
        # hold the filter), so filters clients once streamed with do not pile up.
        self._filters: weakref.WeakValueDictionary = weakref.WeakValueDictionary()
        self._ids = itertools.count(1)
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._heartbeat: Optional[asyncio.Task] = None
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
        # inline: _on_events only hands the batch to the event loop (call_soon_threadsafe).
        # read_only=False: the streams only encode the events (no copy of their data made for them).
        self._unsubscribe = self.service.subscribe(self._on_events, max_batch=10_000, max_delay=0, inline=True,
                                                   read_only=False)
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
        # One pass, not shared with the API's threads: with a short switch interval a thousand
        # writes (about 10 ms of work) would be cut into slices and take several times as long.
        interval = sys.getswitchinterval()
        sys.setswitchinterval(max(interval, FAN_OUT_SLICE))
        try:
            self._write_all(events)
        finally:
            sys.setswitchinterval(interval)

    def _write_all(self, events: tuple[StoredEvent, ...]) -> None:
        # Streams with the same filter at the same position get the same bytes: built once.
        chunks: dict[tuple[int, int], bytes] = {}
        newest = events[-1].id if events else 0
        encode = self.encoded.get
        now = self._loop.time() if self._loop is not None else 0.0
        for stream in list(self._streams.values()):
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
                stream.write(data, now)

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
        query = scope.get("query_string") or b""
        if len(query) > MAX_QUERY:
            await send_json_error(send, 414, "query_too_long", f"the query string is {len(query)} bytes; "
                                                               f"at most {MAX_QUERY}")
            return
        try:
            flt, since = parse_stream_request(query, headers.get("last-event-id"))
        except StreamRequestError as exc:
            await send_json_error(send, 400, "invalid_parameter", str(exc))
            return
        strangers = [p for p in flt.providers if p not in known_providers(self.service)]
        if strangers:
            await send_json_error(send, 400, "invalid_parameter", f"unknown provider {', '.join(strangers)}; "
                                  f"known: {', '.join(sorted(known_providers(self.service)))}")
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
        flt = self._filters.setdefault(flt.key(), flt)
        stream = _Stream(next(self._ids), flt, send)
        # Registered before the newest id is read: nothing committed from here on is missed.
        stream.held = []
        stream.last_write = loop.time()
        self._streams[stream.id] = stream
        self._ensure_heartbeat(loop)
        watcher: Optional[asyncio.Task] = None
        started = False
        try:
            if head_only:
                await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
                return
            watcher = asyncio.ensure_future(self._watch_disconnect(receive, stream))
            # The starting point is fixed before the client sees ": connected": whatever commits
            # after that line reaches it.
            head = await loop.run_in_executor(None, self.service.last_event_id)
            stored: list[StoredEvent] = []
            notice = b""
            if since is None:
                stream.last = head
            elif since > head:
                # A resume point from another feed (or a replaced store): go on from the newest event.
                stream.last = head
                notice = b": resume point %d is past the newest event %d; streaming from there\n\n" % (since, head)
            else:
                stream.last = since
                stored, oldest = await loop.run_in_executor(None, self._backfill, flt, since)
                missed = events_missed(since, oldest)
                if missed:
                    # Retention deleted events after the resume point: the client must know to resync.
                    notice = missed_message(since, oldest, missed)
                if stored:
                    stream.last = max(stream.last, stored[-1].id)
            held, stream.held = stream.held, None
            encode = self.encoded.get
            chunks = [notice] + [encode(e) for e in stored if flt.matches(e)]
            chunks += [encode(e) for e in held if e.id > stream.last and flt.matches(e)]
            if held:
                stream.last = max(stream.last, held[-1].id)
            if self._closing:
                stream.close()
            await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
            started = True
            async with asyncio.timeout(SEND_TIMEOUT):
                await send({"type": "http.response.body", "body": PREAMBLE, "more_body": True})
            stream.write(b"".join(chunks), loop.time())
            await stream.done.wait()
        except (OSError, TimeoutError):
            pass  # the client went away, or stopped reading
        except Exception:  # noqa: BLE001 - one stream's failure must not end others
            logger.exception("event stream {} failed", stream.id)
        finally:
            stream.closed = True
            self._streams.pop(stream.id, None)
            if watcher is not None:
                watcher.cancel()
        if head_only:
            return
        try:
            async with asyncio.timeout(1.0):
                if not started:
                    if not stream.done.is_set():  # failed before the first byte, client still there
                        await send_json_error(send, 503, "unavailable", "the stored feed could not be read; retry")
                    return
                if stream.sending is not None:
                    await asyncio.wait([stream.sending])
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        except Exception:  # noqa: BLE001 - the connection is gone already
            pass

    def _ensure_heartbeat(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._heartbeat is None or self._heartbeat.done():
            self._heartbeat = loop.create_task(self._beat())

    async def _beat(self) -> None:
        """Every stream that sent nothing for a heartbeat interval gets a comment (one timer for all)."""
        loop = asyncio.get_running_loop()
        step = max(0.05, self.heartbeat / 4)
        while self._streams:
            await asyncio.sleep(step)
            now = loop.time()
            for stream in list(self._streams.values()):
                if stream.held is None and now - stream.last_write >= self.heartbeat:
                    stream.write(b": heartbeat\n\n", now)

    def _backfill(self, flt: EventFilter, since: int) -> tuple[list[StoredEvent], int]:
        """On a worker thread: every stored event after ``since`` of the filter's kinds and
        providers, and the oldest event id kept (read after the first page: events pruned while
        it was read count as missed, never silently)."""
        found: list[StoredEvent] = []
        last, oldest = since, None
        while True:
            page = self.service.events_after(last, PAGE_SIZE, flt.kinds, flt.providers)
            if oldest is None:
                oldest = self.service.oldest_event_id()
            found.extend(page)
            if len(page) < PAGE_SIZE:
                return found, oldest
            last = page[-1].id

    @staticmethod
    async def _watch_disconnect(receive: Any, stream: _Stream) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                stream.close()
                return
