"""An actor that crashes mid-refresh: the run is interrupted, and its late answer is not written."""
from __future__ import annotations

import concurrent.futures

from discovery.messages import RefreshOutcome
from tests.conftest import provider_config, wait_for
from tests.notify.conftest import add_model


def refreshes_ended(service, source: str) -> float:
    """Refresh runs of ``source`` that ended, every outcome (the I/O thread counts each at its end)."""
    (family,) = service.view.telemetry.refreshes.collect()
    return sum(s.value for s in family.samples if s.name.endswith("_total") and s.labels["provider"] == source)


def crash_mid_refresh(service, source: str, ticket, ended: float) -> None:
    """Kill the source's actor while ``ticket``'s fetch is under way; return once its I/O has ended
    (``ended``: :func:`refreshes_ended` read before the ticket's refresh began)."""
    ticket.underway.wait(5)
    service.supervisor.ref(source).get().tell("poison")
    wait_for(lambda: refreshes_ended(service, source) > ended, what="the dead actor's fetch to end")


def test_a_provider_crashing_mid_refresh_records_the_run_interrupted_and_writes_nothing(start_service, simulator):
    # No refresh at start, nor at the restart: a new actor's own refresh would list the late model.
    service = start_service([provider_config(simulator, "openai", "openai_compatible", route="openai")],
                            refresh_on_start=False)
    service.wait([service.refresh("openai")], timeout=10)
    add_model(simulator, "gpt-late-answer")
    simulator.state.set_latency("openai", 0.5)
    ended = refreshes_ended(service, "openai")
    ticket = service.refresh("openai")
    crash_mid_refresh(service, "openai", ticket, ended)

    outcome = ticket.future.result(timeout=5)
    assert outcome.outcome == "interrupted" and "crashed" in outcome.error
    wait_for(lambda: service.refresh_run(ticket.run_id)["outcome"] != "running", what="the run's end")
    assert service.refresh_run(ticket.run_id)["outcome"] == "interrupted"
    assert service.get_model("openai/gpt-late-answer") is None



class _ResolvedMeanwhile(concurrent.futures.Future):
    """A ticket's future that the refresh's own thread resolves right after the writer has looked
    at it: the dead actor's I/O thread ends the ticket too, and the two race."""

    def done(self) -> bool:
        was = super().done()
        if not was:
            self.set_result(RefreshOutcome(0, "openai", "interrupted", error="resolved by the I/O thread"))
        return was


def test_the_writer_survives_a_ticket_its_refresh_thread_resolves_at_the_same_moment(start_service, simulator):
    service = start_service([provider_config(simulator, "openai", "openai_compatible", route="openai")])
    wait_for(lambda: service.providers()[0].get("last_success_at"), what="the first refresh")
    run_id = service.view.next_run_id()
    service.catalog.begin_run(run_id, "openai", "manual").get(timeout=5)
    ticket = _ResolvedMeanwhile()
    service.catalog.interrupt_run.defer(run_id, "interrupted: the provider actor crashed", "openai", ticket)

    wait_for(lambda: service.refresh_run(run_id)["outcome"] == "interrupted", what="the run marked interrupted")
    assert ticket.result(timeout=1).error == "resolved by the I/O thread"
    assert service.catalog.actor_ref.is_alive()  # the writer did not die of the race
    (outcome,) = service.wait([service.refresh("openai")], timeout=10)
    assert outcome.outcome == "succeeded", outcome.error
