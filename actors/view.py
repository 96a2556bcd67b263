"""What readers see of the catalog: the published index, the memos, the provider rows, and the
cache of model details; the writer (:class:`actors.catalog.CatalogActor`) swaps each in whole."""
from __future__ import annotations

import itertools
import threading
import time
import zlib
from collections.abc import Callable
from typing import Any, Optional

from cachetools import LRUCache

from actors.telemetry import Telemetry
from discovery.benchmark.board import PerformanceBoard
from discovery.catalog import SourceMemo
from discovery.history import CommitsUnderWay
from discovery.page_cache import PageCache
from discovery.query import CatalogIndex
from discovery.reconcile import Findings, Reconciler

# Run ids are reserved in the store in blocks of this many (meta run_ids_reserved): a restarted
# process, or a new leader, starts after every id an earlier one may have handed out.
RUN_ID_BLOCK = 1000


def _pack_detail(detail: tuple[bytes, bytes]) -> bytes:
    """A detail as one deflated blob: the raw answer's length, the raw answer, the provenance."""
    raw, provenance = detail
    return zlib.compress(b"%d:%b%b" % (len(raw), raw, provenance), 1)


def _unpack_detail(packed: bytes) -> tuple[bytes, bytes]:
    data = zlib.decompress(packed)
    head, _, rest = data.partition(b":")
    size = int(head)
    return rest[:size], rest[size:]


class RecordCache:
    """What a model's detail adds to its list form (raw answer, traced provenance), by id:
    bounded in bytes and entries, with statistics.

    Entries are kept deflated (zlib level 1, measured 3.6 times smaller on a 10k catalog's details,
    18 µs to pack and 6 µs to unpack one): the byte budget holds more than three times the entries,
    and a cache that holds every detail of 10k models costs about 5 MB instead of 15. ``bytes`` in
    the statistics is what the entries take packed.

    A change invalidates exactly the ids it touched, so entries need no expiry (``ttl`` 0).
    """

    def __init__(self, max_entries: int = 100_000, max_bytes: int = 16 << 20, ttl: float = 0.0):
        outer = self

        class _Bounded(LRUCache):
            def popitem(self):  # an entry pushed out by the size bound
                outer.evictions += 1
                return super().popitem()

        self._by_size = _Bounded(maxsize=max(1, max_bytes), getsizeof=len)
        self._max_entries = max(1, max_entries)
        self._ttl = ttl
        self._stamps: dict[str, float] = {}
        self.max_bytes = max_bytes
        self.hits = 0
        self.misses = 0
        self.evictions = 0
        self._lock = threading.Lock()

    def get(self, model_id: str) -> Optional[tuple[bytes, bytes]]:
        with self._lock:
            found = self._by_size.get(model_id)
            if found is not None and self._ttl and time.monotonic() - self._stamps.get(model_id, 0.0) > self._ttl:
                del self._by_size[model_id]
                found = None
            if found is None:
                self.misses += 1
                return None
            self.hits += 1
        return _unpack_detail(found)

    def put(self, model_id: str, detail: tuple[bytes, bytes]) -> None:
        packed = _pack_detail(detail)
        if len(packed) > self.max_bytes:
            return
        with self._lock:
            self._by_size[model_id] = packed
            if self._ttl:
                self._stamps[model_id] = time.monotonic()
            while len(self._by_size) > self._max_entries:
                self._by_size.popitem()

    def invalidate(self, model_ids) -> None:
        with self._lock:
            for model_id in model_ids:
                self._by_size.pop(model_id, None)
                self._stamps.pop(model_id, None)

    def clear(self) -> None:
        with self._lock:
            self._by_size.clear()
            self._stamps.clear()

    def stats(self) -> dict[str, Any]:
        """Hits, misses, entries, evictions, bytes held and the hit rate since start."""
        with self._lock:
            total = self.hits + self.misses
            return {"hits": self.hits, "misses": self.misses, "entries": len(self._by_size),
                    "evictions": self.evictions, "bytes": int(self._by_size.currsize), "max_bytes": self.max_bytes,
                    "hit_rate": round(self.hits / total, 6) if total else None}


