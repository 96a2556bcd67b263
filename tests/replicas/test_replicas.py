"""Three ``discovery serve`` processes on one PostgreSQL schema: one leader discovers, every one
serves, and the leader's death, or its lost lock, loses nothing and lets no deposed leader write.

Every check of what was stored reads the database directly (psycopg2), not through the service.
``REPLICAS_KILLS`` (default 6) sets how many times the SIGKILL test kills the leader, and
``REPLICAS_SEED`` replays one run's random moments (each run prints its seed).
"""
from __future__ import annotations

import os
import random
import threading
import time
from datetime import datetime

import pytest

from tests.conftest import pg_answers, wait_for
from tests.notify.conftest import SECRET, SSEClient
from tests.replicas.conftest import AUTH, Cluster, ResumingStream, Schema, openai_source

pytestmark = pytest.mark.skipif(not pg_answers(), reason="no PostgreSQL on 127.0.0.1:5432 (or psycopg2 missing)")

TAKEOVER_BOUND = 5.0  # leader_takeover_seconds' default, which these clusters keep
KILLS = int(os.environ.get("REPLICAS_KILLS", "6"))
MIN_CHANGED_CYCLES = 20
MODEL_EVENTS = ("added", "updated", "removed")


def start_three(cluster: Cluster) -> tuple:
    for name in ("r1", "r2", "r3"):
        cluster.start(name)
    return cluster.wait_leader()


def add_model(simulator, name: str, created: int = 1750000000) -> str:
    simulator.state.add_model("openai", {"id": name, "object": "model", "created": created, "owned_by": "test"})
    return f"openai/{name}"


def seconds(value) -> float:
    """A stored time as epoch seconds (a float column, or a timestamp)."""
    return value.timestamp() if isinstance(value, datetime) else float(value)


def wait_caught_up(cluster: Cluster, schema: Schema, timeout: float = 10.0) -> int:
    """Wait until every live instance serves the catalog the ``models`` table holds; the last event id."""
    def same() -> int | None:
        last = schema.last_event_id()
        stored = schema.models()
        for inst in cluster.alive():
            if inst.catalog() != stored:
                return None
        return last if schema.last_event_id() == last else None

    try:
        return wait_for(same, timeout=timeout, interval=0.1, what="every instance to serve the stored catalog")
    except BaseException:
        stored = schema.models()
        for inst in cluster.alive():
            served = inst.catalog()
            diff = sorted(set(served) ^ set(stored)) + sorted(k for k in set(served) & set(stored)
                                                               if served[k] != stored[k])
            print(f"{inst.instance_id}: {len(served)} served, {len(stored)} stored, differing: {diff[:10]}")
        raise


def check_store(schema: Schema) -> tuple[int, dict[str, list[tuple]]]:
    """Versions and events as stored: no gaps, no duplicates, each version announced by its event.
    Returns the last event id and each model's versions."""
    versions: dict[str, list[tuple]] = {}
    for mid, ver, change, run in schema.rows(
            "SELECT model_id, version, change, run_id FROM model_versions ORDER BY model_id, version, id"):
        versions.setdefault(mid, []).append((ver, change, run))
    for mid, vs in versions.items():
        assert [v[0] for v in vs] == list(range(1, len(vs) + 1)), f"versions of {mid} have a gap or a duplicate: {vs}"
        changes = [v[1] for v in vs]
        assert changes[0] == "added", f"{mid} was first stored as {changes[0]}: {vs}"
        for before, after in zip(changes, changes[1:]):
            assert (after == "added") == (before == "removed"), f"{mid}: {before} then {after}: {vs}"
    ids = [i for (i,) in schema.rows("SELECT id FROM events ORDER BY id")]
    irregular = next(((i, want) for i, want in zip(ids, range(1, len(ids) + 1)) if i != want), None)
    assert irregular is None, f"event ids are not 1..{len(ids)}: id {irregular[0]} where {irregular[1]} belongs"
    model_events = [(mid, run, kind) for mid, run, kind in schema.rows(
        "SELECT model_id, run_id, kind FROM events WHERE kind IN ('added', 'updated', 'removed')")]
    assert len(model_events) == len(set(model_events)), "a model event was stored twice"
    stored = {(mid, run, change) for mid, vs in versions.items() for _, change, run in vs}
    assert set(model_events) == stored, f"versions and model events disagree: {sorted(set(model_events) ^ stored)[:10]}"
    return (ids[-1] if ids else 0), versions


