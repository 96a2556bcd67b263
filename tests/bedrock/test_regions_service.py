"""Bedrock end to end: real boto3 against the simulator, one real actor per region, real SQLite."""
from __future__ import annotations

import re
import time
from collections import defaultdict
from datetime import datetime

import pytest

from discovery.bedrock import model_id_from_arn
from tests.conftest import wait_for
from web import create_app

# Five regions with different model sets, and latencies far enough apart to rank reliably (the
# in-process simulator adds up to ~0.1 s of scheduling noise to a call now and then).
LATENCIES = {"us-east-1": 0.02, "eu-west-1": 0.17, "us-west-2": 0.32, "ap-northeast-1": 0.47, "eu-central-1": 0.62}
REGIONS = tuple(LATENCIES)


def expected_regions(simulator, regions) -> dict[str, set[str]]:
    """Model id → regions that list it or reach it through a profile, read from the simulator's records."""
    out: dict[str, set[str]] = defaultdict(set)
    for region in regions:
        for record in simulator.state.models(f"bedrock@{region}"):
            if "modelId" in record:
                out[f"bedrock/{record['modelId']}"].add(region)
            for target in record.get("models", ()):
                out[f"bedrock/{model_id_from_arn(target['modelArn'])}"].add(region)
    return dict(out)


def direct_model_in(simulator, regions) -> str:
    """An on-demand model listed in every one of ``regions``."""
    sets = [{r["modelId"] for r in simulator.state.models(f"bedrock@{region}")
             if "ON_DEMAND" in r.get("inferenceTypesSupported", ())} for region in regions]
    return min(set.intersection(*sets))


def test_five_regions_list_each_model_once_with_the_regions_that_serve_it(start_bedrock, simulator):
    service = start_bedrock(REGIONS, LATENCIES)
    expected = expected_regions(simulator, REGIONS)
    assert len({frozenset(s) for s in expected.values()}) > 3, "the regions should offer different model sets"
    models = service.index.by_provider["bedrock"]
    assert [m.id for m in models] == sorted(expected)  # once each
    for m in models:
        assert set(m.regions) == expected[m.id], m.id
    assert all(r["status"] == "available" for r in service.bedrock_regions())

    profile_only = service.index.get("bedrock/anthropic.claude-sonnet-4-5-20250929-v1:0")
    rows = {r["region"]: r for r in service.model_regions(profile_only.id)}
    assert rows["eu-west-1"]["access"] == "inference_profile"
    assert "eu.anthropic.claude-sonnet-4-5-20250929-v1:0" in rows["eu-west-1"]["inference_profiles"]
    assert "us.anthropic.claude-sonnet-4-5-20250929-v1:0" in rows["us-east-1"]["inference_profiles"]
    assert service.is_model_available_in_region("eu.anthropic.claude-sonnet-4-5-20250929-v1:0", "eu-west-1")
    assert not service.is_model_available_in_region("bedrock/no.such-model", "us-east-1")


def test_best_regions_honour_preferences_then_measured_latency(start_bedrock, simulator):
    service = start_bedrock(REGIONS, LATENCIES)
    model_id = f"bedrock/{direct_model_in(simulator, REGIONS)}"
    by_latency = sorted(REGIONS, key=LATENCIES.get)
    service.wait(service.refresh_bedrock(), timeout=10)  # more calls measured: a steadier average

    assert service.best_regions_for_model(model_id) == by_latency
    preferred = ["eu-central-1", "us-west-2"]
    assert service.best_regions_for_model(model_id, preferred) == preferred + [
        r for r in by_latency if r not in preferred]

    client = create_app(service).test_client()
    url = f"/api/v1/bedrock/models/{model_id}/best-regions?preferred=eu-central-1,us-west-2,sa-east-1"
    body = client.get(url).get_json()
    assert [r["region"] for r in body["regions"]] == preferred + [r for r in by_latency if r not in preferred]
    assert body["preferred_unavailable"] == ["sa-east-1"]
    assert body["regions"][0]["preferred"] is True and body["regions"][-1]["latency_ms"] > 400


