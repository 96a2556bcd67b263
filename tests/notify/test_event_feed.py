"""The persisted feed page and the SSE stream over real HTTP (a threaded server on a loopback port)."""
from __future__ import annotations

import threading

import pytest

from tests.conftest import wait_for
from tests.notify.conftest import NOTIFY_SETTINGS, LiveServer, SSEClient, add_model, openai_source
from web import create_app


@pytest.fixture
def running(start_service, simulator):
    service = start_service(openai_source(simulator), **NOTIFY_SETTINGS)
    wait_for(lambda: service.last_event_id() > 0, what="the first refresh's events")
    return service


@pytest.fixture
def live(running):
    server = LiveServer(running)
    yield server
    server.stop()


def commit_one(service, simulator, name):
    add_model(simulator, name)
    (outcome,) = service.wait([service.refresh("openai")], timeout=10)
    assert outcome.outcome == "succeeded"


def all_ids(service):
    return [e.id for e in service.events_after(0, 100_000)]


def test_sse_client_that_disconnects_and_reconnects_with_last_event_id_gets_every_event_once_in_order(
        running, live, simulator):
    stop = threading.Event()
    committed = []

    def produce():
        # Commits keep coming while the client is away and while it catches up.
        for i in range(25):
            if stop.is_set():
                return
            commit_one(running, simulator, f"gpt-sse-{i}")
            committed.append(i)

    first = SSEClient(live.port, "/api/v1/events/stream?since=0")
    assert first.status == 200 and first.headers["content-type"].startswith("text/event-stream")
    producer = threading.Thread(target=produce, daemon=True)
    producer.start()
    received = []
    try:
        wait_for(lambda: len(committed) >= 3, what="some commits during the stream")
        while len(received) < 70:  # the initial refresh's events and a few live ones
            msg = first.next_message()
            assert msg is not None
            received.append((int(msg.id), msg.event, msg.json()))
    finally:
        first.close()  # disconnect mid-stream
    wait_for(lambda: len(committed) >= 10, what="commits while disconnected")
    second = SSEClient(live.port, "/api/v1/events/stream", last_event_id=received[-1][0])
    try:
        producer.join(timeout=30)
        final = running.last_event_id()
        while received[-1][0] < final:
            msg = second.next_message()
            assert msg is not None
            received.append((int(msg.id), msg.event, msg.json()))
    finally:
        stop.set()
        second.close()
    ids = [r[0] for r in received]
    assert ids == all_ids(running), "every stored event exactly once, in id order"
    assert all(kind == body["kind"] and eid == body["id"] for eid, kind, body in received)
    added = {body["model_id"] for _, kind, body in received if kind == "added"}
    assert {f"openai/gpt-sse-{i}" for i in committed} <= added


def test_stream_without_a_resume_point_starts_at_the_newest_event_and_sends_heartbeats(
        running, live, simulator):
    client = SSEClient(live.port, "/api/v1/events/stream")
    try:
        before = running.last_event_id()
        commit_one(running, simulator, "gpt-live-only")
        msg = client.next_message()
        assert int(msg.id) > before and msg.event == "added" and msg.json()["model_id"] == "openai/gpt-live-only"
        # Then the run's refreshed count, then heartbeat comments while nothing happens.
        assert set(client.wait_comment("heartbeat")) <= {"models_refreshed"}
        assert client.wait_comment("heartbeat") == []
    finally:
        client.close()


def test_stream_filters_by_kind_provider_and_model_glob(running, live, simulator):
    since = running.last_event_id()
    client = SSEClient(live.port, f"/api/v1/events/stream?since={since}&kinds=added&provider=openai"
                                  "&model=openai/gpt-want-*")
    try:
        commit_one(running, simulator, "gpt-skip-1")
        commit_one(running, simulator, "gpt-want-1")
        msg = client.next_message()
        assert msg.event == "added" and msg.json()["model_id"] == "openai/gpt-want-1"
    finally:
        client.close()


