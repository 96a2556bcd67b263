"""Gemini's GET /v1beta/models: token pages, rows by generation method, Google's errors."""
from __future__ import annotations

import pytest


def get(sim, http, path="/models", headers=None, **params):
    return http.get(sim.base_url("gemini") + path, params=params,
                    headers=headers if headers is not None else {"x-goog-api-key": "g-key"})


def walk(sim, http, **params) -> tuple[list[dict], int]:
    rows, pages, token = [], 0, None
    while True:
        body = get(sim, http, **params, **({"pageToken": token} if token else {})).json()
        pages += 1
        rows += body.get("models", [])
        token = body.get("nextPageToken")
        if not token:
            return rows, pages


def test_gemini_walk_all_pages_no_duplicates_none_missing(sim, http):
    rows, pages = walk(sim, http)
    names = [r["name"] for r in rows]
    assert pages >= 3 and len(names) == len(set(names))
    assert names == [r["name"] for r in sim.state.models("gemini")]


def test_gemini_page_size_parameter_below_the_knob_is_honoured(sim, http):
    rows, pages = walk(sim, http, pageSize=4)
    assert pages == -(-len(rows) // 4)
    sim.state.set_page_size("gemini", None)
    assert walk(sim, http)[1] == 1  # wire default 50 holds everything


def test_gemini_bad_page_token_is_invalid_argument(sim, http):
    resp = get(sim, http, pageToken="not-a-token")
    assert resp.status_code == 400 and resp.json()["error"]["status"] == "INVALID_ARGUMENT"


def test_gemini_rows_have_the_real_fields_and_optional_fields_left_out(sim, http):
    rows = {r["name"]: r for r in walk(sim, http)[0]}
    flash = rows["models/gemini-2.5-flash"]
    assert flash["inputTokenLimit"] == 1048576 and flash["thinking"] is True
    assert "generateContent" in flash["supportedGenerationMethods"] and flash["maxTemperature"] == 2
    embed = rows["models/gemini-embedding-001"]
    assert "embedContent" in embed["supportedGenerationMethods"]
    assert "temperature" not in embed and "thinking" not in embed
    assert rows["models/imagen-4.0-generate-001"]["supportedGenerationMethods"] == ["predict"]
    assert "thinking" not in rows["models/gemini-2.0-flash"]
    assert all(None not in r.values() for r in rows.values())


def test_gemini_key_may_come_from_the_query_and_is_redacted_in_the_log(sim, http):
    sim.state.set_expected_key("gemini", "g-secret")
    assert get(sim, http, headers={}, key="g-secret").status_code == 200
    entry = sim.state.requests("gemini")[-1]
    assert entry["auth"] == "query:key" and entry["query"]["key"] == "<redacted>"


@pytest.mark.parametrize("headers,status,google_status", [
    ({"x-goog-api-key": "wrong"}, 400, "INVALID_ARGUMENT"),
    ({}, 403, "PERMISSION_DENIED"),
])
def test_gemini_refuses_keys_the_way_google_does(sim, http, headers, status, google_status):
    sim.state.set_expected_key("gemini", "g-secret")
    resp = get(sim, http, headers=headers)
    assert resp.status_code == status
    error = resp.json()["error"]
    assert error["code"] == status and error["status"] == google_status


def test_gemini_empty_answer_is_an_empty_object(sim, http):
    sim.state.set_fault("gemini", "empty", times=1)
    assert get(sim, http).json() == {}


def test_gemini_single_model_lookup_and_not_found(sim, http):
    assert get(sim, http, "/models/gemini-2.5-pro").json()["name"] == "models/gemini-2.5-pro"
    resp = get(sim, http, "/models/gemini-0")
    assert resp.status_code == 404 and resp.json()["error"]["status"] == "NOT_FOUND"


def test_gemini_state_uses_ids_without_the_models_prefix(sim):
    sim.state.remove_model("gemini", "gemini-2.5-pro")
    assert "models/gemini-2.5-pro" not in {r["name"] for r in sim.state.models("gemini")}


def test_gemini_rate_limits_with_a_retry_info_and_no_retry_after_header(sim, http):
    sim.state.set_fault("gemini", "rate_limit", retry_after=2.5, times=1)
    resp = get(sim, http)
    assert resp.status_code == 429 and "Retry-After" not in resp.headers
    error = resp.json()["error"]
    assert error["status"] == "RESOURCE_EXHAUSTED"
    retry = [d for d in error["details"] if d["@type"] == "type.googleapis.com/google.rpc.RetryInfo"]
    assert [d["retryDelay"] for d in retry] == ["2.5s"]
    assert get(sim, http).status_code == 200


def test_gemini_overloaded_says_no_retry_time(sim, http):
    sim.state.set_fault("gemini", "unavailable", retry_after=3, times=1)
    resp = get(sim, http)
    assert resp.status_code == 503 and "Retry-After" not in resp.headers
    assert resp.json()["error"]["status"] == "UNAVAILABLE" and "details" not in resp.json()["error"]
