"""Past catalogs from model_versions with no threads: the write path at set times, then history reads.

Runs on a real SQLite file, and on PostgreSQL too when a server answers on loopback.
"""
from __future__ import annotations

import random
import uuid

import pytest

from discovery import refresh_runs, store
from discovery.catalog import CatalogState
from discovery.history import CatalogHistory, list_form, parse_time, printed_through
from discovery.messages import ProviderSnapshot
from discovery.model import Limits, Model, Pricing, loads
from discovery.query import ModelQuery, run_query
from discovery.timestamps import iso
from tests.conftest import PG_URL, pg_answers

T0 = 1_780_000_000.0  # the first commit; each next one a day later


def m(mid, **kw):
    return Model("openai", mid, source="openai", **kw)


@pytest.fixture(params=["sqlite", "postgresql"])
def state(request, db_url):
    if request.param == "sqlite":
        store.open_database(db_url)
        yield CatalogState({"openai": False}, missing_grace_refreshes=0)
        store.close_database()
        return
    if not pg_answers():
        pytest.skip("no PostgreSQL on 127.0.0.1:5432 (or psycopg2 missing)")
    import psycopg2

    schema = f"t_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(PG_URL.replace("postgresql://", "postgres://"))
    admin.autocommit = True
    admin.cursor().execute(f"CREATE SCHEMA {schema}")
    try:
        store.open_database(f"{PG_URL}?options=-csearch_path%3D{schema}")
        yield CatalogState({"openai": False}, missing_grace_refreshes=0)
        store.close_database()
    finally:
        admin.cursor().execute(f"DROP SCHEMA {schema} CASCADE")
        admin.close()


def commit(state, day: int, models) -> None:
    store.ensure_provider("openai", "openai", False)
    run_id = refresh_runs.begin_run("openai", "test", now=T0 + day * 86400 - 1)
    state.apply(ProviderSnapshot("openai", run_id, tuple(models), max_removal_ratio=1.0), now=T0 + day * 86400)


@pytest.fixture
def history(state):
    """Four commits a day apart: a, b, c; a changes and b goes; d comes; b comes back as it was."""
    commit(state, 0, [m("a", limits=Limits(context_window=1000)), m("b"), m("c")])
    commit(state, 1, [m("a", limits=Limits(context_window=2000)), m("c")])
    commit(state, 2, [m("a", limits=Limits(context_window=2000)), m("c"), m("d", pricing=Pricing(input=1.0))])
    commit(state, 3, [m("a", limits=Limits(context_window=2000)), m("b"), m("c"), m("d", pricing=Pricing(input=1.0))])
    return CatalogHistory()


def ids_at(history: CatalogHistory, when: float) -> list[str]:
    return history.catalog_at(when).index.ids()


def test_the_catalog_at_a_time_is_each_models_last_version_by_then_without_removals(history):
    assert ids_at(history, T0 - 1) == []
    assert ids_at(history, T0) == ["openai/a", "openai/b", "openai/c"]
    assert ids_at(history, T0 + 86400 - 1) == ["openai/a", "openai/b", "openai/c"]
    assert ids_at(history, T0 + 86400) == ["openai/a", "openai/c"]
    assert ids_at(history, T0 + 2 * 86400) == ["openai/a", "openai/c", "openai/d"]
    assert ids_at(history, T0 + 9e9) == ["openai/a", "openai/b", "openai/c", "openai/d"]
    first = history.catalog_at(T0)
    assert first.index.get("openai/a").limits.context_window == 1000
    assert history.catalog_at(T0 + 86400).index.get("openai/a").limits.context_window == 2000
    assert first.point and first.committed_at == T0
    # The live query machinery answers over a past catalog.
    page = run_query(history.catalog_at(T0 + 3 * 86400).index, ModelQuery.from_args({"max_input_price": "2"}))
    assert [e.id for e in page.items] == ["openai/d"]


def test_a_version_is_in_the_catalog_from_the_time_its_event_prints_not_a_microsecond_before(state):
    """A version made at ...41.2856188 prints (its event, its history) as ...41.285619, rounded;
    ``as_of=...41.285618`` served it already: the bound was ``when + 1e-6``, which assumed the time
    printed was cut, not rounded."""
    when = 1_796_340_521.2856188
    store.ensure_provider("openai", "openai", False)
    run_id = refresh_runs.begin_run("openai", "test", now=when - 1)
    state.apply(ProviderSnapshot("openai", run_id, (m("a"),), max_removal_ratio=1.0), now=when)
    printed = iso(when)
    assert printed.endswith("41.285619Z")
    history = CatalogHistory()
    assert history.catalog_at(parse_time(printed)).index.ids() == ["openai/a"]
    assert history.catalog_at(parse_time(printed.replace("285619", "285618"))).index.ids() == []


