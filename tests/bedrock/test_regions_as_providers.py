"""Each Bedrock region is a provider over HTTP: listed, its refresh history, refreshed on its own."""
from __future__ import annotations

from web import create_app

REGIONS = ("us-east-1", "eu-west-1")


def test_regions_are_listed_under_providers_and_refresh_one_at_a_time(start_bedrock, simulator):
    service = start_bedrock(REGIONS)
    client = create_app(service).test_client()
    rows = {p["name"]: p for p in client.get("/api/v1/providers").get_json()["data"]}
    assert {"bedrock@us-east-1", "bedrock@eu-west-1"} <= set(rows)
    east = rows["bedrock@us-east-1"]
    assert east["format"] == "bedrock" and east["region"] == "us-east-1" and east["status"] == "healthy"
    assert east["model_count"] > 0 and east["breaker"]["state"] == "closed"
    assert client.get("/api/v1/providers/bedrock@us-east-1").get_json()["region"] == "us-east-1"
    assert client.get("/api/v1/providers/bedrock@us-east-1/health").get_json()["status"] == "healthy"

    runs = client.get("/api/v1/refresh/runs?provider=bedrock@us-east-1").get_json()["data"]
    assert runs and {r["provider"] for r in runs} == {"bedrock@us-east-1"}

    answer = client.post("/api/v1/providers/bedrock@eu-west-1/refresh?wait=true")
    assert answer.status_code == 200, answer.get_json()
    run = answer.get_json()["runs"][0]
    assert run["provider"] == "bedrock@eu-west-1" and run["outcome"] == "succeeded"
    newest = client.get("/api/v1/refresh/runs?provider=bedrock@eu-west-1&limit=1").get_json()["data"][0]
    assert newest["id"] == run["run_id"]
    # The region's row tells of its last run as a provider's does (they were null).
    row = client.get("/api/v1/providers/bedrock@eu-west-1").get_json()
    assert row["last_outcome"]["run_id"] == run["run_id"] and row["last_outcome"]["outcome"] == "succeeded"
    assert row["consecutive_failures"] == 0 and row["breaker"]["fail_counter"] == 0 and row["refreshing"] is None
    simulator.state.set_fault("bedrock@eu-west-1", "status", status=500, times=4)  # two calls a refresh
    failed = [client.post("/api/v1/providers/bedrock@eu-west-1/refresh?wait=true").get_json()["runs"][0]
              for _ in range(2)]
    assert [f["outcome"] for f in failed] == ["failed", "failed"]
    row = client.get("/api/v1/providers/bedrock@eu-west-1").get_json()
    assert row["last_outcome"]["run_id"] == failed[-1]["run_id"] and row["last_outcome"]["outcome"] == "failed"
    assert row["last_outcome"]["error"] == failed[-1]["error"] and row["consecutive_failures"] == 2
    assert row["breaker"]["fail_counter"] == 2
    region = next(r for r in client.get("/api/v1/bedrock/regions").get_json()["data"] if r["region"] == "eu-west-1")
    assert region["last_outcome"] == row["last_outcome"] and region["consecutive_failures"] == 2
    assert client.post("/api/v1/providers/bedrock@xx-nowhere-9/refresh").status_code == 404
    # Bedrock's models under its provider name, as ?provider=bedrock lists them (the route was a 404).
    listed = client.get("/api/v1/providers/bedrock/models?limit=1000").get_json()["data"]
    assert listed and all(m["id"].startswith("bedrock/") for m in listed)
    assert [m["id"] for m in listed] == [m["id"] for m in
                                         client.get("/api/v1/models?provider=bedrock&limit=1000").get_json()["data"]]
    # A region's own: Bedrock's models offered there, as ?provider=bedrock@<region> lists them (a 404 before).
    east = client.get("/api/v1/providers/bedrock@us-east-1/models?limit=1000").get_json()["data"]
    assert east and [m["id"] for m in east] == [m["id"] for m in client.get(
        "/api/v1/models?provider=bedrock@us-east-1&limit=1000").get_json()["data"]]
    assert all("us-east-1" in m["regions"] for m in east) and len(east) <= len(listed)
    at = client.get("/api/v1/providers/bedrock@us-east-1/models?limit=1000&as_of=2999-01-01").get_json()
    assert "data" in at, at
    assert client.get("/api/v1/providers/bedrock@xx-nowhere-9/models").status_code == 404


def test_refreshing_every_provider_includes_every_region(start_bedrock):
    service = start_bedrock(REGIONS)
    client = create_app(service).test_client()
    answer = client.post("/api/v1/refresh?wait=true")
    assert answer.status_code == 200
    assert {r["provider"] for r in answer.get_json()["runs"]} == {"bedrock@us-east-1", "bedrock@eu-west-1"}


def test_asking_a_region_without_bedrock_again_and_again_does_not_open_its_breaker(start_bedrock):
    """Each answer of a region without Bedrock counted in its breaker: a few manual refreshes
    opened it, and the region showed "circuit open" instead of why it is unavailable."""
    from discovery.simulator.formats.bedrock import NOT_OFFERED

    absent = NOT_OFFERED[0]
    service = start_bedrock(("us-east-1", absent), fail_max=2)
    client = create_app(service).test_client()
    for _ in range(4):
        run = client.post(f"/api/v1/providers/bedrock@{absent}/refresh?wait=true").get_json()["runs"][0]
        assert run["outcome"] == "failed"
    region = next(r for r in client.get("/api/v1/bedrock/regions").get_json()["data"] if r["region"] == absent)
    assert region["status"] == "unavailable" and region["breaker_state"] == "closed"
    assert "circuit" not in region["reason"] and region["fail_counter"] == 0


def test_bedrock_takes_its_regions_runs_and_routes_per_provider_refuse_a_region(start_bedrock):
    """provider=bedrock listed no refresh run (the runs are the regions'), and a region's name on
    /changes or /reconciliation was accepted and matched nothing."""
    service = start_bedrock(REGIONS)
    client = create_app(service).test_client()
    runs = client.get("/api/v1/refresh/runs?provider=bedrock").get_json()["data"]
    assert {r["provider"] for r in runs} == {"bedrock@us-east-1", "bedrock@eu-west-1"}
    assert [r["id"] for r in runs] == sorted((r["id"] for r in runs), reverse=True)
    only = client.get("/api/v1/refresh/runs?provider=bedrock@eu-west-1").get_json()["data"]
    assert only and {r["provider"] for r in only} == {"bedrock@eu-west-1"}
    for url in ("/api/v1/changes?from=2020-01-01&provider=bedrock@us-east-1",
                "/api/v1/reconciliation?provider=bedrock@us-east-1"):
        answer = client.get(url)
        assert answer.status_code == 400, url
        assert "provider=bedrock" in answer.get_json()["error"]["message"]
    assert client.get("/api/v1/changes?from=2020-01-01&provider=bedrock").get_json()["counts"]["added"] > 0
