"""Fault knobs, latency, auth and the request log, applied the same way to every provider."""
from __future__ import annotations

import json
import time

import pytest
import requests

from discovery.simulator.state import FAULT_KINDS


def models_url(sim) -> str:
    return sim.base_url("openai") + "/models"


def test_status_fault_with_times_fails_only_the_next_n_requests(sim, http):
    sim.state.set_fault("openai", "status", status=500, times=2)
    assert [http.get(models_url(sim)).status_code for _ in range(3)] == [500, 500, 200]


def test_status_fault_without_times_lasts_until_cleared(sim, http):
    sim.state.set_fault("openai", "status", status=502)
    assert [http.get(models_url(sim)).status_code for _ in range(3)] == [502, 502, 502]
    sim.state.clear_faults("openai")
    assert http.get(models_url(sim)).status_code == 200


def test_error_statuses_use_the_providers_own_error_body(sim, http):
    sim.state.set_fault("openai", "status", status=500, times=1)
    body = http.get(models_url(sim)).json()
    assert set(body["error"]) == {"message", "type", "param", "code"}


def test_rate_limit_fault_answers_429_with_retry_after(sim, http):
    sim.state.set_fault("openai", "rate_limit", retry_after=7, times=1)
    resp = http.get(models_url(sim))
    assert resp.status_code == 429 and resp.headers["Retry-After"] == "7"
    assert resp.json()["error"]["code"] == "rate_limit_exceeded"
    assert http.get(models_url(sim)).status_code == 200


def test_unavailable_fault_answers_503_with_retry_after(sim, http):
    sim.state.set_fault("openai", "unavailable", retry_after=2.5)
    resp = http.get(models_url(sim))
    assert resp.status_code == 503 and resp.headers["Retry-After"] == "2.5"


def test_malformed_fault_answers_200_with_a_body_that_is_not_json(sim, http):
    sim.state.set_fault("openai", "malformed", times=1)
    resp = http.get(models_url(sim))
    assert resp.status_code == 200
    with pytest.raises(ValueError):
        json.loads(resp.content)


def test_wrong_shape_fault_answers_valid_json_of_the_wrong_shape(sim, http):
    sim.state.set_fault("openai", "wrong_shape", times=1)
    body = http.get(models_url(sim)).json()
    assert isinstance(body, list)


def test_empty_fault_answers_a_valid_list_with_no_models(sim, http):
    sim.state.set_fault("openai", "empty")
    assert http.get(models_url(sim)).json() == {"object": "list", "data": []}


def test_hang_fault_outlasts_the_client_timeout(sim, http):
    sim.state.set_fault("openai", "hang", seconds=20, times=1)
    with pytest.raises(requests.Timeout):
        http.get(models_url(sim), timeout=0.3)
    sim.state.clear_faults()  # releases the parked request thread


def test_huge_fault_streams_a_body_of_the_asked_size(sim, http):
    sim.state.set_fault("openai", "huge", mb=2, times=1)
    resp = http.get(models_url(sim))
    assert resp.status_code == 200 and len(resp.content) == 2 * 1024 * 1024
    assert resp.json()["object"] == "list"


def test_drip_fault_delivers_the_real_body_slowly(sim, http):
    expected = http.get(models_url(sim)).content
    rate = len(expected) * 4  # about a quarter of a second
    sim.state.set_fault("openai", "drip", bytes_per_second=rate, times=1)
    started = time.monotonic()
    resp = http.get(models_url(sim))
    assert resp.content == expected
    assert time.monotonic() - started >= 0.15


def test_close_fault_drops_the_connection_without_an_answer(sim, http):
    sim.state.set_fault("openai", "close", times=1)
    with pytest.raises(requests.ConnectionError):
        http.get(models_url(sim))
    assert http.get(models_url(sim)).status_code == 200


def test_fault_limited_to_a_path_spares_other_paths(sim, http):
    sim.state.set_fault("openai", "status", status=500, path="/models/gpt-4o")
    assert http.get(models_url(sim)).status_code == 200
    assert http.get(models_url(sim) + "/gpt-4o").status_code == 500


def test_faults_on_one_provider_leave_others_alone(sim, http):
    sim.state.set_fault("openai", "status", status=500)
    assert http.get(sim.base_url("modelsdev") + "/api.json").status_code == 200


def test_unknown_fault_kind_or_parameter_is_refused(sim):
    with pytest.raises(ValueError, match="valid kinds"):
        sim.state.set_fault("openai", "explode")
    with pytest.raises(ValueError, match="takes no parameter"):
        sim.state.set_fault("openai", "hang", mb=3)
    with pytest.raises(ValueError):
        sim.state.set_fault("openai", "status", status=200)
    assert set(FAULT_KINDS) >= {"status", "rate_limit", "unavailable", "malformed", "wrong_shape",
                                "empty", "hang", "huge", "drip", "close"}


def test_latency_delays_every_answer(sim, http):
    sim.state.set_latency("openai", 0.2)
    started = time.monotonic()
    assert http.get(models_url(sim)).status_code == 200
    assert time.monotonic() - started >= 0.2


def test_expected_key_refuses_missing_and_wrong_keys_with_401(sim, http):
    sim.state.set_expected_key("openai", "sk-right")
    assert http.get(models_url(sim)).status_code == 401
    wrong = http.get(models_url(sim), headers={"Authorization": "Bearer sk-wrong"})
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_api_key"
    ok = http.get(models_url(sim), headers={"Authorization": "Bearer sk-right"})
    assert ok.status_code == 200


def test_request_log_names_the_auth_header_but_never_its_value(sim, http):
    http.get(models_url(sim), headers={"Authorization": "Bearer sk-secret"}, params={"x": "1"})
    http.get(models_url(sim))
    assert sim.state.request_count("openai") == 2
    first, second = sim.state.requests("openai")
    assert first["method"] == "GET" and first["path"] == "/openai/v1/models"
    assert first["query"] == {"x": "1"} and first["auth"] == "authorization"
    assert second["auth"] is None
    assert "sk-secret" not in json.dumps(sim.state.requests("openai"))


def test_reset_restores_defaults_and_forgets_requests(sim, http):
    sim.state.remove_model("openai", "gpt-4o")
    sim.state.set_fault("openai", "status", status=500)
    http.get(models_url(sim))
    sim.state.reset()
    assert sim.state.request_count("openai") == 0
    ids = {r["id"] for r in http.get(models_url(sim)).json()["data"]}
    assert "gpt-4o" in ids
