"""An answer that comes back after the service stopped is dropped quietly: no error, nothing written."""
from loguru import logger

from discovery import store
from tests.conftest import provider_config, wait_for


def test_an_answer_arriving_after_stop_is_dropped_without_an_error(start_service, simulator, db_url):
    service = start_service([provider_config(simulator, "openai", "openai_compatible", route="openai")])
    wait_for(lambda: service.refresh_runs("openai", 5) and service.refresh_runs("openai", 5)[0]["outcome"] == "succeeded",
             what="the start-up refresh")
    simulator.state.set_latency("openai", 0.6)
    simulator.state.add_model("openai", {"id": "gpt-too-late", "object": "model", "created": 1, "owned_by": "x"})
    seen = simulator.state.request_count("openai")
    ticket = service.refresh("openai")
    wait_for(lambda: simulator.state.request_count("openai") > seen, what="the fetch to begin")
    lines: list[str] = []
    sink = logger.add(lambda message: lines.append(message), level="INFO", format="{level} {message}")
    try:
        service.stop()
        # The answer comes back after the stop; the ticket resolves with the abandonment.
        outcome = ticket.future.result(timeout=5)
        wait_for(lambda: any("after the catalog writer stopped" in line for line in lines), what="the answer's drop")
    finally:
        logger.remove(sink)
    assert outcome.outcome == "interrupted" and "stopped" in outcome.error  # as its run is recorded
    assert ticket.underway.is_set(), "a caller waiting for the refresh to be underway is let go"
    assert not [line for line in lines if line.startswith(("ERROR", "CRITICAL"))], lines
    store.open_database(db_url)
    try:
        assert store.ModelRow.get_or_none(store.ModelRow.id == "openai/gpt-too-late") is None
        run = store.RefreshRunRow.get_by_id(ticket.run_id)
        assert run.outcome == "interrupted" and "stopped" in run.error
    finally:
        store.close_database()


def test_abandoning_a_ticket_fails_it_once_and_lets_a_waiting_caller_go():
    from actors.provider import RefreshTicket
    from discovery.messages import RefreshOutcome

    waiting = RefreshTicket(7, "acme", "manual")
    waiting.abandon("abandoned: the provider actor stopped")
    outcome = waiting.future.result(timeout=1)
    # As its run is recorded: interrupted (the caller heard "failed" of a run stored "interrupted").
    assert waiting.underway.is_set() and (outcome.run_id, outcome.provider, outcome.outcome) == (7, "acme", "interrupted")
    assert outcome.error == "abandoned: the provider actor stopped"
    done = RefreshTicket(8, "acme", "manual")
    done.future.set_result(RefreshOutcome(8, "acme", "succeeded"))
    done.abandon("abandoned: the provider actor stopped")
    assert done.future.result(timeout=1).outcome == "succeeded" and done.underway.is_set()


def test_a_caller_waiting_on_a_refresh_is_answered_as_the_stop_begins(start_service, simulator):
    """A request waiting on a refresh (?wait=true) when SIGTERM came waited on until the HTTP
    server's drain ran out and cut it: a plain-text 500 instead of the JSON every error is. The
    stop's beginning now answers it, the run told as interrupted, as it is recorded."""
    import threading
    import time

    from web import create_app

    service = start_service([provider_config(simulator, "openai", "openai_compatible", route="openai")])
    wait_for(lambda: service.refresh_runs("openai", 5) and service.refresh_runs("openai", 5)[0]["outcome"] == "succeeded",
             what="the start-up refresh")
    simulator.state.set_latency("openai", 5.0)
    seen = simulator.state.request_count("openai")
    answer: dict = {}
    client = create_app(service).test_client()
    waiting = threading.Thread(target=lambda: answer.update(
        resp=client.post("/api/v1/providers/openai/refresh?wait=true&timeout=60")))
    waiting.start()
    wait_for(lambda: simulator.state.request_count("openai") > seen, what="the fetch to begin")
    began = time.monotonic()
    service.begin_shutdown()  # what SIGTERM does first, before the HTTP server drains
    waiting.join(timeout=5)
    assert not waiting.is_alive() and time.monotonic() - began < 1.0
    resp = answer["resp"]
    assert resp.status_code == 200 and resp.is_json
    [run] = resp.get_json()["runs"]
    assert run["outcome"] == "interrupted" and "stopped" in run["error"]
