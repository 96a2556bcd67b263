"""LiteLLM's model map: provider names, id cleaning, supports_* flags, per-token prices."""
from __future__ import annotations

import gzip
import json

import pytest

from discovery.providers import MalformedAnswer
from discovery.providers.litellm import clean_id, provider_name
from tests.conftest import litellm_map_file
from tests.providers.conftest import make_client, simulated

GPT4O = {"litellm_provider": "openai", "mode": "chat", "max_input_tokens": 128000, "max_output_tokens": 16384,
         "input_cost_per_token": 2.5e-06, "output_cost_per_token": 1e-05, "cache_read_input_token_cost": 1.25e-06,
         "supports_function_calling": True, "supports_parallel_function_calling": True, "supports_vision": True,
         "supports_pdf_input": True, "supports_prompt_caching": True, "supports_response_schema": True,
         "supports_system_messages": True, "supports_tool_choice": True,
         "source": "https://developers.openai.com/api/docs/pricing"}
MAP = {
    "sample_spec": {"litellm_provider": "one of https://docs.litellm.ai/docs/providers", "mode": "one of: chat"},
    "gpt-4o": GPT4O,
    "gemini/gemini-embedding-001": {"litellm_provider": "gemini", "mode": "embedding", "max_input_tokens": 2048,
                                    "input_cost_per_token": 1.5e-07, "output_cost_per_token": 0,
                                    "output_vector_size": 3072, "deprecation_date": "2028-05-14"},
    "gpt-3.5-turbo-0613": {"litellm_provider": "openai", "mode": "chat", "max_input_tokens": 4097,
                           "input_cost_per_token": 1.5e-06, "output_cost_per_token": 2e-06,
                           "supports_function_calling": True, "deprecation_date": "2024-06-13"},
    "anthropic.claude-v2:1": {"litellm_provider": "bedrock", "mode": "chat", "max_input_tokens": 100000,
                              "input_cost_per_token": 8e-06},
    "bedrock/us-east-1/anthropic.claude-v2:1": {"litellm_provider": "bedrock", "mode": "chat",
                                                "input_cost_per_token": 9e-06},
    "bedrock/us-east-1/1-month-commitment/anthropic.claude-v2:1": {"litellm_provider": "bedrock", "mode": "chat"},
    "us.anthropic.claude-3-5-sonnet-20240620-v1:0": {"litellm_provider": "bedrock_converse", "mode": "chat",
                                                     "supports_vision": True},
    "1024-x-1024/50-steps/bedrock/amazon.nova-canvas-v1:0": {"litellm_provider": "bedrock",
                                                             "mode": "image_generation", "output_cost_per_image": 0.06},
    "together_ai/zai-org/GLM-5.1": {"litellm_provider": "together_ai", "mode": "chat"},
    "together-ai-4.1b-8b": {"litellm_provider": "together_ai", "mode": "chat", "input_cost_per_token": 2e-07},
    "groq/openai/gpt-oss-120b": {"litellm_provider": "groq", "mode": "chat", "supports_reasoning": True},
    "azure/eu/gpt-4o-2024-08-06": {"litellm_provider": "azure", "mode": "chat"},
    "vertex_ai/claude-3-5-haiku@20241022": {"litellm_provider": "vertex_ai-anthropic_models", "mode": "chat"},
    "command-r-08-2024": {"litellm_provider": "cohere_chat", "mode": "chat"},
    "tavily/search": {"litellm_provider": "tavily", "mode": "search"},
    "rerank-v3.5": {"litellm_provider": "cohere", "mode": "rerank"},
}


def normalized(today="2026-07-01"):
    return {m.id: m for m in make_client("litellm").normalize(MAP, today=today)}


def test_provider_names_map_to_this_service():
    assert [provider_name(p) for p in ("together_ai", "bedrock_converse", "cohere_chat", "vertex_ai-language-models",
                                       "fireworks_ai-embedding-models", "text-completion-openai", "deepinfra")] == \
        ["together", "bedrock", "cohere", "vertex_ai", "fireworks-ai", "openai", "deepinfra"]


