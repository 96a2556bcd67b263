"""combine's path for a live model no catalog entry matched (enrich._alone) gives exactly what the
general precedence walk (enrich._combined) gives: the same record, provenance and trace, for every
model each simulated format normalizes, and for records with guessed, missing and unsourced fields."""
import pytest

from discovery.enrich import HEURISTIC, FieldOrder, ModelDraft, _alone, _combined, combine
from discovery.model import Model
from discovery.providers import FORMATS
from discovery.simulator.formats import FORMATS_BY_PROVIDER, PROVIDER_ALIASES
from tests.providers.conftest import make_client, simulated

SERVED = sorted(f for f in FORMATS if PROVIDER_ALIASES.get(f, f) in FORMATS_BY_PROVIDER)

ORDERS = [FieldOrder(["modelsdev", "litellm"]), FieldOrder([]),
          FieldOrder(["modelsdev"], {"pricing": ["heuristic", "modelsdev"], "kind": ["modelsdev"]})]


def assert_same(base: Model) -> None:
    for order in ORDERS:
        fast_trace: dict = {}
        slow_trace: dict = {}
        fast = _alone(base, fast_trace)
        slow = _combined(base, {}, order, None, None, slow_trace)
        assert fast == slow, base.id
        assert dict(fast.provenance) == dict(slow.provenance), base.id
        assert fast.content_hash() == slow.content_hash() and fast.body() == slow.body(), base.id
        assert fast_trace == slow_trace, base.id
        assert (fast is base) == (slow is base), base.id
        # Without a trace to fill, the same record.
        assert combine(base, {}, order) == slow


@pytest.mark.parametrize("fmt", SERVED)
def test_every_model_each_format_normalizes_combines_alone_as_the_general_walk_does(sim, fmt):
    models = make_client(fmt, simulated(sim, fmt)).fetch_models()
    assert models, f"the simulator serves no {fmt} models"
    for m in models:
        assert_same(m)


def draft(model_id: str, source: str = "acme") -> ModelDraft:
    return ModelDraft("acme", model_id, source)


def test_guessed_missing_and_unsourced_fields_combine_alone_as_the_general_walk_does():
    cases = []
    d = draft("gpt-4o-mini")  # nothing but the id: kind and family guessed
    cases.append(d.build())
    d = draft("claude-3-opus")
    d.guess("kind", "chat")  # a mapper's own guess stays the heuristic's
    d.set("name", "Claude 3 Opus")
    d.set("limits.context_window", 200000)
    cases.append(d.build())
    d = draft("text-embedding-3-large")
    d.set("kind", "embedding")
    d.set("family", "text-embedding")
    d.set("capabilities.streaming", False)
    cases.append(d.build())
    # Fields with no provenance entry: their origin is the record's source, or "live" without one.
    cases.append(Model(provider="acme", provider_model_id="m-1", name="M 1", kind="chat", source="acme"))
    cases.append(Model(provider="acme", provider_model_id="m-2", name="M 2", source=None))
    cases.append(Model(provider="acme", provider_model_id="zzz-unguessable", source="acme",
                       provenance={"name": HEURISTIC}))
    # A provenance entry for a field without a value.
    cases.append(Model(provider="acme", provider_model_id="m-3", kind="chat", source="acme",
                       provenance={"kind": "acme", "family": HEURISTIC}))
    for base in cases:
        assert_same(base)
    assert _alone(cases[0], {}) is not cases[0], "the guesses enrich a record that lacks kind and family"
    assert _alone(cases[2], {}) is cases[2], "a record with every field it states and nothing to guess is kept"


def test_a_source_named_heuristic_takes_the_general_walk():
    base = Model(provider="acme", provider_model_id="m-4", name="M 4", source=HEURISTIC)
    order = ORDERS[0]
    assert combine(base, {}, order, trace=(t1 := {})) == _combined(base, {}, order, None, None, (t2 := {}))
    assert t1 == t2
