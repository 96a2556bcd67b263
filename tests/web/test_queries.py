"""The queries the story names, on real catalog data: the newest models.dev snapshot served by the
simulator, read by a real service, asked over the app. Every expected answer is worked out from
the snapshot file itself, not from the service."""
from __future__ import annotations

from typing import Any, Callable, Iterable

import pytest

from discovery.settings import ProviderConfig, Settings
from tests.conftest import SHARED_DATA, wait_for

SNAPSHOTS = sorted((SHARED_DATA / "modelsdev").glob("api-*.json.gz"))
PROVIDERS = ("anthropic", "openai", "mistral", "deepseek", "xai")
pytestmark = pytest.mark.skipif(not SNAPSHOTS, reason="the models.dev history is not in ../shared/data/modelsdev")


@pytest.fixture(scope="module")
def snapshot() -> dict[str, dict[str, Any]]:
    """Model id in the catalog -> its models.dev entry, for the providers read."""
    from discovery.simulator import load_modelsdev_snapshot

    doc = load_modelsdev_snapshot(SNAPSHOTS[-1])
    return {f"{p}/{mid}": entry for p in PROVIDERS for mid, entry in doc[p]["models"].items()}


@pytest.fixture(scope="module")
def client(tmp_path_factory, snapshot):
    from actors.service import start_service
    from discovery.simulator import SimulatorServer, load_modelsdev_snapshot
    from web import create_app

    simulator = SimulatorServer()
    simulator.start()
    simulator.state.set_models("modelsdev", load_modelsdev_snapshot(SNAPSHOTS[-1]))
    source = ProviderConfig(name="modelsdev", format="modelsdev", base_url=simulator.base_url("modelsdev"),
                            refresh_interval=3600.0, timeout=30.0, retries=0, health_check_interval=0,
                            options={"providers": list(PROVIDERS)})
    db = tmp_path_factory.mktemp("queries") / "catalog.db"
    service = start_service(Settings(providers=(source,), database_url=f"sqlite:///{db}", batch_max_delay=0.01))
    try:
        wait_for(lambda: len(service.index) >= len(snapshot), timeout=60, what="the snapshot in the catalog")
        yield create_app(service).test_client()
    finally:
        service.stop()
        simulator.stop()


def listed(client, query: str) -> set[str]:
    """Every id the model list answers for ``query`` (all pages)."""
    out: set[str] = set()
    offset = 0
    while True:
        resp = client.get(f"/api/v1/models?{query}&limit=1000&offset={offset}")
        assert resp.status_code == 200, resp.get_data(as_text=True)
        body = resp.get_json()
        out.update(m["id"] for m in body["data"])
        offset += 1000
        if offset >= body["total"]:
            return out


def where(snapshot, test: Callable[[dict[str, Any]], bool], providers: Iterable[str] = PROVIDERS) -> set[str]:
    return {mid for mid, e in snapshot.items() if mid.split("/", 1)[0] in providers and test(e)}


def test_the_catalog_holds_the_snapshot(client, snapshot):
    assert listed(client, "provider=" + ",".join(PROVIDERS)) == set(snapshot)


@pytest.mark.parametrize("query,test", [
    ("min_context_window=200000", lambda e: (e.get("limit") or {}).get("context", 0) >= 200000),
    ("min_max_output_tokens=64000", lambda e: (e.get("limit") or {}).get("output", 0) >= 64000),
    ("max_input_price=1", lambda e: (e.get("cost") or {}).get("input") is not None and e["cost"]["input"] <= 1),
    ("max_output_price=4", lambda e: (e.get("cost") or {}).get("output") is not None and e["cost"]["output"] <= 4),
    ("released_after=2025-06-01", lambda e: (e.get("release_date") or "") >= "2025-06-01"),
    ("released_before=2024-12-31", lambda e: bool(e.get("release_date")) and e["release_date"] <= "2024-12-31"),
    ("released_after=2025-01-01&released_before=2025-06-30",
     lambda e: "2025-01-01" <= (e.get("release_date") or "") <= "2025-06-30"),
    # A year or a month names the whole period, at either end (December 2024 is before 2024).
    ("released_before=2024", lambda e: bool(e.get("release_date")) and e["release_date"][:4] <= "2024"),
    ("released_before=2024-11", lambda e: bool(e.get("release_date")) and e["release_date"][:7] <= "2024-11"),
    ("released_after=2024-05&released_before=2024-05", lambda e: (e.get("release_date") or "")[:7] == "2024-05"),
    ("released_after=2024&released_before=2024", lambda e: (e.get("release_date") or "")[:4] == "2024"),
])
def test_ranges_match_exactly_the_models_whose_value_is_known_and_within(client, snapshot, query, test):
    expected = where(snapshot, test)
    assert expected, f"the snapshot has no model for {query}: the test would prove nothing"
    assert listed(client, query + "&provider=" + ",".join(PROVIDERS)) == expected