# -- Must show 1 ---------------------------------------------------------------------------------------
def test_three_instances_elect_one_leader_and_every_one_serves_a_change(cluster_of, simulator, pg_schema):
    cluster = cluster_of()
    leader, epoch = start_three(cluster)
    followers = [i for i in cluster.alive() if i is not leader]

    for inst in cluster.alive():
        status = inst.status()
        assert status["instance"] == inst.instance_id
        assert status["role"] == ("leader" if inst is leader else "follower")
        assert status["leader"]["instance"] == leader.instance_id and status["leader"]["epoch"] == epoch
        assert status["leader"]["since"]
        assert set(status["lag"]) == {"events", "seconds"}
        assert {"last_event_id", "applied_event_id", "apply_latency_ms"} <= set(status["replication"])
        ready = wait_for(lambda inst=inst: (r := inst.get("/readyz")).status_code == 200 and r.json(),
                         timeout=15, what=f"{inst.instance_id} ready")
        assert ready["role"] == status["role"] and ready["instance"] == inst.instance_id
        assert ready["leader"]["instance"] == leader.instance_id and ready["leader"]["epoch"] == epoch
    assert leader.status()["lag"] == {"events": 0, "seconds": 0.0}
    row = pg_schema.leadership()
    assert (row["instance"], row["epoch"]) == (leader.instance_id, epoch)

    # The leader's start-up refresh is committed and every instance serves it.
    wait_for(lambda: pg_schema.value("SELECT COUNT(*) FROM refresh_runs WHERE outcome = 'succeeded'"),
             timeout=15, what="the start-up refresh")
    wait_caught_up(cluster, pg_schema)

    # A stream on every instance, from the next change on.
    streams = {inst.instance_id: SSEClient(inst.port, "/api/v1/events/stream?kinds=added", timeout=10)
               for inst in cluster.alive()}
    try:
        for stream in streams.values():
            assert stream.status == 200
            stream.wait_comment("connected")
        model_id = add_model(simulator, "replica-probe-1")
        resp = leader.post("/api/v1/providers/openai/refresh", params={"wait": "true"})
        assert resp.status_code == 200, resp.text
        run = resp.json()["runs"][0]
        assert (run["outcome"], run["added"]) == ("succeeded", 1), run

        for inst in cluster.alive():
            record = wait_for(lambda inst=inst: (r := inst.get(f"/api/v1/models/{model_id}")).status_code == 200
                              and r.json(), timeout=5, what=f"{model_id} on {inst.instance_id}")
            assert record["id"] == model_id
        for name, stream in streams.items():
            message = stream.next_message()
            assert message is not None, f"the stream on {name} ended"
            event = message.json()
            assert (message.event, event["model_id"], event["run_id"]) == ("added", model_id, run["run_id"]), name
        stored_id = pg_schema.value("SELECT id FROM events WHERE model_id = %s AND kind = 'added'", (model_id,))
        assert event["id"] == stored_id

        # Followers report what they applied and how long it took.
        for inst in followers:
            status = wait_for(lambda inst=inst: (s := inst.status())["replication"]["applied_event_id"]
                              >= pg_schema.last_event_id() and s, timeout=5, what="the follower to apply")
            assert status["replication"]["last_event_id"] == pg_schema.last_event_id()
            assert status["lag"]["events"] == 0
            latency = status["replication"]["apply_latency_ms"]
            assert latency["count"] >= 1 and latency["p50"] is not None and latency["max"] >= latency["p50"] >= 0
    finally:
        for stream in streams.values():
            stream.close()


# -- Must show 2 ---------------------------------------------------------------------------------------
class Churn:
    """Changes the simulated OpenAI list every 50 ms: a model added, one removed, one updated."""

    def __init__(self, state, rng: random.Random):
        self.state = state
        self.rng = rng
        self.base = [m["id"] for m in self.state.models("openai")]
        self.n = 0
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True, name="churn")
        self.thread.start()

    def _run(self) -> None:
        while not self.stop_event.is_set():
            self.n += 1
            n = self.n
            self.state.add_model("openai", {"id": f"churn-{n}", "object": "model", "created": 1700000000 + n,
                                            "owned_by": "test"})
            if n > 3:
                try:
                    self.state.remove_model("openai", f"churn-{n - 3}")
                except KeyError:
                    pass
            self.state.update_model("openai", self.rng.choice(self.base), {"created": 1600000000 + n * 86400})
            self.stop_event.wait(0.05)

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(5)


def changed_cycles(schema: Schema) -> int:
    return schema.value("SELECT COUNT(*) FROM refresh_runs WHERE outcome = 'succeeded' "
                        "AND added + updated + removed > 0")


