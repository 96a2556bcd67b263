"""OpenAI's GET /v1/models and the OpenAI-compatible presets (DeepSeek, xAI, vLLM, LM Studio, llama.cpp)."""
from __future__ import annotations

import pytest

from discovery.providers import FORMATS, ProviderAuthError
from discovery.settings_reader import automatic_providers
from tests.providers.conftest import by_id, make_client, simulated


def test_ids_only_list_fills_heuristics_and_release_date():
    m = make_client("openai").normalize({"id": "text-embedding-3-small", "object": "model",
                                         "created": 1705948997, "owned_by": "system"})
    assert m.kind == "embedding" and m.provenance["kind"] == "heuristic"
    assert m.lifecycle.release_date == "2024-01-22" and m.provenance["lifecycle.release_date"] == "openai"
    assert m.capabilities.vision is None and m.attributes["owned_by"] == "system"


def test_presets_have_their_urls_keys_and_defaults():
    expect = {"deepseek": ("https://api.deepseek.com", "DEEPSEEK_API_KEY", True, True),
              "xai": ("https://api.x.ai/v1", "XAI_API_KEY", True, True),
              "vllm": ("http://127.0.0.1:8000/v1", "VLLM_API_KEY", False, False),
              "lmstudio": ("http://127.0.0.1:1234/v1", "LMSTUDIO_API_KEY", False, False),
              "llamacpp": ("http://127.0.0.1:8080/v1", "LLAMA_API_KEY", False, False)}
    for fmt, (url, env, needs_key, default) in expect.items():
        cls = FORMATS[fmt]
        assert (cls.default_base_url, cls.default_api_key_env, cls.requires_key, cls.default_enabled) == \
            (url, env, needs_key, default)
    chosen = {p.name for p in automatic_providers({"DEEPSEEK_API_KEY": "x"})[0]}
    assert "deepseek" in chosen and "xai" not in chosen and "vllm" not in chosen


def test_local_server_needs_no_key_and_states_its_context_length(stub):
    stub.route("/v1/models", (200, {"object": "list", "data": [
        {"id": "Qwen/Qwen3-8B", "object": "model", "created": 1753471797, "owned_by": "vllm",
         "root": "Qwen/Qwen3-8B", "parent": None, "max_model_len": 32768}]}))
    (m,) = make_client("vllm", stub.url + "/v1", env={}).fetch_models()
    assert m.id == "vllm/Qwen/Qwen3-8B" and m.limits.context_window == 32768
    assert "Authorization" not in stub.requests[0]["headers"] and "root" not in m.attributes


def test_error_body(stub):
    stub.route("/v1/models", (401, {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error",
                                              "param": None, "code": "invalid_api_key"}}))
    with pytest.raises(ProviderAuthError) as err:
        make_client("deepseek", stub.url + "/v1").fetch_models()
    assert "Incorrect API key provided" in str(err.value)
    assert stub.requests[0]["headers"]["Authorization"] == "Bearer test-key"


def test_refresh_from_the_simulator(sim):
    models = by_id(make_client("openai", simulated(sim, "openai")).fetch_models())
    assert len(models) == len(sim.state.models("openai"))
    assert models["text-embedding-3-small"].kind == "embedding"
    assert models["gpt-4o"].capabilities.vision is None  # left for the catalogs
    vllm = make_client("vllm", simulated(sim, "vllm"), env={}).fetch_models()
    assert vllm and all(m.limits.context_window for m in vllm)


def test_organization_and_project_options_are_sent_as_openai_headers(stub):
    """PROVIDERS.md documents OpenAI-Organization and OpenAI-Project; there was no way to send
    them, so a key belonging to several organizations only ever listed its default one's models."""
    stub.route("/v1/models", (200, {"object": "list", "data": [{"id": "ft:gpt-4o-mini:acme::x", "object": "model",
                                                                "created": 1, "owned_by": "org-acme"}]}))
    client = make_client("openai", stub.url + "/v1", organization="org-acme", project="proj_123")
    assert [m.provider_model_id for m in client.fetch_models()] == ["ft:gpt-4o-mini:acme::x"]
    client.probe()
    for sent in stub.requests:
        headers = sent["headers"]
        assert headers["Openai-Organization"] == "org-acme" and headers["Openai-Project"] == "proj_123"
        assert headers["Authorization"] == "Bearer test-key"
    make_client("openai", stub.url + "/v1").fetch_models()
    assert not {"Openai-Organization", "Openai-Project"} & set(stub.requests[-1]["headers"])
