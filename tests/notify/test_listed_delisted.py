"""A provider that stops listing a model a catalog still describes: the record stays (as the
catalog's, live false) and a ``delisted`` event says so; listed again, a ``listed`` event. Real
actors, SQLite, the simulator over loopback HTTP; the feed, the Atom feed and a subscription."""
from __future__ import annotations

from tests.conftest import provider_config
from web import create_app


def test_a_model_the_provider_drops_but_a_catalog_keeps_is_delisted_then_listed_again(start_service, simulator,
                                                                                          monkeypatch):
    monkeypatch.setenv("DISCOVERY_TEST_OPENAI_KEY", "sk-test-listed-delisted")
    records = dict(simulator.state.model_items("modelsdev"))
    simulator.state.set_models("modelsdev", {"openai": records["openai"]})
    service = start_service([provider_config(simulator, "openai", "openai", api_key_env="DISCOVERY_TEST_OPENAI_KEY",
                                             manual_refresh_per_minute=1000),
                             provider_config(simulator, "modelsdev", "modelsdev")], missing_grace_refreshes=0)
    service.wait(service.refresh_all(), timeout=20)
    assert service.index.get("openai/gpt-4o").live is True
    seen: list = []
    service.subscribe(seen.extend, kinds=["delisted", "listed", "removed"], max_delay=0.01)
    after = service.view.last_event_id

    dropped = next(m for m in simulator.state.models("openai") if m["id"] == "gpt-4o")
    simulator.state.remove_model("openai", "gpt-4o")
    service.wait([service.refresh("openai")], timeout=10)
    model = service.index.get("openai/gpt-4o")
    assert model is not None and model.live is False and model.source == "modelsdev"  # the catalog's record stays
    events = [e for e in service.events_after(after, 100) if e.model_id == "openai/gpt-4o"]
    assert [e.kind for e in events] == ["updated", "delisted"]
    assert events[0].data["diff"]["live"] == [True, False]
    assert dict(events[1].data)["source"] == "modelsdev" and events[1].provider == "openai"

    simulator.state.add_model("openai", dropped)
    service.wait([service.refresh("openai")], timeout=10)
    assert service.index.get("openai/gpt-4o").live is True
    events = [e for e in service.events_after(after, 100) if e.model_id == "openai/gpt-4o"]
    assert [e.kind for e in events] == ["updated", "delisted", "updated", "listed"]
    assert dict(events[3].data)["source"] == "openai"

    client = create_app(service).test_client()
    feed = client.get(f"/api/v1/events?since={after}&kinds=delisted,listed").get_json()["data"]
    assert [(e["kind"], e["model_id"]) for e in feed] == [("delisted", "openai/gpt-4o"), ("listed", "openai/gpt-4o")]
    atom = client.get("/api/v1/events.atom?kinds=delisted").get_data(as_text=True)
    assert "Delisted: openai/gpt-4o" in atom and "openai no longer lists it; modelsdev still describes it" in atom

    from tests.conftest import wait_for
    wait_for(lambda: [e.kind for e in seen] == ["delisted", "listed"], what="the subscriber to hear both")
