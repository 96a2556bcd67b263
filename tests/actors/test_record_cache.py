"""The record cache keeps details deflated, counts what they take packed, and hands them back whole."""
import json

from actors.catalog import RecordCache


def detail(i: int) -> tuple[bytes, bytes]:
    raw = json.dumps({"id": f"model-{i}", "object": "model", "owned_by": "openai",
                      "description": "a model of the catalog " * 20, "colon": "a:b:c"}).encode()
    provenance = json.dumps({"name": {"source": "openai", "entry": f"model-{i}"}}).encode()
    return raw, provenance


def test_details_come_back_byte_for_byte():
    cache = RecordCache()
    for i in range(50):
        cache.put(f"m{i}", detail(i))
    assert all(cache.get(f"m{i}") == detail(i) for i in range(50))
    # Empty parts and a raw answer that starts with digits and a colon survive too.
    cache.put("odd", (b"12:34", b""))
    assert cache.get("odd") == (b"12:34", b"")
    assert cache.get("missing") is None
    stats = cache.stats()
    assert (stats["hits"], stats["misses"], stats["entries"]) == (51, 1, 51)


def test_the_byte_budget_counts_packed_sizes():
    plain = sum(len(a) + len(b) for a, b in (detail(i) for i in range(200)))
    cache = RecordCache(max_bytes=plain // 2)
    for i in range(200):
        cache.put(f"m{i}", detail(i))
    stats = cache.stats()
    # Half the plain size holds every entry packed (these compress well), and says what they take.
    assert stats["entries"] == 200 and stats["evictions"] == 0
    assert 0 < stats["bytes"] < plain // 2


def test_an_entry_beyond_the_budget_pushes_the_oldest_out():
    cache = RecordCache(max_bytes=1000)
    for i in range(100):
        cache.put(f"m{i}", detail(i))
    stats = cache.stats()
    assert stats["bytes"] <= 1000 and stats["evictions"] > 0
    assert cache.get("m99") == detail(99) and cache.get("m0") is None
