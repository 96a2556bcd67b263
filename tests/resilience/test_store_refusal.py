"""The database refusing a commit (disk full, here a real SQLite refusal from a trigger): the
refresh fails saying so, the provider's health does not take the blame, the service's status and
metrics say the store refused, and the next commit the store takes clears it."""
from __future__ import annotations

import sqlite3

from tests.conftest import provider_config, wait_for
from web import create_app


def test_a_commit_the_database_refuses_is_the_stores_failure_not_the_providers(start_service, simulator, db_url):
    service = start_service([provider_config(simulator, "openai", "openai_compatible", route="openai",
                                             manual_refresh_per_minute=1000, failure_threshold=1)])
    wait_for(lambda: all(p.get("last_success_at") for p in service.providers()), what="the first refresh")
    client = create_app(service).test_client()
    assert client.get("/api/v1/status").get_json()["store"] == {"ok": True, "failed_at": None, "error": None}
    path = db_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as con:
        con.execute("CREATE TRIGGER refuse BEFORE INSERT ON events BEGIN "
                    "SELECT RAISE(ABORT, 'database or disk is full'); END")
    simulator.state.add_model("openai", {"id": "gpt-refused", "object": "model", "created": 1, "owned_by": "x"})
    [outcome] = service.wait([service.refresh("openai")], timeout=10)
    assert outcome.outcome == "failed" and outcome.error.startswith("store: ") and "disk is full" in outcome.error
    assert service.get_model("openai/gpt-refused") is None  # nothing half-committed
    store = client.get("/api/v1/status").get_json()["store"]
    assert store["ok"] is False and "disk is full" in store["error"] and store["failed_at"]
    assert "discovery_store_write_failures_total 1.0" in client.get("/metrics").get_data(as_text=True)
    provider = client.get("/api/v1/providers/openai").get_json()
    assert provider["status"] == "healthy", provider  # failure_threshold=1: one failure counted would say unhealthy
    assert client.get("/api/v1/providers/openai/health").get_json()["consecutive_failures"] == 0

    with sqlite3.connect(path) as con:
        con.execute("DROP TRIGGER refuse")
    [again] = service.wait([service.refresh("openai")], timeout=10)
    assert again.outcome == "succeeded" and service.get_model("openai/gpt-refused") is not None
    assert client.get("/api/v1/status").get_json()["store"]["ok"] is True
