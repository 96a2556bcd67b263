"""Reconciliation on the real models.dev history: a live provider list from a newer snapshot
against the catalog's older one, through the simulator and a running service."""
from __future__ import annotations

import copy

import pytest

from discovery import refresh_runs, store
from discovery.catalog import CatalogState
from discovery.messages import ProviderSnapshot
from discovery.model import Limits, Model, Pricing
from discovery.simulator import load_modelsdev_snapshot
from discovery.simulator.formats.groq import groq_row
from tests.conftest import SHARED_DATA, provider_config, wait_for
from web import create_app

SNAPSHOTS = sorted((SHARED_DATA / "modelsdev").glob("api-*.json.gz"))


def groq_ids(doc) -> set[str]:
    return {record.get("id", key) for key, record in doc["groq"]["models"].items()}


@pytest.mark.skipif(len(SNAPSHOTS) < 2, reason="the models.dev history is not in ../shared/data/modelsdev")
def test_stale_and_unknown_entries_are_exactly_the_difference_of_the_two_snapshots(
        start_service, simulator, monkeypatch):
    monkeypatch.setenv("GROQ_API_KEY", "simulated-key")
    older, newer = load_modelsdev_snapshot(SNAPSHOTS[0]), load_modelsdev_snapshot(SNAPSHOTS[-1])
    # Truth from the files alone: what the older catalog lists that the newer live list does not
    # (stale), and the reverse (unknown).
    stale = {f"groq/{i}" for i in groq_ids(older) - groq_ids(newer)}
    unknown = {f"groq/{i}" for i in groq_ids(newer) - groq_ids(older)}
    assert stale and unknown
    live_rows = [groq_row({"id": record.get("id", key), **record}) for key, record in newer["groq"]["models"].items()]
    # One shared model whose live context window is half the catalog's: a conflict above 5%.
    shared = sorted(groq_ids(older) & groq_ids(newer))[0]
    catalog_context = older["groq"]["models"][shared]["limit"]["context"]
    for row in live_rows:
        if row["id"] == shared:
            row["context_window"] = catalog_context // 2
    simulator.state.set_models("modelsdev", older)
    simulator.state.set_models("groq", live_rows)
    service = start_service([provider_config(simulator, "groq", "groq"),
                             provider_config(simulator, "modelsdev", "modelsdev", timeout=30.0)])
    wait_for(lambda: all(p.get("last_success_at") for p in service.providers()), timeout=60,
             what="both sources to answer")
    client = create_app(service).test_client()

    report = client.get("/api/v1/reconciliation?provider=groq&limit=10000").get_json()
    groq = report["providers"]["groq"]
    assert {item["entry"] for item in groq["stale"]} == stale
    assert {item["model_id"] for item in groq["unknown"]} == unknown
    assert all(item["catalogs"] == ["modelsdev"] for item in groq["stale"])
    assert groq["counts"]["stale"] == len(stale) and groq["counts"]["unknown"] == len(unknown)
    conflict = [c for c in groq["conflicts"] if c["model_id"] == f"groq/{shared}" and c["field"] == "limits.context_window"]
    assert conflict == [{"model_id": f"groq/{shared}", "field": "limits.context_window",
                         "value": catalog_context // 2, "source": "groq", "entry": shared,
                         "other": {"value": catalog_context, "source": "modelsdev", "entry": shared},
                         "difference": 0.5}], groq["conflicts"]
    # Asked at a wider tolerance, the half-size window is within it.
    wide = client.get("/api/v1/reconciliation?provider=groq&kind=conflicts&tolerance=0.6").get_json()
    assert not [c for c in wide["providers"].get("groq", {}).get("conflicts", [])
                if c["model_id"] == f"groq/{shared}" and c["field"] == "limits.context_window"]
    print(f"\nreconciliation groq: {len(stale)} stale, {len(unknown)} unknown, "
          f"{groq['counts']['conflicts']} conflicts (older {SNAPSHOTS[0].name}, newer {SNAPSHOTS[-1].name})")

    # A refresh that changes the findings announces it; the catalog moving to the newer snapshot
    # leaves nothing stale or unknown.
    events = []
    service.subscribe(events.extend, kinds=["reconciliation_changed"])
    simulator.state.set_models("modelsdev", newer)
    resp = client.post("/api/v1/providers/modelsdev/refresh?wait=true")
    assert resp.status_code == 200 and resp.get_json()["runs"][0]["outcome"] == "succeeded"
    (event,) = wait_for(lambda: events, what="reconciliation_changed")
    assert event.data["changes"]["groq"]["stale"] == -len(stale)
    assert event.data["changes"]["groq"]["unknown"] == -len(unknown)
    after = client.get("/api/v1/reconciliation?provider=groq&kind=stale&kind=unknown").get_json()
    assert after["counts"] == {"stale": 0, "unknown": 0}
    # An unchanged refresh changes no finding and announces nothing.
    client.post("/api/v1/providers/groq/refresh?wait=true")
    client.post("/api/v1/providers/modelsdev/refresh?wait=true")
    assert len(events) == 1


