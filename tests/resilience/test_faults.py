"""Fault injection over real HTTP: every fault fails the refresh loudly and changes nothing else."""
from __future__ import annotations

import re
import socket
import sys
import threading
import time
from dataclasses import replace
from datetime import datetime

import pytest

from tests.conftest import provider_config, wait_for
from web import create_app

# (fault kind, parameters, words the refresh error must contain, expected health status)
FAULTS = [
    ("hang", {"seconds": 4}, "no answer", "degraded"),
    ("status", {"status": 500}, "HTTP 500", "degraded"),
    ("unavailable", {"retry_after": 1}, "HTTP 503", "degraded"),
    ("rate_limit", {"retry_after": 1}, "429", "rate_limited"),
    ("malformed", {}, "not JSON", "degraded"),
    ("wrong_shape", {}, "unexpected shape", "degraded"),
    ("empty", {}, "no models", "degraded"),
    ("huge", {"mb": 50}, "larger than", "degraded"),
    ("drip", {"bytes_per_second": 500}, "too slowly", "degraded"),
    # A Retry-After that is not a time: urllib3 raised InvalidHeader out of the retried request,
    # and a date in "-0000" made parse_retry_after raise TypeError; both failed as "internal".
    ("status", {"status": 503, "headers": {"Retry-After": "soon"}}, "HTTP 503", "degraded"),
    ("status", {"status": 503, "headers": {"Retry-After": "Fri, 31 Dec 999999999 23:59:59 GMT"}}, "HTTP 503",
     "degraded"),
    ("status", {"status": 429, "headers": {"Retry-After": "Thu, 01 Jan 2026 00:00:00 -0000"}}, "HTTP 429",
     "rate_limited"),
]
FAULT_IDS = [f[0] for f in FAULTS[:-3]] + ["retry_after_not_a_time", "retry_after_past_year_9999",
                                            "retry_after_date_in_minus_0000"]


@pytest.fixture
def setup(start_service, simulator):
    victim = provider_config(simulator, "victim", "openai_compatible", route="openai", timeout=1.0, retries=1,
                             retry_backoff=0.05, fail_max=10, max_body_mb=32)
    bystander = provider_config(simulator, "bystander", "openai_compatible", route="openai_compatible")
    service = start_service([victim, bystander])
    wait_for(lambda: all(p.get("last_success_at") for p in service.providers()), what="first refreshes")
    return service, create_app(service).test_client(), simulator.state


def victim_state(client):
    """Everything stored of the victim: full records, every version of each, and its events but status changes."""
    records = client.get("/api/v1/providers/victim/models?limit=1000").get_json()["data"]
    histories = {m["id"]: client.get(f"/api/v1/models/{m['id']}/history").get_json()["versions"] for m in records}
    feed, since = [], 0
    while True:
        page = client.get(f"/api/v1/events?since={since}&limit=1000&provider=victim").get_json()
        feed += [e for e in page["data"] if e["kind"] != "status_changed"]
        since = page["next"]
        if not page["has_more"]:
            return records, histories, feed


@pytest.mark.parametrize("kind,params,words,health", FAULTS, ids=FAULT_IDS)
def test_fault_fails_the_refresh_with_a_reason_and_keeps_the_catalog(setup, kind, params, words, health):
    service, client, state = setup
    before = victim_state(client)
    assert before[0] and before[2], "the victim has models and events to lose"
    state.set_fault("openai", kind, **params)
    result = {}
    worker = threading.Thread(target=lambda: result.update(
        client.post("/api/v1/providers/victim/refresh?wait=true&timeout=60").get_json()))
    started = time.monotonic()
    worker.start()

    # While the victim struggles, the rest of the service answers at once.
    t0 = time.monotonic()
    assert client.get("/api/v1/models?limit=5").status_code == 200
    assert client.get("/api/v1/providers").status_code == 200
    other = client.post("/api/v1/providers/bystander/refresh?wait=true").get_json()["runs"][0]
    assert other["outcome"] == "succeeded"
    assert time.monotonic() - t0 < 2.0, "the service slowed down while one provider was failing"

    worker.join(timeout=60)
    run = result["runs"][0]
    assert run["outcome"] == "failed"
    assert words in run["error"], run["error"]
    # Not one record, version or event of the victim changed.
    assert victim_state(client) == before
    record = client.get("/api/v1/providers/victim/health").get_json()
    assert record["status"] == health
    assert record["consecutive_failures"] == 1 and record["history"][-1]["ok"] is False
    stored = client.get(f"/api/v1/refresh/runs/{run['run_id']}").get_json()
    assert stored["outcome"] == "failed" and words in stored["error"]
    print(f"{kind}: failed in {time.monotonic() - started:.2f}s: {run['error']}")


