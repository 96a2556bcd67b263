"""``GET /metrics`` over real HTTP, parsed with prometheus_client's own parser: values move."""
from __future__ import annotations

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from discovery.benchmark.board import PerformanceBoard
from tests.conftest import provider_config, wait_for
from tests.notify.conftest import add_model
from web.server import ServerThread


@pytest.fixture
def served(start_service, simulator):
    """One provider from the simulator, its first refresh done, on a real port."""
    service = start_service([provider_config(simulator, "openai", "openai_compatible", route="openai",
                                             manual_refresh_per_minute=1000)])
    wait_for(lambda: all(p.get("last_success_at") for p in service.providers()), what="the first refresh")
    server = ServerThread(service).start()
    yield service, server
    server.stop()


def scrape(url: str) -> dict[str, dict[tuple, float]]:
    """Sample name -> {sorted label items: value}."""
    answer = requests.get(f"{url}/metrics", timeout=10)
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/plain")
    out: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            out.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return out


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get(name, {}).get(tuple(sorted(labels.items())), 0.0)


def models_of(samples: dict, provider: str) -> float:
    """A provider's published models, every kind together."""
    return sum(v for labels, v in samples["discovery_models"].items() if dict(labels)["provider"] == provider)


def test_a_refresh_a_request_and_a_new_model_move_their_metrics(served, simulator):
    service, server = served
    before = scrape(server.url)
    assert value(before, "discovery_refreshes_total", provider="openai", outcome="succeeded") >= 1
    assert value(before, "discovery_provider_status", provider="openai", status="healthy") == 1
    assert value(before, "discovery_provider_status", provider="openai", status="unhealthy") == 0
    assert value(before, "discovery_provider_breaker_state", provider="openai", state="closed") == 1
    openai = models_of(before, "openai")
    assert openai == service.index.provider_count("openai") > 0
    assert value(before, "discovery_catalog_models") == len(service.index)
    # A single instance is its own leader, never behind.
    assert value(before, "discovery_leader", instance=service.instance_id) == 1
    assert value(before, "discovery_follower_lag_events") == 0

    add_model(simulator, "gpt-metrics-test")
    answer = requests.post(f"{server.url}/api/v1/providers/openai/refresh?wait=true", timeout=30)
    assert answer.status_code == 200 and answer.json()["runs"][0]["outcome"] == "succeeded"
    after = scrape(server.url)
    assert value(after, "discovery_refreshes_total", provider="openai", outcome="succeeded") == \
        value(before, "discovery_refreshes_total", provider="openai", outcome="succeeded") + 1
    assert value(after, "discovery_refresh_duration_seconds_count", provider="openai") == \
        value(before, "discovery_refresh_duration_seconds_count", provider="openai") + 1
    assert value(after, "discovery_change_events_total", kind="added") == \
        value(before, "discovery_change_events_total", kind="added") + 1
    assert models_of(after, "openai") == openai + 1
    # The request is in the duration histogram under its URL rule, not its raw path.
    route = "/api/v1/providers/<name>/refresh"
    assert value(after, "discovery_http_request_duration_seconds_count", route=route, method="POST",
                 status="200") == 1
    assert not any("openai/refresh" in dict(labels).get("route", "")
                   for labels in after["discovery_http_request_duration_seconds_count"])
    # A method the route does not take is a 405 under the route's rule (it was "<unmatched>").
    assert requests.get(f"{server.url}/api/v1/providers/openai/refresh", timeout=30).status_code == 405
    wrong = scrape(server.url)
    assert value(wrong, "discovery_http_request_duration_seconds_count", route=route, method="GET", status="405") == 1


def test_detail_reads_show_as_cache_misses_then_hits(served):
    service, server = served
    model_id = service.index.ids()[0]
    before = scrape(server.url)
    for _ in range(2):
        assert requests.get(f"{server.url}/api/v1/models/{model_id}", timeout=10).status_code == 200
    after = scrape(server.url)
    hits, misses = "discovery_model_cache_hits_total", "discovery_model_cache_misses_total"
    assert value(after, hits) + value(after, misses) == value(before, hits) + value(before, misses) + 2
    assert value(after, hits) >= value(before, hits) + 1


