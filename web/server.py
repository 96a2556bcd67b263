"""One HTTP port for everything: uvicorn serving the Flask app (through a2wsgi) and the event stream.

The Flask app runs on a pool of ``http_threads`` worker threads behind a2wsgi's WSGI-to-ASGI
adapter; ``GET /api/v1/events/stream`` is a native async route (:mod:`web.stream`), so an open
stream costs a coroutine and a socket, never a worker thread, and streams can never starve the
API. Request bodies are limited here, before the app sees a byte of them.
"""
from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import signal
import socket
import threading
from collections.abc import Callable
from typing import Any, Optional

import uvicorn
from a2wsgi import WSGIMiddleware
from a2wsgi.wsgi import Body, build_environ

from web.access import AccessLayer
from web.metrics import EXTENSION as METRICS
from web.protocol import BoundedHeadProtocol
from web.stream import STREAM_PATH, StreamHub, send_json_error


def is_list_request(scope: dict) -> bool:
    """``GET /api/v1/models`` or ``GET /api/v1/providers/<name>/models``, not ``as_of``: a list made
    from the published index in memory alone."""
    path = scope.get("path") or ""
    if scope.get("method") != "GET" or (path != "/api/v1/models" and not (
            path.startswith("/api/v1/providers/") and path.endswith("/models"))):
        return False
    return b"as_of" not in (scope.get("query_string") or b"")


def answer_whole(app: Callable, environ: dict) -> list[dict]:
    """Run the WSGI ``app`` to the end and return its answer as two ASGI messages (start, body)."""
    start: dict = {}
    chunks: list[bytes] = []

    def start_response(status: str, headers: list, exc_info: Any = None) -> Callable:
        # Nothing has been sent yet, so a later call (an error page replacing the answer) is allowed.
        start.update(type="http.response.start", status=int(status.split(" ", 1)[0]),
                     headers=[(n.strip().encode("latin1").lower(), v.strip().encode("latin1")) for n, v in headers])
        return chunks.append

    iterable = app(environ, start_response)
    try:
        chunks.extend(iterable)
    finally:
        close = getattr(iterable, "close", None)
        if close is not None:
            close()
    return [start, {"type": "http.response.body", "body": b"".join(chunks), "more_body": False}]


class WholeAnswerWSGI(WSGIMiddleware):
    """a2wsgi's adapter, for an app whose answers are whole in memory anyway (no view of this Flask
    app streams; the event stream is native, :mod:`web.stream`).

    a2wsgi streams: the worker thread hands the event loop each message (the start, each chunk,
    the end) and waits for the loop to take it, three hand-offs and waits per answer at least.
    Here the worker makes the whole answer and the loop sends it when the job is done: one
    hand-off. At 4 connections on new model-list pages (bench_scale) p50/p99 went from
    8.1/15 ms to 5.2/9.3 ms.
    """

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        environ = build_environ(scope, Body(loop, receive))
        # The worker runs in a copy of this context, so the request id bound here reaches its logs.
        job = functools.partial(contextvars.copy_context().run, answer_whole, self.app, environ)
        for message in await loop.run_in_executor(self.executor, job):
            await send(message)