def test_connection_refused_is_a_clear_failure(start_service, simulator):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = provider_config(simulator, "gone", "openai_compatible", route="openai")
    cfg = cfg.__class__(**{**cfg.__dict__, "base_url": f"http://127.0.0.1:{port}/v1"})
    service = start_service([cfg])
    run = service.wait([service.refresh("gone")], timeout=10)[0]
    assert run.outcome == "failed" and "cannot connect" in run.error and "127.0.0.1" in run.error


def test_retry_after_is_honoured_before_retrying(setup):
    service, client, state = setup
    state.set_fault("openai", "unavailable", retry_after=1, times=1)
    started = time.monotonic()
    run = client.post("/api/v1/providers/victim/refresh?wait=true").get_json()["runs"][0]
    assert run["outcome"] == "succeeded"
    assert time.monotonic() - started >= 0.95


def test_a_429_without_retry_after_waits_until_its_exhausted_limit_resets(setup):
    """OpenAI and Groq may answer a 429 with their rate-limit headers alone: the retry waited the
    backoff (50 ms here) and was refused again; it now waits until the exhausted limit resets."""
    service, client, state = setup
    state.set_fault("openai", "status", status=429, times=1, headers={
        "x-ratelimit-limit-requests": "500", "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "1.2s", "x-ratelimit-remaining-tokens": "149000",
        "x-ratelimit-reset-tokens": "6m0s"})
    asked = state.request_count("openai")
    started = time.monotonic()
    run = client.post("/api/v1/providers/victim/refresh?wait=true").get_json()["runs"][0]
    assert run["outcome"] == "succeeded"
    # The requests' reset, not the tokens' (that limit has room left), nor the backoff.
    assert 1.15 <= time.monotonic() - started < 5.0
    assert state.request_count("openai") == asked + 2


@pytest.mark.parametrize("headers", [
    {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "10m0s"},
    {"anthropic-ratelimit-requests-remaining": "0", "anthropic-ratelimit-tokens-remaining": "0",
     "anthropic-ratelimit-requests-reset": "{in_600s}", "anthropic-ratelimit-tokens-reset": "{in_30s}"},
], ids=["x-ratelimit", "anthropic-ratelimit"])
def test_a_429_whose_limit_resets_later_puts_off_the_next_refresh_until_then(start_service, simulator, headers):
    """Without Retry-After, the reset of the exhausted limit (the longest, if several are) is the
    wait: the refresh fails as rate limited at once and the next one waits for it."""
    from datetime import UTC, timedelta

    now = datetime.now(UTC)
    stamps = {"in_600s": (now + timedelta(seconds=600)).isoformat().replace("+00:00", "Z"),
              "in_30s": (now + timedelta(seconds=30)).isoformat().replace("+00:00", "Z")}
    headers = {name: value.format(**stamps) for name, value in headers.items()}
    config = provider_config(simulator, "limited", "openai_compatible", route="openai", retries=1,
                             refresh_interval=60.0, jitter=0.0)
    service = start_service([config])

    def row():
        return next(p for p in service.providers() if p["name"] == "limited")
    wait_for(lambda: row().get("last_success_at"), what="the first refresh")
    simulator.state.set_fault("openai", "status", status=429, headers=headers)
    asked, count = time.time(), simulator.state.request_count("openai")
    (outcome,) = service.wait([service.refresh("limited")], timeout=10)
    assert outcome.outcome == "failed" and "HTTP 429" in (outcome.error or "")
    assert "(wait asked 6" in outcome.error or "(wait asked 59" in outcome.error  # the reset, not a Retry-After
    assert "s, longer than max_retry_after 10s)" in outcome.error
    assert simulator.state.request_count("openai") == count + 1  # not asked again before the reset
    wait_for(lambda: (row()["next_refresh_at"] or 0) >= asked + 590,
             timeout=5, what="the next refresh put off until the reset")
    assert row()["next_refresh_at"] <= time.time() + 601


