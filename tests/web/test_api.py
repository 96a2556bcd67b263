"""HTTP behaviour of the API: shapes, paging, and JSON errors for bad requests."""
from __future__ import annotations

import pytest

from tests.conftest import provider_config, wait_for
from web import create_app


@pytest.fixture
def client(start_service, simulator):
    simulator.state.set_models("modelsdev", {k: v for k, v in simulator.state.model_items("modelsdev")
                                             if k == "mistral"})
    service = start_service([provider_config(simulator, "openai", "openai_compatible", route="openai"),
                             provider_config(simulator, "modelsdev", "modelsdev")])
    wait_for(lambda: len(service.index.by_provider) >= 2, what="first refreshes")
    wait_for(lambda: all(p.get("last_success_at") for p in service.providers()), what="both refreshed")
    return create_app(service).test_client()


def test_list_is_paged_and_reports_the_total(client):
    first = client.get("/api/v1/models?limit=5").get_json()
    second = client.get("/api/v1/models?limit=5&offset=5").get_json()
    assert len(first["data"]) == 5 and first["total"] > 10
    assert {m["id"] for m in first["data"]}.isdisjoint(m["id"] for m in second["data"])


def test_an_id_glob_of_stars_alone_matches_every_model(client):
    """``?id=*`` matched once more past the last id and answered 500; it is every model."""
    everything = client.get("/api/v1/models?limit=1000").get_json()
    for glob in ("*", "**"):
        resp = client.get(f"/api/v1/models?id={glob}&limit=1000")
        assert resp.status_code == 200, resp.get_data(as_text=True)
        body = resp.get_json()
        assert body["total"] == everything["total"]
        assert [m["id"] for m in body["data"]] == [m["id"] for m in everything["data"]]


def test_an_id_glob_with_a_reversed_range_matches_nothing_instead_of_failing(client):
    """``[z-a]`` is an empty range: fnmatch matches nothing with it, and so does the API (it
    answered 500: the regular expression made of it did not compile)."""
    for glob in ("[z-a]*", "*[z-a]", "*[z-a]*"):
        resp = client.get("/api/v1/models", query_string={"id": glob})
        assert resp.status_code == 200, resp.get_data(as_text=True)
        assert resp.get_json()["total"] == 0
    negated = client.get("/api/v1/models", query_string={"id": "[!z-a]*", "limit": 1000}).get_json()
    assert negated["total"] == client.get("/api/v1/models?limit=1").get_json()["total"]


def test_model_detail_includes_raw_and_provenance_and_ids_with_slashes_work(client):
    listed = client.get("/api/v1/models?provider=mistral&limit=1").get_json()["data"][0]
    body = client.get(f"/api/v1/models/{listed['id']}").get_json()
    assert body["id"] == listed["id"] and "raw" in body and "provenance" in body
    assert "raw" not in client.get(f"/api/v1/models/{listed['id']}?raw=false").get_json()


