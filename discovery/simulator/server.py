"""Run the simulator on a free loopback port in a background thread, and stop it cleanly."""
from __future__ import annotations

import socket
import threading
from typing import Any, Self

from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

from discovery.simulator.app import create_simulator_app
from discovery.simulator.formats import PROVIDER_ALIASES, bedrock
from discovery.simulator.state import SimulatorState, UnknownProvider
from discovery.simulator.tenants import MAX_TENANTS, TENANT_PREFIX, TenantDispatcher, TenantRegistry, check_tenant_name

# What a client of each format is configured with as its base URL; it appends its own paths.
BASE_PATHS: dict[str, str] = {
    "openai": "/openai/v1",
    "openai_compatible": "/vllm/v1",
    "modelsdev": "/modelsdev",
    "anthropic": "/anthropic/v1",
    "gemini": "/gemini/v1beta",
    "mistral": "/mistral/v1",
    "cohere": "/cohere/v1",
    "groq": "/groq/openai/v1",
    "together": "/together/v1",
    "azure": "/azure",
    "ollama": "/ollama",
    "openrouter": "/openrouter/api/v1",
    "litellm": "/litellm",
    **bedrock.BASE_PATHS,  # bedrock@<region>: /bedrock/<region>; ec2: /ec2
}


class _QuietHandler(WSGIRequestHandler):
    """Werkzeug's handler without a log line per request (tests make thousands)."""

    def log_request(self, code: Any = "-", size: Any = "-") -> None:
        pass


class _JoinableServer(ThreadedWSGIServer):
    """A threaded server whose request threads stop() can end and join.

    Werkzeug makes request threads daemons and forgets them; a client's keep-alive connection
    would then keep a thread alive after shutdown. Tracking the sockets lets stop() close them
    and join every thread, so tests leave none behind.
    """

    daemon_threads = False
    block_on_close = True

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        # Every answer is written in more than one send (headers, then body or stream frames):
        # with Nagle's algorithm on, the second waits for the client's delayed ACK (~40 ms on
        # Linux), which would add tens of milliseconds to every timing taken against the simulator.
        try:
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_open_connections(self) -> None:
        """Shut every client connection so idle keep-alive threads return."""
        with self._open_lock:
            sockets = list(self._open)
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class SimulatorServer:
    """The simulator on ``host``:``port`` (0: a free port) in a background thread.

    ``state`` drives the usual paths; each tenant (``/t/<tenant>/...``, see
    :mod:`discovery.simulator.tenants`) has a state of its own, from :meth:`tenant_state`.
    """

    def __init__(self, state: SimulatorState | None = None, host: str = "127.0.0.1", port: int = 0,
                 max_tenants: int = MAX_TENANTS):
        self.state = state if state is not None else SimulatorState()
        self.tenants = TenantRegistry(max_tenants)
        self.host = host
        self.port = port
        self._server: _JoinableServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """``http://host:port`` of the running server."""
        if self._server is None:
            raise RuntimeError("the simulator is not running; call start() first")
        return f"http://{self.host}:{self.port}"

    def base_url(self, provider: str, tenant: str | None = None) -> str:
        """The base URL a client of ``provider``'s format is configured with (of ``tenant``'s copy)."""
        name = PROVIDER_ALIASES.get(provider, provider)
        if name not in BASE_PATHS:
            raise UnknownProvider(f"unknown simulated provider {provider!r}; known: {', '.join(BASE_PATHS)}")
        prefix = f"{TENANT_PREFIX}/{check_tenant_name(tenant)}" if tenant is not None else ""
        return self.url + prefix + BASE_PATHS[name]

    def tenant_state(self, tenant: str) -> SimulatorState:
        """The state behind ``/t/<tenant>/``, created on first use (also by a first request)."""
        return self.tenants.state(tenant)

    def start(self) -> Self:
        """Bind and start serving; returns self."""
        if self._server is not None:
            return self
        self.state.reopen()
        self.tenants.reopen()
        app = TenantDispatcher(create_simulator_app(self.state), self.tenants)
        server = _JoinableServer(self.host, self.port, app, handler=_QuietHandler)
        self.port = server.server_port
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                         name=f"simulator-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving, end every request thread and join them all."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self._server = self._thread = None
        # Release requests parked in latency, hang or drip before waiting for their threads, and
        # those that come in until the server stops listening.
        self.state.wake_all(closing=True)
        self.tenants.wake_all(closing=True)
        server.shutdown()
        if thread is not None:
            thread.join(timeout)
        server.close_open_connections()
        server.server_close()  # joins the request threads

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
