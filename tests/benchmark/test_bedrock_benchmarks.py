"""Bedrock benchmarks through real boto3 against the simulator: best-regions follows measured TTFT."""
from __future__ import annotations

from click.testing import CliRunner

from discovery.settings import BenchmarkSettings, BenchmarkTarget
from tests.bedrock.conftest import bedrock_settings, regions_settled
from tests.benchmark.conftest import on_demand_text_model
from tests.conftest import wait_for
from web import create_app
from web.cli import cli
from web.server import ServerThread

# Control-plane latency says us-east-1 is closest; the model's measured TTFT says the opposite.
LATENCY = {"us-east-1": 0.01, "eu-west-1": 0.08, "us-west-2": 0.16}
TTFT = {"us-east-1": 0.25, "eu-west-1": 0.15, "us-west-2": 0.05}


def on_demand_in_every(simulator, regions) -> str:
    """A chat model every one of ``regions`` serves on demand."""
    on_demand = [{k for k, r in simulator.state.model_items(f"bedrock@{region}")
                  if "ON_DEMAND" in r.get("inferenceTypesSupported", ()) and r.get("outputModalities") == ["TEXT"]}
                 for region in regions]
    return min(set.intersection(*on_demand))


def benchmarking(start_service, simulator, regions):
    """(a service watching and benchmarking ``regions``, one sample a request, each region's first
    refresh done; its benchmark settings)."""
    bench = BenchmarkSettings(start_delay=3600.0, samples=1, targets=(
        BenchmarkTarget("bedrock", enabled=True, allow_unknown_prices=True),))
    settings = bedrock_settings(simulator, regions, runtime_endpoint_url=simulator.url + "/bedrock/{region}")
    service = start_service([], bedrock=settings, benchmarks=bench)
    wait_for(lambda: regions_settled(service, regions), timeout=20, what="every region's first refresh")
    return service, bench


def test_best_regions_puts_the_region_with_the_lowest_measured_ttft_first(start_service, simulator):
    regions = tuple(LATENCY)
    for region in regions:
        provider = f"bedrock@{region}"
        simulator.state.models(provider)
        simulator.state.set_latency(provider, LATENCY[region])
        simulator.state.set_stream(provider, ttft=TTFT[region], tokens_per_second=400, output_tokens=16)
    model_id = f"bedrock/{on_demand_in_every(simulator, regions)}"
    bench = BenchmarkSettings(start_delay=3600.0, samples=2, targets=(
        BenchmarkTarget("bedrock", enabled=True, allow_unknown_prices=True),))
    settings = bedrock_settings(simulator, regions, runtime_endpoint_url=simulator.url + "/bedrock/{region}")
    service = start_service([], bedrock=settings, benchmarks=bench, admin_token="bench-admin-token-0123")
    wait_for(lambda: regions_settled(service, regions), timeout=20, what="every region's first refresh")
    service.wait(service.refresh_bedrock(), timeout=10)  # a steadier control-plane average
    assert service.best_regions_for_model(model_id) == ["us-east-1", "eu-west-1", "us-west-2"]

    client = create_app(service).test_client()
    resp = client.post(f"/api/v1/models/{model_id}/benchmarks?wait=true",
                       headers={"Authorization": "Bearer bench-admin-token-0123"})
    assert resp.status_code == 200
    body = resp.get_json()
    assert sorted(r["region"] for r in body["runs"]) == sorted(regions)
    assert all(r["outcome"] == "succeeded" and r["probed"] == 1 for r in body["runs"])
    elsewhere = client.post(f"/api/v1/models/{model_id}/benchmarks?region=xx-nowhere-1",
                            headers={"Authorization": "Bearer bench-admin-token-0123"})
    assert elsewhere.status_code == 400  # not a watched region: a 400 naming them
    assert "unknown region 'xx-nowhere-1'" in elsewhere.get_json()["error"]["message"]

    ranked = ["us-west-2", "eu-west-1", "us-east-1"]
    assert service.best_regions_for_model(model_id) == ranked
    best = client.get(f"/api/v1/bedrock/models/{model_id}/best-regions").get_json()
    assert [r["region"] for r in best["regions"]] == ranked
    assert best["regions"][0]["ttft_ms"] < best["regions"][-1]["ttft_ms"]
    record = client.get(f"/api/v1/models/{model_id}").get_json()
    assert record["performance"]["region"] == "us-west-2" and set(record["performance"]["regions"]) == set(regions)