class DiscoveryASGI:
    """The ASGI application: the event stream natively, everything else through the Flask app."""

    def __init__(self, service: Any, flask_app: Any = None, threads: Optional[int] = None):
        if flask_app is None:
            from web import create_app

            flask_app = create_app(service)
        settings = service.settings
        self.service = service
        self.max_body = settings.max_request_body
        self.wsgi = WholeAnswerWSGI(flask_app, workers=threads or settings.http_threads)
        # Model lists have a small pool of their own (``list_threads``): a list is pure Python work
        # on the in-memory index that holds the GIL from start to end, and several at once on
        # several threads take turns on the GIL (and with the event loop, for every socket
        # read and write) until all finish late. Measured at 4 connections on a 2-core machine
        # (bench_scale, new pages): p99 19-20 ms on 16 threads, 9.8 ms on 2. Requests that wait on
        # the store or on actors keep the large pool, so a slow one never holds a list up.
        lists = settings.list_threads
        self.lists = WholeAnswerWSGI(flask_app, workers=lists) if lists > 0 else self.wsgi
        # A request that waits for an outcome (``?wait=true``: a refresh, a benchmark run) holds
        # its thread until then, minutes maybe; on the main pool, sixteen of them left every other
        # request queued, the probes too (a liveness probe failing for 30 s). They get a pool of
        # their own, the probes another (threads are made as they are first needed).
        self.waits = WholeAnswerWSGI(flask_app, workers=threads or settings.http_threads)
        # Liveness apart from readiness: /readyz asks actors (up to ask_timeout each), /healthz
        # reads memory alone and must answer whatever the actors are doing.
        self.liveness = WholeAnswerWSGI(flask_app, workers=2)
        self.readiness = WholeAnswerWSGI(flask_app, workers=2)
        self.hub = StreamHub(service)
        # Request ids, the access log and request durations, around both the app and the stream.
        self.access = AccessLayer(self._http, flask_app, flask_app.extensions.get(METRICS),
                                  log=getattr(settings, "access_log", True), streams=(STREAM_PATH,))

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(receive, send)
            return
        if kind != "http":
            return  # no websockets here: returning closes the connection
        await self.access(scope, receive, send)

    async def _http(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["path"] == STREAM_PATH or scope["path"] == STREAM_PATH + "/":
            await self.hub(scope, receive, send)
            return
        receive = await self._bounded(scope, receive, send)
        if receive is None:
            return
        await self.pool_for(scope)(scope, receive, send)

    def pool_for(self, scope: dict) -> "WholeAnswerWSGI":
        """The probes', the waiting requests', the model lists' or the main pool."""
        path = scope.get("path")
        if path == "/healthz":
            return self.liveness
        if path == "/readyz":
            return self.readiness
        if is_list_request(scope):
            return self.lists
        if b"wait=" in (scope.get("query_string") or b""):
            return self.waits
        return self.wsgi

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.hub.start(asyncio.get_running_loop())
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.hub.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _bounded(self, scope: dict, receive: Any, send: Any) -> Optional[Callable]:
        """``receive`` if the body is within ``max_request_body``; None after answering 413 otherwise.

        A declared length is checked at once; a chunked body is read here (up to the limit) and
        replayed to the app.
        """
        length, chunked = None, False
        for name, value in scope.get("headers") or ():
            if name == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    await send_json_error(send, 400, "bad_request", "Content-Length is not a number")
                    return None
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        if length is not None and length > self.max_body:
            await self._too_large(send)
            return None
        if length is not None or not chunked:
            return receive
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return receive
            body += message.get("body", b"")
            if len(body) > self.max_body:
                await self._too_large(send)
                return None
            if not message.get("more_body"):
                break
        replay = [{"type": "http.request", "body": bytes(body), "more_body": False}]

        async def replayed() -> dict:
            return replay.pop() if replay else await receive()

        return replayed

    async def _too_large(self, send: Any) -> None:
        await send_json_error(send, 413, "body_too_large",
                              f"the request body is larger than {self.max_body} bytes (max_request_body)",
                              {"Connection": "close"})


def bind_socket(host: str, port: int, backlog: int = 2048) -> socket.socket:
    """Bind and listen now (before start-up), so a busy port fails at once with a clear OSError."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(backlog)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def raise_open_file_limit() -> None:
    """Each open stream is a socket: lift the soft descriptor limit to the hard one."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < hard:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ImportError, ValueError, OSError):
        pass


def uvicorn_config(app: DiscoveryASGI) -> uvicorn.Config:
    """uvicorn's settings for the service: no logging of its own (loguru has it); the client named
    by ``X-Forwarded-For`` (and the scheme by ``X-Forwarded-Proto``) only when the peer is one of
    ``trusted_proxies`` (uvicorn's own proxy-headers middleware, which takes the nearest address
    not of a trusted proxy)."""
    trusted = list(getattr(app.service.settings, "trusted_proxies", ()) or ())
    return uvicorn.Config(app, lifespan="on", log_config=None, access_log=False, proxy_headers=bool(trusted),
                          forwarded_allow_ips=trusted or None,
                          server_header=False, timeout_graceful_shutdown=3, timeout_keep_alive=5,
                          backlog=2048, loop="auto", http=BoundedHeadProtocol)


class _Server(uvicorn.Server):
    """uvicorn's server; a stop signal first ends every open stream, and is not raised again after."""

    def __init__(self, config: uvicorn.Config, on_exit: Optional[Callable[[], None]] = None):
        super().__init__(config)
        self.on_exit = on_exit

    def handle_exit(self, sig: int, frame: Any) -> None:
        if self.on_exit is not None:
            self.on_exit()
        super().handle_exit(sig, frame)

    @contextlib.contextmanager
    def capture_signals(self):  # type: ignore[override]
        # uvicorn re-raises the caught signal after its shutdown so a default handler kills the
        # process; here the caller stops the service and exits 0 instead.
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def serve_forever(app: DiscoveryASGI, sock: socket.socket, on_exit: Optional[Callable[[], None]] = None) -> None:
    """Serve ``app`` on ``sock`` in this (main) thread until SIGTERM or SIGINT."""
    server = _Server(uvicorn_config(app), on_exit)
    if threading.current_thread() is threading.main_thread():
        # From here a stop signal is the server's to handle: a caller's handler that raises would
        # cut uvicorn between making its coroutine and running it ("coroutine 'Server.serve' was
        # never awaited", logged at a SIGTERM right after start-up). The server starts, sees the
        # stop, and shuts down as after any other.
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, server.handle_exit)
    server.run(sockets=[sock])


class ServerThread:
    """The service's one port on a loopback address, served from a background thread (tests, benches)."""

    def __init__(self, service: Any, flask_app: Any = None, host: str = "127.0.0.1", port: int = 0):
        self.app = DiscoveryASGI(service, flask_app)
        self.sock = bind_socket(host, port)
        self.host, self.port = host, self.sock.getsockname()[1]
        self.server = _Server(uvicorn_config(self.app))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True,
                                       name=f"http-{self.port}")

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> ServerThread:
        self.thread.start()
        deadline = threading.Event()
        while not self.server.started and self.thread.is_alive():
            deadline.wait(0.01)
        return self

    def stop(self) -> None:
        self.app.hub.stop()
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()
