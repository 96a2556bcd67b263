"""merge_sources: live models enriched from models.dev and LiteLLM, catalog-only models, determinism."""
from __future__ import annotations

import gzip
import json

import pytest

from discovery.merge import merge_sources
from discovery.model import Model
from discovery.providers import (
    GroqClient,
    LiteLLMClient,
    MistralClient,
    ModelsDevClient,
    OpenAIClient,
)
from discovery.settings import ProviderConfig
from tests.conftest import litellm_map_file, newest_modelsdev


def _load(path):
    return json.loads(gzip.decompress(path.read_bytes()))


@pytest.fixture(scope="module")
def catalogs():
    """The newest models.dev snapshot and the LiteLLM map, for the providers these tests use."""
    newest = newest_modelsdev()
    keep = ["openai", "groq", "mistral"]
    md = ModelsDevClient(ProviderConfig(name="modelsdev", format="modelsdev", options={"providers": keep}))
    ll = LiteLLMClient(ProviderConfig(name="litellm", format="litellm", options={"providers": keep}))
    body = _load(litellm_map_file())
    return {"modelsdev": tuple(md.normalize(_load(newest))), "litellm": tuple(ll.normalize(body, today="2026-07-01"))}


def openai_live(*ids):
    client = OpenAIClient(ProviderConfig(name="openai", format="openai"))
    return tuple(client.normalize({"id": i, "object": "model", "created": 1715367049, "owned_by": "system"})
                 for i in ids)


def test_openai_ids_only_list_gains_context_prices_and_capabilities_each_with_its_source(catalogs):
    live = openai_live("gpt-4o", "gpt-4o-2024-08-06", "text-embedding-3-small", "o3-mini")
    out = merge_sources({"openai": live}, catalogs)
    gpt4o = out["openai/gpt-4o"]
    assert gpt4o.live is True and gpt4o.source == "openai"
    assert gpt4o.limits.context_window == 128000 and gpt4o.provenance["limits.context_window"] == "modelsdev"
    assert gpt4o.pricing.input == 2.5 and gpt4o.provenance["pricing.input"] == "modelsdev"
    assert gpt4o.capabilities.vision is True and gpt4o.provenance["capabilities.vision"] == "modelsdev"
    assert gpt4o.capabilities.tool_calling is True
    # fields models.dev does not have come from LiteLLM
    assert gpt4o.capabilities.parallel_tool_calls is True
    assert gpt4o.provenance["capabilities.parallel_tool_calls"] == "litellm"
    assert gpt4o.name == "GPT-4o" and gpt4o.provenance["name"] == "modelsdev"  # beats the id guess
    assert gpt4o.lifecycle.release_date == "2024-05-10" and gpt4o.provenance["lifecycle.release_date"] == "openai"
    embed = out["openai/text-embedding-3-small"]
    assert embed.kind == "embedding" and embed.pricing.input == 0.02 and embed.limits.context_window
    assert out["openai/o3-mini"].capabilities.reasoning is True
    # every filled field names its source, and every source is a real one
    for m in (gpt4o, embed):
        assert set(m.provenance.values()) <= {"openai", "modelsdev", "litellm", "heuristic"}


def test_a_field_the_live_api_states_wins_over_both_catalogs(catalogs):
    groq = GroqClient(ProviderConfig(name="groq", format="groq"))
    row = {"id": "llama-3.3-70b-versatile", "object": "model", "owned_by": "Meta", "active": True,
           "context_window": 99999, "max_completion_tokens": 32768,
           "pricing": {"input": "0.000001", "output": "0.000002"}}
    out = merge_sources({"groq": (groq.normalize(row),)}, catalogs)
    m = out["groq/llama-3.3-70b-versatile"]
    assert m.limits.context_window == 99999 and m.provenance["limits.context_window"] == "groq"
    assert m.pricing.input == 1.0 and m.provenance["pricing.input"] == "groq"
    assert m.capabilities.tool_calling is True and m.provenance["capabilities.tool_calling"] in ("modelsdev", "litellm")


def test_precedence_can_put_litellm_first_for_prices(catalogs):
    live = openai_live("gpt-4o")
    default = merge_sources({"openai": live}, catalogs)["openai/gpt-4o"]
    flipped = merge_sources({"openai": live}, catalogs, precedence={"pricing": ["litellm", "modelsdev"]})["openai/gpt-4o"]
    assert default.provenance["pricing.input"] == "modelsdev"
    assert flipped.provenance["pricing.input"] == "litellm"
    assert flipped.provenance["limits.context_window"] == "modelsdev"


