"""Benchmarks end to end: real actors, a real SQLite file, the simulator over loopback HTTP, the Flask client."""
from __future__ import annotations

import time

import pytest

from discovery.model import Model
from discovery.settings import BenchmarkSettings, BenchmarkTarget, ProviderConfig
from discovery.simulator.state import REMOVE
from tests.benchmark.conftest import KEY_ENV
from tests.conftest import provider_config, wait_for
from web import create_app

ADMIN = "bench-admin-token"
CHAT_PATH = "/chat/completions"


def chat_requests(state, model: str | None = None) -> list[dict]:
    """Chat requests the simulated provider received (the request log keeps paths, not bodies)."""
    return [r for r in state.requests("openai") if r["path"].endswith(CHAT_PATH)]


def openai_with_catalog(simulator, *, unpriced: tuple[str, ...] = (), **kw) -> list[ProviderConfig]:
    """OpenAI (live list) and models.dev for its kinds and prices; ``unpriced`` models lose their catalog price."""
    records = dict(simulator.state.model_items("modelsdev"))
    simulator.state.set_models("modelsdev", {"openai": records["openai"]})
    for model in unpriced:
        simulator.state.update_model("modelsdev", "openai", {"models": {model: {"cost": REMOVE}}})
    return [provider_config(simulator, "openai", "openai", api_key_env=KEY_ENV, **kw),
            provider_config(simulator, "modelsdev", "modelsdev")]


def start(start_service, simulator, targets, providers=None, **bench):
    bench.setdefault("start_delay", 3600.0)  # runs only when a test asks, unless it says otherwise
    bench.setdefault("samples", 2)
    settings = BenchmarkSettings(targets=tuple(targets), **bench)
    service = start_service(providers or openai_with_catalog(simulator), benchmarks=settings, admin_token=ADMIN)
    def listed_and_priced() -> bool:
        model = service.index.get("openai/gpt-4o")
        return model is not None and model.live and model.pricing.input is not None

    wait_for(listed_and_priced, what="openai listed live and priced by the catalog")
    return service


def test_daily_budget_stops_probing_and_says_why_and_an_unpriced_model_is_never_probed(start_service, simulator):
    simulator.state.set_stream("openai", ttft=0.01, tokens_per_second=2000, output_tokens=32)
    models = ("openai/gpt-4.1", "openai/gpt-4o", "openai/gpt-4o-mini")
    service = start(start_service, simulator,
                    [BenchmarkTarget("openai", enabled=True, models=models)],
                    providers=openai_with_catalog(simulator, unpriced=("gpt-4o-mini",)),
                    budget_per_day_usd=0.002, samples=3, start_delay=0.0)
    run = wait_for(lambda: next((r for r in service.benchmark_runs("openai") if r["outcome"] != "running"), None),
                   timeout=20, what="the timer run to end")
    assert run["outcome"] == "stopped" and run["stopped_reason"].startswith("daily budget $0.002 reached")
    assert 0 < run["spend_usd"] <= 0.002
    skipped = {s["model_id"]: s["reason"] for s in run["skipped"]}
    assert skipped == {"openai/gpt-4o-mini": "no catalog price (allow_unknown_prices is off)"}
    sent = chat_requests(simulator.state)
    assert len(sent) == run["requests"] > 0
    # The request log proves it: every request before the stop, none after, none for the unpriced model.
    assert service.benchmark_history("openai/gpt-4o-mini") == []
    assert service.benchmark_spend_today()["spent_usd"] <= 0.002
    assert service.view.performance.get("openai/gpt-4.1") is not None


def test_a_daily_budget_of_zero_stops_a_run_before_its_first_request(start_service, simulator):
    service = start(start_service, simulator, [BenchmarkTarget("openai", enabled=True, models=("openai/gpt-4o",))],
                    budget_per_day_usd=0.0)
    [run] = service.wait_benchmarks(service.run_benchmark("openai/gpt-4o"), timeout=20)
    assert run.outcome == "stopped" and run.requests == 0 and run.spend_usd == 0.0
    assert run.stopped_reason.startswith("daily budget is $0 (benchmarks.budget_per_day_usd = 0)")
    assert chat_requests(simulator.state) == [] and service.benchmark_history("openai/gpt-4o") == []
    client = create_app(service).test_client()
    today = client.get("/api/v1/benchmarks/runs").get_json()["today"]
    assert today == {"spent_usd": 0.0, "budget_per_day_usd": 0.0}


