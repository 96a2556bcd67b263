"""The catalog's write path on real data: replay the models.dev history through CatalogState.

Prints, per snapshot, the changes found and the time to diff and commit them (SQLite file),
plus the first full load. Run: python bench/bench_catalog.py [--snapshots N] [--database URL]
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

from discovery import store  # noqa: E402
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
    url = args.database or f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    store.open_database(url)
    store.ensure_provider("modelsdev", "modelsdev", True)
    client = ModelsDevClient(ProviderConfig(name="modelsdev", format="modelsdev", max_removal_ratio=1.0))
    state = CatalogState({"modelsdev": True})
    print(f"{'snapshot':<26}{'models':>7}{'added':>7}{'updated':>8}{'removed':>8}{'normalize s':>13}{'apply s':>9}")
    for path in files:
        doc = json.load(gzip.open(path))
        t0 = time.perf_counter()
        models = client.normalize(doc)
        t1 = time.perf_counter()
        run_id = store.begin_run("modelsdev", "bench")
        outcome, events, _ = state.apply(ProviderSnapshot("modelsdev", run_id, tuple(models), max_removal_ratio=1.0))
        t2 = time.perf_counter()
        print(f"{path.name:<26}{len(models):>7}{outcome.added:>7}{outcome.updated:>8}{outcome.removed:>8}"
              f"{t1 - t0:>13.3f}{t2 - t1:>9.3f}")
    run_id = store.begin_run("modelsdev", "bench")
    t0 = time.perf_counter()
    outcome, _, _ = state.apply(ProviderSnapshot("modelsdev", run_id, tuple(client.normalize(doc))))
    print(f"unchanged re-fetch of the last snapshot: {time.perf_counter() - t0:.3f}s "
          f"(normalize + diff + commit, {outcome.added + outcome.updated + outcome.removed} changes)")
    print(f"events in the outbox: {store.last_event_id()}")


if __name__ == "__main__":
    main()