def test_bedrock_probes_keep_the_benchmark_timeout_between_reads_and_for_the_whole_answer(start_service, simulator):
    region = "eu-west-1"
    model_id = f"bedrock/{on_demand_text_model(simulator, region)}"
    # About 3 s an answer, a token every 0.25 s: within the control plane's 3 s timeout, past 3 x 0.5 s.
    simulator.state.set_stream(f"bedrock@{region}", ttft=0.05, tokens_per_second=4, output_tokens=12)
    bench = BenchmarkSettings(start_delay=3600.0, samples=1, timeout=0.5, targets=(
        BenchmarkTarget("bedrock", enabled=True, allow_unknown_prices=True),))
    settings = bedrock_settings(simulator, (region,), fail_max=10,
                                runtime_endpoint_url=simulator.url + "/bedrock/{region}")
    service = start_service([], bedrock=settings, benchmarks=bench)
    wait_for(lambda: regions_settled(service, (region,)), timeout=20, what="the region's first refresh")

    service.wait_benchmarks(service.run_benchmark(model_id), timeout=30)
    [result] = service.benchmark_history(model_id)
    assert result["sample_count"] == 0
    assert result["error"] == f"timeout: bedrock {region} did not finish its answer within 1.5s"
    assert all(f["after_first_token"] for f in result["failures"])
    # A pause longer than the timeout before the first token is a read timeout, not a wait of a second.
    simulator.state.set_stream(f"bedrock@{region}", ttft=1.0, tokens_per_second=400)
    service.wait_benchmarks(service.run_benchmark(model_id), timeout=30)
    latest = service.benchmark_history(model_id)[0]
    assert latest["sample_count"] == 0
    assert latest["error"] == f"timeout: bedrock {region} stopped sending mid-answer (read timeout)"


def test_leaderboard_rows_each_meet_max_ttft_ms_not_only_the_models_best_region(start_service, simulator):
    regions = ("us-east-1", "eu-west-1")
    for region, ttft in zip(regions, (0.05, 0.3)):
        simulator.state.set_stream(f"bedrock@{region}", ttft=ttft, tokens_per_second=400, output_tokens=8)
    model_id = f"bedrock/{on_demand_in_every(simulator, regions)}"
    service, _ = benchmarking(start_service, simulator, regions)
    runs = service.wait_benchmarks(service.run_benchmark(model_id), timeout=30)
    assert sorted(r.region for r in runs) == sorted(regions)

    client = create_app(service).test_client()
    rows = client.get("/api/v1/benchmarks?max_ttft_ms=200").get_json()
    assert [(r["model_id"], r["region"]) for r in rows["data"]] == [(model_id, "us-east-1")] and rows["total"] == 1
    assert rows["data"][0]["ttft_ms"] <= 200
    slow = client.get("/api/v1/benchmarks?max_ttft_ms=200&region=eu-west-1").get_json()
    assert slow["data"] == [] and slow["total"] == 0
    both = client.get("/api/v1/benchmarks?max_ttft_ms=1000").get_json()
    assert sorted(r["region"] for r in both["data"]) == sorted(regions)


