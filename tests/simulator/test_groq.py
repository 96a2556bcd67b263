"""Groq's GET /openai/v1/models: OpenAI's shape with both the old and the newer Groq fields."""
from __future__ import annotations


def rows(sim, http) -> dict[str, dict]:
    body = http.get(sim.base_url("groq") + "/models").json()
    assert body["object"] == "list"
    return {r["id"]: r for r in body["data"]}


def test_groq_every_row_has_active_context_window_and_max_completion_tokens(sim, http):
    for row in rows(sim, http).values():
        assert {"id", "object", "owned_by", "active", "context_window", "max_completion_tokens"} <= set(row)


def test_groq_mixes_old_rows_with_created_and_new_rows_with_string_pricing(sim, http):
    data = rows(sim, http)
    old, new = data["llama-3.3-70b-versatile"], data["openai/gpt-oss-120b"]
    assert isinstance(old["created"], int) and "pricing" not in old
    assert "created" not in new
    assert new["pricing"] == {"input": "0.00000015", "output": "0.0000006"}
    assert {"tools", "reasoning"} <= set(new["supported_features"])


def test_groq_lists_a_switched_off_model_as_inactive(sim, http):
    assert rows(sim, http)["gemma2-9b-it"]["active"] is False


def test_groq_auth_error_is_openai_style(sim, http):
    sim.state.set_expected_key("groq", "gsk_x")
    resp = http.get(sim.base_url("groq") + "/models", headers={"Authorization": "Bearer nope"})
    assert resp.status_code == 401
    assert resp.json()["error"]["message"] == "Invalid API Key"
