"""A Bedrock region is health-checked between refreshes (``health_check_interval``): one small
call through its breaker, so a region that starts failing, or recovers, is seen (and announced)
within a check, not at its next refresh an hour later."""
from __future__ import annotations

import time

from tests.conftest import wait_for
from web import create_app

EAST = "us-east-1"
SOURCE = f"bedrock@{EAST}"


def _moves(service):
    return [(e.data["old"], e.data["new"]) for e in service.events_after(0, 10_000)
            if e.kind == "status_changed" and e.provider == SOURCE]


def _region(service):
    return next(r for r in service.bedrock_regions() if r["region"] == EAST)


def _checks(simulator):
    """The checks the region received: one profile asked for, not a refresh's pages."""
    return [r for r in simulator.state.requests(SOURCE)
            if r["path"].endswith("inference-profiles") and r["query"].get("maxResults") == "1"]


def test_a_region_failing_between_refreshes_is_seen_by_its_check_and_refreshed_when_it_recovers(
        start_bedrock, simulator):
    service = start_bedrock((EAST,), health_check_interval=0.2, fail_max=5)
    wait_for(lambda: _moves(service) == [("unknown", "healthy")], what="the first status")
    # A check is made, and its outcome comes back to the actor (the request is logged before).
    wait_for(lambda: _region(service)["last_check_at"] is not None, what="a check between refreshes")
    assert _checks(simulator)
    runs_before = len(service.refresh_runs(SOURCE))

    simulator.state.set_fault(SOURCE, "status", status=503, times=1)
    wait_for(lambda: len(_moves(service)) >= 2, what="the failed check's status change")
    assert _moves(service)[1] == ("healthy", "unhealthy")
    failed = [e for e in service.events_after(0, 10_000) if e.kind == "status_changed" and e.provider == SOURCE][1]
    assert "503" in failed.data["reason"]

    # The next check passes: the region is refreshed at once (a run of its own) and healthy again.
    wait_for(lambda: len(_moves(service)) >= 3, what="the recovery")
    assert _moves(service)[2] == ("unhealthy", "healthy")
    runs = service.refresh_runs(SOURCE)
    assert len(runs) == runs_before + 1 and runs[0]["trigger"] == "recovery" and runs[0]["outcome"] == "succeeded"
    assert _region(service)["status"] == "available"
    health = create_app(service).test_client().get(f"/api/v1/providers/{SOURCE}/health").get_json()
    assert health["status"] == "healthy" and health["last_check_at"]


def test_checks_that_fail_in_a_row_open_the_breaker_and_its_trial_refresh_recovers(start_bedrock, simulator):
    service = start_bedrock((EAST,), health_check_interval=0.2, fail_max=2, reset_timeout=0.5)
    wait_for(lambda: _moves(service) == [("unknown", "healthy")], what="the first status")
    simulator.state.set_fault(SOURCE, "status", status=500, times=2)
    wait_for(lambda: ("unhealthy", "unavailable") in _moves(service), what="the breaker opening")
    opened = [e for e in service.events_after(0, 10_000) if e.kind == "status_changed" and e.provider == SOURCE
              and e.data["new"] == "unavailable"][0]
    assert opened.data["reason"].startswith("circuit open: skipped after 2 consecutive failures")
    # No check is made while it is open: its trial call is the refresh scheduled for the reset.
    wait_for(lambda: _moves(service)[-1] == ("unavailable", "healthy"), what="the trial refresh's recovery")
    assert _moves(service) == [("unknown", "healthy"), ("healthy", "unhealthy"), ("unhealthy", "unavailable"),
                               ("unavailable", "healthy")]
    assert _region(service)["breaker_state"] == "closed"


def test_no_region_is_checked_when_the_checks_are_off(start_bedrock, simulator):
    service = start_bedrock((EAST,), health_check_interval=0.0)
    asked = simulator.state.request_count(SOURCE)
    time.sleep(0.6)  # the absence of calls over a span is the point: nothing to wait for
    assert simulator.state.request_count(SOURCE) == asked
    assert _region(service)["last_check_at"] is None


def test_a_check_denied_access_marks_the_region_unavailable_as_a_refresh_would(start_bedrock, simulator):
    """A region whose check is told the account has no access there is unavailable at once (its
    models kept, asked again only after ``unavailable_recheck_interval``), not failing until the
    next refresh finds out."""
    service = start_bedrock((EAST,), health_check_interval=0.2, fail_max=5, unavailable_recheck_interval=1.5)
    wait_for(lambda: _moves(service) == [("unknown", "healthy")], what="the first status")
    models = _region(service)["model_count"]
    runs_before = len(service.refresh_runs(SOURCE))
    simulator.state.set_option(SOURCE, "access_denied", True)
    wait_for(lambda: len(_moves(service)) >= 2, what="the denied check's status change")
    assert _moves(service)[1] == ("healthy", "unavailable")
    denied = [e for e in service.events_after(0, 10_000) if e.kind == "status_changed" and e.provider == SOURCE][1]
    assert "AccessDenied" in denied.data["reason"]
    region = _region(service)
    assert region["status"] == "unavailable" and region["model_count"] == models
    assert len(service.refresh_runs(SOURCE)) == runs_before  # the check decided, not a refresh
    assert region["next_refresh_at"] - time.time() > 0.5  # the recheck's wait, not a refresh at once

    # Access back: the recheck refresh makes it available again, and it is checked again.
    simulator.state.set_option(SOURCE, "access_denied", False)
    wait_for(lambda: _moves(service)[-1] == ("unavailable", "healthy"), what="the recheck's recovery")
    assert service.refresh_runs(SOURCE)[0]["trigger"] == "timer"


def test_a_regions_health_record_keeps_its_refreshes_and_checks_as_a_providers_does(start_bedrock, simulator):
    """/providers/bedrock@<region>/health had its status and nothing else: error_rate, uptime, the
    consecutive counts and the recent checks were null or empty, whatever the region went through."""
    service = start_bedrock((EAST,), health_check_interval=0.2, fail_max=5)
    client = create_app(service).test_client()
    wait_for(lambda: len(client.get(f"/api/v1/providers/{SOURCE}/health?history=100").get_json()["history"]) >= 3,
             what="the first refresh and two checks in the record")
    simulator.state.set_fault(SOURCE, "status", status=503, times=1)
    # A check fails (the region is unhealthy), the next passes and the region is refreshed at once.
    wait_for(lambda: _moves(service)[-1:] == [("unhealthy", "healthy")], what="the failure and the recovery")
    record = client.get(f"/api/v1/providers/{SOURCE}/health?history=100").get_json()
    vias = {c["via"] for c in record["history"]}
    assert vias == {"refresh", "probe"}
    failed = [c for c in record["history"] if not c["ok"]]
    assert len(failed) == 1 and failed[0]["via"] == "probe" and "503" in failed[0]["error"]
    assert 0 < record["error_rate"] < 1 and 0 < record["uptime"] < 1 and record["window_seconds"] == 3600.0
    assert record["consecutive_failures"] == 0 and record["consecutive_successes"] >= 1
    assert record["status"] == "healthy" and record["breaker"] == "closed"
    assert all(c["latency_ms"] is not None for c in record["history"])
