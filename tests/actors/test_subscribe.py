"""Service.subscribe as an embedding application uses it: a real service, a real SQLite file and
the simulator over loopback HTTP."""
from __future__ import annotations

import sys
import threading
import time
from dataclasses import replace

import pykka
import pytest

from actors.subscriber import CallbackSubscriber
from discovery.messages import ChangeBatch
from discovery.store import StoredEvent
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
    (dict(max_delay=1e300), ValueError),  # past what a timer can be set for: it ended the timer thread
    (dict(max_delay=3600.5), ValueError),
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
    service.subscribe(got.extend, inline=False, max_delay=0.01)
    with pytest.raises(ValueError):
        service.subscribe(lambda events: None, max_batch=-1, max_delay=0.01)
    add_model(simulator, service, "gpt-after-refusal")
    wait_for(lambda: any(e.model_id == "openai/gpt-after-refusal" for e in got), what="delivery")
    assert service.notifier.subscriber_count().get(timeout=5) == 2


class Sink(pykka.ThreadingActor):
    """An actor subscriber: keeps the events it is told."""

    def __init__(self, got: list):
        super().__init__()
        self.got = got

    def on_receive(self, message):
        if isinstance(message, ChangeBatch):
            self.got.extend(message.events)


def test_a_blocked_callback_holds_up_no_other_subscriber(service, simulator):
    release, entered = threading.Event(), threading.Event()
    fast, told = [], []

    def stuck(events):
        entered.set()
        release.wait(30)

    service.subscribe(stuck, inline=False, max_delay=0)
    service.subscribe(stuck, inline=False, max_delay=0.01)
    service.subscribe(fast.extend, inline=False, max_delay=0)
    sink = Sink.start(told)
    try:
        service.subscribe(sink, inline=False, max_delay=0)
        for n in (1, 2):
            add_model(simulator, service, f"gpt-past-stuck-{n}")
            assert entered.wait(10)
            # The others get each commit while the stuck callbacks have not returned.
            wait_for(lambda n=n: any(e.model_id == f"openai/gpt-past-stuck-{n}" for e in fast), what="the fast callback")
            wait_for(lambda n=n: any(e.model_id == f"openai/gpt-past-stuck-{n}" for e in told), what="the actor")
        assert not release.is_set()
    finally:
        release.set()
        sink.stop()


def test_a_callback_may_subscribe_unsubscribe_and_call_the_service(service, simulator):
    inner, outcome, calls = [], {}, []
    box: dict = {}

    def callback(events):
        calls.append(events)
        if len(calls) > 1:
            return
        started = time.monotonic()
        try:
            box["inner"] = service.subscribe(inner.extend, kinds=["added"], inline=False, max_delay=0)
            box["unsubscribe"]()  # its own, from inside
            outcome["models"] = len(service.index.providers())
            outcome["seconds"] = time.monotonic() - started
            outcome["refresh"] = service.wait([service.refresh("openai")], timeout=20)[0].outcome
        except Exception as exc:
            outcome["error"] = exc

    box["unsubscribe"] = service.subscribe(callback, kinds=["added"], model_glob="openai/gpt-reentrant-*",
                                           inline=False, max_delay=0)
    add_model(simulator, service, "gpt-reentrant-1")
    wait_for(lambda: "refresh" in outcome or "error" in outcome, what="the callback to finish")
    assert "error" not in outcome, outcome
    # Each call back into the service used to wait for the notifier, busy calling this very
    # callback, for the whole ask timeout (5 s): a subscribe from inside failed with a Timeout.
    assert outcome["seconds"] < 4 and outcome["refresh"] == "succeeded", outcome
    add_model(simulator, service, "gpt-reentrant-2")
    wait_for(lambda: any(e.model_id == "openai/gpt-reentrant-2" for e in inner), what="the inner subscriber")
    assert len(calls) == 1  # unsubscribed from inside: never called again
    box["inner"]()
    box["unsubscribe"]()  # a second time: no error


