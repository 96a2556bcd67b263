"""Service.subscribe as an embedding application uses it: a real service, a real SQLite file and
the simulator over loopback HTTP."""
from __future__ import annotations

import pytest

from discovery.taxonomy import UnknownCapability
from tests.conftest import provider_config, wait_for


@pytest.fixture
def service(start_service, simulator):
    svc = start_service([provider_config(simulator, "openai", "openai_compatible", route="openai")])
    wait_for(lambda: svc.index.entry(f"openai/{simulator.state.models('openai')[0]['id']}"),
             what="the first refresh")
    return svc


def add_model(simulator, service, name: str) -> None:
    """Add a model to the simulated provider and wait for the refresh that commits it."""
    simulator.state.add_model("openai", {"id": name, "object": "model", "created": 1750000000,
                                         "owned_by": "openai"})
    service.wait([service.refresh("openai")], timeout=30)


@pytest.mark.parametrize("arguments, error", [
    (dict(max_batch=0), ValueError),
    (dict(max_batch=-1), ValueError),
    (dict(max_batch=2.5), ValueError),
    (dict(max_delay=-1), ValueError),
    (dict(max_delay=float("nan")), ValueError),
    (dict(max_delay=float("inf")), ValueError),
    (dict(providers="openai"), TypeError),
    (dict(kinds="added"), TypeError),
    (dict(capabilities="vision"), TypeError),
    (dict(capabilities=["telepathy"]), UnknownCapability),
    (dict(kinds=["appeared"]), ValueError),
    (dict(model_glob=123), TypeError),
    (dict(model_glob="openai/" + "x" * 600), ValueError),
])
def test_subscribe_refuses_bad_arguments_at_once(service, arguments, error):
    with pytest.raises(error):
        service.subscribe(lambda events: None, **arguments)
    assert service.notifier.subscriber_count().get(timeout=5) == 1  # only the webhook dispatcher


def test_subscribe_refuses_a_target_that_is_neither_callable_nor_an_actor(service):
    with pytest.raises(TypeError, match="callable or a pykka ActorRef"):
        service.subscribe("print")


def test_a_refused_batch_size_leaves_the_notifier_serving_the_others(service, simulator):
    # max_batch=-1 used to be taken: the notifier then looped for ever cutting empty batches.
    got = []
    service.subscribe(got.extend, max_delay=0.01)
    with pytest.raises(ValueError):
        service.subscribe(lambda events: None, max_batch=-1, max_delay=0.01)
    add_model(simulator, service, "gpt-after-refusal")
    wait_for(lambda: any(e.model_id == "openai/gpt-after-refusal" for e in got), what="delivery")
    assert service.notifier.subscriber_count().get(timeout=5) == 2
