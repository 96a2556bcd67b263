"""The epoch fence on PostgreSQL: a deposed leader's write transaction is refused and leaves no
trace (no rows, no gap in the event ids); the election primitives; SQLite's one instance."""
from __future__ import annotations

import threading
import time
import uuid

import pytest

from actors.service import AnotherInstance, hold_single_instance
from discovery import refresh_runs, replication, store, stored_models
from discovery.catalog import CatalogState
from discovery.messages import ProviderSnapshot
from discovery.model import Model
from tests.conftest import PG_URL, pg_answers, wait_for

needs_pg = pytest.mark.skipif(not pg_answers(), reason="no PostgreSQL on 127.0.0.1:5432 (or psycopg2 missing)")


@pytest.fixture
def pg_url():
    """A fresh schema, dropped afterwards; the fence is off again after the test."""
    import psycopg2

    schema = f"f_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(PG_URL)
    admin.autocommit = True
    admin.cursor().execute(f"CREATE SCHEMA {schema}")
    url = f"{PG_URL}?options=-csearch_path%3D{schema}"
    try:
        store.open_database(url)
        yield url
    finally:
        store.set_fence(False, None)
        store.FENCE.on_fenced = None
        store.close_database()
        admin.cursor().execute(f"DROP SCHEMA {schema} CASCADE")
        admin.close()


def m(mid: str, **kw) -> Model:
    return Model("openai", mid, source="openai", live=True, **kw)


def snap(state: CatalogState, models: list[Model]):
    run_id = refresh_runs.begin_run("openai", "test")
    return state.apply(ProviderSnapshot("openai", run_id, tuple(models)))


@needs_pg
def test_a_deposed_leader_cannot_commit_and_leaves_no_gap(pg_url):
    first = replication.connect(pg_url, "discovery-leader:test-a")
    second = replication.connect(pg_url, "discovery-leader:test-b")
    try:
        key = replication.lock_key(first, store.LEADER_LOCK)
        assert replication.try_lock(first, key)
        assert not replication.try_lock(second, key), "the lock is held: a second instance must not get it"
        epoch_a = replication.take_epoch(first, "a")
        store.set_fence(True, epoch_a)
        store.ensure_provider("openai", "openai", False)
        state = CatalogState({"openai": False}, missing_grace_refreshes=0)
        outcome, events, _ = snap(state, [m("a"), m("b")])
        assert outcome.outcome == "succeeded"
        assert [e.id for e in events] == list(range(1, len(events) + 1))
        stored_epochs = {e for (e,) in store.EventRow.select(store.EventRow.epoch).tuples()}
        assert stored_epochs == {epoch_a}

        # A's lock connection is cut; B takes the lock and the next epoch.
        first.close()
        deadline = time.monotonic() + 5
        while not replication.try_lock(second, key):
            assert time.monotonic() < deadline, "the lock of a closed connection was not released"
            time.sleep(0.05)
        epoch_b = replication.take_epoch(second, "b")
        assert epoch_b == epoch_a + 1
        told: list[str] = []
        store.FENCE.on_fenced = told.append
        before = store.last_event_id()
        versions = store.ModelVersionRow.select().count()

        # A still believes it leads: its next commit is refused, whole.
        with pytest.raises(store.Fenced, match="fenced"):
            snap(state, [m("a", name="changed by the deposed leader"), m("b"), m("c")])
        assert told and "epoch 2, held by b" in told[0]
        assert store.last_event_id() == before and store.ModelVersionRow.select().count() == versions
        assert set(stored_models.load_current_models()) == {"openai/a", "openai/b"}

        # B writes under its epoch; the event ids go on without a gap.
        store.set_fence(True, epoch_b)
        fresh = CatalogState({"openai": False}, missing_grace_refreshes=0)
        fresh.load()
        _, events, _ = snap(fresh, [m("a"), m("b"), m("c")])
        assert events[0].id == before + 1
        ids = [i for (i,) in store.EventRow.select(store.EventRow.id).order_by(store.EventRow.id).tuples()]
        assert ids == list(range(1, len(ids) + 1))
        assert store.EventRow.select().where(store.EventRow.id > before, store.EventRow.epoch != epoch_b).count() == 0
    finally:
        first.close()
        second.close()