def test_sigkill_the_leader_during_refresh_cycles_loses_nothing(cluster_of, simulator, pg_schema, receiver):
    seed = int(os.environ.get("REPLICAS_SEED", time.time_ns() % 10**9))
    print(f"REPLICAS_SEED={seed}")
    rng = random.Random(seed)
    cluster = cluster_of(refresh_interval=0.3)
    leader, epoch = start_three(cluster)
    hook = receiver()
    resp = leader.post("/api/v1/subscriptions", json={"url": hook.url, "secret": SECRET, "since": 0, "max_batch": 100})
    assert resp.status_code == 201, resp.text
    stream = ResumingStream(cluster, rng)
    churn = Churn(simulator.state, rng)
    takeovers: list[tuple[str, str, float]] = []
    epochs = [epoch]
    try:
        while len(takeovers) < KILLS:
            time.sleep(rng.uniform(0.4, 1.6))  # a random moment, usually mid-cycle
            survivors = [i for i in cluster.alive() if i is not leader]
            killed_at = time.monotonic()
            leader.kill()
            stream.cut()  # resume, perhaps elsewhere, whether or not it was on the leader
            new, new_epoch = wait_for(lambda e=epoch, s=survivors: cluster.new_leader(e, s), timeout=TAKEOVER_BOUND + 10,
                                      interval=0.01, what=f"a follower to take over from {leader.instance_id}")
            takeovers.append((leader.instance_id, new.instance_id, time.monotonic() - killed_at))
            leader.start()  # the process manager's restart: three again, the restarted one a follower
            leader, epoch = cluster.wait_leader()
            assert leader is new and epoch == new_epoch
            epochs.append(epoch)
        wait_for(lambda: changed_cycles(pg_schema) >= MIN_CHANGED_CYCLES, timeout=30, interval=0.1,
                 what=f"{MIN_CHANGED_CYCLES} refresh cycles that changed models")
    finally:
        churn.stop()
    # The churn has stopped: once the leader has refreshed a few times since (a model left out is
    # removed at its second absence), the store holds the simulator's last state and stays so.
    stopped = time.time()
    wait_for(lambda: pg_schema.value("SELECT COUNT(*) FROM refresh_runs WHERE outcome = 'succeeded' "
                                     "AND started_at > %s", (stopped,)) >= 3,
             timeout=15, interval=0.1, what="three refreshes after the churn stopped")
    print("takeovers (killed, new leader, seconds):", [(a, b, round(t, 3)) for a, b, t in takeovers])
    slow = [t for t in takeovers if t[2] > TAKEOVER_BOUND]
    assert not slow, f"takeovers slower than {TAKEOVER_BOUND} s: {slow}"
    assert epochs == sorted(set(epochs)), f"epochs did not increase at every takeover: {epochs}"

    # Every instance serves exactly what the store holds.
    wait_caught_up(cluster, pg_schema, timeout=15)
    last, _ = check_store(pg_schema)
    assert changed_cycles(pg_schema) >= MIN_CHANGED_CYCLES
    for inst in cluster.alive():
        assert inst.catalog() == pg_schema.models(), f"{inst.instance_id} serves another catalog than the store's"

    # Fencing left its mark: epochs never go back along the outbox, and the runs the killed leaders
    # left running were marked as ended by their successors.
    stored_epochs = [e for (e,) in pg_schema.rows("SELECT epoch FROM events ORDER BY id")]
    assert stored_epochs == sorted(stored_epochs) and set(stored_epochs) <= set(epochs)
    running = pg_schema.rows("SELECT id, epoch FROM refresh_runs WHERE outcome = 'running' AND epoch < %s",
                             (epochs[-1],))
    assert not running, f"runs of deposed leaders still 'running': {running}"

    # Every event reached the webhook (at least once) and the resuming stream (exactly once, in order).
    everything = set(range(1, last + 1))
    wait_for(lambda: everything <= set(hook.acked_ids()), timeout=20, interval=0.1,
             what=f"the webhook to receive events 1..{last}")
    assert all(p.signed for p in hook.all_posts())
    first_seen = list(dict.fromkeys(hook.acked_ids()))
    assert first_seen == sorted(first_seen), "the webhook received events out of order"
    wait_for(lambda: stream.last >= last, timeout=15, interval=0.05, what=f"the stream to reach event {last}")
    stream.stop()
    received = [i for i in stream.ids if i <= last]
    assert received == list(range(1, last + 1)), (
        f"the resuming stream missed or repeated events: missing {sorted(everything - set(received))[:10]}, "
        f"repeated {sorted({i for i in received if received.count(i) > 1})[:10]}")
    resumed_on = {name for name, since in stream.connections if since > 0}
    print(f"{last} events; stream connections {len(stream.connections)} on {sorted(resumed_on)}; "
          f"webhook posts {len(hook.all_posts())}")
    assert len(stream.connections) > KILLS


