"""Traced provenance on the real catalogs: every field names its entry, and no dated model takes a
value from another dated version of itself."""
from __future__ import annotations

import gzip
import json

import pytest

from discovery import refresh_runs, store, stored_models
from discovery.catalog import CatalogState
from discovery.enrich import id_date, match_kind
from discovery.messages import ProviderSnapshot
from discovery.model import loads
from discovery.providers import LiteLLMClient, ModelsDevClient, OpenAIClient
from discovery.settings import ProviderConfig
from tests.conftest import SHARED_DATA

pytestmark = pytest.mark.skipif(not (SHARED_DATA / "litellm").is_dir() or not (SHARED_DATA / "modelsdev").is_dir(),
                                reason="the shared data (models.dev history, LiteLLM's map) is not in ../shared/data")

# models.dev providers whose ids carry dates and whose catalogs change from snapshot to snapshot.
PROVIDERS = ("openai", "anthropic", "mistral", "xai", "deepseek")


def _read(path):
    return json.loads(gzip.decompress(path.read_bytes()))


@pytest.fixture(scope="module")
def litellm():
    client = LiteLLMClient(ProviderConfig(name="litellm", format="litellm", options={"providers": list(PROVIDERS)}))
    return client.normalize(_read(SHARED_DATA / "litellm" / "model_prices_and_context_window.json.gz"),
                            today="2026-07-01")


def live_lists(doc):
    """Each provider's live list as the provider's own ids only (everything else from the catalogs)."""
    out = {}
    for provider in PROVIDERS:
        client = OpenAIClient(ProviderConfig(name=provider, format="openai"))
        out[provider] = [client.normalize({"id": mid, "object": "model", "created": 1715367049, "owned_by": "x"})
                         for mid in sorted((doc.get(provider) or {}).get("models", {}))]
    return out


def test_replayed_snapshots_never_borrow_from_another_dated_version(db_url, litellm):
    files = sorted((SHARED_DATA / "modelsdev").glob("api-*.json.gz"))
    assert len(files) >= 2
    store.open_database(db_url)
    sources = {p: False for p in PROVIDERS} | {"modelsdev": True, "litellm": True}
    for name, is_catalog in sources.items():
        store.ensure_provider(name, "modelsdev" if name == "modelsdev" else "litellm" if name == "litellm"
                              else "openai", is_catalog)
    state = CatalogState(sources, formats={"modelsdev": "modelsdev", "litellm": "litellm"})
    md = ModelsDevClient(ProviderConfig(name="modelsdev", format="modelsdev", options={"providers": list(PROVIDERS)}))

    def apply(source, models):
        run = refresh_runs.begin_run(source, "test")
        state.apply(ProviderSnapshot(source, run, tuple(models), max_removal_ratio=1.0, allow_empty=True))

    apply("litellm", litellm)
    checked = borrowed_base = 0
    # The live lists of each snapshot against the catalog of the snapshot before it: dated ids the
    # catalog does not list yet (or no more) are common, and must not take a sibling's values.
    for older, newer in zip(files, files[1:]):
        apply("modelsdev", md.normalize(_read(older)))
        for provider, models in live_lists(_read(newer)).items():
            apply(provider, models)
        live_ids = [e.id for e in state.index().entries() if e.live]
        for model_id, stored in stored_models.load_provenances(live_ids).items():
            pid = model_id.split("/", 1)[1]
            for path, item in loads(stored).items():
                if item["source"] == "heuristic":
                    assert item["entry"] is None
                    continue
                assert item["entry"], f"{model_id} {path}: no entry named"
                checked += 1
                if item["source"] in ("modelsdev", "litellm"):
                    entry_id = item["entry"].split("/")[-1]
                    assert match_kind(id_date(pid), entry_id, item["match"] == "alias") is not None, \
                        f"{model_id} {path} came from {item['source']} {item['entry']}"
                    if id_date(pid) and id_date(item["entry"]) and not item["match"] == "alias":
                        assert id_date(pid) == id_date(item["entry"]), (model_id, path, item)
                    borrowed_base += item["match"] == "undated-base"
    store.close_database()
    assert checked > 10_000 and borrowed_base > 0


def test_a_dated_id_takes_its_own_entry_or_its_undated_base_never_a_sibling():
    assert match_kind(id_date("codestral-2501"), "codestral-2508", False) is None
    assert match_kind(id_date("codestral-2501"), "codestral", False) == "undated-base"
    assert match_kind(id_date("codestral-2501"), "codestral-2501", False) == "exact"
    assert match_kind(id_date("gpt-4o-audio-preview-2024-10-01"), "gpt-4o-audio-preview-2025-06-03", False) is None
    assert match_kind(id_date("mistral-moderation-2411"), "mistral-moderation-2603", False) is None
    assert match_kind(id_date("mistral-large-2411"), "mistral-large-latest", True) == "alias"
    assert match_kind(None, "gpt-4o-2024-08-06", False) == "family"


def test_each_field_names_its_entry_and_the_values_other_sources_state(db_url):
    from discovery.model import Limits, Model, Pricing

    store.open_database(db_url)
    for name, is_catalog in (("openai", False), ("modelsdev", True), ("litellm", True)):
        store.ensure_provider(name, name, is_catalog)
    state = CatalogState({"openai": False, "modelsdev": True, "litellm": True},
                         formats={"modelsdev": "modelsdev", "litellm": "litellm"})

    def apply(source, *models):
        state.apply(ProviderSnapshot(source, refresh_runs.begin_run(source, "test"), models))

    apply("modelsdev", Model("openai", "gpt-x", name="GPT X", limits=Limits(context_window=128000),
                             pricing=Pricing(input=2.5), source="modelsdev", live=False))
    apply("litellm", Model("openai", "gpt-x", limits=Limits(context_window=64000), pricing=Pricing(input=2.5),
                           attributes={"litellm_key": "openai/gpt-x"}, source="litellm", live=False))
    apply("openai", Model("openai", "gpt-x-2025-01-01", limits=Limits(context_window=32000), source="openai",
                          provenance={"limits.context_window": "openai"}))
    traced = loads(stored_models.load_provenances(["openai/gpt-x-2025-01-01"])["openai/gpt-x-2025-01-01"])
    window = traced["limits.context_window"]
    assert (window["source"], window["entry"], window["match"]) == ("openai", "gpt-x-2025-01-01", "exact")
    assert {(c["source"], c["entry"], c["value"]) for c in window["conflicts"]} == {
        ("modelsdev", "gpt-x", 128000), ("litellm", "openai/gpt-x", 64000)}
    price = traced["pricing.input"]  # both catalogs agree: no conflict
    assert (price["source"], price["entry"], price["match"]) == ("modelsdev", "gpt-x", "undated-base")
    assert "conflicts" not in price
    assert traced["name"]["entry"] == "gpt-x"
    store.close_database()