def test_auth_error_is_misconfigured_and_does_not_count_against_the_breaker(start_service, simulator):
    cfg = provider_config(simulator, "anthropic", "anthropic", api_key_env="TEST_ANTHROPIC_KEY", fail_max=2)
    simulator.state.set_expected_key("anthropic", "right-key")
    import os
    os.environ["TEST_ANTHROPIC_KEY"] = "wrong-key"
    try:
        service = start_service([cfg])
        client = create_app(service).test_client()
        for _ in range(3):
            run = client.post("/api/v1/providers/anthropic/refresh?wait=true").get_json()["runs"][0]
            assert run["outcome"] == "failed" and "401" in run["error"]
            assert "wrong-key" not in run["error"]
        provider = client.get("/api/v1/providers/anthropic").get_json()
        assert provider["breaker"]["state"] == "closed"
        assert provider["status"] == "misconfigured"
    finally:
        del os.environ["TEST_ANTHROPIC_KEY"]


def test_a_key_that_is_not_set_is_misconfigured_and_does_not_count_against_the_breaker(
        start_service, simulator, monkeypatch):
    """A key variable that is not set failed every call before it was made, and each failure
    counted: the breaker opened, and the status went back and forth between misconfigured and
    unavailable, each move an event."""
    monkeypatch.delenv("TEST_UNSET_GROQ_KEY", raising=False)
    cfg = provider_config(simulator, "groq", "groq", api_key_env="TEST_UNSET_GROQ_KEY", fail_max=2,
                          health_check_interval=0.1)
    service = start_service([cfg])
    client = create_app(service).test_client()
    for _ in range(3):
        run = client.post("/api/v1/providers/groq/refresh?wait=true").get_json()["runs"][0]
        assert run["outcome"] == "failed" and "TEST_UNSET_GROQ_KEY" in run["error"]
    # The health checks (every 0.1 s) fail the same way: several of them since.
    wait_for(lambda: client.get("/api/v1/providers/groq/health").get_json()["consecutive_failures"] >= 8,
             what="the health checks")
    provider = client.get("/api/v1/providers/groq").get_json()
    assert provider["breaker"]["state"] == "closed" and provider["breaker"]["fail_counter"] == 0
    assert provider["status"] == "misconfigured"
    moves = [(e.data["old"], e.data["new"]) for e in service.events_after(0, 1000) if e.kind == "status_changed"]
    assert moves == [("unknown", "misconfigured")]
    assert simulator.state.request_count("groq") == 0


def test_breaker_status_changes_are_events_and_recovery_refreshes_at_once(start_service, simulator):
    cfg = provider_config(simulator, "victim", "openai_compatible", route="openai", fail_max=2, reset_timeout=1.0)
    service = start_service([cfg])
    wait_for(lambda: service.providers()[0].get("last_success_at"), what="first refresh")
    events = []
    service.subscribe(lambda batch: events.extend(batch), kinds=["status_changed"])
    simulator.state.set_fault("openai", "status", status=502)
    for _ in range(2):
        service.wait([service.refresh("victim")], timeout=10)
    wait_for(lambda: service.providers()[0]["breaker"]["state"] == "open", what="breaker to open")
    cleared = time.time()
    simulator.state.clear_faults("openai")
    wait_for(lambda: (service.providers()[0].get("last_success_at") or 0) > cleared, timeout=5,
             what="refresh after recovery")
    recovered_in = service.providers()[0]["last_success_at"] - cleared
    assert recovered_in <= cfg.reset_timeout + 1.0
    wait_for(lambda: any(e.data["new"] == "unavailable" for e in events), what="status_changed to unavailable")
    wait_for(lambda: any(e.data["new"] in ("healthy", "degraded") and e.data["old"] == "unavailable"
                         for e in events), what="status_changed back")