def test_subscribe_and_unsubscribe_thousands_of_times_leaves_nothing_behind(service):
    baseline = service.notifier.subscriber_count().get(timeout=5)
    threads = threading.active_count()
    for n in range(2000):
        unsubscribe = service.subscribe(lambda events: None, kinds=["added"], model_glob=f"openai/m{n}*", inline=False,
                                        max_delay=0.01 * (n % 2))
        unsubscribe()
    assert service.notifier.subscriber_count().get(timeout=5) == baseline
    assert service._callbacks == {}
    wait_for(lambda: threading.active_count() <= threads, what="every subscriber's thread to end")


def test_stop_delivers_events_a_batch_was_still_gathering(service, simulator):
    # A long max_delay: the commit's events wait in the notifier for a batch when stop() comes.
    called, told = [], []
    # Only the model added here: the start's refresh may still be on its way to the notifier.
    only = dict(kinds=["added"], model_glob="openai/gpt-before-stop", max_delay=30)
    service.subscribe(called.extend, inline=False, **only)
    sink = Sink.start(told)
    try:
        service.subscribe(sink, **only)
        add_model(simulator, service, "gpt-before-stop")
        service.stop()
        assert [e.model_id for e in called] == ["openai/gpt-before-stop"]
        wait_for(lambda: [e.model_id for e in told] == ["openai/gpt-before-stop"], what="the actor's batch")
    finally:
        sink.stop()


def stored_ids(service, after: int = 0, kinds=()) -> list[int]:
    ids: list[int] = []
    while True:
        page = service.events_after(after, 1000, kinds)
        if not page:
            return ids
        ids += [e.id for e in page]
        after = page[-1].id


def test_a_subscriber_resumes_after_a_restart_from_its_last_event_id(start_service, simulator):
    sources = [provider_config(simulator, "openai", "openai_compatible", route="openai")]
    first = start_service(sources)
    seen: list[int] = []
    first.subscribe(lambda events: seen.extend(e.id for e in events), kinds=["added"])
    add_model(simulator, first, "gpt-before-restart")
    wait_for(lambda: seen and seen == stored_ids(first, kinds=["added"]), what="the first service's events")
    first.stop()
    last_seen = seen[-1]

    # Committed while no subscriber ran, then more while the subscriber catches up.
    simulator.state.add_model("openai", {"id": "gpt-while-down", "object": "model", "created": 1750000000,
                                         "owned_by": "openai"})
    second = start_service(sources)
    wait_for(lambda: second.index.entry("openai/gpt-while-down"), what="the start-up refresh")
    batches: list[tuple[int, ...]] = []
    stop = threading.Event()

    def commit_more() -> None:
        for n in range(6):
            if stop.is_set():
                return
            add_model(simulator, second, f"gpt-during-catch-up-{n}")

    writer = threading.Thread(target=commit_more)
    writer.start()
    try:
        second.subscribe(lambda events: batches.append(tuple(e.id for e in events)), kinds=["added"],
                         max_batch=2, since=last_seen)
    finally:
        writer.join(60)
        stop.set()
    expected = stored_ids(second, after=last_seen, kinds=["added"])
    assert len(expected) >= 7
    wait_for(lambda: [i for b in batches for i in b] == expected,
             what="every added event after the resume point exactly once, in order")
    assert all(1 <= len(b) <= 2 for b in batches)


