"""A region actor that crashes is restarted by its supervisor with a state of its own."""
from __future__ import annotations

import threading
import time

from tests.bedrock.conftest import bedrock_settings, regions_settled
from tests.bedrock.test_regions_service import direct_model_in, expected_regions
from tests.conftest import wait_for
from tests.resilience.test_interrupted import crash_mid_refresh, refreshes_ended
from web import create_app

SOURCE = "bedrock@us-east-1"


def region_row(service) -> dict:
    (row,) = service.bedrock_regions()
    return row


def crash(service):
    """Kill the region's actor with a message it does not take; return once a new one runs."""
    old = service.supervisor.ref(SOURCE).get()
    old.tell("poison")
    return wait_for(lambda: (ref := service.supervisor.ref(SOURCE).get()) is not None and ref is not old and ref,
                    what="the region's actor to be restarted")


def test_a_restarted_region_actor_has_its_own_closed_breaker(start_bedrock, simulator):
    service = start_bedrock(("us-east-1",), reset_timeout=30.0)
    simulator.state.set_fault(SOURCE, "status", status=500)
    for _ in range(2):  # fail_max
        service.wait(service.refresh_bedrock(["us-east-1"]), timeout=10)
    assert region_row(service)["breaker_state"] == "open"

    crashed_at = time.time()
    crash(service)
    # The new actor's first refresh (refresh_on_start) fails once on the fault: below fail_max.
    wait_for(lambda: (region_row(service)["last_refresh_at"] or 0) > crashed_at and not region_row(service)["refreshing"],
             what="the restarted actor's first refresh")
    row = region_row(service)
    assert row["breaker_state"] == "closed" and row["breaker_next_try_at"] is None
    assert row["fail_counter"] == 1 and row["status"] == "failing"
    (provider,) = [p for p in service.providers() if p["name"] == SOURCE]
    assert provider["breaker"]["state"] == "closed" and provider["status"] == "unhealthy"
    assert row["model_count"]  # what the dead actor learned of the region stays


def test_a_restarted_region_actor_does_not_show_the_dead_actors_run(start_service, simulator):
    # No refresh at start (nor at the restart): the first one is asked for here.
    service = start_service([], bedrock=bedrock_settings(simulator, ["us-east-1"]), refresh_on_start=False)
    service.wait(service.refresh_bedrock(["us-east-1"]), timeout=10)
    simulator.state.set_latency(SOURCE, 2.0)
    (ticket,) = service.refresh_bedrock(["us-east-1"])
    wait_for(lambda: region_row(service)["refreshing_run"] == ticket.run_id, what="the refresh to be under way")
    timer_before = region_row(service)["next_refresh_at"]
    crash(service)
    row = wait_for(lambda: (r := region_row(service))["next_refresh_at"] != timer_before and r,
                   what="the new actor's timer")
    assert row["refreshing_run"] is None and row["refreshing"] is False


def give_up(service, source: str) -> None:
    """Crash the source's actor until its supervisor stops restarting it."""
    states = service.supervisor.child_states

    while states().get()[source]["state"] != "failed":
        ref = wait_for(lambda: service.supervisor.ref(source).get() or states().get()[source]["state"] == "failed",
                       what=f"{source} running")
        if ref is True:
            break
        ref.tell("poison")
        wait_for(lambda ref=ref: not ref.is_alive(), what="the crash")