def test_while_the_breaker_is_open_no_timer_refresh_is_made_and_the_next_is_when_it_lets_a_call_through(
        start_service, simulator):
    # A timer refresh due before the breaker half-opens would only be skipped (a failed run,
    # "circuit open"), and the providers list and dashboard showed it as the next refresh.
    cfg = provider_config(simulator, "victim", "openai_compatible", route="openai", fail_max=1, reset_timeout=2.0,
                          refresh_interval=0.3, jitter=0.0)
    service = start_service([cfg])
    wait_for(lambda: service.providers()[0].get("last_success_at"), what="first refresh")
    simulator.state.set_fault("openai", "status", status=502)
    (failed,) = service.wait([service.refresh("victim")], timeout=10)
    row = service.providers()[0]
    assert failed.outcome == "failed" and row["breaker"]["state"] == "open"
    assert row["next_refresh_at"] >= row["breaker"]["next_try_at"]

    simulator.state.clear_faults("openai")
    wait_for(lambda: (service.providers()[0].get("last_success_at") or 0) > row["breaker"]["next_try_at"],
             timeout=10, what="the refresh once the breaker lets a call through")
    runs = [r for r in service.refresh_runs("victim", limit=100) if r["id"] > failed.run_id]
    assert not [r for r in runs if "circuit open" in (r["error"] or "")], runs
    first = min(runs, key=lambda r: r["id"])  # the first refresh after the failed one
    assert first["outcome"] == "succeeded" and first["started_at"] >= row["breaker"]["next_try_at"]


def test_too_many_manual_refreshes_get_429_with_retry_after(start_service, simulator):
    cfg = provider_config(simulator, "victim", "openai_compatible", route="openai", manual_refresh_per_minute=2)
    service = start_service([cfg])
    client = create_app(service).test_client()
    wait_for(lambda: service.providers()[0].get("last_success_at"), what="first refresh")
    for _ in range(2):
        assert client.post("/api/v1/providers/victim/refresh?wait=true").status_code == 200
    resp = client.post("/api/v1/providers/victim/refresh")
    assert resp.status_code == 429
    assert int(resp.headers["Retry-After"]) > 0
    assert resp.get_json()["error"]["code"] == "too_many_refreshes"


def test_provider_that_keeps_crashing_is_reported_failed_and_others_go_on(start_service, simulator):
    cfgs = [provider_config(simulator, "crashy", "openai_compatible", route="openai"),
            provider_config(simulator, "steady", "openai_compatible", route="openai_compatible")]
    service = start_service(cfgs, max_restarts_per_minute=2, restart_backoff=0.01)
    wait_for(lambda: all(p.get("last_success_at") for p in service.providers()), what="first refreshes")
    for _ in range(3):
        ref = wait_for(lambda: service.supervisor.ref("crashy").get(), what="crashy running")
        ref.tell("poison")
        wait_for(lambda ref=ref: not ref.is_alive(), what="crash")
    wait_for(lambda: service.supervisor.child_states().get()["crashy"]["state"] == "failed", what="given up")
    by_name = {p["name"]: p for p in service.providers()}
    assert by_name["crashy"]["status"] == "failed"
    assert by_name["crashy"]["given_up"] is True and by_name["steady"]["given_up"] is False
    assert "unexpected message" in by_name["crashy"]["actor"]["last_error"]
    assert service.wait([service.refresh("steady")], timeout=10)[0].outcome == "succeeded"


