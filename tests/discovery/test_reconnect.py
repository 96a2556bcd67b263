"""On PostgreSQL a connection the server dropped is opened again at the next statement: the
statement that met the drop fails, the next ones run (the webhook dispatcher, a follower's relayed
requests and the history reads kept failing on the dead connection until a restart)."""
from __future__ import annotations

import threading
import uuid

import peewee
import pytest

from discovery import store
from discovery.history import CatalogHistory
from tests.conftest import PG_URL, pg_answers

needs_pg = pytest.mark.skipif(not pg_answers(), reason="no PostgreSQL on 127.0.0.1:5432 (or psycopg2 missing)")


@pytest.fixture
def pg_url():
    import psycopg2

    schema = f"c_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(PG_URL)
    admin.autocommit = True
    admin.cursor().execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}", admin
    finally:
        admin.cursor().execute(f"DROP SCHEMA {schema} CASCADE")
        admin.close()


def cut(admin) -> None:
    """Terminate the backend of this thread's connection, as an operator or a failover would."""
    pid = store.db.execute_sql("SELECT pg_backend_pid()").fetchone()[0]
    admin.cursor().execute("SELECT pg_terminate_backend(%s)", (pid,))


@needs_pg
def test_a_dropped_connection_is_opened_again_at_the_next_statement(pg_url):
    url, admin = pg_url
    outcome: dict = {}

    def run() -> None:  # a thread of its own: peewee's connections are per thread
        try:
            store.open_database(url)
            cut(admin)
            with pytest.raises(peewee.DatabaseError):
                store.db.execute_sql("SELECT 1")  # met the drop: fails to its caller
            outcome["after"] = store.db.execute_sql("SELECT 1").fetchone()[0]
            # The history actor's reads (inherited: heals_connection wrapped only its own methods).
            cut(admin)
            with pytest.raises(peewee.DatabaseError):
                store.db.execute_sql("SELECT 1")
            outcome["changes"] = CatalogHistory().changes(0.0, 1.0)
        except BaseException as exc:  # noqa: BLE001 - reported to the test's thread
            outcome["error"] = exc
        finally:
            store.close_database()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(30)
    assert "error" not in outcome, outcome.get("error")
    assert outcome["after"] == 1
    assert outcome["changes"] is not None


@needs_pg
def test_runs_begun_while_the_connections_were_dropped_are_written_with_their_commit(pg_url, start_service, simulator):
    """The start of runs that met a dropped connection was logged and forgotten: their commit's
    events then named runs that do not exist (GET /api/v1/refresh/runs/<id> a 404)."""
    import os

    import psycopg2

    from tests.conftest import client_ports, provider_config, wait_for

    url, admin = pg_url
    service = start_service([provider_config(simulator, "openai", "openai_compatible", route="openai",
                                             manual_refresh_per_minute=1000)], database_url=url)
    wait_for(lambda: all(p.get("last_success_at") for p in service.providers()), what="the first refresh")
    own = client_ports(os.getpid())
    cur = admin.cursor()
    cur.execute("SELECT client_port FROM pg_stat_activity WHERE pid = pg_backend_pid()")
    mine = cur.fetchone()[0]
    cur.execute("SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE client_port = ANY(%s) "
                "AND pid <> pg_backend_pid() AND application_name NOT LIKE 'discovery-leader%%'",
                ([p for p in own if p != mine],))
    assert cur.fetchone()[0] >= 1
    simulator.state.add_model("openai", {"id": "gpt-reconnect", "object": "model", "created": 1, "owned_by": "x"})
    [outcome] = service.wait([service.refresh("openai")], timeout=20)
    assert outcome.outcome == "succeeded", outcome
    check = psycopg2.connect(PG_URL, options=f"-csearch_path={url.rpartition('%3D')[2]}")
    try:
        with check.cursor() as c:
            c.execute("SELECT COUNT(*) FROM events e WHERE e.run_id IS NOT NULL AND NOT EXISTS "
                      "(SELECT 1 FROM refresh_runs r WHERE r.id = e.run_id)")
            assert c.fetchone()[0] == 0
            c.execute("SELECT outcome FROM refresh_runs WHERE id = %s", (outcome.run_id,))
            assert c.fetchone() == ("succeeded",)
    finally:
        check.close()
    assert service.get_model("openai/gpt-reconnect") is not None
