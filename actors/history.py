"""HistoryActor: the catalog as it was, on a connection of its own; HistoryQueries: the Service's side.

Building a past catalog of many thousand models takes a noticeable moment; it happens here, not in
the store reader, so history, run and event reads never queue behind it.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, Optional

import pykka
from loguru import logger

from actors.reader import StoreConnection
from actors.stopped import while_running
from discovery import store
from discovery.history import (
    COMMIT_WAIT,
    CatalogChange,
    CatalogHistory,
    PastCatalog,
    PastRecord,
    epoch,
)
from discovery.settings import Settings
from discovery.store import StoredEvent
from discovery.timestamps import iso

# Seconds a caller waits for a past catalog to be built (a cache miss reads every version once).
BUILD_TIMEOUT = 120.0


@store.heals_connection
class HistoryActor(StoreConnection, pykka.ThreadingActor, CatalogHistory):
    """Answers :class:`~discovery.history.CatalogHistory` reads on its own store connection."""

    def __init__(self, settings: Settings, made: Optional[Callable[[CatalogHistory], None]] = None):
        pykka.ThreadingActor.__init__(self)
        CatalogHistory.__init__(self)
        self.settings = settings
        if made is not None:
            # The owner keeps the cache's statistics at hand: :meth:`stats` takes only the cache's
            # lock, so reading them never waits behind a past catalog being built in the mailbox.
            made(self)


class HistoryQueries:
    """Reads of the past, mixed into :class:`actors.service.Service` (which sets ``history_reader``)."""

    settings: Settings
    history_reader: Any
    view: Any

    def _wait(self) -> float:
        return max(self.settings.ask_timeout, BUILD_TIMEOUT)

    def _after_commits(self, *times: float) -> None:
        """Wait until this process's commits begun by each of ``times`` have ended (see
        CommitsUnderWay), here on the caller's thread: waited for in the reader's mailbox, one such
        wait held up every other read of it, those with nothing to wait for too."""
        for when in times:
            if not self.view.commits.wait_until_committed(when):
                logger.warning("a commit begun before {} is still under way after {:g} s; answering as of it "
                               "without it", iso(when), COMMIT_WAIT)

    @while_running
    def catalog_as_of(self, when: float | datetime) -> PastCatalog:
        """The catalog as it stood at ``when`` (epoch seconds or a datetime; naive is UTC): its
        ``index`` answers :func:`discovery.query.run_query` like the published one."""
        self._after_commits(epoch(when))
        return self.history_reader.catalog_at(epoch(when)).get(timeout=self._wait())

    @while_running
    def model_as_of(self, model_id: str, when: float | datetime) -> Optional[PastRecord]:
        """One model as it stood at ``when`` (list form, provenance, raw answer, each source's last
        successful refresh and the measured performance by then), or None if it was not in the catalog."""
        self._after_commits(epoch(when))
        return self.history_reader.record_at(model_id, epoch(when)).get(timeout=self._wait())

    @while_running
    def changes_between(self, start: float | datetime, end: float | datetime,
                        providers: Iterable[str] = ()) -> list[CatalogChange]:
        """Models added, removed and updated between the catalog at ``start`` and at ``end``, by id."""
        self._after_commits(epoch(start), epoch(end))
        return self.history_reader.changes(epoch(start), epoch(end), tuple(providers)).get(timeout=self._wait())

    @while_running
    def catalog_id(self) -> str:
        """The catalog's own name, from the store: the same for every instance on it and across
        restarts (read once, then kept)."""
        known = getattr(self, "_catalog_id", None)
        if known is None:
            known = self._catalog_id = self.history_reader.catalog_id().get(timeout=self.settings.ask_timeout)
        return known

    def newest_events(self, before: Optional[int] = None, limit: int = 100, kinds: Iterable[str] = (),
                      providers: Iterable[str] = ()) -> list[StoredEvent]:
        """The newest events of the persisted feed, newest first (ids below ``before``, if given)."""
        return self.history_reader.events_before(before, limit, tuple(kinds), tuple(providers)).get(
            timeout=self.settings.ask_timeout)
