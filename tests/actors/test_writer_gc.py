"""The catalog writer holds the cyclic collector off through a write of LARGE_WRITE records or more."""
from __future__ import annotations

import contextlib
import gc

import actors.catalog
from actors.catalog import LARGE_WRITE
from discovery.catalog import CatalogState
from discovery.collector import collector_paused
from discovery.messages import ProviderSnapshot
from discovery.model import Model
from tests.conftest import provider_config, wait_for


def test_a_large_write_runs_with_the_collector_off_and_a_small_one_with_it_on(start_service, simulator,
                                                                              monkeypatch):
    service = start_service([provider_config(simulator, "bulk", "openai_compatible", route="openai")])
    wait_for(lambda: all(p.get("last_success_at") for p in service.providers()), what="first refresh")
    seen: list[tuple[int, bool, bool]] = []
    apply_many = CatalogState.apply_many
    # The writer's own pause, told apart from the notifier's (which may overlap it on its thread).
    writer_pausing = [False]

    @contextlib.contextmanager
    def noted_pause():
        with collector_paused():
            writer_pausing[0] = True
            try:
                yield
            finally:
                writer_pausing[0] = False

    def watched(self, snapshots, now=None):  # calls the real write through, noting the collector
        seen.append((sum(len(s.models) for s in snapshots), writer_pausing[0], gc.isenabled()))
        return apply_many(self, snapshots, now)

    monkeypatch.setattr(actors.catalog, "collector_paused", noted_pause)
    monkeypatch.setattr(CatalogState, "apply_many", watched)

    def snapshot(count: int) -> ProviderSnapshot:
        run_id = service.view.next_run_id()
        service.catalog.begin_run(run_id, "bulk", "manual")
        models = tuple(Model(provider="bulk", provider_model_id=f"m-{i}", raw={"id": f"m-{i}"}) for i in range(count))
        return ProviderSnapshot(source="bulk", run_id=run_id, models=models, max_removal_ratio=1.0)

    large = service.catalog.apply_snapshots([snapshot(LARGE_WRITE)]).get(timeout=60)
    small = service.catalog.apply_snapshots([snapshot(10)]).get(timeout=60)
    assert large[0].outcome == "succeeded" and large[0].added == LARGE_WRITE
    assert small[0].outcome == "succeeded"
    assert [(n, pausing) for n, pausing, _ in seen] == [(LARGE_WRITE, True), (10, False)]
    assert seen[0][2] is False, "the collector is off through the large write"
    wait_for(gc.isenabled, what="the collector to be back on once no burst holds it")
    assert len(service.index) >= 10