def test_an_answer_nested_too_deeply_fails_as_malformed_and_the_provider_refreshes_on(setup, simulator):
    """A record with a member nested 600 deep (the parsers read it; encoding the record recursed)
    failed the run as ``internal: RecursionError``; it is a malformed answer, the catalog stays as
    it was, the breaker counts it, and the next good answer is taken."""
    service, client, state = setup
    before = victim_state(client)
    good = state.models("openai")
    deep: object = []
    for _ in range(600):
        deep = [deep]
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(5000)  # for the simulator's copy of the record only
    try:
        state.set_models("openai", [{**good[0], "x": deep}, *good[1:]])
    finally:
        sys.setrecursionlimit(limit)
    run = client.post("/api/v1/providers/victim/refresh?wait=true").get_json()["runs"][0]
    assert run["outcome"] == "failed"
    assert run["error"] == "malformed: victim answered with JSON nested too deeply to read"
    assert victim_state(client) == before
    provider = client.get("/api/v1/providers/victim").get_json()
    assert provider["breaker"]["fail_counter"] == 1 and provider["status"] == "degraded"
    state.set_models("openai", good)
    assert client.post("/api/v1/providers/victim/refresh?wait=true").get_json()["runs"][0]["outcome"] == "succeeded"


def test_a_huge_error_message_is_kept_as_one_bounded_line(setup):
    """A 2 MB error message of many lines was stored whole in the run, the provider's last error,
    its health history and status reason, and logged; each now keeps one line of bounded length."""
    service, client, state = setup
    state.set_fault("openai", "status", status=500, message="the database is down\n" * 100_000)
    run = client.post("/api/v1/providers/victim/refresh?wait=true").get_json()["runs"][0]
    assert run["outcome"] == "failed" and run["error"].startswith("http: victim answered HTTP 500: the database")
    health = client.get("/api/v1/providers/victim/health").get_json()
    provider = client.get("/api/v1/providers/victim").get_json()
    stored = client.get(f"/api/v1/refresh/runs/{run['run_id']}").get_json()["error"]
    for reason in (run["error"], stored, health["history"][-1]["error"], provider["status_reason"]):
        assert len(reason) < 600 and "\n" not in reason, reason[:100]


def test_terminal_controls_in_a_providers_error_message_are_stored_and_logged_as_escapes(setup):
    """ESC[2J in an error body cleared the screen of whoever read the log or the run's error in a
    terminal; U+202E reversed the rest of the line."""
    import io

    from loguru import logger

    service, client, state = setup
    state.set_fault("openai", "status", status=500, message="boom \x1b[2Jcleared \u202eesrever \x07bell")
    out = io.StringIO()
    from discovery.redaction import redacting_sink

    sink = logger.add(redacting_sink(out), level="INFO", format="{message}")
    try:
        run = client.post("/api/v1/providers/victim/refresh?wait=true").get_json()["runs"][0]
    finally:
        logger.remove(sink)
    expected = "boom \\x1b[2Jcleared \\u202eesrever \\x07bell"
    stored = client.get(f"/api/v1/refresh/runs/{run['run_id']}").get_json()["error"]
    provider = client.get("/api/v1/providers/victim").get_json()
    for reason in (run["error"], stored, provider["status_reason"]):
        assert expected in reason, reason
        assert not any(c in reason for c in "\x1b\u202e\x07"), reason
    logged = out.getvalue()
    assert "cleared" in logged and "\x1b" not in logged and "\u202e" not in logged, logged


def test_a_retry_after_longer_than_max_retry_after_fails_the_refresh_at_once(setup):
    """A 429 asking for an hour was waited max_retry_after (10 s), then asked again, early: the
    settings say a longer Retry-After fails the refresh as rate_limited; now it does, at once."""
    service, client, state = setup
    before = victim_state(client)
    state.set_fault("openai", "rate_limit", retry_after=3600)
    asked = state.request_count("openai")
    started = time.monotonic()
    run = client.post("/api/v1/providers/victim/refresh?wait=true").get_json()["runs"][0]
    assert time.monotonic() - started < 5.0
    assert run["outcome"] == "failed" and "HTTP 429" in run["error"]
    assert "Retry-After 3600s, longer than max_retry_after 10s" in run["error"]
    assert state.request_count("openai") == asked + 1  # not asked again before the hour is up
    assert victim_state(client) == before
    assert client.get("/api/v1/providers/victim/health").get_json()["status"] == "rate_limited"


