"""OpenRouter's GET /api/v1/models: the rich rows, and links.next pages when paged."""
from __future__ import annotations


def url(sim) -> str:
    return sim.base_url("openrouter") + "/models"


def test_openrouter_unpaged_answer_is_one_data_list_without_links(sim, http):
    body = http.get(url(sim)).json()
    assert set(body) == {"data"} and len(body["data"]) > 300


def test_openrouter_rows_carry_string_prices_modalities_and_parameters(sim, http):
    rows = {r["id"]: r for r in http.get(url(sim)).json()["data"]}
    gpt4o = rows["openai/gpt-4o"]
    assert gpt4o["pricing"]["prompt"] == "0.0000025" and gpt4o["pricing"]["completion"] == "0.00001"
    assert all(isinstance(v, str) for v in gpt4o["pricing"].values())
    assert "image" in gpt4o["architecture"]["input_modalities"]
    assert "tools" in gpt4o["supported_parameters"]
    assert gpt4o["top_provider"]["context_length"] == 128000 and gpt4o["top_provider"]["is_moderated"]
    assert {"canonical_slug", "created", "context_length", "description"} <= set(gpt4o)


def test_openrouter_marks_retiring_models_with_expiration_date(sim, http):
    rows = {r["id"]: r for r in http.get(url(sim)).json()["data"]}
    assert rows["x-ai/grok-3-mini"]["expiration_date"] == "2026-07-15"
    assert "expiration_date" not in rows["openai/gpt-4o"]


def test_openrouter_page_size_knob_pages_with_links_next_and_total_count(sim, http):
    sim.state.set_page_size("openrouter", 100)
    everything = [r["id"] for r in sim.state.models("openrouter")]
    seen, pages, next_url = [], 0, url(sim)
    while next_url:
        body = http.get(next_url).json()
        assert body["total_count"] == len(everything)
        seen += [r["id"] for r in body["data"]]
        pages += 1
        next_url = body["links"]["next"]
    assert pages == -(-len(everything) // 100) and pages >= 3
    assert seen == everything


def test_openrouter_offset_and_limit_page_without_the_knob(sim, http):
    body = http.get(url(sim), params={"offset": 2, "limit": 3}).json()
    assert [r["id"] for r in body["data"]] == [r["id"] for r in sim.state.models("openrouter")][2:5]
    assert "offset=5" in body["links"]["next"]
    assert http.get(url(sim), params={"limit": "x"}).status_code == 400


def test_openrouter_errors_use_its_code_and_message_body(sim, http):
    sim.state.set_expected_key("openrouter", "or-key")
    body = http.get(url(sim)).json()
    assert body == {"error": {"code": 401, "message": "No auth credentials found"}}


def test_openrouter_model_endpoints_lookup(sim, http):
    body = http.get(url(sim) + "/openai/gpt-4o/endpoints").json()
    assert body["data"]["id"] == "openai/gpt-4o" and body["data"]["endpoints"]
    assert http.get(url(sim) + "/nope/nope/endpoints").status_code == 404
