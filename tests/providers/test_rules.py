"""Normalization rules taken from what the providers' own fields say, one test each."""
from __future__ import annotations

import gzip
import json

from discovery.enrich import match_keys
from discovery.taxonomy import guess_kind
from tests.conftest import litellm_map_file
from tests.providers.conftest import make_client


def mistral_card(model_id, **caps):
    base = {"completion_chat": True, "completion_fim": False, "function_calling": True, "fine_tuning": False,
            "vision": False, "ocr": False, "classification": False, "moderation": False, "audio": False}
    return {"id": model_id, "object": "model", "created": 1, "owned_by": "mistralai", "name": model_id,
            "capabilities": {**base, **caps}, "max_context_length": 32768, "aliases": [], "type": "base"}


def test_mistral_audio_capability_means_audio_input():
    client = make_client("mistral")
    voxtral = client.normalize(mistral_card("voxtral-small-2507", audio=True))
    assert voxtral.modalities.input == ("text", "audio") and voxtral.modalities.output == ("text",)
    assert client.normalize(mistral_card("mistral-small-2506", vision=True)).modalities.input == ("text", "image")


def gemini_model(name, methods, display="Gemini", version="001"):
    return {"name": f"models/{name}", "displayName": display, "version": version,
            "supportedGenerationMethods": methods, "inputTokenLimit": 1048576, "outputTokenLimit": 8192}


def test_gemini_async_batch_embedding_means_batch_support():
    client = make_client("gemini")
    embed = client.normalize(gemini_model("gemini-embedding-001", ["embedContent", "countTextTokens",
                                                                   "asyncBatchEmbedContent"]))
    assert embed.kind == "embedding" and embed.capabilities.batch is True
    plain = client.normalize(gemini_model("text-embedding-004", ["embedContent"]))
    assert plain.capabilities.batch is None  # not stated: unknown, not false


def test_gemini_preview_in_id_display_name_or_version_means_preview():
    client = make_client("gemini")
    methods = ["generateContent", "countTokens"]
    assert client.normalize(gemini_model("gemini-3-pro-preview", methods)).lifecycle.status == "preview"
    assert client.normalize(gemini_model("gemini-x", methods, display="Gemini X Preview")).lifecycle.status == "preview"
    assert client.normalize(gemini_model("gemini-y", methods, version="2.5-preview-06")).lifecycle.status == "preview"
    assert client.normalize(gemini_model("gemini-2.5-flash", methods)).lifecycle.status is None


def test_gemini_speech_model_is_audio_not_chat():
    client = make_client("gemini")
    tts = client.normalize(gemini_model("gemini-2.5-flash-preview-tts", ["generateContent", "countTokens"]))
    assert tts.kind == "audio" and tts.modalities.output == ("audio",)
    assert client.normalize(gemini_model("gemini-2.5-flash", ["generateContent"])).kind == "chat"


def test_cohere_strict_tools_alone_is_not_tool_calling():
    client = make_client("cohere")
    row = {"name": "command-r7b-12-2024", "endpoints": ["chat"], "context_length": 128000, "is_deprecated": False,
           "features": ["json_mode", "strict_tools"]}
    assert client.normalize(row).capabilities.tool_calling is None
    assert client.normalize({**row, "features": ["tools", "strict_tools"]}).capabilities.tool_calling is True


def test_a_dated_instruct_snapshot_is_a_completion_model():
    litellm = json.loads(gzip.decompress(litellm_map_file().read_bytes()))
    dated = [k.split("/")[-1] for k in litellm if k.endswith("instruct-0914")]
    assert dated and all(guess_kind(k) == "completion" for k in dated)
    assert guess_kind("gpt-3.5-turbo-instruct") == "completion"


def test_azure_gpt35_spelling_matches_gpt_3_5():
    assert match_keys("gpt-35-turbo-instruct-0914")[0] == "gpt-3.5-turbo-instruct-0914"
    assert match_keys("gpt-35-turbo")[-1] == match_keys("gpt-3.5-turbo")[-1]


def test_mistral_replacement_model_is_the_successor():
    client = make_client("mistral")
    card = {**mistral_card("mistral-medium-2312"), "deprecation": "2024-11-30T12:00:00Z",
            "deprecation_replacement_model": "mistral-medium-latest"}
    model = client.normalize(card)
    assert model.lifecycle.successor == "mistral-medium-latest"
    assert model.lifecycle.deprecation_date == "2024-11-30" and model.lifecycle.status == "deprecated"
    assert client.normalize(mistral_card("mistral-small-2506")).lifecycle.successor is None


def test_azure_inference_end_is_the_retirement_date():
    client = make_client("azure")
    item = {"id": "gpt-35-turbo-0613", "status": "succeeded", "lifecycle_status": "generally-available",
            "capabilities": {"chat_completion": True, "inference": True, "fine_tune": True},
            "deprecation": {"inference": 4102444800, "fine_tune": 4070908800}, "created_at": 1686614400}
    model = client.normalize(item, now=1_700_000_000)
    assert model.lifecycle.retirement_date == "2100-01-01"
    assert model.attributes["fine_tune_deprecation_date"] == "2099-01-01"
    assert model.lifecycle.status == "active"


def test_bedrock_legacy_time_deprecates_and_end_of_life_retires():
    from discovery.bedrock import normalize_summary
    summary = {"modelId": "anthropic.claude-v2", "modelName": "Claude", "providerName": "Anthropic",
               "inputModalities": ["TEXT"], "outputModalities": ["TEXT"], "responseStreamingSupported": True,
               "inferenceTypesSupported": ["ON_DEMAND"],
               "modelLifecycle": {"status": "LEGACY", "legacyTime": "2025-01-15T00:00:00Z",
                                  "endOfLifeTime": "2025-07-15T00:00:00Z"}}
    model = normalize_summary("us-east-1", summary)
    assert model.lifecycle.status == "legacy"
    assert model.lifecycle.deprecation_date == "2025-01-15" and model.lifecycle.retirement_date == "2025-07-15"
    active = normalize_summary("us-east-1", {**summary, "modelLifecycle": {"status": "ACTIVE"}})
    assert active.lifecycle.deprecation_date is None and active.lifecycle.retirement_date is None
