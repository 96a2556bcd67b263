from discovery.diff import (
    CAPABILITIES_CHANGED,
    DEPRECATED,
    UPDATED,
    capability_events,
    compute_changes,
    diff_models,
    event_specs,
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


def test_capability_events_fire_only_on_first_and_last_model():
    assert capability_events({"vision": 0}, {"vision": 2}) == [("capability_added", {"capability": "vision", "models": 2})]
    assert capability_events({"vision": 2}, {"vision": 1}) == []
    assert capability_events({"vision": 1}, {"vision": 0}) == [("capability_removed", {"capability": "vision"})]