@pytest.mark.parametrize("url,status,code", [
    ("/api/v1/models?capability=telepathy", 400, "invalid_query"),
    ("/api/v1/models?limit=100000", 400, "invalid_query"),
    ("/api/v1/models?released_after=2024-13-45", 400, "invalid_query"),
    ("/api/v1/models?released_before=2023-02-29", 400, "invalid_query"),
    ("/api/v1/models?released_before=2024-00", 400, "invalid_query"),
    ("/api/v1/models?sort=--id", 400, "invalid_query"),
    ("/api/v1/models?colour=red", 400, "invalid_parameter"),
    ("/api/v1/models?provider=nope", 400, "invalid_parameter"),
    ("/api/v1/refresh/runs?provider=nope", 400, "invalid_parameter"),
    ("/api/v1/models/openai/no-such-model", 404, "model_not_found"),
    ("/api/v1/models/openai/no-such-model/history", 404, "model_not_found"),
    ("/api/v1/providers/nope", 404, "provider_not_found"),
    ("/api/v1/providers/nope/models", 404, "provider_not_found"),
    ("/api/v1/refresh/runs?limit=abc", 400, "invalid_parameter"),
    # Numbers in ASCII digits only (Python's int() and float() also take these).
    ("/api/v1/refresh/runs?limit=%D9%A5", 400, "invalid_parameter"),  # an Arabic-Indic five
    ("/api/v1/refresh/runs?limit=%2B5", 400, "invalid_parameter"),
    ("/api/v1/models?limit=1_0", 400, "invalid_query"),
    ("/api/v1/models?limit=%205", 400, "invalid_query"),
    ("/api/v1/models?min_context_window=%D9%A5", 400, "invalid_query"),
    ("/api/v1/models?max_input_price=nan", 400, "invalid_query"),
    ("/api/v1/reconciliation?tolerance=%D9%A0.%D9%A5", 400, "invalid_parameter"),
    ("/api/v1/reconciliation?tolerance=1_0", 400, "invalid_parameter"),
    ("/api/v1/refresh/runs/999999", 404, "run_not_found"),
    # An id the document bounds (0 to 2^62) is a 400 naming it, not the router's 404 page.
    ("/api/v1/refresh/runs/-1", 400, "invalid_parameter"),
    ("/api/v1/refresh/runs/abc", 400, "invalid_parameter"),
    ("/api/v1/refresh/runs/99999999999999999999999", 400, "invalid_parameter"),
    ("/api/v1/refresh/runs?before=0", 400, "invalid_parameter"),
    ("/api/v1/benchmarks/runs?before=0", 400, "invalid_parameter"),
    ("/api/v1/models?offset=99999999999999999999999999", 400, "invalid_query"),
    # Blank, or a list of blanks, is a parameter given without a value (it was no filter at all).
    ("/api/v1/models?provider=,", 400, "invalid_parameter"),
    ("/api/v1/models?provider=%20", 400, "invalid_parameter"),
    ("/api/v1/events?provider=,,", 400, "invalid_parameter"),
    ("/api/v1/events?kinds=%20,%20", 400, "invalid_parameter"),
    ("/api/v1/models?q=%20", 400, "invalid_parameter"),
    ("/api/v1/nothing-here", 404, "not_found"),
])
def test_bad_requests_get_a_json_error_saying_what_was_wrong(client, url, status, code):
    resp = client.get(url)
    assert resp.status_code == status
    err = resp.get_json()["error"]
    assert err["code"] == code and err["message"]


def test_an_id_glob_too_costly_to_match_is_a_400(client, monkeypatch):
    import discovery.index as index_module

    monkeypatch.setattr(index_module, "GLOB_SECONDS", 0.0)
    resp = client.get("/api/v1/models?id=*" + "%5B!%23%5D" * 30 + "%23*")
    assert resp.status_code == 400 and resp.get_json()["error"]["code"] == "invalid_query"
    assert "takes too long to match" in resp.get_json()["error"]["message"]


def test_an_overlong_value_or_query_string_is_a_json_error(client):
    resp = client.get("/api/v1/models?q=" + "a" * 5000)
    assert resp.status_code == 400 and "q is longer than 4096" in resp.get_json()["error"]["message"]
    resp = client.get("/api/v1/models?" + "&".join(["provider=openai"] * 3000))
    assert resp.status_code == 414 and resp.get_json()["error"]["code"] == "query_too_long"
    assert client.get("/api/v1/models?q=" + "a" * 4096).status_code == 200


def test_wrong_method_and_bad_refresh_parameters_are_json_errors(client):
    assert client.get("/api/v1/refresh").status_code == 405
    assert client.get("/api/v1/refresh").get_json()["error"]["code"] == "method_not_allowed"
    resp = client.post("/api/v1/providers/nope/refresh")
    assert resp.status_code == 404 and resp.get_json()["error"]["code"] == "provider_not_found"
    resp = client.post("/api/v1/refresh?wait=maybe")
    assert resp.status_code == 400 and "wait" in resp.get_json()["error"]["message"]
    runs = len(client.get("/api/v1/refresh/runs?limit=1000").get_json()["data"])
    for timeout in ("%D9%A5", "1_0", "%2B5"):  # an Arabic-Indic five, '_' between digits, a '+'
        resp = client.post(f"/api/v1/providers/openai/refresh?wait=true&timeout={timeout}")
        assert resp.status_code == 400 and "timeout must be a number" in resp.get_json()["error"]["message"]
    assert len(client.get("/api/v1/refresh/runs?limit=1000").get_json()["data"]) == runs


