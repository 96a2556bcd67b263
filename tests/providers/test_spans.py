"""Formats that read their answer as raw item spans (parsing an item only when its span is new)
make the very records the parsed answer makes, refuse the same bad shapes, and reuse the memo's
record for every span that did not change."""
from __future__ import annotations

import hashlib
import json

import pytest

from discovery.catalog import SourceMemo
from discovery.providers.errors import MalformedAnswer
from discovery.simulator.sources import packaged_litellm, packaged_modelsdev
from tests.providers.conftest import make_client


def memo_of(result) -> SourceMemo:
    by_id = {m.id: m for m in result.models}
    return SourceMemo(result.body_hash, {fp: by_id[mid] for mid, fp in result.fingerprints.items()})


def records(models) -> list[tuple[str, str, bytes]]:
    return [(m.id, m.content_hash(), m.raw.json) for m in models]


def test_the_real_catalogs_read_as_spans_make_the_records_their_parsed_documents_make(stub):
    litellm_map, modelsdev_doc = packaged_litellm(), packaged_modelsdev()
    stub.route("/litellm/map.json", (200, litellm_map))
    stub.route("/modelsdev/api.json", (200, modelsdev_doc))
    litellm = make_client("litellm", f"{stub.url}/litellm", path="/map.json")
    modelsdev = make_client("modelsdev", f"{stub.url}/modelsdev")
    for client, doc in ((litellm, litellm_map), (modelsdev, modelsdev_doc)):
        fetched = client.fetch(None)
        parsed = client.normalize(doc)
        assert len(fetched.models) > 1000
        assert records(fetched.models) == records(parsed)
        assert set(fetched.fingerprints) == {m.id for m in fetched.models}


def test_a_span_fingerprint_is_the_keyed_hash_of_its_context_and_bytes_as_sent(stub):
    # Memos outlive upgrades (they are stored with the source rows), so the fingerprint's form is
    # fixed: BLAKE2b-128 keyed by the client's salt, over "span:", the context as a JSON array,
    # then the item's bytes exactly as the body holds them.
    body = r'{"acme": {"models": {"m1": {"id": "m1",  "name": "M\u00e9 1"}}}}'
    stub.route("/modelsdev/api.json", (200, body))
    client = make_client("modelsdev", f"{stub.url}/modelsdev")
    span = rb'{"id": "m1",  "name": "M\u00e9 1"}'
    assert span in body.encode()
    context = json.dumps(["acme", "m1"], separators=(",", ":")).encode()
    expected = hashlib.blake2b(b"span:" + context + span, digest_size=16, key=client._salt()).hexdigest()
    assert client.fetch(None).fingerprints == {"acme/m1": expected}


def test_a_well_formed_models_dev_document_is_read_in_one_pass(stub, monkeypatch):
    # The level-at-a-time reading (span_map) is only for a document the one pass refuses.
    client = make_client("modelsdev", f"{stub.url}/modelsdev")
    levels = []
    read_level = client.span_map
    monkeypatch.setattr(client, "span_map", lambda raw, what: levels.append(what) or read_level(raw, what))
    stub.route("/modelsdev/api.json", (200, {"acme": {"models": {"m1": {"id": "m1"}}}}))
    assert [m.id for m in client.fetch(None).models] == ["acme/m1"]
    assert levels == []
    stub.route("/modelsdev/api.json", (200, '{"acme": {"models": {"m1": {"id": "m1", "x": NaN}}}}'))
    assert [m.id for m in client.fetch(None).models] == ["acme/m1"]
    assert len(levels) == 2  # the provider, then its models


def test_a_changed_catalog_entry_is_the_only_one_parsed_again(stub):
    doc = packaged_litellm()
    stub.route("/litellm/map.json", lambda request: (200, doc))
    client = make_client("litellm", f"{stub.url}/litellm", path="/map.json")
    first = client.fetch(None)
    key = "gpt-4o"
    doc[key] = {**doc[key], "max_output_tokens": 4242}
    second = client.fetch(memo_of(first))
    fresh = [m for m in second.models if not any(m is old for old in first.models)]
    assert [m.id for m in fresh] == ["openai/gpt-4o"] and fresh[0].limits.max_output_tokens == 4242
    assert len(second.models) == len(first.models)