def test_nothing_is_probed_when_benchmarking_is_not_enabled(start_service, simulator):
    service = start(start_service, simulator, [BenchmarkTarget("openai", enabled=False)], start_delay=0.0)
    client = create_app(service).test_client()
    resp = client.post("/api/v1/models/openai/gpt-4o/benchmarks", headers={"Authorization": f"Bearer {ADMIN}"})
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "benchmarks_disabled"
    wait_for(lambda: service.providers()[0]["last_success_at"], what="the refresh")
    assert service.benchmark_sources == () and service.benchmark_runs() == []
    assert chat_requests(simulator.state) == []


def test_stream_failing_midway_records_the_error_class_and_no_sample_and_the_breaker_counts_it(start_service,
                                                                                               simulator):
    service = start(start_service, simulator, [BenchmarkTarget("openai", enabled=True, models=("openai/gpt-4o",))],
                    samples=1)
    simulator.state.set_fault("openai", "midstream", after_tokens=3, path=CHAT_PATH)
    [run] = service.wait_benchmarks(service.run_benchmark("openai/gpt-4o"), timeout=20)
    assert run.outcome == "failed" and run.requests == 2 and run.probed == 1
    assert run.error.startswith("no model got a sample (1 planned): openai/gpt-4o: stream_error: ")
    [result] = service.benchmark_history("openai/gpt-4o")
    assert result["samples"] == [] and result["sample_count"] == 0 and result["ttft_ms"] is None
    assert result["error"].startswith("stream_error: ") and "mid-stream" in result["error"]
    assert [(f["error_class"], f["warmup"], f["after_first_token"]) for f in result["failures"]] == [
        ("stream_error", True, True), ("stream_error", False, True)]
    assert service.view.performance.get("openai/gpt-4o") is None
    # Counted on the provider actor's I/O thread, as its own calls are.
    wait_for(lambda: service.providers()[0]["breaker"]["fail_counter"] == 2, what="the breaker to count both")


