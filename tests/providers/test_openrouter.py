"""OpenRouter's GET /api/v1/models: modalities, per-token string prices, links.next, expiration."""
from __future__ import annotations

import pytest

from discovery.providers import ProviderAuthError
from discovery.providers.errors import MalformedAnswer
from tests.providers.conftest import by_id, make_client, simulated

GPT4O = {
    "id": "openai/gpt-4o", "canonical_slug": "openai/gpt-4o", "hugging_face_id": "", "name": "OpenAI: GPT-4o",
    "created": 1715367049, "description": "GPT-4o ...", "context_length": 128000,
    "architecture": {"modality": "text+image->text", "input_modalities": ["text", "image", "file"],
                     "output_modalities": ["text"], "tokenizer": "GPT", "instruct_type": None},
    "pricing": {"prompt": "0.0000025", "completion": "0.00001", "request": "0", "image": "0.003613",
                "web_search": "0", "internal_reasoning": "0", "input_cache_read": "0.00000125"},
    "top_provider": {"context_length": 128000, "max_completion_tokens": 16384, "is_moderated": True},
    "per_request_limits": None,
    "supported_parameters": ["frequency_penalty", "max_tokens", "response_format", "structured_outputs",
                             "temperature", "tool_choice", "tools", "top_p"],
    "knowledge_cutoff": "2023-10-01",
}
LLAMA = {
    "id": "meta-llama/llama-3.1-8b-instruct", "canonical_slug": "meta-llama/llama-3.1-8b-instruct",
    "hugging_face_id": "meta-llama/Meta-Llama-3.1-8B-Instruct", "name": "Meta: Llama 3.1 8B Instruct",
    "created": 1721692800, "context_length": 131072,
    "architecture": {"modality": "text->text", "input_modalities": ["text"], "output_modalities": ["text"],
                     "tokenizer": "Llama3", "instruct_type": "llama3"},
    "pricing": {"prompt": "0.00000002", "completion": "0.00000003"},
    "top_provider": {"context_length": 131072, "max_completion_tokens": 16384, "is_moderated": False},
    "supported_parameters": ["max_tokens", "temperature", "top_p", "stop"],
}
EXPIRING = dict(LLAMA, id="x-ai/grok-3-mini", canonical_slug="x-ai/grok-3-mini", hugging_face_id=None,
                name="xAI: Grok 3 Mini", expiration_date="2026-01-15",
                supported_parameters=["max_tokens", "reasoning", "include_reasoning", "tools"])
IMAGE = dict(LLAMA, id="google/gemini-2.5-flash-image", hugging_face_id="", name="Gemini 2.5 Flash Image",
             architecture={"modality": "text+image->text+image", "input_modalities": ["image", "text"],
                           "output_modalities": ["image", "text"]})


def test_vision_tools_prices_and_knowledge_cutoff():
    m = make_client("openrouter").normalize(GPT4O)
    assert m.id == "openrouter/openai/gpt-4o" and m.name == "OpenAI: GPT-4o"
    assert m.modalities.input == ("text", "image", "pdf") and m.capabilities.vision is True
    assert m.capabilities.tool_calling is True and m.capabilities.structured_output is True
    assert m.capabilities.json_mode is True and m.capabilities.reasoning is False
    assert (m.pricing.input, m.pricing.output, m.pricing.cache_read) == (2.5, 10.0, 1.25)
    assert m.attributes["pricing_extra_per_unit"] == {"image": 0.003613}
    assert m.limits == m.limits.__class__(context_window=128000, max_output_tokens=16384)
    assert m.lifecycle.knowledge_cutoff == "2023-10-01" and m.open_weights is None


def test_no_tools_parameter_means_no_tool_calling_and_hf_id_means_open_weights():
    m = make_client("openrouter").normalize(LLAMA)
    assert m.capabilities.tool_calling is False and m.capabilities.vision is False
    assert m.open_weights is True and m.pricing.input == pytest.approx(0.02)


def test_expiration_date_marks_a_deprecated_model_and_once_past_a_retired_one():
    m = make_client("openrouter").normalize(EXPIRING, today="2026-01-01")
    assert m.lifecycle.status == "deprecated" and m.lifecycle.deprecation_date == "2026-01-15"
    assert m.capabilities.reasoning is True
    # Eight months after its expiration it read "deprecated" still, and was exported.
    past = make_client("openrouter").normalize(EXPIRING, today="2026-01-15")
    assert past.lifecycle.status == "retired" and past.lifecycle.retirement_date == "2026-01-15"