def test_bad_reconciliation_parameters_are_400s_naming_the_problem(start_service, simulator, monkeypatch):
    monkeypatch.setenv("GROQ_API_KEY", "simulated-key")
    service = start_service([provider_config(simulator, "groq", "groq")])
    client = create_app(service).test_client()
    for query, words in (("kind=bogus", "unknown kind bogus"), ("tolerance=abc", "tolerance must be a number"),
                         ("tolerance=nan", "tolerance must be a number"), ("tolerance=11", "between 0 and 10"),
                         ("provider=nope", "unknown provider nope"),
                         ("limit=-1", "limit must be between"), ("colour=red", "unknown parameter colour")):
        resp = client.get(f"/api/v1/reconciliation?{query}")
        assert resp.status_code == 400, query
        assert words in resp.get_json()["error"]["message"], (query, resp.get_json())


def live(mid, **kw):
    return Model("groq", mid, source="groq", live=True, **kw)


def entry(mid, source="modelsdev", **kw):
    return Model("groq", mid, source=source, live=False, **kw)


def test_findings_kept_change_by_change_equal_those_rebuilt_after_a_restart(db_url):
    store.open_database(db_url)
    for name, catalog in (("groq", False), ("modelsdev", True), ("litellm", True)):
        store.ensure_provider(name, name, catalog)
    sources = {"groq": False, "modelsdev": True, "litellm": True}
    state = CatalogState(sources, missing_grace_refreshes=0)
    state.load()

    def apply(source, models):
        state.apply(ProviderSnapshot(source, refresh_runs.begin_run(source, "test"), tuple(models)))

    def findings(s):
        f = s.findings()
        return dict(f.unknown), {k: set(v) for k, v in f.conflicts.items()}, dict(f.stale)

    apply("modelsdev", [entry("a", limits=Limits(context_window=100)), entry("b"), entry("old")])
    apply("litellm", [entry("a", source="litellm", pricing=Pricing(input=1.0)), entry("c", source="litellm")])
    apply("groq", [live("a", limits=Limits(context_window=80), pricing=Pricing(input=1.02)), live("b"), live("new")])
    unknown, conflicts, stale = findings(state)
    assert unknown == {"groq/new": "groq"}
    assert set(stale) == {"groq/old", "groq/c"}
    assert {c.field for c in conflicts["groq/a"]} == {"limits.context_window", "pricing.input"}
    counts = state.findings().counts()["groq"]
    assert counts["conflicts"] == 1  # the 2% price gap is inside the default 5% tolerance
    # Changes: the live list drops b and lists old; the catalog learns of new.
    apply("groq", [live("a", limits=Limits(context_window=100)), live("old"), live("new")])
    apply("modelsdev", [entry("a", limits=Limits(context_window=100)), entry("b"), entry("old"), entry("new")])
    kept = findings(state)
    assert kept[0] == {} and set(kept[2]) == {"groq/b", "groq/c"}
    restarted = CatalogState(sources, missing_grace_refreshes=0)
    restarted.load()
    assert findings(restarted) == kept
    store.close_database()


