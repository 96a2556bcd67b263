"""The catalog as it was: building a past catalog from model_versions, and an as_of query once built.

Writes a history through the service's own write path (CatalogState, SQLite file): the real
models.dev catalog of the newest snapshot, with seeded variants up to ``--models`` models, then
``--commits`` more commits each changing ``--changed`` of them (prices). Then prints the time to
resolve a time to its point in history, to build the past catalog at the first and the last
commit (a cache miss: one query and an index), an as_of page once built (a cache hit and the
query: capability filter, sorted by price, 100 models, the page's bytes joined), one model's past
record, and the changes between the first and last commit.

``--run-rows`` refresh runs are written first, spread over 80 sources and the 30 days before the
commits (a refresh every 15 minutes per source, kept for the 30 days of the default retention):
a past record's ``verified_at`` times are looked up among them.
Run: python bench/bench_as_of.py [--models 10000] [--commits 3] [--changed 0.05] [--runs 5] [--run-rows 230400]
"""
from __future__ import annotations

import argparse
import gzip
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from actors.history import HistoryActor  # noqa: E402
from discovery import refresh_runs, store  # noqa: E402
from discovery.catalog import CatalogState  # noqa: E402
from discovery.history import CatalogHistory, history_point, last_answers  # noqa: E402
from discovery.messages import ProviderSnapshot  # noqa: E402
from discovery.providers import ModelsDevClient  # noqa: E402
from discovery.query import ModelQuery, run_query  # noqa: E402
from discovery.settings import ProviderConfig, Settings  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "modelsdev"


def seeded_catalog(size: int, seed: int) -> dict[str, Any]:
    """The newest models.dev snapshot, with variants of its records (``-ft-NNNN``) up to ``size`` models."""
    doc = json.load(gzip.open(sorted(DATA.glob("api-*.json.gz"))[-1]))
    records = [(p, key, rec) for p, provider in doc.items() for key, rec in provider["models"].items()]
    rng = random.Random(seed)
    n = len(records)
    while n < size:
        provider_id, key, record = rng.choice(records)
        variant = dict(record, id=f"{record.get('id', key)}-ft-{n:05d}")
        if isinstance(record.get("cost"), dict):
            variant["cost"] = {k: (v * rng.choice((0.5, 0.8, 1.25, 2.0)) if isinstance(v, (int, float)) else v)
                               for k, v in record["cost"].items()}
        doc[provider_id]["models"][variant["id"]] = variant
        n += 1
    return doc


def change_prices(doc: dict[str, Any], share: float, rng: random.Random) -> None:
    """Change the input price of a share of the models, in place."""
    for provider in doc.values():
        for record in provider["models"].values():
            if rng.random() < share:
                cost = dict(record.get("cost") or {})
                cost["input"] = round(float(cost.get("input") or 1.0) * rng.choice((0.5, 0.9, 1.1, 2.0)), 6)
                record["cost"] = cost