class CatalogView:
    """What readers share without going through the actor's mailbox.

    ``index`` is swapped (one reference assignment) after each commit, so a view reads the
    newest committed catalog in microseconds and never waits behind a write. ``cache`` holds
    raw answers for detail lookups; ``memos`` each source's last accepted answer, for providers.
    """

    def __init__(self, cache_size: int = 100_000, cache_ttl: float = 0.0, cache_mb: float = 16.0):
        self.index: CatalogIndex = CatalogIndex.from_entries([], 0)
        # Stored provider rows (last refresh, last error...), swapped like the index.
        self.provider_rows: dict[str, dict[str, Any]] = {}
        self.ready = threading.Event()
        self._run_ids = itertools.count(1)
        self._first_run_id = 1
        self.last_run_id = 0
        self.cache = RecordCache(cache_size, int(cache_mb * (1 << 20)), cache_ttl)
        # Finished list pages for the queries that come back (discovery/page_cache.py).
        self.pages = PageCache()
        self.memos: dict[str, SourceMemo] = {}
        self.memos_ready = threading.Event()
        # Set once the start-up warm of the record cache is done (or found nothing to do).
        self.cache_warmed = threading.Event()
        # Each provider's last successful fetch, in seconds (its I/O thread writes it): a refresh of
        # everything starts the slowest first, since the round ends when the slowest answers.
        self.fetch_seconds: dict[str, float] = {}
        # Stored sources the settings do not name whose models are kept as they were (Settings.keeps):
        # name → (why, how many models), swapped by the writer at start; listed as unconfigured.
        self.kept_sources: dict[str, tuple[str, int]] = {}
        # Measured performance by model id, swapped by the writer after each benchmark commit; it is
        # spliced into records as they are served, so a benchmark makes no new model version.
        self.performance = PerformanceBoard()
        self._lock = threading.Lock()
        # Reconciliation findings and each live source's missing models, swapped like the index.
        self.findings: Findings = Reconciler().snapshot()
        self.missing: dict[str, dict[str, tuple[float, int]]] = {}
        # Counters for /metrics (refresh outcomes, events, webhook deliveries): web.metrics reads them.
        self.telemetry = Telemetry()
        # The newest event id this instance has published (the leader's commits, a follower's catch-up).
        self.last_event_id = 0
        # The database's refusal of the last commit that failed (time, why), until one succeeds.
        self.store_failure: Optional[tuple[float, str]] = None
        # Subscribers the notifier calls at once with each batch (it keeps this up to date): only
        # then does the writer hand the notifier the GIL after a commit (NOTIFY_HANDOVER).
        self.immediate_subscribers = 0
        # The writer's commits under way: a read of the past waits for those begun by its time.
        self.commits = CommitsUnderWay()
        # Run ids reserved up to here (RUN_ID_BLOCK); called when half the block is used.
        self.run_ids_reserved: Optional[int] = None
        self.on_run_ids_low: Optional[Callable[[], None]] = None

    def publish(self, index: CatalogIndex, changed: Optional[set[str]] = None) -> None:
        with self._lock:
            if changed is None:
                self.cache.clear()
            else:
                self.cache.invalidate(changed)
            self.index = index
        self.ready.set()

    def publish_memos(self, memos: dict[str, SourceMemo]) -> None:
        """Swap in the memos of the sources a commit changed."""
        merged = dict(self.memos)
        merged.update(memos)
        self.memos = merged
        self.memos_ready.set()

    def memo(self, source: str, wait: float = 0.0) -> Optional[SourceMemo]:
        """The last accepted answer of ``source`` (waiting up to ``wait`` s while start-up loads them)."""
        if wait and not self.memos_ready.is_set():
            self.memos_ready.wait(wait)
        return self.memos.get(source)

    def start_run_ids(self, after: int) -> None:
        """Run ids continue from the largest stored one."""
        self._run_ids = itertools.count(after + 1)
        self._first_run_id = after + 1
        self.last_run_id = after

    def next_run_id(self) -> int:
        """Allocate a refresh run id without a round trip to the writer (thread-safe in CPython)."""
        run_id = next(self._run_ids)
        self.last_run_id = max(self.last_run_id, run_id)
        reserved, low = self.run_ids_reserved, self.on_run_ids_low
        if reserved is not None and low is not None and run_id > reserved - RUN_ID_BLOCK // 2:
            self.on_run_ids_low = None  # once per block: the writer reserves the next and re-arms it
            low()
        return run_id

    def allocated(self, run_id: int) -> bool:
        """True if this process handed out ``run_id`` (its row may not be written yet)."""
        return self._first_run_id <= run_id <= self.last_run_id