def test_a_failed_commit_leaves_the_findings_as_the_store_has_them(db_url):
    store.open_database(db_url)
    for name, catalog in (("groq", False), ("modelsdev", True)):
        store.ensure_provider(name, name, catalog)
    state = CatalogState({"groq": False, "modelsdev": True}, missing_grace_refreshes=0)
    state.load()
    state.apply(ProviderSnapshot("modelsdev", refresh_runs.begin_run("modelsdev", "t"), (entry("a"), entry("b"))))
    state.apply(ProviderSnapshot("groq", refresh_runs.begin_run("groq", "t"), (live("a"),)))
    before = copy.deepcopy(dict(state.findings().stale))
    assert set(before) == {"groq/b"}

    run_id = refresh_runs.begin_run("groq", "t")
    store.db.execute_sql("PRAGMA query_only = ON")  # every write from here on fails in SQLite itself
    with pytest.raises(Exception, match="readonly"):
        state.apply(ProviderSnapshot("groq", run_id, (live("a"), live("b"))))
    store.db.execute_sql("PRAGMA query_only = OFF")
    assert dict(state.findings().stale) == before
    store.close_database()


def test_totals_kept_by_each_write_equal_a_count_of_every_finding(db_url):
    """The writer's reconciliation event reads totals kept from the deltas (no count of every
    finding per commit); after every write they equal a full count, and a new tolerance recounts."""
    store.open_database(db_url)
    for name, catalog in (("groq", False), ("modelsdev", True), ("litellm", True)):
        store.ensure_provider(name, name, catalog)
    state = CatalogState({"groq": False, "modelsdev": True, "litellm": True}, missing_grace_refreshes=0)
    state.load()

    def counted():
        return {p: {k: v for k, v in row.items() if k != "missing"}
                for p, row in state.findings().counts().items() if any(row.values())}

    writes = [
        ("modelsdev", [entry("a", limits=Limits(context_window=100)), entry("b"), entry("old")]),
        ("litellm", [entry("a", source="litellm", pricing=Pricing(input=1.0)), entry("c", source="litellm")]),
        ("groq", [live("a", limits=Limits(context_window=80), pricing=Pricing(input=1.02)), live("b"), live("new")]),
        ("groq", [live("a", limits=Limits(context_window=100)), live("old"), live("new")]),
        ("modelsdev", [entry("a", limits=Limits(context_window=100)), entry("b"), entry("old"), entry("new")]),
        ("groq", [live("a", limits=Limits(context_window=100)), live("b"), live("old"), live("new")]),
    ]
    seen = []
    for source, models in writes:
        state.apply(ProviderSnapshot(source, refresh_runs.begin_run(source, "test"), tuple(models)))
        assert state.reconciler.totals() == counted()
        seen.append(counted())
    assert any(row.get("groq", {}).get("stale") for row in seen) and any(row.get("groq", {}).get("conflicts") for row in seen)
    state.apply(ProviderSnapshot("groq", refresh_runs.begin_run("groq", "test"),
                                 (live("a", limits=Limits(context_window=80), pricing=Pricing(input=1.02)),
                                  live("b"), live("old"), live("new"))))
    at_default = state.reconciler.totals()["groq"]["conflicts"]
    state.reconciler.tolerance = 0.01  # the 2% price gap is now a conflict too
    assert state.reconciler.totals()["groq"]["conflicts"] == at_default + 1 == counted()["groq"]["conflicts"]
    store.close_database()


def test_a_flag_conflict_is_one_at_any_tolerance_and_a_number_only_past_it():
    """A capability on which the sources disagree was hidden by a tolerance of 1 or more (its
    difference is 1.0), though the README says flags conflict whenever they differ."""
    from discovery.reconcile import conflicts_of

    trace = {"capabilities.vision": ("azure", None, None, [("modelsdev", "azure/x", True)]),
             "pricing.input": ("azure", None, None, [("litellm", "azure/x", 2.0)]),
             "limits.context_window": ("azure", None, None, [("modelsdev", "azure/x", 128000)])}
    values = {"capabilities.vision": False, "pricing.input": 1.0, "limits.context_window": 128000}
    found = {c.field: c for c in conflicts_of(values, trace)}
    assert set(found) == {"capabilities.vision", "pricing.input"}  # equal limits are no conflict
    flag, price = found["capabilities.vision"], found["pricing.input"]
    assert price.difference == 0.5 and price.above(0.49) and not price.above(0.5) and not price.above(10)
    assert all(flag.above(t) for t in (0, 0.05, 0.99, 1, 10))
