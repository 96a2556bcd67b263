"""At start-up Bedrock's merge waits for every region's first answer: one version per model."""
from __future__ import annotations

import pytest

from discovery import refresh_runs, store, stored_models
from discovery.bedrock import normalize_region
from discovery.catalog import CatalogState
from discovery.messages import ProviderSnapshot
from tests.bedrock.test_bedrock_logic import summary

REGIONS = ("bedrock@us-east-1", "bedrock@eu-west-1", "bedrock@ap-south-1")


@pytest.fixture
def state(db_url):
    store.open_database(db_url)
    for name in REGIONS:
        store.ensure_provider(name, "bedrock", False)
    s = CatalogState({})
    s.load()
    s.await_regions(REGIONS)
    yield s
    store.close_database()


def answer(state, source, *model_ids):
    region = source.split("@", 1)[1]
    models = normalize_region(region, [summary(m, region=region) for m in model_ids])
    return state.apply_many([ProviderSnapshot(source, refresh_runs.begin_run(source, "test"), tuple(models))])


def versions(model_id):
    return [v["change"] for v in stored_models.model_history(model_id)]


def test_regions_answering_one_by_one_make_one_version_per_model(state):
    answer(state, REGIONS[0], "a.model", "b.model")
    assert state.holding and "bedrock/a.model" not in state.current  # held: nothing published yet
    answer(state, REGIONS[1], "a.model")
    assert "bedrock/a.model" not in state.current
    outcomes, events, _ = answer(state, REGIONS[2], "a.model")
    assert not state.holding
    assert state.current["bedrock/a.model"].regions == ("ap-south-1", "eu-west-1", "us-east-1")
    assert state.current["bedrock/b.model"].regions == ("us-east-1",)
    assert versions("bedrock/a.model") == ["added"] and versions("bedrock/b.model") == ["added"]
    assert sorted(e.model_id for e in events if e.kind == "added") == ["bedrock/a.model", "bedrock/b.model"]
    # From here on a region's answer is merged at once.
    answer(state, REGIONS[1], "a.model", "c.model")
    assert "bedrock/c.model" in state.current


def test_a_region_that_fails_its_first_refresh_does_not_hold_the_others(state):
    answer(state, REGIONS[0], "a.model")
    answer(state, REGIONS[1], "a.model")
    state.region_settled(REGIONS[2])  # its refresh failed
    assert state.current["bedrock/a.model"].regions == ("eu-west-1", "us-east-1")
    assert versions("bedrock/a.model") == ["added"]


def test_held_answers_survive_a_restart(state, db_url):
    answer(state, REGIONS[0], "a.model")
    assert state.holding
    # The process dies while holding; a new one merges what the store holds at its first write.
    fresh = CatalogState({})
    fresh.load()
    assert "bedrock/a.model" not in fresh.current
    answer(fresh, REGIONS[1], "a.model")
    assert fresh.current["bedrock/a.model"].regions == ("eu-west-1", "us-east-1")
    assert versions("bedrock/a.model") == ["added"]
