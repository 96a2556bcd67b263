"""The writer's write-ahead log is checkpointed by a thread of its own, not by its commits."""
import sqlite3
import time

import pytest

from discovery import refresh_runs, store
from discovery.catalog import CatalogState
from discovery.messages import ProviderSnapshot
from discovery.model import Model
from tests.conftest import wait_for


def _models(n: int, tag: str) -> tuple[Model, ...]:
    return tuple(Model("openai", f"m{i}", source="openai", live=True, name=f"{tag} {i} " + "x" * 200)
                 for i in range(n))


@pytest.fixture
def writer(tmp_path):
    url = f"sqlite:///{tmp_path}/cat.db"
    store.open_database(url)
    store.ensure_provider("openai", "openai", False)
    checkpointer = store.checkpoint_in_background()
    yield checkpointer, str(tmp_path / "cat.db")
    store.stop_background_checkpoints()
    store.close_database()


def test_the_writers_commits_leave_the_checkpoint_to_the_thread(writer):
    checkpointer, path = writer
    assert checkpointer is not None and checkpointer.alive
    # The writer's own connection never checkpoints as part of a commit.
    assert store.db.execute_sql("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
    # Hold the thread's pass back (its gap after a write) to see what the commits alone do.
    checkpointer.min_gap = checkpointer.interval = 3600
    state = CatalogState({"openai": False}, missing_grace_refreshes=0)
    # Each answer is well over SQLite's default 1,000-page threshold.
    for tag in ("first", "second"):
        run_id = refresh_runs.begin_run("openai", "test")
        outcome, _, _ = state.apply(ProviderSnapshot("openai", run_id, _models(3000, tag)))
        assert outcome.outcome == "succeeded"
    # A reader of the main file alone (immutable=1 ignores the log) sees none of it: no commit copied it.
    assert "second" not in " ".join(_main_file_bodies(path))
    assert checkpointer.passes == 0
    # The thread's pass (here its last one, at stop) moves everything there.
    store.stop_background_checkpoints()
    bodies = _main_file_bodies(path)
    assert len(bodies) == 3000 and all('"second ' in body for body in bodies)
    frames, done = checkpointer.last
    assert checkpointer.passes == 1 and frames > 1000 and done == frames, checkpointer.last


def test_a_write_wakes_the_thread_for_a_pass(writer):
    checkpointer, path = writer
    checkpointer.min_gap = 0.05
    with store.write_transaction():
        store.set_meta("k", "v" * 100)
    wait_for(lambda: checkpointer.passes >= 1, what="a checkpoint pass after the write")
    frames, done = checkpointer.last
    assert frames > 0 and done == frames


def _main_file_bodies(path: str) -> list[str]:
    main = sqlite3.connect(f"file:{path}?immutable=1", uri=True)
    try:
        return [row[0] for row in main.execute("SELECT body FROM models")]
    except sqlite3.OperationalError:  # no tables in the main file yet
        return []
    finally:
        main.close()


def test_other_connections_keep_sqlites_own_checkpoints(writer, tmp_path):
    import threading

    seen = []

    def other() -> None:
        store.open_database(f"sqlite:///{tmp_path}/cat.db")
        seen.append(store.db.execute_sql("PRAGMA wal_autocheckpoint").fetchone()[0])
        with store.write_transaction():
            store.set_meta("from_another_thread", "yes")
        store.close_database()

    thread = threading.Thread(target=other)
    thread.start()
    thread.join(10)
    assert seen == [1000]
    assert store.get_meta("from_another_thread") == "yes"


def test_stopping_takes_a_last_pass_and_ends_the_thread(writer):
    checkpointer, path = writer
    with store.write_transaction():
        store.set_meta("k", "v")
    started = time.monotonic()
    store.stop_background_checkpoints()
    # A stop does not wait out the gap that lets a burst of commits share one pass.
    assert time.monotonic() - started < checkpointer.min_gap
    assert not checkpointer.alive
    assert checkpointer.last is not None and checkpointer.last[0] == checkpointer.last[1]
    # Stopped twice (the fixture's teardown): nothing left to stop.
    store.stop_background_checkpoints()


def test_no_thread_for_an_in_memory_database():
    store.open_database("sqlite:///:memory:")
    try:
        assert store.checkpoint_in_background() is None
    finally:
        store.close_database()
