"""Tenants: /t/<tenant>/... serves the usual formats from a state of the tenant's own."""
from __future__ import annotations

import threading
import time

import pytest
import requests

from discovery.simulator import InvalidTenant, SimulatorServer


def row(model_id: str) -> dict:
    return {"id": model_id, "object": "model", "created": 0, "owned_by": "system"}


def openai_ids(http, server: SimulatorServer, tenant: str | None = None) -> list[str]:
    resp = http.get(server.base_url("openai", tenant=tenant) + "/models", timeout=10)
    assert resp.status_code == 200, resp.text
    return [r["id"] for r in resp.json()["data"]]


@pytest.fixture
def server():
    """A simulator of the test's own: tenants outlive a reset of the default state."""
    with SimulatorServer() as sim:
        yield sim


def test_two_tenants_of_one_format_serve_their_own_models_and_latency(server, http):
    admin_a, admin_b = server.url + "/t/acme/_admin", server.url + "/t/globex/_admin"
    assert http.put(f"{admin_a}/openai/models", json=[row("acme-1"), row("acme-2")]).status_code == 200
    assert http.put(f"{admin_b}/openai/models", json=[row("globex-1")]).status_code == 200
    assert http.post(f"{admin_a}/openai/latency", json={"seconds": 0.4}).status_code == 200

    started = time.monotonic()
    assert openai_ids(http, server, "acme") == ["acme-1", "acme-2"]
    slow = time.monotonic() - started
    started = time.monotonic()
    assert openai_ids(http, server, "globex") == ["globex-1"]
    fast = time.monotonic() - started

    assert slow >= 0.4 > fast
    assert server.tenant_state("acme").latency("openai") == 0.4
    assert server.tenant_state("globex").latency("openai") == 0.0


def test_a_tenants_admin_api_leaves_other_tenants_and_the_default_alone(server, http):
    default_ids = openai_ids(http, server)
    http.put(server.url + "/t/globex/_admin/openai/models", json=[row("globex-1")])
    admin = server.url + "/t/acme/_admin"
    http.post(f"{admin}/openai/fault", json={"kind": "status", "status": 503})
    assert http.get(server.base_url("openai", tenant="acme") + "/models").status_code == 503
    http.post(f"{admin}/openai/key", json={"key": "sk-acme"})
    assert http.get(server.base_url("openai", tenant="acme") + "/models").status_code == 401

    assert openai_ids(http, server, "globex") == ["globex-1"]
    assert openai_ids(http, server) == default_ids
    assert server.state.faults("openai") == [] and server.state.expected_key("openai") is None

    assert http.post(f"{admin}/reset").status_code == 200
    assert openai_ids(http, server, "globex") == ["globex-1"]
    assert http.get(f"{admin}/openai/requests").json()["count"] == 0
    assert http.get(server.url + "/t/globex/_admin/openai/requests").json()["count"] == 2
    assert http.get(server.url + "/_admin/openai/requests").json()["count"] == 2


def test_a_tenant_is_created_by_its_first_request_with_the_default_fixtures(server, http):
    assert openai_ids(http, server, "fresh") == openai_ids(http, server)
    assert http.get(server.url + "/_admin/tenants").json() == {"tenants": ["fresh"]}
    assert http.get(server.url + "/_admin/tenants/fresh").json()["requests"] == {"openai": 1}


def test_an_invalid_tenant_name_is_a_400_json_error(server, http):
    for path in ("/t/no!pe/openai/v1/models", "/t/-dash-first/openai/v1/models", "/_admin/tenants/no!pe"):
        resp = http.get(server.url + path)
        assert resp.status_code == 400 and "invalid tenant name" in resp.json()["error"]
    with pytest.raises(InvalidTenant):
        server.base_url("openai", tenant="no/pe")
    assert http.get(server.url + "/_admin/tenants").json() == {"tenants": []}


def test_an_unknown_tenant_is_a_404_json_error_in_the_tenant_admin(server, http):
    for method in ("GET", "DELETE"):
        resp = http.request(method, server.url + "/_admin/tenants/ghost")
        assert resp.status_code == 404 and "no tenant 'ghost'" in resp.json()["error"]
    resp = http.get(server.url + "/t/")
    assert resp.status_code == 404 and "/t/<tenant>/" in resp.json()["error"]


def test_dropping_a_tenant_forgets_its_models(server, http):
    server.tenant_state("acme").set_models("openai", [row("acme-1")])
    assert http.delete(server.url + "/_admin/tenants/acme").json() == {"ok": True}
    assert openai_ids(http, server, "acme") == openai_ids(http, server)


def test_the_tenant_cap_refuses_one_more_tenant_with_a_400():
    with SimulatorServer(max_tenants=2) as sim, requests.Session() as http:
        for name in ("one", "two"):
            assert http.get(sim.base_url("groq", tenant=name) + "/models").status_code == 200
        resp = http.get(sim.base_url("groq", tenant="three") + "/models")
        assert resp.status_code == 400 and "too many tenants" in resp.json()["error"]


def test_links_a_tenant_builds_keep_its_prefix(server, http):
    server.tenant_state("acme").set_page_size("openrouter", 2)
    body = http.get(server.base_url("openrouter", tenant="acme") + "/models").json()
    assert body["links"]["next"].startswith(server.url + "/t/acme/openrouter/api/v1/models?")
    assert len(http.get(body["links"]["next"]).json()["data"]) == 2


def test_every_format_answers_under_a_tenant(server, http):
    headers = {"anthropic-version": "2023-06-01", "api-key": "k", "Authorization": "Bearer k"}
    paths = {"openai": "/models", "anthropic": "/models", "gemini": "/models", "mistral": "/models",
             "cohere": "/models", "groq": "/models", "together": "/models", "openrouter": "/models",
             "openai_compatible": "/models", "modelsdev": "/api.json",
             "litellm": "/model_prices_and_context_window.json", "ollama": "/api/tags"}
    for provider, path in paths.items():
        resp = http.get(server.base_url(provider, tenant="every") + path, headers=headers)
        assert resp.status_code == 200, (provider, resp.text)
    assert set(server.tenant_state("every").providers) == set(server.state.providers)


def test_stop_releases_requests_parked_in_a_tenants_latency():
    before = set(threading.enumerate())
    sim = SimulatorServer().start()
    sim.tenant_state("slow").set_latency("openai", 30)
    with pytest.raises(requests.Timeout):
        requests.get(sim.base_url("openai", tenant="slow") + "/models", timeout=0.2)
    sim.stop()
    assert set(threading.enumerate()) <= before
