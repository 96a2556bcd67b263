"""Change detection before normalization: an equal answer costs a hash, an equal item its memo record."""
from __future__ import annotations

from discovery.catalog import SourceMemo
from tests.providers.conftest import make_client

ROWS = [{"id": f"model-{i}", "object": "model", "created": 1715367049, "owned_by": "system"} for i in range(5)]


def memo_of(result) -> SourceMemo:
    by_id = {m.id: m for m in result.models}
    return SourceMemo(result.body_hash, {fp: by_id[mid] for mid, fp in result.fingerprints.items()})


def test_an_equal_single_body_answer_is_not_parsed_again(stub):
    stub.route("/v1/models", (200, {"object": "list", "data": ROWS}))
    client = make_client("openai", f"{stub.url}/v1")
    first = client.fetch(None)
    assert not first.unchanged and len(first.models) == 5 and len(first.fingerprints) == 5
    second = client.fetch(memo_of(first))
    # Recognized from the body's hash alone: no item was parsed or fingerprinted.
    assert second.unchanged and second.models == () and second.fingerprints == {}
    assert second.body_hash == first.body_hash and second.fetch_ms >= 0


def test_only_the_changed_item_is_normalized_again(stub):
    rows = [dict(r) for r in ROWS]
    stub.route("/v1/models", lambda request: (200, {"object": "list", "data": rows}))
    client = make_client("openai", f"{stub.url}/v1")
    first = client.fetch(None)
    rows[2] = {**rows[2], "owned_by": "acme"}
    second = client.fetch(memo_of(first))
    assert not second.unchanged and second.body_hash != first.body_hash
    fresh = [m for m in second.models if not any(m is old for old in first.models)]
    assert [m.id for m in fresh] == ["openai/model-2"] and fresh[0].attributes["owned_by"] == "acme"
    assert second.fingerprints["openai/model-2"] != first.fingerprints["openai/model-2"]
    assert {k: v for k, v in second.fingerprints.items() if k != "openai/model-2"} == \
        {k: v for k, v in first.fingerprints.items() if k != "openai/model-2"}


def test_a_paged_answer_that_did_not_change_is_known_unchanged_at_its_last_page(sim, monkeypatch):
    client = make_client("anthropic", sim.base_url("anthropic"), page_size=5)
    first = client.fetch(None)
    pages = len(first.models) // 5 + (len(first.models) % 5 > 0)
    assert pages > 1
    parsed: list[int] = []
    normalize = client.normalize
    monkeypatch.setattr(client, "normalize", lambda item: parsed.append(1) or normalize(item))
    requested: list[int] = []
    request_body = client.request_body  # every request of every format goes through it
    monkeypatch.setattr(client, "request_body", lambda *a, **k: requested.append(1) or request_body(*a, **k))
    second = client.fetch(memo_of(first))
    assert second.unchanged and second.models == () and second.fingerprints == {}
    assert second.body_hash == first.body_hash
    # Every page was asked for (the earlier ones name the next); none was normalized again.
    assert len(requested) == pages and parsed == []


def test_a_format_that_pages_but_answered_in_one_page_is_not_parsed_again(sim):
    sim.state.set_page_size("anthropic", None)  # the simulator's own cap off: every model in one page
    client = make_client("anthropic", sim.base_url("anthropic"), page_size=1000)
    first = client.fetch(None)
    assert not first.unchanged and len(first.models) > 5
    second = client.fetch(memo_of(first))
    # The first page's hash is the whole last answer's: no item was parsed or fingerprinted.
    assert second.unchanged and second.models == () and second.fingerprints == {}
    assert second.body_hash == first.body_hash


def test_a_one_page_answer_that_gains_pages_is_read_to_its_end(sim):
    sim.state.set_page_size("anthropic", None)
    client = make_client("anthropic", sim.base_url("anthropic"), page_size=1000)
    first = client.fetch(None)
    # The same models, now served five to a page: the first page is not the last answer, so every
    # page is read; each item is the same, so each record is the memo's.
    sim.state.set_page_size("anthropic", 5)
    second = client.fetch(memo_of(first))
    assert not second.unchanged and second.body_hash != first.body_hash
    assert len(second.models) == len(first.models) > 5
    assert all(any(m is old for old in first.models) for m in second.models)


def test_a_large_answer_is_normalized_with_the_collector_held_off_and_a_small_one_is_not(stub):
    import gc

    from discovery.providers.base import LARGE_BODY
    from discovery.providers.openai import OpenAIClient

    seen: list[bool] = []

    class Watched(OpenAIClient):
        def normalize(self, item):
            seen.append(gc.isenabled())
            return super().normalize(item)

    pad = "x" * 200
    big = [{"id": f"model-{i}", "object": "model", "created": 1715367049, "owned_by": pad} for i in range(2000)]
    stub.route("/v1/big/models", (200, {"object": "list", "data": big}))
    stub.route("/v1/small/models", (200, {"object": "list", "data": ROWS}))
    base = make_client("openai", f"{stub.url}/v1/big")
    assert gc.isenabled()
    result = Watched(base.config, environ={"OPENAI_API_KEY": "test-key"}).fetch(None)
    assert len(result.models) == 2000 and sum(len(m.raw.json) for m in result.models) > LARGE_BODY
    assert seen and not any(seen)
    # Back on once the answer is normalized; a small answer never holds it off.
    assert gc.isenabled()
    seen.clear()
    small = make_client("openai", f"{stub.url}/v1/small")
    Watched(small.config, environ={"OPENAI_API_KEY": "test-key"}).fetch(None)
    assert seen == [True] * len(ROWS) and gc.isenabled()