@pytest.mark.parametrize("fmt,path,key", [("openai", "/v1/models", "data"), ("gemini", "/v1beta/models", "models"),
                                          ("cohere", "/v1/models", "models"), ("anthropic", "/v1/models", "data")])
def test_a_list_answer_of_the_wrong_shape_fails_the_refresh_saying_what_was_wrong(stub, fmt, path, key):
    base = f"{stub.url}{path.rsplit('/models', 1)[0]}"
    client = make_client(fmt, base)
    cases = [
        ([{"id": "a"}], f"expected a JSON object with '{key}'"),
        ({key: {"id": "a"}}, f"'{key}' is not a list"),
        ({"other": []}, f"'{key}' is not a list"),
        ({key: [{"id": "a"}, "b"]}, f"'{key}' holds non-objects"),
        ("{not json", "with a body that is not JSON"),
    ]
    if fmt == "gemini":
        # Google's JSON leaves out an empty list: no 'models' is no models (refused as empty later).
        stub.route(path, (200, {"other": []}))
        assert client.fetch(None).models == ()
        cases.remove(({"other": []}, f"'{key}' is not a list"))
    for body, message in cases:
        stub.route(path, (200, body))
        with pytest.raises(MalformedAnswer, match=message):
            client.fetch(None)


def test_a_catalog_of_the_wrong_shape_fails_the_refresh_saying_what_was_wrong(stub):
    client = make_client("modelsdev", f"{stub.url}/modelsdev")
    cases = [
        ([], "api.json must be an object keyed by provider id"),
        ({"acme": {"name": "Acme"}}, "provider 'acme' has no 'models' object"),
        ({"acme": {"models": []}}, "provider 'acme' has no 'models' object"),
        ({"acme": {"models": {"m1": 3}}}, "model acme/m1 is not an object"),
        ({"acme": "Acme"}, "provider 'acme' has no 'models' object"),
    ]
    for body, message in cases:
        stub.route("/modelsdev/api.json", (200, body))
        with pytest.raises(MalformedAnswer, match=message):
            client.fetch(None)
    stub.route("/litellm/map.json", (200, ["not", "a", "map"]))
    with pytest.raises(MalformedAnswer, match="the model map must be an object keyed by model name"):
        make_client("litellm", f"{stub.url}/litellm", path="/map.json").fetch(None)


def test_models_dev_reads_the_same_records_whichever_way_the_document_is_read(stub):
    # A well-formed document is read in one pass; one that pass refuses (a provider left out by
    # the options but of the wrong shape, a NaN) a level at a time. Either way the kept
    # providers' records are the same.
    good = {"acme": {"name": "Acme", "models": {"m1": {"id": "m1", "name": "M1", "limit": {"context": 8192}},
                                                "m2": {"id": "m2", "tool_call": True}}}}
    client = make_client("modelsdev", f"{stub.url}/modelsdev", providers=["acme"])
    stub.route("/modelsdev/api.json", (200, good))
    one_pass = client.fetch(None).models
    assert [m.id for m in one_pass] == ["acme/m1", "acme/m2"]
    assert one_pass[0].limits.context_window == 8192 and one_pass[1].capabilities.tool_calling is True
    stub.route("/modelsdev/api.json", (200, {**good, "other": {"models": []}}))
    assert client.fetch(None).models == one_pass
    stub.route("/modelsdev/api.json", (200, json.dumps(good)[:-1] + ', "other": {"models": {}, "score": NaN}}'))
    assert client.fetch(None).models == one_pass


def test_an_answer_that_is_not_strict_json_is_read_as_the_parsed_path_reads_it(stub):
    # NaN is not JSON, but the standard library reads it (as request_json always did): the
    # answer is read that way, and the item's non-finite number becomes null.
    stub.route("/v1/models", (200, '{"object":"list","data":[{"id":"m1","object":"model","created":NaN},'
                                   '{"id":"m2","object":"model","created":1715367049}]}'))
    client = make_client("openai", f"{stub.url}/v1")
    result = client.fetch(None)
    assert [m.id for m in result.models] == ["openai/m1", "openai/m2"]
    assert result.models[0].raw["created"] is None and result.models[1].lifecycle.release_date == "2024-05-10"
    stub.route("/v1/models", (200, "[NaN]"))
    with pytest.raises(MalformedAnswer, match="expected a JSON object with 'data'"):
        client.fetch(None)