@needs_pg
def test_the_epoch_bump_waits_for_a_write_already_past_its_check(pg_url):
    """FOR SHARE: a transaction of the old epoch that passed the check commits before the new
    leader's epoch is visible, so the new leader loads a store that includes it."""
    conn = replication.connect(pg_url, "discovery-leader:test-c")
    try:
        epoch = replication.take_epoch(conn, "old")
        store.set_fence(True, epoch)
        store.ensure_provider("openai", "openai", False)
        bumped = threading.Event()
        with store.write_transaction():
            store.insert_events([("status_changed", "openai", None, None, {"new": "healthy"})], time.time())
            bump = threading.Thread(target=lambda: (replication.take_epoch(conn, "new"), bumped.set()))
            bump.start()
            time.sleep(0.3)
            assert not bumped.is_set(), "the epoch moved while a write of the old epoch was open"
        bump.join(5)
        assert bumped.is_set()
        assert store.last_event_id() == 1
        with pytest.raises(store.Fenced):
            refresh_runs.begin_run("openai", "timer")
    finally:
        conn.close()


@needs_pg
def test_a_follower_writes_nothing(pg_url):
    store.set_fence(True, None)
    with pytest.raises(store.Fenced, match="follower"):
        store.ensure_provider("openai", "openai", False)
    assert store.ProviderRow.select().count() == 0


def test_a_second_instance_on_one_sqlite_file_is_refused(tmp_path):
    url = f"sqlite:///{tmp_path / 'one.db'}"
    held = hold_single_instance(url)
    try:
        with pytest.raises(AnotherInstance, match="another instance .* one instance per SQLite file"):
            hold_single_instance(url)
    finally:
        held.close()
    # Released with the first: the next start is welcome.
    hold_single_instance(url).close()


@needs_pg
def test_a_connection_the_server_dropped_is_replaced_for_the_next_query(pg_url):
    """A PostgreSQL restart or a cut connection: the failed query's error goes to its caller, and
    the next query of that thread runs on a new connection (peewee alone would keep failing)."""
    import peewee
    import psycopg2

    from actors.reader import StoreReaderActor
    from discovery.settings import Settings

    name = f"heal-{uuid.uuid4().hex[:8]}"
    reader = StoreReaderActor.start(Settings(database_url=f"{pg_url}&application_name={name}")).proxy()
    try:
        assert reader.last_event_id().get(timeout=10) == 0
        admin = psycopg2.connect(PG_URL)
        admin.autocommit = True
        with admin.cursor() as cur:  # the reader's connection only, found by its name
            cur.execute("SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = %s",
                        (name,))
            assert cur.fetchone()[0] == 1
        admin.close()
        with pytest.raises((peewee.OperationalError, peewee.InterfaceError)):
            reader.last_event_id().get(timeout=10)
        assert reader.last_event_id().get(timeout=10) == 0
    finally:
        reader.actor_ref.stop()


@needs_pg
def test_an_answer_reaches_the_caller_with_no_follower_actor_listening(pg_url):
    """A follower promoted while a refresh it forwarded waits for its answer stops its follower
    actor (which read the notifications and swept): the answer came, from this very instance,
    and the caller waited out its timeout. The leader client now reads what it awaits itself."""
    import concurrent.futures

    from actors.replica import LeaderClient
    from discovery.settings import Settings

    client = LeaderClient(Settings(database_url=pg_url), "follower-1")
    try:
        request_id = client.submit("refresh", {"name": "openai", "trigger": "manual"})
        got: concurrent.futures.Future = concurrent.futures.Future()
        client.on_final(request_id, lambda state, reply: got.set_result((state, reply)))
        assert not got.done()
        # Answered as the leader would; nobody hands the notification to this client.
        replication.answer_request(request_id, replication.DONE, {"result": {"outcome": "succeeded"}})
        state, reply = got.result(timeout=5)
        assert state == replication.DONE and reply["result"] == {"outcome": "succeeded"}
        # Read once, the row (which may carry a generated secret) goes.
        wait_for(lambda: replication.read_request(request_id) is None, timeout=5, what="the answered row to go")
    finally:
        client.close()


