"""SIGKILL `discovery serve` at random moments during refresh cycles; nothing committed is lost."""
from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time

import requests

from tests.conftest import wait_for

MIN_CYCLES = 50


def serve(config, cwd):
    log = open(cwd / "serve.log", "a")
    proc = subprocess.Popen([sys.executable, "-m", "web.cli", "serve", "--config", str(config), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=log, text=True, cwd=cwd,
                            env={**os.environ, "DISCOVERY_LOG_LEVEL": "INFO"})
    log.close()
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True).start()
    url = wait_for(lambda: next((ln.split()[-1] for ln in lines if ln.startswith("serving on")), None),
                   timeout=20, what="serving line")
    return proc, url


MODEL_EVENTS = ("added", "updated", "removed")


def committed_state(db_path):
    """What the database holds, read directly (the test's own view, not the service's)."""
    con = sqlite3.connect(db_path)
    try:
        # A current row holds the record's list form and provenance; its raw answer is its source row's.
        models = {mid: (ver, json.loads(body), json.loads(provenance))
                  for mid, ver, body, provenance in con.execute("SELECT id, version, body, provenance FROM models")}
        versions: dict[str, list] = {}
        for mid, ver, change, data, run in con.execute(
                "SELECT model_id, version, change, data, run_id FROM model_versions ORDER BY model_id, version"):
            versions.setdefault(mid, []).append((ver, change, json.loads(data), run))
        events = [(i, kind, mid, run, json.loads(data)) for i, kind, mid, run, data in
                  con.execute("SELECT id, kind, model_id, run_id, data FROM events ORDER BY id")]
        runs = {i: (outcome, added, updated, removed) for i, outcome, added, updated, removed in
                con.execute("SELECT id, outcome, added, updated, removed FROM refresh_runs")}
    finally:
        con.close()
    return models, versions, events, runs


def _listed(record):
    """A stored version's record as the list form (what events and the list carry): no raw, no provenance."""
    return {k: v for k, v in record.items() if k not in ("raw", "provenance")}


def check_invariants(db_path):
    models, versions, events, runs = committed_state(db_path)
    # The current rows are exactly the models whose last version is not a removal, at that version,
    # with that version's full record.
    alive = {mid: vs[-1] for mid, vs in versions.items() if vs[-1][1] != "removed"}
    assert set(models) == set(alive)
    for mid, (ver, body, provenance) in models.items():
        last_ver, _, record, _ = alive[mid]
        assert last_ver == ver and _listed(record) == body and record["provenance"] == provenance
    for mid, vs in versions.items():
        assert [v[0] for v in vs] == list(range(1, len(vs) + 1)), f"gap in the versions of {mid}"
    ids = [e[0] for e in events]
    assert ids == list(range(1, len(ids) + 1)), "event ids have a gap"
    # Both directions: every version was announced by an event of its run carrying its record, and
    # every model event has its version.
    by_key = {(mid, run, kind): data for _, kind, mid, run, data in events if kind in MODEL_EVENTS}
    stored = {(mid, run, change): record for mid, vs in versions.items() for _, change, record, run in vs}
    assert set(by_key) == set(stored), (set(by_key) ^ set(stored))
    for key, record in stored.items():
        # (Provenance is compared on the current rows above: versions keep its detailed form.)
        assert _listed(by_key[key]["model"]) == _listed(record), f"{key}: the event's record is not the version's"
    # Exactly one models_refreshed per succeeded run, none for any other, with the run's counts.
    refreshed = [run for _, kind, _, run, _ in events if kind == "models_refreshed"]
    succeeded = {i for i, (outcome, *_) in runs.items() if outcome == "succeeded"}
    assert sorted(refreshed) == sorted(succeeded) and len(set(refreshed)) == len(refreshed)
    for _, kind, _, run, data in events:
        if kind == "models_refreshed":
            changes = [c for (_, r, c) in stored if r == run]
            assert (data["added"], data["updated"], data["removed"]) == runs[run][1:] == tuple(
                changes.count(c) for c in MODEL_EVENTS), f"run {run}: counts differ"
    changed_runs = sum(1 for i in succeeded if any(runs[i][1:]))
    outcomes: dict[str, int] = {}
    for outcome, *_ in runs.values():
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return models, versions, events, outcomes, changed_runs


def served_state(url):
    """What the restarted service serves: every record, every version of every model, the whole feed."""
    listed = requests.get(f"{url}/api/v1/models?limit=1000", timeout=5).json()
    records = {m["id"]: m for m in listed["data"]}
    feed, since = [], 0
    while True:
        page = requests.get(f"{url}/api/v1/events?since={since}&limit=1000", timeout=5).json()
        feed += page["data"]
        since = page["next"]
        if not page["has_more"]:
            return records, feed


