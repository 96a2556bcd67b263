"""LiteLLM's model map as the simulator serves it."""
from __future__ import annotations

import json

import pytest


def fetch(sim, http) -> dict:
    resp = http.get(sim.base_url("litellm") + "/model_prices_and_context_window.json")
    assert resp.status_code == 200
    return json.loads(resp.content)


def test_litellm_serves_the_whole_map_keyed_by_model(sim, http):
    doc = fetch(sim, http)
    assert len(doc) > 1000 and "sample_spec" in doc
    entry = doc["gpt-4o"]
    assert entry["litellm_provider"] == "openai" and entry["supports_vision"] is True
    assert any(v.get("mode") == "embedding" for v in doc.values() if isinstance(v, dict))


def test_litellm_entries_are_added_by_key(sim, http):
    sim.state.add_model("litellm", {"litellm_provider": "openai", "mode": "chat"}, model_id="gpt-9")
    assert fetch(sim, http)["gpt-9"]["mode"] == "chat"
    with pytest.raises(ValueError, match="model_id"):
        sim.state.add_model("litellm", {"mode": "chat"})
    resp = http.post(sim.url + "/_admin/litellm/models", json={"mode": "chat"})
    assert resp.status_code == 400
    resp = http.post(sim.url + "/_admin/litellm/models?id=gpt-10", json={"mode": "chat"})
    assert resp.status_code == 201 and "gpt-10" in fetch(sim, http)


def test_litellm_empty_fault_serves_an_empty_object(sim, http):
    sim.state.set_fault("litellm", "empty", times=1)
    assert fetch(sim, http) == {}