def test_a_refresh_wait_that_times_out_says_which_runs_are_late_and_how_the_others_ended(setup):
    """The 504 listed every run with no outcome, and its message gave the time left of the deadline
    ("after 0.829068s"), not the timeout asked for; ``skipped`` was missing."""
    service, client, state = setup
    state.set_latency("openai", 3.0)  # the victim's provider; the bystander answers at once
    try:
        resp = client.post("/api/v1/refresh?wait=true&timeout=1")
        assert resp.status_code == 504
        error = resp.get_json()["error"]
        assert error["code"] == "refresh_timeout" and error["skipped"] == []
        assert error["message"] == "1 of 2 refreshes still running after 1s: victim"
        runs = {r["provider"]: r for r in error["runs"]}
        assert runs["victim"]["outcome"] == "running" and runs["bystander"]["outcome"] == "succeeded"
        assert runs["bystander"]["total"] > 0
    finally:
        state.set_latency("openai", 0.0)
        wait_for(lambda: not any(p.get("refreshing") for p in service.providers()), what="the victim's run to end")


def test_a_404_on_the_list_call_says_where_it_was_asked(start_service, simulator):
    """A base_url missing its /v1 said only "answered HTTP 404: NOT FOUND": nothing of where."""
    config = provider_config(simulator, "local", "openai_compatible", route="openai", retries=0)
    config = replace(config, base_url=simulator.url + "/openai-misspelt")
    service = start_service([config])
    (outcome,) = service.wait([service.refresh("local")], timeout=10)
    assert outcome.outcome == "failed" and "answered HTTP 404" in outcome.error, outcome.error
    assert f"answered HTTP 404 at {simulator.url}/openai-misspelt/models (is base_url right?): " in outcome.error


def test_a_retry_after_past_a_day_is_reported_as_at_least_a_day_not_as_asked(setup):
    """A Retry-After of a week is kept as a day (the longest wait this service would honour); the
    error said "Retry-After 86400s", as if the provider had asked for exactly that."""
    service, client, state = setup
    state.set_fault("openai", "rate_limit", retry_after=7 * 86400)
    run = client.post("/api/v1/providers/victim/refresh?wait=true").get_json()["runs"][0]
    assert run["outcome"] == "failed"
    assert "Retry-After at least 86400s, longer than max_retry_after 10s" in run["error"]


def test_no_probe_trial_call_or_manual_refresh_is_sent_before_the_wait_a_provider_asked_for(start_service, simulator):
    """After a 429 asking for 30 s, the health probe and the breaker's trial call (reset_timeout
    0.5 s) were sent at once, and a manual refresh went out as if nothing had been asked."""
    config = provider_config(simulator, "victim", "openai_compatible", route="openai", retries=0, fail_max=1,
                             reset_timeout=0.5, health_check_interval=0.2, manual_refresh_per_minute=100,
                             refresh_interval=0.3, jitter=0.0)
    service = start_service([config])
    wait_for(lambda: service.providers()[0].get("last_success_at"), what="the first refresh")
    client = create_app(service).test_client()
    before = simulator.state.request_count("openai")
    simulator.state.set_fault("openai", "rate_limit", retry_after=30)
    # The next health probe (every 0.2 s) is told to wait.
    wait_for(lambda: simulator.state.request_count("openai") > before
             and service.providers()[0]["status"] in ("rate_limited", "unavailable"), what="the 429")
    asked = simulator.state.request_count("openai")
    time.sleep(1.5)  # seven probe intervals, three reset timeouts, five refresh intervals
    assert simulator.state.request_count("openai") == asked, "the provider was called before its wait ended"
    assert service.providers()[0]["next_refresh_at"] > time.time() + 20  # the timer moved past the wait
    refused = client.post("/api/v1/providers/victim/refresh")
    assert refused.status_code == 429 and 20 < float(refused.headers["Retry-After"]) <= 30
    message = refused.get_json()["error"]["message"]
    assert message.startswith("victim asked not to be called before ") and "HTTP 429" in message, message
    every = client.post("/api/v1/refresh").get_json()
    assert [s["provider"] for s in every["skipped"]] == ["victim"] and every["skipped"][0]["reason"] == "rate_limited"
    assert simulator.state.request_count("openai") == asked
    assert service.providers()[0]["next_refresh_at"] is not None