def _openai_list(ids, changed=None):
    return {"object": "list", "data": [{"id": i, "object": "model", "created": 1, "owned_by": changed.get(i, "o")
                                        if changed else "o"} for i in ids]}


def test_runs_of_unchanged_items_are_the_memos_records_with_the_fingerprints_one_at_a_time_gives(stub):
    """Items are looked at GROUP_SIZE at a time: a run whose bytes came before, every record of
    which the memo holds, is taken whole. What comes out is what reading each item gives."""
    from discovery.providers.base import GROUP_SIZE

    ids = [f"m{i:03d}" for i in range(5 * GROUP_SIZE + 7)]
    body = {"doc": _openai_list(ids)}
    stub.route("/v1/models", lambda request: (200, body["doc"]))
    client = make_client("openai", f"{stub.url}/v1")
    first = client.fetch(None)
    body["doc"] = _openai_list(ids, changed={"m040": "someone else"})
    second = client.fetch(memo_of(first))
    fresh = [m for m in second.models if not any(m is old for old in first.models)]
    assert [m.id for m in fresh] == ["openai/m040"] and fresh[0].raw["owned_by"] == "someone else"
    assert [m.id for m in second.models] == [f"openai/{i}" for i in ids]
    # The same fingerprints as a client with no runs to go by (each item read) makes.
    alone = make_client("openai", f"{stub.url}/v1").fetch(memo_of(first))
    assert second.fingerprints == alone.fingerprints
    assert [m.content_hash() for m in second.models] == [m.content_hash() for m in alone.models]


def test_a_run_whose_record_the_memo_lacks_is_read_item_by_item(stub):
    """The memo is the last accepted answer's: a record the catalog left out (rejected) is not
    in it, so the run that holds it is read again, item by item."""
    ids = [f"m{i:03d}" for i in range(40)]
    stub.route("/v1/models", (200, _openai_list(ids)))
    client = make_client("openai", f"{stub.url}/v1")
    first = client.fetch(None)
    memo = memo_of(first)
    dropped = first.fingerprints["openai/m005"]
    memo = SourceMemo(memo.body_hash + "x", {fp: m for fp, m in memo.items.items() if fp != dropped})
    second = client.fetch(memo)
    fresh = [m for m in second.models if not any(m is old for old in first.models)]
    assert [m.id for m in fresh] == ["openai/m005"]
    assert len(second.models) == 40 and second.fingerprints == first.fingerprints


def test_a_repeated_id_keeps_its_first_record_whether_its_run_is_read_or_taken(stub):
    from discovery.providers.base import GROUP_SIZE

    ids = [f"m{i:03d}" for i in range(GROUP_SIZE)] + ["m000"] + [f"n{i:03d}" for i in range(GROUP_SIZE)]
    doc = _openai_list(ids)
    doc["data"][GROUP_SIZE]["owned_by"] = "the repeat"
    stub.route("/v1/models", (200, doc))
    client = make_client("openai", f"{stub.url}/v1")
    first = client.fetch(None)
    second = client.fetch(SourceMemo(None, memo_of(first).items))
    for result in (first, second):
        kept = {m.id: m for m in result.models}
        assert len(result.models) == 2 * GROUP_SIZE and kept["openai/m000"].raw["owned_by"] == "o"
    assert second.fingerprints == first.fingerprints


def test_a_models_dev_entry_that_is_not_an_object_fails_the_refresh_in_a_changed_run(stub):
    doc = {"acme": {"id": "acme", "models": {f"m{i}": {"id": f"m{i}", "name": f"M {i}"} for i in range(10)}}}
    body = {"doc": doc}
    stub.route("/modelsdev/api.json", lambda request: (200, body["doc"]))
    client = make_client("modelsdev", f"{stub.url}/modelsdev")
    first = client.fetch(None)
    doc = json.loads(json.dumps(doc))
    doc["acme"]["models"]["m3"] = [1, 2]
    body["doc"] = doc
    with pytest.raises(MalformedAnswer, match="model acme/m3 is not an object"):
        client.fetch(memo_of(first))
