"""SSEHub: the event stream for many clients, from one thread with non-blocking sockets.

A WSGI server gives every open stream its own thread; with a thousand clients, waking a
thousand threads per event (each taking the GIL in turn) costs hundreds of milliseconds. The hub
serves the same ``GET /api/v1/events/stream`` (same filters, ``Last-Event-ID``/``since`` resume,
heartbeats) on its own port: one notifier subscription, each event encoded once, and one
non-blocking ``send`` per client. Stored events for a resuming client are read on a worker
thread; live events that arrive meanwhile wait in that client's buffer, so the switch from
stored to live has no gap and no duplicate.
"""
from __future__ import annotations

import collections
import concurrent.futures
import json
import selectors
import socket
import threading
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

from loguru import logger

from discovery.messages import EventFilter
from discovery.store import StoredEvent
from web.events import PAGE_SIZE, EncodedEvents

STREAM_PATH = "/api/v1/events/stream"
MAX_REQUEST = 16_384
# A client this far behind (bytes not yet accepted by its socket) is dropped; it reconnects with
# Last-Event-ID and catches up from the store.
MAX_BUFFER = 8 * 1024 * 1024
HEADERS = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
           b"X-Accel-Buffering: no\r\nConnection: close\r\n\r\nretry: 2000\n: connected\n\n")


class _Client:
    """One connection: its request, then its filter, position and unsent bytes."""

    __slots__ = ("filter", "held", "inbuf", "last", "outbuf", "sock", "streaming")

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.inbuf = b""
        self.outbuf = bytearray()
        self.filter = EventFilter()
        self.last = 0
        self.streaming = False
        # Live events that arrived while the stored ones were being read (None: not resuming).
        self.held: list[StoredEvent] | None = None


def _error(status: int, reason: str, code: str, message: str) -> bytes:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    return (f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            f"Connection: close\r\n\r\n").encode() + body


def parse_stream_request(raw: bytes) -> tuple[EventFilter, int | None]:
    """The filter and resume point of a stream request; ValueError with the reason if it is not one."""
    head = raw.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    method, target, _ = (head[0].split(" ") + ["", ""])[:3]
    parts = urlsplit(target)
    if method != "GET" or parts.path.rstrip("/") != STREAM_PATH:
        raise LookupError(f"only GET {STREAM_PATH} is served here")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in head[1:])}
    args = parse_qs(parts.query)

    def names(key: str) -> tuple[str, ...]:
        return tuple(v.strip() for raw in args.get(key, ()) for v in raw.split(",") if v.strip())

    flt = EventFilter.build(names("kinds") or names("kind"), names("provider"), names("capability"),
                            (args.get("model") or [None])[0])
    resume = headers.get("last-event-id") or (args.get("since") or [None])[0]
    if resume in (None, ""):
        return flt, None
    try:
        since = int(resume)
    except ValueError:
        raise ValueError(f"Last-Event-ID or since must be an event id, got {resume!r}") from None
    if since < 0:
        raise ValueError("Last-Event-ID or since must be 0 or more")
    return flt, since