def test_an_event_caught_up_from_the_store_is_not_delivered_again_when_its_commit_is_told_late(
        service, simulator):
    # The writer commits, then tells the notifier. A subscription resuming in between reads the
    # event from the store; the tell, arriving after the resume, must not deliver it again.
    telemetry = service.view.telemetry
    committed, release = threading.Event(), threading.Event()
    counted = telemetry.events_committed

    def held(kinds):
        kinds = list(kinds)
        counted(kinds)
        # Not the first refresh's commits, which may still be on their way to the notifier.
        if "added" in kinds and service.view.last_event_id > since:
            committed.set()
            release.wait(30)

    since = service.last_event_id()
    telemetry.events_committed = held
    try:
        simulator.state.add_model("openai", {"id": "gpt-told-late", "object": "model", "created": 1750000000,
                                             "owned_by": "openai"})
        ticket = service.refresh("openai")
        assert committed.wait(30), "the commit"
        got: list[int] = []
        service.subscribe(lambda events: got.extend(e.id for e in events), kinds=["added"], since=since,
                          max_delay=0)
        assert got == stored_ids(service, after=since, kinds=["added"]) and got
    finally:
        telemetry.events_committed = counted
        release.set()
    service.wait([ticket], timeout=30)
    add_model(simulator, service, "gpt-after-the-late-tell")
    expected = stored_ids(service, after=since, kinds=["added"])
    wait_for(lambda: got[-1:] == expected[-1:], what="the next commit's event")
    assert got == expected


def test_a_resume_point_past_the_newest_event_delivers_from_now(service, simulator):
    got: list[str] = []
    service.subscribe(lambda events: got.extend(e.model_id for e in events), kinds=["added"],
                      since=service.last_event_id() + 1000)
    add_model(simulator, service, "gpt-after-future-point")
    wait_for(lambda: got == ["openai/gpt-after-future-point"], what="the next commit's event")


def test_a_subscriber_resuming_from_0_gets_the_whole_feed_once(service, simulator):
    got: list[int] = []
    service.subscribe(lambda events: got.extend(e.id for e in events), since=0, inline=False, max_delay=0)
    add_model(simulator, service, "gpt-after-full-resume")
    wait_for(lambda: got and got == stored_ids(service), what="the whole feed")
    assert len(got) == len(set(got))


def test_concurrent_refreshes_reach_each_subscriber_once_in_order_in_bounded_batches(start_service, simulator):
    tenants = ["t1", "t2", "t3"]
    configs = [replace(provider_config(simulator, t, "openai_compatible", manual_refresh_per_minute=100),
                       base_url=simulator.base_url("openai", tenant=t)) for t in tenants]
    service = start_service(configs)
    wait_for(lambda: all(p.get("last_success_at") for p in service.providers()), what="the first refreshes")
    start = service.last_event_id()
    kinds = ("added", "models_refreshed")
    seen: dict[str, list[tuple[int, ...]]] = {"own": [], "inline": [], "actor": [], "t2": []}
    limits = {"own": 3, "inline": 2, "actor": 4, "t2": 1}

    def keep(name):
        return lambda events: seen[name].append(tuple(e.id for e in events))

    # since=start: nothing committed between reading it and subscribing is missed.
    service.subscribe(keep("own"), kinds=kinds, max_batch=3, inline=False, max_delay=0.02, since=start)
    service.subscribe(keep("inline"), kinds=kinds, max_batch=2, max_delay=0, inline=True, since=start)
    service.subscribe(keep("t2"), kinds=kinds, providers=["t2"], max_batch=1, since=start)
    told: list = []
    sink = Sink.start(told)
    try:
        service.subscribe(sink, kinds=kinds, max_batch=4, inline=False, max_delay=0.01, since=start)

        def rounds(tenant: str) -> None:
            for n in range(4):
                for m in range(3):
                    simulator.tenant_state(tenant).add_model("openai", {
                        "id": f"gpt-{n}-{m}", "object": "model", "created": 1750000000, "owned_by": tenant})
                service.wait([service.refresh(tenant)], timeout=30)

        writers = [threading.Thread(target=rounds, args=(t,)) for t in tenants]
        for w in writers:
            w.start()
        for w in writers:
            w.join(60)
        events = []
        after = start
        while page := service.events_after(after, 1000, kinds):
            events += page
            after = page[-1].id
        expected = [e.id for e in events]
        assert len(expected) >= 3 * 4 * 4
        wait_for(lambda: [i for b in seen["own"] for i in b] == expected, what="the own-thread callable")
        wait_for(lambda: [i for b in seen["inline"] for i in b] == expected, what="the inline callable")
        wait_for(lambda: [e.id for e in told] == expected, what="the actor")
        wait_for(lambda: [i for b in seen["t2"] for i in b] == [e.id for e in events if e.provider == "t2"],
                 what="the filtered callable")
        for name, batches in seen.items():
            assert all(1 <= len(b) <= limits[name] for b in batches), name
    finally:
        sink.stop()


