"""A poller's conditional reads over real HTTP: every JSON read carries an ETag, a request that
sends it back in If-None-Match gets 304 and no body until the answer would differ."""
from __future__ import annotations

import requests

from tests.conftest import provider_config, wait_for
from web.server import ServerThread


def test_a_list_read_again_unchanged_is_a_304_and_a_change_a_new_etag(start_service, simulator):
    service = start_service([provider_config(simulator, "openai", "openai_compatible", route="openai",
                                             manual_refresh_per_minute=1000)])
    wait_for(lambda: all(p.get("last_refresh_at") for p in service.providers()), what="the first refresh")
    server = ServerThread(service).start()
    try:
        session = requests.Session()
        for path in ("/api/v1/models?capability=vision&limit=5", "/api/v1/providers/openai/models",
                     "/api/v1/export/litellm?provider=openai"):
            first = session.get(server.url + path, timeout=10)
            tag = first.headers["ETag"]
            assert first.status_code == 200 and tag.startswith('"') and first.content
            again = session.get(server.url + path, headers={"If-None-Match": tag}, timeout=10)
            assert again.status_code == 304 and again.content == b"" and again.headers["ETag"] == tag, path
            other = session.get(server.url + path, headers={"If-None-Match": '"something-else"'}, timeout=10)
            assert other.status_code == 200 and other.content == first.content
        path = "/api/v1/models?provider=openai&limit=1000"
        tag = session.get(server.url + path, timeout=10).headers["ETag"]
        assert session.head(server.url + path, headers={"If-None-Match": tag}, timeout=10).status_code == 304
        simulator.state.add_model("openai", {"id": "gpt-etag-new", "object": "model", "created": 1, "owned_by": "x"})
        service.wait([service.refresh("openai")], timeout=10)
        changed = session.get(server.url + path, headers={"If-None-Match": tag}, timeout=10)
        assert changed.status_code == 200 and changed.headers["ETag"] != tag
        assert "openai/gpt-etag-new" in {m["id"] for m in changed.json()["data"]}
        # Errors are never conditional.
        refused = session.get(server.url + "/api/v1/models?capability=telepathy", headers={"If-None-Match": "*"},
                              timeout=10)
        assert refused.status_code == 400 and "ETag" not in refused.headers
    finally:
        server.stop()
