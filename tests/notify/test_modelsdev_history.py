"""The real models.dev history, snapshot after snapshot, through the simulator and a running service.

The truth is computed here straight from the JSON files: a model is added or removed when its key
appears or disappears, and changed when its record differs. The events a subscriber receives for
each refresh must name exactly those models.
"""
from __future__ import annotations

import time
from typing import Any

import pytest

from discovery.simulator import load_modelsdev_snapshot
from tests.conftest import SHARED_DATA, provider_config, wait_for

SNAPSHOTS = sorted((SHARED_DATA / "modelsdev").glob("api-*.json.gz"))
# models.dev provider ids the service names differently (its documented naming, not its logic).
RENAMED = {"google": "gemini", "amazon-bedrock": "bedrock", "togetherai": "together", "ollama-cloud": "ollama"}


def records_by_model_id(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``<provider>/<model id>`` → record, the first listing winning as in the document's order."""
    out: dict[str, dict[str, Any]] = {}
    for provider_id, provider in doc.items():
        for key, record in provider["models"].items():
            out.setdefault(f"{RENAMED.get(provider_id, provider_id)}/{record.get('id', key)}", record)
    return out


def truth(before: dict[str, Any], after: dict[str, Any]) -> dict[str, set[str]]:
    """Added, removed and changed models between two documents, from the records alone."""
    a, b = records_by_model_id(before), records_by_model_id(after)
    return {"added": b.keys() - a.keys(), "removed": a.keys() - b.keys(),
            "updated": {k for k in a.keys() & b.keys() if a[k] != b[k]}}


@pytest.mark.skipif(len(SNAPSHOTS) < 3, reason="the models.dev history is not in ../shared/data/modelsdev")
def test_events_between_consecutive_modelsdev_snapshots_are_exactly_the_changed_models(
        start_service, simulator):
    started = time.monotonic()
    docs = [load_modelsdev_snapshot(path) for path in SNAPSHOTS]
    simulator.state.set_models("modelsdev", docs[0])
    # The production guards stay on (no real snapshot loses half the catalog); only the manual
    # refresh budget is raised, as the test refreshes eight times in a row.
    source = provider_config(simulator, "modelsdev", "modelsdev", timeout=30.0, manual_refresh_per_minute=1000)
    service = start_service([source], batch_max_delay=0.0)
    received: list[Any] = []
    service.subscribe(lambda events: received.extend(events), kinds=["added", "removed", "updated",
                                                                     "models_refreshed"], max_batch=10_000)

    def run_events(run_id: int) -> dict[str, set[str]]:
        wait_for(lambda: any(e.kind == "models_refreshed" and e.run_id == run_id for e in received),
                 timeout=60, what=f"the events of run {run_id}")
        got: dict[str, set[str]] = {"added": set(), "removed": set(), "updated": set()}
        for e in received:
            if e.run_id == run_id and e.kind in got:
                assert e.model_id not in got[e.kind], f"{e.kind} {e.model_id} announced twice"
                got[e.kind].add(e.model_id)
        return got

    first = wait_for(lambda: service.refresh_runs("modelsdev", limit=1), timeout=60, what="the first run")[0]
    initial = run_events(first["id"])
    assert initial["added"] == set(records_by_model_id(docs[0])) and not initial["updated"]

    checked = []
    for i in range(1, len(docs)):
        simulator.state.set_models("modelsdev", docs[i])
        (outcome,) = service.wait([service.refresh("modelsdev")], timeout=60)
        assert outcome.outcome == "succeeded", outcome.error
        got, expected = run_events(outcome.run_id), truth(docs[i - 1], docs[i])
        for kind in ("added", "removed", "updated"):
            assert got[kind] == expected[kind], (
                f"{SNAPSHOTS[i - 1].name} → {SNAPSHOTS[i].name}: {kind} differs; "
                f"missing {sorted(expected[kind] - got[kind])[:5]}, extra {sorted(got[kind] - expected[kind])[:5]}")
        checked.append((SNAPSHOTS[i].name, {k: len(v) for k, v in expected.items()}))
    elapsed = time.monotonic() - started
    print(f"{len(checked)} consecutive snapshot pairs matched in {elapsed:.1f}s: {checked}")
