"""A commit whose events cannot be handed to the notifier (it has stopped) is still a commit: the
caller is told it succeeded, the catalog moves on, and the events wait in the store."""
import pykka

from actors.notifier import NotifierActor
from discovery import store
from tests.conftest import provider_config, wait_for


def test_a_commit_after_the_notifier_stopped_succeeds_and_the_writer_goes_on(start_service, simulator, db_url):
    service = start_service([provider_config(simulator, "openai", "openai_compatible", route="openai")])
    wait_for(lambda: service.refresh_runs("openai", 5) and service.refresh_runs("openai", 5)[0]["outcome"] == "succeeded",
             what="the start-up refresh")
    for ref in pykka.ActorRegistry.get_by_class(NotifierActor):
        ref.stop()
    for model_id in ("gpt-after-1", "gpt-after-2"):
        simulator.state.add_model("openai", {"id": model_id, "object": "model", "created": 1, "owned_by": "x"})
        outcome = service.wait([service.refresh("openai")], timeout=10)[0]
        assert outcome.outcome == "succeeded", outcome.error
        assert outcome.added == 1
        assert service.get_model(f"openai/{model_id}") is not None
    store.open_database(db_url)
    try:
        added = [e for e in store.events_after(0, 1000) if e.kind == "added" and e.model_id.startswith("openai/gpt-after")]
        assert {e.model_id for e in added} == {"openai/gpt-after-1", "openai/gpt-after-2"}
    finally:
        store.close_database()
