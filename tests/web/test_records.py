"""Records as served: the raw answer read from the store on demand, kept in history, cached with
statistics; unchanged answers cost nothing; a restart serves the stored catalog at once."""
from __future__ import annotations

import pytest

from discovery import store
from tests.conftest import provider_config, wait_for
from web import create_app

ROW = {"id": "acme-large-1", "object": "model", "created": 1715367049, "owned_by": "acme",
       "permission": [{"id": "perm-1", "allow_sampling": True}]}


@pytest.fixture
def served(start_service, simulator):
    """One OpenAI-compatible provider on the simulator with a record of our own, refreshed once."""
    simulator.state.set_models("openai_compatible", [dict(ROW), {"id": "acme-small-1", "object": "model",
                                                                 "created": 1715367049, "owned_by": "acme"}])
    service = start_service([provider_config(simulator, "vllm", "openai_compatible")])
    wait_for(lambda: len(service.index) == 2, what="the first refresh")
    return service, create_app(service).test_client()


def refresh(service):
    (outcome,) = service.wait([service.refresh("vllm")], timeout=10)
    assert outcome.outcome == "succeeded", outcome
    return outcome


def test_the_raw_answer_is_returned_by_the_detail_route_and_kept_in_history(served, simulator):
    service, client = served
    body = client.get("/api/v1/models/vllm/acme-large-1").get_json()
    assert body["raw"] == ROW
    assert body["provenance"]["lifecycle.release_date"]["source"] == "vllm"
    # A change the record shows (the owner) makes a version; each version keeps its own raw answer.
    simulator.state.update_model("openai_compatible", "acme-large-1", {"owned_by": "acme-labs"})
    outcome = refresh(service)
    assert outcome.updated == 1
    assert client.get("/api/v1/models/vllm/acme-large-1").get_json()["raw"]["owned_by"] == "acme-labs"
    versions = client.get("/api/v1/models/vllm/acme-large-1/history").get_json()["versions"]
    assert [v["change"] for v in versions] == ["added", "updated"]
    assert versions[0]["model"]["raw"] == ROW
    assert versions[1]["model"]["raw"]["owned_by"] == "acme-labs"
    assert versions[1]["diff"] == {"attributes.owned_by": ["acme", "acme-labs"]}
    assert service.get_model("vllm/acme-large-1").raw["owned_by"] == "acme-labs"


def test_a_raw_only_change_is_served_without_a_new_version_or_event(served, simulator):
    service, client = served
    before = store_events(service)
    simulator.state.update_model("openai_compatible", "acme-large-1",
                                 {"permission": [{"id": "perm-2", "allow_sampling": False}]})
    outcome = refresh(service)
    assert (outcome.added, outcome.updated, outcome.removed) == (0, 0, 0)
    assert client.get("/api/v1/models/vllm/acme-large-1").get_json()["raw"]["permission"][0]["id"] == "perm-2"
    assert len(client.get("/api/v1/models/vllm/acme-large-1/history").get_json()["versions"]) == 1
    assert [e.kind for e in store_events(service)[len(before):]] == ["models_refreshed"]


def store_events(service):
    return service.events_after(0, 1000)


def test_cache_statistics_count_hits_and_misses_and_a_commit_writes_through(served, simulator):
    service, client = served
    stats = lambda: client.get("/api/v1/status").get_json()["cache"]  # noqa: E731
    service.view.cache.clear()
    first = stats()
    client.get("/api/v1/models/vllm/acme-small-1")  # not held: read from the store
    client.get("/api/v1/models/vllm/acme-small-1")  # held now
    after = stats()
    assert after["misses"] == first["misses"] + 1 and after["hits"] == first["hits"] + 1
    assert after["entries"] == 1 and after["bytes"] > 0 and 0 < after["hit_rate"] <= 1
    # A commit puts the raw answers it wrote in the cache: the next read is a hit, and not stale.
    simulator.state.update_model("openai_compatible", "acme-small-1", {"owned_by": "acme-labs"})
    refresh(service)
    assert client.get("/api/v1/models/vllm/acme-small-1").get_json()["raw"]["owned_by"] == "acme-labs"
    assert stats()["misses"] == after["misses"] and stats()["hits"] == after["hits"] + 1
    status = client.get("/api/v1/status").get_json()
    assert status["catalog"]["models"] == 2 and status["process"]["rss_bytes"] > 0


def test_a_restart_warms_the_cache_from_the_store(start_service, simulator, served):
    service, _ = served
    service.stop()
    again = start_service([provider_config(simulator, "vllm", "openai_compatible")])
    # The cache is warmed after the memos are out, so refreshes do not wait for it.
    wait_for(lambda: again.view.cache_warmed.is_set(), what="the record cache to be warmed")
    assert again.view.memos_ready.is_set()
    client = create_app(again).test_client()
    assert client.get("/api/v1/models/vllm/acme-large-1").get_json()["raw"] == ROW
    assert again.cache_stats()["hits"] == 1 and again.cache_stats()["misses"] == 0


