"""Azure OpenAI's GET /openai/models: api-version, api-key, lifecycle and its quirks."""
from __future__ import annotations

import time

import pytest

PARAMS = {"api-version": "2024-10-21"}


def rows(sim, http) -> list[dict]:
    resp = http.get(sim.base_url("azure") + "/openai/models", params=PARAMS)
    assert resp.status_code == 200
    body = resp.json()
    assert body["object"] == "list"
    return body["data"]


def test_azure_requires_api_version_with_its_own_400_body(sim, http):
    resp = http.get(sim.base_url("azure") + "/openai/models")
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == "BadRequest" and "api-version" in resp.json()["error"]["message"]


def test_azure_checks_the_api_key_header_and_answers_a_string_code(sim, http):
    sim.state.set_expected_key("azure", "az-key")
    resp = http.get(sim.base_url("azure") + "/openai/models", params=PARAMS, headers={"api-key": "nope"})
    assert resp.status_code == 401 and resp.json()["error"]["code"] == "401"
    ok = http.get(sim.base_url("azure") + "/openai/models", params=PARAMS, headers={"api-key": "az-key"})
    assert ok.status_code == 200


def test_azure_rows_have_capabilities_lifecycle_and_deprecation(sim, http):
    for row in rows(sim, http):
        assert set(row["capabilities"]) == {"fine_tune", "inference", "completion", "chat_completion", "embeddings"}
        assert row["lifecycle_status"] in ("preview", "generally-available")
        assert isinstance(row["deprecation"]["inference"], int) and "_sim_key" not in row
    now = time.time()
    past = [r["id"] for r in rows(sim, http) if r["deprecation"]["inference"] < now]
    assert "gpt-3.5-turbo-0301" in past
    assert any(r["capabilities"]["embeddings"] for r in rows(sim, http))


def test_azure_repeats_an_id_and_lists_versioned_and_base_ids(sim, http):
    ids = [r["id"] for r in rows(sim, http)]
    assert ids.count("text-embedding-ada-002") == 2
    assert {"dall-e-3", "dall-e-3-3.0", "gpt-4o", "gpt-4o-2024-08-06"} <= set(ids)
    assert not any(i.startswith("claude") for i in ids)


@pytest.mark.parametrize("key", ["text-embedding-ada-002", "text-embedding-ada-002#2"])
def test_azure_duplicate_rows_are_separate_state_entries(sim, http, key):
    sim.state.remove_model("azure", key)
    assert [r["id"] for r in rows(sim, http)].count("text-embedding-ada-002") == 1
