"""The event feed: a page of the persisted outbox, and a live Server-Sent Events stream that resumes.

A stream that resumes (``Last-Event-ID`` or ``?since=``) subscribes to live events first, then
reads the stored feed after the resume point, then serves the live events, dropping any whose id
it has already passed: every event exactly once, in order, with no gap between stored and live.
"""
from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from discovery.messages import EventFilter
from discovery.model import dumps
from discovery.store import StoredEvent
from web.context import int_arg, service
from web.errors import ApiError

bp = Blueprint("events", __name__, url_prefix="/api/v1")

PAGE_SIZE = 500
# Pages a request may scan when the capability or model filter skips many events.
MAX_SCAN_PAGES = 20
# A client this many batches behind is dropped; it reconnects with Last-Event-ID and catches up
# from the store, so a stalled reader never holds an unbounded queue in memory.
MAX_QUEUED_BATCHES = 10_000
MAX_ID = 2**62


def _list(name: str) -> tuple[str, ...]:
    return tuple(v.strip() for raw in request.args.getlist(name) for v in raw.split(",") if v.strip())


def event_filter() -> EventFilter:
    """The filter of a feed request: ``kinds``, ``provider``, ``capability`` (comma lists), ``model`` (glob)."""
    try:
        return EventFilter.build(_list("kinds") or _list("kind"), _list("provider"), _list("capability"),
                                 request.args.get("model") or None)
    except ValueError as exc:
        raise ApiError(400, "invalid_parameter", str(exc)) from None


def _python_side(flt: EventFilter) -> bool:
    """Whether the filter has parts the store cannot apply (capabilities, model glob)."""
    return bool(flt.capabilities or flt.model_glob)


@bp.get("/events")
def events():
    """A page of the persisted feed, oldest first: ``{"data", "next", "has_more", "last_event_id"}``.

    ``since`` (an event id; the page starts after it), ``limit`` (1–1000, default 100), filters
    ``kinds``, ``provider``, ``capability``, ``model``. Pass ``next`` as ``since`` for the next page.

    :raise 400: a malformed parameter or an unknown event kind.
    """
    svc = service()
    since = int_arg("since", 0, 0, MAX_ID)
    limit = int_arg("limit", 100, 1, 1000)
    flt = event_filter()
    head = svc.last_event_id()
    out: list[StoredEvent] = []
    cursor, more = since, True
    page_size = PAGE_SIZE if _python_side(flt) else limit
    for _ in range(MAX_SCAN_PAGES):
        page = svc.events_after(cursor, page_size, flt.kinds, flt.providers)
        for event in page:
            cursor = event.id
            if flt.matches(event):
                out.append(event)
                if len(out) >= limit:
                    break
        if len(out) >= limit:
            break
        if len(page) < page_size:
            # The feed is exhausted: nothing else matches up to the newest event read before the
            # query, so the next page can start there.
            more, cursor = False, max(cursor, head)
            break
    return jsonify({"data": [e.to_dict() for e in out], "next": cursor, "has_more": more,
                    "last_event_id": max(head, cursor)})


class EncodedEvents:
    """Events as SSE messages, encoded once per event and shared by every stream of one app.

    With a thousand streams open, serializing the same event a thousand times would be most of
    the fan-out's cost. Events never change, so the id is the key (one app serves one feed).
    """

    def __init__(self, size: int = 4096):
        self.size = size
        self._encoded: dict[int, bytes] = {}
        self._lock = threading.Lock()

    def get(self, event: StoredEvent) -> bytes:
        """The SSE message of ``event``: ``id`` = event id, ``event`` = kind, ``data`` = the event's JSON."""
        with self._lock:
            text = self._encoded.get(event.id)
        if text is None:
            text = sse_message(event)
            with self._lock:
                self._encoded[event.id] = text
                while len(self._encoded) > self.size:
                    del self._encoded[next(iter(self._encoded))]
        return text


def sse_message(event: StoredEvent) -> bytes:
    """One event as an SSE message: ``id`` = event id, ``event`` = kind, ``data`` = the event's JSON."""
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (event.id, event.kind.encode(), dumps(event.to_dict()))


