"""Anthropic's GET /v1/models: cursor pages, the 2026 capability fields, headers and errors."""
from __future__ import annotations

import re

import pytest

HEADERS = {"anthropic-version": "2023-06-01", "x-api-key": "sk-ant-test"}
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


def get(sim, http, path="/models", **params):
    return http.get(sim.base_url("anthropic") + path, headers=HEADERS, params=params)


def walk_forward(sim, http, **params) -> list[dict]:
    pages, rows, after = 0, [], None
    while True:
        body = get(sim, http, **params, **({"after_id": after} if after else {})).json()
        pages += 1
        rows += body["data"]
        assert body["first_id"] == body["data"][0]["id"] and body["last_id"] == body["data"][-1]["id"]
        if not body["has_more"]:
            return rows, pages
        after = body["last_id"]


def test_anthropic_forward_walk_has_three_pages_no_duplicates_none_missing(sim, http):
    rows, pages = walk_forward(sim, http)
    ids = [r["id"] for r in rows]
    assert pages >= 3
    assert len(ids) == len(set(ids))
    assert ids == [r["id"] for r in sim.state.models("anthropic")]


def test_anthropic_backward_walk_with_before_id_reaches_the_first_model(sim, http):
    everything = [r["id"] for r in sim.state.models("anthropic")]
    seen, before = [], everything[-1]
    while True:
        body = get(sim, http, before_id=before).json()
        seen = [r["id"] for r in body["data"]] + seen
        if not body["has_more"]:
            break
        before = body["first_id"]
    assert seen + [everything[-1]] == everything


def test_anthropic_limit_is_honoured_below_the_page_size_knob(sim, http):
    assert len(get(sim, http, limit=2).json()["data"]) == 2
    sim.state.set_page_size("anthropic", None)  # back to the wire default of 20
    body = get(sim, http).json()
    assert len(body["data"]) == len(sim.state.models("anthropic")) and body["has_more"] is False


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 1001}, {"limit": "x"},
                                    {"after_id": "claude-nope"},
                                    {"after_id": "claude-sonnet-5", "before_id": "claude-sonnet-5"}])
def test_anthropic_bad_page_parameters_are_invalid_request_errors(sim, http, params):
    resp = get(sim, http, **params)
    assert resp.status_code == 400
    body = resp.json()
    assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
    assert body["request_id"].startswith("req_")


def test_anthropic_rows_are_newest_first_with_rfc3339_created_at(sim, http):
    rows, _ = walk_forward(sim, http)
    stamps = [r["created_at"] for r in rows]
    assert all(RFC3339.match(s) for s in stamps) and stamps == sorted(stamps, reverse=True)
    assert all(r["type"] == "model" and r["display_name"] for r in rows)


def test_anthropic_newer_rows_carry_capabilities_and_claude_3_rows_only_base_fields(sim, http):
    rows = {r["id"]: r for r in walk_forward(sim, http)[0]}
    assert set(rows["claude-3-haiku-20240307"]) == {"type", "id", "display_name", "created_at"}
    opus = rows["claude-opus-4-6"]
    assert opus["max_input_tokens"] == 1000000 and opus["max_tokens"] == 128000
    caps = opus["capabilities"]
    assert caps["image_input"] == {"supported": True}
    assert caps["thinking"]["types"]["adaptive"] == {"supported": True}
    assert caps["effort"]["supported"] is True and "max" in caps["effort"]
    assert caps["context_management"]["clear_tool_uses_20250919"] == {"supported": True}


def test_anthropic_aliases_and_retired_models_are_not_listed(sim, http):
    ids = {r["id"] for r in walk_forward(sim, http)[0]}
    assert "claude-sonnet-4-5" not in ids and "claude-sonnet-4-5-20250929" in ids
    assert not any(i.startswith("claude-3-opus") for i in ids)


def test_anthropic_base_fields_only_option_serves_the_pre_2026_shape(sim, http):
    sim.state.set_option("anthropic", "base_fields_only", True)
    for row in walk_forward(sim, http)[0]:
        assert set(row) == {"type", "id", "display_name", "created_at"}


def test_anthropic_requires_the_version_header(sim, http):
    resp = http.get(sim.base_url("anthropic") + "/models", headers={"x-api-key": "k"})
    assert resp.status_code == 400
    assert "anthropic-version" in resp.json()["error"]["message"]


def test_anthropic_checks_x_api_key_and_answers_authentication_error(sim, http):
    sim.state.set_expected_key("anthropic", "sk-ant-test")
    assert get(sim, http).status_code == 200
    resp = http.get(sim.base_url("anthropic") + "/models",
                    headers={"anthropic-version": "2023-06-01", "x-api-key": "wrong"})
    assert resp.status_code == 401
    assert resp.json()["error"]["type"] == "authentication_error"
    assert sim.state.requests("anthropic")[-1]["auth"] == "x-api-key"


def test_anthropic_single_model_and_not_found_error(sim, http):
    assert get(sim, http, "/models/claude-opus-4-6").json()["id"] == "claude-opus-4-6"
    resp = get(sim, http, "/models/claude-nope")
    assert resp.status_code == 404 and resp.json()["error"]["type"] == "not_found_error"


def test_anthropic_rate_limit_uses_its_own_error_type_and_headers(sim, http):
    sim.state.set_fault("anthropic", "rate_limit", retry_after=3, times=1)
    resp = get(sim, http)
    assert resp.status_code == 429 and resp.headers["retry-after"] == "3"
    assert resp.json()["error"]["type"] == "rate_limit_error"
    assert resp.headers["anthropic-ratelimit-requests-remaining"] == "0"


def test_anthropic_overload_is_a_529_overloaded_error(sim, http):
    sim.state.set_fault("anthropic", "unavailable", retry_after=1, times=1)
    resp = get(sim, http)
    assert resp.status_code == 529 and resp.json()["error"]["type"] == "overloaded_error"
    assert get(sim, http).status_code == 200
    sim.state.set_fault("anthropic", "status", status=529, times=1)
    assert get(sim, http).json()["error"]["type"] == "overloaded_error"
