"""A refresh of everything starts the slowest sources first, and answers in the sources' own order."""
from __future__ import annotations

from tests.conftest import provider_config, wait_for


def test_the_slowest_sources_are_asked_first_and_tickets_come_back_in_source_order(start_service, simulator):
    names = ["alpha", "beta", "gamma"]
    service = start_service([provider_config(simulator, n, "openai_compatible", route="openai",
                                             manual_refresh_per_minute=100) for n in names])
    wait_for(lambda: all(p.get("last_success_at") for p in service.providers()), what="the first refreshes")
    # Each provider's last fetch was recorded by its I/O thread.
    assert set(service.view.fetch_seconds) == set(names)
    assert all(seconds > 0 for seconds in service.view.fetch_seconds.values())
    service.view.fetch_seconds.update({"alpha": 0.1, "beta": 0.9, "gamma": 0.5})

    asks = service.ask_refreshes(names + ["not-running"], "manual")
    assert [name for name, _ in asks] == ["beta", "gamma", "alpha", "not-running"]
    assert asks[-1][1] is None
    started = [ask.get(timeout=5) for _, ask in asks[:-1]]
    assert [t.provider for t in started] == ["beta", "gamma", "alpha"]
    service.wait(started, timeout=10)

    tickets, skipped = service.refresh_many()
    assert [t.provider for t in tickets] == names and skipped == []
    assert all(o.outcome == "succeeded" for o in service.wait(tickets, timeout=10))