def test_stream_with_a_malformed_last_event_id_answers_400(running, live):
    client = SSEClient(live.port, "/api/v1/events/stream", last_event_id="abc")  # type: ignore[arg-type]
    assert client.status == 400
    client.close()


def test_closed_streams_are_released_at_once_and_share_one_subscription(running, live, simulator):
    clients = [SSEClient(live.port, "/api/v1/events/stream") for _ in range(3)]
    wait_for(lambda: live.hub.stream_count == 3, what="three open streams")
    subscribers = running.notifier.subscriber_count().get()
    clients.append(SSEClient(live.port, "/api/v1/events/stream"))
    wait_for(lambda: live.hub.stream_count == 4, what="four open streams")
    assert running.notifier.subscriber_count().get() == subscribers, "one subscription for every stream"
    for c in clients:
        c.close()
    # The server sees the disconnect itself; no write (event or heartbeat) is needed to notice it.
    wait_for(lambda: live.hub.stream_count == 0, timeout=running.settings.sse_heartbeat / 2 + 2,
             what="streams released")


def test_event_page_follows_next_cursor_through_the_whole_feed(running, simulator):
    client = create_app(running).test_client()
    for i in range(3):
        commit_one(running, simulator, f"gpt-page-{i}")
    seen, since = [], 0
    while True:
        body = client.get(f"/api/v1/events?since={since}&limit=7").get_json()
        seen += [e["id"] for e in body["data"]]
        since = body["next"]
        if not body["has_more"]:
            break
    assert seen == all_ids(running)
    assert body["last_event_id"] == running.last_event_id()


def test_event_page_filters_and_rejects_unknown_kinds(running, simulator):
    client = create_app(running).test_client()
    commit_one(running, simulator, "gpt-kinds-1")
    added = client.get("/api/v1/events?kinds=added&model=openai/gpt-kinds-*").get_json()["data"]
    assert [e["model_id"] for e in added] == ["openai/gpt-kinds-1"]
    counts = client.get("/api/v1/events?kinds=models_refreshed&provider=openai&limit=1000").get_json()["data"]
    assert counts and all(e["kind"] == "models_refreshed" and {"total", "added"} <= e["data"].keys()
                          for e in counts)
    bad = client.get("/api/v1/events?kinds=exploded")
    assert bad.status_code == 400 and "exploded" in bad.get_json()["error"]["message"]


def test_stream_resumes_with_last_event_id_while_stored_events_are_read_exactly_once_in_order(
        running, live, simulator):
    first = SSEClient(live.port, "/api/v1/events/stream?since=0")
    assert first.status == 200 and first.headers["content-type"].startswith("text/event-stream")
    received = []
    try:
        for i in range(3):
            commit_one(running, simulator, f"gpt-hub-{i}")
        for _ in range(40):
            received.append(int(first.next_message().id))
    finally:
        first.close()
    for i in range(3, 6):
        commit_one(running, simulator, f"gpt-hub-{i}")  # while disconnected
    second = SSEClient(live.port, "/api/v1/events/stream", last_event_id=received[-1])
    try:
        commit_one(running, simulator, "gpt-hub-live")  # while the stored events are read
        final = running.last_event_id()
        while received[-1] < final:
            received.append(int(second.next_message().id))
        assert set(second.wait_comment("heartbeat")) <= {"added", "models_refreshed"}
    finally:
        second.close()
    assert received == all_ids(running)
    wait_for(lambda: live.hub.stream_count == 0, what="the server to drop closed streams")


def test_stream_refuses_bad_requests_with_json_errors(running, live):
    for path, header in (("/api/v1/events/stream?kinds=exploded", None), ("/api/v1/events/stream", "x"),
                         ("/api/v1/events/stream?since=99999999999999999999", None)):
        client = SSEClient(live.port, path, last_event_id=header)  # type: ignore[arg-type]
        assert client.status == 400
        body = client.file.read()
        assert b'"invalid_parameter"' in body
        client.close()