class LiveFeed:
    """One stream's events: stored ones after ``since`` (if given), then live ones, each once, in order."""

    def __init__(self, svc: Any, flt: EventFilter, since: int | None, encoded: EncodedEvents | None = None):
        self.service = svc
        self.encoded = encoded or EncodedEvents()
        self.filter = flt
        self.since = since
        self.queue: queue.SimpleQueue = queue.SimpleQueue()
        # Live first: anything committed from here on is queued, so the backfill cannot miss it.
        self._unsubscribe = svc.subscribe(self.queue.put, flt.kinds, flt.providers, flt.capabilities,
                                          flt.model_glob, max_batch=1000, max_delay=0)
        svc.register_stream(self.queue)
        # Without a resume point the stream starts at the newest committed event.
        self.last = since if since is not None else svc.last_event_id()
        self.closed = False

    def close(self) -> None:
        """Stop the live subscription (idempotent)."""
        if not self.closed:
            self.closed = True
            self.service.unregister_stream(self.queue)
            self._unsubscribe()

    def backfill(self) -> Iterator[StoredEvent]:
        """Stored events after the resume point that match, advancing ``last`` past every one read."""
        if self.since is None:
            return
        while True:
            page = self.service.events_after(self.last, PAGE_SIZE, self.filter.kinds, self.filter.providers)
            for event in page:
                if event.id <= self.last:
                    continue
                self.last = event.id
                if self.filter.matches(event):
                    yield event
            if len(page) < PAGE_SIZE:
                return

    def live(self, heartbeat: float) -> Iterator[list[StoredEvent]]:
        """Batches of live events not already sent; an empty batch when ``heartbeat`` seconds pass."""
        while True:
            try:
                batch = self.queue.get(timeout=heartbeat)
            except queue.Empty:
                yield []
                continue
            if batch is None:  # the service is stopping
                return
            fresh = [e for e in batch if e.id > self.last]
            if fresh:
                self.last = fresh[-1].id
                yield fresh
            if self.queue.qsize() > MAX_QUEUED_BATCHES:
                return

    def sse(self, heartbeat: float) -> Iterator[bytes]:
        """The whole stream as SSE bytes, one write per batch; heartbeats are comments."""
        try:
            yield b"retry: 2000\n: connected\n\n"
            for event in self.backfill():
                yield self.encoded.get(event)
            for batch in self.live(heartbeat):
                yield b"".join(map(self.encoded.get, batch)) if batch else b": heartbeat\n\n"
            yield b": too far behind; reconnect with Last-Event-ID to catch up from the stored feed\n\n"
        finally:
            self.close()


@bp.get("/events/stream")
def stream():
    """Server-Sent Events: each committed event as it happens (``id:`` event id, ``event:`` kind).

    Resumes after the ``Last-Event-ID`` header or ``?since=`` from the stored feed, then goes
    live, with no gap and no duplicate; heartbeat comments every ``sse_heartbeat`` seconds.
    Filters as for ``/events``.

    :raise 400: a malformed resume point or filter.
    """
    svc = service()
    flt = event_filter()
    since: int | None = None
    header = request.headers.get("Last-Event-ID")
    if header is not None and header.strip():
        try:
            since = int(header.strip())
        except ValueError:
            raise ApiError(400, "invalid_parameter", f"Last-Event-ID must be an event id, got {header!r}") from None
        if not 0 <= since <= MAX_ID:
            raise ApiError(400, "invalid_parameter", "Last-Event-ID is out of range")
    elif "since" in request.args:
        since = int_arg("since", 0, 0, MAX_ID)
    encoded = current_app.extensions.setdefault("discovery.sse_encoded", EncodedEvents())
    feed = LiveFeed(svc, flt, since, encoded)
    resp = Response(feed.sse(svc.settings.sse_heartbeat), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    # Also when the body is never iterated (the client left before the first byte).
    resp.call_on_close(feed.close)
    return resp