def test_a_model_whose_price_is_unknown_matches_no_price_range(client, snapshot):
    unpriced = where(snapshot, lambda e: (e.get("cost") or {}).get("input") is None)
    assert unpriced, "the snapshot has no unpriced model"
    assert not unpriced & listed(client, "max_input_price=1000000")


@pytest.mark.parametrize("query,test", [
    ("attr.attachment=true", lambda e: e.get("attachment") is True),
    ("attr.attachment=false", lambda e: e.get("attachment") is False),
    ("attr.temperature", lambda e: "temperature" in e),
    ("attr.attachment=true&attr.temperature=false",
     lambda e: e.get("attachment") is True and e.get("temperature") is False),
])
def test_attribute_filters_match_what_the_provider_states(client, snapshot, query, test):
    expected = where(snapshot, test)
    assert expected, f"the snapshot has no model for {query}"
    assert listed(client, query) == expected


def test_a_repeated_parameter_means_the_union_of_its_values(client, snapshot):
    both = listed(client, "provider=anthropic&provider=openai")
    assert both == listed(client, "provider=anthropic,openai") == where(snapshot, lambda e: True,
                                                                         ("anthropic", "openai"))


def test_an_unknown_provider_is_a_400_naming_the_known_ones(client):
    resp = client.get("/api/v1/models?provider=anthropic,nowhere")
    assert resp.status_code == 400
    message = resp.get_json()["error"]["message"]
    assert "nowhere" in message and "anthropic" in message and "modelsdev" in message


def test_compare_aligns_the_records_field_by_field_and_names_what_differs(client, snapshot):
    ids = ["anthropic/claude-3-5-sonnet-20240620", "openai/gpt-4o", "mistral/mistral-large-latest"]
    ids = [i for i in ids if i in snapshot]
    assert len(ids) >= 2
    resp = client.get("/api/v1/models/compare?ids=" + ",".join(ids))
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["ids"] == ids and [m["id"] for m in body["models"]] == ids
    rows = {row["field"]: row for row in body["fields"]}
    assert rows["pricing.input"]["values"] == [snapshot[i]["cost"]["input"] for i in ids]
    assert rows["limits.context_window"]["values"] == [snapshot[i]["limit"]["context"] for i in ids]
    assert rows["provider"]["differs"] and "provider" in body["differing"]
    assert set(body["differing"]) == {f for f, row in rows.items() if row["differs"]}
    assert not rows["live"]["differs"] and "live" not in body["differing"]
    # The same answer whether the ids are a comma list or repeated, and a repeated id counts once.
    again = client.get("/api/v1/models/compare?" + "&".join(f"ids={i}" for i in ids + ids[:1])).get_json()
    assert again["ids"] == ids and again["fields"] == body["fields"]


@pytest.mark.parametrize("count", [1, 11])
def test_compare_takes_2_to_10_models(client, snapshot, count):
    ids = sorted(snapshot)[:count]
    resp = client.get("/api/v1/models/compare?ids=" + ",".join(ids))
    assert resp.status_code == 400 and "2 to 10" in resp.get_json()["error"]["message"]


def test_compare_names_the_models_the_catalog_does_not_hold(client):
    resp = client.get("/api/v1/models/compare?ids=openai/gpt-4o,openai/no-such,acme/nothing")
    assert resp.status_code == 404
    error = resp.get_json()["error"]
    assert error["unknown_ids"] == ["openai/no-such", "acme/nothing"] and "openai/no-such" in error["message"]
