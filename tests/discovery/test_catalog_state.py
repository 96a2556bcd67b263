"""The catalog's write path with a real SQLite file and no threads."""
import time

import pytest

from discovery import refresh_runs, store, stored_models
from discovery.catalog import CatalogState
from discovery.history import events_before
from discovery.messages import EventFilter, ProviderSnapshot
from discovery.model import Limits, Model, loads
from discovery.providers.errors import SuspiciousSnapshot


@pytest.fixture
def state(db_url):
    store.open_database(db_url)
    store.ensure_provider("openai", "openai", False)
    store.ensure_provider("modelsdev", "modelsdev", True)
    # Removal mechanics: a model left out is removed at once (the grace has its own tests).
    s = CatalogState({"openai": False, "modelsdev": True}, missing_grace_refreshes=0)
    yield s
    store.close_database()


def snap(state, source, models, **kw):
    run_id = refresh_runs.begin_run(source, "test")
    return state.apply(ProviderSnapshot(source, run_id, tuple(models), **kw))


def m(mid, provider="openai", source="openai", live=True, **kw):
    return Model(provider, mid, source=source, live=live, **kw)


def test_first_snapshot_adds_every_model_in_one_run(state):
    outcome, events, changed = snap(state, "openai", [m("a"), m("b")])
    assert (outcome.added, outcome.updated, outcome.removed) == (2, 0, 0)
    assert [e.kind for e in events].count("added") == 2
    assert events[-1].kind == "models_refreshed"
    assert refresh_runs.get_run(outcome.run_id)["outcome"] == "succeeded"
    assert set(stored_models.load_current_models()) == {"openai/a", "openai/b"}


def test_added_events_carry_the_record_and_entries_keep_it_packed_after_the_write(state):
    from discovery.model import loads

    outcome, events, _ = snap(state, "openai", [m("a", name="Alpha", limits=Limits(context_window=8))])
    stored = {e.model_id: e for e in store.events_after(0, limit=100) if e.kind == "added"}
    entry = state.index().entry("openai/a")
    record = stored["openai/a"].data["model"]
    assert record["name"] == "Alpha" and record["limits"]["context_window"] == 8
    assert record == {**loads(entry.body), "provenance": dict(entry.provenance)}
    # The entry held its list form unpacked only for the write that made it.
    assert all(e._plain is None for e in state.index().entries())
    assert loads(entry.body)["id"] == "openai/a"


def test_update_and_removal_are_versioned_with_diffs(state):
    snap(state, "openai", [m("a", limits=Limits(context_window=1)), m("b"), m("c")])
    outcome, events, _ = snap(state, "openai", [m("a", limits=Limits(context_window=2)), m("b")])
    assert (outcome.updated, outcome.removed) == (1, 1)
    hist = stored_models.model_history("openai/a")
    assert [v["change"] for v in hist] == ["added", "updated"]
    assert hist[-1]["diff"] == {"limits.context_window": [1, 2]}
    assert [v["change"] for v in stored_models.model_history("openai/c")] == ["added", "removed"]


def test_empty_answer_is_refused_and_nothing_is_written(state):
    snap(state, "openai", [m("a"), m("b")])
    before = store.last_event_id()
    with pytest.raises(SuspiciousSnapshot, match="no models"):
        snap(state, "openai", [])
    assert store.last_event_id() == before
    assert set(state.current) == {"openai/a", "openai/b"}


def test_losing_more_than_half_is_refused_unless_allowed(state):
    snap(state, "openai", [m(str(i)) for i in range(10)])
    with pytest.raises(SuspiciousSnapshot, match="losing 6 of 10"):
        snap(state, "openai", [m(str(i)) for i in range(4)])
    outcome, _, _ = snap(state, "openai", [m(str(i)) for i in range(4)], max_removal_ratio=0.7)
    assert outcome.removed == 6


def test_live_model_wins_over_catalog_entry_and_catalog_only_is_not_live(state):
    snap(state, "modelsdev", [m("a", source="modelsdev", live=False, name="from catalog"),
                              m("z", source="modelsdev", live=False)])
    snap(state, "openai", [m("a", name="live")])
    assert state.current["openai/a"].live is True
    assert state.current["openai/z"].live is False