def test_the_cache_warm_goes_a_chunk_at_a_time_and_warms_each_model_as_it_is_now(start_service, simulator, served,
                                                                                monkeypatch):
    import actors.catalog

    service, _ = served
    service.stop()
    # A model changed at the provider: the restart's first refresh commits it while the warm runs.
    simulator.state.update_model("openai_compatible", "acme-small-1", {"owned_by": "acme-labs"})
    monkeypatch.setattr(actors.catalog, "WARM_CHUNK", 1)  # one model per message: two messages
    again = start_service([provider_config(simulator, "vllm", "openai_compatible")])
    wait_for(lambda: again.view.cache_warmed.is_set(), what="the record cache to be warmed")
    wait_for(lambda: again.index.entry("vllm/acme-small-1").model().attributes.get("owned_by") == "acme-labs",
             what="the restart's refresh")
    client = create_app(again).test_client()
    assert client.get("/api/v1/models/vllm/acme-large-1").get_json()["raw"] == ROW
    assert client.get("/api/v1/models/vllm/acme-small-1").get_json()["raw"]["owned_by"] == "acme-labs"
    assert again.cache_stats()["hits"] == 2 and again.cache_stats()["misses"] == 0


def test_an_unchanged_answer_is_recorded_with_timings_and_costs_no_write(served):
    service, client = served
    before = store_events(service)
    outcome = refresh(service)
    assert (outcome.added, outcome.updated, outcome.removed, outcome.total) == (0, 0, 0, 2)
    run = client.get(f"/api/v1/refresh/runs/{outcome.run_id}").get_json()
    assert run["fetch_ms"] >= 0 and run["work_ms"] >= 0 and run["duration_ms"] >= run["work_ms"]
    assert [e.kind for e in store_events(service)[len(before):]] == ["models_refreshed"]
    memo = service.view.memo("vllm")
    assert memo is not None and memo.body_hash and len(memo.items) == 2


def test_a_restart_serves_the_stored_catalog_and_raw_answers(start_service, simulator, served):
    service, _ = served
    ids = sorted(service.index.ids())
    service.stop()
    simulator.state.set_fault("openai_compatible", "status", status=503)  # the provider is down now
    again = start_service([provider_config(simulator, "vllm", "openai_compatible")])
    assert again.view.ready.is_set() and sorted(again.index.ids()) == ids
    client = create_app(again).test_client()
    assert client.get("/api/v1/models/vllm/acme-large-1").get_json()["raw"] == ROW
    listed = client.get("/api/v1/models?provider=vllm").get_json()
    assert [m["id"] for m in listed["data"]] == ids and listed["total"] == 2
    wait_for(lambda: again.view.memos_ready.is_set(), what="the sources' last answers to load")
    memo = again.view.memo("vllm")
    assert len(memo.items) == 2 and memo.body_hash == store.provider_rows()["vllm"]["body_hash"]
    # Served as read at first; packed with the sources' load, before their memos are handed out.
    assert not any(e.plain for e in again.view.index.entries())
    assert client.get("/api/v1/models?provider=vllm").get_json() == listed


def test_a_repeated_list_query_is_answered_from_the_page_cache_and_a_commit_makes_it_anew(served, simulator):
    service, client = served
    pages = lambda: client.get("/api/v1/status").get_json()["page_cache"]  # noqa: E731
    url = "/api/v1/models?provider=vllm&sort=id"
    first = client.get(url)
    before = pages()
    again = client.get(url)
    assert again.data == first.data and pages()["hits"] == before["hits"] + 1
    # The same parameters in another order are the same query.
    assert client.get("/api/v1/models?sort=id&provider=vllm").data == first.data
    # A refused query is never kept: it is refused again.
    assert client.get("/api/v1/models?provider=nope").status_code == 400
    assert client.get("/api/v1/models?provider=nope").status_code == 400
    # A commit publishes a new version: the page is made from it, not served stale.
    simulator.state.update_model("openai_compatible", "acme-small-1", {"owned_by": "acme-labs"})
    refresh(service)
    misses = pages()["misses"]
    after = client.get(url).get_json()
    assert pages()["misses"] == misses + 1
    assert after["catalog_version"] > first.get_json()["catalog_version"]
    small = next(m for m in after["data"] if m["id"] == "vllm/acme-small-1")
    assert small["attributes"]["owned_by"] == "acme-labs", small
    text = client.get("/metrics").get_data(as_text=True)
    assert "discovery_page_cache_hits_total" in text and "discovery_page_cache_bytes" in text


def test_each_field_says_when_its_source_last_answered_and_a_later_answer_moves_it(served, simulator):
    service, client = served

    def verified():
        fields = client.get("/api/v1/models/vllm/acme-large-1").get_json()["provenance"]
        return {item["verified_at"] for item in fields.values() if item["source"] == "vllm"}

    def last_success():
        return client.get("/api/v1/providers/vllm").get_json()["last_success_at"]

    first = verified()
    assert first == {last_success()} and None not in first
    refresh(service)  # an unchanged answer: no new version, but the source answered again
    second = verified()
    assert second == {last_success()} and second != first