def test_a_printed_time_and_the_as_of_bound_agree_for_any_time():
    """Every time is in the catalog as of the time it prints as, and not as of a microsecond before."""
    rng = random.Random(7)
    for _ in range(20_000):
        t = rng.uniform(1.7e9, 1.9e9)
        printed = parse_time(iso(t))
        assert t < printed_through(printed), (t, iso(t))
        assert not t < printed_through(printed - 1e-6), (t, iso(t))


def test_times_between_two_commits_share_one_built_catalog(history):
    one = history.catalog_at(T0 + 100)
    assert history.catalog_at(T0 + 86399).index is one.index
    assert history.stats()["misses"] == 1 and history.stats()["hits"] == 1
    # A nearby catalog takes the versions it shares from the one already built.
    two = history.catalog_at(T0 + 86400)
    assert two.index.entry("openai/c") is one.index.entry("openai/c")
    assert two.index.entry("openai/a") is not one.index.entry("openai/a")


def test_changes_compare_the_two_catalogs_not_the_events_in_between(history):
    by_id = {c.model_id: c for c in history.changes(T0, T0 + 3 * 86400)}
    # b left and came back unchanged; d is new; a changed its context window.
    assert set(by_id) == {"openai/a", "openai/d"}
    assert by_id["openai/d"].change == "added"
    assert by_id["openai/a"].change == "updated"
    assert by_id["openai/a"].diff == {"limits.context_window": [1000, 2000]}
    assert [c.change for c in history.changes(T0, T0 + 86400)] == ["updated", "removed"]
    assert history.changes(T0, T0 + 3 * 86400, providers=["anthropic"]) == []


def test_a_record_as_it_was_has_its_provenance_and_raw_answer(history):
    record = history.record_at("openai/a", T0 + 10)
    assert loads(record.body)["limits"]["context_window"] == 1000
    assert "limits.context_window" in record.provenance and record.raw == {}
    # Runs finish on the real clock, after these set commit times: none had finished by then, but
    # the run that wrote this version had answered (its versions are stamped with its commit).
    assert record.answered == {"openai": T0} and len(record.performance) == 0
    assert set(history.record_at("openai/a", T0 + 9e9).answered) == {"openai"}
    assert history.record_at("openai/b", T0 + 86400) is None
    assert history.record_at("openai/d", T0) is None


def test_an_older_versions_record_is_served_in_todays_shape():
    today = loads(m("x").body())
    older = {k: v for k, v in today.items() if k != "open_weights"}
    older["lifecycle"] = {"status": "active", "release_date": "2024-01-01"}
    older["retired_field"] = 1
    shaped = loads(list_form(older))
    assert list(shaped) == list(today) and list(shaped["lifecycle"]) == list(today["lifecycle"])
    assert shaped["lifecycle"]["release_date"] == "2024-01-01" and shaped["lifecycle"]["successor"] is None
    assert shaped["open_weights"] is None
    assert list_form(today) == m("x").body()


@pytest.mark.parametrize("text,expected", [
    ("2026-04-01T12:00:00Z", "2026-04-01T12:00:00.000000Z"),
    ("2026-04-01T14:00:00+02:00", "2026-04-01T12:00:00.000000Z"),
    ("2026-04-01T14:00:00 02:00", "2026-04-01T12:00:00.000000Z"),
    ("2026-04-01T12:00:00", "2026-04-01T12:00:00.000000Z"),
    ("2026-04-01", "2026-04-01T00:00:00.000000Z"),
    ("2026-04-01T12:00:00.1234567Z", "2026-04-01T12:00:00.123456Z"),
])
def test_iso_times_are_read_with_their_offset_and_utc_without(text, expected):
    from discovery.timestamps import iso

    assert iso(parse_time(text)) == expected


@pytest.mark.parametrize("text", ["", "yesterday", "2026-13-01", "1712345678", "2026-04-01T25:00"])
def test_what_is_not_an_iso_time_is_refused(text):
    with pytest.raises(ValueError, match="ISO 8601"):
        parse_time(text)


def test_measured_performance_is_as_of_the_time_too(history):
    store.BenchmarkResultRow.insert(run_id=1, model_id="openai/a", provider="openai", region=None, kind="chat",
                                    measured_at=T0 + 1000, samples=3, failures=0, ttft_ms=250.0,
                                    output_tokens_per_s=40.0, latency_ms=900.0, data={}).execute()
    assert len(history.catalog_at(T0 + 999).performance) == 0
    later = history.catalog_at(T0 + 1001)
    assert later.performance.value("openai/a", "ttft") == 250.0
    assert loads(later.performance.splice("openai/a", later.index.entry("openai/a").body))["performance"]
    assert history.record_at("openai/a", T0 + 999).performance.get("openai/a") is None


