"""Mistral's GET /v1/models: alias cards, request-time created, capability dicts."""
from __future__ import annotations


def cards(sim, http) -> list[dict]:
    body = http.get(sim.base_url("mistral") + "/models").json()
    assert body["object"] == "list"
    return body["data"]


def test_mistral_every_card_has_the_same_created_close_to_now(sim, http):
    import time

    before = int(time.time())
    data = cards(sim, http)
    stamps = {c["created"] for c in data}
    assert len(stamps) == 1 and before <= stamps.pop() <= int(time.time())


def test_mistral_lists_each_alias_as_its_own_card_named_after_the_canonical_id(sim, http):
    data = {c["id"]: c for c in cards(sim, http)}
    canonical, alias = data["mistral-medium-2508"], data["mistral-medium-latest"]
    assert canonical["name"] == "mistral-medium-2508" and "mistral-medium-latest" in canonical["aliases"]
    assert alias["name"] == "mistral-medium-2508"
    assert "mistral-medium-latest" in alias["aliases"]  # an alias card lists its own id
    assert alias["capabilities"] == canonical["capabilities"]


def test_mistral_cards_have_nine_capability_flags_and_cover_the_kinds(sim, http):
    data = {c["id"]: c for c in cards(sim, http)}
    for c in data.values():
        assert len(c["capabilities"]) == 9 and c["type"] in ("base", "fine-tuned")
    assert data["pixtral-12b"]["capabilities"]["vision"] is True
    assert data["mistral-large-2512"]["capabilities"]["function_calling"] is True
    assert data["mistral-embed"]["capabilities"]["completion_chat"] is False
    assert data["open-mistral-nemo"]["deprecation"] and data["open-mistral-nemo"]["deprecation_replacement_model"]
    fine_tuned = [c for c in data.values() if c["type"] == "fine-tuned"]
    assert fine_tuned and {"job", "root", "archived"} <= set(fine_tuned[0])


def test_mistral_removing_a_model_removes_its_alias_cards(sim, http):
    sim.state.remove_model("mistral", "mistral-medium-2508")
    ids = {c["id"] for c in cards(sim, http)}
    assert "mistral-medium-2508" not in ids and "mistral-medium-latest" not in ids


def test_mistral_errors_use_the_object_error_body(sim, http):
    sim.state.set_fault("mistral", "status", status=500, times=1)
    body = http.get(sim.base_url("mistral") + "/models").json()
    assert body["object"] == "error" and {"message", "type", "param", "code"} <= set(body)
