import random

from discovery.diff import (
    CAPABILITIES_CHANGED,
    DEPRECATED,
    UPDATED,
    capability_events,
    compute_changes,
    diff_contents,
    diff_models,
    event_specs,
    flatten,
)
from discovery.model import Capabilities, Lifecycle, Limits, Model


def model(mid="gpt-4o", **kw):
    return Model(provider="openai", provider_model_id=mid, **kw)


def test_equal_content_has_no_diff_even_when_raw_differs():
    a = model(limits=Limits(context_window=1000), raw={"created": 1})
    b = model(limits=Limits(context_window=1000), raw={"created": 2})
    assert diff_models(a, b) == {}
    assert a.content_hash() == b.content_hash()


def test_diff_names_the_changed_field_old_and_new():
    a = model(limits=Limits(context_window=128000))
    b = model(limits=Limits(context_window=256000))
    assert diff_models(a, b) == {"limits.context_window": [128000, 256000]}


def test_compute_changes_finds_added_removed_and_updated():
    old = {m.id: m for m in [model("a"), model("b", name="B")]}
    new = {m.id: m for m in [model("b", name="B2"), model("c")]}
    changes = {c.model_id: c.change for c in compute_changes(old, new)}
    assert changes == {"openai/a": "removed", "openai/b": "updated", "openai/c": "added"}


def test_capability_gain_and_deprecation_announce_their_own_events():
    a = model(capabilities=Capabilities(vision=False), lifecycle=Lifecycle(status="active"))
    b = model(capabilities=Capabilities(vision=True, tool_calling=True),
              lifecycle=Lifecycle(status="deprecated", deprecation_date="2026-12-01"))
    (change,) = compute_changes({a.id: a}, {b.id: b})
    kinds = {k: d for k, d in event_specs(change)}
    assert set(kinds) == {UPDATED, CAPABILITIES_CHANGED, DEPRECATED}
    assert kinds[CAPABILITIES_CHANGED]["gained"] == ["tool_calling", "vision"]
    assert kinds[DEPRECATED]["deprecation_date"] == "2026-12-01"


def test_a_deprecated_model_retiring_is_announced_and_legacy_to_deprecated_is_not():
    """A deprecated model moving on to retired (Groq's active: false) said nothing but updated."""
    def move(before, after):
        a, b = model(lifecycle=Lifecycle(status=before)), model(lifecycle=Lifecycle(status=after))
        (change,) = compute_changes({a.id: a}, {b.id: b})
        return {k: d for k, d in event_specs(change)}.get(DEPRECATED)

    assert move("deprecated", "retired") == {"status": "retired", "previous_status": "deprecated",
                                             "deprecation_date": None, "capabilities": []}
    assert move("legacy", "retired")["status"] == "retired"
    assert move("legacy", "deprecated") is None and move("retired", "deprecated") is None


def test_capability_events_fire_only_on_first_and_last_model():
    assert capability_events({"vision": 0}, {"vision": 2}) == [("capability_added", {"capability": "vision", "models": 2})]
    assert capability_events({"vision": 2}, {"vision": 1}) == []
    assert capability_events({"vision": 1}, {"vision": 0}) == [("capability_removed", {"capability": "vision"})]


def _flat_diff(old, new):
    """The diff by its definition: both records flattened whole, compared path by path."""
    a, b = flatten(old), flatten(new)
    a.pop("source", None)
    b.pop("source", None)
    return {k: [a.get(k), b.get(k)] for k in sorted(a.keys() | b.keys()) if a.get(k) != b.get(k)}


def test_diff_skipping_equal_subtrees_matches_flattening_both_records():
    # diff_contents compares subtrees before flattening them; whatever the shapes (a field gone,
    # None against missing, an empty object against a full one, 1 against 1.0, "source" nested),
    # it must give what flattening both whole records gives, in the same order.
    rng = random.Random(20261201)
    leaves = [None, 0, 1, 1.0, True, False, "x", "y", [], [1], [1.0], {}, ""]

    def value(depth):
        if depth < 3 and rng.random() < 0.3:
            return {rng.choice("abcde"): value(depth + 1) for _ in range(rng.randint(0, 3))}
        return rng.choice(leaves)

    def changed(v, depth=0):
        if isinstance(v, dict):
            v = dict(v)
            for k in list(v):
                if rng.random() < 0.3:
                    v[k] = changed(v[k], depth + 1)
                elif rng.random() < 0.1:
                    del v[k]
            if rng.random() < 0.2:
                v[rng.choice(["f", "source", "a"])] = value(depth)
            return v
        return value(depth) if rng.random() < 0.5 else v

    differing = 0
    for _ in range(20_000):
        old = {k: value(0) for k in rng.sample(["source", "a", "b", "c", "d", "e"], rng.randint(0, 6))}
        new = changed(old)
        expected = _flat_diff(old, new)
        got = diff_contents(old, new)
        assert got == expected and list(got) == list(expected), (old, new)
        differing += bool(expected)
    assert differing > 5_000  # the cases exercised many real differences, not only equal records


def test_diff_of_a_nested_change_names_only_the_leaves_that_changed():
    old = {"source": "a", "limits": {"context_window": 1, "max_output_tokens": 2}, "pricing": {"input": 1.0}}
    new = {"source": "b", "limits": {"context_window": 1, "max_output_tokens": 3}, "pricing": {}}
    assert diff_contents(old, new) == {"limits.max_output_tokens": [2, 3], "pricing": [None, {}],
                                       "pricing.input": [1.0, None]}
