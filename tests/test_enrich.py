"""Matching live ids to catalog ids, drafts with provenance, and per-field precedence."""
from __future__ import annotations

import json

from discovery.enrich import (
    FIELD_PATHS,
    CatalogIndex,
    FieldOrder,
    ModelDraft,
    catalog_provider_names,
    combine,
    field_value,
    id_date,
    live_match_keys,
    match_keys,
    with_provenance,
)
from discovery.model import Limits, Model, Pricing, Provenance
from discovery.settings import ProviderConfig


def catalog(provider, model_id, source="modelsdev", **fields):
    return Model(provider=provider, provider_model_id=model_id, source=source, live=False, **fields)


def test_match_keys_strip_one_documented_thing_at_a_time():
    assert match_keys("gpt-4o-2024-08-06") == ("gpt-4o-2024-08-06", "gpt-4o")
    assert match_keys("models/gemini-2.5-flash") == ("models/gemini-2.5-flash", "gemini-2.5-flash")
    assert match_keys("claude-3-5-sonnet@20240620")[-1] == "claude-3-5-sonnet"
    assert match_keys("mistral-large-latest")[-1] == "mistral-large"
    assert match_keys("llama3.2:latest")[-1] == "llama3.2"
    assert match_keys("us.anthropic.claude-3-5-sonnet-20240620-v1:0") == (
        "us.anthropic.claude-3-5-sonnet-20240620-v1:0", "anthropic.claude-3-5-sonnet-20240620-v1:0",
        "anthropic.claude-3-5-sonnet-20240620", "claude-3-5-sonnet-20240620", "claude-3-5-sonnet")
    assert match_keys("amazon.nova-pro-v1:0")[-1] == "nova-pro"
    assert match_keys("gpt-4-0613")[-1] == "gpt-4"
    assert match_keys("gpt-4.1") == ("gpt-4.1",)  # a dotted version is not a vendor prefix


def test_index_matches_dated_and_undated_ids_both_ways_closest_first():
    index = CatalogIndex("modelsdev", [
        catalog("openai", "gpt-4o"), catalog("openai", "gpt-4o-2024-05-13"),
        catalog("anthropic", "claude-sonnet-4-5-20250929"),
        catalog("bedrock", "anthropic.claude-3-5-sonnet-20240620-v1:0"),
        catalog("mistral", "mistral-medium-2505"), catalog("mistral", "mistral-medium-2508"),
    ])
    def hit(provider, model_id):
        found = index.lookup(provider, match_keys(model_id))
        return found.provider_model_id if found else None

    assert hit("openai", "gpt-4o-2024-08-06") == "gpt-4o"
    assert hit("openai", "gpt-4o-2024-05-13") == "gpt-4o-2024-05-13"
    assert hit("anthropic", "claude-sonnet-4-5") == "claude-sonnet-4-5-20250929"
    assert hit("bedrock", "us.anthropic.claude-3-5-sonnet-20240620-v1:0") == "anthropic.claude-3-5-sonnet-20240620-v1:0"
    assert hit("mistral", "mistral-medium-latest") == "mistral-medium-2508"  # newest of equals
    assert hit("openai", "gpt-5") is None and hit("azure", "gpt-4o") is None


def test_live_aliases_are_looked_up_before_loose_variants():
    live = Model(provider="mistral", provider_model_id="mistral-large-2411",
                 attributes={"aliases": ["mistral-large-latest"]})
    keys = live_match_keys(live)
    assert keys[:2] == ("mistral-large-2411", "mistral-large-latest")


def test_draft_ignores_unknowns_and_records_each_fields_source():
    draft = ModelDraft("groq", "llama-3.1-8b-instant", "groq")
    draft.set("limits.context_window", 131072)
    draft.set("capabilities.vision", None)
    draft.guess("kind", "chat")
    draft.set("kind", "chat")  # a stated value replaces a guess
    draft.guess("kind", "embedding")  # a guess never replaces anything
    m = draft.build(raw={"id": "x"})
    assert m.limits.context_window == 131072 and m.capabilities.vision is None and m.kind == "chat"
    assert dict(m.provenance) == {"limits.context_window": "groq", "kind": "groq"}


def test_with_provenance_attributes_unsourced_fields_to_the_models_source():
    m = with_provenance(catalog("openai", "gpt-4o", limits=Limits(context_window=128000), kind="chat"))
    assert dict(m.provenance) == {"kind": "modelsdev", "limits.context_window": "modelsdev"}


