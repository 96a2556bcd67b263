"""Runs begun together are written in one transaction, and a commit of many sources writes their
run outcomes and provider rows with one statement each: the same rows as one at a time."""
from __future__ import annotations

import time

import pytest

from discovery import refresh_commit, refresh_runs, store


@pytest.fixture
def db(db_url):
    store.open_database(db_url)
    for name in ("alpha", "beta", "gamma"):
        store.ensure_provider(name, "openai", False)
    yield
    store.close_database()


def test_runs_begun_together_are_running_with_the_columns_defaults(db):
    now = time.time()
    refresh_runs.begin_runs([{"id": 10 + i, "provider": name, "trigger": "manual", "started_at": now + i, "epoch": None}
                             for i, name in enumerate(("alpha", "beta", "gamma"))])
    one_by_one = refresh_runs.get_run(refresh_runs.begin_run("alpha", "timer"))
    for i, name in enumerate(("alpha", "beta", "gamma")):
        run = refresh_runs.get_run(10 + i)
        assert (run["provider"], run["trigger"], run["outcome"], run["started_at"]) == (name, "manual", "running", now + i)
        assert {k: run[k] for k in ("added", "updated", "removed", "total", "finished_at", "error")} == \
            {k: one_by_one[k] for k in ("added", "updated", "removed", "total", "finished_at", "error")}


def test_a_commit_of_several_sources_writes_each_run_and_provider_row(db):
    runs = {name: refresh_runs.begin_run(name, "manual") for name in ("alpha", "beta", "gamma")}
    received = time.time()
    write = refresh_commit.RefreshWrite(
        sources=tuple(refresh_commit.SourceWrite(runs[name], name, (), (), total=n, counts={"added": n}, fetch_ms=5.0 * n,
                                        received_at=received, body_hash=None if name == "gamma" else f"hash-{name}",
                                        rejected=n - 1, rejections=tuple(f"bad {k}" for k in range(n - 1)))
                      for n, name in enumerate(("alpha", "beta", "gamma"), start=1)),
        model_upserts=(), model_deletes=(), events=())
    result = refresh_commit.commit_refresh(write)
    rows = {r["name"]: r for r in store.provider_rows().values()}
    for n, name in enumerate(("alpha", "beta", "gamma"), start=1):
        run = refresh_runs.get_run(runs[name])
        assert run["outcome"] == "succeeded" and run["finished_at"] == result.finished_at
        assert (run["total"], run["added"], run["fetch_ms"], run["rejected"]) == (n, n, 5.0 * n, n - 1)
        assert run["duration_ms"] > 0 and run["work_ms"] >= 0
        assert rows[name]["model_count"] == n and rows[name]["last_success_at"] == result.finished_at
    assert run["rejections"] == ["bad 0", "bad 1"]
    assert rows["alpha"]["body_hash"] == "hash-alpha" and rows["gamma"]["body_hash"] is None


def test_providers_are_ensured_in_one_write_keeping_the_history_of_those_that_exist(db):
    store.set_provider_status("alpha", "failed", "timeout")
    store.ensure_providers([("alpha", "anthropic", False), ("delta", "modelsdev", True)]
                           + [(f"p{i}", "openai", False) for i in range(400)])  # more rows than one statement takes
    rows = store.provider_rows()
    assert len(rows) == 3 + 1 + 400
    assert (rows["alpha"]["format"], rows["alpha"]["status"], rows["alpha"]["status_reason"]) == \
        ("anthropic", "failed", "timeout")
    assert (rows["delta"]["format"], rows["delta"]["is_catalog"]) == ("modelsdev", True)
    assert rows["p399"]["format"] == "openai" and rows["beta"]["format"] == "openai"
