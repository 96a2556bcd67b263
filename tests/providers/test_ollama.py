"""Ollama's /api/tags, and /api/show per model only when the tags lack capabilities."""
from __future__ import annotations

import pytest

from discovery.providers import ProviderHTTPError
from tests.providers.conftest import by_id, make_client, simulated

DETAILS = {"parent_model": "", "format": "gguf", "family": "qwen3", "families": ["qwen3"],
           "parameter_size": "8.2B", "quantization_level": "Q4_K_M"}
TAG_OLD = {"name": "qwen3:8b", "model": "qwen3:8b", "modified_at": "2025-05-01T10:00:00Z", "size": 5225388164,
           "digest": "500a1f067a9f", "details": DETAILS}
TAG_NEW = dict(TAG_OLD, capabilities=["completion", "tools", "thinking"],
               details={**DETAILS, "context_length": 40960})
VISION_TAG = {"name": "gemma3:4b", "model": "gemma3:4b", "modified_at": "2025-04-01T10:00:00Z", "size": 3338801804,
              "digest": "a2af6cc3eb7f", "details": {**DETAILS, "family": "gemma3", "context_length": 131072},
              "capabilities": ["completion", "vision"]}
EMBED_TAG = {"name": "nomic-embed-text:latest", "model": "nomic-embed-text:latest", "size": 274302450,
             "digest": "0a109f422b47", "details": {**DETAILS, "family": "nomic-bert", "embedding_length": 768,
                                                   "context_length": 2048},
             "capabilities": ["embedding"]}
SHOW_QWEN = {"modelfile": "# Modelfile ...", "parameters": "temperature 0.6", "template": "{{ .System }}",
             "details": DETAILS, "model_info": {"general.architecture": "qwen3", "qwen3.context_length": 40960},
             "capabilities": ["completion", "tools", "thinking"], "modified_at": "2025-05-01T10:00:00Z"}


def test_tags_with_capabilities_state_tools_reasoning_and_context():
    m = make_client("ollama").normalize(TAG_NEW)
    assert m.id == "ollama/qwen3:8b" and m.kind == "chat" and m.family == "qwen3"
    assert m.capabilities.tool_calling is True and m.capabilities.reasoning is True
    assert m.capabilities.vision is False  # the capability list is complete
    assert m.limits.context_window == 40960 and m.attributes["parameter_size"] == "8.2B"
    assert "modified_at" not in m.attributes


def test_vision_and_embedding_models():
    client = make_client("ollama")
    vision = client.normalize(VISION_TAG)
    assert vision.capabilities.vision is True and vision.modalities.input == ("text", "image")
    embed = client.normalize(EMBED_TAG)
    assert embed.kind == "embedding" and embed.attributes["embedding_length"] == 768


def test_old_server_tags_are_completed_by_api_show(stub):
    stub.route("/api/tags", (200, {"models": [TAG_OLD, VISION_TAG]}))
    stub.route("/api/show", (200, SHOW_QWEN), method="POST")
    models = by_id(make_client("ollama", stub.url, env={}).fetch_models())
    shows = [r for r in stub.requests if r["path"] == "/api/show"]
    assert [r["json"] for r in shows] == [{"model": "qwen3:8b", "verbose": False}]  # only the one lacking capabilities
    qwen = models["qwen3:8b"]
    assert qwen.capabilities.tool_calling is True and qwen.limits.context_window == 40960
    assert "Authorization" not in stub.requests[0]["headers"]


def test_bearer_key_when_one_is_set(stub):
    stub.route("/api/tags", (200, {"models": [TAG_NEW]}))
    make_client("ollama", stub.url, env={"OLLAMA_API_KEY": "ol"}).fetch_models()
    assert stub.requests[0]["headers"]["Authorization"] == "Bearer ol"


def test_error_body_string(stub):
    stub.route("/api/tags", (200, {"models": [TAG_OLD]}))
    stub.route("/api/show", (500, {"error": "llama runner process has terminated"}), method="POST")
    with pytest.raises(ProviderHTTPError) as err:
        make_client("ollama", stub.url).fetch_models()
    assert "llama runner process has terminated" in str(err.value)


def test_a_model_deleted_between_the_tags_and_its_show_is_left_out(stub):
    """`ollama rm` while a refresh ran: the tags still name the model, /api/show answers 404 for it.
    The whole refresh failed on it; the model is gone, the others are listed."""
    old_vision = {k: v for k, v in VISION_TAG.items() if k != "capabilities"}
    stub.route("/api/tags", (200, {"models": [TAG_OLD, old_vision]}))
    stub.route("/api/show", lambda request: (200, SHOW_QWEN) if request.get_json()["model"] == "qwen3:8b"
               else (404, {"error": f"model '{request.get_json()['model']}' not found"}), method="POST")
    assert set(by_id(make_client("ollama", stub.url).fetch_models())) == {"qwen3:8b"}


def test_refresh_from_the_simulator_old_and_new_servers(sim):
    base = simulated(sim, "ollama")
    client = make_client("ollama", base)
    new = by_id(client.fetch_models())
    assert new["gemma3:4b"].capabilities.vision is True and new["gemma3:4b"].capabilities.tool_calling is False
    assert new["qwen3:8b"].capabilities.tool_calling is True and new["qwen3:8b"].capabilities.reasoning is True
    assert new["nomic-embed-text:latest"].kind == "embedding"
    assert new["llama2:7b"].capabilities.supported() == () and new["llama2:7b"].limits.context_window == 4096
    assert not [r for r in sim.state.requests("ollama") if "/api/show" in str(r)]
    sim.state.set_option("ollama", "tags_capabilities", False)
    old = by_id(client.fetch_models())
    assert set(old) == set(new)
    assert {k: m.capabilities for k, m in old.items()} == {k: m.capabilities for k, m in new.items()}
    assert old["qwen3:8b"].limits.context_window == 40960


def test_tags_that_repeat_a_name_show_it_once(stub):
    """A review of malformed answers: 2,000 copies of one old-server tag made 2,000 /api/show calls."""
    stub.route("/api/tags", (200, {"models": [TAG_OLD] * 2000}))
    stub.route("/api/show", (200, SHOW_QWEN), method="POST")
    models = make_client("ollama", stub.url).fetch(None).models
    assert [m.id for m in models] == ["ollama/qwen3:8b"]
    assert [r["path"] for r in stub.requests] == ["/api/tags", "/api/show"]
