"""The store's reader: history, runs and the event feed on a connection of its own."""
from __future__ import annotations

from typing import Any, Optional

import pykka

from discovery import refresh_runs, replication, store, stored_models
from discovery.benchmark import stored
from discovery.model import Model
from discovery.settings import Settings


class StoreConnection:
    """For an actor with a store connection of its own (``self.settings.database_url``): opened
    when it starts, closed when it stops or fails. Listed before ``pykka.ThreadingActor``."""

    settings: Settings

    def on_start(self) -> None:
        store.open_database(self.settings.database_url)

    def on_stop(self) -> None:
        store.close_database()

    def on_failure(self, exception_type, exception_value, traceback) -> None:
        store.close_database()


@store.heals_connection
class StoreReaderActor(StoreConnection, pykka.ThreadingActor):
    """Answers reads that need the store (history, runs, the event feed) on its own connection.

    SQLite in WAL mode (and PostgreSQL) let this connection read while the catalog actor writes,
    so these reads never queue behind a large commit in the writer's mailbox.
    """

    def __init__(self, settings: Settings):
        super().__init__()
        self.settings = settings

    def load_model(self, model_id: str) -> Optional[Model]:
        return stored_models.load_model(model_id)

    def load_detail(self, source: Optional[str], model_id: str) -> tuple[bytes, bytes]:
        """The raw answer and traced provenance behind a published model (primary-key reads)."""
        return stored_models.load_detail(source, model_id)

    def history(self, model_id: str, limit: int = 100, before: Optional[int] = None) -> list[dict[str, Any]]:
        return stored_models.model_history(model_id, limit, before)

    def history_page(self, model_id: str, limit: int = 100, before: Optional[int] = None
                     ) -> tuple[list[dict[str, Any]], bool, int]:
        return stored_models.model_history_page(model_id, limit, before)

    def runs(self, provider: Optional[str] = None, limit: int = 50, before: Optional[int] = None) -> list[dict]:
        return refresh_runs.list_runs(provider, limit, before)

    def get_run(self, run_id: int) -> Optional[dict]:
        return refresh_runs.get_run(run_id)

    def events_after(self, after_id: int, limit: int = 100, kinds=(), providers=()) -> list[store.StoredEvent]:
        return store.events_after(after_id, limit, kinds, providers)

    def last_event_id(self) -> int:
        return store.last_event_id()

    def oldest_event_id(self) -> int:
        return store.oldest_event_id()

    def leadership(self) -> dict[str, Any]:
        """The leader as the store names it: instance, epoch, since (ISO 8601)."""
        from discovery.timestamps import iso

        found = replication.leadership()
        return {**found, "since": iso(found["since"]) if found["since"] else None}

    def benchmark_history(self, model_id: str, limit: int = 50, region: Optional[str] = None) -> list[dict]:
        return stored.benchmark_history(model_id, limit, region)

    def benchmark_runs(self, provider: Optional[str] = None, limit: int = 50, before: Optional[int] = None,
                       region: Optional[str] = None) -> list[dict]:
        return stored.list_benchmark_runs(provider, limit, before, region)

    def benchmark_regions(self) -> list[str]:
        return stored.benchmark_regions()

    def benchmark_seed(self, since: float) -> dict[str, Any]:
        return stored.benchmark_seed(since)
