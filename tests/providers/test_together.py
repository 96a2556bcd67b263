"""Together's GET /v1/models: a bare array, prices already per million."""
from __future__ import annotations

import pytest

from discovery.providers import MalformedAnswer, ProviderHTTPError
from tests.providers.conftest import by_id, make_client, simulated

CHAT = {"id": "meta-llama/Llama-3.3-70B-Instruct-Turbo", "object": "model", "created": 1733443923,
        "type": "chat", "running": False, "display_name": "Meta Llama 3.3 70B Instruct Turbo",
        "organization": "Meta", "link": "https://huggingface.co/meta-llama/Llama-3.3-70B-Instruct",
        "license": "Llama-3.3", "context_length": 131072,
        "config": {"chat_template": "...", "stop": ["<|eot_id|>"]},
        "pricing": {"hourly": 0, "input": 0.88, "output": 0.88, "base": 0, "finetune": 0}}
VISION = dict(CHAT, id="meta-llama/Llama-4-Maverick-17B-128E-Instruct-FP8", display_name="Llama 4 Maverick",
              context_length=1048576, pricing={"hourly": 0, "input": 0.27, "output": 0.85, "base": 0, "finetune": 0})
EMBED = {"id": "BAAI/bge-large-en-v1.5", "object": "model", "created": 0, "type": "embedding",
         "display_name": "BAAI-Bge-Large-1p5", "organization": "BAAI", "context_length": 512,
         "pricing": {"hourly": 0, "input": 0.02, "output": 0, "base": 0, "finetune": 0}}
IMAGE = {"id": "black-forest-labs/FLUX.1-schnell", "object": "model", "type": "image",
         "display_name": "FLUX.1 Schnell", "organization": "Black Forest Labs", "context_length": 0,
         "pricing": {"hourly": 0, "input": 0, "output": 0, "base": 0, "finetune": 0}}


def test_chat_model_prices_limits_and_no_per_deployment_fields():
    m = make_client("together").normalize(CHAT)
    assert m.kind == "chat" and m.name == "Meta Llama 3.3 70B Instruct Turbo"
    assert (m.pricing.input, m.pricing.output) == (0.88, 0.88)
    assert m.limits.context_window == 131072 and m.lifecycle.release_date == "2024-12-06"
    assert "running" not in m.attributes and "config" not in m.attributes
    assert m.content_hash() == make_client("together").normalize(dict(CHAT, running=True)).content_hash()


def test_embedding_and_image_kinds_and_zero_prices_of_non_token_models_stay_unknown():
    client = make_client("together")
    embed = client.normalize(EMBED)
    assert embed.kind == "embedding" and embed.pricing.input == 0.02 and embed.lifecycle.release_date is None
    image = client.normalize(IMAGE)
    assert image.kind == "image" and image.pricing.input is None and image.limits.context_window is None


def test_vision_and_tools_are_not_in_the_list():
    m = make_client("together").normalize(VISION)
    assert m.capabilities.vision is None and m.capabilities.tool_calling is None


def test_fetch_reads_a_bare_array_and_rejects_other_shapes(stub):
    stub.route("/v1/models", (200, [CHAT, EMBED, IMAGE]))
    client = make_client("together", stub.url + "/v1", env={"TOGETHER_API_KEY": "tg"})
    assert len(client.fetch_models()) == 3
    assert stub.requests[0]["headers"]["Authorization"] == "Bearer tg"
    stub.route("/v1/models", (200, {"models": [CHAT]}))
    with pytest.raises(MalformedAnswer):
        client.fetch_models()


def test_error_body(stub):
    stub.route("/v1/models", (503, {"error": {"message": "The server is overloaded", "type": "server_error"}}))
    with pytest.raises(ProviderHTTPError) as err:
        make_client("together", stub.url + "/v1").fetch_models()
    assert "overloaded" in str(err.value) and err.value.retryable


def test_refresh_from_the_simulator(sim):
    base = simulated(sim, "together")
    got = by_id(make_client("together", base).fetch_models())
    assert len(got) == len(sim.state.models("together"))
    llama = got["meta-llama/Llama-3.3-70B-Instruct-Turbo"]
    assert llama.kind == "chat" and (llama.pricing.input, llama.pricing.output) == (0.88, 0.88)
    assert got["BAAI/bge-large-en-v1.5"].kind == "embedding"
    assert got["black-forest-labs/FLUX.1-schnell"].kind == "image"
    assert got["black-forest-labs/FLUX.1-schnell"].pricing.input is None
    assert got["openai/whisper-large-v3"].kind == "audio"
    assert got["meta-llama/Llama-Guard-4-12B"].kind == "moderation"
