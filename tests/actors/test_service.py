"""The spine end to end: real actors, a real SQLite file, the simulator over loopback HTTP."""
from __future__ import annotations

import threading
import time

import pykka
import pytest

from tests.conftest import provider_config, wait_for
from web import create_app

# A small but real models.dev document: two providers from the packaged snapshot.
MODELSDEV_PROVIDERS = ("anthropic", "mistral")


@pytest.fixture
def sources(simulator):
    state = simulator.state
    keep = {k: v for k, v in state.model_items("modelsdev") if k in MODELSDEV_PROVIDERS}
    state.set_models("modelsdev", keep)
    return [
        provider_config(simulator, "openai", "openai_compatible", route="openai"),
        provider_config(simulator, "modelsdev", "modelsdev"),
    ]


@pytest.fixture
def running(start_service, sources):
    service = start_service(sources)
    wait_for(lambda: {p["name"] for p in service.providers() if p.get("last_success_at")} == {"openai", "modelsdev"},
             what="both providers to refresh")
    return service


@pytest.fixture
def client(running):
    return create_app(running).test_client()


def test_models_from_both_formats_are_listed_with_normalized_capabilities(client):
    body = client.get("/api/v1/models?limit=1000").get_json()
    providers = {m["provider"] for m in body["data"]}
    assert {"openai", "anthropic", "mistral"} <= providers
    claude = [m for m in body["data"] if m["provider"] == "anthropic" and m["capabilities"]["vision"] is True]
    assert claude and all(m["live"] is False for m in claude)
    vision = client.get("/api/v1/models?capability=supports_vision&provider=anthropic").get_json()
    assert vision["total"] == len(claude)


def test_dropped_and_changed_models_show_in_history_and_reach_a_subscriber(running, client, simulator):
    received = []
    unsubscribe = running.subscribe(lambda events: received.extend(events), kinds=["removed", "updated"])
    state = simulator.state
    dropped = state.models("openai")[0]["id"]
    state.remove_model("openai", dropped)
    claude_id, claude = next(iter(state.model_items("modelsdev")[0][1]["models"].items()))
    old_ctx = claude["limit"]["context"]
    state.update_model("modelsdev", "anthropic", {"models": {claude_id: {"limit": {"context": old_ctx + 1000}}}})

    def refresh(name):
        resp = client.post(f"/api/v1/providers/{name}/refresh?wait=true")
        assert resp.status_code == 200, resp.get_json()
        assert resp.get_json()["runs"][0]["outcome"] == "succeeded"
        return resp.get_json()["runs"][0]

    for name in ("openai", "modelsdev"):
        refresh(name)
    # Left out of one answer: missing, within its grace (one answer by default), still served.
    ids = {m["id"] for m in client.get("/api/v1/models?limit=1000").get_json()["data"]}
    assert f"openai/{dropped}" in ids
    assert running.reconciliation()["providers"]["openai"]["missing"][0]["model_id"] == f"openai/{dropped}"
    assert refresh("openai")["removed"] == 1  # left out of a second answer: removed

    ids = {m["id"] for m in client.get("/api/v1/models?limit=1000").get_json()["data"]}
    assert f"openai/{dropped}" not in ids
    history = client.get(f"/api/v1/models/openai/{dropped}/history").get_json()["versions"]
    assert history[-1]["change"] == "removed"
    changed = client.get(f"/api/v1/models/anthropic/{claude_id}/history").get_json()["versions"]
    assert changed[-1]["change"] == "updated"
    assert changed[-1]["diff"]["limits.context_window"] == [old_ctx, old_ctx + 1000]

    wait_for(lambda: {(e.kind, e.model_id) for e in received} >= {
        ("removed", f"openai/{dropped}"), ("updated", f"anthropic/{claude_id}")}, what="both events")
    unsubscribe()


def test_breaker_opens_after_fail_max_errors_and_last_good_models_stay(running, client, simulator):
    before = client.get("/api/v1/providers/openai/models?limit=1000").get_json()["total"]
    simulator.state.set_fault("openai", "status", status=500)
    for _ in range(3):  # fail_max
        run = client.post("/api/v1/providers/openai/refresh?wait=true").get_json()["runs"][0]
        assert run["outcome"] == "failed" and "500" in run["error"]
    provider = client.get("/api/v1/providers/openai").get_json()
    assert provider["breaker"]["state"] == "open"
    assert provider["status"] == "unavailable"
    run = client.post("/api/v1/providers/openai/refresh?wait=true").get_json()["runs"][0]
    assert "circuit open" in run["error"]
    assert client.get("/api/v1/providers/openai/models?limit=1000").get_json()["total"] == before


def test_empty_answer_fails_the_run_with_its_reason_and_removes_nothing(running, client, simulator):
    before = client.get("/api/v1/providers/openai/models?limit=1000").get_json()["total"]
    simulator.state.set_fault("openai", "empty")
    run = client.post("/api/v1/providers/openai/refresh?wait=true").get_json()["runs"][0]
    assert run["outcome"] == "failed" and "no models" in run["error"]
    runs = client.get("/api/v1/refresh/runs?provider=openai").get_json()["data"]
    assert runs[0]["outcome"] == "failed" and "kept the last good catalog" in runs[0]["error"]
    assert client.get("/api/v1/providers/openai/models?limit=1000").get_json()["total"] == before