def timed(fn: Callable[[], Any], runs: int) -> tuple[float, Any]:
    """The median wall time of ``runs`` calls (seconds) and the last result."""
    times, result = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def write_runs(count: int, rng: random.Random, sources: int = 80, days: float = 30.0) -> None:
    """``count`` finished refresh runs of ``sources`` sources over the ``days`` before now."""
    now = time.time()
    rows = []
    for i in range(count):
        started = now - days * 86400 * (1 - i / max(1, count)) - 60
        outcome = store.SUCCEEDED if rng.random() < 0.95 else store.FAILED
        rows.append((f"source-{i % sources:02d}", "timer", started, started + 0.5, outcome))
    with store.write_transaction():
        store.db.cursor().executemany(
            "INSERT INTO refresh_runs (provider, trigger, started_at, finished_at, outcome, added, updated, removed,"
            " rejected) VALUES (?, ?, ?, ?, ?, 0, 0, 0, 0)", rows)
    print(f"refresh_runs rows: {count} over {sources} sources and {days:.0f} days")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", type=int, default=10_000)
    parser.add_argument("--commits", type=int, default=3)
    parser.add_argument("--changed", type=float, default=0.05)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--database", default=None)
    parser.add_argument("--run-rows", type=int, default=80 * 96 * 30)
    args = parser.parse_args()
    if not list(DATA.glob("api-*.json.gz")):
        sys.exit(f"no snapshots under {DATA}")
    url = args.database or f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    store.open_database(url)
    store.ensure_provider("modelsdev", "modelsdev", True)
    state = CatalogState({"modelsdev": True})
    client = ModelsDevClient(ProviderConfig(name="modelsdev", format="modelsdev", base_url="http://unused"))
    rng = random.Random(args.seed)
    doc = seeded_catalog(args.models, args.seed)
    write_runs(args.run_rows, rng)

    commit_times = []
    for i in range(1 + args.commits):
        if i:
            change_prices(doc, args.changed, rng)
        run_id = refresh_runs.begin_run("modelsdev", "bench")
        outcome, _, _ = state.apply(ProviderSnapshot("modelsdev", run_id, tuple(client.normalize(doc)),
                                                     is_catalog=True, max_removal_ratio=1.0))
        commit_times.append(store.ModelVersionRow.select(store.ModelVersionRow.created_at)
                            .order_by(store.ModelVersionRow.id.desc()).limit(1).scalar())
        print(f"commit {i}: {outcome.total} models, +{outcome.added} ~{outcome.updated} -{outcome.removed}")
    versions = store.ModelVersionRow.select().count()
    first, last = commit_times[0], commit_times[-1]
    print(f"model_versions rows: {versions}\n")

    point_s, _ = timed(lambda: history_point(last), args.runs * 20)
    build_first_s, past_first = timed(lambda: CatalogHistory().catalog_at(first), args.runs)
    build_last_s, past_last = timed(lambda: CatalogHistory().catalog_at(last), args.runs)

    def neighbour() -> Any:
        warm = CatalogHistory()
        warm.catalog_at(commit_times[-2])
        t0 = time.perf_counter()
        warm.catalog_at(last)
        return time.perf_counter() - t0

    build_near_s = statistics.median(neighbour() for _ in range(args.runs))
    history = CatalogHistory()
    history.catalog_at(last)
    query = ModelQuery.from_args({"capability": "tool_calling", "sort": "input_price", "limit": "100"})

    def cached_page() -> bytes:
        past = history.catalog_at(last)
        page = run_query(past.index, query)
        return b",".join([e.body for e in page.items])

    page_s, body = timed(cached_page, args.runs * 200)
    # The same through the history actor, as a view asks it (its own connection and cache).
    actor = HistoryActor.start(Settings(database_url=url))
    try:
        proxy = actor.proxy()
        proxy.catalog_at(last).get(timeout=120)
        actor_page_s, _ = timed(lambda: b",".join([e.body for e in run_query(
            proxy.catalog_at(last).get(timeout=10).index, query).items]), args.runs * 200)
    finally:
        actor.stop()
    model_id = past_last.index.ids()[len(past_last.index) // 2]
    record_s, _ = timed(lambda: history.record_at(model_id, last), args.runs * 20)
    answers_s, _ = timed(lambda: last_answers(last), args.runs * 20)
    changes_s, changes = timed(lambda: CatalogHistory().changes(first, last), args.runs)

    print(f"{'what':<58}{'median':>12}")
    print(f"{'time → point in history (one index seek)':<58}{point_s * 1e6:>9.0f} µs")
    print(f"{f'build the past catalog at the first commit ({len(past_first)} models)':<58}{build_first_s:>10.3f} s")
    print(f"{f'build the past catalog at the last commit ({len(past_last)} models)':<58}{build_last_s:>10.3f} s")
    print(f"{'build it with the commit before it cached (entries reused)':<58}{build_near_s:>10.3f} s")
    print(f"{'as_of page once built (cache hit + filter, sort, 100)':<58}{page_s * 1e6:>9.0f} µs")
    print(f"{'the same through the history actor (an ask per page)':<58}{actor_page_s * 1e6:>9.0f} µs")
    print(f"{'one model as it was (cache hit + version row + runs)':<58}{record_s * 1e6:>9.0f} µs")
    print(f"{'  of which each source last answer (last_answers)':<58}{answers_s * 1e6:>9.0f} µs")
    print(f"{f'changes first → last commit ({len(changes)} models; builds both)':<58}{changes_s:>10.3f} s")
    print(f"\npage: {len(body)} bytes; cache: {history.stats()}")


if __name__ == "__main__":
    main()
