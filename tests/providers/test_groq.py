"""Groq's GET /openai/v1/models: old and new row shapes."""
from __future__ import annotations

import pytest

from discovery.providers import ProviderAuthError
from tests.providers.conftest import by_id, make_client, simulated

OLD_ROW = {"id": "llama-3.1-8b-instant", "object": "model", "created": 1693721698, "owned_by": "Meta",
           "active": True, "context_window": 131072, "public_apps": None, "max_completion_tokens": 131072}
NEW_VISION = {
    "id": "meta-llama/llama-4-scout-17b-16e-instruct", "object": "model", "owned_by": "Meta", "active": True,
    "context_window": 131072, "max_completion_tokens": 8192, "name": "Llama 4 Scout",
    "hugging_face_id": "meta-llama/Llama-4-Scout-17B-16E-Instruct",
    "input_modalities": ["text", "image"], "output_modalities": ["text"],
    "pricing": {"input": "0.00000011", "output": "0.00000034"},
    "supported_features": ["tools", "json_mode", "json_schema"],
}
WHISPER = {"id": "whisper-large-v3", "object": "model", "created": 1693721698, "owned_by": "OpenAI",
           "active": True, "context_window": 448, "max_completion_tokens": 448,
           "input_modalities": ["audio"], "output_modalities": ["text"]}
INACTIVE = dict(OLD_ROW, id="llama3-70b-8192", active=False)


def test_old_row_shape_states_limits_and_release_date():
    m = make_client("groq").normalize(OLD_ROW)
    assert m.limits.context_window == 131072 and m.limits.max_output_tokens == 131072
    assert m.lifecycle.release_date == "2023-09-03" and m.lifecycle.status == "active"
    assert m.capabilities.vision is None and m.capabilities.tool_calling is None


def test_new_row_shape_states_vision_tools_and_prices_per_million():
    m = make_client("groq").normalize(NEW_VISION)
    assert m.name == "Llama 4 Scout" and m.kind == "chat"
    assert m.capabilities.vision is True and m.capabilities.tool_calling is True
    assert m.capabilities.structured_output is True and m.capabilities.json_mode is True
    assert m.pricing.input == pytest.approx(0.11) and m.pricing.output == pytest.approx(0.34)
    assert m.lifecycle.release_date is None
    assert m.provenance["pricing.input"] == "groq"


def test_a_feature_the_list_leaves_out_is_false_and_without_the_list_unknown():
    """A model that lost "tools" kept tool calling from the catalogs: nothing false was stated."""
    m = make_client("groq").normalize(dict(NEW_VISION, supported_features=["json_mode"]))
    assert m.capabilities.tool_calling is False and m.capabilities.reasoning is False
    assert m.capabilities.json_mode is True and m.provenance["capabilities.tool_calling"] == "groq"
    # Features Groq has no word for stay unknown; without the list, so do these.
    assert m.capabilities.vision is True and m.capabilities.prompt_caching is None
    old = make_client("groq").normalize(OLD_ROW)
    assert old.capabilities.tool_calling is None and old.capabilities.reasoning is None


def test_transcription_model_is_audio_from_its_modalities():
    m = make_client("groq").normalize(WHISPER)
    assert m.kind == "audio" and m.provenance["kind"] == "groq" and m.capabilities.vision is False


def test_inactive_model_is_retired():
    assert make_client("groq").normalize(INACTIVE).lifecycle.status == "retired"


def test_fetch_and_openai_style_error(stub):
    stub.route("/openai/v1/models", (200, {"object": "list", "data": [OLD_ROW, NEW_VISION]}))
    models = make_client("groq", stub.url + "/openai/v1", env={"GROQ_API_KEY": "gsk"}).fetch_models()
    assert len(models) == 2 and stub.requests[0]["headers"]["Authorization"] == "Bearer gsk"
    stub.route("/openai/v1/models", (401, {"error": {"message": "Invalid API Key", "type": "invalid_request_error",
                                                     "code": "invalid_api_key"}}))
    with pytest.raises(ProviderAuthError) as err:
        make_client("groq", stub.url + "/openai/v1").fetch_models()
    assert "Invalid API Key" in str(err.value)


def test_refresh_from_the_simulator(sim):
    base = simulated(sim, "groq")
    got = by_id(make_client("groq", base).fetch_models())
    assert len(got) == len(sim.state.models("groq"))
    old_shape = got["llama-3.3-70b-versatile"]
    assert old_shape.limits.context_window and old_shape.lifecycle.release_date
    new_shape = got["openai/gpt-oss-120b"]
    assert new_shape.capabilities.tool_calling is True and new_shape.capabilities.reasoning is True
    assert new_shape.capabilities.vision is False and new_shape.lifecycle.release_date is None
    assert got["whisper-large-v3"].kind == "audio"
    assert got["gemma2-9b-it"].lifecycle.status == "retired"