def test_resume_point_past_the_newest_event_streams_from_the_newest_event(running, live, simulator):
    client = SSEClient(live.port, "/api/v1/events/stream", last_event_id=999_999_999)
    try:
        assert client.status == 200
        before = running.last_event_id()
        commit_one(running, simulator, "gpt-after-reset")
        msg = client.next_message()
        assert int(msg.id) == before + 1 and msg.json()["model_id"] == "openai/gpt-after-reset"
        assert any("past the newest event" in c for c in client.comments)
    finally:
        client.close()
    page = create_app(running).test_client().get("/api/v1/events?since=999999999").get_json()
    assert page == {"data": [], "next": running.last_event_id(), "has_more": False,
                    "last_event_id": running.last_event_id(), "missed": 0}


def test_streams_past_the_cap_get_503_and_the_api_still_answers_on_the_same_port(start_service, simulator):
    import requests

    service = start_service(openai_source(simulator), **{**NOTIFY_SETTINGS, "sse_max_streams": 3})
    wait_for(lambda: service.last_event_id() > 0, what="the first refresh's events")
    server = LiveServer(service)
    clients = []
    try:
        clients = [SSEClient(server.port, "/api/v1/events/stream") for _ in range(3)]
        assert [c.status for c in clients] == [200, 200, 200]
        refused = SSEClient(server.port, "/api/v1/events/stream")
        assert refused.status == 503 and int(refused.headers["retry-after"]) > 0
        refused.close()
        health = requests.get(f"{server.url}/healthz", timeout=2)
        assert health.status_code == 200 and health.json()["status"] == "ok"
        assert requests.get(f"{server.url}/api/v1/models?limit=1", timeout=2).status_code == 200
    finally:
        for c in clients:
            c.close()
        server.stop()


def test_hundreds_of_open_streams_hold_no_thread_each_and_all_get_the_next_event(running, live, simulator):
    threads_before = threading.active_count()
    clients = [SSEClient(live.port, "/api/v1/events/stream") for _ in range(200)]
    try:
        wait_for(lambda: live.hub.stream_count == 200, what="200 open streams")
        # At most the event loop's small reader pool (the newest id is read off the loop) is added.
        assert threading.active_count() <= threads_before + 8, "an open stream must not hold a thread"
        commit_one(running, simulator, "gpt-for-everyone")
        for client in clients:
            msg = client.next_message()
            assert msg.event == "added" and msg.json()["model_id"] == "openai/gpt-for-everyone"
    finally:
        for client in clients:
            client.close()


def test_a_closed_streams_filter_is_not_kept_once_no_open_stream_uses_it(running, live):
    """Each distinct filter (kinds, provider, capability, model glob) a client streams with is
    shared while streams use it, and forgotten with the last of them: a long-running service whose
    clients follow ever other models must not keep every filter it was ever asked for."""
    import gc

    clients = [SSEClient(live.port, f"/api/v1/events/stream?model=openai/gpt-follow-{i}-*") for i in range(5)]
    shared = [SSEClient(live.port, "/api/v1/events/stream?model=openai/gpt-follow-0-*")]
    wait_for(lambda: live.hub.stream_count == 6, what="six open streams")
    assert len(live.hub._filters) == 5, "equal filters are shared"
    for c in clients:
        c.close()
    wait_for(lambda: live.hub.stream_count == 1, timeout=running.settings.sse_heartbeat / 2 + 2,
             what="five streams released")
    # A stream is counted out in its coroutine's last steps: the frame that holds its filter
    # ends a moment later (so the filters are watched, with a collection each look, not read once).
    wait_for(lambda: gc.collect() >= 0 and len(live.hub._filters) == 1, timeout=5,
             what="only the filter an open stream still uses kept")
    shared[0].close()
    wait_for(lambda: live.hub.stream_count == 0, timeout=running.settings.sse_heartbeat / 2 + 2,
             what="the last stream released")
    wait_for(lambda: gc.collect() >= 0 and len(live.hub._filters) == 0, timeout=5, what="no filter kept")