def test_state_reloads_from_the_store_after_a_restart(state, db_url):
    snap(state, "openai", [m("a"), m("b")])
    snap(state, "modelsdev", [m("x", source="modelsdev", live=False)])
    fresh = CatalogState({"openai": False, "modelsdev": True})
    fresh.load()
    assert fresh.current.keys() == state.current.keys()
    assert {k: set(v) for k, v in fresh.sources.items()} == {k: set(v) for k, v in state.sources.items()}
    # An identical answer after the restart changes nothing.
    outcome, events, changed = snap(fresh, "openai", [m("a"), m("b")])
    assert changed == set() and [e.kind for e in events] == ["models_refreshed"]


def test_a_loaded_catalog_is_served_unpacked_within_its_budget_then_packed(state):
    from discovery.entry import pack

    snap(state, "openai", [m(name) for name in "abcde"])
    bodies = {e.id: e.body for e in state.index().entries()}
    store.ModelRow.update(packed=None).execute()  # rows as an older release wrote them: no packed form
    fresh = CatalogState({"openai": False, "modelsdev": True})
    # A budget of three bodies and a byte: the first four rows are kept unpacked, the last is packed.
    fresh.load_index(pack_later=sum(sorted(map(len, bodies.values()))[:3]) + 1)
    entries = fresh.index().entries()
    assert {e.id: e.body for e in entries} == bodies
    assert sorted(e.plain for e in entries) == [False, True, True, True, True]
    assert [e.packed is None for e in entries] == [e.plain for e in entries]
    assert fresh.pack_loaded() == 4 and fresh.pack_loaded() == 0
    assert not any(e.plain for e in entries) and all(e.packed == pack(bodies[e.id]) for e in entries)
    assert {e.id: e.body for e in fresh.index().entries()} == bodies
    # Loaded without a budget, every entry is packed as it loads.
    fresh.load_index()
    assert not any(e.plain for e in fresh.index().entries()) and fresh.pack_loaded() == 0


def test_a_restart_under_other_merge_settings_brings_the_stored_catalog_up_to_date(state):
    snap(state, "modelsdev", [m("z", source="modelsdev", live=False)])
    snap(state, "openai", [m("a")])
    assert "openai/z" in state.current
    same = CatalogState({"openai": False, "modelsdev": True})
    same.load()
    assert same._dirty == set()  # merged under these settings: nothing to check or redo
    changed = CatalogState({"openai": False, "modelsdev": True}, include_catalog_only=False)
    changed.load()
    assert "openai/z" in changed.current  # served as stored until the next write
    _, events, _ = snap(changed, "openai", [m("a")])
    assert [(e.kind, e.model_id) for e in events if e.model_id] == [("removed", "openai/z")]
    assert "openai/z" not in changed.current
    again = CatalogState({"openai": False, "modelsdev": True}, include_catalog_only=False)
    again.load()
    assert again._dirty == set() and set(again.current) == {"openai/a"}


def test_a_record_breaking_a_limit_is_left_out_counted_and_its_last_good_version_stays(state):
    snap(state, "openai", [m("a", name="A"), m("b")])
    outcome, events, _ = snap(state, "openai", [m("a", name="A" * 600), m("b"), m("b", name="second b"),
                                                m("c\x00"), m("d")])
    assert (outcome.added, outcome.updated, outcome.removed, outcome.rejected) == (1, 0, 0, 3)
    assert [r.split(": ", 1)[1] for r in outcome.rejections] == [
        "name is 600 characters long (at most 512)", "id contains the control or invisible character U+0000",
        "duplicate id (the first is kept)"]
    current = stored_models.load_current_models()
    assert set(current) == {"openai/a", "openai/b", "openai/d"} and current["openai/a"].name == "A"
    assert events[-1].data["rejected"] == 3
    run = refresh_runs.get_run(outcome.run_id)
    assert run["rejected"] == 3 and run["rejections"] == list(outcome.rejections)