def test_subscribe_refuses_an_actor_that_has_stopped(service):
    sink = Sink.start([])
    sink.stop()
    with pytest.raises(pykka.ActorDeadError):
        service.subscribe(sink)


def test_an_inline_callable_may_unsubscribe_itself_and_is_told_it_cannot_subscribe(service, simulator):
    calls, outcome = [], {}
    box: dict = {}

    def callback(events):
        calls.append(events)
        if len(calls) > 1:
            return
        started = time.monotonic()
        try:
            service.subscribe(lambda events: None)
        except RuntimeError as exc:
            outcome["subscribe"] = exc
        box["unsubscribe"]()
        outcome["seconds"] = time.monotonic() - started

    box["unsubscribe"] = service.subscribe(callback, kinds=["added"], model_glob="openai/gpt-inline-*",
                                           max_delay=0, inline=True)
    add_model(simulator, service, "gpt-inline-1")
    wait_for(lambda: "seconds" in outcome, what="the inline callable to return")
    # Both used to wait for the notifier, busy calling this callable, for 5 s (the ask timeout).
    assert outcome["seconds"] < 4 and "inline" in str(outcome["subscribe"]), outcome
    add_model(simulator, service, "gpt-inline-2")
    assert service.notifier.subscriber_count().get(timeout=5) == 1  # the webhook dispatcher only
    assert len(calls) == 1


def test_a_callable_that_ends_its_thread_stops_taking_events():
    own = CallbackSubscriber(lambda events: sys.exit(), max_batch=10)
    own((StoredEvent(1, "added", "acme", "acme/m1", 1, 0.0, {}),))
    assert own.join(5)
    own((StoredEvent(2, "added", "acme", "acme/m2", 1, 0.0, {}),))
    assert own.behind() == 0


def test_a_subscriber_cannot_change_the_events_other_subscribers_get(service, simulator):
    refused, others, inline = [], [], []

    def meddler(events):
        for event in events:
            data = event.data
            for change in (lambda: data.__setitem__("capabilities", ["hacked"]),  # noqa: B023 (called at once)
                           lambda: data["capabilities"].append("hacked"),  # noqa: B023
                           lambda: data.pop("model")):  # noqa: B023
                try:
                    change()
                except TypeError:
                    refused.append(event.id)

    # Only the model added here: the start's refresh may still be on its way to the notifier.
    only = dict(kinds=["added"], model_glob="openai/gpt-shared-event", max_delay=0)
    service.subscribe(meddler, inline=True, **only)
    service.subscribe(meddler, inline=False, **only)
    service.subscribe(others.extend, inline=False, **only)
    service.subscribe(inline.extend, inline=True, **only)
    add_model(simulator, service, "gpt-shared-event")
    wait_for(lambda: others and inline and len(refused) == 6, what="every subscriber's batch")
    stored = service.events_after(others[0].id - 1, 1)[0]
    for event in (others[0], inline[0]):
        assert event.data == stored.data and event.data["capabilities"] == [] and "model" in event.data


def test_stop_does_not_wait_for_ever_for_a_stuck_callable(service, simulator):
    release, entered = threading.Event(), threading.Event()

    def stuck(events):
        entered.set()
        release.wait(30)

    service.subscribe(stuck, inline=False, max_delay=0)
    try:
        add_model(simulator, service, "gpt-stuck-at-stop")
        assert entered.wait(10)
        started = time.monotonic()
        service.stop(timeout=0.5)
        assert time.monotonic() - started < 4
    finally:
        release.set()