def test_a_given_up_region_is_unavailable_and_ranked_last(start_service, simulator):
    regions = ("us-east-1", "us-west-2")
    simulator.state.set_latency("bedrock@us-west-2", 0.2)
    service = start_service([], bedrock=bedrock_settings(simulator, regions), max_restarts_per_minute=1)
    wait_for(lambda: regions_settled(service, regions), what="the first refreshes")
    model_id = f"bedrock/{direct_model_in(simulator, regions)}"
    assert service.best_regions_for_model(model_id) == ["us-east-1", "us-west-2"]  # the faster first

    give_up(service, SOURCE)
    wait_for(lambda: {r["region"]: r for r in service.bedrock_regions()}["us-east-1"]["status"] == "unavailable",
             what="the given-up region to be unavailable")
    row = {r["region"]: r for r in service.bedrock_regions()}["us-east-1"]
    assert "given up" in row["reason"]
    # Its breaker went with its actor: none is shown, as on its provider row (not a closed one).
    assert row["breaker_state"] is None and row["fail_counter"] == 0 and row["breaker_next_try_at"] is None
    assert service.best_regions_for_model(model_id) == ["us-west-2", "us-east-1"]
    assert service.best_regions_for_model(model_id, ["us-east-1"]) == ["us-west-2", "us-east-1"]

    client = create_app(service).test_client()
    answer = client.get(f"/api/v1/providers/{SOURCE}/health")
    assert answer.status_code == 503, answer.get_json()
    assert client.get("/api/v1/providers/bedrock@us-west-2/health").status_code == 200
    (provider,) = [p for p in service.providers() if p["name"] == SOURCE]
    assert provider["status"] == "failed"
    assert "breaker" not in provider  # it went with the actor


def test_readyz_does_not_wait_for_a_region_given_up_before_its_first_refresh(start_service, simulator):
    regions = ("us-east-1", "us-west-2")
    simulator.state.set_latency(SOURCE, 2.0)  # its first refresh is still under way when it is given up
    service = start_service([], bedrock=bedrock_settings(simulator, regions), max_restarts_per_minute=1)
    client = create_app(service).test_client()
    give_up(service, SOURCE)
    wait_for(lambda: regions_settled(service, ["us-west-2"]), what="the other region's first refresh")
    assert not region_row_of(service, "us-east-1")["last_refresh_at"]

    answer = wait_for(lambda: (a := client.get("/readyz")).status_code == 200 and a, timeout=5, what="ready")
    body = answer.get_json()
    assert body["pending"] == [] and body["given_up"] == [SOURCE]
    assert SOURCE not in body["attempted"]


def region_row_of(service, region: str) -> dict:
    return {r["region"]: r for r in service.bedrock_regions()}[region]


def test_a_region_crashing_mid_refresh_records_the_run_interrupted_and_writes_nothing(start_service, simulator):
    # No refresh at start, nor at the restart: a new actor's own refresh would move last_success_at.
    service = start_service([], bedrock=bedrock_settings(simulator, ["us-east-1"]), refresh_on_start=False)
    service.wait(service.refresh_bedrock(["us-east-1"]), timeout=10)
    committed = service.view.provider_rows[SOURCE]["last_success_at"]
    simulator.state.set_latency(SOURCE, 0.5)
    ended = refreshes_ended(service, SOURCE)
    (ticket,) = service.refresh_bedrock(["us-east-1"])
    crash_mid_refresh(service, SOURCE, ticket, ended)

    outcome = ticket.future.result(timeout=5)
    assert outcome.outcome == "interrupted" and "crashed" in outcome.error
    wait_for(lambda: service.refresh_run(ticket.run_id)["outcome"] != "running", what="the run's end")
    assert service.refresh_run(ticket.run_id)["outcome"] == "interrupted"
    assert service.view.provider_rows[SOURCE]["last_success_at"] == committed  # nothing of it was written


def test_a_region_stopped_before_its_profiles_call_began_ends_its_refresh_at_once(start_service, simulator):
    # The profiles worker drops what it has not begun when the actor stops: the refresh asks for
    # them itself, instead of waiting for them until refresh_timeout (300 s).
    service = start_service([], bedrock=bedrock_settings(simulator, ["us-east-1"]), refresh_on_start=False)
    service.wait(service.refresh_bedrock(["us-east-1"]), timeout=10)
    actor = service.supervisor.ref(SOURCE).get()._actor_weakref()  # the live actor, to hold its worker
    gate = threading.Event()
    actor._calls.submit(gate.wait, 10)  # the region's profiles call queues behind this one
    simulator.state.set_latency(SOURCE, 0.3)
    ended = refreshes_ended(service, SOURCE)
    (ticket,) = service.refresh_bedrock(["us-east-1"])
    ticket.underway.wait(5)
    service.supervisor.ref(SOURCE).get().tell("poison")
    wait_for(lambda: service.supervisor.ref(SOURCE).get() is not actor.actor_ref, what="the region's restart")
    gate.set()  # the stopped worker now drops the queued profiles call
    wait_for(lambda: refreshes_ended(service, SOURCE) > ended, timeout=5, what="the dead actor's refresh to end")
    assert ticket.future.result(timeout=5).outcome == "interrupted"