def test_with_provenance_gives_records_filling_the_same_fields_one_shared_map():
    a = with_provenance(catalog("openai", "gpt-4o", kind="chat", limits=Limits(context_window=128000)))
    b = with_provenance(catalog("openai", "gpt-4.1", kind="chat", limits=Limits(context_window=1047576)))
    c = with_provenance(catalog("openai", "o3", kind="chat", limits=Limits(context_window=200000), source="litellm"))
    d = with_provenance(catalog("openai", "o4", kind="chat", pricing=Pricing(input=2.0)))
    assert a.provenance is b.provenance
    assert dict(c.provenance) == {"kind": "litellm", "limits.context_window": "litellm"}
    assert dict(d.provenance) == {"kind": "modelsdev", "pricing.input": "modelsdev"}
    assert a.limits.context_window == 128000 and b.limits.context_window == 1047576  # only the map is shared
    # The map lists the fields in the taxonomy's order, even when an equal map listing them in
    # another order was made first.
    Provenance.of({"limits.context_window": "order-check", "kind": "order-check"})
    e = with_provenance(catalog("openai", "o5", source="order-check", limits=Limits(context_window=1), kind="chat"))
    expected = [p for p in FIELD_PATHS if p in ("kind", "limits.context_window")]
    assert list(json.loads(e.provenance.json())) == expected
    # A record that already states its provenance is left as it is; one with no field filled too.
    assert with_provenance(a) is a
    bare = Model(provider="openai", provider_model_id="x", name=None, source="modelsdev", live=False)
    assert with_provenance(bare) is bare


def test_precedence_is_live_then_configured_catalog_order_then_heuristic():
    order = FieldOrder(["modelsdev", "litellm"], {"pricing": ["litellm"], "kind": ["heuristic"]})
    assert order.by_path["pricing.input"] == ("live", "litellm", "modelsdev", "heuristic")
    assert order.by_path["limits.context_window"] == ("live", "modelsdev", "litellm", "heuristic")
    assert order.by_path["kind"] == ("live", "heuristic", "modelsdev", "litellm")
    # "live" cannot be moved down: a provider's own statement always wins
    assert FieldOrder(["modelsdev"], ["modelsdev", "live"]).by_path["name"][0] == "live"


def test_combine_fills_field_by_field_and_keeps_live_values():
    live = ModelDraft("openai", "gpt-4o", "openai")
    live.set("limits.context_window", 100000)
    live.guess("kind", "completion")
    md = with_provenance(catalog("openai", "gpt-4o", kind="chat", limits=Limits(context_window=128000),
                                 pricing=Pricing(input=2.5)))
    ll = with_provenance(catalog("openai", "gpt-4o", source="litellm", pricing=Pricing(input=3.0, output=10.0)))
    out = combine(live.build(), {"modelsdev": md, "litellm": ll}, FieldOrder(["modelsdev", "litellm"]))
    assert out.limits.context_window == 100000 and out.provenance["limits.context_window"] == "openai"
    assert out.kind == "chat" and out.provenance["kind"] == "modelsdev"  # a catalog beats a guess
    assert (out.pricing.input, out.pricing.output) == (2.5, 10.0)
    assert (out.provenance["pricing.input"], out.provenance["pricing.output"]) == ("modelsdev", "litellm")
    assert out.live is True and out.source == "openai"
    assert all(field_value(out, p) is not None for p in out.provenance)
    assert set(out.provenance) <= set(FIELD_PATHS)


def test_catalog_provider_names_use_format_or_option():
    configs = [ProviderConfig(name="openai-eu", format="openai"),
               ProviderConfig(name="local", format="ollama", options={"catalog_provider": "ollama"}),
               ProviderConfig(name="litellm", format="litellm")]
    assert catalog_provider_names(configs) == {"openai-eu": "openai", "local": "ollama"}