@pytest.fixture
def pruned(start_service, simulator):
    """A service whose retention kept only the newest 5 events; yields it and its oldest kept id."""
    service = start_service(openai_source(simulator), **{**NOTIFY_SETTINGS, "event_retention_count": 5})
    wait_for(lambda: service.last_event_id() > 10, what="the first refresh's events")
    assert service.webhooks.prune() > 0
    oldest = all_ids(service)[0]
    assert oldest > 2
    return service, oldest


def test_event_page_resumed_from_below_retention_says_how_many_events_were_missed(pruned):
    service, oldest = pruned
    client = create_app(service).test_client()
    body = client.get("/api/v1/events?since=1&limit=1000").get_json()
    assert body["missed"] == oldest - 2  # events 2 .. oldest-1 are gone
    assert body["data"][0]["id"] == oldest
    assert client.get(f"/api/v1/events?since={oldest - 1}").get_json()["missed"] == 0
    assert client.get(f"/api/v1/events?since={oldest}").get_json()["missed"] == 0
    # A filter does not hide the loss: the events deleted may have matched it.
    assert client.get("/api/v1/events?since=1&kinds=retiring_soon").get_json()["missed"] == oldest - 2


def test_an_in_process_subscriber_resumed_from_below_retention_is_told_how_many_events_it_missed(pruned):
    """As the page and the stream say it: the in-process resume was silent."""
    from loguru import logger

    service, oldest = pruned
    told: list[tuple[str, int]] = []
    got: list[int] = []
    warned: list[str] = []
    sink = logger.add(lambda message: warned.append(str(message)), level="WARNING", format="{message}")
    try:
        stop = service.subscribe(lambda events: got.extend(e.id for e in events), since=1,
                                 on_missed=lambda missed: told.append(("missed", missed, tuple(got))))
        wait_for(lambda: got and got[-1] >= all_ids(service)[-1], what="the catch-up")
        stop()
        assert told == [("missed", oldest - 2, ())]  # before any event was given
        assert got[0] == oldest
        assert [w for w in warned if f"deleted the {oldest - 2} events after it" in w]
        # Resumed from the oldest kept event's predecessor: nothing was missed, nothing said.
        quiet: list[int] = []
        stop = service.subscribe(lambda events: None, since=oldest - 1, on_missed=quiet.append)
        stop()
        assert quiet == []
    finally:
        logger.remove(sink)
    with pytest.raises(TypeError, match="on_missed"):
        service.subscribe(lambda events: None, since=1, on_missed="resync")


def test_stream_resumed_from_below_retention_begins_with_a_missed_event(pruned):
    service, oldest = pruned
    live = LiveServer(service)
    try:
        client = SSEClient(live.port, "/api/v1/events/stream", last_event_id=1)
        try:
            first = client.next_message()
            assert first.event == "missed" and first.id is None
            assert first.json() == {"since": 1, "oldest_event_id": oldest, "missed": oldest - 2}
            assert int(client.next_message().id) == oldest
        finally:
            client.close()
        kept = SSEClient(live.port, "/api/v1/events/stream", last_event_id=oldest - 1)
        try:
            assert int(kept.next_message().id) == oldest  # nothing was missed: no missed event
        finally:
            kept.close()
    finally:
        live.stop()


def test_stream_takes_kind_and_kinds_together_as_the_feed_page_does(running, live, simulator):
    from web.stream import parse_stream_request

    flt, _ = parse_stream_request(b"kinds=added&kind=models_refreshed,added", None)
    assert set(flt.kinds) == {"added", "models_refreshed"}
    since = running.last_event_id()
    client = SSEClient(live.port, f"/api/v1/events/stream?since={since}&kinds=added&kind=models_refreshed")
    try:
        commit_one(running, simulator, "gpt-both-kinds")
        assert [client.next_message().event for _ in range(2)] == ["added", "models_refreshed"]
    finally:
        client.close()
    page = create_app(running).test_client().get(f"/api/v1/events?since={since}&kinds=added&kind=models_refreshed")
    assert [e["kind"] for e in page.get_json()["data"]] == ["added", "models_refreshed"]