def test_benchmark_routes_refuse_an_unknown_region_and_a_region_given_as_the_provider(start_service, simulator):
    regions = ("us-east-1", "eu-west-1")
    bench = BenchmarkSettings(start_delay=3600.0, targets=(BenchmarkTarget("bedrock", enabled=True),))
    service = start_service([], bedrock=bedrock_settings(simulator, regions), benchmarks=bench)
    wait_for(lambda: regions_settled(service, regions), timeout=20, what="every region's first refresh")
    model_id = f"bedrock/{on_demand_in_every(simulator, regions)}"
    client = create_app(service).test_client()
    for url in ("/api/v1/benchmarks?region=nowhere-1", "/api/v1/benchmarks/runs?region=nowhere-1",
                f"/api/v1/models/{model_id}/benchmarks?region=nowhere-1"):
        resp = client.get(url)
        assert resp.status_code == 400, url
        assert resp.get_json()["error"]["message"] == "unknown region 'nowhere-1'; known: eu-west-1, us-east-1"
    for url in ("/api/v1/benchmarks?provider=bedrock@us-east-1", "/api/v1/benchmarks/runs?provider=bedrock@us-east-1"):
        resp = client.get(url)
        assert resp.status_code == 400, url
        assert "provider=bedrock&region=us-east-1" in resp.get_json()["error"]["message"]
    for url in ("/api/v1/benchmarks?provider=bedrock&region=us-east-1",
                "/api/v1/benchmarks/runs?provider=bedrock&region=us-east-1",
                f"/api/v1/models/{model_id}/benchmarks?region=eu-west-1"):
        assert client.get(url).status_code == 200, url
    # Starting one is a 400 naming the watched regions too (it was a 409 "refused"), for a
    # Bedrock model and any other; nothing starts.
    auth = {"Authorization": f"Bearer {service.settings.admin_token}"} if service.settings.admin_token else {}
    for region in ("mars-central-9", "not*valid"):
        resp = client.post(f"/api/v1/models/{model_id}/benchmarks?region={region}", headers=auth)
        assert resp.status_code == 400, (region, resp.get_json())
        assert resp.get_json()["error"]["message"] == f"unknown region {region!r}; watched: eu-west-1, us-east-1"
    assert service.benchmark_runs() == []


def test_a_region_the_benchmark_settings_leave_out_is_named_as_the_reason(start_service, simulator):
    """The 409 said "set [benchmarks.providers.bedrock] enabled = true" where that was set and the
    region was left out by the table's regions."""
    regions = ("us-east-1", "eu-west-1")
    bench = BenchmarkSettings(start_delay=3600.0, targets=(BenchmarkTarget("bedrock", enabled=True,
                                                                           regions=("eu-west-1",)),))
    service = start_service([], bedrock=bedrock_settings(simulator, regions), benchmarks=bench)
    wait_for(lambda: regions_settled(service, regions), timeout=20, what="every region's first refresh")
    model_id = f"bedrock/{on_demand_in_every(simulator, regions)}"
    resp = create_app(service).test_client().post(f"/api/v1/models/{model_id}/benchmarks?region=us-east-1")
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "benchmarks_disabled"
    assert resp.get_json()["error"]["message"] == (
        "benchmarking is not enabled for bedrock in us-east-1: [benchmarks.providers.bedrock] regions "
        "(eu-west-1) leave us-east-1 out")


def test_runs_of_a_region_no_longer_watched_stay_readable_by_region(start_service, simulator):
    regions = ("us-east-1", "eu-west-1")
    model_id = f"bedrock/{on_demand_in_every(simulator, regions)}"
    service, bench = benchmarking(start_service, simulator, regions)
    # eu-west-1's run keeps no sample: the region is known from its run row alone.
    simulator.state.set_fault("bedrock@eu-west-1", "status", status=400)
    [run] = service.wait_benchmarks(service.run_benchmark(model_id, "eu-west-1"), timeout=20)
    assert run.region == "eu-west-1" and run.outcome == "failed"
    service.stop()
    again = start_service([], bedrock=bedrock_settings(simulator, ("us-east-1",)), benchmarks=bench)
    wait_for(lambda: regions_settled(again, ("us-east-1",)), timeout=20, what="the region's first refresh")
    client = create_app(again).test_client()
    runs = client.get("/api/v1/benchmarks/runs?region=eu-west-1")
    assert runs.status_code == 200 and [r["id"] for r in runs.get_json()["data"]] == [run.id]
    history = client.get(f"/api/v1/models/{model_id}/benchmarks?region=eu-west-1")
    assert history.status_code == 200 and history.get_json()["history"][0]["error"]
    assert client.get("/api/v1/benchmarks/runs?region=ap-south-1").status_code == 400