def test_an_open_region_is_tried_again_when_its_breaker_half_opens(start_bedrock, simulator):
    service = start_bedrock(("us-east-1",), reset_timeout=1.0)  # refresh_interval is an hour
    simulator.state.set_fault(SOURCE, "status", status=500)
    for _ in range(2):  # fail_max
        service.wait(service.refresh_bedrock(["us-east-1"]), timeout=10)
    row = region_row(service)
    assert row["breaker_state"] == "open"
    assert row["next_refresh_at"] - row["breaker_next_try_at"] < 1.0
    cleared = time.time()
    simulator.state.clear_faults(SOURCE)
    wait_for(lambda: (region_row(service)["last_success_at"] or 0) > cleared, timeout=5,
             what="a refresh once the breaker lets a call through")
    assert region_row(service)["breaker_state"] == "closed"


def test_a_region_given_up_during_its_first_refresh_does_not_hold_back_the_others_models(start_service, simulator):
    regions = ("us-east-1", "us-west-2")
    simulator.state.set_latency(SOURCE, 2.0)  # its first refresh is still under way when it crashes
    service = start_service([], bedrock=bedrock_settings(simulator, regions), max_restarts_per_minute=1)
    client = create_app(service).test_client()
    wait_for(lambda: regions_settled(service, ["us-west-2"]), what="the other region's first refresh")
    give_up(service, SOURCE)

    # The crash ended us-east-1's first run (interrupted): the answer us-west-2 gave at start, held
    # while us-east-1 owed its own, is merged now, not when the start-up hold runs out (30 s).
    wait_for(lambda: client.get("/readyz").status_code == 200, timeout=5, what="ready")
    expected = set(expected_regions(simulator, ["us-west-2"]))
    wait_for(lambda: expected <= set(service.index.ids()), timeout=3, what="us-west-2's models in the catalog")


def test_a_given_up_regions_reason_has_the_crash_error_scrubbed_of_secrets(start_service, simulator):
    secret = "test-secret-not-real"  # AWS_SECRET_ACCESS_KEY (aws_env): a configured secret
    password = "Zq8s7Kp2mW4xR9"
    service = start_service([], bedrock=bedrock_settings(simulator, ["us-east-1"]), max_restarts_per_minute=1)
    wait_for(lambda: regions_settled(service, ["us-east-1"]), what="the first refresh")
    states = service.supervisor.child_states
    while states().get()[SOURCE]["state"] != "failed":
        ref = wait_for(lambda: service.supervisor.ref(SOURCE).get() or states().get()[SOURCE]["state"] == "failed",
                       what=f"{SOURCE} running")
        if ref is True:
            break
        # The crash error quotes the message, as an error of botocore's quotes a URL or a key.
        ref.tell(f"via https://deploy:{password}@proxy.internal:3128 with {secret}")
        wait_for(lambda ref=ref: not ref.is_alive(), what="the crash")
    row = wait_for(lambda: (r := region_row(service))["given_up"] and r, what="the region given up")
    assert "given up" in row["reason"] and "[REDACTED]" in row["reason"]
    assert secret not in row["reason"] and password not in row["reason"], row["reason"]
    answer = create_app(service).test_client().get("/api/v1/bedrock/regions").get_data(as_text=True)
    assert "given up" in answer and secret not in answer and password not in answer