def test_region_going_dark_opens_only_its_breaker_and_keeps_last_known_regions(start_bedrock, simulator):
    regions = ("us-east-1", "us-west-2", "eu-west-1")
    # Long enough for the checks below to run before the open region's trial call (made by itself).
    service = start_bedrock(regions, reset_timeout=1.0)
    model_id = f"bedrock/{direct_model_in(simulator, regions)}"
    assert set(service.index.get(model_id).regions) == set(regions)

    simulator.state.set_fault("bedrock@eu-west-1", "status", status=500)
    simulator.state.remove_model("bedrock@eu-west-1", model_id.removeprefix("bedrock/"))
    for _ in range(2):  # fail_max
        (outcome,) = service.wait(service.refresh_bedrock(["eu-west-1"]), timeout=10)
        assert outcome.outcome == "failed" and "500" in outcome.error
    others = service.wait(service.refresh_bedrock(["us-east-1", "us-west-2"]), timeout=10)
    assert [o.outcome for o in others] == ["succeeded", "succeeded"]

    status = {r["region"]: r for r in service.bedrock_regions()}
    assert status["eu-west-1"]["breaker_state"] == "open" and status["eu-west-1"]["status"] == "circuit_open"
    assert status["us-east-1"]["breaker_state"] == "closed" and status["us-west-2"]["status"] == "available"
    # Dark, not gone: the model keeps the region it was last seen in.
    assert "eu-west-1" in service.index.get(model_id).regions

    cleared = time.time()
    simulator.state.clear_faults("bedrock@eu-west-1")
    # No refresh asked for: the region is tried again by itself once its breaker lets a call through.
    wait_for(lambda: ({r["region"]: r for r in service.bedrock_regions()}["eu-west-1"]["last_success_at"] or 0)
             > cleared, timeout=10, what="eu-west-1 to answer again once its breaker lets a call through")
    # Left out of one answer, the model is missing from the region within its grace; a second removes it.
    assert "eu-west-1" in service.index.get(model_id).regions
    (outcome,) = service.wait(service.refresh_bedrock(["eu-west-1"]), timeout=10)
    assert outcome.outcome == "succeeded"
    assert set(service.index.get(model_id).regions) == {"us-east-1", "us-west-2"}


def test_model_leaving_one_region_produces_an_updated_event_naming_regions(start_bedrock, simulator):
    regions = ("us-east-1", "us-west-2")
    service = start_bedrock(regions)
    model_id = f"bedrock/{direct_model_in(simulator, regions)}"
    events = []
    service.subscribe(events.extend, kinds=["updated"], model_glob=model_id)

    simulator.state.remove_model("bedrock@us-west-2", model_id.removeprefix("bedrock/"))
    (outcome,) = service.wait(service.refresh_bedrock(["us-west-2"]), timeout=10)
    assert outcome.outcome == "succeeded" and outcome.updated == 0  # missing, within its grace
    (outcome,) = service.wait(service.refresh_bedrock(["us-west-2"]), timeout=10)
    assert outcome.outcome == "succeeded" and outcome.updated >= 1

    (event,) = wait_for(lambda: [e for e in events if e.model_id == model_id], what="the updated event")
    assert event.data["diff"]["regions"] == [["us-east-1", "us-west-2"], ["us-east-1"]]
    history = create_app(service).test_client().get(f"/api/v1/models/{model_id}/history").get_json()
    assert history["versions"][-1]["change"] == "updated" and "regions" in history["versions"][-1]["diff"]


def test_region_not_offering_bedrock_is_unavailable_and_rechecked_only_slowly(start_bedrock, simulator):
    service = start_bedrock(("us-east-1", "af-south-1"), refresh_interval=0.2, jitter=0.0,
                            unavailable_recheck_interval=3600.0)
    status = {r["region"]: r for r in service.bedrock_regions()}
    assert status["af-south-1"]["status"] == "unavailable"
    assert "UnrecognizedClientException" in status["af-south-1"]["reason"]
    assert status["af-south-1"]["next_refresh_at"] - status["af-south-1"]["last_refresh_at"] > 3000
    asked = simulator.state.request_count("bedrock@af-south-1")
    seen = simulator.state.request_count("bedrock@us-east-1")
    wait_for(lambda: simulator.state.request_count("bedrock@us-east-1") >= seen + 4,
             what="two timer refreshes of the available region")
    assert simulator.state.request_count("bedrock@af-south-1") == asked
    # A refresh of everything leaves it out, saying why (its run would fail: `discovery refresh`
    # of every source exited 1 in the demo for it); refreshed by name, it is asked now.
    tickets, skipped = service.refresh_many()
    assert [s["provider"] for s in skipped] == ["bedrock@af-south-1"] and skipped[0]["reason"] == "unavailable"
    assert "offers no Bedrock to this account" in skipped[0]["message"]
    outcomes = service.wait(tickets, timeout=30)
    assert outcomes and all(o.outcome == "succeeded" for o in outcomes), outcomes
    assert simulator.state.request_count("bedrock@af-south-1") == asked
    service.wait([service.refresh("bedrock@af-south-1")], timeout=30)
    assert simulator.state.request_count("bedrock@af-south-1") > asked


def test_credentials_aws_does_not_know_in_a_default_region_are_an_auth_failure_not_an_unavailable_region(
        start_bedrock, simulator):
    """us-east-1 is enabled for every account: its UnrecognizedClientException is the credentials
    (a wrong or revoked key), retried at the refresh interval, not shelved for the six hours of an
    unavailable region; the opt-in af-south-1's same answer still means the region is not enabled."""
    simulator.state.set_option("bedrock@us-east-1", "offered", False)
    service = start_bedrock(("us-east-1", "af-south-1"), refresh_interval=0.2, jitter=0.0,
                            unavailable_recheck_interval=3600.0, fail_max=100)
    status = {r["region"]: r for r in service.bedrock_regions()}
    assert status["af-south-1"]["status"] == "unavailable"
    assert status["us-east-1"]["status"] == "failing"
    assert "UnrecognizedClientException" in status["us-east-1"]["reason"]
    assert "AWS does not know these credentials" in status["us-east-1"]["reason"]
    assert status["us-east-1"]["next_refresh_at"] - status["us-east-1"]["last_refresh_at"] < 60
    seen = simulator.state.request_count("bedrock@us-east-1")
    wait_for(lambda: simulator.state.request_count("bedrock@us-east-1") >= seen + 2,
             what="us-east-1 to be asked again at its refresh interval")
    # The key put right: its next refresh succeeds.
    simulator.state.set_option("bedrock@us-east-1", "offered", True)
    wait_for(lambda: {r["region"]: r for r in service.bedrock_regions()}["us-east-1"]["status"] == "available",
             what="us-east-1 to answer again")