def test_created_is_a_release_date_any_catalog_overrides():
    """created is when OpenRouter listed the model: kimi-k2.5 read 2024-01-01 beside models.dev's 2026-01."""
    from discovery.enrich import FieldOrder, combine
    from discovery.model import Lifecycle, Model

    live = make_client("openrouter").normalize(GPT4O)
    assert live.lifecycle.release_date and live.provenance["lifecycle.release_date"] == "heuristic"
    catalog = Model("openrouter", live.provider_model_id, source="modelsdev", lifecycle=Lifecycle(release_date="2024-05-13"))
    out = combine(live, {"modelsdev": catalog}, FieldOrder(["modelsdev", "litellm"]))
    assert out.lifecycle.release_date == "2024-05-13" and out.provenance["lifecycle.release_date"] == "modelsdev"
    alone = combine(live, {}, FieldOrder(["modelsdev", "litellm"]))
    assert alone.lifecycle.release_date == live.lifecycle.release_date


def test_image_output_model_kind():
    assert make_client("openrouter").normalize(IMAGE).kind == "chat"  # text out too
    only_image = dict(IMAGE, architecture={"input_modalities": ["text"], "output_modalities": ["image"]})
    assert make_client("openrouter").normalize(only_image).kind == "image"


def test_fetch_follows_links_next_over_three_pages_without_a_key(stub):
    rows = [GPT4O, LLAMA, EXPIRING]

    def page(request):
        offset = int(request.args.get("offset", 0))
        nxt = {"next": f"/api/v1/models?offset={offset + 1}&limit=1"} if offset + 1 < len(rows) else {}
        return 200, {"data": rows[offset:offset + 1], "links": nxt, "total_count": len(rows)}

    stub.route("/api/v1/models", page)
    models = make_client("openrouter", stub.url + "/api/v1", env={}).fetch_models()
    assert [m.provider_model_id for m in models] == [r["id"] for r in rows]
    assert len(stub.requests) == 3 and "Authorization" not in stub.requests[0]["headers"]


def test_error_body(stub):
    stub.route("/api/v1/models", (401, {"error": {"code": 401, "message": "No auth credentials found"}}))
    with pytest.raises(ProviderAuthError) as err:
        make_client("openrouter", stub.url + "/api/v1", env={"OPENROUTER_API_KEY": "or"}).fetch_models()
    assert "No auth credentials found" in str(err.value)
    assert stub.requests[0]["headers"]["Authorization"] == "Bearer or"


def test_refresh_from_the_simulator_over_three_pages(sim):
    base = simulated(sim, "openrouter")
    records = sim.state.models("openrouter")
    sim.state.set_page_size("openrouter", max(1, len(records) // 3))
    before = sim.state.request_count("openrouter")
    got = by_id(make_client("openrouter", base).fetch_models())
    assert sim.state.request_count("openrouter") - before >= 3
    assert len(got) == len(records)
    vision = got["anthropic/claude-sonnet-4.5"]
    assert vision.capabilities.vision is True and vision.capabilities.tool_calling is True
    assert vision.pricing.input and vision.provenance["pricing.input"] == "openrouter"
    assert got["aion-labs/aion-1.0"].capabilities.tool_calling is False
    expiring = [m for m in got.values() if m.lifecycle.status in ("deprecated", "retired")]
    assert expiring and all(m.lifecycle.deprecation_date for m in expiring)


@pytest.mark.parametrize("link", ["http://elsewhere.invalid/api/v1/models?offset=1", "https://{host}/api/v1/models"])
def test_a_next_link_to_another_origin_is_not_followed(stub, link):
    """links.next came from the answer and was followed wherever it pointed, the key with it (a
    review of malformed answers caught a second server receiving the request): it is refused."""
    host = stub.url.split("://", 1)[1]
    stub.route("/api/v1/models", (200, {"data": [{"id": "x/a"}], "links": {"next": link.format(host=host)}}))
    client = make_client("openrouter", f"{stub.url}/api/v1", env={"OPENROUTER_API_KEY": "sk-or-v1-secret"})
    with pytest.raises(MalformedAnswer, match="'links.next' points away from http://127.0.0.1"):
        client.fetch(None)
    assert len(stub.requests) == 1


def test_a_next_link_to_the_same_origin_written_another_way_is_followed(stub):
    """The origin check compared the text of scheme and host: a link in capitals (or naming the
    scheme's own port) was refused as another origin, and the answer's later pages were lost."""
    from discovery.providers.openrouter import _origin

    host = stub.url.split("://", 1)[1]
    stub.route("/api/v1/models", (200, {"data": [{"id": "x/a"}], "links": {"next": f"HTTP://{host}/api/v1/more"}}))
    stub.route("/api/v1/more", (200, {"data": [{"id": "x/b"}]}))
    client = make_client("openrouter", f"{stub.url}/api/v1")
    assert sorted(m.id for m in client.fetch(None).models) == ["openrouter/x/a", "openrouter/x/b"]
    assert _origin("https://OpenRouter.ai:443/api/v1/models?offset=2") == _origin("https://openrouter.ai/api/v1")
    assert _origin("https://openrouter.ai:8443/x") != _origin("https://openrouter.ai/api/v1")
    assert _origin("https://openrouter.ai:99999/x") is None
