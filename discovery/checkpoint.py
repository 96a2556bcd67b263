"""Keeping a SQLite write-ahead log short from a thread of its own, not from the writer's commits.

By default SQLite checkpoints as part of a commit: the connection whose commit takes the log past
1,000 pages copies the whole log into the database file and syncs it before the commit returns.
For the catalog's writer that is the cold ingest's biggest single cost (about a quarter of a
5,000-model commit, measured), paid while every other source waits behind it. The writer turns that
off for its connection (``PRAGMA wal_autocheckpoint=0``) and this thread does the copying instead,
on a connection of its own: woken after each write (at most once every ``min_gap`` seconds, so a
burst of small commits is one pass), and every ``interval`` seconds in any case.
SQLite's C code runs without the GIL, so on a machine with two cores the copying overlaps the
writer's next work instead of adding to it.

Checkpoints are PASSIVE: they never wait for readers or block the writer; frames a reader still
needs are copied by a later pass. Other connections keep SQLite's default (they write little).
"""
from __future__ import annotations

import sqlite3
import threading
import time
from typing import Optional

from loguru import logger


class WalCheckpointer:
    """A daemon thread that checkpoints one SQLite database file's write-ahead log."""

    def __init__(self, path: str, interval: float = 5.0, min_gap: float = 1.0):
        self.path = path
        self.interval = interval
        self.min_gap = min_gap
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        # The last pass: (log frames, frames checkpointed), as SQLite reports them; for tests and status.
        self.last: Optional[tuple[int, int]] = None
        self.passes = 0

    def start(self) -> WalCheckpointer:
        self._thread = threading.Thread(target=self._run, name="wal-checkpoint", daemon=True)
        self._thread.start()
        return self

    def poke(self) -> None:
        """A write was committed: checkpoint soon."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after one last pass."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        conn: Optional[sqlite3.Connection] = None
        try:
            conn = sqlite3.connect(self.path, timeout=5.0, check_same_thread=False, isolation_level=None)
            while True:
                self._wake.wait(self.interval)
                if self.min_gap > 0:
                    self._stop.wait(self.min_gap)  # writes that follow within the gap join this pass
                self._wake.clear()
                self._pass(conn)
                if self._stop.is_set():
                    return
        except Exception:  # a checkpoint thread must never take the process down
            logger.exception("the write-ahead log checkpoints of {} stopped", self.path)
        finally:
            if conn is not None:
                conn.close()

    def _pass(self, conn: sqlite3.Connection) -> None:
        started = time.monotonic()
        try:
            busy, frames, done = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.OperationalError as exc:  # locked for longer than the timeout: try next time
            logger.debug("checkpoint of {} skipped: {}", self.path, exc)
            return
        self.last, self.passes = (frames, done), self.passes + 1
        took = time.monotonic() - started
        if took > 1.0:
            logger.info("checkpointed {} of {} log frames of {} in {:.1f} s", done, frames, self.path, took)