def test_a_source_sending_the_same_bad_records_is_warned_about_once_until_they_change(state):
    from loguru import logger

    lines: list[str] = []
    sink = logger.add(lambda message: lines.append(message), level="WARNING", format="{message}")
    try:
        bad = m("a", name="A" * 600)
        snap(state, "openai", [bad, m("b")])
        outcome, _, _ = snap(state, "openai", [bad, m("b", name="B")])  # another change, the same bad record
        assert outcome.rejected == 1 and outcome.updated == 1, "each run still counts its rejections"
        assert len([line for line in lines if "records rejected" in line]) == 1
        snap(state, "openai", [m("a", name="B" * 700), m("b", name="B")])  # another problem: warned again
        snap(state, "openai", [m("a"), m("b", name="B")])  # fixed
        snap(state, "openai", [bad, m("b", name="B")])  # broken again after a clean answer
    finally:
        logger.remove(sink)
    assert len([line for line in lines if "records rejected" in line]) == 3


def test_hashes_written_by_older_rules_are_corrected_without_new_versions(state):
    snap(state, "openai", [m("a", limits=Limits(context_window=8)), m("b")])
    # As an older release would have left it: other content hashes and another merge fingerprint.
    store.ModelRow.update(content_hash="0" * 32).execute()
    store.set_meta("merge_fingerprint", "older")
    restarted = CatalogState({"openai": False, "modelsdev": True})
    restarted.load()
    assert restarted._dirty == {"openai/a", "openai/b"}
    before = store.last_event_id()
    outcome, events, _ = snap(restarted, "openai", [m("a", limits=Limits(context_window=8)), m("b")])
    assert (outcome.added, outcome.updated, outcome.removed) == (0, 0, 0)
    assert [e.kind for e in events] == ["models_refreshed"]
    assert [v["change"] for v in stored_models.model_history("openai/a")] == ["added"]
    hashes = {row.id: row.content_hash for row in store.ModelRow.select()}
    assert hashes == {mid: model.content_hash() for mid, model in restarted.current.items()}
    assert store.last_event_id() == before + 1


def test_a_restart_takes_the_packed_forms_stored_with_the_rows_and_checks_each(state, monkeypatch):
    import discovery.entry as entry_module

    snap(state, "openai", [m(name, name=f"Model {name}") for name in "abcd"])
    snap(state, "modelsdev", [m("x", source="modelsdev", live=False, name="X")])
    bodies = {e.id: e.body for e in state.index().entries()}
    records = {(name, mid): r.body() for name, src in state.sources.items() for mid, r in src.items()}
    # The same packing as the writer's: one row's list form rewritten by hand (its packed form now
    # describes the old text), one source row's packed form made against another dictionary.
    store.ModelRow.update(body=bodies["openai/b"].replace(b'"Model b"', b'"Renamed b"')).where(
        store.ModelRow.id == "openai/b").execute()
    bodies["openai/b"] = bodies["openai/b"].replace(b'"Model b"', b'"Renamed b"')
    row = store.SourceModelRow.get((store.SourceModelRow.source == "openai") & (store.SourceModelRow.model_id == "openai/c"))
    store.SourceModelRow.update(packed=b"\0\0\0\0" + bytes(row.packed)[4:]).where(
        (store.SourceModelRow.source == "openai") & (store.SourceModelRow.model_id == "openai/c")).execute()
    packed_now = []
    real_pack = entry_module.pack
    monkeypatch.setattr(entry_module, "pack", lambda body: packed_now.append(body) or real_pack(body))
    fresh = CatalogState({"openai": False, "modelsdev": True})
    fresh.load()
    # Packed again: only the two rows whose check failed; every other form is taken as stored.
    assert sorted(loads(b)["id"] for b in packed_now) == ["openai/b", "openai/c"]
    entries = fresh.index().entries()
    assert not any(e.plain for e in entries) and {e.id: e.body for e in entries} == bodies
    assert fresh.index().entry("openai/b").data()["name"] == "Renamed b"
    assert {(name, mid): r.body() for name, src in fresh.sources.items() for mid, r in src.items()} == records
    # An identical answer changes nothing; an update stores a packed form the next load takes.
    assert snap(fresh, "openai", [m(name, name=f"Model {name}") for name in "abcd"])[2] == set()
    snap(fresh, "openai", [m(name, name=f"Model {name}" if name != "d" else "D") for name in "abcd"])
    packed_now.clear()
    again = CatalogState({"openai": False, "modelsdev": True})
    again.load()
    assert sorted(loads(b)["id"] for b in packed_now) == ["openai/b", "openai/c"]  # untouched since
    assert again.index().entry("openai/d").data()["name"] == "D"
    assert {e.id: e.body for e in again.index().entries()} == {e.id: e.body for e in fresh.index().entries()}


