"""The /_admin/ routes: the SimulatorState API over HTTP."""
from __future__ import annotations

import pytest


@pytest.fixture
def admin(sim):
    return sim.url + "/_admin"


def openai_ids(sim, http) -> list[str]:
    return [r["id"] for r in http.get(sim.base_url("openai") + "/models").json()["data"]]


def test_admin_fault_routes_arm_and_clear_a_fault(sim, http, admin):
    resp = http.post(f"{admin}/openai/fault", json={"kind": "status", "status": 503, "times": 1})
    assert resp.status_code == 200 and resp.json()["faults"][0]["kind"] == "status"
    assert http.get(sim.base_url("openai") + "/models").status_code == 503
    http.post(f"{admin}/openai/fault", json={"kind": "status", "status": 500})
    assert http.delete(f"{admin}/openai/fault").status_code == 200
    assert http.get(sim.base_url("openai") + "/models").status_code == 200


def test_admin_model_routes_add_patch_delete_and_replace(sim, http, admin):
    row = {"id": "acme/model:1.0", "object": "model", "created": 5, "owned_by": "system"}
    assert http.post(f"{admin}/openai/models", json=row).status_code == 201
    patched = http.patch(f"{admin}/openai/models/acme/model:1.0", json={"owned_by": "openai"})
    assert patched.json()["owned_by"] == "openai"
    assert "acme/model:1.0" in openai_ids(sim, http)
    assert http.delete(f"{admin}/openai/models/acme/model:1.0").status_code == 200
    assert "acme/model:1.0" not in openai_ids(sim, http)
    http.put(f"{admin}/openai/models", json=[row])
    assert openai_ids(sim, http) == ["acme/model:1.0"]
    assert http.get(f"{admin}/openai/models").json() == [row]


def test_admin_patch_can_remove_a_key(sim, http, admin):
    http.patch(f"{admin}/openai/models/gpt-4o", json={"owned_by": {"__remove__": True}})
    row = next(r for r in http.get(sim.base_url("openai") + "/models").json()["data"] if r["id"] == "gpt-4o")
    assert "owned_by" not in row


def test_admin_latency_page_size_key_and_requests(sim, http, admin):
    assert http.post(f"{admin}/openai/latency", json={"seconds": 0.01}).status_code == 200
    assert sim.state.latency("openai") == 0.01
    assert http.post(f"{admin}/openai/page_size", json={"page_size": 3}).status_code == 200
    assert sim.state.page_size("openai") == 3
    http.post(f"{admin}/openai/key", json={"key": "sk-1"})
    assert http.get(sim.base_url("openai") + "/models").status_code == 401
    log = http.get(f"{admin}/openai/requests").json()
    assert log["count"] == 1 and log["requests"][0]["path"] == "/openai/v1/models"


def test_admin_reset_restores_everything(sim, http, admin):
    http.post(f"{admin}/openai/fault", json={"kind": "status", "status": 500})
    assert http.post(f"{admin}/reset").json() == {"ok": True}
    assert http.get(sim.base_url("openai") + "/models").status_code == 200


@pytest.mark.parametrize("method,path,body,fragment", [
    ("post", "/openai/fault", {"kind": "nope"}, "valid kinds"),
    ("post", "/openai/fault", {"status": 500}, "kind"),
    ("post", "/openai/fault", {"kind": "status", "status": "x"}, "number"),
    ("post", "/openai/latency", {"seconds": -1}, "latency"),
    ("post", "/openai/latency", {}, "seconds"),
    ("post", "/openai/page_size", {"page_size": 0}, "page size"),
    ("post", "/openai/models", {"object": "model"}, "id"),
    ("put", "/openai/models", "not a list", "JSON"),
])
def test_admin_bad_input_is_a_400_that_says_what_was_wrong(sim, http, admin, method, path, body, fragment):
    resp = http.request(method, admin + path, json=body)
    assert resp.status_code == 400
    assert fragment in resp.json()["error"]


def test_admin_unknown_provider_or_model_is_404(sim, http, admin):
    assert http.post(f"{admin}/nope/fault", json={"kind": "empty"}).status_code == 404
    assert http.delete(f"{admin}/openai/models/no-such").status_code == 404


def test_stream_knobs_are_set_and_read_over_http_and_checked(sim, http):
    url = f"{sim.url}/_admin/openai/stream"
    resp = http.post(url, json={"ttft": 0.3, "tokens_per_second": 50, "usage": False})
    assert resp.status_code == 200 and resp.json()["stream"]["ttft"] == 0.3
    assert http.get(url).json() == {**sim.state.stream("openai"), "tokens_per_second": 50.0, "usage": False}
    assert http.post(url, json={"tokens_per_second": 0}).status_code == 400
    assert http.post(url, json={"colour": 1}).status_code == 400
    resp = http.post(f"{sim.url}/_admin/openai/fault", json={"kind": "midstream", "after_tokens": 2, "times": 1})
    assert resp.status_code == 200 and resp.json()["faults"][0]["after_tokens"] == 2
