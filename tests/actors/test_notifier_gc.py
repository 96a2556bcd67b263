"""The notifier fans a batch out with the cyclic collector held back until every subscriber has it."""
from __future__ import annotations

import gc

import pytest

from actors.notifier import NotifierActor
from discovery.messages import ChangeBatch
from discovery.store import StoredEvent


@pytest.fixture
def notifier():
    ref = NotifierActor.start(default_max_delay=0.0)
    yield ref
    ref.stop()


def event(n: int) -> StoredEvent:
    return StoredEvent(n, "model_added", "acme", f"acme/m{n}", 1, 0.0, {"n": n})


@pytest.mark.parametrize("enabled_before", [True, False])
def test_no_collection_during_a_fan_out_and_the_collector_as_it_was_after(notifier, enabled_before):
    seen: list[tuple[bool, tuple[int, ...]]] = []
    proxy = notifier.proxy()
    for _ in range(3):
        proxy.subscribe(lambda events: seen.append((gc.isenabled(), tuple(e.id for e in events)))).get(timeout=5)
    was = gc.isenabled()
    try:
        if not enabled_before:
            gc.disable()
        proxy.publish(ChangeBatch((event(1), event(2)))).get(timeout=5)
        assert seen == [(False, (1, 2))] * 3  # every subscriber called, none with the collector on
        assert gc.isenabled() is enabled_before  # given back as it was (off stays off)
    finally:
        gc.enable() if was else gc.disable()


def test_a_subscriber_that_raises_does_not_leave_the_collector_off(notifier):
    proxy = notifier.proxy()
    got: list[int] = []

    def bad(events):
        raise RuntimeError("subscriber broke")

    proxy.subscribe(bad).get(timeout=5)
    proxy.subscribe(lambda events: got.extend(e.id for e in events)).get(timeout=5)
    assert gc.isenabled()
    proxy.publish(ChangeBatch((event(3),))).get(timeout=5)
    assert got == [3] and gc.isenabled()
