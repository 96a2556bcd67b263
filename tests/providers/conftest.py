"""Fixtures for the wire-format tests: a scriptable stub HTTP server, the simulator, client builders."""
from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from discovery.providers import FORMATS, ProviderClient
from discovery.settings import ProviderConfig

Answer = tuple[int, Any] | tuple[int, Any, Mapping[str, str]]


class StubProvider:
    """A loopback HTTP server answering each ``(method, path)`` from a scripted function.

    A route is a callable taking the werkzeug Request and returning ``(status, json_body[, headers])``
    (a body given as str or bytes is sent as it is),
    or a fixed such tuple. Every request is recorded (method, path, query, headers, JSON body).
    """

    def __init__(self, port: int = 0) -> None:
        self.routes: dict[tuple[str, str], Callable[[Request], Answer] | Answer] = {}
        self.requests: list[dict[str, Any]] = []
        self._server = make_server("127.0.0.1", port, self._app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                                        daemon=True)

    def route(self, path: str, answer: Callable[[Request], Answer] | Answer, method: str = "GET") -> None:
        """Answer ``method path`` with ``answer``."""
        self.routes[(method, path)] = answer

    @Request.application
    def _app(self, request: Request) -> Response:
        body = request.get_data()
        self.requests.append({
            "method": request.method, "path": request.path, "query": request.args.to_dict(),
            "headers": dict(request.headers), "json": json.loads(body) if body else None,
        })
        answer = self.routes.get((request.method, request.path))
        if answer is None:
            return Response(json.dumps({"error": {"message": f"no route {request.path}"}}), status=404,
                            content_type="application/json")
        if callable(answer):
            answer = answer(request)
        status, payload, *rest = answer
        headers = dict(rest[0]) if rest else {}
        text = payload if isinstance(payload, (str, bytes)) else json.dumps(payload)
        return Response(text, status=status, headers=headers, content_type="application/json")

    def start(self) -> StubProvider:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


@pytest.fixture
def stub() -> Iterator[StubProvider]:
    """A fresh stub provider per test."""
    server = StubProvider().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def simulator_server():
    """One running simulator per test module."""
    from discovery.simulator import SimulatorServer

    with SimulatorServer() as server:
        yield server


@pytest.fixture
def sim(simulator_server):
    """The module's simulator, reset to its default fixtures and no knobs."""
    simulator_server.state.reset()
    return simulator_server


def simulated(server, fmt: str) -> str:
    """The simulator's base URL for ``fmt``; skips the test while the simulator does not serve it yet."""
    from discovery.simulator.formats import FORMATS_BY_PROVIDER, PROVIDER_ALIASES

    if PROVIDER_ALIASES.get(fmt, fmt) not in FORMATS_BY_PROVIDER:
        pytest.skip(f"the simulator does not serve the {fmt} format yet")
    return server.base_url(fmt)


def make_client(fmt: str, base_url: str | None = None, *, name: str | None = None,
                env: Mapping[str, str] | None = None, retries: int = 0, **options: Any) -> ProviderClient:
    """A client of ``fmt`` against ``base_url``, with a test key in its usual variable.

    Retries are off by default so an error answer reaches the test at once.
    """
    cls = FORMATS[fmt]
    config = ProviderConfig(name=name or fmt, format=fmt, base_url=base_url, timeout=5.0, retries=retries,
                            options=options)
    environ = dict(env) if env is not None else ({cls.default_api_key_env: "test-key"}
                                                  if cls.default_api_key_env else {})
    return cls(config, environ=environ)


def by_id(models) -> dict[str, Any]:
    """Models keyed by provider model id."""
    return {m.provider_model_id: m for m in models}
