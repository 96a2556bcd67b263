"""Fixtures for the notification tests: a webhook receiver, the app on a real port, an SSE client."""
from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from discovery.webhooks import EVENT_IDS_HEADER, SIGNATURE_HEADER, verify_signature
from tests.conftest import provider_config

ADMIN_TOKEN = "test-admin-token-0123456789"
SECRET = "receiver-shared-secret-0123456789"
NOTIFY_SETTINGS = dict(admin_token=ADMIN_TOKEN, webhook_allow_private=True, sse_heartbeat=0.2,
                       webhook_timeout=2.0, webhook_backoff=0.02, webhook_backoff_max=0.1,
                       webhook_max_attempts=4, event_retention_interval=0)


@dataclass
class Post:
    """One POST a receiver got: what it answered, and whether the signature checked out."""

    status: int
    event_ids: tuple[int, ...]
    header_ids: str
    attempt: int
    delivery: str
    signed: bool
    body: dict[str, Any]
    # Whether this POST was held open (see Receiver.hold_from) before it was answered.
    held: bool = False


class Receiver:
    """A webhook receiver on a loopback port; ``plan(n)`` is the status of the n-th POST (1-based)."""

    def __init__(self, plan: Callable[[int], int] = lambda n: 200, secret: str = SECRET):
        self.plan = plan
        self.secret = secret
        self.posts: list[Post] = []
        self.lock = threading.Lock()
        # Set to make every POST wait (up to hold_timeout) before it answers.
        self.hold = threading.Event()
        self.hold.set()
        self.hold_timeout = 10.0
        # When set, only POSTs from this arrival number on wait for ``hold``.
        self.hold_from: int | None = None
        self.arrivals = 0
        self.entered = threading.Event()
        self.holding = threading.Event()
        # Seconds the first POST takes to answer (a receiver slower than the webhook timeout).
        self.first_delay = 0.0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.entered.set()
                with receiver.lock:
                    receiver.arrivals += 1
                    held = receiver.hold_from is not None and receiver.arrivals >= receiver.hold_from \
                        and not receiver.hold.is_set()
                if receiver.arrivals == 1 and receiver.first_delay:
                    time.sleep(receiver.first_delay)
                if held or receiver.hold_from is None:
                    if not receiver.hold.is_set():
                        receiver.holding.set()
                    receiver.hold.wait(receiver.hold_timeout)
                with receiver.lock:
                    n = len(receiver.posts) + 1
                    status = receiver.plan(n)
                    doc = json.loads(body)
                    receiver.posts.append(Post(
                        status, tuple(e["id"] for e in doc["events"]), self.headers.get(EVENT_IDS_HEADER, ""),
                        int(self.headers.get("X-Discovery-Attempt", "0")), self.headers.get("X-Discovery-Delivery", ""),
                        verify_signature(receiver.secret, self.headers.get(SIGNATURE_HEADER, ""), body), doc,
                        held))
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True, name="receiver")
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/hook?token=receiver-path-token"

    def acked_ids(self) -> list[int]:
        """Event ids of every POST answered 2xx and not held, in answer order (duplicates kept)."""
        with self.lock:
            return [i for p in self.posts if 200 <= p.status < 300 and not p.held for i in p.event_ids]

    def all_posts(self) -> list[Post]:
        with self.lock:
            return list(self.posts)

    def stop(self) -> None:
        self.hold.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Callable[..., Receiver]]:
    """Start receivers; all are stopped after the test."""
    made: list[Receiver] = []

    def make(plan: Callable[[int], int] = lambda n: 200, secret: str = SECRET) -> Receiver:
        r = Receiver(plan, secret)
        made.append(r)
        return r

    yield make
    for r in made:
        r.stop()


class LiveServer:
    """The service's one HTTP port (uvicorn: the Flask app and the native event stream) on loopback."""

    def __init__(self, service: Any, app: Any = None):
        from web.server import ServerThread

        self.server = ServerThread(service, app).start()

    @property
    def hub(self) -> Any:
        return self.server.app.hub

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def url(self) -> str:
        return self.server.url

    def stop(self) -> None:
        self.server.stop()


@dataclass
class SSEMessage:
    """One SSE message as a client parses it."""

    id: str | None
    event: str | None
    data: str

    def json(self) -> Any:
        return json.loads(self.data)


class SSEClient:
    """A minimal SSE client over a raw socket (HTTP/1.0, so the body is the plain stream)."""

    def __init__(self, port: int, path: str, last_event_id: int | None = None, timeout: float = 10.0,
                 extra_headers: dict[str, str] | None = None):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        headers = f"GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
        headers += "".join(f"{k}: {v}\r\n" for k, v in (extra_headers or {}).items())
        if last_event_id is not None:
            headers += f"Last-Event-ID: {last_event_id}\r\n"
        self.sock.sendall((headers + "\r\n").encode())
        self.file = self.sock.makefile("rb")
        status = self.file.readline().decode()
        self.status = int(status.split()[1])
        self.headers: dict[str, str] = {}
        while (line := self.file.readline().decode().rstrip("\r\n")):
            key, _, value = line.partition(":")
            self.headers[key.strip().lower()] = value.strip()
        self.comments: list[str] = []

    def next_message(self) -> SSEMessage | None:
        """The next message (comments are collected, not returned); None when the stream ends."""
        fields: dict[str, list[str]] = {}
        while True:
            raw = self.file.readline()
            if not raw:
                return None
            line = raw.decode().rstrip("\n")
            if line == "":
                if "data" in fields:
                    return SSEMessage(fields.get("id", [None])[-1], fields.get("event", [None])[-1],
                                      "\n".join(fields["data"]))
                continue
            if line.startswith(":"):
                self.comments.append(line[1:].strip())
                continue
            key, _, value = line.partition(":")
            fields.setdefault(key, []).append(value[1:] if value.startswith(" ") else value)

    def wait_comment(self, text: str) -> list[str]:
        """Read until a comment line containing ``text``; returns the event kinds seen before it."""
        kinds = []
        while True:
            raw = self.file.readline()
            if not raw:
                raise EOFError("the stream ended")
            line = raw.decode().rstrip("\n")
            if line.startswith(":") and text in line:
                return kinds
            if line.startswith("event:"):
                kinds.append(line.partition(":")[2].strip())

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.file.close()
        self.sock.close()


def openai_source(simulator: Any) -> list[Any]:
    """One small live provider (the simulator's OpenAI list): quick refreshes that make events."""
    # Tests refresh far more often than the per-minute budget for manual refreshes allows.
    return [provider_config(simulator, "openai", "openai_compatible", route="openai",
                            manual_refresh_per_minute=100_000)]


def add_model(simulator: Any, name: str) -> None:
    """Add one model to the simulated OpenAI list (the next refresh announces it)."""
    simulator.state.add_model("openai", {"id": name, "object": "model", "created": 1750000000,
                                         "owned_by": "openai"})