def test_stop_with_a_stuck_inline_callable_returns_logs_it_and_frees_the_database(start_service, simulator,
                                                                                   db_url):
    """It raised pykka.Timeout after twice its timeout, logged no stop, and held the SQLite file's
    instance lock: the process could not start a service on it again."""
    from loguru import logger

    service = start_service([provider_config(simulator, "openai", "openai_compatible", route="openai")])
    wait_for(lambda: len(service.index), what="the first refresh")
    release, entered = threading.Event(), threading.Event()

    def stuck(events):
        entered.set()
        release.wait(30)

    service.subscribe(stuck, max_delay=0)  # inline: on the notifier's own thread
    lines: list[str] = []
    sink = logger.add(lambda message: lines.append(message), level="INFO", format="{level} {message}")
    try:
        add_model(simulator, service, "gpt-stuck-inline")
        assert entered.wait(10)
        started = time.monotonic()
        service.stop(timeout=0.5)  # no exception
        assert time.monotonic() - started < 4
        again = start_service([provider_config(simulator, "openai", "openai_compatible", route="openai")])
        wait_for(lambda: len(again.index), what="the second service's catalog")
    finally:
        logger.remove(sink)
        release.set()
    assert any("inline subscriber's callable" in line for line in lines), lines
    assert any(line.startswith("INFO service stopped") for line in lines), lines


def test_stop_leaves_the_processs_own_actors_running_and_puts_its_settings_back(start_service, simulator, tmp_path):
    """stop() ended with pykka's stop_all: an embedding application's actors were stopped too.
    And the switch interval, the collector's thresholds and SIGUSR1's handler stayed the service's."""
    import gc
    import signal

    class Sink(pykka.ThreadingActor):
        def ping(self):
            return "pong"

    def own_handler(signum, frame):
        pass

    before = (sys.getswitchinterval(), gc.get_threshold(), signal.signal(signal.SIGUSR1, own_handler))
    own = Sink.start()
    try:
        first = start_service([provider_config(simulator, "openai", "openai_compatible", route="openai")])
        wait_for(lambda: len(first.index), what="the catalog")
        assert signal.getsignal(signal.SIGUSR1) is not own_handler  # the service's thread dump
        # One service a process: the store, its fence and the redaction are the process's.
        with pytest.raises(RuntimeError, match="already running in this process"):
            start_service([provider_config(simulator, "openai", "openai_compatible", route="openai")],
                          database_url=f"sqlite:///{tmp_path / 'second.db'}")
        first.stop()
        assert own.is_alive() and own.proxy().ping().get(timeout=5) == "pong"
        assert signal.getsignal(signal.SIGUSR1) is own_handler
        assert (sys.getswitchinterval(), gc.get_threshold()) == before[:2]
        # Stopped, the process may start another.
        second = start_service([provider_config(simulator, "openai", "openai_compatible", route="openai")],
                               database_url=f"sqlite:///{tmp_path / 'second.db'}")
        (outcome,) = second.wait([second.refresh("openai")], timeout=30)
        assert outcome.outcome == "succeeded", outcome.error
    finally:
        own.stop()
        signal.signal(signal.SIGUSR1, before[2])


def test_no_call_of_a_threaded_callable_begins_after_its_unsubscribe_returned(service, simulator):
    """A batch its thread had already taken was still given after unsubscribe() returned (57 of 60
    subscribers got such a late call): the call under way is now waited for."""
    import random

    started = threading.Event()
    subscribers = []
    for _ in range(60):
        record = {"ended": False, "late": 0, "calls": 0}

        def callable_(events, record=record):
            started.set()
            if record["ended"]:
                record["late"] += 1
            record["calls"] += 1
            sum(range(300))  # CPU: the threads take turns on the GIL, as in an application

        record["unsubscribe"] = service.subscribe(callable_, inline=False, max_batch=1, kinds=["added"])
        subscribers.append(record)
    simulator.state.set_models("openai", [*simulator.state.models("openai"), *(
        {"id": f"gpt-many-{i:04d}", "object": "model", "created": 1, "owned_by": "x"} for i in range(3000))])
    service.refresh("openai")
    assert started.wait(30)
    for record in random.sample(subscribers, len(subscribers)):
        time.sleep(random.random() * 0.01)
        record["unsubscribe"]()
        record["ended"] = True
    time.sleep(0.5)
    late = [r for r in subscribers if r["late"]]
    assert not late, f"{len(late)} of {len(subscribers)} were called after their unsubscribe returned"
    assert any(r["calls"] > 1 for r in subscribers)