class SSEHub:
    """The event stream on ``host``:``port`` (0: a free one) for many clients, in one thread."""

    def __init__(self, service: Any, host: str = "127.0.0.1", port: int = 0, heartbeat: float | None = None):
        self.service = service
        self.heartbeat = service.settings.sse_heartbeat if heartbeat is None else heartbeat
        self.encoded = EncodedEvents()
        self._listener = socket.create_server((host, port), backlog=1024)
        self._listener.setblocking(False)
        self.host, self.port = host, self._listener.getsockname()[1]
        self._sel = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._inbox: collections.deque = collections.deque()  # ("live", batch) | ("backfill", client, ...)
        self._clients: dict[socket.socket, _Client] = {}
        self._filters: dict[EventFilter, EventFilter] = {}
        self._reader = concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="sse-backfill")
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._unsubscribe: Any = None

    @property
    def client_count(self) -> int:
        """Clients currently streaming (or resuming)."""
        return sum(1 for c in self._clients.values() if c.streaming)

    def start(self) -> SSEHub:
        """Subscribe to every committed event and serve in a background thread."""
        self._unsubscribe = self.service.subscribe(self._on_events, max_batch=10_000, max_delay=0)
        self._sel.register(self._listener, selectors.EVENT_READ)
        self._sel.register(self._wake_r, selectors.EVENT_READ)
        self._thread = threading.Thread(target=self._run, name=f"sse-hub-{self.port}", daemon=True)
        self._thread.start()
        logger.info("event stream hub on http://{}:{}{}", self.host, self.port, STREAM_PATH)
        return self

    def stop(self) -> None:
        """Close every stream and the listener; idempotent."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        if self._unsubscribe is not None:
            self._unsubscribe()
        self._wake()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._reader.shutdown(wait=False, cancel_futures=True)

    # -- called from other threads -----------------------------------------------------------------
    def _on_events(self, events: tuple[StoredEvent, ...]) -> None:
        self._inbox.append(("live", events))
        self._wake()

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"x")
        except (BlockingIOError, OSError):
            pass  # already awake, or stopping

    def _backfill(self, client: _Client, since: int) -> None:
        """Worker thread: every stored event after ``since`` that the client wants."""
        found: list[StoredEvent] = []
        last = since
        try:
            while True:
                page = self.service.events_after(last, PAGE_SIZE, client.filter.kinds, client.filter.providers)
                for event in page:
                    last = event.id
                    if client.filter.matches(event):
                        found.append(event)
                if len(page) < PAGE_SIZE:
                    break
        except Exception as exc:  # noqa: BLE001 - the stream must end cleanly whatever the store did
            logger.warning("event stream: could not read the stored feed: {}", exc)
            self._inbox.append(("failed", client))
        else:
            self._inbox.append(("backfill", client, found, last))
        self._wake()

    # -- the hub thread ------------------------------------------------------------------------------
    def _run(self) -> None:
        next_beat = time.monotonic() + self.heartbeat
        try:
            while not self._stopping.is_set():
                try:
                    next_beat = self._turn(next_beat)
                except Exception:  # noqa: BLE001 - one bad turn must not end every stream
                    logger.exception("event stream hub: a turn failed")
        finally:
            for client in list(self._clients.values()):
                self._close(client)
            self._sel.close()
            self._listener.close()
            self._wake_r.close()
            self._wake_w.close()

    def _turn(self, next_beat: float) -> float:
        timeout = max(0.0, next_beat - time.monotonic())
        for key, mask in self._sel.select(timeout):
            if key.fileobj is self._listener:
                self._accept()
            elif key.fileobj is self._wake_r:
                self._drain_wake()
            else:
                self._on_socket(key.fileobj, mask)  # type: ignore[arg-type]
        self._process_inbox()
        if time.monotonic() >= next_beat:
            next_beat = time.monotonic() + self.heartbeat
            for client in list(self._clients.values()):
                if client.streaming:
                    self._send(client, b": heartbeat\n\n")
        return next_beat

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._clients[sock] = _Client(sock)
            self._sel.register(sock, selectors.EVENT_READ)

    def _drain_wake(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except (BlockingIOError, InterruptedError):
            pass

    def _on_socket(self, sock: socket.socket, mask: int) -> None:
        client = self._clients.get(sock)
        if client is None:
            return
        if mask & selectors.EVENT_WRITE:
            self._flush(client)
        if mask & selectors.EVENT_READ and sock in self._clients:
            try:
                data = sock.recv(4096)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                data = b""
            if not data:
                self._close(client)  # the client went away
            elif not client.streaming:
                client.inbuf += data
                self._on_request(client)

    def _on_request(self, client: _Client) -> None:
        if b"\r\n\r\n" not in client.inbuf:
            if len(client.inbuf) > MAX_REQUEST:
                self._reply_and_close(client, _error(431, "Request Header Fields Too Large", "too_large",
                                                     "request headers too large"))
            return
        try:
            flt, since = parse_stream_request(client.inbuf)
        except LookupError as exc:
            self._reply_and_close(client, _error(404, "Not Found", "not_found", str(exc)))
            return
        except ValueError as exc:
            self._reply_and_close(client, _error(400, "Bad Request", "invalid_parameter", str(exc)))
            return
        # Equal filters share one object, so the fan-out builds each client's bytes once per filter.
        client.filter = self._filters.setdefault(flt, flt)
        client.streaming = True
        client.inbuf = b""
        self._send(client, HEADERS)
        if since is None:
            client.last = self.service.last_event_id()
        else:
            client.last = since
            client.held = []  # live events wait here until the stored ones are out
            self._reader.submit(self._backfill, client, since)

    def _process_inbox(self) -> None:
        while self._inbox:
            item = self._inbox.popleft()
            if item[0] == "live":
                self._fan_out(item[1])
            elif item[0] == "backfill":
                _, client, found, last = item
                if client.sock not in self._clients:
                    continue
                held, client.held = client.held or [], None
                chunks = [self.encoded.get(e) for e in found]
                client.last = max(client.last, last)
                chunks += [self.encoded.get(e) for e in held if e.id > client.last and client.filter.matches(e)]
                if held:
                    client.last = max(client.last, held[-1].id)
                self._send(client, b"".join(chunks))
            elif item[0] == "failed":
                self._close(item[1])

    def _fan_out(self, events: tuple[StoredEvent, ...]) -> None:
        # Clients with the same filter that have seen the same events get the same bytes: build
        # them once per (filter, position), so the per-client cost is a lookup and one send.
        chunks: dict[tuple[int, int], bytes] = {}
        newest = events[-1].id if events else 0
        for client in list(self._clients.values()):
            if not client.streaming:
                continue
            if client.held is not None:
                client.held.extend(events)
                continue
            key = (id(client.filter), client.last)
            data = chunks.get(key)
            if data is None:
                flt, last = client.filter, client.last
                data = chunks[key] = b"".join([self.encoded.get(e) for e in events
                                               if e.id > last and flt.matches(e)])
            client.last = max(client.last, newest)
            if data:
                self._send(client, data)

    def _send(self, client: _Client, data: bytes) -> None:
        if not data:
            return
        if client.outbuf:
            client.outbuf += data
        else:
            try:
                sent = client.sock.send(data)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError:
                self._close(client)
                return
            if sent < len(data):
                client.outbuf += data[sent:]
                self._sel.modify(client.sock, selectors.EVENT_READ | selectors.EVENT_WRITE)
        if len(client.outbuf) > MAX_BUFFER:
            self._close(client)  # too far behind: it resumes with Last-Event-ID from the store

    def _flush(self, client: _Client) -> None:
        try:
            sent = client.sock.send(client.outbuf)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._close(client)
            return
        del client.outbuf[:sent]
        if not client.outbuf:
            self._sel.modify(client.sock, selectors.EVENT_READ)

    def _reply_and_close(self, client: _Client, data: bytes) -> None:
        try:
            client.sock.send(data)
        except OSError:
            pass
        self._close(client)

    def _close(self, client: _Client) -> None:
        if self._clients.pop(client.sock, None) is None:
            return
        try:
            self._sel.unregister(client.sock)
        except (KeyError, ValueError):
            pass
        client.sock.close()