@pytest.mark.parametrize("ids", [["new-" + str(i) for i in range(10)], ["new-" + str(i) for i in range(30)],
                                 ["bad\x00" + str(i) for i in range(10)]],
                         ids=["as_many_new_ids", "more_new_ids", "as_many_rejected_ids"])
def test_an_answer_as_long_as_the_last_that_loses_its_models_is_refused(state, ids):
    """The check compared counts first, so an answer of as many models or more was never checked:
    one whose ids were all new (or all rejected, for a NUL in the id) removed the whole source."""
    snap(state, "openai", [m(str(i)) for i in range(10)])
    before = store.last_event_id()
    with pytest.raises(SuspiciousSnapshot, match=f"answered with {len(ids)} models, losing 10 of 10"):
        snap(state, "openai", [m(i) for i in ids])
    assert store.last_event_id() == before
    assert set(state.current) == {f"openai/{i}" for i in range(10)}


@pytest.mark.parametrize("before,after", [(["llama3"], ["qwen3"]), (["a", "b"], ["c", "d"]), (["a", "b", "c"], ["a", "x"])],
                         ids=["one_swapped", "two_swapped", "two_of_three_lost"])
def test_a_small_source_may_swap_its_few_models(state, before, after):
    """The loss check refused any answer of a one-model source that named another model (an Ollama
    whose one model was replaced): a loss of one or two models is taken, with its events."""
    snap(state, "openai", [m(i) for i in before])
    outcome, _, _ = snap(state, "openai", [m(i) for i in after])
    assert outcome.outcome == "succeeded" and outcome.removed == len(set(before) - set(after))
    assert set(state.current) == {f"openai/{i}" for i in after}


def test_a_small_source_losing_three_models_is_still_checked(state):
    snap(state, "openai", [m(i) for i in "abc"])
    with pytest.raises(SuspiciousSnapshot, match="losing 3 of 3"):
        snap(state, "openai", [m(i) for i in "xyz"])
    assert set(state.current) == {"openai/a", "openai/b", "openai/c"}

def test_a_record_echoing_a_secret_nested_too_deeply_to_mask_is_rejected_and_the_rest_kept(state, monkeypatch):
    """Masking recurses through the record: one nested past Python's recursion limit raised
    RecursionError, and the whole refresh failed."""
    from discovery import catalog
    from discovery.model import RawAnswer
    from discovery.redaction import Redactor

    key = "deep-echo-key-5d1e9b7c3a"
    redactor = Redactor()
    redactor.add(key)
    monkeypatch.setattr(catalog, "REDACTOR", redactor)

    def deep(model_id: str) -> Model:
        raw = b'{"id":"%s","note":%s"%s"%s}' % (model_id.encode(), b"[" * 5000, key.encode(), b"]" * 5000)
        return m(model_id, raw=RawAnswer(raw))

    outcome, _, _ = snap(state, "openai", [m("fine"), deep("deep"), deep(f"id-{key}")])
    assert outcome.outcome == "succeeded" and outcome.added == 1 and outcome.rejected == 2
    assert outcome.rejections == ("openai/deep: it holds a configured secret nested too deeply to mask",
                                  "openai/id-[REDACTED]: it holds a configured secret nested too deeply to mask")
    assert set(stored_models.load_current_models()) == {"openai/fine"}


def test_retiring_a_live_source_removes_its_models_and_delists_those_a_catalog_describes(state):
    snap(state, "modelsdev", [m("a", source="modelsdev", live=False, name="from catalog")])
    snap(state, "openai", [m("a", name="live"), m("b"), m("c")])
    before = store.last_event_id()
    run_id = refresh_runs.begin_run("openai", "unconfigured")
    outcomes, events, changed = state.retire({"openai": (run_id, "source openai is no longer configured")})
    assert [(o.provider, o.outcome, o.removed, o.updated, o.total) for o in outcomes] == [
        ("openai", "succeeded", 2, 1, 0)]
    assert changed == {"openai/a", "openai/b", "openai/c"}
    # The catalog's entry stays, no longer live; the others are gone; the source is forgotten.
    assert set(state.current) == {"openai/a"} and state.current["openai/a"].live is False
    assert "openai" not in state.sources and "openai" not in state.stored_sources()
    why = "source openai is no longer configured"
    assert [(v["change"], v["reason"]) for v in stored_models.model_history("openai/b")] == [("added", None), ("removed", why)]
    assert stored_models.model_history("openai/a")[-1]["diff"]["live"] == [True, False]
    assert stored_models.model_history("openai/a")[-1]["reason"] == why
    kinds = {(e.kind, e.model_id): e for e in store.events_after(before, 100)}
    assert {k for k in kinds if k[1]} == {("removed", "openai/b"), ("removed", "openai/c"),
                                          ("updated", "openai/a"), ("delisted", "openai/a")}
    assert all(e.data["reason"] == why and e.run_id == run_id for e in kinds.values() if e.kind != "reconciliation_changed")
    assert refresh_runs.get_run(run_id)["removed"] == 2 and stored_models.load_source_models().keys() == {"modelsdev"}