def test_access_denied_region_is_unavailable_with_the_reason(start_bedrock, simulator):
    simulator.state.set_option("bedrock@eu-west-1", "access_denied", True)
    service = start_bedrock(("eu-west-1",))
    (row,) = service.bedrock_regions()
    assert row["status"] == "unavailable" and "AccessDeniedException" in row["reason"]


def test_discover_regions_adds_the_regions_ec2_reports_enabled(start_service, simulator):
    from tests.bedrock.conftest import bedrock_settings

    simulator.state.set_models("ec2", [{"regionName": r, "optInStatus": "opt-in-not-required"}
                                       for r in ("us-east-1", "eu-west-3", "ap-south-1")]
                               + [{"regionName": "me-south-1", "optInStatus": "not-opted-in"}])
    service = start_service([], bedrock=bedrock_settings(simulator, ("us-east-1",), discover_regions=True))
    wait_for(lambda: {r["region"] for r in service.bedrock_regions()} == {"us-east-1", "eu-west-3", "ap-south-1"},
             what="the regions EC2 reported")
    wait_for(lambda: all(r["status"] == "available" for r in service.bedrock_regions()), what="their refreshes")


def test_regions_endpoint_shows_status_latency_and_model_count(start_bedrock, simulator):
    service = start_bedrock(("us-east-1", "af-south-1"), {"us-east-1": 0.05})
    body = create_app(service).test_client().get("/api/v1/bedrock/regions").get_json()
    rows = {r["region"]: r for r in body["data"]}
    assert body["enabled"] is True
    assert rows["us-east-1"]["status"] == "available" and rows["us-east-1"]["latency_ms"] >= 50
    assert rows["us-east-1"]["model_count"] == len(expected_regions(simulator, ["us-east-1"]))
    served = [r for _, r in simulator.state.model_items("bedrock@us-east-1")
              if "inferenceProfileId" in r and r.get("type") == "SYSTEM_DEFINED"]
    assert served and rows["us-east-1"]["profile_count"] == len(served)
    assert rows["af-south-1"]["status"] == "unavailable" and rows["af-south-1"]["last_error"]


def test_api_answers_json_errors_for_unknown_models_and_bad_parameters(start_bedrock):
    client = create_app(start_bedrock(("us-east-1",))).test_client()
    for path, status, code in [
        ("/api/v1/bedrock/models/bedrock/no.such-model-v1:0/regions", 404, "model_not_found"),
        ("/api/v1/bedrock/models/openai/gpt-4o/best-regions", 404, "model_not_found"),
        ("/api/v1/bedrock/models/amazon.nova-lite-v1:0/best-regions?preferred=us-east-1,Narnia", 400,
         "invalid_parameter"),
        ("/api/v1/bedrock/models/amazon.nova-lite-v1:0/best-regions?prefered=us-east-1", 400, "invalid_parameter"),
    ]:
        resp = client.get(path)
        assert resp.status_code == status and resp.get_json()["error"]["code"] == code, path
    assert client.get("/api/v1/bedrock/models/amazon.nova-lite-v1:0/regions").get_json()["model_id"] == \
        "bedrock/amazon.nova-lite-v1:0"


def test_an_open_region_breaker_says_when_it_lets_the_next_call_through(start_bedrock, simulator):
    service = start_bedrock(("us-east-1",), reset_timeout=30.0)
    simulator.state.set_fault("bedrock@us-east-1", "status", status=500)
    before = time.time()
    for _ in range(2):  # fail_max
        service.wait(service.refresh_bedrock(["us-east-1"]), timeout=10)
    after = time.time()
    (row,) = service.bedrock_regions()
    assert row["breaker_state"] == "open"
    assert before + 30 - 0.01 <= row["breaker_next_try_at"] <= after + 30 + 0.01

    (outcome,) = service.wait(service.refresh_bedrock(["us-east-1"]), timeout=10)
    match = re.search(r"circuit open: .*next try at (\S+Z)", outcome.error)
    assert match, outcome.error
    said = datetime.fromisoformat(match.group(1).replace("Z", "+00:00")).timestamp()
    assert said == pytest.approx(row["breaker_next_try_at"], abs=1e-5)
    (provider,) = [p for p in service.providers() if p["name"] == "bedrock@us-east-1"]
    assert provider["breaker"]["next_try_at"] == row["breaker_next_try_at"]
