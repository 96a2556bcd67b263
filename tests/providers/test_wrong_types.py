"""Fields of the wrong type in one record of an answer, served by the simulator over HTTP: the
refresh keeps that record, reads what the rest of it says, and leaves the odd field unknown.

Found by fuzzing each format's records with values of other types (numbers for lists, lists for
objects, objects for ids): before, these escaped as TypeError or AttributeError, and the whole
refresh failed as an internal error.
"""
from __future__ import annotations

import copy

import pytest

from tests.providers.conftest import by_id, make_client, simulated


def test_cohere_endpoints_that_are_not_a_list_leave_the_kind_to_the_rest(sim):
    records = sim.state.models("cohere")
    records[0]["endpoints"] = 1.5
    sim.state.set_models("cohere", records)
    models = by_id(make_client("cohere", simulated(sim, "cohere")).fetch(None).models)
    assert set(models) == {r["name"] for r in records}
    assert models[records[0]["name"]].limits.context_window == records[0]["context_length"]


@pytest.mark.parametrize("details", [1.5, ["q4"], "llama"])
def test_ollama_details_that_are_not_an_object_are_left_out(sim, details):
    records = sim.state.models("ollama")
    records[0]["details"] = details
    sim.state.set_models("ollama", records)
    models = by_id(make_client("ollama", simulated(sim, "ollama")).fetch(None).models)
    assert set(models) == {r["name"] for r in records}


@pytest.mark.parametrize("field,value,check", [
    ("id", {"a": None}, lambda m, key: m.provider_model_id == key),
    ("modalities", {"input": {"image": True}, "output": ["text"]}, lambda m, key: m.modalities.input is None
     and m.modalities.output == ("text",)),
    ("modalities", {"input": 5, "output": "text"}, lambda m, key: m.modalities.input is None
     and m.modalities.output == ("text",)),
    ("limit", "large", lambda m, key: m.limits.context_window is None),
    ("cost", [0.5], lambda m, key: m.pricing.input is None),
    ("status", ["deprecated"], lambda m, key: m.lifecycle.status == "active"),
    ("name", 5, lambda m, key: m.name == key),
    ("family", {"x": 1}, lambda m, key: m.family is None),
])
def test_a_models_dev_record_with_a_field_of_another_type_keeps_the_rest(sim, field, value, check):
    client = make_client("modelsdev", simulated(sim, "modelsdev"))
    # Three providers of the real catalog are enough to see the others kept (the whole one takes
    # seconds to serve and read twice per case); the simulator's own records stay as they are.
    doc = {p: v for p, v in list(sim.state.model_items("modelsdev"))[:40] if v.get("models")}
    doc = copy.deepcopy(dict(list(doc.items())[:3]))
    assert len(doc) == 3
    sim.state.set_models("modelsdev", doc)
    before = len(client.fetch(None).models)
    assert before > 3
    provider = next(iter(doc))
    key = next(iter(doc[provider]["models"]))
    doc[provider]["models"][key] = {**doc[provider]["models"][key], field: value}
    sim.state.set_models("modelsdev", doc)
    result = client.fetch(None)
    found = [m for m in result.models if m.provider_model_id == key]
    assert found, f"{provider}/{key} is missing"
    assert check(found[0], key)
    assert len(result.models) == before  # every other record as before


BIG = b"9" * 5000  # more digits than Python makes an int of from text (4,300)


@pytest.mark.parametrize("fmt,path,body", [
    ("openai", "/v1/models", b'{"data":[{"id":"a","created":' + BIG + b'},{"id":"b"}]}'),
    ("openrouter", "/v1/models", b'{"data":[{"id":"x/a","context_length":' + BIG + b'},{"id":"x/b"}]}'),
    ("together", "/v1/models", b'[{"id":"a","context_length":-' + BIG + b'},{"id":"b"}]'),
    ("gemini", "/v1beta/models", b'{"models":[{"name":"models/a","inputTokenLimit":' + BIG + b'},{"name":"models/b"}]}'),
])
def test_an_integer_too_long_to_read_leaves_its_field_unknown(stub, fmt, path, body):
    """A 5,000-digit integer is valid JSON, but the standard library's reader (taken where orjson
    refuses a number beyond 64 bits) raised ValueError for it: the refresh failed as an internal
    error (span formats) or as 'not JSON' (parsed ones). It is read as ±inf, out of every range."""
    stub.route(path, (200, body))
    models = make_client(fmt, stub.url + path.rsplit("/", 1)[0]).fetch(None).models
    assert len(models) == 2
    assert models[0].limits.context_window is None and models[0].lifecycle.release_date is None