def test_open_streams_benchmarks_and_build_info_are_reported(served):
    service, server = served
    service.view.performance = PerformanceBoard.from_rows([
        {"model_id": "openai/gpt-4o-mini", "provider": "openai", "region": None, "kind": "chat", "ttft_ms": 350.0,
         "output_tokens_per_s": 90.0, "latency_ms": 1050.0, "sample_count": 3, "measured_at": 1.0, "run_id": 1}])
    stream = requests.get(f"{server.url}/api/v1/events/stream", stream=True, timeout=10)
    try:
        assert stream.status_code == 200
        wait_for(lambda: value(scrape(server.url), "discovery_sse_streams_open") == 1, what="the open stream")
    finally:
        stream.close()
    samples = scrape(server.url)
    assert value(samples, "discovery_benchmark_ttft_seconds", model="openai/gpt-4o-mini", region="") == 0.35
    assert value(samples, "discovery_benchmark_output_tokens_per_second", model="openai/gpt-4o-mini",
                 region="") == 90.0
    build = samples["discovery_build_info"]
    assert len(build) == 1 and "version" in dict(next(iter(build)))
    from discovery.build import build_info as running

    assert dict(next(iter(build)))["commit"] == (running().commit or "")  # as GET /version says
    # Each provider's last success, for staleness alerts (the catalog's publish time says nothing of one).
    succeeded = samples["discovery_provider_last_success_timestamp_seconds"]
    assert {dict(labels)["provider"] for labels in succeeded} == {"openai"}
    [at] = succeeded.values()
    assert abs(at - service.providers()[0]["last_success_at"]) < 1e-3
    own = [name for name in samples if not name.startswith(("process_", "python_"))]
    assert own and all(name.startswith("discovery_") for name in own)


def test_a_service_started_after_another_in_one_process_keeps_a_registry_of_its_own(served, start_service,
                                                                                     simulator, tmp_path):
    """One service runs in a process at a time; the next one (tests, an application restarting its
    embedded service) counts from nothing, without the last one's series."""
    first_service, first = served
    requests.get(f"{first.url}/api/v1/providers", timeout=10)
    assert value(scrape(first.url), "discovery_http_request_duration_seconds_count", route="/api/v1/providers",
                 method="GET", status="200") == 1
    first.stop()
    first_service.stop()
    other = start_service([provider_config(simulator, "anthropic", "anthropic")],
                          database_url=f"sqlite:///{tmp_path / 'other.db'}")
    second = ServerThread(other).start()
    try:
        samples = scrape(second.url)
        assert value(samples, "discovery_http_request_duration_seconds_count", route="/api/v1/providers",
                     method="GET", status="200") == 0
        assert "openai" not in {dict(labels).get("provider") for labels in samples["discovery_provider_status"]}
    finally:
        second.stop()


def test_a_provider_whose_actor_was_given_up_on_has_no_breaker_series(start_service, simulator):
    service = start_service([provider_config(simulator, "crashy", "openai_compatible", route="openai"),
                             provider_config(simulator, "steady", "openai_compatible", route="openai_compatible")],
                            max_restarts_per_minute=1, restart_backoff=0.01)
    wait_for(lambda: all(p.get("last_success_at") for p in service.providers()), what="the first refreshes")
    states = service.supervisor.child_states
    while states().get()["crashy"]["state"] != "failed":
        ref = wait_for(lambda: service.supervisor.ref("crashy").get() or states().get()["crashy"]["state"] == "failed",
                       what="crashy running or given up")
        if ref is not True:
            ref.tell("poison")
            wait_for(lambda ref=ref: not ref.is_alive(), what="the crash")
    server = ServerThread(service).start()
    try:
        samples = scrape(server.url)
    finally:
        server.stop()
    assert value(samples, "discovery_provider_status", provider="crashy", status="failed") == 1
    breakers = {dict(labels)["provider"] for labels in samples["discovery_provider_breaker_state"]}
    assert breakers == {"steady"}
    assert value(samples, "discovery_provider_breaker_state", provider="steady", state="closed") == 1