def test_each_sources_last_answer_is_found_by_a_seek_per_source_not_a_pass_over_every_run(state):
    """A past record's ``verified_at`` times: each source's newest success before the time. Runs
    are kept for the retention age (a quarter of a million at 80 sources and 30 days), so the
    lookup must not read them all; its answers are checked against a plain computation."""
    import random

    from discovery.history import last_answers

    rng = random.Random(5)
    rows = []
    for i in range(12_000):
        finished = T0 + i * 10.0
        outcome = store.SUCCEEDED if rng.random() < 0.7 else rng.choice([store.FAILED, "interrupted"])
        rows.append({"provider": f"src-{i % 6}", "trigger": "timer", "started_at": finished - 1,
                     "finished_at": finished, "outcome": outcome, "added": 0, "updated": 0, "removed": 0, "rejected": 0})
    rows.append({"provider": "never-answered", "trigger": "timer", "started_at": T0, "finished_at": T0 + 5,
                 "outcome": store.FAILED, "added": 0, "updated": 0, "removed": 0, "rejected": 0})
    with store.write_transaction():
        store.bulk_write(store.RefreshRunRow, rows)
    for when in (T0 - 1, T0 + 3.0, T0 + 55_555.5, T0 + 200_000.0):
        expected: dict[str, float] = {}
        for r in rows:
            if r["outcome"] == store.SUCCEEDED and r["finished_at"] < when + 1e-6:
                expected[r["provider"]] = max(expected.get(r["provider"], 0.0), r["finished_at"])
        assert last_answers(when) == expected
    if isinstance(store.db.obj, store.peewee.SqliteDatabase):
        # The SQLite engine's steps: a seek per source is a few hundred; reading 12,000 runs, a
        # grouping of them, hundreds of thousands.
        steps = [0]

        def count() -> int:
            steps[0] += 1
            return 0

        connection = store.db.connection()
        connection.set_progress_handler(count, 100)
        try:
            last_answers(T0 + 100_000.0)
        finally:
            connection.set_progress_handler(None, 100)
        assert steps[0] * 100 < 20_000, f"{steps[0] * 100} steps"


def test_pruning_runs_probes_the_versions_of_each_run_instead_of_scanning_them_per_run(state, monkeypatch):
    """Retention keeps the runs model versions name. On PostgreSQL, ``id NOT IN (SELECT run FROM
    model_versions)`` is hashed only while every version fits in work_mem; past that each run is
    checked against a scan of every version (hours at a quarter of a million runs and a few hundred
    thousand versions). A small work_mem stands in for a large table here."""
    import random

    rng = random.Random(3)
    runs = [{"id": i, "provider": f"src-{i % 5}", "trigger": "timer", "started_at": T0 + i, "finished_at": T0 + i + 0.5,
             "outcome": store.SUCCEEDED if rng.random() < 0.9 else store.FAILED,
             "added": 0, "updated": 0, "removed": 0, "rejected": 0} for i in range(1, 2001)]
    writers = sorted(rng.sample(range(1, 2001), 300))
    versions = [{"model_id": f"m{j % 1000}", "version": j // 1000 + 1, "change": "updated", "content_hash": "x",
                 "data": {}, "diff": None, "run": writers[j % 300], "created_at": T0} for j in range(12_000)]
    with store.write_transaction():
        store.bulk_write(store.RefreshRunRow, runs)
        store.bulk_write(store.ModelVersionRow, versions)
    newest_good = {}
    for r in runs:
        if r["outcome"] == store.SUCCEEDED:
            newest_good[r["provider"]] = r["id"]
    expected = {r["id"] for r in runs} - set(writers) - set(newest_good.values()) - {2000}

    database = store.db.obj
    postgres = isinstance(database, store.peewee.PostgresqlDatabase)
    plans: list[str] = []
    execute_sql = database.execute_sql

    def explained(sql, params=None, *args, **kwargs):
        if postgres and sql.lstrip().upper().startswith("SELECT"):
            plans.append("\n".join(r[0] for r in execute_sql("EXPLAIN " + sql, params).fetchall()))
        return execute_sql(sql, params, *args, **kwargs)

    if postgres:
        database.execute_sql("ANALYZE")
        database.execute_sql("SET work_mem = '64kB'")
    monkeypatch.setattr(database, "execute_sql", explained)
    try:
        deleted = refresh_runs.prune_runs(3600.0, now=T0 + 10_000.0, chunk=500)
    finally:
        monkeypatch.undo()
        if postgres:
            database.execute_sql("RESET work_mem")
    assert deleted == len(expected)
    left = {run_id for (run_id,) in store.RefreshRunRow.select(store.RefreshRunRow.id).tuples()}
    assert left == {r["id"] for r in runs} - expected
    assert store.ModelVersionRow.select().where(store.ModelVersionRow.run.is_null()).count() == 0
    for plan in plans:
        assert "NOT (SubPlan" not in plan, plan


