"""The event feed: a page of the persisted outbox, and the SSE encoding the live stream shares.

The live stream itself (``GET /api/v1/events/stream``) is a native async route of the server,
:mod:`web.stream`: an open stream must not hold one of the app's worker threads.
"""
from __future__ import annotations

import threading

from flask import Blueprint, jsonify, request

from discovery.messages import EventFilter
from discovery.model import dumps
from discovery.store import StoredEvent
from web.context import int_arg, service
from web.errors import ApiError
from web.parameters import check_providers, values

bp = Blueprint("events", __name__, url_prefix="/api/v1")

PAGE_SIZE = 500
# Pages a request may scan when the capability or model filter skips many events.
MAX_SCAN_PAGES = 20
MAX_ID = 2**62


def event_filter() -> EventFilter:
    """The filter of a feed request: ``kinds``, ``provider``, ``capability`` (comma lists), ``model`` (glob).
    ``kind`` is another name of ``kinds``: given both, the kinds of either match.

    :raise ApiError 400: an unknown kind, capability or provider.
    """
    providers = values("provider")
    check_providers(service(), providers)
    try:
        return EventFilter.build(values("kinds") + values("kind"), providers, values("capability"),
                                 request.args.get("model") or None)
    except ValueError as exc:
        raise ApiError(400, "invalid_parameter", str(exc)) from None


def _python_side(flt: EventFilter) -> bool:
    """Whether the filter has parts the store cannot apply (capabilities, model glob)."""
    return bool(flt.capabilities or flt.model_glob)


@bp.get("/events")
def events():
    """A page of the persisted feed, oldest first: ``{"data", "next", "has_more", "last_event_id", "missed"}``.

    ``since`` (an event id; the page starts after it), ``limit`` (1–1000, default 100), filters
    ``kinds``, ``provider``, ``capability``, ``model``. Pass ``next`` as ``since`` for the next page.
    ``missed``: how many events after ``since`` retention had deleted (of any kind: they may have
    matched the filter); more than 0 means the client lost events and should resync.

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
    if since > head and cursor == since:
        # A position past the newest event (another feed's, or a replaced store's): the feed
        # says where it really ends, and paging goes on from there.
        head = svc.last_event_id()
        if since > head:
            return jsonify({"data": [], "next": head, "has_more": False, "last_event_id": head, "missed": 0})
    # Read after the page: events pruned while it was read are counted too.
    missed = svc.missed_after(since) if since < max(head, cursor) else 0
    return jsonify({"data": [e.wire_dict() for e in out], "next": cursor, "has_more": more,
                    "last_event_id": max(head, cursor), "missed": missed})


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


def missed_message(since: int, oldest: int, missed: int) -> bytes:
    """The SSE message a stream resumed from below retention begins with: ``event: missed``, no
    ``id`` (the client's Last-Event-ID stays where it was), ``data`` = what was lost."""
    return b"event: missed\ndata: %s\n\n" % dumps({"since": since, "oldest_event_id": oldest, "missed": missed})


def sse_message(event: StoredEvent) -> bytes:
    """One event as an SSE message: ``id`` = event id, ``event`` = kind, ``data`` = the event's JSON."""
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (event.id, event.kind.encode(), dumps(event.wire_dict()))
