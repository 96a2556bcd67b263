"""Model lists run on a small pool of worker threads of their own; everything else on the main pool."""
from __future__ import annotations

import concurrent.futures

import pytest
import requests

from tests.conftest import provider_config, wait_for
from web.server import ServerThread, is_list_request


@pytest.fixture
def served(start_service, simulator):
    service = start_service([provider_config(simulator, "openai", "openai_compatible", route="openai")])
    wait_for(lambda: all(p.get("last_success_at") for p in service.providers()), what="the first refresh")
    server = ServerThread(service).start()
    yield service, server
    server.stop()


@pytest.mark.parametrize("method, path, query, expected", [
    ("GET", "/api/v1/models", b"capability=vision&offset=100", True),
    ("GET", "/api/v1/providers/openai/models", b"", True),
    ("GET", "/api/v1/models", b"as_of=2026-01-01T00:00:00Z", False),  # history: a store read
    ("GET", "/api/v1/models/openai/gpt-4o", b"", False),  # a record: may read the store
    ("GET", "/api/v1/providers", b"", False),
    ("POST", "/api/v1/models", b"", False),
    ("GET", "/api/v1/models/", b"", False),
])
def test_which_requests_are_lists(method, path, query, expected):
    assert is_list_request({"type": "http", "method": method, "path": path, "query_string": query}) is expected


def test_lists_are_answered_by_their_own_small_pool(served):
    service, server = served
    app = server.app
    assert app.lists is not app.wsgi
    assert app.lists.executor._max_workers == service.settings.list_threads == 2
    base = f"http://{server.host}:{server.port}"
    with requests.Session() as http:
        assert http.get(base + "/api/v1/providers", timeout=10).status_code == 200
    main_threads = set(app.wsgi.executor._threads)

    def page(offset: int) -> int:
        return requests.get(f"{base}/api/v1/models?limit=1&offset={offset}", timeout=10).status_code

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        assert set(pool.map(page, range(40))) == {200}
    # Eight clients at once: the lists took at most the two threads of their pool, none of the main one.
    assert 1 <= len(app.lists.executor._threads) <= 2
    assert set(app.wsgi.executor._threads) == main_threads


def test_no_pool_of_their_own_when_list_threads_is_0(start_service, simulator):
    service = start_service([provider_config(simulator, "openai", "openai_compatible", route="openai")],
                            list_threads=0)
    server = ServerThread(service).start()
    try:
        assert server.app.lists is server.app.wsgi
        resp = requests.get(f"http://{server.host}:{server.port}/api/v1/models?limit=1", timeout=10)
        assert resp.status_code == 200 and "data" in resp.json()
    finally:
        server.stop()