def test_a_status_models_dev_leaves_out_yields_to_one_a_catalog_states():
    """models.dev gives a status only to alpha, beta and deprecated models: its "active" is a guess,
    so LiteLLM's deprecated (a deprecation date now past) wins, and is credited to LiteLLM."""
    from discovery.providers.litellm import LiteLLMClient
    from discovery.providers.modelsdev import normalize_record

    md = normalize_record("openai", {"id": "gpt-4", "name": "GPT-4", "cost": {"input": 30, "output": 60}},
                          "modelsdev")
    assert md.lifecycle.status == "active" and md.provenance["lifecycle.status"] == "heuristic"
    ll = LiteLLMClient(ProviderConfig(name="litellm", format="litellm")).normalize_entry(
        "openai", "gpt-4", {"mode": "chat", "deprecation_date": "2026-10-23"}, today="2026-12-02")
    live = ModelDraft("openai", "gpt-4", "openai").build()
    out = combine(live, {"modelsdev": with_provenance(md), "litellm": ll}, FieldOrder(["modelsdev", "litellm"]))
    assert out.lifecycle.status == "deprecated" and out.provenance["lifecycle.status"] == "litellm"
    assert out.pricing.input == 30 and out.provenance["pricing.input"] == "modelsdev"
    # Stated by no one else, it stays active, as a guess.
    alone = combine(live, {"modelsdev": with_provenance(md)}, FieldOrder(["modelsdev", "litellm"]))
    assert alone.lifecycle.status == "active" and alone.provenance["lifecycle.status"] == "heuristic"
    # A status models.dev does give is its own.
    beta = normalize_record("openai", {"id": "gpt-5", "status": "beta"}, "modelsdev")
    assert beta.lifecycle.status == "preview" and "lifecycle.status" not in beta.provenance


def test_a_dated_model_takes_from_a_latest_entry_only_when_the_provider_names_it_an_alias():
    """``mistral-large-latest`` is the newest version (2512 here): 2411 must not take its values
    (a 262k input limit against 2411's own 131k context), 2512 may, as its alias."""
    from discovery.enrich import live_match_plan

    lookup = CatalogIndex("litellm", [catalog("mistral", "mistral-large-latest", source="litellm",
                                              limits=Limits(max_input_tokens=262144)),
                                      catalog("mistral", "mistral-large", source="litellm",
                                              limits=Limits(max_output_tokens=4096))])

    def found(model_id, aliases=()):
        live = Model(provider="mistral", provider_model_id=model_id, attributes={"aliases": list(aliases)})
        hit = lookup.find("mistral", live_match_plan(live), id_date(model_id))
        return (hit[0].provider_model_id, hit[1]) if hit else None

    assert found("mistral-large-2411") == ("mistral-large", "undated-base")  # not the -latest entry
    assert found("mistral-large-2512", ["mistral-large-latest"]) == ("mistral-large-latest", "alias")
    assert found("mistral-large-latest") == ("mistral-large-latest", "exact")
    only_latest = CatalogIndex("litellm", [catalog("mistral", "devstral-small-latest", source="litellm")])
    live = Model(provider="mistral", provider_model_id="devstral-small-2505")
    assert only_latest.find("mistral", live_match_plan(live), id_date("devstral-small-2505")) is None


def test_an_exact_entry_in_a_later_catalog_beats_a_looser_one_in_an_earlier_catalog():
    """azure/gpt-4o-2024-05-13: models.dev has only gpt-4o (its undated base, today's price),
    LiteLLM the dated snapshot itself (its own price): the snapshot's own entry wins, per field,
    and the configured order still decides between entries that match as closely."""
    live = ModelDraft("azure", "gpt-4o-2024-05-13", "azure").build()
    md = with_provenance(catalog("azure", "gpt-4o", pricing=Pricing(input=2.5, output=10.0),
                                 limits=Limits(context_window=128000)))
    ll = with_provenance(catalog("azure", "gpt-4o-2024-05-13", source="litellm", pricing=Pricing(input=5.0, output=15.0)))
    order = FieldOrder(["modelsdev", "litellm"])
    trace: dict = {}
    out = combine(live, {"modelsdev": md, "litellm": ll}, order,
                  kinds={"modelsdev": "undated-base", "litellm": "exact"}, trace=trace)
    assert (out.pricing.input, out.pricing.output) == (5.0, 15.0) and out.provenance["pricing.input"] == "litellm"
    assert trace["pricing.input"][:3] == ("litellm", "gpt-4o-2024-05-13", "exact")
    assert out.limits.context_window == 128000 and out.provenance["limits.context_window"] == "modelsdev"
    # As close as each other: the configured order (models.dev first).
    even = combine(live, {"modelsdev": md, "litellm": ll}, order, kinds={"modelsdev": "exact", "litellm": "exact"})
    assert even.pricing.input == 2.5 and even.provenance["pricing.input"] == "modelsdev"


