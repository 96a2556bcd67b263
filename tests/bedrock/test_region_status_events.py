"""A Bedrock region's health changes are ``status_changed`` events, stored as a provider's are.

A region that starts failing, whose breaker opens, or that recovers is told to subscribers (in
process, the event feed, webhooks) with the status ``GET /api/v1/providers`` shows for it; the
status is stored in the region's provider row, so a restart or a new leader announces only what
differs from it.
"""
from __future__ import annotations

import time

from discovery import store
from tests.bedrock.conftest import bedrock_settings, regions_settled
from tests.conftest import wait_for
from web import create_app

EAST, WEST = "us-east-1", "eu-west-1"


def _moves(service, source, after=0):
    return [(e.data["old"], e.data["new"]) for e in service.events_after(after, 10_000)
            if e.kind == "status_changed" and e.provider == source]


def _refresh(client, region):
    answer = client.post(f"/api/v1/providers/bedrock@{region}/refresh?wait=true")
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()["runs"][0]


def test_a_region_failing_opening_its_breaker_and_recovering_is_announced(start_bedrock, simulator):
    service = start_bedrock((EAST, WEST))
    got: list = []
    service.subscribe(got.extend, kinds=["status_changed"], inline=False, max_delay=0.01)
    source = f"bedrock@{WEST}"
    # Its first answer, on a new store: from unknown, as a provider's first check is.
    wait_for(lambda: _moves(service, source) == [("unknown", "healthy")], what=f"{source}'s first status")
    assert _moves(service, f"bedrock@{EAST}") == [("unknown", "healthy")]
    client = create_app(service).test_client()

    simulator.state.set_fault(source, "status", status=500, times=2)  # one refresh's two calls
    assert _refresh(client, WEST)["outcome"] == "failed"
    wait_for(lambda: len(_moves(service, source)) == 2, what="the failure's status change")
    failing = [e for e in service.events_after(0, 10_000) if e.kind == "status_changed" and e.provider == source][-1]
    assert (failing.data["old"], failing.data["new"]) == ("healthy", "unhealthy")
    assert "500" in failing.data["reason"]
    listed = client.get(f"/api/v1/providers/{source}").get_json()
    assert listed["status"] == "unhealthy"

    # fail_max is 2: the second failure in a row opens the breaker; a region's breaker shows as unavailable.
    simulator.state.set_fault(source, "status", status=500, times=2)
    assert _refresh(client, WEST)["outcome"] == "failed"
    wait_for(lambda: len(_moves(service, source)) == 3, what="the open breaker's status change")
    assert _moves(service, source)[-1] == ("unhealthy", "unavailable")
    opened = [e for e in service.events_after(0, 10_000) if e.kind == "status_changed" and e.provider == source][-1]
    assert opened.data["reason"].startswith("circuit open: skipped after 2 consecutive failures; next try at ")
    assert client.get(f"/api/v1/providers/{source}").get_json()["status"] == "unavailable"
    # The other region is untouched; its only event is its first.
    assert _moves(service, f"bedrock@{EAST}") == [("unknown", "healthy")]

    # The feed and the in-process subscriber see the same events.
    feed = client.get(f"/api/v1/events?kind=status_changed&provider={source}").get_json()["data"]
    assert [(e["data"]["old"], e["data"]["new"]) for e in feed] == _moves(service, source)
    # Subscribed after the start: the first status reaches it or not, depending on when it was committed.
    told = lambda: [(e.data["old"], e.data["new"]) for e in got if e.provider == source]  # noqa: E731
    wait_for(lambda: told()[-2:] == _moves(service, source)[1:], what="the subscriber's batches")
    assert told() == _moves(service, source)[-len(told()):]