def test_the_wait_a_provider_asked_for_outlives_a_restart(start_service, simulator):
    """A 429 asking for an hour, then a restart: the new process asked the provider again at once
    (its first refresh, its probes), for another 429. The wait is stored with the provider's row;
    the next process keeps to it and shows until when."""
    config = provider_config(simulator, "victim", "openai_compatible", route="openai", retries=0,
                             health_check_interval=0.2, refresh_interval=0.3, jitter=0.0)
    service = start_service([config])
    wait_for(lambda: service.providers()[0].get("last_success_at"), what="the first refresh")
    simulator.state.set_fault("openai", "rate_limit", retry_after=3600)
    (outcome,) = service.wait([service.refresh("victim")], timeout=10)
    assert outcome.outcome == "failed" and "HTTP 429" in (outcome.error or "")
    asked_until = service.providers()[0]["asked_until"]
    assert asked_until is not None and time.time() + 3500 < asked_until <= time.time() + 3600
    wait_for(lambda: service.view.provider_rows["victim"].get("asked_until") == asked_until, what="the wait stored")
    service.stop()

    asked = simulator.state.request_count("openai")
    again = start_service([config])
    # Ready at once: the first refresh ran and failed without calling (holding it back kept
    # /readyz a 503 until the wait's end, up to hours).
    client = create_app(again).test_client()
    wait_for(lambda: client.get("/readyz").status_code == 200, timeout=5, what="ready after the restart")
    time.sleep(1.5)  # seven probe intervals, five refresh intervals
    assert simulator.state.request_count("openai") == asked, "the provider was called before its wait ended"
    row = again.providers()[0]
    assert row["asked_until"] == asked_until and row["next_refresh_at"] >= asked_until
    assert row["last_outcome"]["outcome"] == "failed" and "not asked" in row["last_outcome"]["error"]
    refused = client.post("/api/v1/providers/victim/refresh")
    assert refused.status_code == 429 and 3500 < float(refused.headers["Retry-After"]) <= 3600
    assert "HTTP 429" in refused.get_json()["error"]["message"]


@pytest.mark.parametrize("fmt,route", [("openai_compatible", "openai"), ("gemini", "gemini")])
def test_a_retry_after_puts_off_the_next_timer_refresh_until_it_is_up(start_service, simulator, monkeypatch,
                                                                       fmt, route):
    """A 429 asking for ten minutes failed the refresh, and the timer asked again a minute later
    (refresh_interval), early, for another 429: the next refresh now waits what was asked. Gemini
    asks in its body (a RetryInfo), not in a Retry-After header."""
    monkeypatch.setenv("GEMINI_API_KEY", "g-test-key")
    config = provider_config(simulator, "limited", fmt, route=route, retries=0,
                             refresh_interval=60.0, jitter=0.0)
    service = start_service([config])

    def row():
        return next(p for p in service.providers() if p["name"] == "limited")
    wait_for(lambda: row().get("last_success_at"), what="the first refresh")
    simulator.state.set_fault(route, "rate_limit", retry_after=600)
    asked = time.time()
    (outcome,) = service.wait([service.refresh("limited")], timeout=10)
    assert outcome.outcome == "failed" and "HTTP 429" in (outcome.error or "")
    wait_for(lambda: (row()["next_refresh_at"] or 0) >= asked + 590,
             timeout=5, what="the next refresh put off by the Retry-After")
    assert row()["next_refresh_at"] <= time.time() + 600


def test_an_answer_whose_every_record_is_rejected_keeps_the_catalog(setup):
    """Every id of the answer with a NUL in it: each record was rejected, the run succeeded, and
    the next refresh removed all 56 of the victim's models (56 removed events). The answer loses
    every model it had, so it is refused and nothing changes."""
    service, client, state = setup
    before = victim_state(client)
    good = state.models("openai")
    state.set_models("openai", [{**r, "id": r["id"] + "\x00"} for r in good])
    for _ in range(2):  # the second: a model left out once is kept for a grace, not twice
        run = client.post("/api/v1/providers/victim/refresh?wait=true").get_json()["runs"][0]
        assert run["outcome"] == "failed"
        assert f"answered with {len(good)} models, losing {len(good)} of {len(good)}" in run["error"]
    assert victim_state(client) == before