def test_a_models_dev_record_without_a_status_is_served_with_every_field_credited(start_service, simulator):
    """Its guessed status was its only provenance entry: 4,096 catalog-only records served
    prices, limits and capabilities credited to no source, now and as of any past time."""
    import time

    from tests.conftest import provider_config, wait_for
    from web import create_app

    simulator.state.set_models("modelsdev", {"302ai": {"id": "302ai", "models": {"MiniMax-M1": {
        "id": "MiniMax-M1", "name": "MiniMax-M1", "tool_call": True, "limit": {"context": 1000000, "output": 128000},
        "cost": {"input": 0.4, "output": 2.2}}}}})
    service = start_service([provider_config(simulator, "modelsdev", "modelsdev")])
    wait_for(lambda: service.get_model("302ai/MiniMax-M1") is not None, what="the catalog's first answer")
    client = create_app(service).test_client()
    time.sleep(0.01)
    from discovery.timestamps import iso

    for url in ("/api/v1/models/302ai/MiniMax-M1", f"/api/v1/models/302ai/MiniMax-M1?as_of={iso(time.time())}"):
        answer = client.get(url).get_json()
        assert "provenance" in answer, (url, answer)
        provenance = answer["provenance"]
        assert provenance["lifecycle.status"]["source"] == "heuristic", url
        for path in ("pricing.input", "pricing.output", "limits.context_window", "limits.max_output_tokens",
                     "capabilities.tool_calling", "name"):
            assert provenance[path]["source"] == "modelsdev", (url, path)
            assert provenance[path]["entry"] == "MiniMax-M1" and provenance[path]["match"] == "exact"
        assert "pricing.cache_read" not in provenance  # unknown fields are credited to no one


def test_a_catalogs_input_limit_past_the_window_another_source_gave_is_not_taken():
    """mistral/mistral-medium-2505: 131,072 from Mistral's API, max input 262,144 from LiteLLM's
    undated mistral-medium: a record whose input limit was twice its own window."""
    from discovery.model import Limits, Model

    live = Model("mistral", "mistral-medium-2505", source="mistral", limits=Limits(context_window=131072),
                 provenance={"limits.context_window": "mistral"})
    undated = Model("mistral", "mistral-medium", source="litellm",
                    limits=Limits(context_window=262144, max_input_tokens=262144, max_output_tokens=8191))
    md = Model("mistral", "mistral-medium-2505", source="modelsdev", limits=Limits(max_input_tokens=120000))
    order = FieldOrder(["modelsdev", "litellm"])
    out = combine(live, {"litellm": undated}, order, kinds={"litellm": "undated-base"})
    assert out.limits.context_window == 131072 and out.limits.max_input_tokens is None
    assert out.limits.max_output_tokens == 8191  # within the window: taken
    # A source within the window is taken; the source of the window itself is taken whatever it says.
    both = combine(live, {"litellm": undated, "modelsdev": md}, order, kinds={"litellm": "undated-base",
                                                                               "modelsdev": "exact"})
    assert both.limits.max_input_tokens == 120000 and both.provenance["limits.max_input_tokens"] == "modelsdev"
    alone = combine(None, {"litellm": undated}, order, template=undated)
    assert alone.limits.max_input_tokens == 262144
    # The provider's own word is kept even past a catalog's window.
    own = Model("mistral", "m-1", source="mistral", limits=Limits(max_input_tokens=500000),
                provenance={"limits.max_input_tokens": "mistral"})
    small = Model("mistral", "m-1", source="litellm", limits=Limits(context_window=1000))
    assert combine(own, {"litellm": small}, order).limits.max_input_tokens == 500000


def test_a_cache_price_is_taken_only_beside_the_input_price_it_belongs_to():
    """groq/openai/gpt-oss-120b: Groq's input price moved to 0.2, its cache price stayed models.dev's
    0.075, keyed to the old 0.15 input; mistral-medium-2505 mixed models.dev's 0.4 input with the
    cache price of LiteLLM's undated 1.5 one."""
    from discovery.model import Model, Pricing

    live = Model("groq", "openai/gpt-oss-120b", source="groq", pricing=Pricing(input=0.2, output=0.6),
                 provenance={"pricing.input": "groq", "pricing.output": "groq"})
    md = Model("groq", "openai/gpt-oss-120b", source="modelsdev", pricing=Pricing(input=0.15, output=0.6, cache_read=0.075))
    order = FieldOrder(["modelsdev", "litellm"])
    out = combine(live, {"modelsdev": md}, order)
    assert out.pricing.input == 0.2 and out.pricing.cache_read is None
    # Where the catalog's input price agrees, its cache price is the same table's: taken.
    agreed = Model("groq", "openai/gpt-oss-120b", source="modelsdev", pricing=Pricing(input=0.2, cache_read=0.1))
    assert combine(live, {"modelsdev": agreed}, order).pricing.cache_read == 0.1
    # The source of the input price gives its own cache price whatever the others say.
    alone = combine(None, {"modelsdev": md}, order, template=md)
    assert alone.pricing.cache_read == 0.075