def test_sigkill_during_refresh_cycles_loses_no_committed_change(tmp_path, simulator):
    db_path = tmp_path / "crash.db"
    config = tmp_path / "crash.toml"
    config.write_text(f"""
[service]
database_url = "sqlite:///{db_path}"
batch_max_delay = 0.0

[providers.openai]
format = "openai_compatible"
base_url = "{simulator.base_url('openai')}"
refresh_interval = 0.15
jitter = 0.0
retries = 0
health_check_interval = 0
max_removal_ratio = 0.9
manual_refresh_per_minute = 1000
""")
    state = simulator.state
    rng = random.Random(1234)
    base = state.models("openai")
    counter = [0]
    stop = threading.Event()

    def churn():
        # Change the model set continually so that most refresh cycles commit something.
        while not stop.is_set():
            counter[0] += 1
            n = counter[0]
            state.add_model("openai", {"id": f"churn-{n}", "object": "model", "created": 1700000000 + n,
                                       "owned_by": "test"})
            if n > 3:
                try:
                    state.remove_model("openai", f"churn-{n - 3}")
                except KeyError:
                    pass
            victim = rng.choice(base)["id"]
            state.update_model("openai", victim, {"created": 1600000000 + n * 86400})
            stop.wait(0.05)

    churner = threading.Thread(target=churn, daemon=True)
    churner.start()
    kills = 0
    cycles = 0
    try:
        while cycles < MIN_CYCLES or kills < 5:
            proc, url = serve(config, tmp_path)
            time.sleep(rng.uniform(0.2, 1.5))  # a random moment, usually mid-cycle
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
            kills += 1
            models, versions, events, runs, cycles = check_invariants(db_path)
            last_run = sqlite3.connect(db_path).execute("SELECT MAX(id) FROM refresh_runs").fetchone()[0]

            # Restarted with the provider failing: it must serve exactly the committed catalog,
            # record for record, version for version, event for event.
            state.set_fault("openai", "status", status=500)
            proc, url = serve(config, tmp_path)
            try:
                records, feed = served_state(url)
                # (`performance` is joined in as the list is served, from the benchmark board.)
                served = {mid: {k: v for k, v in record.items() if k != "performance"} for mid, record in records.items()}
                assert served == {mid: body for mid, (_, body, _) in models.items()}
                for mid in sorted(versions)[:: max(1, len(versions) // 5)]:
                    history = requests.get(f"{url}/api/v1/models/{mid}/history", timeout=5).json()["versions"]
                    assert [(v["version"], v["change"], v["run_id"], v["model"]) for v in history] == \
                        [(ver, change, run, record) for ver, change, record, run in versions[mid]]
                # The restart's own failed refresh adds only its status change, after what was stored.
                assert [(e["id"], e["kind"], e["model_id"], e["run_id"], e["data"]) for e in feed][:len(events)] \
                    == events
                assert all(e["kind"] == "status_changed" for e in feed[len(events):])
                # Runs the killed process left running are marked interrupted at start-up.
                before_restart = [r for r in requests.get(f"{url}/api/v1/refresh/runs?limit=1000",
                                                          timeout=5).json()["data"] if r["id"] <= last_run]
                assert before_restart and all(r["outcome"] != "running" for r in before_restart)
            finally:
                proc.send_signal(signal.SIGTERM)
                try:
                    code = proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.send_signal(signal.SIGUSR1)  # log every thread's stack before failing
                    time.sleep(1)
                    proc.kill()
                    tail = (tmp_path / "serve.log").read_text()[-6000:]
                    raise AssertionError(f"discovery serve did not stop on SIGTERM:\n{tail}") from None
                assert code == 0
                state.clear_faults("openai")
    finally:
        stop.set()
        churner.join(timeout=5)
    models, versions, events, runs, cycles = check_invariants(db_path)
    # Every run the kills cut short is accounted for: none is left running after the last restart.
    assert runs.get("running", 0) == 0
    print(f"{kills} SIGKILLs over {cycles} committed refresh cycles; runs by outcome: {runs}")


def test_sigterm_during_a_refresh_exits_cleanly_and_writes_no_partial_refresh(tmp_path, simulator):
    db_path = tmp_path / "stop.db"
    config = tmp_path / "stop.toml"
    config.write_text(f"""
[service]
database_url = "sqlite:///{db_path}"

[providers.openai]
format = "openai_compatible"
base_url = "{simulator.base_url('openai')}"
retries = 0
timeout = 30
health_check_interval = 0
""")
    proc, url = serve(config, tmp_path)
    wait_for(lambda: requests.get(f"{url}/api/v1/providers/openai", timeout=5).json().get("last_success_at"),
             what="first refresh")
    simulator.state.set_latency("openai", 20)
    simulator.state.add_model("openai", {"id": "late-model", "object": "model", "created": 1, "owned_by": "x"})
    run = requests.post(f"{url}/api/v1/providers/openai/refresh", timeout=5).json()["runs"][0]
    wait_for(lambda: simulator.state.request_count("openai") >= 2, what="the slow request to start")
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0
    assert time.monotonic() - started < 5
    simulator.state.set_latency("openai", 0)
    models, _, _, _, _ = check_invariants(db_path)
    assert "openai/late-model" not in models
    con = sqlite3.connect(db_path)
    outcome, error = con.execute("SELECT outcome, error FROM refresh_runs WHERE id=?", (run["run_id"],)).fetchone()
    assert outcome == "interrupted" and "stopped" in error