def test_a_source_answer_older_than_the_pruned_runs_is_not_claimed(state):
    """Retention prunes the runs that changed nothing; before the time it pruned up to, the newest
    success left would be an older one (a wrong verified_at), so none is given."""
    from discovery.history import last_answers

    day = 86400.0
    commit(state, 0, [m("a")])  # a run that wrote a version: kept
    rows = [{"provider": "openai", "trigger": "timer", "started_at": T0 + k * day - 1, "finished_at": T0 + k * day,
             "outcome": store.SUCCEEDED, "added": 0, "updated": 0, "removed": 0, "rejected": 0} for k in range(1, 6)]
    with store.write_transaction():
        store.bulk_write(store.RefreshRunRow, rows)
    assert last_answers(T0 + 3.5 * day) == {"openai": T0 + 3 * day}
    assert refresh_runs.runs_pruned_before() == 0.0
    assert refresh_runs.prune_runs(2 * day, now=T0 + 7 * day) == 4  # days 1-4; day 5 is the newest success
    assert refresh_runs.runs_pruned_before() == T0 + 5 * day
    assert last_answers(T0 + 3.5 * day) == {}, "day 3's answer is gone; day 0's would be wrong"
    assert last_answers(T0 + 6 * day) == {"openai": T0 + 5 * day}
    # Another source, written after that pruning: successes at days 2 and 9. At day 6 its day 2 is
    # before the pruned time and not its newest success, so a pruned one may have come after it:
    # unknown, not given. At day 10 its day 9 is.
    with store.write_transaction():
        store.bulk_write(store.RefreshRunRow, [
            {**rows[0], "provider": "groq", "started_at": T0 + 1.9 * day, "finished_at": T0 + 2 * day},
            {**rows[0], "provider": "groq", "started_at": T0 + 8.9 * day, "finished_at": T0 + 9 * day}])
    assert last_answers(T0 + 6 * day) == {"openai": T0 + 5 * day}, "groq's day 2 may not be its last by day 6"
    assert last_answers(T0 + 10 * day) == {"openai": T0 + 5 * day, "groq": T0 + 9 * day}
    assert refresh_runs.prune_runs(3 * day, now=T0 + 7 * day) == 1
    assert refresh_runs.runs_pruned_before() == T0 + 5 * day  # groq's day 2


def test_runs_of_events_a_webhook_still_holds_are_kept(state):
    """Events after the retention floor stay whatever their age (a paused webhook has yet to
    receive them); the runs they name stay too, so their links still answer."""
    day = 86400.0
    commit(state, 0, [m("a")])
    rows = [{"provider": "openai", "trigger": "timer", "started_at": T0 + k * day - 1, "finished_at": T0 + k * day,
             "outcome": store.SUCCEEDED, "added": 0, "updated": 0, "removed": 0, "rejected": 0} for k in range(1, 6)]
    with store.write_transaction():
        store.bulk_write(store.RefreshRunRow, rows)
        floor = store.last_event_id()
        day_two = store.RefreshRunRow.get(store.RefreshRunRow.finished_at == T0 + 2 * day).id
        store.EventRow.create(id=floor + 1, kind="models_refreshed", provider="openai", run_id=day_two,
                              created_at=T0 + 2 * day - 0.5, data={})
    assert refresh_runs.prune_runs(2 * day, now=T0 + 7 * day, keep_after=floor) == 1  # day 1 only
    assert refresh_runs.get_run(day_two) is not None
    assert refresh_runs.runs_pruned_before() == T0 + 2 * day - 0.5
    assert refresh_runs.prune_runs(2 * day, now=T0 + 7 * day) == 3  # nothing held any more: days 2-4


def test_a_read_of_the_past_waits_only_for_commits_begun_by_its_time():
    from discovery.history import CommitsUnderWay

    commits = CommitsUnderWay()
    with commits.begin(100.0) as stamp:
        assert stamp == 100.0 and commits.under_way() == 1
        assert commits.wait_until_committed(99.9, timeout=0)  # before it began: nothing to wait for
        assert not commits.wait_until_committed(100.0, timeout=0)
        assert not commits.wait_until_committed(150.0, timeout=0)
    assert commits.under_way() == 0 and commits.wait_until_committed(150.0, timeout=0)