def test_retiring_a_catalog_source_takes_its_fields_from_the_live_models(state):
    snap(state, "modelsdev", [m("a", source="modelsdev", live=False, name="from catalog"),
                              m("z", source="modelsdev", live=False)])
    snap(state, "openai", [m("a")])
    assert state.current["openai/a"].name == "from catalog"
    run_id = refresh_runs.begin_run("modelsdev", "unconfigured")
    (outcome,), _, _ = state.retire({"modelsdev": (run_id, "source modelsdev is no longer configured")})
    assert (outcome.removed, outcome.updated) == (1, 1)
    assert set(state.current) == {"openai/a"} and state.current["openai/a"].name != "from catalog"
    # A source retired, or never stored, is not there to retire again.
    assert state.retire({"modelsdev": (run_id, "again"), "nowhere": (run_id, "never")}) == ([], [], set())


def reopen_without(table: str, column: str, url: str) -> None:
    """Drop ``column`` (a store written before it), then open the store again, as a new process
    would: the open checks the schema and migrates it."""
    store.db.execute_sql(f'ALTER TABLE "{table}" DROP COLUMN "{column}"')
    store.db.obj.discovery_schema_ready = False
    store.close_database()
    store.open_database(url)
    assert column in {c.name for c in store.db.get_columns(table)}


def test_an_older_store_gains_the_reason_of_versions_and_its_versions_read_without_one(state, db_url):
    snap(state, "openai", [m("a")])
    reopen_without("model_versions", "reason", db_url)
    assert [(v["change"], v["reason"]) for v in stored_models.model_history("openai/a")] == [("added", None)]


def test_an_older_store_gains_the_catalog_name_of_providers(state, db_url):
    snap(state, "openai", [m("a")])
    reopen_without("providers", "catalog_name", db_url)
    assert store.provider_rows()["openai"]["catalog_name"] is None
    store.ensure_providers([("openai", "openai", False)], {"openai": "openai-eu"})
    assert store.provider_rows()["openai"]["catalog_name"] == "openai-eu"
    store.ensure_providers([("openai", "openai", False)])  # no names given: the stored one stays
    assert store.provider_rows()["openai"]["catalog_name"] == "openai-eu"


def test_an_older_store_gains_the_asked_wait_of_providers(state, db_url):
    snap(state, "openai", [m("a")])
    reopen_without("providers", "asked_until", db_url)
    reopen_without("providers", "asked_by", db_url)
    assert (store.provider_rows()["openai"]["asked_until"], store.provider_rows()["openai"]["asked_by"]) == (None, None)
    store.set_provider_asked("openai", 1_900_000_000.25, "openai answered HTTP 429")
    assert store.provider_rows()["openai"]["asked_until"] == 1_900_000_000.25  # a double, to the quarter second
    assert store.provider_rows()["openai"]["asked_by"] == "openai answered HTTP 429"


def test_a_region_status_makes_its_provider_row_once_and_then_updates_it(state):
    """A Bedrock region has no provider row until its first status is stored (an upsert); a
    provider's status only updates its row."""
    store.set_provider_status("bedrock@eu-west-1", "healthy", None, "bedrock")
    assert {k: store.provider_rows()["bedrock@eu-west-1"][k] for k in ("format", "status", "is_catalog")} == {
        "format": "bedrock", "status": "healthy", "is_catalog": False}
    store.set_provider_status("bedrock@eu-west-1", "unhealthy", "http: 500", "bedrock")
    row = store.provider_rows()["bedrock@eu-west-1"]
    assert (row["status"], row["status_reason"]) == ("unhealthy", "http: 500")
    store.set_provider_status("openai", "degraded", "timeout")
    assert store.provider_rows()["openai"]["status"] == "degraded"
    store.set_provider_status("never-configured", "healthy", None)  # no format: no row is made
    assert "never-configured" not in store.provider_rows()