def test_a_new_spelling_is_not_stripped_from_ids_as_a_provider_prefix():
    # Vercel's AI Gateway serves Vercel's own models as vercel/<model>: the id keeps its creator.
    assert clean_id("vercel_ai_gateway/vercel/v0-1.0-md", "vercel_ai_gateway") == ("vercel/v0-1.0-md", 0)
    assert clean_id("vercel_ai_gateway/alibaba/qwen-3-14b", "vercel_ai_gateway") == ("alibaba/qwen-3-14b", 0)
    assert clean_id("fireworks_ai/accounts/fireworks/models/x", "fireworks_ai") == ("accounts/fireworks/models/x", 0)


def test_a_provider_both_catalogs_list_is_one_provider_and_its_models_one_record_each():
    """LiteLLM's fireworks_ai, novita, moonshot, ... are models.dev's fireworks-ai, novita-ai,
    moonshotai: merged with models.dev, the real data has each such model once, described by both
    catalogs, not twice under two provider names."""
    from discovery.merge import merge_sources
    from tests.conftest import newest_modelsdev

    litellm = make_client("litellm").normalize(json.loads(gzip.decompress(litellm_map_file().read_bytes())))
    modelsdev = make_client("modelsdev").normalize(json.loads(gzip.decompress(newest_modelsdev().read_bytes())))
    spelled = {m.provider for m in litellm}
    assert not spelled & {"fireworks_ai", "novita", "github_copilot", "moonshot", "opencode_go", "friendliai",
                          "vercel_ai_gateway", "cloudflare", "snowflake"}
    merged = merge_sources({}, {"modelsdev": modelsdev, "litellm": litellm})
    providers = ("novita-ai", "fireworks-ai", "vercel", "cloudflare-workers-ai", "moonshotai", "friendli")
    both = [m for m in merged.values() if m.provider in providers
            and {"modelsdev", "litellm"} <= set(m.provenance.values())]
    assert len(both) >= 150  # 97 + 15 + 72 + 22 + 3 + 5 in this map and snapshot, each once


def test_ids_lose_litellm_prefixes_regions_sizes_and_steps():
    assert clean_id("gemini/gemini-2.5-flash", "gemini") == ("gemini-2.5-flash", 0)
    assert clean_id("groq/openai/gpt-oss-120b", "groq") == ("openai/gpt-oss-120b", 0)
    assert clean_id("bedrock/us-east-1/anthropic.claude-v2:1", "bedrock") == ("anthropic.claude-v2:1", 1)
    assert clean_id("1024-x-1024/50-steps/bedrock/amazon.nova-canvas-v1:0", "bedrock") == \
        ("amazon.nova-canvas-v1:0", 2)
    assert clean_id("azure/global-standard/gpt-4o-mini", "azure") == ("gpt-4o-mini", 1)
    assert clean_id("bedrock/*/1-month-commitment/cohere.command-text-v14", "bedrock") is None


def test_a_key_with_a_wildcard_or_commitment_segment_is_skipped_and_no_other():
    for key in ("*", "openai/*", "*/gpt-4o", "12-month-commitment", "bedrock/6-month-commitment/cohere.command-r"):
        assert clean_id(key, "bedrock") is None, key
    assert clean_id("gpt-4o", "openai") == ("gpt-4o", 0)
    assert clean_id("", "openai") is None
    # A segment that only contains the words is an id like any other.
    assert clean_id("acme/1-month-commitment-plan", "acme") == ("1-month-commitment-plan", 0)
    assert clean_id("acme/x*", "acme") == ("x*", 0)
    # A segment is matched whole, as each segment once was on its own ("$" allows a final newline).
    assert clean_id("acme/1-month-commitment\n/x", "acme") is None
    assert clean_id("acme/*\n/x", "acme") == ("*\n/x", 0)


def test_catalog_entries_have_kinds_prices_capabilities_and_provenance():
    got = normalized()
    m = got["openai/gpt-4o"]
    assert m.live is False and m.source == "litellm" and m.kind == "chat"
    assert (m.limits.context_window, m.limits.max_output_tokens) == (128000, 16384)
    assert (m.pricing.input, m.pricing.output, m.pricing.cache_read) == (2.5, 10.0, 1.25)
    assert m.capabilities.vision is True and m.capabilities.tool_calling is True
    assert m.capabilities.parallel_tool_calls is True and m.capabilities.structured_output is True
    assert m.modalities.input == ("text", "image", "pdf")
    assert m.provenance["pricing.input"] == "litellm" and m.provenance["family"] == "heuristic"
    assert m.attributes["litellm_key"] == "gpt-4o" and "pdf_input" in m.attributes["features"]


