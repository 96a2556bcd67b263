"""Together's GET /v1/models: a bare array with typed rows and float prices per 1M tokens."""
from __future__ import annotations


def rows(sim, http) -> list[dict]:
    body = http.get(sim.base_url("together") + "/models").json()
    assert isinstance(body, list)
    return body


def test_together_answers_a_bare_array_of_typed_rows(sim, http):
    data = rows(sim, http)
    kinds = {r["type"] for r in data}
    assert {"chat", "embedding", "image", "rerank", "moderation"} <= kinds
    for row in data:
        assert {"id", "object", "created", "display_name", "organization", "context_length", "pricing"} <= set(row)
        assert all(isinstance(row["pricing"][k], (int, float)) for k in ("input", "output", "hourly"))


def test_together_prices_come_from_models_dev_per_million(sim, http):
    llama = next(r for r in rows(sim, http) if r["id"] == "meta-llama/Llama-3.3-70B-Instruct-Turbo")
    assert llama["pricing"]["input"] == 0.88 and llama["context_length"] == 131072


def test_together_wrong_shape_fault_turns_the_array_into_an_object(sim, http):
    sim.state.set_fault("together", "wrong_shape", times=1)
    assert isinstance(http.get(sim.base_url("together") + "/models").json(), dict)


def test_together_empty_fault_is_an_empty_array(sim, http):
    sim.state.set_fault("together", "empty", times=1)
    assert rows(sim, http) == []
