"""A run's ``started_at`` is when its source's actor started it, not when the writer read the message.

The writer reads ``begin_run`` from its mailbox in turn: behind a large commit that can be a long
while after the refresh began, and a start stamped then would shorten the run's ``duration_ms``.
"""
from __future__ import annotations

import time

from discovery.messages import ProviderSnapshot
from discovery.model import Model
from tests.conftest import provider_config, wait_for

BUSY_MODELS = 4000  # a commit that keeps the writer busy far longer than starting a refresh takes


def test_a_refresh_started_while_the_writer_is_busy_keeps_its_own_start_time(start_service, simulator):
    service = start_service([provider_config(simulator, "quick", "openai_compatible", route="openai")])
    wait_for(lambda: all(p.get("last_success_at") for p in service.providers()), what="first refresh")

    busy_run = service.view.next_run_id()
    service.catalog.begin_run(busy_run, "bulk", "manual")
    models = tuple(Model(provider="bulk", provider_model_id=f"m-{i}", raw={"id": f"m-{i}"})
                   for i in range(BUSY_MODELS))
    busy = service.catalog.apply_snapshots([ProviderSnapshot(source="bulk", run_id=busy_run, models=models,
                                                             max_removal_ratio=1.0)])
    asked_at = time.time()
    ticket = service.refresh("quick")
    [outcome] = service.wait([ticket], timeout=60)
    assert outcome.outcome == "succeeded"
    assert busy.get(timeout=60)[0].added == BUSY_MODELS

    busy_row = service.refresh_run(busy_run)
    row = service.refresh_run(ticket.run_id)
    assert busy_row is not None and row is not None
    # The writer read this run's begin_run only after the large commit had ended.
    assert asked_at <= row["started_at"] < busy_row["finished_at"]
    assert row["finished_at"] >= busy_row["finished_at"]
    # The duration counts the wait behind the large commit too.
    assert row["duration_ms"] >= (busy_row["finished_at"] - row["started_at"]) * 1000
    assert abs(row["duration_ms"] - (row["finished_at"] - row["started_at"]) * 1000) < 1