def test_a_bedrock_filter_takes_the_regions_own_events_and_a_region_filter_only_its_own(state):
    """``provider=bedrock`` on the feed reads Bedrock's model events and its regions' runs and
    health (``bedrock@<region>``); a region's name reads that region's alone; a name that only
    starts like Bedrock's is another provider."""
    with store.db.atomic():
        store.insert_events([("added", "bedrock", "bedrock/amazon.nova-lite-v1:0", None, {}),
                             ("status_changed", "bedrock@eu-west-1", None, None, {"old": "unknown", "new": "healthy"}),
                             ("models_refreshed", "bedrock@us-east-1", None, 1, {}),
                             ("added", "openai", "openai/gpt-4o", None, {}),
                             ("added", "bedrockish", "bedrockish/x", None, {}),
                             ("status_changed", None, None, None, {})], time.time())
    bedrock = ["bedrock", "bedrock@eu-west-1", "bedrock@us-east-1"]
    assert [e.provider for e in store.events_after(0, 100, (), ["bedrock"])] == bedrock
    assert [e.provider for e in events_before(None, 100, (), ["bedrock"])] == bedrock[::-1]
    assert [e.provider for e in store.events_after(0, 100, ["status_changed"], ["bedrock", "openai"])] == [
        "bedrock@eu-west-1"]
    assert [e.provider for e in store.events_after(0, 100, (), ["bedrock@eu-west-1"])] == ["bedrock@eu-west-1"]
    assert [e.provider for e in store.events_after(0, 100, (), ["openai"])] == ["openai"]
    # The in-process filter (subscribers, the stream, webhooks) reads the same.
    flt = EventFilter.build(providers=["bedrock"])
    assert [e.provider for e in store.events_after(0, 100) if flt.matches(e)] == bedrock
    region = EventFilter.build(providers=["bedrock@us-east-1"])
    assert [e.provider for e in store.events_after(0, 100) if region.matches(e)] == ["bedrock@us-east-1"]


def test_the_catalogs_own_name_is_made_once_and_kept_in_the_store(state):
    first = store.catalog_id()
    assert len(first) == 32 and store.catalog_id() == first and store.get_meta("catalog_id") == first


@pytest.fixture
def two_of_one_name(db_url):
    """openai and openai-eu, both matched against the catalogs' openai entries, and models.dev."""
    store.open_database(db_url)
    for name, catalog in (("openai", False), ("openai-eu", False), ("modelsdev", True)):
        store.ensure_provider(name, "modelsdev" if catalog else "openai", catalog)
    yield CatalogState({"openai": False, "openai-eu": False, "modelsdev": True}, missing_grace_refreshes=0,
                       catalog_provider={"openai": "openai", "openai-eu": "openai"})
    store.close_database()


def test_a_model_its_provider_stops_listing_is_delisted_though_another_of_its_format_still_lists_it(two_of_one_name):
    """openai and openai-eu (both matched against the catalogs' openai entries) list gpt-4o: when
    openai stops, openai/gpt-4o was removed, the catalog's entry counted as openai-eu's."""
    state = two_of_one_name
    snap(state, "modelsdev", [m("gpt-4o", source="modelsdev", live=False, name="GPT-4o"),
                              m("gpt-old", source="modelsdev", live=False)])
    snap(state, "openai", [m("gpt-4o"), m("a"), m("b")])
    snap(state, "openai-eu", [m("gpt-4o", provider="openai-eu", source="openai-eu"),
                              m("a", provider="openai-eu", source="openai-eu")])
    assert state.current["openai/gpt-4o"].live is True
    assert "openai-eu/gpt-4o" in state.current
    # A catalog entry nobody of its name lists is the catalog's: stale for openai alone.
    assert state.findings().counts()["openai"]["stale"] == 1, state.findings().stale
    before = store.last_event_id()
    outcome, events, _ = snap(state, "openai", [m("a"), m("b")])
    kinds = {(e.kind, e.model_id) for e in events if e.model_id}
    assert ("delisted", "openai/gpt-4o") in kinds and ("removed", "openai/gpt-4o") not in kinds, kinds
    assert state.current["openai/gpt-4o"].live is False and state.current["openai/gpt-4o"].name == "GPT-4o"
    assert state.current["openai-eu/gpt-4o"].live is True
    assert store.last_event_id() > before
    assert state.findings().counts()["openai"]["stale"] == 2, state.findings().stale
    assert "openai-eu" not in state.findings().counts() or not state.findings().counts()["openai-eu"]["stale"]
    # Listed again by openai, it is live again.
    _, events, _ = snap(state, "openai", [m("gpt-4o"), m("a"), m("b")])
    assert ("listed", "openai/gpt-4o") in {(e.kind, e.model_id) for e in events}