def test_catalog_only_models_are_marked_not_live_and_matched_entries_are_not_repeated(catalogs):
    out = merge_sources({"openai": openai_live("gpt-4o-2024-08-06")}, catalogs)
    assert out["openai/gpt-4o-2024-08-06"].live is True
    others = [m for m in out.values() if m.provider == "openai" and m.id != "openai/gpt-4o-2024-08-06"]
    assert others and all(m.live is False for m in others)
    assert "openai/gpt-4o" in out  # an alias the live list does not show stays a catalog-only model
    without = merge_sources({"openai": openai_live("gpt-4o")}, catalogs, include_catalog_only=False)
    assert list(without) == ["openai/gpt-4o"]


def test_catalog_only_ids_in_both_catalogs_are_combined_with_provenance(catalogs):
    out = merge_sources({}, catalogs)
    m = out["openai/gpt-4o"]
    assert m.live is False and m.provenance["limits.context_window"] == "modelsdev"
    assert m.provenance["capabilities.parallel_tool_calls"] == "litellm"
    assert all(v is not None for v in (m.pricing.input, m.capabilities.vision))


def test_mistral_aliases_in_catalogs_do_not_become_duplicate_models(catalogs):
    client = MistralClient(ProviderConfig(name="mistral", format="mistral"))
    cards = [
        {"id": "mistral-large-2411", "object": "model", "created": 1, "name": "mistral-large-2411",
         "aliases": ["mistral-large-latest"], "capabilities": {"completion_chat": True}, "deprecation": None},
        {"id": "mistral-large-latest", "object": "model", "created": 1, "name": "mistral-large-2411",
         "aliases": ["mistral-large-2411"], "capabilities": {"completion_chat": True}, "deprecation": None},
    ]
    out = merge_sources({"mistral": tuple(client.normalize_list(cards))}, catalogs)
    assert "mistral/mistral-large-2411" in out and "mistral/mistral-large-latest" not in out
    assert out["mistral/mistral-large-2411"].limits.context_window


def test_live_provider_under_another_name_is_matched_through_catalog_provider(catalogs):
    client = OpenAIClient(ProviderConfig(name="openai-eu", format="openai"))
    live = (client.normalize({"id": "gpt-4o", "object": "model", "created": 1, "owned_by": "system"}),)
    out = merge_sources({"openai-eu": live}, catalogs, catalog_provider={"openai-eu": "openai"})
    assert out["openai-eu/gpt-4o"].limits.context_window == 128000
    assert "openai/gpt-4o" not in out  # matched, so not repeated as catalog-only


def test_first_live_source_wins_and_heuristic_fills_last():
    a = Model(provider="x", provider_model_id="my-embed-model", source="a", provenance={})
    b = Model(provider="x", provider_model_id="my-embed-model", source="b", name="B")
    out = merge_sources({"a": (a,), "b": (b,)}, {})
    assert out["x/my-embed-model"].source == "a"
    assert out["x/my-embed-model"].kind == "embedding" and out["x/my-embed-model"].provenance["kind"] == "heuristic"


def test_output_is_deterministic_whatever_the_input_containers(catalogs):
    live = {"openai": openai_live("gpt-4o", "gpt-4.1-mini", "whisper-1")}
    first = merge_sources(live, catalogs)
    second = merge_sources({k: list(v) for k, v in live.items()}, {k: list(v) for k, v in catalogs.items()})
    assert list(first) == list(second)
    assert [m.content_hash() for m in first.values()] == [m.content_hash() for m in second.values()]
    assert [dict(m.provenance) for m in first.values()] == [dict(m.provenance) for m in second.values()]


def test_openai_refreshed_over_http_is_enriched_from_the_simulated_catalogs():
    from discovery.simulator import SimulatorServer
    from tests.providers.conftest import make_client

    with SimulatorServer() as sim:
        live = tuple(make_client("openai", sim.base_url("openai")).fetch_models())
        catalogs = {"modelsdev": tuple(make_client("modelsdev", sim.base_url("modelsdev"), env={}).fetch_models()),
                    "litellm": tuple(make_client("litellm", sim.base_url("litellm"), env={}).fetch_models())}
    out = merge_sources({"openai": live}, catalogs)
    gpt4o = out["openai/gpt-4o"]
    assert gpt4o.live and gpt4o.capabilities.vision is True and gpt4o.limits.context_window == 128000
    assert {gpt4o.provenance[f] for f in ("capabilities.vision", "limits.context_window", "pricing.input")} \
        <= {"modelsdev", "litellm"}
    assert gpt4o.provenance["lifecycle.release_date"] == "openai"
    assert out["openai/text-embedding-3-small"].kind == "embedding"
    assert sum(m.live for m in out.values()) == len(live)