def test_a_provider_nobody_lists_is_taken_with_a_warning_that_names_it(service, simulator):
    """Not refused (a provider only a catalog lists is known after its first refresh), but a
    misspelled name would match nothing, silently: the subscribe says so in the log."""
    from loguru import logger

    lines: list[str] = []
    sink = logger.add(lines.append, level="WARNING")
    try:
        unsubscribe = service.subscribe(lambda events: None, providers=["opneai"])
        quiet = service.subscribe(lambda events: None, providers=["openai"])
    finally:
        logger.remove(sink)
    unsubscribe()
    quiet()
    warned = [line for line in lines if "subscribe:" in line]
    assert len(warned) == 1 and "opneai" in warned[0] and "openai" in warned[0]


def test_events_are_copied_read_only_only_while_a_subscriber_asks_for_it(service, simulator):
    """read_only=False (the event stream's way) spares the copy: while no subscriber wants read-only
    data no batch is sealed; once one does, every subscriber is given the sealed events."""
    from discovery.model import FrozenDict

    plain, sealed_too = [], []
    only = dict(kinds=["added"], model_glob="openai/gpt-copy-*", max_delay=0)
    service.subscribe(plain.extend, read_only=False, **only)
    add_model(simulator, service, "gpt-copy-1")
    wait_for(lambda: plain, what="the first batch")
    assert type(plain[0].data) is not FrozenDict
    service.subscribe(sealed_too.extend, **only)
    add_model(simulator, service, "gpt-copy-2")
    wait_for(lambda: len(plain) == 2 and sealed_too, what="the second batch")
    assert type(sealed_too[0].data) is FrozenDict and plain[1].data == sealed_too[0].data


def test_an_events_to_dict_is_plain_json_the_standard_module_writes(service, simulator):
    """The README's example prints e.to_dict(); json.dumps of it raised TypeError (a record was
    its stored bytes, a mapping of the service's own), read-only or not."""
    import json

    got = []
    for read_only in (True, False):
        service.subscribe(got.extend, read_only=read_only, kinds=["added"], model_glob="openai/gpt-plain-*",
                          max_delay=0)
    add_model(simulator, service, "gpt-plain-1")
    wait_for(lambda: len(got) == 2, what="both batches")
    for event in got:
        written = json.loads(json.dumps(event.to_dict()))
        assert written["data"]["model"]["id"] == "openai/gpt-plain-1"
        assert written["time"].endswith("Z") and written["kind"] == "added"
    # The same as the feed's answer for it.
    from web import create_app

    feed = create_app(service).test_client().get("/api/v1/events?kind=added&limit=1000").get_json()["data"]
    assert [e for e in feed if e["id"] == got[0].id] == [got[0].to_dict()]


def test_an_inline_callable_that_unsubscribes_itself_is_not_called_again(service, simulator):
    """An inline callable's unsubscribe could not wait for the notifier (busy calling it), so the
    commits already queued behind the one it handled still reached it: it takes effect at once."""
    calls, seen_by_others = [], []
    only = dict(kinds=["added"], model_glob="openai/gpt-once-*", max_delay=0)
    unsubscribe = None

    def once(events):
        calls.append(events)
        # Hold the notifier until the next commit's batch waits in its mailbox, then leave.
        deadline = time.monotonic() + 10
        while service.index.entry("openai/gpt-once-2") is None and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.2)
        unsubscribe()

    unsubscribe = service.subscribe(once, **only)
    service.subscribe(seen_by_others.extend, **only)
    simulator.state.add_model("openai", {"id": "gpt-once-1", "object": "model", "created": 1, "owned_by": "x"})
    first = service.refresh("openai")
    wait_for(lambda: calls, what="the first batch")
    add_model(simulator, service, "gpt-once-2")
    service.wait([first], timeout=30)
    wait_for(lambda: len(seen_by_others) == 2, what="both batches at the other subscriber")
    assert len(calls) == 1 and [e.model_id for e in calls[0]] == ["openai/gpt-once-1"]