def test_a_catalog_entry_a_retired_source_stood_for_is_added_with_the_reason(state):
    """Taking a provider out also adds the catalog entries its models stood for (an alias here):
    their added events came without the reason the others carry."""
    snap(state, "modelsdev", [m("x-latest", source="modelsdev", live=False)])
    snap(state, "openai", [m("x-2025", attributes={"aliases": ["x-latest"]}), m("b"), m("c")])
    assert "openai/x-latest" not in state.current
    before = store.last_event_id()
    run_id = refresh_runs.begin_run("openai", "unconfigured")
    why = "source openai is no longer configured"
    state.retire({"openai": (run_id, why)})
    assert state.current["openai/x-latest"].live is False
    added = [e for e in store.events_after(before, 100) if e.kind == "added"]
    assert [e.model_id for e in added] == ["openai/x-latest"] and added[0].data["reason"] == why, added


def test_a_provider_of_the_catalogs_name_that_lists_nothing_leaves_its_entries_to_the_others(two_of_one_name):
    """openai configured but never answering: openai-eu's gpt-4o stands for models.dev's
    openai/gpt-4o, as before (no catalog-only duplicate, nothing stale); once openai lists it,
    the entry is openai's, and it is openai's model that it follows."""
    state = two_of_one_name
    snap(state, "modelsdev", [m("gpt-4o", source="modelsdev", live=False)])
    snap(state, "openai-eu", [m("gpt-4o", provider="openai-eu", source="openai-eu"),
                              m("a", provider="openai-eu", source="openai-eu")])
    assert set(state.current) == {"openai-eu/gpt-4o", "openai-eu/a"}
    assert not any(row.get("stale") for row in state.findings().counts().values())
    # openai's first answer, without gpt-4o: the entry is its own, stale for it, served as the catalog's.
    snap(state, "openai", [m("b"), m("c")])
    assert state.current["openai/gpt-4o"].live is False
    assert state.findings().counts()["openai"]["stale"] == 1


def test_two_sources_retired_together_give_no_revealed_entry_the_other_ones_reason(db_url):
    """Retiring openai and groq in one commit gave an entry openai's model stood for groq's reason."""
    store.open_database(db_url)
    try:
        for name, catalog in (("openai", False), ("groq", False), ("modelsdev", True)):
            store.ensure_provider(name, "modelsdev" if catalog else name, catalog)
        state = CatalogState({"openai": False, "groq": False, "modelsdev": True}, missing_grace_refreshes=0)
        snap(state, "modelsdev", [m("x-latest", source="modelsdev", live=False)])
        snap(state, "openai", [m("x-2025", attributes={"aliases": ["x-latest"]}), m("b"), m("c")])
        snap(state, "groq", [m("g1", provider="groq", source="groq"), m("g2", provider="groq", source="groq")])
        before = store.last_event_id()
        runs = {name: refresh_runs.begin_run(name, "unconfigured") for name in ("openai", "groq")}
        state.retire({name: (run, f"source {name} is no longer configured") for name, run in runs.items()})
        added = [e for e in store.events_after(before, 100) if e.kind == "added"]
        assert [e.model_id for e in added] == ["openai/x-latest"]
        assert added[0].data.get("reason") in (None, "source openai is no longer configured"), added[0].data
        removed = {e.model_id: e.data["reason"] for e in store.events_after(before, 100) if e.kind == "removed"}
        assert removed["groq/g1"] == "source groq is no longer configured"
        assert removed["openai/b"] == "source openai is no longer configured"
    finally:
        store.close_database()
