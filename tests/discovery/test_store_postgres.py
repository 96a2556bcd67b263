"""The catalog write path against PostgreSQL (DATABASE_URL), when a server answers on loopback."""
from __future__ import annotations

import uuid

import pytest

from discovery import store
from discovery.catalog import CatalogState
from tests.conftest import PG_URL, pg_answers

pytestmark = pytest.mark.skipif(not pg_answers(), reason="no PostgreSQL on 127.0.0.1:5432 (or psycopg2 missing)")


@pytest.fixture
def state():
    """A fresh schema per test, dropped afterwards."""
    import psycopg2

    schema = f"t_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(PG_URL.replace("postgresql://", "postgres://"))
    admin.autocommit = True
    admin.cursor().execute(f"CREATE SCHEMA {schema}")
    try:
        store.open_database(f"{PG_URL}?options=-csearch_path%3D{schema}")
        store.ensure_provider("openai", "openai", False)
        store.ensure_provider("modelsdev", "modelsdev", True)
        # Removal mechanics: a model left out is removed at once (the grace has its own tests).
        yield CatalogState({"openai": False, "modelsdev": True}, missing_grace_refreshes=0)
        store.close_database()
    finally:
        admin.cursor().execute(f"DROP SCHEMA {schema} CASCADE")
        admin.close()


# The same behaviour as on SQLite, run on PostgreSQL.
from tests.discovery.test_catalog_state import (  # noqa: E402
    reopen_without,
    test_a_bedrock_filter_takes_the_regions_own_events_and_a_region_filter_only_its_own,
    test_a_loaded_catalog_is_served_unpacked_within_its_budget_then_packed,
    test_a_region_status_makes_its_provider_row_once_and_then_updates_it,
    test_empty_answer_is_refused_and_nothing_is_written,
    test_first_snapshot_adds_every_model_in_one_run,
    test_live_model_wins_over_catalog_entry_and_catalog_only_is_not_live,
    test_losing_more_than_half_is_refused_unless_allowed,
    test_state_reloads_from_the_store_after_a_restart,
    test_the_catalogs_own_name_is_made_once_and_kept_in_the_store,
    test_update_and_removal_are_versioned_with_diffs,
)

__all__ = [
    "test_a_bedrock_filter_takes_the_regions_own_events_and_a_region_filter_only_its_own",
    "test_a_loaded_catalog_is_served_unpacked_within_its_budget_then_packed",
    "test_a_region_status_makes_its_provider_row_once_and_then_updates_it",
    "test_the_catalogs_own_name_is_made_once_and_kept_in_the_store",
    "test_empty_answer_is_refused_and_nothing_is_written",
    "test_first_snapshot_adds_every_model_in_one_run",
    "test_live_model_wins_over_catalog_entry_and_catalog_only_is_not_live",
    "test_losing_more_than_half_is_refused_unless_allowed",
    "test_state_reloads_from_the_store_after_a_restart",
    "test_update_and_removal_are_versioned_with_diffs",
]


def test_providers_are_ensured_in_one_write_on_postgresql(state):
    store.set_provider_status("openai", "failed", "timeout")
    store.ensure_providers([("openai", "vllm", False), ("litellm", "litellm", True)])
    rows = store.provider_rows()
    assert (rows["openai"]["format"], rows["openai"]["status"]) == ("vllm", "failed")
    assert rows["litellm"]["is_catalog"] is True and set(rows) == {"openai", "modelsdev", "litellm"}


def test_an_older_store_gains_the_catalog_name_of_providers_on_postgresql(state):
    search_path = store.db.execute_sql("SHOW search_path").fetchone()[0]
    reopen_without("providers", "catalog_name", f"{PG_URL}?options=-csearch_path%3D{search_path}")
    assert store.provider_rows()["openai"]["catalog_name"] is None
    store.ensure_providers([("openai", "openai", False)], {"openai": "openai-eu"})
    assert store.provider_rows()["openai"]["catalog_name"] == "openai-eu"
    # An option's value has no length limit in the settings: the column has none either (a
    # VARCHAR(255) failed the writer's start on a longer one).
    store.ensure_providers([("openai", "openai", False)], {"openai": "x" * 300})
    assert store.provider_rows()["openai"]["catalog_name"] == "x" * 300


def test_an_older_store_gains_the_asked_wait_of_providers_on_postgresql(state):
    """The added column is a double there too: a REAL would round the time to about two minutes."""
    search_path = store.db.execute_sql("SHOW search_path").fetchone()[0]
    url = f"{PG_URL}?options=-csearch_path%3D{search_path}"
    reopen_without("providers", "asked_until", url)
    reopen_without("providers", "asked_by", url)
    assert store.provider_rows()["openai"]["asked_until"] is None
    store.set_provider_asked("openai", 1_900_000_000.25, "openai answered HTTP 429")
    assert store.provider_rows()["openai"]["asked_until"] == 1_900_000_000.25
    assert store.provider_rows()["openai"]["asked_by"] == "openai answered HTTP 429"
