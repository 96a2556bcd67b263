"""The notifier's fan-out: immediate callables grouped by filter, everyone else queued, same results."""
from __future__ import annotations

import threading
import types

import pykka
import pytest

from actors.notifier import NotifierActor
from discovery.messages import ChangeBatch, EventFilter
from discovery.store import StoredEvent
from tests.conftest import wait_for


@pytest.fixture
def notifier():
    ref = NotifierActor.start(default_max_batch=100, default_max_delay=0.0)
    yield ref.proxy()
    ref.stop()


def event(n: int, kind: str = "added", provider: str = "acme") -> StoredEvent:
    return StoredEvent(n, kind, provider, f"{provider}/m{n}", 1, 0.0, {})


def publish(proxy, *events: StoredEvent) -> None:
    proxy.publish(ChangeBatch(tuple(events))).get(timeout=5)


def recorder(log: list, name: str):
    return lambda events: log.append((name, tuple(e.id for e in events)))


def test_each_subscriber_gets_what_its_filter_takes_in_order_cut_to_its_batch_size(notifier):
    log: list = []
    notifier.subscribe(recorder(log, "all")).get(timeout=5)
    notifier.subscribe(recorder(log, "added"), EventFilter.build(kinds=["added"])).get(timeout=5)
    notifier.subscribe(recorder(log, "added-2"), EventFilter.build(kinds=["added"]), max_batch=2).get(timeout=5)
    notifier.subscribe(recorder(log, "beta"), EventFilter.build(providers=["beta"])).get(timeout=5)
    publish(notifier, event(1), event(2, "removed"), event(3), event(4), event(5, provider="beta"))
    got = {name: [ids for who, ids in log if who == name] for name in ("all", "added", "added-2", "beta")}
    assert got == {"all": [(1, 2, 3, 4, 5)], "added": [(1, 3, 4, 5)], "added-2": [(1, 3), (4, 5)],
                   "beta": [(5,)]}
    # A batch nobody's filter takes calls nobody; the delivered count is per event per subscriber.
    publish(notifier, event(6, "deprecated", provider="gamma"))
    assert [ids for who, ids in log if who != "all"] == [(1, 3, 4, 5), (1, 3), (4, 5), (5,)]
    assert notifier.delivered.get(timeout=5) == 5 + 4 + 4 + 1 + 1


def test_a_subscriber_that_raises_is_not_counted_and_does_not_stop_the_rest(notifier):
    log: list = []

    def broken(events):
        raise RuntimeError("subscriber broke")

    notifier.subscribe(recorder(log, "first")).get(timeout=5)
    notifier.subscribe(broken).get(timeout=5)
    notifier.subscribe(recorder(log, "last")).get(timeout=5)
    publish(notifier, event(1), event(2))
    assert log == [("first", (1, 2)), ("last", (1, 2))]
    assert notifier.delivered.get(timeout=5) == 4


def test_pause_holds_a_direct_subscriber_and_resume_delivers_what_waited_then_goes_on(notifier):
    log: list = []
    held = notifier.subscribe(recorder(log, "held")).get(timeout=5)
    notifier.subscribe(recorder(log, "other")).get(timeout=5)
    notifier.pause(held).get(timeout=5)
    publish(notifier, event(1))
    publish(notifier, event(2))
    assert log == [("other", (1,)), ("other", (2,))]
    notifier.resume(held).get(timeout=5)
    assert log[-1] == ("held", (1, 2))
    publish(notifier, event(3))
    assert log[-2:] == [("held", (3,)), ("other", (3,))]


def test_unsubscribed_subscribers_get_nothing_more_and_the_rest_still_do(notifier):
    log: list = []
    ids = [notifier.subscribe(recorder(log, f"s{i}")).get(timeout=5) for i in range(3)]
    assert notifier.unsubscribe(ids[1]).get(timeout=5) is True
    assert notifier.unsubscribe(ids[1]).get(timeout=5) is False
    publish(notifier, event(1))
    assert log == [("s0", (1,)), ("s2", (1,))]
    assert notifier.subscriber_count().get(timeout=5) == 2


def test_delayed_and_actor_subscribers_are_batched_beside_the_direct_ones(notifier):
    log: list = []
    received: list = []
    arrived = threading.Event()

    class Sink(pykka.ThreadingActor):
        def on_receive(self, message):
            received.append(tuple(e.id for e in message.events))
            arrived.set()

    sink = Sink.start()
    try:
        notifier.subscribe(sink).get(timeout=5)
        notifier.subscribe(recorder(log, "delayed"), max_delay=0.2).get(timeout=5)
        notifier.subscribe(recorder(log, "direct")).get(timeout=5)
        publish(notifier, event(1))
        publish(notifier, event(2))
        assert log == [("direct", (1,)), ("direct", (2,))]  # the delayed one is still waiting
        wait_for(lambda: ("delayed", (1, 2)) in log, what="the delayed subscriber's batch")
        assert arrived.wait(5) and sum(received, ()) == (1, 2)
    finally:
        sink.stop()


def test_the_board_counts_the_subscribers_called_at_once_as_they_come_pause_and_go():
    board = types.SimpleNamespace(immediate_subscribers=0)
    ref = NotifierActor.start(default_max_delay=0.0, board=board)
    sink = pykka.ThreadingActor.start()
    try:
        proxy = ref.proxy()
        first = proxy.subscribe(lambda events: None).get(timeout=5)
        proxy.subscribe(lambda events: None, EventFilter.build(kinds=["added"])).get(timeout=5)
        proxy.subscribe(lambda events: None, max_delay=0.5).get(timeout=5)  # batched: not at once
        proxy.subscribe(sink).get(timeout=5)  # an actor is told, never called
        assert board.immediate_subscribers == 2
        proxy.pause(first).get(timeout=5)
        assert board.immediate_subscribers == 1
        proxy.resume(first).get(timeout=5)
        assert board.immediate_subscribers == 2
        proxy.unsubscribe(first).get(timeout=5)
        assert board.immediate_subscribers == 1
    finally:
        sink.stop()
        ref.stop()


def test_an_unsubscribed_filter_is_not_kept_once_no_subscriber_uses_it():
    """Equal filters are shared while subscribers use them and forgotten with the last one: a
    process whose subscribers come and go with ever other filters keeps only the ones in use."""
    import gc

    notifier = NotifierActor(default_max_batch=100, default_max_delay=0.0)  # its methods, called here
    ids = [notifier.subscribe(lambda events: None, EventFilter.build(model_glob=f"acme/m{i}*")) for i in range(5)]
    keep = notifier.subscribe(lambda events: None, EventFilter.build(model_glob="acme/m0*"))
    assert len(notifier._filters) == 5, "equal filters are shared"
    for sub_id in ids:
        assert notifier.unsubscribe(sub_id)
    gc.collect()
    assert len(notifier._filters) == 1, "only the filter a subscriber still uses is kept"
    notifier.unsubscribe(keep)
    gc.collect()
    assert len(notifier._filters) == 0
