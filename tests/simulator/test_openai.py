"""OpenAI's and an OpenAI-compatible server's GET /v1/models, as the simulator serves them."""
from __future__ import annotations

from discovery.simulator.sources import modelsdev_models


def test_openai_list_is_unpaginated_object_list_of_four_field_rows(sim, http):
    resp = http.get(sim.base_url("openai") + "/models")
    assert resp.status_code == 200
    body = resp.json()
    assert set(body) == {"object", "data"} and body["object"] == "list"
    for row in body["data"]:
        assert set(row) == {"id", "object", "created", "owned_by"}
        assert row["object"] == "model" and isinstance(row["created"], int)
    assert "x-request-id" in resp.headers


def test_openai_fixture_covers_models_dev_openai_ids_and_real_account_extras(sim, http):
    ids = [row["id"] for row in http.get(sim.base_url("openai") + "/models").json()["data"]]
    assert len(ids) == len(set(ids))
    assert {m["id"] for m in modelsdev_models("openai")} <= set(ids)
    # vision, tools, embeddings and a legacy model all exist for tests to find
    assert {"gpt-4o", "text-embedding-3-small", "gpt-3.5-turbo", "babbage-002"} <= set(ids)
    assert any(i.startswith("ft:") for i in ids)


def test_openai_owned_by_uses_the_real_vocabulary(sim, http):
    owners = {row["owned_by"] for row in http.get(sim.base_url("openai") + "/models").json()["data"]}
    assert {"system", "openai", "openai-internal"} <= owners
    assert any(o.startswith("org-") for o in owners)


def test_openai_single_model_lookup_and_404_error_body(sim, http):
    base = sim.base_url("openai")
    assert http.get(base + "/models/gpt-4o").json()["id"] == "gpt-4o"
    resp = http.get(base + "/models/no-such-model")
    assert resp.status_code == 404
    err = resp.json()["error"]
    assert set(err) == {"message", "type", "param", "code"} and err["code"] == "model_not_found"


def test_openai_model_set_changes_show_up_in_the_next_answer(sim, http):
    state = sim.state
    state.remove_model("openai", "gpt-4")
    state.add_model("openai", {"id": "gpt-9", "object": "model", "created": 1, "owned_by": "system"})
    state.update_model("openai", "gpt-4o", {"owned_by": "openai"})
    rows = {r["id"]: r for r in http.get(sim.base_url("openai") + "/models").json()["data"]}
    assert "gpt-4" not in rows and rows["gpt-9"]["created"] == 1
    assert rows["gpt-4o"]["owned_by"] == "openai"


def test_openai_compatible_server_lists_open_weight_ids_under_vllm(sim, http):
    assert sim.base_url("openai_compatible").endswith("/vllm/v1")
    body = http.get(sim.base_url("openai_compatible") + "/models").json()
    assert body["object"] == "list" and len(body["data"]) >= 3
    for row in body["data"]:
        assert "/" in row["id"] and row["owned_by"] == "vllm" and row["max_model_len"] > 0
