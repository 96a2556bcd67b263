"""The catalog's write path on real data: replay the models.dev history through CatalogState.

Each snapshot is served by the simulator and fetched as the service does (with the memo of the
last accepted answer). Prints, per snapshot, the changes found, the fetch time (request, parse,
fingerprints, normalizing the changed items) and the time to diff and commit (SQLite file), then
an unchanged re-fetch. Run: python bench/bench_catalog.py [--snapshots N] [--database URL]
"""
from __future__ import annotations

import argparse
import gzip
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from discovery import refresh_runs, store  # noqa: E402
from discovery.catalog import CatalogState  # noqa: E402
from discovery.messages import ProviderSnapshot  # noqa: E402
from discovery.providers import ModelsDevClient  # noqa: E402
from discovery.settings import ProviderConfig  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "modelsdev"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--snapshots", type=int, default=9)
    parser.add_argument("--database", default=None)
    args = parser.parse_args()
    files = sorted(DATA.glob("api-*.json.gz"))[: args.snapshots]
    if not files:
        sys.exit(f"no snapshots under {DATA}")
    from discovery.simulator import SimulatorServer

    url = args.database or f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    store.open_database(url)
    store.ensure_provider("modelsdev", "modelsdev", True)
    state = CatalogState({"modelsdev": True})
    print(f"{'snapshot':<26}{'models':>7}{'added':>7}{'updated':>8}{'removed':>8}{'fetch s':>9}{'apply s':>9}")
    with SimulatorServer() as sim:
        # The service's own path: served over HTTP, fetched with the memo of the last accepted answer.
        client = ModelsDevClient(ProviderConfig(name="modelsdev", format="modelsdev", base_url=sim.base_url("modelsdev"),
                                                max_removal_ratio=1.0, max_body_mb=64))

        def refresh(label: str) -> None:
            t0 = time.perf_counter()
            fetched = client.fetch(state.memos(["modelsdev"]).get("modelsdev"))
            t1 = time.perf_counter()
            run_id = refresh_runs.begin_run("modelsdev", "bench")
            outcome, _, _ = state.apply(ProviderSnapshot(
                "modelsdev", run_id, fetched.models, unchanged=fetched.unchanged, body_hash=fetched.body_hash,
                fingerprints=fetched.fingerprints, max_removal_ratio=1.0))
            t2 = time.perf_counter()
            print(f"{label:<26}{outcome.total:>7}{outcome.added:>7}{outcome.updated:>8}{outcome.removed:>8}"
                  f"{t1 - t0:>9.3f}{t2 - t1:>9.3f}")

        for path in files:
            sim.state.set_models("modelsdev", json.load(gzip.open(path)))
            refresh(path.name)
        refresh("(unchanged re-fetch)")
    print(f"events in the outbox: {store.last_event_id()}")


if __name__ == "__main__":
    main()
