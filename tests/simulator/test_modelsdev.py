"""models.dev's api.json as the simulator serves it, and snapshot replays."""
from __future__ import annotations

from pathlib import Path

import pytest

from discovery.simulator import REMOVE, load_modelsdev_snapshot

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "modelsdev"


def test_modelsdev_serves_the_newest_snapshot_keyed_by_provider(sim, http):
    doc = http.get(sim.base_url("modelsdev") + "/api.json").json()
    assert {"openai", "anthropic", "google", "mistral", "ollama-cloud"} <= set(doc)
    gpt4o = doc["openai"]["models"]["gpt-4o"]
    assert gpt4o["tool_call"] is True and "image" in gpt4o["modalities"]["input"]
    assert doc["openai"]["env"] == ["OPENAI_API_KEY"]


def test_modelsdev_empty_fault_serves_an_empty_object(sim, http):
    sim.state.set_fault("modelsdev", "empty", times=1)
    assert http.get(sim.base_url("modelsdev") + "/api.json").json() == {}
    assert http.get(sim.base_url("modelsdev") + "/api.json").json() != {}


def test_modelsdev_deep_merge_edits_and_removes_one_catalog_model(sim, http):
    sim.state.update_model("modelsdev", "openai", {"models": {"gpt-4o": {"limit": {"context": 1}},
                                                               "gpt-4": REMOVE}})
    doc = http.get(sim.base_url("modelsdev") + "/api.json").json()
    assert doc["openai"]["models"]["gpt-4o"]["limit"] == {"context": 1, "output": 16384}
    assert "gpt-4" not in doc["openai"]["models"]


@pytest.mark.skipif(not SHARED.is_dir(), reason="the shared data directory is not present")
def test_an_older_snapshot_can_be_replayed(sim, http):
    old = load_modelsdev_snapshot(SHARED / "api-2026-04-01.json.gz")
    sim.state.set_models("modelsdev", old)
    doc = http.get(sim.base_url("modelsdev") + "/api.json").json()
    assert doc == old


def test_load_modelsdev_snapshot_rejects_a_document_that_is_not_one(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text("[1, 2]")
    with pytest.raises(ValueError):
        load_modelsdev_snapshot(path)