def test_crashed_provider_actor_is_restarted_and_its_timer_keeps_firing(start_service, sources, simulator):
    fast = [s.__class__(**{**s.__dict__, "refresh_interval": 0.2, "jitter": 0.0}) for s in sources[:1]]
    service = start_service(fast)
    ref = wait_for(lambda: service.supervisor.ref("openai").get(), what="provider actor")
    ref.tell({"bogus": "message"})  # an unexpected message kills the actor
    wait_for(lambda: not ref.is_alive(), what="actor to die")
    new_ref = wait_for(lambda: (r := service.supervisor.ref("openai").get()) is not None and r is not ref and r,
                       what="restart")
    assert new_ref.is_alive()
    seen = simulator.state.request_count("openai")
    wait_for(lambda: simulator.state.request_count("openai") >= seen + 2, what="timer refreshes after the restart")
    states = service.supervisor.child_states().get()
    assert states["openai"]["restarts"] == 1


def test_manual_refresh_during_one_in_flight_gets_one_shared_follow_up_that_starts_after_it(running, simulator):
    simulator.state.set_latency("openai", 0.5)
    seen = simulator.state.request_count("openai")
    first = running.refresh("openai")
    wait_for(lambda: simulator.state.request_count("openai") > seen, what="the first fetch to begin")
    assert running.refresh("openai", trigger="timer").run_id == first.run_id, "a timer joins the one in flight"
    simulator.state.add_model("openai", {"id": "gpt-after-first", "object": "model", "created": 1, "owned_by": "x"})
    second = running.refresh("openai")
    third = running.refresh("openai")
    assert second.run_id != first.run_id and third.run_id == second.run_id
    outcomes = running.wait([first, second], timeout=10)
    assert [o.outcome for o in outcomes] == ["succeeded", "succeeded"]
    # The follow-up's fetch began after it was asked for, so it saw the change.
    assert simulator.state.request_count("openai") == seen + 2
    assert running.index.entry("openai/gpt-after-first") is not None
    runs = {r["id"]: r for r in running.refresh_runs("openai", 10)}
    assert runs[second.run_id]["started_at"] >= runs[first.run_id]["started_at"]


def test_in_process_subscriber_that_raises_does_not_affect_others(running, simulator, client):
    good = []

    def bad(events):
        raise RuntimeError("subscriber bug")

    running.subscribe(bad)
    running.subscribe(lambda events: good.extend(events), kinds=["added"])
    simulator.state.add_model("openai", {"id": "gpt-new-1", "object": "model", "created": 1750000000,
                                         "owned_by": "openai"})
    client.post("/api/v1/providers/openai/refresh?wait=true")
    wait_for(lambda: any(e.model_id == "openai/gpt-new-1" for e in good), what="delivery to the good subscriber")


def test_a_subscriber_that_blocks_does_not_hold_up_the_writer(running, simulator, client):
    # The writer waits for the notifier's fan-out only briefly (NOTIFY_HANDOVER): a subscriber
    # stuck in its callback must not keep the next refresh from committing.
    release, entered = threading.Event(), threading.Event()
    got = []

    def stuck(events):
        entered.set()
        release.wait(20)
        got.extend(events)

    running.subscribe(stuck, kinds=["added"])
    try:
        for n in (1, 2):
            simulator.state.add_model("openai", {"id": f"gpt-blocked-{n}", "object": "model",
                                                 "created": 1750000000, "owned_by": "openai"})
            started = time.monotonic()
            resp = client.post("/api/v1/providers/openai/refresh?wait=true")
            assert resp.status_code == 200 and resp.get_json()["runs"][0]["outcome"] == "succeeded", resp.get_json()
            assert time.monotonic() - started < 5
            assert entered.wait(5)
        assert got == []  # both commits went through while the subscriber was still stuck
    finally:
        release.set()
    wait_for(lambda: {e.model_id for e in got} == {"openai/gpt-blocked-1", "openai/gpt-blocked-2"},
             what="the stuck subscriber's events once it returns")


def test_service_stop_leaves_no_actor_running(start_service, sources):
    service = start_service(sources)
    service.stop()
    assert pykka.ActorRegistry.get_all() == []


def test_fingerprints_of_an_older_form_cost_one_normalizing_and_no_new_version(start_service, sources, db_url):
    """Stored fingerprints outlive upgrades; when their form changes (a new hash, or a normalizer
    version), the first refresh after the upgrade normalizes every item again, writes the new
    fingerprints, and announces nothing: the records' content is the same."""
    import sqlite3

    service = start_service(sources)
    wait_for(lambda: all(p.get("last_success_at") for p in service.providers()), what="the first refreshes")
    service.stop()
    path = db_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as db:
        # Read once the service has stopped: a source's status change may be written after its
        # refresh is seen to succeed.
        (last_event,) = db.execute("SELECT max(id) FROM events").fetchone()
        prints = dict(((s, m), f) for s, m, f in db.execute("SELECT source, model_id, fingerprint FROM source_models"))
        assert prints and all(f and len(f) == 32 for f in prints.values())
        # As an older release would have written them: other hashes of the same items and bodies.
        db.execute("UPDATE source_models SET fingerprint = 'b2' || substr(fingerprint, 3)")
        db.execute("UPDATE providers SET body_hash = 'b2' || substr(body_hash, 3) WHERE body_hash IS NOT NULL")

    again = start_service(sources)
    wait_for(lambda: all(p.get("last_success_at") for p in again.providers())
             and len([e for e in again.events_after(last_event, 1000) if e.kind == "models_refreshed"]) == 2,
             what="the refreshes after the upgrade")
    kinds = {e.kind for e in again.events_after(last_event, 1000)}
    assert kinds == {"models_refreshed"}, kinds
    again.stop()
    with sqlite3.connect(path) as db:
        now = dict(((s, m), f) for s, m, f in db.execute("SELECT source, model_id, fingerprint FROM source_models"))
    assert now == prints
