"""Azure OpenAI's GET {endpoint}/openai/models?api-version=: lifecycle, deprecation, repeated ids."""
from __future__ import annotations

import pytest

from discovery.providers import ProviderAuthError, ProviderError
from tests.providers.conftest import by_id, make_client, simulated

NOW = 1_750_000_000  # 2025-06-15
GPT4O = {"status": "succeeded", "model": None, "fine_tune": None,
         "capabilities": {"fine_tune": True, "inference": True, "completion": False, "chat_completion": True,
                          "embeddings": False},
         "lifecycle_status": "generally-available", "deprecation": {"fine_tune": 1790000000, "inference": 1790000000},
         "id": "gpt-4o-2024-08-06", "created_at": 1722902400, "object": "model"}
EMBED = {"status": "succeeded", "capabilities": {"fine_tune": False, "inference": True, "completion": False,
                                                  "chat_completion": False, "embeddings": True},
         "lifecycle_status": "generally-available", "deprecation": {"inference": 1790000000},
         "id": "text-embedding-ada-002", "created_at": 1675209600, "object": "model"}
RETIRED = {"status": "succeeded", "capabilities": {"fine_tune": False, "inference": True, "completion": True,
                                                    "chat_completion": True, "embeddings": False},
           "lifecycle_status": "generally-available", "deprecation": {"inference": 1720000000},
           "id": "gpt-35-turbo-0301", "created_at": 1677628800, "object": "model"}
FT_ENDED = dict(GPT4O, id="gpt-4-0613", deprecation={"fine_tune": 1700000000, "inference": 1790000000})
PREVIEW = dict(GPT4O, id="gpt-4o-audio-preview-2024-12-17", lifecycle_status="preview",
               capabilities={"fine_tune": False, "inference": True, "completion": False,
                             "chat_completion": True, "embeddings": False})
DALLE = {"status": "succeeded", "capabilities": {"fine_tune": False, "inference": True, "completion": False,
                                                  "chat_completion": False, "embeddings": False},
         "lifecycle_status": "generally-available", "deprecation": {"inference": 1790000000},
         "id": "dall-e-3-3.0", "created_at": 1696118400, "object": "model"}


def test_chat_model_kind_fine_tuning_and_future_deprecation_date():
    m = make_client("azure", "https://res.openai.azure.com").normalize(GPT4O, now=NOW)
    assert m.kind == "chat" and m.capabilities.fine_tuning is True
    assert m.lifecycle.status == "active" and m.lifecycle.deprecation_date == "2026-09-21"
    assert m.lifecycle.release_date == "2024-08-06" and m.provenance["lifecycle.status"] == "azure"


def test_embedding_model_and_image_model_by_id_heuristic():
    client = make_client("azure", "https://res.openai.azure.com")
    assert client.normalize(EMBED, now=NOW).kind == "embedding"
    dalle = client.normalize(DALLE, now=NOW)
    assert dalle.kind == "image" and dalle.provenance["kind"] == "heuristic"


def test_deprecation_dates_in_the_past_mean_retired_or_deprecated():
    client = make_client("azure", "https://res.openai.azure.com")
    assert client.normalize(RETIRED, now=NOW).lifecycle.status == "retired"
    assert client.normalize(FT_ENDED, now=NOW).lifecycle.status == "deprecated"
    assert client.normalize(PREVIEW, now=NOW).lifecycle.status == "preview"


def test_fetch_sends_api_key_and_version_and_drops_repeated_ids(stub):
    stub.route("/openai/models", (200, {"data": [GPT4O, EMBED, EMBED, DALLE], "object": "list"}))
    client = make_client("azure", stub.url, env={"AZURE_OPENAI_API_KEY": "az"}, api_version="2025-04-01-preview")
    models = client.fetch_models()
    assert [m.provider_model_id for m in models] == ["gpt-4o-2024-08-06", "text-embedding-ada-002", "dall-e-3-3.0"]
    req = stub.requests[0]
    assert req["headers"]["Api-Key"] == "az" and "Authorization" not in req["headers"]
    assert req["query"] == {"api-version": "2025-04-01-preview"}


def test_default_api_version(stub):
    stub.route("/openai/models", (200, {"data": [GPT4O], "object": "list"}))
    make_client("azure", stub.url).fetch_models()
    assert stub.requests[0]["query"] == {"api-version": "2024-10-21"}


def test_missing_endpoint_is_a_clear_configuration_error():
    with pytest.raises(ProviderError, match="base_url"):
        make_client("azure").fetch_models()


def test_error_body(stub):
    stub.route("/openai/models", (401, {"error": {"code": "401", "message": "Access denied due to invalid "
                                                  "subscription key or wrong API endpoint."}}))
    with pytest.raises(ProviderAuthError) as err:
        make_client("azure", stub.url).fetch_models()
    assert "Access denied" in str(err.value)


def test_refresh_from_the_simulator(sim):
    base = simulated(sim, "azure")
    records = sim.state.models("azure")
    models = make_client("azure", base).fetch_models()
    got = by_id(models)
    assert len(got) == len(models) == len({r["id"] for r in records}) < len(records)  # a repeated id
    assert got["gpt-4o-mini"].kind == "chat" and got["gpt-4o-mini"].capabilities.fine_tuning is True
    assert got["text-embedding-3-small"].kind == "embedding"
    assert got["dall-e-3"].kind == "image"
    assert got["gpt-3.5-turbo-0301"].lifecycle.status == "retired"
    assert got["gpt-5.5"].lifecycle.status == "preview"
    assert got["gpt-4o"].lifecycle.deprecation_date
