"""Cohere's GET /v1/models: page tokens, endpoint filters, nullable features."""
from __future__ import annotations


def get(sim, http, **params):
    return http.get(sim.base_url("cohere") + "/models", params=params)


def walk(sim, http, **params) -> tuple[list[dict], int]:
    rows, pages, token = [], 0, None
    while True:
        body = get(sim, http, **params, **({"page_token": token} if token else {})).json()
        rows += body["models"]
        pages += 1
        token = body.get("next_page_token")
        if not token:
            return rows, pages


def test_cohere_walk_all_pages_no_duplicates_none_missing(sim, http):
    rows, pages = walk(sim, http)
    names = [r["name"] for r in rows]
    assert pages >= 3 and len(names) == len(set(names))
    assert names == [r["name"] for r in sim.state.models("cohere")]


def test_cohere_rows_have_the_sdk_fields_and_some_null_features(sim, http):
    rows = {r["name"]: r for r in walk(sim, http)[0]}
    for row in rows.values():
        assert {"name", "endpoints", "finetuned", "context_length", "tokenizer_url",
                "default_endpoints", "features", "is_deprecated"} <= set(row)
    assert rows["embed-v4.0"]["features"] is None
    assert "vision" in rows["command-a-vision-07-2025"]["features"]
    assert "tools" in rows["command-a-03-2025"]["features"]
    assert rows["command-light"]["is_deprecated"] is True


def test_cohere_endpoint_and_default_only_filters(sim, http):
    embed = walk(sim, http, endpoint="embed")[0]
    assert embed and all("embed" in r["endpoints"] for r in embed)
    defaults = walk(sim, http, endpoint="embed", default_only="true")[0]
    assert [r["name"] for r in defaults] == ["embed-v4.0"]
    assert get(sim, http, endpoint="dance").status_code == 400


def test_cohere_errors_use_id_and_message(sim, http):
    sim.state.set_expected_key("cohere", "co-key")
    body = get(sim, http).json()
    assert set(body) == {"id", "message"} and body["message"] == "no api key supplied"
    assert get(sim, http, page_token="garbage").status_code == 401
    ok = http.get(sim.base_url("cohere") + "/models", headers={"Authorization": "Bearer co-key"},
                  params={"page_token": "garbage"})
    assert ok.status_code == 400