def test_a_body_on_a_route_that_takes_its_options_from_the_query_is_refused_before_anything_starts(client):
    """{"wait": true} sent as JSON was ignored (a 202 with the refresh started), and so was '{bad'."""
    before = len(client.get("/api/v1/refresh/runs?limit=1000").get_json()["data"])
    for path in ("/api/v1/refresh", "/api/v1/providers/openai/refresh"):
        for body in ('{"wait": true}', "{bad", "wait=true"):
            resp = client.post(path, data=body, content_type="application/json")
            assert resp.status_code == 400, (path, body, resp.get_json())
            err = resp.get_json()["error"]
            assert err["code"] == "invalid_body" and "?wait=true" in err["message"]
    assert len(client.get("/api/v1/refresh/runs?limit=1000").get_json()["data"]) == before
    resp = client.post("/api/v1/providers/openai/refresh?wait=true", data="{ \n }", content_type="application/json")
    assert resp.status_code == 200 and resp.get_json()["runs"][0]["outcome"] == "succeeded"


def test_refresh_all_without_wait_answers_202_with_run_ids(client):
    resp = client.post("/api/v1/refresh")
    assert resp.status_code == 202
    runs = resp.get_json()["runs"]
    assert {r["provider"] for r in runs} == {"openai", "modelsdev"} and all(r["run_id"] for r in runs)
    for r in runs:
        wait_for(lambda r=r: client.get(f"/api/v1/refresh/runs/{r['run_id']}").get_json()["outcome"] != "running",
                 what="run to finish")


@pytest.mark.parametrize("yes,no", [("true", "false"), ("1", "0"), ("YES", "no"), ("on", "Off")])
def test_every_boolean_parameter_takes_the_same_words(client, yes, no):
    """wait took yes and no but not on and off; live took 1 but not yes; raw took no."""
    every = client.get("/api/v1/models?limit=1000").get_json()["total"]
    live = client.get(f"/api/v1/models?live={yes}&limit=1").get_json()["total"]
    catalog_only = client.get(f"/api/v1/models?live={no}&limit=1").get_json()["total"]
    assert live > 0 and catalog_only > 0 and live + catalog_only == every
    some = client.get("/api/v1/models?live=true&limit=1").get_json()["data"][0]["id"]
    assert "raw" in client.get(f"/api/v1/models/{some}?raw={yes}").get_json()
    assert "raw" not in client.get(f"/api/v1/models/{some}?raw={no}").get_json()
    assert client.post(f"/api/v1/providers/openai/refresh?wait={yes}").status_code == 200
    assert client.post(f"/api/v1/providers/openai/refresh?wait={no}").status_code == 202


@pytest.mark.parametrize("url", ["/api/v1/models?live=maybe", "/api/v1/models/openai/gpt-4o?raw=maybe"])
def test_a_boolean_parameter_that_is_no_boolean_word_is_a_400_naming_it(client, url):
    resp = client.get(url)
    assert resp.status_code == 400 and "must be true or false, got 'maybe'" in resp.get_json()["error"]["message"]


def test_refresh_runs_page_as_the_other_lists_do(client):
    """The runs answered only {"data": [...]}: no has_more, no next, unlike history, events and /changes."""
    for _ in range(3):
        assert client.post("/api/v1/providers/openai/refresh?wait=true").status_code == 200
    every = [r["id"] for r in client.get("/api/v1/refresh/runs?limit=1000").get_json()["data"]]
    assert len(every) >= 5 and every == sorted(every, reverse=True)
    seen, before = [], None
    while True:
        page = client.get("/api/v1/refresh/runs?limit=2" + (f"&before={before}" if before else "")).get_json()
        seen += [r["id"] for r in page["data"]]
        if not page["has_more"]:
            assert page["next"] is None
            break
        assert page["next"] == page["data"][-1]["id"]
        before = page["next"]
    assert seen == every


def test_kind_unknown_selects_the_models_no_source_gave_a_kind(client):
    everything = client.get("/api/v1/models?limit=1000").get_json()
    unknown = client.get("/api/v1/models?kind=unknown&limit=1000").get_json()["data"]
    expected = {m["id"] for m in everything["data"] if m["kind"] is None}
    assert expected, "the catalog has no model without a kind: the test would prove nothing"
    assert {m["id"] for m in unknown} == expected
    known = client.get("/api/v1/models?kind=chat,unknown&limit=1000").get_json()["data"]
    assert {m["id"] for m in known} == expected | {m["id"] for m in everything["data"] if m["kind"] == "chat"}


def test_kind_status_and_modality_are_named_in_any_case_as_a_capability_is(client):
    def ids(query: str) -> list[str]:
        resp = client.get(f"/api/v1/models?{query}&limit=1000")
        assert resp.status_code == 200, resp.get_json()
        return [m["id"] for m in resp.get_json()["data"]]

    chat = ids("kind=chat")
    assert chat and ids("kind=CHAT") == chat and ids("kind=Chat,UNKNOWN") == ids("kind=chat,unknown")
    seeing = ids("input_modality=image&status=active")
    assert seeing and ids("input_modality=IMAGE&status=Active") == seeing
    assert ids("capability=VISION") == ids("capability=vision")
    bad = client.get("/api/v1/models?kind=CHATS")
    assert bad.status_code == 400 and "unknown kind 'CHATS'" in bad.get_json()["error"]["message"]