def test_embedding_and_deprecated_entries():
    got = normalized()
    embed = got["gemini/gemini-embedding-001"]
    assert embed.kind == "embedding" and embed.attributes["output_vector_size"] == 3072
    assert embed.lifecycle.deprecation_date == "2028-05-14" and embed.lifecycle.status is None
    old = got["openai/gpt-3.5-turbo-0613"]
    assert old.lifecycle.status == "deprecated" and old.capabilities.tool_calling is True


def test_plain_key_wins_over_regional_and_skipped_entries_are_gone():
    got = normalized()
    assert got["bedrock/anthropic.claude-v2:1"].pricing.input == 8.0
    assert "bedrock/us.anthropic.claude-3-5-sonnet-20240620-v1:0" in got
    assert got["bedrock/amazon.nova-canvas-v1:0"].kind == "image"
    assert "together/zai-org/GLM-5.1" in got and not any("4.1b" in k for k in got)
    assert "groq/openai/gpt-oss-120b" in got and "azure/gpt-4o-2024-08-06" in got
    assert "vertex_ai/claude-3-5-haiku@20241022" in got and "cohere/command-r-08-2024" in got
    assert got["cohere/rerank-v3.5"].kind == "rerank"
    assert not any(k.startswith(("sample_spec", "tavily")) for k in got)


def test_whole_shared_map_normalizes_without_errors():
    body = json.loads(gzip.decompress(litellm_map_file().read_bytes()))
    models = make_client("litellm").normalize(body)
    assert len(models) > 3000 and len({m.id for m in models}) == len(models)
    assert all("/" not in m.provider for m in models)


def test_fetch_reads_the_document_path_without_a_key(stub):
    stub.route("/model_prices_and_context_window.json", (200, MAP))
    models = make_client("litellm", stub.url, env={}).fetch_models()
    assert len(models) >= 10 and "Authorization" not in stub.requests[0]["headers"]
    stub.route("/model_prices_and_context_window.json", (200, ["not", "a", "map"]))
    with pytest.raises(MalformedAnswer):
        make_client("litellm", stub.url).fetch_models()


def test_refresh_from_the_simulator(sim):
    got = {m.id: m for m in make_client("litellm", simulated(sim, "litellm"), env={}).fetch_models()}
    assert len(got) > 1000 and all(m.live is False for m in got.values())
    gpt4o = got["openai/gpt-4o"]
    assert gpt4o.capabilities.vision is True and gpt4o.capabilities.tool_calling is True
    assert gpt4o.pricing.input == 2.5 and gpt4o.provenance["pricing.input"] == "litellm"
    assert got["openai/text-embedding-3-small"].kind == "embedding"
    assert any(m.lifecycle.status == "deprecated" for m in got.values())
    assert not any("sample_spec" in k for k in got)


def test_audio_modes_give_what_goes_in_and_what_comes_out():
    """tts-1 (audio_speech) had no modalities, and the LiteLLM export made it a transcription model."""
    entries = {"tts-1": {"litellm_provider": "openai", "mode": "audio_speech", "input_cost_per_character": 1.5e-05},
               "whisper-1": {"litellm_provider": "openai", "mode": "audio_transcription",
                             "input_cost_per_second": 0.0001}}
    models = {m.id: m for m in make_client("litellm").normalize(entries, today="2026-07-01")}
    speech, transcription = models["openai/tts-1"], models["openai/whisper-1"]
    assert (speech.kind, speech.modalities.input, speech.modalities.output) == ("audio", ("text",), ("audio",))
    assert (transcription.modalities.input, transcription.modalities.output) == (("audio",), ("text",))


def test_the_export_mode_of_an_audio_model_follows_its_modalities_and_is_not_guessed():
    from discovery.export import model_info
    from discovery.model import Modalities, Model

    def mode(**modalities):
        return model_info(Model("openai", "m", kind="audio", modalities=Modalities(**modalities))).get("mode")

    assert mode(input=("text",), output=("audio",)) == "audio_speech"
    assert mode(input=("audio",), output=("text",)) == "audio_transcription"
    assert mode() is None  # was audio_transcription, for a text-to-speech model too