def _next_try(text: str) -> float:
    """The time an open breaker's reason names for its next try (ISO 8601, UTC), as epoch seconds."""
    match = re.search(r"next try at (\S+Z)", text or "")
    assert match, f"no next try time in {text!r}"
    return datetime.fromisoformat(match.group(1).replace("Z", "+00:00")).timestamp()


def test_an_open_breaker_says_when_it_lets_the_next_call_through(start_service, simulator):
    cfg = provider_config(simulator, "victim", "openai_compatible", route="openai", fail_max=2, reset_timeout=30.0)
    service = start_service([cfg])
    wait_for(lambda: service.providers()[0].get("last_success_at"), what="first refresh")
    client = create_app(service).test_client()
    simulator.state.set_fault("openai", "status", status=502)
    before = time.time()
    for _ in range(2):  # fail_max
        service.wait([service.refresh("victim")], timeout=10)
    after = time.time()
    wait_for(lambda: service.providers()[0]["breaker"]["state"] == "open", what="breaker to open")

    provider = client.get("/api/v1/providers/victim").get_json()
    assert before + 30 - 0.01 <= _next_try(provider["status_reason"]) <= after + 30 + 0.01
    assert _next_try(provider["status_reason"]) == _next_try(f"next try at {provider['breaker']['next_try_at']}")
    run = client.post("/api/v1/providers/victim/refresh?wait=true").get_json()["runs"][0]
    assert "circuit open" in run["error"]
    assert _next_try(run["error"]) == _next_try(provider["status_reason"])


def test_an_actors_crash_error_is_scrubbed_of_secrets_in_the_providers_answer(start_service, simulator, monkeypatch):
    secret = "plain-configured-key-7d3e9b1c"
    password = "Zq8s7Kp2mW4xR9"
    monkeypatch.setenv("CRASHY_TEST_KEY", secret)
    service = start_service([provider_config(simulator, "crashy", "openai_compatible", route="openai",
                                             api_key_env="CRASHY_TEST_KEY")], restart_backoff=0.01)
    wait_for(lambda: service.providers()[0].get("last_success_at"), what="the first refresh")
    ref = service.supervisor.ref("crashy").get()
    # The crash error quotes the message, as an exception of a client library quotes a URL or a key.
    ref.tell(f"via https://deploy:{password}@proxy.internal:3128 with {secret}")
    wait_for(lambda: (r := service.supervisor.ref("crashy").get()) is not None and r is not ref, what="the restart")
    (row,) = service.providers()  # as a follower is handed it, through the database
    error = row["actor"]["last_error"]
    assert "unexpected message" in error and secret not in error and password not in error, error
    answer = create_app(service).test_client().get("/api/v1/providers").get_data(as_text=True)
    assert "unexpected message" in answer and secret not in answer and password not in answer


@pytest.mark.parametrize("zone", ["Asia/Tokyo", "America/New_York"])
def test_next_try_at_reads_the_naive_utc_time_pybreaker_1_2_keeps_as_utc_in_any_local_zone(monkeypatch, zone):
    import pybreaker

    from actors.provider import breaker_storage, next_try_at

    monkeypatch.setenv("TZ", zone)
    time.tzset()
    try:
        storage = breaker_storage()
        breaker = pybreaker.CircuitBreaker(fail_max=1, reset_timeout=30.0, state_storage=storage)
        opened = time.time()
        breaker.open()
        # pybreaker 1.2 (setup.cfg allows it) keeps datetime.utcnow(): the same moment, naive.
        storage.opened_at = storage.opened_at.replace(tzinfo=None)
        assert next_try_at(breaker, storage) == pytest.approx(opened + 30.0, abs=1.0)
    finally:
        monkeypatch.undo()
        time.tzset()
