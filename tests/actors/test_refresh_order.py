"""A refresh of everything starts the slowest sources first, and answers in the sources' own order."""
from __future__ import annotations

import time

import pytest

from tests.conftest import provider_config, wait_for

# Waves timed to within tenths of a second: no other test runs meanwhile.
pytestmark = pytest.mark.alone


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


def two_sources(start_service, simulator, first: str, second: str, first_per_minute: int = 100):
    """A service of two simulated sources (``first`` on a route of its own, whose latency a test
    sets), once both have answered their start-up refresh."""
    service = start_service([provider_config(simulator, first, "openai_compatible", route="openai_compatible",
                                             manual_refresh_per_minute=first_per_minute),
                             provider_config(simulator, second, "openai_compatible", route="openai",
                                             manual_refresh_per_minute=100)])
    wait_for(lambda: all(p.get("last_success_at") for p in service.providers()), what="the first refreshes")
    return service


def test_a_refresh_of_many_starts_in_waves_and_a_follow_up_not_underway_does_not_hold_its_wave_back(
        start_service, simulator, monkeypatch):
    import actors.service as service_module

    service = two_sources(start_service, simulator, "slow", "quick")
    simulator.state.set_latency("openai_compatible", 1.5)
    in_flight = service.refresh("slow")
    assert in_flight.underway.wait(5), "a refresh that began its fetch is underway"
    service.view.fetch_seconds.update({"slow": 0.9, "quick": 0.1})
    monkeypatch.setattr(service_module, "REFRESH_WAVE", 1)
    monkeypatch.setattr(service_module, "WAVE_WAIT", 1.0)  # a wave that waited would show

    began = time.monotonic()
    tickets, skipped = service.refresh_many()
    took = time.monotonic() - began
    by_name = {t.provider: t for t in tickets}
    assert skipped == [] and set(by_name) == {"slow", "quick"}
    # "slow" is asked first and answers with the follow-up of its refresh in flight, which begins
    # only when that one ends (1.5 s): queued, so its wave does not wait for it.
    assert by_name["slow"].run_id != in_flight.run_id and not by_name["slow"].underway.is_set()
    assert by_name["slow"].queued and not by_name["quick"].queued
    assert took < 0.75, f"the second wave waited {took:.2f} s for a source that was not underway"
    quick = service.wait([by_name["quick"]], timeout=5)[0]
    assert quick.outcome == "succeeded" and not by_name["slow"].future.done()
    outcomes = service.wait([in_flight, by_name["slow"]], timeout=10)
    assert [o.outcome for o in outcomes] == ["succeeded", "succeeded"]
    assert by_name["slow"].underway.is_set()


def test_a_source_refused_in_an_early_wave_is_reported_and_the_later_waves_still_start(
        start_service, simulator, monkeypatch):
    import actors.service as service_module

    service = two_sources(start_service, simulator, "limited", "free", first_per_minute=1)
    service.wait([service.refresh("limited")], timeout=10)  # the one manual refresh a minute allows
    service.view.fetch_seconds.update({"limited": 0.9, "free": 0.1})
    monkeypatch.setattr(service_module, "REFRESH_WAVE", 1)

    tickets, skipped = service.refresh_many()
    # The refusal, met first by the wave's wait, reaches the caller all the same.
    assert [s["provider"] for s in skipped] == ["limited"] and skipped[0]["reason"] == "rate_limited"
    assert [t.provider for t in tickets] == ["free"]
    assert [o.outcome for o in service.wait(tickets, timeout=10)] == ["succeeded"]


def test_the_wait_for_a_wave_is_bounded_and_ends_early_once_every_ticket_is_underway():
    import pykka

    from actors.provider import RefreshTicket
    from actors.service import wait_underway

    stuck, ready = RefreshTicket(1, "stuck", "manual"), RefreshTicket(2, "ready", "manual")
    ready.underway.set()
    asks = []
    for ticket in (ready, stuck):
        future = pykka.ThreadingFuture()
        future.set(ticket)
        asks.append(future)
    began = time.monotonic()
    wait_underway(asks, 0.2)
    assert 0.15 <= time.monotonic() - began < 1.0, "a ticket never underway holds the wave for the bound, no longer"
    began = time.monotonic()
    wait_underway(asks[:1], 5.0)
    assert time.monotonic() - began < 1.0, "a wave already underway is not waited for"


def test_an_answer_is_committed_while_another_run_of_its_round_is_still_fetching(start_service, simulator):
    service = two_sources(start_service, simulator, "slow", "quick")
    simulator.state.set_latency("openai_compatible", 0.8)  # "slow" answers 0.8 s late
    simulator.state.update_model("openai", "gpt-4o", {"owned_by": "acme"})  # "quick" has a change to commit
    tickets = service.refresh_all()
    quick = next(t for t in tickets if t.provider == "quick")
    slow = next(t for t in tickets if t.provider == "slow")
    (outcome,) = service.wait([quick], timeout=5)
    # The open run held the changed answer's flush for a few milliseconds at most, not until it ended.
    assert outcome.outcome == "succeeded" and outcome.updated == 1
    assert not slow.future.done()
    assert service.wait([slow], timeout=10)[0].outcome == "succeeded"
