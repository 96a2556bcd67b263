"""The packed list forms stored with the catalog's rows, on a real SQLite file and on PostgreSQL.

A restart takes them as stored instead of packing every record again; a store written before they
existed gains the columns and loads as before.
"""
from contextlib import contextmanager

import pytest

from discovery import refresh_runs, store
from discovery.catalog import CatalogState
from discovery.entry import pack
from discovery.messages import ProviderSnapshot
from discovery.model import Model
from tests.replicas.conftest import fresh_schema

SOURCES = {"openai": False, "modelsdev": True}


@contextmanager
def database(kind, tmp_path):
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'catalog.db'}"
        return
    with fresh_schema() as schema:
        yield schema.database_url


def write(state, source, models):
    run_id = refresh_runs.begin_run(source, "test")
    return state.apply(ProviderSnapshot(source, run_id, tuple(models)))


def models(names, **kw):
    return [Model("openai", name, source="openai", name=f"Model {name}", **kw) for name in names]


def drop_packed_columns():
    """The store as a release before the packed columns wrote it."""
    for table in ("models", "source_models"):
        store.db.execute_sql(f'ALTER TABLE "{table}" DROP COLUMN "packed"')
    store.db.obj.discovery_schema_ready = False  # the next open checks the schema, as a new process's does


def columns(table):
    return {c.name for c in store.db.get_columns(table)}


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_an_older_store_gains_the_columns_and_a_restart_takes_the_stored_forms(kind, tmp_path, monkeypatch):
    import discovery.entry as entry_module

    with database(kind, tmp_path) as url:
        store.open_database(url)
        try:
            store.ensure_provider("openai", "openai", False)
            store.ensure_provider("modelsdev", "modelsdev", True)
            state = CatalogState(dict(SOURCES))
            write(state, "openai", models("abc"))
            write(state, "modelsdev", [Model("openai", "z", source="modelsdev", live=False, name="Z")])
            bodies = {e.id: e.body for e in state.index().entries()}
            drop_packed_columns()
        finally:
            store.close_database()

        packed_now = []
        monkeypatch.setattr(entry_module, "pack", lambda body: packed_now.append(body) or pack(body))
        store.open_database(url)  # migrates
        try:
            assert "packed" in columns("models") and "packed" in columns("source_models")
            older = CatalogState(dict(SOURCES))
            older.load()
            # Nothing stored packed: every published row and every source row is packed as it loads.
            assert len(packed_now) == len(bodies) + 4
            assert {e.id: e.body for e in older.index().entries()} == bodies
            assert not any(e.plain for e in older.index().entries())
            # The next answers write their rows with packed forms.
            write(older, "openai", models("abcd"))
            write(older, "modelsdev", [Model("openai", "z", source="modelsdev", live=False, name="Zed")])
            bodies = {e.id: e.body for e in older.index().entries()}
            stored = dict(store.db.execute_sql('SELECT "id", "packed" FROM "models"').fetchall())
            assert all(stored[model_id] for model_id in ("openai/d", "openai/z"))
        finally:
            store.close_database()

        packed_now.clear()
        store.open_database(url)
        try:
            restarted = CatalogState(dict(SOURCES))
            restarted.load()
            entries = {e.id: e for e in restarted.index().entries()}
            assert {model_id: e.body for model_id, e in entries.items()} == bodies
            assert entries["openai/z"].data()["name"] == "Zed"
            # Taken as stored: only the rows the last answers left as the older release wrote them.
            rewritten = {"openai/d", "openai/z"}
            assert not rewritten & {store_id(b) for b in packed_now}
            assert entries["openai/d"].packed == pack(bodies["openai/d"])
            assert restarted.sources["openai"]["openai/d"].body() == older.sources["openai"]["openai/d"].body()
        finally:
            store.close_database()


def store_id(body: bytes) -> str:
    from discovery.model import loads

    return loads(body)["id"]
