"""Anthropic's GET /v1/models: cursor pages, x-api-key, capabilities when present."""
from __future__ import annotations

import pytest

from discovery.providers import ProviderAuthError
from tests.providers.conftest import by_id, make_client, simulated

SONNET = {
    "type": "model", "id": "claude-sonnet-4-5-20250929", "display_name": "Claude Sonnet 4.5",
    "created_at": "2025-09-29T00:00:00Z", "max_input_tokens": 200000, "max_tokens": 64000,
    "capabilities": {
        "batch": {"supported": True}, "citations": {"supported": True},
        "code_execution": {"supported": True}, "image_input": {"supported": True},
        "pdf_input": {"supported": True}, "structured_outputs": {"supported": True},
        "context_management": {"supported": True, "clear_tool_uses_20250919": {"supported": True}},
        "effort": {"supported": False},
        "thinking": {"supported": True, "types": {"enabled": {"supported": True}, "adaptive": {"supported": False}}},
    },
}
HAIKU_3 = {"type": "model", "id": "claude-3-haiku-20240307", "display_name": "Claude Haiku 3",
           "created_at": "2024-03-07T00:00:00Z"}


def test_vision_model_states_limits_and_capabilities_with_provenance():
    m = make_client("anthropic").normalize(SONNET)
    assert m.id == "anthropic/claude-sonnet-4-5-20250929" and m.name == "Claude Sonnet 4.5"
    assert m.kind == "chat" and m.capabilities.vision is True and m.capabilities.reasoning is True
    assert m.capabilities.batch is True and m.capabilities.structured_output is True
    assert m.modalities.input == ("text", "image", "pdf")
    assert (m.limits.context_window, m.limits.max_output_tokens) == (200000, 64000)
    assert m.lifecycle.release_date == "2025-09-29"
    assert m.provenance["capabilities.vision"] == "anthropic" and m.provenance["family"] == "heuristic"
    assert m.attributes["features"] == ("citations", "code_execution", "context_management")
    assert m.attributes["thinking_types"] == ("enabled",)
    assert m.source == "anthropic" and m.live is True and m.raw["id"] == SONNET["id"]


def test_tool_use_is_never_advertised_so_it_stays_unknown():
    m = make_client("anthropic").normalize(SONNET)
    assert m.capabilities.tool_calling is None and "capabilities.tool_calling" not in m.provenance


def test_legacy_four_field_answer_leaves_everything_else_unknown():
    m = make_client("anthropic").normalize(HAIKU_3)
    assert m.name == "Claude Haiku 3" and m.kind == "chat"
    assert m.capabilities.vision is None and m.limits.context_window is None
    assert m.lifecycle.status is None and m.modalities.input is None


def test_epoch_created_at_means_unknown_release_date():
    m = make_client("anthropic").normalize({**HAIKU_3, "created_at": "1970-01-01T00:00:00Z"})
    assert m.lifecycle.release_date is None


def test_fetch_follows_after_id_over_three_pages_with_anthropic_headers(stub):
    rows = [dict(HAIKU_3, id=f"claude-{i}") for i in range(5)]

    def page(request):
        after = request.args.get("after_id")
        start = 0 if after is None else [r["id"] for r in rows].index(after) + 1
        chunk = rows[start:start + 2]
        return 200, {"data": chunk, "has_more": start + 2 < len(rows),
                     "first_id": chunk[0]["id"], "last_id": chunk[-1]["id"]}

    stub.route("/v1/models", page)
    models = make_client("anthropic", stub.url + "/v1", env={"ANTHROPIC_API_KEY": "sk-ant"}).fetch_models()
    assert [m.provider_model_id for m in models] == [r["id"] for r in rows]
    assert len(stub.requests) == 3
    headers = stub.requests[0]["headers"]
    assert headers["X-Api-Key"] == "sk-ant" and headers["Anthropic-Version"] == "2023-06-01"
    assert "Authorization" not in headers


def test_probe_asks_for_one_model(stub):
    stub.route("/v1/models", (200, {"data": [HAIKU_3], "has_more": True, "last_id": HAIKU_3["id"]}))
    make_client("anthropic", stub.url + "/v1").probe()
    assert stub.requests[-1]["query"] == {"limit": "1"}


def test_error_body_becomes_a_clear_auth_error(stub):
    stub.route("/v1/models", (401, {"type": "error", "error": {"type": "authentication_error",
                                                               "message": "invalid x-api-key"},
                                    "request_id": "req_1"}))
    with pytest.raises(ProviderAuthError) as err:
        make_client("anthropic", stub.url + "/v1").fetch_models()
    assert "invalid x-api-key" in str(err.value) and "401" in str(err.value)


def test_has_more_without_a_moving_cursor_is_malformed(stub):
    from discovery.providers import MalformedAnswer

    stub.route("/v1/models", (200, {"data": [HAIKU_3], "has_more": True}))
    with pytest.raises(MalformedAnswer):
        make_client("anthropic", stub.url + "/v1").fetch_models()


def test_refresh_from_the_simulator_over_three_pages(sim):
    base = simulated(sim, "anthropic")
    sim.state.set_page_size("anthropic", 4)
    before = sim.state.request_count("anthropic")
    models = make_client("anthropic", base).fetch_models()
    assert sim.state.request_count("anthropic") - before >= 3
    got = by_id(models)
    assert len(got) == len(models) == len(sim.state.models("anthropic"))
    vision = got["claude-sonnet-4-5-20250929"]
    assert vision.capabilities.vision is True and vision.limits.context_window
    assert vision.provenance["capabilities.vision"] == "anthropic"
    legacy = got["claude-3-haiku-20240307"]
    assert legacy.kind == "chat" and legacy.name
    assert all(m.capabilities.tool_calling is None for m in models)  # never advertised


def test_an_overloaded_529_is_retried_like_a_503(sim):
    """Anthropic answers a transient overload with 529 overloaded_error; retries covered 429 and
    500-504 only, so one 529 failed the refresh though the settings allowed a retry."""
    import dataclasses

    base = simulated(sim, "anthropic")
    sim.state.set_fault("anthropic", "unavailable", retry_after=0, times=1)  # the simulator's 529
    client = make_client("anthropic", base, retries=1)
    client = type(client)(dataclasses.replace(client.config, retry_backoff=0.01),
                          environ={"ANTHROPIC_API_KEY": "test-key"})
    before = sim.state.request_count("anthropic")
    assert client.fetch_models()
    assert sim.state.request_count("anthropic") - before >= 2
