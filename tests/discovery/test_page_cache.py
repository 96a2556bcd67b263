"""The list-page cache: a page is kept only for the catalog and board it was made from."""
from __future__ import annotations

from discovery.page_cache import PageCache


class Version:
    """Stands for a published CatalogIndex or PerformanceBoard (only its identity matters)."""


def test_a_page_is_found_again_for_the_same_catalog_and_board():
    cache, index, board = PageCache(), Version(), Version()
    assert cache.get(index, board, ("q",)) is None
    cache.put(index, board, ("q",), b'{"data":[]}')
    assert cache.get(index, board, ("q",)) == b'{"data":[]}'
    assert cache.get(index, board, ("other",)) is None
    stats = cache.stats()
    assert (stats["hits"], stats["misses"], stats["entries"], stats["bytes"]) == (1, 2, 1, 11)


def test_a_new_catalog_version_or_board_empties_it():
    cache, index, board = PageCache(), Version(), Version()
    cache.get(index, board, "q")
    cache.put(index, board, "q", b"old")
    newer = Version()
    assert cache.get(newer, board, "q") is None and cache.stats()["entries"] == 0
    cache.put(newer, board, "q", b"new")
    assert cache.get(newer, Version(), "q") is None


def test_a_page_made_from_a_replaced_catalog_is_not_stored():
    cache, old, board = PageCache(), Version(), Version()
    cache.get(old, board, "q")  # a request reads version 1 ...
    new = Version()
    cache.get(new, board, "other")  # ... version 2 is published and read meanwhile ...
    cache.put(old, board, "q", b"from version 1")  # ... and the first request's page arrives late
    assert cache.get(new, board, "q") is None and cache.stats()["entries"] == 0


def test_it_holds_at_most_max_bytes_dropping_the_least_recently_used():
    cache, index, board = PageCache(max_bytes=100), Version(), Version()
    cache.get(index, board, "a")
    for key in "abc":
        cache.put(index, board, key, b"x" * 40)
        cache.get(index, board, "a")  # "a" stays the most recently used
    assert cache.get(index, board, "b") is None and cache.get(index, board, "a") == b"x" * 40
    stats = cache.stats()
    assert stats["bytes"] <= 100 and stats["evictions"] == 1
    cache.put(index, board, "big", b"y" * 101)  # larger than the whole cache: not held
    assert cache.get(index, board, "big") is None


def test_it_keeps_no_replaced_catalog_alive():
    import gc
    import weakref

    cache, index, board = PageCache(), Version(), Version()
    cache.get(index, board, "q")
    cache.put(index, board, "q", b"page")
    gone = weakref.ref(index)
    del index
    gc.collect()
    assert gone() is None
