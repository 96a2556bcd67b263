"""The catalog writer holds the cyclic collector off through a write of LARGE_WRITE records or more."""
from __future__ import annotations

import gc

from actors.catalog import LARGE_WRITE
from discovery.catalog import CatalogState
from discovery.messages import ProviderSnapshot
from discovery.model import Model
from tests.conftest import provider_config, wait_for


def test_a_large_write_runs_with_the_collector_off_and_a_small_one_with_it_on(start_service, simulator,
                                                                              monkeypatch):
    service = start_service([provider_config(simulator, "bulk", "openai_compatible", route="openai")])
    wait_for(lambda: all(p.get("last_success_at") for p in service.providers()), what="first refresh")
    seen: list[tuple[int, bool]] = []
    apply_many = CatalogState.apply_many

    def watched(self, snapshots, now=None):  # calls the real write through, noting the collector
        seen.append((sum(len(s.models) for s in snapshots), gc.isenabled()))
        return apply_many(self, snapshots, now)

    monkeypatch.setattr(CatalogState, "apply_many", watched)

    def snapshot(count: int) -> ProviderSnapshot:
        run_id = service.view.next_run_id()
        service.catalog.begin_run(run_id, "bulk", "manual")
        models = tuple(Model(provider="bulk", provider_model_id=f"m-{i}", raw={"id": f"m-{i}"}) for i in range(count))
        return ProviderSnapshot(source="bulk", run_id=run_id, models=models, max_removal_ratio=1.0)

    assert gc.isenabled()
    large = service.catalog.apply_snapshots([snapshot(LARGE_WRITE)]).get(timeout=60)
    small = service.catalog.apply_snapshots([snapshot(10)]).get(timeout=60)
    assert large[0].outcome == "succeeded" and large[0].added == LARGE_WRITE
    assert small[0].outcome == "succeeded"
    assert seen == [(LARGE_WRITE, False), (10, True)]
    assert gc.isenabled() and len(service.index) >= 10