@needs_pg
def test_a_stopping_leader_leaves_handed_over_requests_for_the_next_one(pg_url):
    """Claimed while its actors stopped, a forwarded refresh ran, committed, and was reported
    "abandoned" to its caller. Once the service is closing, nothing more is claimed."""
    from actors.replica import RequestServerActor
    from discovery.settings import Settings

    handled: list[int] = []
    closing = threading.Event()

    def handler(request_id: int, op: str, args: dict) -> None:
        handled.append(request_id)
        replication.answer_request(request_id, replication.DONE, {"result": None})

    server = RequestServerActor.start(Settings(database_url=pg_url), handler, closing)
    try:
        first = replication.submit_request("refresh", {"name": "openai"}, "follower-1")
        wait_for(lambda: handled == [first], timeout=10, what="the open leader to answer")
        closing.set()
        second = replication.submit_request("refresh", {"name": "openai"}, "follower-1")
        server.proxy().drain().get(timeout=10)  # asked to drain, as a notification or the interval would
        assert handled == [first]
        assert replication.read_request(second)[0] == replication.PENDING
    finally:
        server.stop()


HANDED_SECRET = "handed-over-webhook-secret-0123456789"


def request_row(request_id: int) -> str:
    """The stored row of a handed-over request, as text (its arguments and reply included)."""
    row = store.LeaderRequestRow.get_or_none(store.LeaderRequestRow.id == request_id)
    return "" if row is None else f"{row.state} {row.args} {row.reply}"


@needs_pg
def test_a_request_an_earlier_leader_abandoned_keeps_no_webhook_secret(pg_url):
    """A final answer drops the request's arguments; one the next leader gives for a request the
    stopped one had accepted (``abandon_stale_requests``) must too."""
    request_id = replication.submit_request("webhooks", {"method": "create", "args": ["https://hook.test/x",
                                                                                       HANDED_SECRET]}, "follower-1")
    assert replication.claim_request()[0] == request_id
    assert replication.abandon_stale_requests(time.time() + 1) == 1
    assert request_row(request_id).startswith("failed") and HANDED_SECRET not in request_row(request_id)


@needs_pg
def test_an_answer_that_comes_after_its_caller_gave_up_is_not_kept(pg_url):
    """A webhook created by a slow leader after its follower's caller timed out: the reply (with the
    generated secret) goes once given, not a day later with the pruning."""
    from actors.replica import LeaderClient, LeaderTimeout
    from discovery.settings import Settings

    client = LeaderClient(Settings(database_url=pg_url, ask_timeout=0.1), "follower-1")
    try:
        with pytest.raises(LeaderTimeout):
            client.call("webhooks", {"method": "create", "args": ["https://hook.test/x", None]})
        request_id = store.LeaderRequestRow.select().order_by(store.LeaderRequestRow.id.desc()).first().id
        assert replication.claim_request()[0] == request_id
        replication.answer_request(request_id, replication.DONE, {"result": [{"id": "wh_1"}, HANDED_SECRET]})
        wait_for(lambda: HANDED_SECRET not in request_row(request_id), timeout=5, what="the answered row to go")
    finally:
        client.close()


def test_a_write_refused_by_the_fence_is_logged_as_one_line():
    """A deposed leader's refused writes logged a traceback each (some 20 a step-down)."""
    from loguru import logger

    from discovery import redaction

    lines: list[str] = []
    redaction.install(logger)
    sink = logger.add(lambda m: lines.append(m.record["message"]), level="INFO")
    try:
        try:
            try:
                raise store.Fenced("fenced: epoch 1 is over (the store names epoch 2, held by r1)")
            except store.Fenced:  # as the writer's _fail: its own write refused as well
                raise store.Fenced("fenced: epoch 1 is over (the store names epoch 2, held by r2)")  # noqa: B904
        except store.Fenced:
            logger.exception("could not record the failure of run 2")
        try:
            try:
                raise store.Fenced("fenced: epoch 1 is over")
            except store.Fenced:
                raise KeyError("a bug while stepping down")  # noqa: B904
        except KeyError:
            logger.exception("step-down cleanup failed")
    finally:
        logger.remove(sink)
    assert lines[0] == ("could not record the failure of run 2: Fenced: fenced: epoch 1 is over "
                        "(the store names epoch 2, held by r2)")
    # Anything else raised while handling a refusal keeps its traceback: it may be a bug.
    assert lines[1].startswith("step-down cleanup failed\nTraceback (most recent call last):")
    assert "KeyError: 'a bug while stepping down'" in lines[1]
