"""Opening the store: the schema is made (or checked) once per database and process, and every
thread that opens it afterwards only connects."""
import sqlite3
import threading

import peewee

from discovery import store
from discovery.subscriptions_store import WEBHOOK_TABLES


def tables_in(url: str) -> set[str]:
    con = sqlite3.connect(url.removeprefix("sqlite:///"))
    try:
        return {name for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        con.close()


def expected_tables() -> set[str]:
    return {m._meta.table_name for m in store.TABLES + WEBHOOK_TABLES}


def in_thread(fn) -> None:
    failed: list[BaseException] = []

    def run() -> None:
        try:
            fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the test's thread
            failed.append(exc)
        finally:
            store.close_database()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert not failed, failed


def test_the_schema_is_made_once_and_later_opens_only_connect(tmp_path, monkeypatch):
    made: list[str] = []
    create_tables = peewee.Database.create_tables

    def counted(self, models, **options):
        made.append(self.discovery_url)
        return create_tables(self, models, **options)

    monkeypatch.setattr(peewee.Database, "create_tables", counted)
    first, second = f"sqlite:///{tmp_path / 'a.db'}", f"sqlite:///{tmp_path / 'b.db'}"
    try:
        store.open_database(first)
        assert tables_in(first) >= expected_tables()
        # Other threads (the other actors) open it too: connected, usable, nothing made again.
        in_thread(lambda: store.open_database(first))
        in_thread(lambda: (store.open_database(first), store.set_meta("opened", "yes")))
        assert store.get_meta("opened") == "yes"
        assert made == [first]
        # Another database is a new one: its tables are made, whatever was done for the first.
        store.close_database()
        store.open_database(second)
        assert tables_in(second) >= expected_tables()
        assert made == [first, second]
        store.set_meta("second", "1")
        # Back to the first: a new database object, checked again, and the first's data is there.
        store.close_database()
        store.open_database(first)
        assert made == [first, second, first]
        assert store.get_meta("opened") == "yes" and store.get_meta("second") is None
    finally:
        store.close_database()


def test_a_failed_schema_check_is_tried_again_at_the_next_open(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'c.db'}"
    create_tables = peewee.Database.create_tables
    calls = []

    def fails_once(self, models, **options):
        calls.append(1)
        if len(calls) == 1:
            raise peewee.OperationalError("disk I/O error")
        return create_tables(self, models, **options)

    monkeypatch.setattr(peewee.Database, "create_tables", fails_once)
    try:
        try:
            store.open_database(url)
        except peewee.OperationalError:
            pass
        else:
            raise AssertionError("the first open should have failed")
        store.open_database(url)
        assert len(calls) == 2
        assert tables_in(url) >= expected_tables()
    finally:
        store.close_database()


def test_an_in_memory_database_gets_its_tables_at_every_open():
    """Each connection to an in-memory SQLite database is a database of its own: every thread's
    open makes its tables, and so does an open after a close."""
    url = "sqlite:///:memory:"
    try:
        store.open_database(url)
        store.set_meta("here", "1")
        assert store.get_meta("here") == "1"
        seen: list[object] = []
        in_thread(lambda: (store.open_database(url), seen.append(store.get_meta("here"))))
        assert seen == [None]  # its own tables, empty
        store.close_database()
        store.open_database(url)
        assert store.get_meta("here") is None
    finally:
        store.close_database()


def test_sqlite_commits_are_on_disk_when_they_return(tmp_path):
    # WAL with synchronous=FULL: a commit survives a power loss or an OS crash, not only a killed
    # process; with NORMAL the last commits could roll back and their event ids be given again.
    try:
        store.open_database(f"sqlite:///{tmp_path / 'durable.db'}")
        pragmas = {name: store.db.execute_sql(f"PRAGMA {name}").fetchone()[0] for name in ("journal_mode", "synchronous")}
        assert pragmas == {"journal_mode": "wal", "synchronous": 2}  # 2 is FULL
    finally:
        store.close_database()