# -- Must show 3 ---------------------------------------------------------------------------------------
def test_a_leader_cut_from_the_database_is_fenced_and_only_the_new_leader_writes(cluster_of, simulator, pg_schema):
    cluster = cluster_of()
    # This instance checks its lock only once an hour: it cannot notice the cut on its own.
    old = cluster.start("r1", env={"DISCOVERY_LEADER_CHECK_INTERVAL": "3600"})
    wait_for(lambda: (s := old.status()) and s["role"] == "leader", timeout=15, what="r1 to lead")
    cluster.start("r2")
    cluster.start("r3")
    leader, epoch = cluster.wait_leader()
    assert leader is old
    wait_for(lambda: pg_schema.value("SELECT COUNT(*) FROM refresh_runs WHERE outcome = 'succeeded'"),
             timeout=15, what="r1's start-up refresh")
    others = [i for i in cluster.alive() if i is not old]

    assert pg_schema.cut_leader_connection("r1", old.proc.pid) == 1
    new, new_epoch = wait_for(lambda: cluster.new_leader(epoch, others), timeout=TAKEOVER_BOUND + 5,
                              what="r2 or r3 to take over")
    assert new_epoch == epoch + 1
    row = pg_schema.leadership()
    assert (row["instance"], row["epoch"]) == (new.instance_id, new_epoch)
    took_over = seconds(row["acquired_at"])

    # The old leader, not knowing, refreshes a change: its commit is refused and it leaves.
    model_id = add_model(simulator, "fenced-probe")
    resp = old.post("/api/v1/providers/openai/refresh", params={"wait": "true"})
    assert resp.status_code == 200, resp.text
    run = resp.json()["runs"][0]
    print(f"the deposed leader's refresh: {run}")
    assert run["outcome"] == "failed" and "fenced" in (run["error"] or ""), run
    assert f"epoch {epoch} is over" in run["error"] or f"leadership of epoch {epoch}" in run["error"], run
    # Its run was never stored, and its id is not one the new leader gives (ids are reserved in blocks).
    assert pg_schema.rows("SELECT id FROM refresh_runs WHERE id = %s", (run["run_id"],)) == []
    try:
        code = old.proc.wait(20)
    except Exception:
        pytest.fail(f"the fenced leader did not exit:\n{old.log_tail()}")
    assert code == 75, f"the fenced leader exited with {code}:\n{old.log_tail()}"

    # The new leader stores the change, once.
    resp = new.post("/api/v1/providers/openai/refresh", params={"wait": "true"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["runs"][0]["outcome"] == "succeeded"
    wait_caught_up(cluster, pg_schema)
    versions = pg_schema.rows("SELECT version, change FROM model_versions WHERE model_id = %s", (model_id,))
    assert versions == [(1, "added")]
    added = pg_schema.rows("SELECT epoch FROM events WHERE model_id = %s", (model_id,))
    assert added == [(new_epoch,)]
    check_store(pg_schema)
    late_events = pg_schema.rows("SELECT id, kind, epoch FROM events WHERE created_at >= %s AND epoch <> %s",
                                 (took_over, new_epoch))
    assert not late_events, f"events written after the takeover by another epoch: {late_events}"
    late_runs = pg_schema.rows("SELECT id, provider, outcome, epoch FROM refresh_runs WHERE started_at >= %s "
                               "AND epoch <> %s", (took_over, new_epoch))
    assert not late_runs, f"refresh runs started after the takeover by another epoch: {late_runs}"
    assert all(inst.catalog().get(model_id) for inst in cluster.alive())


# -- Must show 4 ---------------------------------------------------------------------------------------
def test_a_refresh_posted_to_a_follower_runs_on_the_leader_and_answers_its_outcome(cluster_of, simulator,
                                                                                   pg_schema):
    cluster = cluster_of()
    leader, epoch = start_three(cluster)
    wait_for(lambda: pg_schema.value("SELECT COUNT(*) FROM refresh_runs WHERE outcome = 'succeeded'"),
             timeout=15, what="the start-up refresh")
    follower = next(i for i in cluster.alive() if i is not leader)

    model_id = add_model(simulator, "handoff-probe")
    resp = follower.post("/api/v1/providers/openai/refresh", params={"wait": "true"})
    assert resp.status_code == 200, resp.text
    run = resp.json()["runs"][0]
    assert (run["provider"], run["outcome"], run["added"], run["error"]) == ("openai", "succeeded", 1, None), run
    stored = pg_schema.dicts("SELECT * FROM refresh_runs WHERE id = %s", (run["run_id"],))
    assert stored and stored[0]["epoch"] == epoch and stored[0]["outcome"] == "succeeded", stored
    assert (stored[0]["provider"], stored[0]["added"]) == ("openai", 1)
    assert pg_schema.rows("SELECT run_id, epoch FROM events WHERE model_id = %s", (model_id,)) == [(run["run_id"], epoch)]
    # The follower answered with what the leader did, and serves it.
    wait_for(lambda: follower.get(f"/api/v1/models/{model_id}").status_code == 200, timeout=5,
             what="the follower to serve the change")
    assert follower.get(f"/api/v1/refresh/runs/{run['run_id']}").json()["outcome"] == "succeeded"

    # Every provider at once, and without wait: 202 with run ids the follower can look up.
    resp = follower.post("/api/v1/refresh", params={"wait": "true"})
    assert resp.status_code == 200, resp.text
    assert [(r["provider"], r["outcome"]) for r in resp.json()["runs"]] == [("openai", "succeeded")]
    resp = follower.post("/api/v1/providers/openai/refresh")
    assert resp.status_code == 202, resp.text
    queued = resp.json()["runs"][0]["run_id"]
    done = wait_for(lambda: (r := follower.get(f"/api/v1/refresh/runs/{queued}")).status_code == 200
                    and r.json()["outcome"] != "running" and r.json(), timeout=10, what="the queued run")
    assert done["outcome"] == "succeeded"
    assert pg_schema.value("SELECT epoch FROM refresh_runs WHERE id = %s", (queued,)) == epoch
    # Nothing but the leader wrote: every run row carries its epoch.
    assert {e for (e,) in pg_schema.rows("SELECT DISTINCT epoch FROM refresh_runs")} == {epoch}


def test_webhooks_are_created_and_deleted_through_a_follower(cluster_of, pg_schema, receiver):
    cluster = cluster_of()
    leader, _ = start_three(cluster)
    follower = next(i for i in cluster.alive() if i is not leader)
    hook = receiver()
    resp = follower.post("/api/v1/subscriptions", json={"url": hook.url, "secret": SECRET, "since": 0})
    assert resp.status_code == 201, resp.text
    created = resp.json()
    listed = {s["id"] for s in leader.get("/api/v1/subscriptions", headers=AUTH).json()["data"]}
    assert created["id"] in listed
    # The leader delivers what is stored.
    wait_for(lambda: (last := pg_schema.last_event_id()) and set(range(1, last + 1)) <= set(hook.acked_ids()),
             timeout=15, what="the webhook made on a follower to receive the stored events")
    resp = follower.http.delete(f"{follower.url}/api/v1/subscriptions/{created['id']}", headers=AUTH, timeout=10)
    assert resp.status_code == 204, resp.text
    assert leader.get(f"/api/v1/subscriptions/{created['id']}", headers=AUTH).status_code == 404
    assert follower.get(f"/api/v1/subscriptions/{created['id']}", headers=AUTH).status_code == 404
    # Acting on a subscription that is gone is a 404 through a follower too (it was a 500: the
    # leader's UnknownWebhook came back as a RemoteError).
    for action in ("pause", "resume", "replay"):
        resp = follower.post(f"/api/v1/subscriptions/{created['id']}/{action}")
        assert resp.status_code == 404 and resp.json()["error"]["code"] == "subscription_not_found", resp.text
    # The hand-over rows went once their answers were read: the secret is only in the webhook's row.
    assert pg_schema.value("SELECT COUNT(*) FROM leader_requests") == 0


def test_a_benchmark_posted_to_a_follower_runs_on_the_leader_and_every_instance_serves_it(cluster_of, simulator,
                                                                                          pg_schema):
    # OpenAI's live list priced by models.dev (benchmarks never probe an unpriced model), a fast stream.
    records = dict(simulator.state.model_items("modelsdev"))
    simulator.state.set_models("modelsdev", {"openai": records["openai"]})
    simulator.state.set_stream("openai", ttft=0.02, tokens_per_second=400, output_tokens=16)
    cluster = cluster_of(sources=f"""
[providers.openai]
format = "openai"
base_url = "{simulator.base_url('openai')}"
api_key_env = "REPLICAS_BENCH_KEY"
refresh_interval = 3600
retries = 0
health_check_interval = 0

[providers.modelsdev]
format = "modelsdev"
base_url = "{simulator.base_url('modelsdev')}"
refresh_interval = 3600
retries = 0
health_check_interval = 0

[benchmarks]
start_delay = 3600
samples = 2

[benchmarks.providers.openai]
enabled = true
models = ["openai/gpt-4o"]
""")
    for name in ("r1", "r2", "r3"):
        cluster.start(name, env={"REPLICAS_BENCH_KEY": "sk-replicas-test"})
    leader, epoch = cluster.wait_leader()
    follower = next(i for i in cluster.alive() if i is not leader)
    model = "/api/v1/models/openai/gpt-4o"
    wait_for(lambda: (r := follower.get(model)).status_code == 200 and r.json()["pricing"]["input"] is not None,
             timeout=20, what="gpt-4o listed and priced on the follower")

    resp = follower.post(f"{model}/benchmarks", params={"wait": "true"}, timeout=60)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert [r["outcome"] for r in body["runs"]] == ["succeeded"], body
    assert body["results"] and body["results"][0]["sample_count"] == 2, body
    stored = pg_schema.rows("SELECT kind, epoch FROM events WHERE kind = 'benchmark_completed'")
    assert stored == [("benchmark_completed", epoch)]
    for inst in cluster.alive():
        performance = wait_for(lambda inst=inst: inst.get(model).json()["performance"], timeout=5,
                               what=f"the measured performance on {inst.instance_id}")
        assert performance["ttft_ms"] > 0

    # A run relayed with ?wait=true whose leader stops before it ends: the caller is told it was
    # interrupted (it was a 500, a RuntimeError's traceback in the follower's log).
    simulator.state.set_fault("openai", "hang", seconds=60, path="/chat/completions")
    probes = sum(1 for r in simulator.state.requests("openai") if r["path"].endswith("/chat/completions"))
    answer: dict = {}
    waiting = threading.Thread(target=lambda: answer.update(resp=follower.post(
        f"{model}/benchmarks", params={"wait": "true", "timeout": "60"}, timeout=90)))
    waiting.start()
    wait_for(lambda: sum(1 for r in simulator.state.requests("openai") if r["path"].endswith("/chat/completions"))
             > probes, timeout=20, what="the leader's probe under way")
    leader.stop()
    waiting.join(60)
    simulator.state.clear_faults("openai")
    resp = answer["resp"]
    assert resp.status_code == 200, resp.text
    (run,) = resp.json()["runs"]
    assert run["outcome"] == "interrupted" and run["error"], run
    assert "Traceback" not in follower.log_text()


def test_a_follower_that_lost_its_listening_connection_catches_up_on_what_it_missed(cluster_of, simulator,
                                                                                     pg_schema):
    cluster = cluster_of()
    cluster.start("r1")
    wait_for(lambda: (s := cluster.instances["r1"].status()) and s["role"] == "leader", timeout=15, what="r1 to lead")
    # Followers that poll only once an hour: only the catch-up after a reconnect can find the change.
    for name in ("r2", "r3"):
        cluster.start(name, env={"DISCOVERY_LEADER_CHECK_INTERVAL": "3600"})
    leader, _ = cluster.wait_leader()
    followers = [i for i in cluster.alive() if i is not leader]
    wait_for(lambda: pg_schema.value("SELECT COUNT(*) FROM refresh_runs WHERE outcome = 'succeeded'"),
             timeout=15, what="the start-up refresh")
    wait_caught_up(cluster, pg_schema)

    counted = {i.instance_id: i.status()["replication"]["apply_latency_ms"]["count"] for i in followers}
    cut = pg_schema.cut_connections("discovery-follower", [i.proc.pid for i in followers])
    assert cut == len(followers), f"terminated {cut} listening connections of {len(followers)} followers"
    # Committed while the followers are not listening: its notification reaches nobody.
    model_id = add_model(simulator, "missed-probe")
    resp = leader.post("/api/v1/providers/openai/refresh", params={"wait": "true"})
    assert resp.status_code == 200 and resp.json()["runs"][0]["added"] == 1, resp.text
    for inst in followers:
        wait_for(lambda inst=inst: inst.get(f"/api/v1/models/{model_id}").status_code == 200, timeout=10,
                 what=f"{inst.instance_id} to catch up after reconnecting")
    wait_caught_up(cluster, pg_schema)
    for inst in followers:
        assert wait_for(lambda inst=inst: (s := inst.status())["lag"]["events"] == 0 and s, timeout=5,
                        what="no lag")["replication"]["applied_event_id"] == pg_schema.last_event_id()
        # The batches found by catching up count in the apply latency too (it left them out, so it
        # understated the lag exactly when it was worst).
        latency = inst.status()["replication"]["apply_latency_ms"]
        assert latency["count"] > counted[inst.instance_id] and latency["max"] > 0, latency


def test_deployments_in_two_schemas_of_one_database_neither_share_a_leader_nor_hear_each_other(
        pg_schema, other_schema, cluster_of, simulator):
    # Deployment A: a leader and a follower, quiet after their start-up refresh.
    a = cluster_of()
    a.start("a1")
    wait_for(lambda: (s := a.instances["a1"].status()) and s["role"] == "leader", timeout=15, what="a1 to lead")
    a.start("a2")
    a_leader, a_epoch = a.wait_leader()
    a_follower = a.instances["a2"]
    wait_for(lambda: pg_schema.value("SELECT COUNT(*) FROM refresh_runs WHERE outcome = 'succeeded'"),
             timeout=15, what="A's start-up refresh")
    wait_caught_up(a, pg_schema)
    # Deployment B, in another schema of the same database, on a simulator tenant of its own:
    # busy, so its event ids soon run past A's.
    b = cluster_of("other.toml", schema=other_schema, sources=openai_source(simulator, 0.2, tenant="b"))
    b.start("b1")
    b_leader, b_epoch = b.wait_leader()
    churn = Churn(simulator.tenant_state("b"), random.Random(7))
    try:
        a_last = pg_schema.last_event_id()
        wait_for(lambda: other_schema.last_event_id() > a_last + 50, timeout=20, interval=0.1,
                 what="B's event ids to run past A's")
    finally:
        churn.stop()
    # Each deployment has its own leader, lock and epoch.
    assert (a_leader.status()["role"], b_leader.status()["role"]) == ("leader", "leader")
    assert a.agreed_leader() == (a_leader, a_epoch)

    # A's follower reports A's feed, not B's: no phantom lag.
    status = a_follower.status()
    assert status["replication"]["last_event_id"] == pg_schema.last_event_id(), status["replication"]
    assert status["lag"] == {"events": 0, "seconds": 0.0}, status["lag"]
    # And it still follows A's commits and times them.
    before = status["replication"]["apply_latency_ms"]["count"]
    model_id = add_model(simulator, "schema-probe")
    resp = a_leader.post("/api/v1/providers/openai/refresh", params={"wait": "true"})
    assert resp.status_code == 200 and resp.json()["runs"][0]["added"] == 1, resp.text
    wait_for(lambda: a_follower.get(f"/api/v1/models/{model_id}").status_code == 200, timeout=5,
             what="A's follower to serve A's change")
    status = wait_for(lambda: (s := a_follower.status())["replication"]["apply_latency_ms"]["count"] > before and s,
                      timeout=5, what="A's follower to time the apply of A's commit")
    assert status["lag"]["events"] == 0 and status["replication"]["last_event_id"] == pg_schema.last_event_id()
    assert b_leader.get(f"/api/v1/models/{model_id}").status_code == 404
    # The same catalog reads as the same on either instance: catalog_version is each one's own
    # count of publishes, the newest event taken in is the deployment's.
    assert status["catalog"]["last_event_id"] == a_leader.status()["catalog"]["last_event_id"] \
        == pg_schema.last_event_id()


def test_a_follower_serves_the_leaders_bedrock_regions_and_exports_what_the_leader_does(cluster_of, simulator,
                                                                                         pg_schema, tmp_path):
    # us-east-1 answers fast, eu-west-1 slowly: the regions' latency decides a model's best region.
    simulator.state.set_latency("bedrock@eu-west-1", 0.3)
    cluster = cluster_of(ask_timeout=2.0, sources=openai_source(simulator) + f"""
[bedrock]
enabled = true
regions = ["us-east-1", "eu-west-1"]
endpoint_url = "{simulator.url}/bedrock/{{region}}"
refresh_interval = 3600
""")
    env = {"AWS_ACCESS_KEY_ID": "AKIDREPLICAS", "AWS_SECRET_ACCESS_KEY": "replicas-secret",
           "AWS_CONFIG_FILE": str(tmp_path / "none"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none")}
    for name in ("r1", "r2"):
        cluster.start(name, env=env)
    leader, _ = cluster.wait_leader()
    follower = next(i for i in cluster.alive() if i is not leader)
    wait_for(lambda: all(r["last_success_at"] for r in leader.get("/api/v1/bedrock/regions").json()["data"])
             and len(leader.get("/api/v1/bedrock/regions").json()["data"]) == 2, timeout=30,
             what="both regions refreshed on the leader")
    regions = follower.get("/api/v1/bedrock/regions").json()
    assert regions["enabled"] is True  # it was false, with no data, on a follower
    assert {r["region"] for r in regions["data"]} == {"us-east-1", "eu-west-1"}
    # A watched region is known on a follower too (it has no region board of its own, and the leader
    # may watch regions it discovered: a follower takes any well-formed region name).
    for inst in (leader, follower):
        assert inst.get("/api/v1/benchmarks/runs?region=eu-west-1").status_code == 200, inst.instance_id
        assert inst.get("/api/v1/benchmarks/runs?region=nowhere").status_code == 400, inst.instance_id
    assert leader.get("/api/v1/benchmarks/runs?region=ap-south-1").status_code == 400
    assert follower.get("/api/v1/benchmarks/runs?region=ap-south-1").status_code == 200
    # The same for a list filtered by a region's source (it was a 400 on a follower).
    assert leader.get("/api/v1/models?provider=bedrock@ap-south-1").status_code == 400
    assert follower.get("/api/v1/models?provider=bedrock@ap-south-1").status_code == 200
    for inst in (leader, follower):
        assert inst.get("/api/v1/models?provider=bedrock@eu-west-1").status_code == 200, inst.instance_id
        assert inst.get("/api/v1/models?provider=bedrock@nowhere").status_code == 400, inst.instance_id

    def exported(inst) -> dict[str, str]:
        body = inst.get("/api/v1/export/litellm?provider=bedrock", timeout=30).json()
        return {e["model_name"]: e["litellm_params"]["aws_region_name"] for e in body["model_list"]}

    wait_for(lambda: len(follower.get("/api/v1/models?provider=bedrock&limit=1").json()["data"]) == 1, timeout=20,
             what="the follower's catalog to hold Bedrock's models")
    # A model's regions and their ranking carry the regions' health on a follower too: it ranked
    # by name, each region's status and latency null (eu-west-1, the slow one, first here).
    model = "bedrock/amazon.nova-lite-v1:0"
    wait_for(lambda: follower.get(f"/api/v1/bedrock/models/{model}/regions").status_code == 200, timeout=20,
             what="the follower to hold the model in both regions")
    best = leader.get(f"/api/v1/bedrock/models/{model}/best-regions").json()
    assert [r["region"] for r in best["regions"]][0] == "us-east-1", best
    assert follower.get(f"/api/v1/bedrock/models/{model}/best-regions").json()["regions"] == best["regions"]
    rows = follower.get(f"/api/v1/bedrock/models/{model}/regions").json()["regions"]
    assert {r["region"]: r["region_status"] for r in rows} == {"us-east-1": "available", "eu-west-1": "available"}
    assert all(r["latency_ms"] is not None for r in rows), rows
    # The leader stalls: what only it can answer is a 503 with a JSON body (it was a 500), and the
    # export, a read, is still served, ranking the regions without their health, and says so.
    import signal
    os.kill(leader.proc.pid, signal.SIGSTOP)
    try:
        stalled = follower.get("/api/v1/bedrock/regions", timeout=30)
        assert stalled.status_code == 503 and stalled.json()["error"]["code"] == "leader_unavailable"
        body = follower.get("/api/v1/export/litellm?provider=bedrock&names=provider", timeout=30).json()
        assert body["model_list"] and "the leader did not answer" in body["regions_health"]
        # The leader's silence is remembered for a while: the next exports do not wait for it again
        # (each waited twice ask_timeout, 4 s here), whatever they select.
        started = time.monotonic()
        again = follower.get("/api/v1/export/litellm?provider=openai", timeout=30).json()
        assert again["model_list"] and time.monotonic() - started < 3.0
        # So are a model's regions, ranked without their health, saying so (not a 503 after 4 s).
        started = time.monotonic()
        ranked = follower.get(f"/api/v1/bedrock/models/{model}/best-regions", timeout=30)
        assert ranked.status_code == 200 and time.monotonic() - started < 3.0
        assert ranked.json()["regions_health"].startswith("unknown: the leader did not answer")
        assert {r["region_status"] for r in ranked.json()["regions"]} == {None}
        # A change handed to the stalled leader is a 504 that says it stays queued, not "try again".
        refused = follower.post("/api/v1/providers/openai/refresh", timeout=30)
        assert refused.status_code == 504 and refused.json()["error"]["code"] == "leader_timeout"
        assert "stays queued" in refused.json()["error"]["message"]
        # A caller's own timeout bounds that wait too (it waited twice ask_timeout, 4 s here, first).
        started = time.monotonic()
        bounded = follower.post("/api/v1/providers/openai/refresh?wait=true&timeout=1", timeout=30)
        assert bounded.status_code == 504 and bounded.json()["error"]["code"] == "leader_timeout"
        assert time.monotonic() - started < 2.5
    finally:
        os.kill(leader.proc.pid, signal.SIGCONT)

    # With the leader back, the follower asks it again and exports what it does.
    wait_for(lambda: exported(follower) == exported(leader) and len(exported(leader)) > 0, timeout=30,
             what="the follower to export what the leader does")
    on_leader = exported(leader)
    assert "us-east-1" in set(on_leader.values())  # the fast region; a follower ranked them alphabetically
