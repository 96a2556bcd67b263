"""Cohere's GET /v1/models: page_token pages, kinds from endpoints, capabilities from features."""
from __future__ import annotations

import pytest

from discovery.providers import ProviderAuthError
from tests.providers.conftest import by_id, make_client, simulated

COMMAND_A_VISION = {
    "name": "command-a-vision-07-2025", "endpoints": ["chat"], "finetuned": False, "context_length": 128000,
    "tokenizer_url": "https://storage.googleapis.com/cohere-public/tokenizers/command-a.json",
    "default_endpoints": [], "features": ["vision", "json_mode", "json_schema"],
    "is_deprecated": False,
}
COMMAND_A = {
    "name": "command-a-03-2025", "endpoints": ["generate", "chat", "summarize"], "finetuned": False,
    "context_length": 256000, "default_endpoints": ["chat"],
    "features": ["json_mode", "json_schema", "safety_modes", "strict_tools", "tools"],
    "sampling_defaults": {"temperature": 0.3, "k": 0, "p": 0.75}, "is_deprecated": False,
}
EMBED = {"name": "embed-v4.0", "endpoints": ["embed", "embed_image"], "finetuned": False,
         "context_length": 128000, "default_endpoints": ["embed"], "features": None, "is_deprecated": False}
COMMAND_OLD = {"name": "command-light", "endpoints": ["generate", "chat", "summarize"], "finetuned": False,
               "context_length": 4096, "default_endpoints": [], "features": None, "is_deprecated": True}


def test_tool_calling_chat_model_from_features():
    m = make_client("cohere").normalize(COMMAND_A)
    assert m.id == "cohere/command-a-03-2025" and m.kind == "chat"
    assert m.capabilities.tool_calling is True and m.capabilities.structured_output is True
    assert m.capabilities.json_mode is True and m.limits.context_window == 256000
    assert m.capabilities.vision is None  # not in a list that does not promise completeness
    assert m.provenance["capabilities.tool_calling"] == "cohere"


def test_vision_model_and_image_input():
    m = make_client("cohere").normalize(COMMAND_A_VISION)
    assert m.capabilities.vision is True and m.modalities.input == ("text", "image")


def test_embedding_model_with_null_features_leaves_capabilities_unknown():
    m = make_client("cohere").normalize(EMBED)
    assert m.kind == "embedding" and m.capabilities.supported() == ()
    assert m.capabilities.tool_calling is None and m.modalities.input == ("text", "image")


def test_deprecated_flag_sets_the_lifecycle_status():
    assert make_client("cohere").normalize(COMMAND_OLD).lifecycle.status == "deprecated"
    assert make_client("cohere").normalize(COMMAND_A).lifecycle.status == "active"


def test_fetch_follows_next_page_token_over_three_pages(stub):
    pages = {None: ([COMMAND_A], "p2"), "p2": ([EMBED], "p3"), "p3": ([COMMAND_OLD], "")}

    def page(request):
        rows, token = pages[request.args.get("page_token")]
        return 200, {"models": rows, "next_page_token": token}

    stub.route("/v1/models", page)
    models = make_client("cohere", stub.url + "/v1", env={"CO_API_KEY": "co"}).fetch_models()
    assert [m.provider_model_id for m in models] == ["command-a-03-2025", "embed-v4.0", "command-light"]
    assert stub.requests[0]["headers"]["Authorization"] == "Bearer co"


def test_probe_asks_for_one_model(stub):
    stub.route("/v1/models", (200, {"models": [EMBED], "next_page_token": "x"}))
    make_client("cohere", stub.url + "/v1").probe()
    assert stub.requests[-1]["query"] == {"page_size": "1"}


def test_error_body_message(stub):
    stub.route("/v1/models", (401, {"id": "4c1f0f5e", "message": "invalid api token"}))
    with pytest.raises(ProviderAuthError) as err:
        make_client("cohere", stub.url + "/v1").fetch_models()
    assert "invalid api token" in str(err.value)


def test_refresh_from_the_simulator_over_three_pages(sim):
    base = simulated(sim, "cohere")
    records = sim.state.models("cohere")
    size = max(1, len(records) // 3)
    sim.state.set_page_size("cohere", size)
    before = sim.state.request_count("cohere")
    got = by_id(make_client("cohere", base, page_size=size).fetch_models())
    assert sim.state.request_count("cohere") - before >= 3
    assert len(got) == len(records)
    assert got["command-a-vision-07-2025"].capabilities.vision is True
    tools = got["command-a-03-2025"]
    assert tools.capabilities.tool_calling is True and tools.capabilities.structured_output is True
    assert got["embed-v4.0"].kind == "embedding" and got["rerank-v3.5"].kind == "rerank"
    assert got["command-light"].lifecycle.status == "deprecated"
