"""A restart (or a new leader) announces a provider's status only when it differs from the stored one.

A provider actor starts at ``unknown``; its first check reports unknown → healthy. Every restart
and every failover used to add one such ``status_changed`` event per provider, though nothing
had changed.
"""
from __future__ import annotations

import time

from tests.conftest import provider_config, wait_for


def status_events(service):
    return [e for e in service.events_after(0, 10_000) if e.kind == "status_changed"]


def test_a_restart_announces_no_status_the_store_already_holds(start_service, simulator):
    config = provider_config(simulator, "openai", "openai_compatible", route="openai", health_check_interval=0.2,
                             failure_threshold=1, retries=0)
    service = start_service([config])
    wait_for(lambda: [e.data for e in status_events(service)] == [{"old": "unknown", "new": "healthy", "reason": None}],
             what="the first status, announced once")
    service.stop()

    from loguru import logger

    lines: list[str] = []
    sink = logger.add(lambda message: lines.append(message.record["message"]), level="INFO")
    try:
        restarted = start_service([config])
        since = time.time()
        # Its actor starts at unknown and checks again (a refresh at start, then probes).
        wait_for(lambda: (restarted.providers()[0].get("last_refresh_at") or 0) >= since
                 and restarted.health("openai")["consecutive_successes"] >= 3, what="the restarted actor's checks")
    finally:
        logger.remove(sink)
    assert restarted.health("openai")["status"] == "healthy"
    assert len(status_events(restarted)) == 1
    # Nor does its log show a change (it said "status unknown → healthy" at every start).
    assert "openai: status healthy (ok), as stored before this start" in lines
    assert not [line for line in lines if "status unknown →" in line], lines

    # A real change is still announced, from the stored status.
    simulator.state.set_fault("openai", "status", status=500)
    wait_for(lambda: len(status_events(restarted)) == 2, what="the status change a fault makes")
    assert status_events(restarted)[-1].data["old"] == "healthy"
    assert status_events(restarted)[-1].data["new"] != "healthy"


def test_a_provider_not_yet_checked_after_a_restart_shows_its_stored_status(start_service, simulator):
    """It showed "unknown" (on the API, the dashboard and the metrics) for its whole first refresh
    after a restart, though its status before was stored."""
    config = provider_config(simulator, "openai", "openai_compatible", route="openai", failure_threshold=1, retries=0,
                             timeout=1.0)
    service = start_service([config])
    wait_for(lambda: service.providers()[0]["status"] == "healthy", what="the first status")
    simulator.state.set_fault("openai", "status", status=500)
    (outcome,) = service.wait([service.refresh("openai")], timeout=30)
    assert outcome.outcome == "failed"
    wait_for(lambda: service.providers()[0]["status"] == "unhealthy", what="the failing status")
    service.stop()

    simulator.state.set_latency("openai", 3.0)  # the first refresh after the restart takes a while
    restarted = start_service([config])
    row = restarted.providers()[0]
    assert row["status"] == "unhealthy", row
    assert row["status_reason"].endswith("as stored before this start, not checked since"), row
    assert "HTTP 500" in row["status_reason"], row
    simulator.state.set_latency("openai", 0.0)


def test_an_actors_own_log_lines_name_its_provider(start_service, simulator):
    """The context naming the provider was entered and dropped at the actor's start: a context
    manager made of a generator resets it when collected, so JSON lines had no provider field."""
    from loguru import logger

    seen: list[tuple[str, dict]] = []
    sink = logger.add(lambda message: seen.append((message.record["message"], dict(message.record["extra"]))),
                      level="INFO")
    try:
        service = start_service([provider_config(simulator, "openai", "openai_compatible", route="openai")])
        wait_for(lambda: any("status unknown → healthy" in text for text, _ in seen), what="the status line")
    finally:
        logger.remove(sink)
    assert service.providers()[0]["status"] == "healthy"
    [extra] = [extra for text, extra in seen if text.startswith("openai: status unknown → healthy")]
    assert extra.get("provider") == "openai", extra


def test_a_stored_failed_status_is_not_shown_for_a_running_provider_after_a_restart(start_service, simulator,
                                                                                      db_url):
    """"failed" is the supervisor giving up on an actor of a process gone: the restarted provider
    is running, so until its first check it is unknown, not failed."""
    from discovery import store

    config = provider_config(simulator, "openai", "openai_compatible", route="openai")
    service = start_service([config])
    wait_for(lambda: service.providers()[0]["status"] == "healthy", what="the first status")
    service.stop()
    store.open_database(db_url)
    try:
        store.set_provider_status("openai", "failed", "crashed 6 times in a minute")
    finally:
        store.close_database()
    simulator.state.set_latency("openai", 3.0)
    restarted = start_service([config])
    try:
        row = restarted.providers()[0]
        assert row["status"] == "unknown" and row["given_up"] is False, row
    finally:
        simulator.state.set_latency("openai", 0.0)