def test_calls_on_a_stopped_service_say_it_is_stopped(start_service, simulator):
    """They raised pykka's "SupervisorActor (urn:uuid:...) not found", naming an actor of the
    service's insides; subscribe alone said the service was stopped."""
    from actors.stopped import ServiceStopped

    service = start_service([provider_config(simulator, "openai", "openai_compatible", route="openai")])
    wait_for(lambda: len(service.index), what="the catalog")
    service.stop()
    for call in (lambda: service.refresh("openai"), service.providers, service.last_event_id,
                 lambda: service.events_after(0), lambda: service.health("openai"), service.refresh_all,
                 lambda: service.history("openai/x"), lambda: service.subscribe(print),
                 lambda: service.catalog_as_of(time.time()), lambda: service.changes_between(0, time.time()),
                 lambda: service.record_detail(next(iter(service.index.ids()))), service.check_lifecycle,
                 lambda: service.run_benchmark("openai/x"), service.catalog_id):
        with pytest.raises(RuntimeError, match="the service is stopped") as raised:
            call()
        assert isinstance(raised.value, ServiceStopped) and isinstance(raised.value, pykka.ActorDeadError)
    # What needs no actor still answers: the last catalog it served.
    assert len(service.index) > 0


def test_a_start_that_fails_leaves_the_process_as_it_was(start_service, simulator, db_url):
    """A start refused by the instance lock had set the switch interval, the collector and
    SIGUSR1's handler, left its notifier running, and kept the process from starting another."""
    import gc
    import signal

    from actors.service import AnotherInstance, hold_single_instance

    before = (sys.getswitchinterval(), gc.get_threshold(), signal.getsignal(signal.SIGUSR1))
    actors_before = set(pykka.ActorRegistry.get_all())
    held = hold_single_instance(db_url)  # as another instance would
    try:
        with pytest.raises(AnotherInstance):
            start_service([provider_config(simulator, "openai", "openai_compatible", route="openai")])
        assert (sys.getswitchinterval(), gc.get_threshold(), signal.getsignal(signal.SIGUSR1)) == before
        assert set(pykka.ActorRegistry.get_all()) == actors_before
    finally:
        held.close()
    service = start_service([provider_config(simulator, "openai", "openai_compatible", route="openai")])
    wait_for(lambda: len(service.index), what="the catalog of the next start")


def test_an_inline_callable_unsubscribing_a_busy_threaded_one_does_not_hold_up_the_notifier(service, simulator):
    """The unsubscribe waited up to 5 s for the threaded callable's call, on the notifier's own
    thread: every subscriber, the stream and the webhooks waited with it."""
    entered, release = threading.Event(), threading.Event()

    def busy(events):
        entered.set()
        release.wait(10)

    off = service.subscribe(busy, inline=False, max_delay=0, kinds=["added"])
    took: list[float] = []

    def inline(events):
        if entered.is_set() and not took:
            started = time.monotonic()
            off()
            took.append(time.monotonic() - started)

    service.subscribe(inline, max_delay=0, kinds=["added"])
    try:
        add_model(simulator, service, "gpt-busy-1")
        assert entered.wait(10)
        add_model(simulator, service, "gpt-busy-2")
        wait_for(lambda: took, what="the inline callable's unsubscribe")
        assert took[0] < 1.0, took
    finally:
        release.set()


def test_start_service_refuses_a_short_token_as_the_settings_file_does(start_service, simulator):
    with pytest.raises(ValueError, match="admin_token: a token must be at least 16 characters"):
        start_service([provider_config(simulator, "openai", "openai_compatible", route="openai")], admin_token="t")