def test_a_region_denying_the_model_is_asked_once_a_run_not_once_a_sample(start_service, simulator):
    """AccessDeniedException to InvokeModelWithResponseStream was asked again for every sample
    (four requests with samples=3), though the answer could not change within the run."""
    regions = ("us-east-1",)
    simulator.state.set_stream("bedrock@us-east-1", ttft=0.01, tokens_per_second=400, output_tokens=8)
    bench = BenchmarkSettings(start_delay=3600.0, samples=3, targets=(
        BenchmarkTarget("bedrock", enabled=True, allow_unknown_prices=True),))
    settings = bedrock_settings(simulator, regions, runtime_endpoint_url=simulator.url + "/bedrock/{region}")
    service = start_service([], bedrock=settings, benchmarks=bench)
    wait_for(lambda: regions_settled(service, regions), timeout=20, what="the region's first refresh")
    model_id = f"bedrock/{on_demand_in_every(simulator, regions)}"
    simulator.state.set_option("bedrock@us-east-1", "access_denied", True)
    [run] = service.wait_benchmarks(service.run_benchmark(model_id), timeout=20)
    assert run.requests == 1, run
    [result] = service.benchmark_history(model_id)
    assert result["sample_count"] == 0 and len(result["failures"]) == 1
    assert "AccessDeniedException" in result["failures"][0]["message"]
    assert "no more samples of this model in this run" in result["failures"][0]["message"]


def test_a_region_failing_since_its_last_measurement_ranks_after_one_that_measures(start_service, simulator, db_url):
    """The board held measurements only: a region whose key lost access after it was measured
    stayed first in best-regions, the leaderboard and the model's performance, with no sign."""
    regions = ("us-east-1", "us-west-2")
    for region in regions:
        simulator.state.set_stream(f"bedrock@{region}", ttft=TTFT[region], tokens_per_second=400, output_tokens=8)
    service, _ = benchmarking(start_service, simulator, regions)
    model_id = f"bedrock/{on_demand_in_every(simulator, regions)}"
    service.wait_benchmarks(service.run_benchmark(model_id), timeout=30)
    assert service.best_regions_for_model(model_id) == ["us-west-2", "us-east-1"]

    simulator.state.set_option("bedrock@us-west-2", "access_denied", True)
    service.wait_benchmarks(service.run_benchmark(model_id, region="us-west-2"), timeout=30)

    def check(svc) -> None:
        assert svc.best_regions_for_model(model_id) == ["us-east-1", "us-west-2"]
        client = create_app(svc).test_client()
        ranked = client.get(f"/api/v1/bedrock/models/{model_id}/best-regions").get_json()["regions"]
        assert [r["region"] for r in ranked] == ["us-east-1", "us-west-2"]
        assert ranked[0]["benchmark_failed_at"] is None and ranked[0]["benchmark_error"] is None
        assert ranked[1]["benchmark_failed_at"] and "AccessDeniedException" in ranked[1]["benchmark_error"]
        assert ranked[1]["ttft_ms"] is not None  # the last measurement, shown with its failure
        board = client.get("/api/v1/benchmarks").get_json()["data"]
        assert [(r["region"], r["failed_at"] is not None) for r in board] == [("us-east-1", False), ("us-west-2", True)]
        assert "AccessDeniedException" in board[1]["last_error"]
        performance = client.get(f"/api/v1/models/{model_id}").get_json()["performance"]
        assert performance["region"] == "us-east-1" and performance["failed_at"] is None
        assert performance["regions"]["us-west-2"]["failed_at"] == board[1]["failed_at"]

    check(service)
    service.stop()  # the same from the store
    simulator.state.set_option("bedrock@us-west-2", "access_denied", False)
    again, _ = benchmarking(start_service, simulator, regions)
    check(again)
    server = ServerThread(again).start()
    try:
        env = {"DISCOVERY_ADMIN_TOKEN": None, "DISCOVERY_READ_TOKEN": None, "DISCOVERY_URL": None}
        for args in (["benchmarks", "board"], ["benchmarks", "show", model_id]):
            shown = CliRunner().invoke(cli, ["--url", server.url, *args], env=env, catch_exceptions=False)
            assert shown.exit_code == 0, shown.stderr
            marked = [line.split()[0] for line in shown.stdout.splitlines() if line.endswith(" !")]
            assert marked == (["2"] if args[1] == "board" else ["us-west-2"]), shown.stdout
            assert "! the newest run there kept no sample" in shown.stdout
    finally:
        server.stop()
    # Measured again there: the failure is over, and the faster region first again.
    again.wait_benchmarks(again.run_benchmark(model_id, region="us-west-2"), timeout=30)
    assert again.best_regions_for_model(model_id) == ["us-west-2", "us-east-1"]
    assert again.view.performance.get(model_id).regions["us-west-2"].failed_at is None