def test_a_429_is_waited_out_before_the_next_sample(start_service, simulator):
    """A benchmark went on sampling right after a 429, refused again each time (and each refusal
    counted by the provider's breaker): it now waits what the provider asked, here in its
    rate-limit reset header (no Retry-After)."""
    simulator.state.set_stream("openai", ttft=0.01, tokens_per_second=2000, output_tokens=16)
    service = start(start_service, simulator,
                    [BenchmarkTarget("openai", enabled=True, models=("openai/gpt-4.1",))], samples=2, timeout=5.0)
    simulator.state.set_fault("openai", "status", status=429, times=1, path=CHAT_PATH, headers={
        "x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "800ms"})
    [run] = service.wait_benchmarks(service.run_benchmark("openai/gpt-4.1"), timeout=20)
    assert run.outcome == "succeeded" and run.requests == 3  # the refused warm-up, then two samples
    sent = chat_requests(simulator.state)
    assert len(sent) == 3 and sent[1]["at"] - sent[0]["at"] >= 0.75
    [result] = service.benchmark_history("openai/gpt-4.1")
    assert result["sample_count"] == 2
    assert [(f["error_class"], f["warmup"]) for f in result["failures"]] == [("rate_limited", True)]


def test_a_429_asking_longer_than_the_probe_timeout_ends_that_models_samples_and_the_run_goes_on(
        start_service, simulator):
    simulator.state.set_stream("openai", ttft=0.01, tokens_per_second=2000, output_tokens=16)
    simulator.state.set_fault("openai", "status", status=429, times=1, path=CHAT_PATH, headers={"Retry-After": "600"})
    started = time.monotonic()
    service = start(start_service, simulator,
                    [BenchmarkTarget("openai", enabled=True, models=("openai/gpt-4.1", "openai/gpt-4o"))],
                    samples=2, timeout=5.0, start_delay=0.0)
    run = wait_for(lambda: next((r for r in service.benchmark_runs("openai") if r["outcome"] != "running"), None),
                   timeout=20, what="the timer run to end")
    assert time.monotonic() - started < 10.0  # not ten minutes, nor a wait per sample
    assert (run["outcome"], run["probed"], run["requests"]) == ("succeeded", 2, 4)  # gpt-4.1 once, gpt-4o 3
    refused = service.benchmark_history("openai/gpt-4.1")[0]
    assert refused["sample_count"] == 0 and len(refused["failures"]) == 1
    assert "asked to wait 600 s, longer than the probe timeout (5 s)" in refused["failures"][0]["message"]
    measured = service.benchmark_history("openai/gpt-4o")[0]
    assert measured["sample_count"] == 2
    # The 429 generated nothing and costs nothing (it was charged at the worst case): the run's
    # spend is the measured model's alone.
    assert refused["cost_usd"] == 0 and measured["cost_usd"] > 0
    assert run["spend_usd"] == pytest.approx(measured["cost_usd"])


@pytest.mark.parametrize("status", [403, 404])
def test_a_refusal_that_would_not_change_ends_that_models_samples_and_the_run_goes_on(start_service, simulator,
                                                                                      status):
    """A model the key may not call (403), or that is not there (404): each sample after it was
    sent, refused the same way, and counted against the provider's breaker."""
    simulator.state.set_stream("openai", ttft=0.01, tokens_per_second=2000, output_tokens=16)
    simulator.state.set_fault("openai", "status", status=status, times=1, path=CHAT_PATH)
    service = start(start_service, simulator,
                    [BenchmarkTarget("openai", enabled=True, models=("openai/gpt-4.1", "openai/gpt-4o"))],
                    samples=2, start_delay=0.0)
    run = wait_for(lambda: next((r for r in service.benchmark_runs("openai") if r["outcome"] != "running"), None),
                   timeout=20, what="the timer run to end")
    assert (run["outcome"], run["probed"], run["requests"]) == ("succeeded", 2, 4)  # gpt-4.1 once, gpt-4o 3
    assert len(chat_requests(simulator.state)) == 4
    assert service.benchmark_history("openai/gpt-4o")[0]["sample_count"] == 2
    [refused] = service.benchmark_history("openai/gpt-4.1")
    assert refused["sample_count"] == 0 and len(refused["failures"]) == 1
    assert refused["failures"][0]["message"].endswith("no more samples of this model in this run: "
                                                      "another request would be refused alike")
    assert service.providers()[0]["breaker"]["fail_counter"] <= 1


def test_a_key_that_is_no_longer_set_stops_the_run_with_nothing_counted_or_spent(start_service, simulator,
                                                                                 monkeypatch):
    """A run whose key variable was unset counted a request and reserved its cost for every
    attempt (none was sent), and each attempt counted against the breaker until it opened."""
    service = start(start_service, simulator,
                    [BenchmarkTarget("openai", enabled=True, models=("openai/gpt-4.1", "openai/gpt-4o"))], samples=2)
    monkeypatch.delenv(KEY_ENV)
    [run] = service.wait_benchmarks(service.run_benchmark("openai/gpt-4.1"), timeout=20)
    assert run.outcome == "stopped" and run.requests == 0 and run.spend_usd == 0.0
    assert KEY_ENV in run.stopped_reason and run.stopped_reason.startswith("no API key")
    assert chat_requests(simulator.state) == [] and service.benchmark_history("openai/gpt-4.1") == []
    assert service.benchmark_spend_today()["spent_usd"] == 0.0
    assert service.providers()[0]["breaker"]["fail_counter"] == 0


def test_a_stop_ends_a_wait_for_a_429_and_no_request_follows_it(start_service, simulator):
    service = start(start_service, simulator,
                    [BenchmarkTarget("openai", enabled=True, models=("openai/gpt-4.1",))], samples=2, timeout=5.0)
    simulator.state.set_fault("openai", "status", status=429, times=1, path=CHAT_PATH, headers={"Retry-After": "1.5"})
    [ticket] = service.run_benchmark("openai/gpt-4.1")
    wait_for(lambda: len(chat_requests(simulator.state)) == 1, what="the refused warm-up")
    service.stop()
    time.sleep(2.0)  # past the wait asked for: that no request is made is the point, nothing to wait for
    assert len(chat_requests(simulator.state)) == 1
    # Cut short by the stop, as any run it cuts: left running, for the next start to mark
    # interrupted (it was recorded "stopped", a budget's or the breaker's word).
    from discovery import store
    from discovery.schema import BenchmarkRunRow

    store.open_database(service.settings.database_url)
    try:
        assert BenchmarkRunRow.get_by_id(ticket.run_id).outcome == "running"
    finally:
        store.close_database()


def test_a_run_cut_short_by_a_stop_keeps_what_its_requests_may_have_cost(start_service, simulator):
    """A run stopped in the middle of a model was stored with no request and no spend: the next
    start's ledger, seeded from the runs, let that day's budget be passed."""
    simulator.state.set_stream("openai", ttft=0.01, tokens_per_second=4, output_tokens=64)  # 16 s an answer
    service = start(start_service, simulator,
                    [BenchmarkTarget("openai", enabled=True, models=("openai/gpt-4.1",))], samples=2, timeout=30.0)
    [ticket] = service.run_benchmark("openai/gpt-4.1")
    wait_for(lambda: len(chat_requests(simulator.state)) == 1, what="the first request")
    service.stop()
    from discovery import store
    from discovery.schema import BenchmarkRunRow

    store.open_database(service.settings.database_url)
    try:
        row = BenchmarkRunRow.get_by_id(ticket.run_id)
        assert row.requests == 1 and row.spend_usd > 0, (row.requests, row.spend_usd)
    finally:
        store.close_database()


def test_todays_spend_is_read_from_the_store_when_benchmarks_are_off(start_service, simulator):
    """With benchmarks turned off, GET /api/v1/benchmarks/runs said nothing was spent today though
    the store's runs of the day had spent."""
    service = start(start_service, simulator, [BenchmarkTarget("openai", enabled=True, models=("openai/gpt-4o",))],
                    samples=1)
    [run] = service.wait_benchmarks(service.run_benchmark("openai/gpt-4o"), timeout=20)
    assert run.outcome == "succeeded" and run.spend_usd > 0
    service.stop()
    off = start_service(openai_with_catalog(simulator), benchmarks=BenchmarkSettings(enabled=False))
    assert off.benchmark_book is None
    today = create_app(off).test_client().get("/api/v1/benchmarks/runs").get_json()["today"]
    assert today["spent_usd"] == pytest.approx(run.spend_usd)


def test_a_run_where_no_model_got_a_sample_failed_and_one_where_a_model_did_succeeded(start_service, simulator):
    # The first model's warm-up and sample are refused; the second model's are answered.
    simulator.state.set_fault("openai", "status", status=400, times=2, path=CHAT_PATH)
    service = start(start_service, simulator,
                    [BenchmarkTarget("openai", enabled=True, models=("openai/gpt-4.1", "openai/gpt-4o"))],
                    samples=1, start_delay=0.0)
    run = wait_for(lambda: next((r for r in service.benchmark_runs("openai") if r["outcome"] != "running"), None),
                   timeout=20, what="the timer run to end")
    assert (run["outcome"], run["probed"], run["error"]) == ("succeeded", 2, None)
    assert service.benchmark_history("openai/gpt-4.1")[0]["sample_count"] == 0
    simulator.state.set_fault("openai", "status", status=400, times=2, path=CHAT_PATH)
    [failed] = service.wait_benchmarks(service.run_benchmark("openai/gpt-4.1"), timeout=20)
    assert failed.outcome == "failed" and failed.stopped_reason is None
    assert failed.error.startswith("no model got a sample (1 planned): openai/gpt-4.1: http: openai answered HTTP 400")
    client = create_app(service).test_client()
    listed = client.get("/api/v1/benchmarks/runs").get_json()["data"]
    assert [(r["id"], r["outcome"]) for r in listed] == [(failed.id, "failed"), (run["id"], "succeeded")]


def test_a_model_that_can_never_be_probed_is_refused_up_front_and_makes_no_run(start_service, simulator):
    models = ("openai/gpt-4o", "openai/gpt-4o-mini", "openai/gpt-4.1")
    simulator.state.remove_model("openai", "gpt-4.1")  # models.dev has it: catalog-only
    service = start(start_service, simulator, [BenchmarkTarget("openai", enabled=True, models=models)],
                    providers=openai_with_catalog(simulator, unpriced=("gpt-4o-mini",)))
    wait_for(lambda: service.index.get("openai/gpt-4.1"), what="the catalog's record of gpt-4.1")
    assert not service.index.get("openai/gpt-4.1").live
    client = create_app(service).test_client()
    admin = {"Authorization": f"Bearer {ADMIN}"}
    for model_id, reason in (("openai/gpt-4.1", "known only from a catalog"),
                             ("openai/gpt-4o-mini", "no catalog price (allow_unknown_prices is off)")):
        for wait in ("", "?wait=true"):
            resp = client.post(f"/api/v1/models/{model_id}/benchmarks{wait}", headers=admin)
            assert resp.status_code == 409, resp.get_json()
            error = resp.get_json()["error"]
            assert error["code"] == "benchmark_refused"
            assert error["message"].startswith(f"{model_id} is not benchmarked: {reason}")
    assert service.benchmark_runs() == [] and chat_requests(simulator.state) == []


def test_doubled_ttft_produces_one_benchmark_regressed_event(start_service, simulator):
    simulator.state.set_stream("openai", ttft=0.04, tokens_per_second=400, output_tokens=16)
    service = start(start_service, simulator, [BenchmarkTarget("openai", enabled=True, models=("openai/gpt-4o",))])
    seen: list = []
    service.subscribe(seen.extend, kinds=["benchmark_completed", "benchmark_regressed"], max_delay=0.01)
    for _ in range(2):
        service.wait_benchmarks(service.run_benchmark("openai/gpt-4o"), timeout=20)
    simulator.state.set_stream("openai", ttft=0.08)
    service.wait_benchmarks(service.run_benchmark("openai/gpt-4o"), timeout=20)
    wait_for(lambda: len([e for e in seen if e.kind == "benchmark_completed"]) == 3, what="three completions")
    regressed = [e for e in service.events_after(0, 1000) if e.kind == "benchmark_regressed"]
    assert len(regressed) == 1
    data = regressed[0].data
    assert regressed[0].model_id == "openai/gpt-4o" and "ttft_ms" in data["metrics"]
    assert data["metrics"]["ttft_ms"]["worse_by"] >= 0.5 and data["window"] == 2
    assert [e.kind for e in seen].count("benchmark_regressed") == 1


def test_api_serves_history_leaderboard_runs_and_performance_on_records(start_service, simulator):
    simulator.state.set_stream("openai", ttft=0.03, tokens_per_second=400, output_tokens=16)
    service = start(start_service, simulator,
                    [BenchmarkTarget("openai", enabled=True, models=("openai/gpt-4o", "openai/gpt-4.1"))])
    client = create_app(service).test_client()
    url = "/api/v1/models/openai/gpt-4o/benchmarks"
    assert client.post(url).status_code == 401
    body = client.post(url + "?wait=true", headers={"Authorization": f"Bearer {ADMIN}"}).get_json()
    assert body["runs"][0]["outcome"] == "succeeded" and body["results"][0]["sample_count"] == 2
    simulator.state.set_stream("openai", ttft=0.12)
    resp = client.post("/api/v1/models/openai/gpt-4.1/benchmarks", headers={"Authorization": f"Bearer {ADMIN}"})
    assert resp.status_code == 202
    service.wait_benchmarks([], 0)
    wait_for(lambda: service.view.performance.get("openai/gpt-4.1"), timeout=20, what="the second model measured")
    refused = client.post("/api/v1/models/openai/gpt-4o-mini/benchmarks", headers={"Authorization": f"Bearer {ADMIN}"})
    assert refused.status_code == 409 and refused.get_json()["error"]["code"] == "benchmark_refused"
    # A region must be a watched Bedrock region (none is here): a 400 saying so, not "not enabled".
    refused = client.post(url + "?region=us-east-1", headers={"Authorization": f"Bearer {ADMIN}"})
    assert refused.status_code == 400
    assert refused.get_json()["error"]["message"] == "unknown region 'us-east-1'; no Bedrock region is watched"
    bad = client.post(url + "?wait=true&timeout=0", headers={"Authorization": f"Bearer {ADMIN}"})
    assert bad.status_code == 400 and "at least 0.1" in bad.get_json()["error"]["message"]

    history = client.get(url).get_json()
    entry = history["history"][0]
    for field in ("ttft_ms", "output_tokens_per_s", "latency_ms", "input_tokens", "output_tokens", "tokens_estimated",
                  "cost_usd", "region", "measured_at", "error"):
        assert field in entry, field
    assert history["performance"]["ttft_ms"] == entry["ttft_ms"] and entry["cost_usd"] > 0
    # Served to 2 decimals, as the leaderboard and performance are; costs without float noise.
    served = [entry[k] for k in ("ttft_ms", "output_tokens_per_s", "latency_ms")] + list(entry["p90"].values())
    assert all(v is None or v == round(v, 2) for v in served), served
    assert all(s["cost_usd"] == float(f"{s['cost_usd']:.10g}") for s in entry["samples"])

    record = client.get("/api/v1/models/openai/gpt-4o").get_json()
    assert record["performance"]["ttft_ms"] < 100 and client.get(
        "/api/v1/models/openai/gpt-4o-mini").get_json()["performance"] is None
    fastest = client.get("/api/v1/models?provider=openai&sort=ttft&limit=3").get_json()["data"]
    assert [m["id"] for m in fastest[:2]] == ["openai/gpt-4o", "openai/gpt-4.1"]
    assert fastest[2]["performance"] is None  # unmeasured models follow
    quick = client.get("/api/v1/models?max_ttft_ms=100").get_json()
    assert [m["id"] for m in quick["data"]] == ["openai/gpt-4o"] and quick["total"] == 1
    speed = client.get("/api/v1/models?sort=-output_speed&limit=2").get_json()["data"]
    assert {m["id"] for m in speed} == {"openai/gpt-4o", "openai/gpt-4.1"}

    board = client.get("/api/v1/benchmarks?provider=openai&sort=-ttft").get_json()
    assert [r["model_id"] for r in board["data"]] == ["openai/gpt-4.1", "openai/gpt-4o"] and board["total"] == 2
    assert client.get("/api/v1/benchmarks?sort=colour").status_code == 400
    assert client.get("/api/v1/benchmarks?sort=--ttft").status_code == 400
    runs = client.get("/api/v1/benchmarks/runs?provider=openai").get_json()
    assert len(runs["data"]) == 2 and all(r["spend_usd"] > 0 for r in runs["data"])
    assert runs["today"]["spent_usd"] == pytest.approx(sum(r["spend_usd"] for r in runs["data"]), rel=1e-9)


def test_a_cost_of_less_than_a_hundred_millionth_of_a_dollar_is_kept_not_rounded_to_zero(start_service, simulator):
    # $0.00001 per million tokens: a request of a hundred tokens costs about a billionth of a dollar.
    providers = openai_with_catalog(simulator)
    simulator.state.update_model("modelsdev", "openai", {"models": {"gpt-4o": {"cost": {"input": 0.00001,
                                                                                         "output": 0.00001}}}})
    simulator.state.set_stream("openai", ttft=0.01, tokens_per_second=2000, output_tokens=32)
    service = start(start_service, simulator, [BenchmarkTarget("openai", enabled=True, models=("openai/gpt-4o",))],
                    providers=providers)
    wait_for(lambda: service.index.get("openai/gpt-4o").pricing.input == 0.00001, what="the tiny price published")
    [run] = service.wait_benchmarks(service.run_benchmark("openai/gpt-4o"), timeout=20)
    assert run.outcome == "succeeded" and run.requests == 3
    client = create_app(service).test_client()
    [entry] = client.get("/api/v1/models/openai/gpt-4o/benchmarks").get_json()["history"]
    assert 0 < entry["cost_usd"] < 1e-8 and all(0 < s["cost_usd"] < 2e-9 for s in entry["samples"])
    [row] = client.get("/api/v1/benchmarks/runs?provider=openai").get_json()["data"]
    assert 0 < row["spend_usd"] < 1e-8
    assert 0 < service.benchmark_spend_today()["spent_usd"] == pytest.approx(row["spend_usd"], rel=1e-9)


@pytest.mark.alone  # a refresh timed while ten providers benchmark
def test_refresh_of_another_provider_finishes_within_two_seconds_while_ten_providers_benchmark(start_service,
                                                                                             simulator):
    tenants = [f"bench{i}" for i in range(10)]
    providers, targets = [], []
    for name in tenants:
        state = simulator.tenant_state(name)
        state.set_stream("together", ttft=0.2, tokens_per_second=50, output_tokens=24)
        providers.append(ProviderConfig(name=name, format="together", base_url=simulator.base_url("together", name),
                                        api_key_env=KEY_ENV, refresh_interval=3600, timeout=5, retries=0,
                                        health_check_interval=0))
        targets.append(BenchmarkTarget(name, enabled=True, models=("*/LiquidAI/LFM2-24B-A2B",)))
    simulator.state.set_latency("openai", 0.05)
    providers.append(provider_config(simulator, "openai", "openai", api_key_env=KEY_ENV))
    service = start_service(providers, benchmarks=BenchmarkSettings(targets=tuple(targets), start_delay=0.0,
                                                                    samples=3))

    def streaming() -> bool:
        return all(any(r["path"].endswith(CHAT_PATH) for r in simulator.tenant_state(t).requests("together"))
                   for t in tenants)

    wait_for(streaming, timeout=20, what="all ten providers benchmarking")
    wait_for(lambda: service.providers()[-1]["last_success_at"], what="openai's first refresh")
    started = time.monotonic()
    [outcome] = service.wait([service.refresh("openai")], timeout=10)
    elapsed = time.monotonic() - started
    running = [r for r in service.benchmark_runs(limit=50) if r["outcome"] == "running"]
    assert outcome.outcome == "succeeded"
    assert elapsed < 2.0, f"the refresh took {elapsed:.2f}s while ten providers benchmarked"
    assert len(running) >= 5, "the benchmarks should still have been running"


def test_a_speed_from_estimated_tokens_or_counted_reasoning_is_flagged_where_it_is_ranked(start_service, simulator):
    # No usage report (tokens counted from the text) and thinking in the stream.
    simulator.state.set_stream("openai", ttft=0.02, tokens_per_second=400, output_tokens=16, thinking_tokens=8,
                               usage=False)
    service = start(start_service, simulator, [BenchmarkTarget("openai", enabled=True, models=("openai/gpt-4o",))])
    service.wait_benchmarks(service.run_benchmark("openai/gpt-4o"), timeout=20)
    client = create_app(service).test_client()
    [result] = client.get("/api/v1/models/openai/gpt-4o/benchmarks").get_json()["history"]
    # Without a usage report the thinking text is counted with the answer's.
    assert all(s.get("speed_includes_reasoning") for s in result["samples"]) and result["tokens_estimated"] is True
    reasoning = True
    [row] = client.get("/api/v1/benchmarks?provider=openai").get_json()["data"]
    assert row["tokens_estimated"] is True and row["speed_includes_reasoning"] is reasoning
    performance = client.get("/api/v1/models/openai/gpt-4o").get_json()["performance"]
    assert performance["tokens_estimated"] is True and performance["speed_includes_reasoning"] is reasoning
    # The same after a restart, from the stored rows.
    from discovery.benchmark import stored
    from discovery.benchmark.board import PerformanceBoard
    rebuilt = PerformanceBoard.from_rows(stored.latest_benchmark_results()).get("openai/gpt-4o").best
    assert rebuilt.tokens_estimated is True and rebuilt.speed_includes_reasoning is True
    assert result["speed_includes_reasoning"] is True


def test_a_manual_benchmark_is_accepted_at_once_while_another_process_holds_the_store(start_service, simulator,
                                                                                       db_url):
    """The run's row is written before its 202 when the writer can; when another connection holds
    the database's write lock, the 202 does not wait for it (the caller would time out, 503, while
    the run went on): the row follows, and the id, reserved, is not handed out again."""
    import sqlite3

    settings = BenchmarkSettings(targets=(BenchmarkTarget("openai", enabled=True, models=("openai/gpt-4o",)),),
                                 start_delay=3600.0, samples=1)
    service = start_service(openai_with_catalog(simulator), benchmarks=settings, admin_token=ADMIN, ask_timeout=2.0)
    wait_for(lambda: (service.index.get("openai/gpt-4o") or Model("x", "y")).pricing.input is not None,
             what="openai listed and priced by the catalog")
    holder = sqlite3.connect(db_url.removeprefix("sqlite:///"), isolation_level=None, timeout=10)
    holder.execute("BEGIN IMMEDIATE")  # another process's long write: every commit of the service waits
    try:
        started = time.monotonic()
        resp = create_app(service).test_client().post("/api/v1/models/openai/gpt-4o/benchmarks",
                                                      headers={"Authorization": f"Bearer {ADMIN}"})
        assert resp.status_code == 202 and time.monotonic() - started < 1.9, (resp.status_code, resp.get_json())
        run_id = resp.get_json()["runs"][0]["run_id"]
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    run = wait_for(lambda: next((r for r in service.benchmark_runs("openai") if r["id"] == run_id
                                 and r["outcome"] != "running"), None), timeout=30, what="the run to end")
    assert run["outcome"] == "succeeded"


def test_a_run_cut_short_by_the_stop_is_said_once_before_the_service_says_it_stopped(start_service, simulator):
    """The run's own thread ends after the service has stopped (its request in flight finishes on
    its own): the line saying the run was cut short comes from the actor's stop, before "service
    stopped", and the run's thread adds none after it."""
    import threading

    from loguru import logger

    simulator.state.set_stream("openai", ttft=0.3, tokens_per_second=50, output_tokens=16)
    service = start(start_service, simulator, [BenchmarkTarget("openai", enabled=True, models=("gpt-4o*",))],
                    samples=3)
    lines: list[str] = []
    sink = logger.add(lambda message: lines.append(message.record["message"]), level="INFO")
    try:
        (ticket,) = service.run_benchmark("openai/gpt-4o")
        wait_for(lambda: chat_requests(simulator.state), what="the run's first probe")
        service.stop()
        at_stop = list(lines)
        wait_for(lambda: not any(t.name == "io-bench-openai" for t in threading.enumerate()), timeout=15,
                 what="the run's thread to end")
    finally:
        logger.remove(sink)
    said = [line for line in lines if f"benchmark run {ticket.run_id} of openai" in line]
    assert len(said) == 1 and "stopped with the service" in said[0], said
    assert said[0] in at_stop and at_stop.index(said[0]) < at_stop.index("service stopped")


def test_the_status_says_whether_the_service_measures_models_before_its_first_run(start_service, simulator):
    """Nothing in the API said benchmarking was on: the dashboard could only guess from records,
    all of which carry "performance" (null until measured) either way."""
    service = start(start_service, simulator, [BenchmarkTarget("openai", enabled=True, models=("openai/gpt-4o",)),
                                               BenchmarkTarget("modelsdev", enabled=False)])
    client = create_app(service).test_client()
    assert client.get("/api/v1/benchmarks/runs?limit=1").get_json()["data"] == []  # none yet
    assert client.get("/api/v1/status").get_json()["benchmarks"] == {"enabled": True, "sources": ["openai"]}


def test_a_refused_key_stops_the_run_after_its_first_request(start_service, simulator):
    """A 401 ended only that model's samples: every other model of the run sent one request more,
    refused alike (fifty for a run of fifty models)."""
    simulator.state.set_stream("openai", ttft=0.01, tokens_per_second=2000, output_tokens=16)
    simulator.state.set_fault("openai", "status", status=401, path=CHAT_PATH)
    service = start(start_service, simulator,
                    [BenchmarkTarget("openai", enabled=True, models=("openai/gpt-4.1", "openai/gpt-4o"))],
                    samples=2, start_delay=0.0)
    run = wait_for(lambda: next((r for r in service.benchmark_runs("openai") if r["outcome"] != "running"), None),
                   timeout=20, what="the timer run to end")
    simulator.state.clear_faults("openai")
    assert (run["outcome"], run["requests"]) == ("stopped", 1), run
    assert run["stopped_reason"].startswith("the key was refused"), run
    assert len(chat_requests(simulator.state)) == 1
