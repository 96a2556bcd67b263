"""The incremental merge gives exactly what a merge from scratch gives, after every kind of change."""
import random

import pytest

from discovery.merge import MergeEngine, merge_sources
from discovery.model import Limits, Pricing
from discovery.providers import LiteLLMClient, ModelsDevClient, OpenAIClient
from discovery.settings import ProviderConfig
from discovery.simulator.sources import packaged_litellm, packaged_modelsdev


@pytest.fixture(scope="module")
def sources():
    """models.dev and LiteLLM as catalogs; OpenAI-shaped live lists built from their ids."""
    md = ModelsDevClient(ProviderConfig(name="modelsdev", format="modelsdev")).normalize(packaged_modelsdev())
    ll = LiteLLMClient(ProviderConfig(name="litellm", format="litellm")).normalize(packaged_litellm())
    client = OpenAIClient(ProviderConfig(name="openai", format="openai"))
    live_ids = sorted({m.provider_model_id for m in md if m.provider == "openai"})
    openai = [client.normalize({"id": i, "object": "model", "created": 1715367049, "owned_by": "system"})
              for i in live_ids]
    groq = [m.evolve(source="groq", live=True, provenance={}) for m in md if m.provider == "groq"]
    return {"modelsdev": {m.id: m for m in md}, "litellm": {m.id: m for m in ll},
            "openai": {m.id: m for m in openai}, "groq": {m.id: m for m in groq}}


def full(state):
    return merge_sources({s: list(state[s].values()) for s in ("groq", "openai")},
                         {s: list(state[s].values()) for s in ("modelsdev", "litellm")})


def same(engine_out, expected):
    assert engine_out.keys() == expected.keys()
    for k, m in expected.items():
        got = engine_out[k]
        assert got.content_hash() == m.content_hash(), k
        assert dict(got.provenance) == dict(m.provenance), k
        assert got.source == m.source and got.live == m.live, k


@pytest.mark.parametrize("packed", [False, True])
def test_random_changes_to_every_source_match_a_full_merge(sources, packed):
    """The engine fed records as they are, or packed as the catalog keeps them."""
    from discovery.enrich import with_provenance
    from discovery.entry import PackedModel

    def kept(models):
        if not packed:
            return models
        return {k: PackedModel.of(with_provenance(m), keep=False) for k, m in models.items()}

    rng = random.Random(3)
    state = {k: dict(v) for k, v in sources.items()}
    engine = MergeEngine(["modelsdev", "litellm"], live_order=["groq", "openai"])
    for name in ("modelsdev", "litellm", "groq", "openai"):
        engine.update(name, kept(state[name]))
    previous = full(state)
    same(engine.merged(), previous)
    for _ in range(8):
        name = rng.choice(list(state))
        models = state[name]
        ids = sorted(models)
        upserts, removed = {}, []
        for mid in rng.sample(ids, min(40, len(ids))):
            m = models[mid]
            upserts[mid] = m.evolve(limits=Limits(context_window=rng.choice([None, 4096, 200000])),
                                    pricing=Pricing(input=rng.choice([None, 0.5, 9.0])))
        for mid in rng.sample(ids, min(15, len(ids))):
            if mid not in upserts:
                removed.append(mid)
        # new entries whose ids share match keys with others (dated and undated variants)
        for mid in rng.sample(ids, min(10, len(ids))):
            m = models[mid]
            for new_id in (m.provider_model_id + "-2031-01-01", m.provider_model_id.rsplit("-", 1)[0]):
                if f"{m.provider}/{new_id}" not in models:
                    upserts[f"{m.provider}/{new_id}"] = m.evolve(provider_model_id=new_id)
        for mid in removed:
            del models[mid]
        models.update(upserts)
        affected = engine.update(name, kept(upserts), removed)
        expected = full(state)
        same(engine.merged(), expected)
        assert set(upserts) | set(removed) <= affected
        # Every merged id whose value moved is among those the engine named (nothing is missed).
        moved = {k for k in previous.keys() | expected.keys()
                 if (k in previous) != (k in expected)
                 or previous[k].content_hash() != expected[k].content_hash()
                 or dict(previous[k].provenance) != dict(expected[k].provenance)}
        assert moved <= affected, sorted(moved - affected)[:5]
        previous = expected
