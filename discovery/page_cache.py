"""Encoded list pages of the published catalog, kept for the queries that come back.

Gateways and dashboards ask the same few list queries over and over between two refreshes. A
page is fully determined by the query, the published catalog (a :class:`~discovery.index.CatalogIndex`,
a new object per version) and the performance board spliced into it (also replaced, never
changed): this cache keeps the finished bytes of a page for the catalog and board it was made
from, and answers only while both are still the published ones. A new version or board empties
it on the next read; a page computed from an older one is never stored under the newer.

Bounded by bytes (least recently used first out), and small: pages are cheap to make again.
"""
from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any, Optional

DEFAULT_MAX_BYTES = 4 << 20
MAX_PAGE_BYTES = 512 << 10  # a bigger page (limit=1000 of long records) is not worth holding


def _gone() -> None:
    return None


class PageCache:
    """Page bytes by query key, valid for one (index, board) pair at a time."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES):
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._pages: OrderedDict[Hashable, bytes] = OrderedDict()
        self._bytes = 0
        # Weak: the cache must not keep a replaced catalog alive until the next list read.
        self._index: Any = _gone
        self._board: Any = _gone
        self.hits = self.misses = self.evictions = 0

    def get(self, index: Any, board: Any, key: Hashable) -> Optional[bytes]:
        with self._lock:
            if index is not self._index() or board is not self._board():
                self._reset(index, board)
            page = self._pages.get(key)
            if page is None:
                self.misses += 1
                return None
            self._pages.move_to_end(key)
            self.hits += 1
            return page

    def put(self, index: Any, board: Any, key: Hashable, page: bytes) -> None:
        if len(page) > MAX_PAGE_BYTES or len(page) > self.max_bytes:
            return
        with self._lock:
            if index is not self._index() or board is not self._board():
                return  # made from a catalog that is no longer the published one
            old = self._pages.pop(key, None)
            if old is not None:
                self._bytes -= len(old)
            self._pages[key] = page
            self._bytes += len(page)
            while self._bytes > self.max_bytes:
                _, dropped = self._pages.popitem(last=False)
                self._bytes -= len(dropped)
                self.evictions += 1

    def _reset(self, index: Any, board: Any) -> None:
        self._pages.clear()
        self._bytes = 0
        self._index, self._board = weakref.ref(index), weakref.ref(board)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            lookups = self.hits + self.misses
            return {"hits": self.hits, "misses": self.misses, "entries": len(self._pages),
                    "evictions": self.evictions, "bytes": self._bytes, "max_bytes": self.max_bytes,
                    "hit_rate": round(self.hits / lookups, 4) if lookups else None}