HUGE = b"1" + b"0" * 400  # an integer past 1e308: no float holds it


@pytest.mark.parametrize("fmt,path,body", [
    ("openrouter", "/v1/models", b'{"data":[{"id":"x/a","context_length":H,"pricing":{"prompt":H}}]}'),
    ("together", "/v1/models", b'[{"id":"a","type":"chat","context_length":H,"pricing":{"input":H}}]'),
    ("groq", "/v1/models", b'{"data":[{"id":"a","context_window":H}]}'),
    ("anthropic", "/v1/models", b'{"data":[{"id":"a","max_input_tokens":H}],"has_more":false}'),
    ("mistral", "/v1/models", b'{"data":[{"id":"a","max_context_length":H,"capabilities":{}}]}'),
    ("cohere", "/v1/models", b'{"models":[{"name":"a","context_length":H,"endpoints":["chat"]}]}'),
    ("gemini", "/v1beta/models", b'{"models":[{"name":"models/a","inputTokenLimit":H}]}'),
    ("azure", "/openai/models", b'{"data":[{"id":"a","created_at":H,"deprecation":{"inference":H}}]}'),
    ("ollama", "/api/tags", b'{"models":[{"name":"a","capabilities":["completion"],"details":{"context_length":H}}]}'),
    ("modelsdev", "/modelsdev/api.json", b'{"acme":{"models":{"a":{"id":"a","limit":{"context":H},"cost":{"input":H}}}}}'),
    ("litellm", "/litellm/map.json",
     b'{"a":{"litellm_provider":"openai","mode":"chat","max_input_tokens":H,"input_cost_per_token":H}}'),
])
def test_an_integer_past_1e308_is_read_and_left_to_the_limits(stub, fmt, path, body):
    """Every format's number helpers made a float of a count or price (math.isfinite, float()):
    for an integer past 1e308 that raised OverflowError, and the refresh failed as an internal
    error over one field. The record is read; its count is kept as sent (the catalog's limits
    reject the record with a reason) and a price or time past any float is left unknown."""
    stub.route(path, (200, body.replace(b"H", HUGE)))
    options = {"path": "/map.json"} if fmt == "litellm" else {}
    base = stub.url + ("" if fmt == "ollama" else path.rsplit("/", 2 if fmt == "azure" else 1)[0])
    models = make_client(fmt, base, **options).fetch(None).models
    assert len(models) == 1
    assert models[0].limits.context_window in (None, int(HUGE)) and models[0].pricing.input is None


def test_a_models_dev_limit_of_1e400_is_left_unknown(stub):
    """1e400 reads as inf, and models.dev's own count helper made an int of it (OverflowError)."""
    stub.route("/modelsdev/api.json", (200, b'{"acme":{"models":{"a":{"id":"a","limit":{"context":1e400,'
                                            b'"output":-1e400},"cost":{"input":1e400}},"b":{"id":"b"}}}}'))
    models = make_client("modelsdev", f"{stub.url}/modelsdev").fetch(None).models
    assert [m.id for m in models] == ["acme/a", "acme/b"]
    assert models[0].limits.context_window is None and models[0].pricing.input is None


@pytest.mark.parametrize("aliases", [5, True, "m1-latest", {"m1-latest": 1}])
def test_mistral_aliases_that_are_not_a_list_are_left_out(stub, aliases):
    """A number or true raised TypeError (not iterable) and failed the refresh as internal; a
    string or an object was read letter by letter or key by key as aliases. Found by fuzzing
    each format's fields with values of other types (a review of malformed answers)."""
    stub.route("/v1/models", (200, {"data": [{"id": "m1", "aliases": aliases, "capabilities": {}},
                                             {"id": "m2", "aliases": ["m2-latest"], "capabilities": {}}]}))
    models = by_id(make_client("mistral", f"{stub.url}/v1").fetch(None).models)
    assert set(models) == {"m1", "m2"}
    assert "aliases" not in models["m1"].attributes and list(models["m2"].attributes["aliases"]) == ["m2-latest"]