def test_capabilities_endpoint_lists_the_taxonomy_with_counts(client):
    data = {c["name"]: c for c in client.get("/api/v1/capabilities").get_json()["data"]}
    assert data["tool_calling"]["models"] > 0 and "function_calling" in data["tool_calling"]["aliases"]


def test_healthz_and_readyz(client):
    assert client.get("/healthz").get_json()["status"] == "ok"
    ready = client.get("/readyz").get_json()
    assert ready["ready"] is True and set(ready["refreshed_since_start"]) == {"openai", "modelsdev"}
    assert ready["catalog_loaded"] is True and ready["pending"] == [] and ready["models"] > 0


def test_not_ready_until_every_provider_has_tried_once_and_then_ready_even_if_one_failed(start_service, simulator):
    simulator.state.set_latency("anthropic", 1.5)
    simulator.state.set_fault("openai", "status", status=500)
    service = start_service([provider_config(simulator, "openai", "openai_compatible", route="openai"),
                             provider_config(simulator, "anthropic", "openai_compatible", route="anthropic",
                                             timeout=5.0)])
    client = create_app(service).test_client()
    waiting = client.get("/readyz")
    assert waiting.status_code == 503
    body = waiting.get_json()
    assert body["ready"] is False and body["catalog_loaded"] is True and "anthropic" in body["pending"]
    ready = wait_for(lambda: client.get("/readyz").status_code == 200 and client.get("/readyz").get_json(),
                     timeout=15, what="readiness")
    assert set(ready["attempted"]) == {"openai", "anthropic"} and "openai" not in ready["refreshed_since_start"]


def test_without_refresh_on_start_the_stored_catalog_is_ready_at_once(start_service, simulator):
    simulator.state.set_latency("openai", 3.0)
    service = start_service([provider_config(simulator, "openai", "openai_compatible", route="openai")],
                            refresh_on_start=False)
    answer = create_app(service).test_client().get("/readyz")
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["pending"] == [] and answer.get_json()["attempted"] == []


def test_the_api_lists_its_resources_and_the_version_names_the_build(client):
    index = client.get("/api/v1").get_json()
    paths = {r["path"] for r in index["resources"]}
    assert {"/api/v1/models", "/api/v1/models/compare", "/api/v1/providers", "/api/v1/events"} <= paths
    assert index["openapi"] == "/openapi.json" and client.get(index["openapi"]).status_code == 200
    version = client.get("/version").get_json()
    assert version["name"] == "model-discovery" and version["version"] and "commit" in version["build"]


def test_refresh_of_every_provider_lists_the_skipped_ones_and_why(start_service, simulator):
    service = start_service([provider_config(simulator, "openai", "openai_compatible", route="openai",
                                             manual_refresh_per_minute=1),
                             provider_config(simulator, "vllm", "openai_compatible", route="openai_compatible",
                                             manual_refresh_per_minute=100)])
    wait_for(lambda: all(p.get("last_success_at") for p in service.providers()), what="first refreshes")
    client = create_app(service).test_client()
    first = client.post("/api/v1/refresh?wait=true").get_json()
    assert {r["provider"] for r in first["runs"]} == {"openai", "vllm"} and first["skipped"] == []
    second = client.post("/api/v1/refresh").get_json()
    assert [r["provider"] for r in second["runs"]] == ["vllm"]
    (skipped,) = second["skipped"]
    assert skipped["provider"] == "openai" and skipped["reason"] == "rate_limited" and skipped["retry_after"] > 0


def test_a_manual_refresh_past_the_per_minute_limit_is_a_429_with_retry_after(start_service, simulator):
    service = start_service([provider_config(simulator, "openai", "openai_compatible", route="openai",
                                             manual_refresh_per_minute=1)])
    wait_for(lambda: all(p.get("last_refresh_at") for p in service.providers()), what="the first refresh")
    client = create_app(service).test_client()
    assert client.post("/api/v1/providers/openai/refresh").status_code == 202
    refused = client.post("/api/v1/providers/openai/refresh")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert refused.get_json()["error"]["code"] == "too_many_refreshes"