def test_a_restart_announces_only_what_differs_from_the_stored_status(start_bedrock, start_service, simulator):
    source = f"bedrock@{WEST}"
    first = start_bedrock((EAST, WEST), fail_max=5)
    wait_for(lambda: _moves(first, source) == [("unknown", "healthy")], what=f"{source}'s first status")
    simulator.state.set_fault(source, "status", status=503, times=2)
    assert _refresh(create_app(first).test_client(), WEST)["outcome"] == "failed"
    wait_for(lambda: _moves(first, source)[-1:] == [("healthy", "unhealthy")], what="the failure's status change")
    seen = first.last_event_id()
    first.stop()

    # The status is in the region's provider row, which a region did not have.
    store.open_database(first.settings.database_url)
    try:
        stored = store.provider_rows()
    finally:
        store.close_database()
    assert stored[source]["status"] == "unhealthy" and stored[source]["format"] == "bedrock"
    assert stored[f"bedrock@{EAST}"]["status"] == "healthy"

    from loguru import logger

    lines: list[str] = []
    sink = logger.add(lambda message: lines.append(message.record["message"]), level="INFO")
    try:
        second = start_service([], bedrock=bedrock_settings(simulator, (EAST, WEST), fail_max=5))
        since = time.time()
        wait_for(lambda: regions_settled(second, (EAST, WEST))
                 and all((r["last_refresh_at"] or 0) >= since for r in second.bedrock_regions()),
                 what="both regions' first refresh after the restart")
    finally:
        logger.remove(sink)
    # EAST's log line says it is as stored, not "status starting → available", a change never stored.
    assert f"bedrock@{EAST}: status available (ok), as stored before this start" in lines, lines
    assert not [line for line in lines if line.startswith(f"bedrock@{EAST}: status starting →")], lines
    # EAST answered as it did before the restart: nothing to announce. WEST recovered meanwhile:
    # announced from its stored status, not from the new actor's starting one.
    wait_for(lambda: _moves(second, source, seen), what="WEST's recovery")
    second.catalog.state.get(timeout=10)  # what EAST told the writer as it settled is handled by now
    assert _moves(second, source, seen) == [("unhealthy", "healthy")]
    assert _moves(second, f"bedrock@{EAST}", seen) == []


def test_a_region_that_does_not_offer_bedrock_is_announced_once(start_bedrock, simulator):
    from discovery.simulator.formats.bedrock import NOT_OFFERED

    absent = NOT_OFFERED[0]
    source = f"bedrock@{absent}"
    service = start_bedrock((EAST, absent))
    wait_for(lambda: _moves(service, source), what=f"{source}'s first status")
    assert _moves(service, source) == [("unknown", "unavailable")]
    event = [e for e in service.events_after(0, 10_000) if e.kind == "status_changed" and e.provider == source][0]
    assert event.data["reason"]
    # Asked again, it is as it was: no second event.
    client = create_app(service).test_client()
    _refresh(client, absent)
    _refresh(client, EAST)
    # The region told the writer before its refresh's answer: a question asked of the writer now
    # is answered after that was handled.
    service.catalog.state.get(timeout=10)
    assert _moves(service, source) == [("unknown", "unavailable")]


def test_a_bedrock_filter_follows_the_regions_health_and_a_region_filter_only_its_own(start_bedrock, simulator):
    """``provider=bedrock`` is every part of Bedrock: its models and its regions' own events (their
    runs and health, named ``bedrock@<region>``), on the feed and for an in-process subscriber."""
    service = start_bedrock((EAST, WEST))
    bedrock: list = []
    west: list = []
    service.subscribe(bedrock.extend, kinds=["status_changed"], providers=["bedrock"], inline=False, max_delay=0.01)
    service.subscribe(west.extend, kinds=["status_changed"], providers=[f"bedrock@{WEST}"], inline=False,
                      max_delay=0.01)
    client = create_app(service).test_client()
    wait_for(lambda: _moves(service, f"bedrock@{EAST}") and _moves(service, f"bedrock@{WEST}"),
             what="both regions' first status")
    # (The first statuses may have been committed before the subscriptions, or just after: the
    # failure is looked for by what it says, not as the last event.)

    simulator.state.set_fault(f"bedrock@{WEST}", "status", status=500, times=2)
    assert _refresh(client, WEST)["outcome"] == "failed"
    wait_for(lambda: [(e.provider, e.data["new"]) for e in bedrock][-1:] == [(f"bedrock@{WEST}", "unhealthy")],
             what="the failure told to the subscriber")
    assert (bedrock[-1].data["old"], bedrock[-1].data["new"]) == ("healthy", "unhealthy")
    wait_for(lambda: [(e.data["old"], e.data["new"]) for e in west][-1:] == [("healthy", "unhealthy")],
             what="the failure told to the region's own subscriber")
    assert {e.provider for e in west} == {f"bedrock@{WEST}"}

    feed = client.get("/api/v1/events?since=0&limit=100&provider=bedrock").get_json()["data"]
    health = [(e["provider"], e["data"]["new"]) for e in feed if e["kind"] == "status_changed"]
    assert sorted(health[:2]) == [(f"bedrock@{WEST}", "healthy"), (f"bedrock@{EAST}", "healthy")]
    assert health[2:] == [(f"bedrock@{WEST}", "unhealthy")]
    kinds = {e["kind"] for e in feed}
    assert {"added", "models_refreshed"} <= kinds  # Bedrock's models and its regions' runs too
    assert {e["provider"] for e in feed if e["kind"] == "added"} == {"bedrock"}
    only_east = client.get(f"/api/v1/events?since=0&limit=100&provider=bedrock@{EAST}").get_json()["data"]
    assert only_east and {e["provider"] for e in only_east} == {f"bedrock@{EAST}"}
