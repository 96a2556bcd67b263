"""Mistral's GET /v1/models: alias cards folded into one model, request-time `created` ignored."""
from __future__ import annotations

import pytest

from discovery.providers import ProviderHTTPError
from tests.providers.conftest import by_id, make_client, simulated

CAPS_CHAT = {"completion_chat": True, "completion_fim": False, "function_calling": True, "fine_tuning": False,
             "vision": True, "ocr": False, "classification": False, "moderation": False, "audio": False}


def card(model_id, name=None, aliases=(), created=1760000000, **extra):
    return {"id": model_id, "object": "model", "created": created, "owned_by": "mistralai",
            "capabilities": extra.pop("capabilities", CAPS_CHAT), "name": name or model_id,
            "description": "Our frontier-class multimodal model.", "max_context_length": 131072,
            "aliases": list(aliases), "deprecation": None, "deprecation_replacement_model": None,
            "default_model_temperature": 0.3, "type": "base", **extra}


MEDIUM = card("mistral-medium-2508", aliases=["mistral-medium-latest", "mistral-medium"])
MEDIUM_LATEST = card("mistral-medium-latest", name="mistral-medium-2508",
                     aliases=["mistral-medium-2508", "mistral-medium"])
MEDIUM_ALIAS = card("mistral-medium", name="mistral-medium-2508", aliases=["mistral-medium-2508", "mistral-medium-latest"])
EMBED = card("mistral-embed", max_context_length=8192, capabilities={
    "completion_chat": False, "completion_fim": False, "function_calling": False, "fine_tuning": False,
    "vision": False, "ocr": False, "classification": False, "moderation": False, "audio": False})
OLD = card("open-mistral-7b", deprecation="2025-03-30T12:00:00Z", deprecation_replacement_model="ministral-8b-latest",
           capabilities={**CAPS_CHAT, "vision": False, "function_calling": True})


def test_alias_cards_become_aliases_of_the_canonical_model_not_duplicates():
    models = make_client("mistral").normalize_list([MEDIUM_LATEST, MEDIUM, MEDIUM_ALIAS, EMBED])
    assert [m.provider_model_id for m in models] == ["mistral-medium-2508", "mistral-embed"]
    assert models[0].attributes["aliases"] == ("mistral-medium", "mistral-medium-latest")


def test_request_time_created_never_reaches_the_record_or_its_hash():
    client = make_client("mistral")
    a = client.normalize_list([MEDIUM, MEDIUM_LATEST])[0]
    b = client.normalize_list([dict(MEDIUM, created=1999999999), dict(MEDIUM_LATEST, created=1999999999)])[0]
    assert a.content_hash() == b.content_hash() and "created" not in a.raw
    assert a.lifecycle.release_date is None


def test_vision_and_tool_calling_model():
    m = make_client("mistral").normalize(MEDIUM)
    assert m.kind == "chat" and m.capabilities.vision is True and m.capabilities.tool_calling is True
    assert m.capabilities.fine_tuning is False  # stated false, not unknown
    assert m.limits.context_window == 131072 and m.modalities.input == ("text", "image")
    assert m.lifecycle.status == "active" and m.provenance["capabilities.vision"] == "mistral"


def test_embedding_model_kind_is_a_heuristic_when_no_capability_says_so():
    m = make_client("mistral").normalize(EMBED)
    assert m.kind == "embedding" and m.provenance["kind"] == "heuristic"


def test_deprecated_model_carries_date_and_replacement():
    m = make_client("mistral").normalize(OLD)
    assert m.lifecycle.status == "deprecated" and m.lifecycle.deprecation_date == "2025-03-30"
    assert m.attributes["deprecation_replacement_model"] == "ministral-8b-latest"


def test_fetch_uses_bearer_and_folds_aliases(stub):
    stub.route("/v1/models", (200, {"object": "list", "data": [MEDIUM, MEDIUM_LATEST, EMBED]}))
    models = make_client("mistral", stub.url + "/v1", env={"MISTRAL_API_KEY": "m-key"}).fetch_models()
    assert len(models) == 2 and stub.requests[0]["headers"]["Authorization"] == "Bearer m-key"


def test_error_body_object_error_message(stub):
    stub.route("/v1/models", (500, {"object": "error", "message": "Service unavailable", "type": "internal_error",
                                   "param": None, "code": None}))
    with pytest.raises(ProviderHTTPError) as err:
        make_client("mistral", stub.url + "/v1").fetch_models()
    assert "Service unavailable" in str(err.value) and err.value.retryable


def test_refresh_from_the_simulator(sim):
    import requests

    base = simulated(sim, "mistral")
    cards = requests.get(base + "/models", timeout=5).json()["data"]
    models = make_client("mistral", base).fetch_models()
    got = by_id(models)
    assert len(got) == len(models) < len(cards)  # alias cards folded
    aliases = {a for m in models for a in m.attributes.get("aliases", ())}
    assert {c["id"] for c in cards} <= set(got) | aliases
    assert not set(got) & aliases
    assert got["mistral-medium-2508"].attributes["aliases"] == ("mistral-medium-latest",)
    assert any(m.capabilities.vision for m in models) and any(m.capabilities.tool_calling for m in models)
    assert got["mistral-embed"].kind == "embedding"
    assert got["devstral-2512"].lifecycle.status == "deprecated"
    assert "created" not in got["mistral-medium-2508"].raw


def test_cards_answered_again_with_new_timestamps_are_not_normalized_again(stub):
    """Mistral stamps every card with the request time: the memo still recognizes each card."""
    from discovery.catalog import SourceMemo
    from tests.providers.conftest import make_client

    card = {"id": "mistral-large-2411", "object": "model", "owned_by": "mistralai",
            "capabilities": {"completion_chat": True}, "max_context_length": 131072}
    stamps = iter(range(1_700_000_000, 1_700_000_100))
    stub.route("/models", lambda request: (200, {"object": "list", "data": [{**card, "created": next(stamps)}]}))
    client = make_client("mistral", stub.url)
    first = client.fetch(None)
    memo = SourceMemo(first.body_hash, {fp: m for m in first.models for fp in first.fingerprints.values()})
    second = client.fetch(memo)
    assert not second.unchanged and second.body_hash != first.body_hash  # the bodies differ...
    assert second.fingerprints == first.fingerprints  # ...the card does not
    assert second.models[0] is first.models[0]  # the memo's record, not normalized again
