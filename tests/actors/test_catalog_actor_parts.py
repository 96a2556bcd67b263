"""Parts of the catalog actor: the record cache (details kept deflated, counted packed, handed back whole)
and the grouping of queued answers into bounded write transactions."""
import json

from actors.view import RecordCache


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


def test_queued_answers_are_written_in_bounded_groups_in_their_order():
    from actors.catalog import write_batches
    from discovery.messages import ProviderSnapshot
    from discovery.model import Model

    def snap(name: str, n: int) -> tuple[ProviderSnapshot, str]:
        models = tuple(Model("p", f"{name}-{i}", source=name, live=True) for i in range(n))
        return ProviderSnapshot(name, 1, models), name

    pending = [snap("a", 1000), snap("b", 1500), snap("c", 600), snap("d", 5000), snap("e", 0), snap("f", 2999),
               snap("g", 2)]
    groups = write_batches(pending, 3000)
    assert [[name for _, name in group] for group in groups] == [["a", "b"], ["c"], ["d"], ["e", "f"], ["g"]]
    assert all(sum(len(s.models) for s, _ in group) <= 3000 or len(group) == 1 for group in groups)
    assert write_batches([], 3000) == []
    # A limit no answer reaches: one group, as before the bound.
    assert [len(g) for g in write_batches(pending, 10**9)] == [7]
