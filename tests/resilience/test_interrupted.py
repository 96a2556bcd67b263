"""An actor that crashes mid-refresh: the run is interrupted, and its late answer is not written."""
from __future__ import annotations

from tests.conftest import provider_config, wait_for
from tests.notify.conftest import add_model


def refreshes_ended(service, source: str) -> float:
    """Refresh runs of ``source`` that ended, every outcome (the I/O thread counts each at its end)."""
    (family,) = service.view.telemetry.refreshes.collect()
    return sum(s.value for s in family.samples if s.name.endswith("_total") and s.labels["provider"] == source)


def crash_mid_refresh(service, source: str, ticket) -> None:
    """Kill the source's actor while ``ticket``'s fetch is under way; return once its I/O has ended."""
    ticket.underway.wait(5)
    ended = refreshes_ended(service, source)
    service.supervisor.ref(source).get().tell("poison")
    wait_for(lambda: refreshes_ended(service, source) > ended, what="the dead actor's fetch to end")


def test_a_provider_crashing_mid_refresh_records_the_run_interrupted_and_writes_nothing(start_service, simulator):
    service = start_service([provider_config(simulator, "openai", "openai_compatible", route="openai")])
    wait_for(lambda: service.providers()[0].get("last_success_at"), what="the first refresh")
    add_model(simulator, "gpt-late-answer")
    simulator.state.set_latency("openai", 0.5)
    ticket = service.refresh("openai")
    crash_mid_refresh(service, "openai", ticket)

    outcome = ticket.future.result(timeout=5)
    assert outcome.outcome == "interrupted" and "crashed" in outcome.error
    wait_for(lambda: service.refresh_run(ticket.run_id)["outcome"] != "running", what="the run's end")
    assert service.refresh_run(ticket.run_id)["outcome"] == "interrupted"
    assert service.get_model("openai/gpt-late-answer") is None

