"""Replicas on one PostgreSQL: how soon a follower serves what the leader committed, and how soon a
follower takes over when the leader is killed.

The simulator runs in its own process, and ``--instances`` ``discovery serve`` processes (default 3)
share a fresh schema of the PostgreSQL server (``--postgres``, default ``$DISCOVERY_TEST_POSTGRES``
or the loopback test database; the schema is dropped at the end unless ``--keep``). The one provider
is the simulated OpenAI list, refreshed only when asked. Then:

- ``--changes`` cycles (default 100): a model is added at the simulator (and an older one removed),
  ``POST /api/v1/providers/openai/refresh?wait=true`` is sent to the leader, and a poller per
  follower asks ``GET /api/v1/models/<id>`` every ~2 ms from before the POST until the model is
  there. Printed per follower and over all: the follower's own measure (``GET /api/v1/status``
  ``replication.apply_latency_ms``: the leader's commit end → the change published in the
  follower's index, over its last 1,000 applied batches), and two measured from outside: the
  event's ``time`` → the poller first saw the model (the time is taken as the write transaction
  begins, so this includes the commit itself), and the leader's POST returning → the poller first
  saw it (negative when the follower had it before the leader's answer reached the client);
- ``--kills`` failovers (default 5): the leader is killed with SIGKILL and the survivors' status is
  polled every 10 ms: kill → a follower reports itself leader at a higher epoch, and kill → that
  leader's first refresh with a change answered (``?wait=true``); the killed instance is then
  started again so there are always ``--instances``.

    python bench/bench_replicas.py [--changes 100] [--instances 3] [--kills 5] [--postgres URL] [--keep]

Target (issue 14): p99 commit → follower index ≤ 100 ms; takeover ≤ 5 s (leader_takeover_seconds).
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from load import nearest_rank  # noqa: E402
from processes import PhaseFailed, ServeProcess, SimulatorProcess  # noqa: E402

DEFAULT_PG = os.environ.get("DISCOVERY_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
POLL = 0.002  # the follower pollers' interval
TARGET_P99_MS = 100.0
TAKEOVER_BOUND_S = 5.0


@dataclass
class Series:
    """Samples of one measure (milliseconds or seconds, as labelled)."""

    label: str
    unit: str
    values: list[float] = field(default_factory=list)

    def row(self) -> str:
        if not self.values:
            return f"  {self.label:<58} {'0':>5} {'n/a':>9} {'n/a':>9} {'n/a':>9}"
        ordered = sorted(self.values)
        cells = [nearest_rank(ordered, 0.5), nearest_rank(ordered, 0.99), ordered[-1]]
        fmt = "{:>9.1f}" if self.unit == "ms" else "{:>9.3f}"
        return f"  {self.label:<58} {len(ordered):>5} " + " ".join(fmt.format(c) for c in cells)


def table(title: str, unit: str, rows: list[Series]) -> None:
    print(f"\n{title}")
    print(f"  {'measure':<58} {'n':>5} {'p50 ' + unit:>9} {'p99 ' + unit:>9} {'max ' + unit:>9}")
    for series in rows:
        print(series.row())


# -- the cluster -------------------------------------------------------------------------------------
class Cluster:
    """``discovery serve`` instances on one schema; each keeps its instance id across restarts."""

    def __init__(self, config: Path, database_url: str, workdir: Path):
        self.config = config
        self.database_url = database_url
        self.workdir = workdir
        self.procs: dict[str, ServeProcess] = {}

    def start(self, instance_id: str) -> ServeProcess:
        proc = ServeProcess(self.config, self.database_url, self.workdir / f"serve-{instance_id}.log",
                            env={"DISCOVERY_INSTANCE_ID": instance_id})
        self.procs[instance_id] = proc
        return proc

    def alive(self) -> dict[str, ServeProcess]:
        return {i: p for i, p in self.procs.items() if p.proc.poll() is None}

    @staticmethod
    def status(proc: ServeProcess) -> dict[str, Any] | None:
        try:
            resp = proc.http.get(proc.url + "/api/v1/status", timeout=2)
        except requests.RequestException:
            return None
        return resp.json() if resp.status_code == 200 else None

    def wait_agreed(self, deadline: float) -> tuple[str, int]:
        """(leader id, epoch) once every live instance answers and all name the one that says it leads."""
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            found = {i: self.status(p) for i, p in self.alive().items()}
            if found and all(s and "role" in s for s in found.values()):
                leaders = [i for i, s in found.items() if s["role"] == "leader"]
                named = {(s["leader"]["instance"], s["leader"]["epoch"]) for s in found.values()}
                if len(leaders) == 1 and len(named) == 1 and next(iter(named))[0] == leaders[0]:
                    return next(iter(named))
            time.sleep(0.02)
        roles = {i: (s or {}).get("role", "no answer") for i, s in
                 ((i, self.status(p)) for i, p in self.alive().items())}
        raise PhaseFailed(f"the instances did not agree on one leader within {deadline:g} s: {roles}")

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.proc.poll() is None:
                proc.proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            proc.stop(20)


class Simulator:
    """The simulator process's ``/_admin/`` API for the OpenAI list."""

    def __init__(self, proc: SimulatorProcess):
        self.proc = proc
        self.http = requests.Session()

    def add(self, name: str, created: int) -> None:
        resp = self.http.post(f"{self.proc.url}/_admin/openai/models", timeout=5,
                              json={"id": name, "object": "model", "created": created, "owned_by": "bench"})
        resp.raise_for_status()

    def remove(self, name: str) -> None:
        self.http.delete(f"{self.proc.url}/_admin/openai/models/{name}", timeout=5)


def write_config(path: Path, simulator_url: str) -> None:
    path.write_text(f"""
[service]
missing_grace_refreshes = 0

[providers.openai]
format = "openai_compatible"
base_url = "{simulator_url}/openai/v1"
refresh_interval = 3600
retries = 0
health_check_interval = 0
max_removal_ratio = 0.9
manual_refresh_per_minute = 100000
# The provider's token bucket (5/s by default) would pace the back-to-back refreshes.
rate_limit_rps = 1000.0
rate_limit_burst = 1000
""")


# -- phases ------------------------------------------------------------------------------------------
class Poller(threading.Thread):
    """Asks one follower for one model every ~2 ms until it answers 200; the wall and monotonic times."""

    def __init__(self, proc: ServeProcess, model_id: str, deadline: float):
        super().__init__(daemon=True)
        self.proc = proc
        self.path = f"{proc.url}/api/v1/models/{model_id}?raw=false"
        self.deadline = deadline
        self.seen_wall: float | None = None
        self.seen_mono: float | None = None
        self.http = requests.Session()
        self.first = threading.Event()

    def run(self) -> None:
        end = time.monotonic() + self.deadline
        try:
            while time.monotonic() < end:
                resp = self.http.get(self.path, timeout=5)
                self.first.set()
                if resp.status_code == 200:
                    self.seen_mono, self.seen_wall = time.monotonic(), time.time()
                    return
                time.sleep(POLL)
        except requests.RequestException:
            pass
        finally:
            self.first.set()
            self.http.close()


def event_time(proc: ServeProcess, model_id: str) -> float | None:
    """The commit time of the newest ``added`` event of ``model_id`` (epoch seconds)."""
    resp = proc.get("/api/v1/events", kinds="added", model=model_id, limit=10)
    if resp.status_code != 200:
        return None
    data = resp.json()["data"]
    if not data:
        return None
    return datetime.fromisoformat(data[-1]["time"].replace("Z", "+00:00")).timestamp()


def change_cycles(cluster: Cluster, sim: Simulator, changes: int, deadline: float) -> dict[str, list[Series]]:
    leader_id, _ = cluster.wait_agreed(deadline)
    leader = cluster.procs[leader_id]
    followers = {i: p for i, p in cluster.alive().items() if i != leader_id}
    by_event = {i: Series(f"{i}: event time (commit begins) → seen by the poller", "ms") for i in followers}
    by_post = {i: Series(f"{i}: leader's POST returned → seen by the poller", "ms") for i in followers}
    post = Series("leader's POST refresh?wait=true (round trip)", "ms")
    added: list[str] = []
    for n in range(1, changes + 1):
        name = f"bench-{uuid.uuid4().hex[:8]}-{n}"
        model_id = f"openai/{name}"
        sim.add(name, 1750000000 + n)
        added.append(name)
        pollers = {i: Poller(p, model_id, deadline) for i, p in followers.items()}
        for poller in pollers.values():
            poller.start()
        for poller in pollers.values():
            poller.first.wait(5)  # each poller has asked once (a 404) before the refresh starts
        started = time.monotonic()
        resp = leader.post("/api/v1/providers/openai/refresh", wait="true")
        returned = time.monotonic()
        if resp.status_code != 200 or resp.json()["runs"][0]["outcome"] != "succeeded":
            raise leader.fail(f"refresh {n} answered {resp.status_code}: {resp.text[:300]}")
        post.values.append((returned - started) * 1000)
        committed = event_time(leader, model_id)
        for i, poller in pollers.items():
            poller.join(deadline)
            if poller.seen_mono is None:
                raise followers[i].fail(f"{i} did not serve {model_id} within {deadline:g} s")
            by_post[i].values.append((poller.seen_mono - returned) * 1000)
            if committed is not None:
                by_event[i].values.append((poller.seen_wall - committed) * 1000)
        if len(added) > 5:
            sim.remove(added.pop(0))  # the next refresh removes it: the catalog stays the same size
        if n % 20 == 0:
            print(f"  {n}/{changes} changes", flush=True)
    internal = []
    for i, p in followers.items():
        latency = (cluster.status(p) or {}).get("replication", {}).get("apply_latency_ms") or {}
        internal.append((i, latency))
    return {"post": [post], "by_event": list(by_event.values()), "by_post": list(by_post.values()),
            "internal": internal}  # type: ignore[dict-item]


def failovers(cluster: Cluster, sim: Simulator, kills: int, deadline: float) -> tuple[Series, Series, list[str]]:
    elected = Series("kill → a follower reports itself leader (higher epoch)", "s")
    writes = Series("kill → new leader's first refresh with a change answered", "s")
    notes = []
    for k in range(1, kills + 1):
        leader_id, epoch = cluster.wait_agreed(deadline)
        time.sleep(0.5)
        survivors = {i: p for i, p in cluster.alive().items() if i != leader_id}
        killed = time.monotonic()
        cluster.procs[leader_id].proc.kill()
        cluster.procs[leader_id].proc.wait(10)
        new_id = None
        while new_id is None:
            if time.monotonic() - killed > deadline:
                raise PhaseFailed(f"no follower took over within {deadline:g} s of killing {leader_id}")
            for i, p in survivors.items():
                s = cluster.status(p)
                if s and s.get("role") == "leader" and (s["leader"]["epoch"] or 0) > epoch:
                    new_id = i
                    break
            else:
                time.sleep(0.01)
        elected.values.append(time.monotonic() - killed)
        name = f"failover-{uuid.uuid4().hex[:8]}-{k}"
        sim.add(name, 1760000000 + k)
        while True:
            resp = survivors[new_id].post("/api/v1/providers/openai/refresh", http_timeout=60, wait="true")
            if resp.status_code == 200 and resp.json()["runs"][0]["outcome"] == "succeeded":
                break
            if time.monotonic() - killed > deadline:
                raise survivors[new_id].fail(f"the new leader's refresh answered {resp.status_code}: {resp.text[:300]}")
            time.sleep(0.05)
        writes.values.append(time.monotonic() - killed)
        notes.append(f"  kill {k}: {leader_id} (epoch {epoch}) → {new_id} in {elected.values[-1]:.3f} s")
        print(notes[-1], flush=True)
        cluster.start(leader_id)  # the process manager's restart
        cluster.wait_agreed(deadline)
    return elected, writes, notes


# -- main --------------------------------------------------------------------------------------------
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=100, help="change cycles to time")
    parser.add_argument("--instances", type=int, default=3, help="discovery serve processes on the schema")
    parser.add_argument("--kills", type=int, default=5, help="SIGKILLs of the leader to time")
    parser.add_argument("--postgres", default=DEFAULT_PG, help="the PostgreSQL server (a database URL)")
    parser.add_argument("--phase-timeout", type=float, default=60.0, help="deadline of each wait, seconds")
    parser.add_argument("--keep", action="store_true", help="keep the schema and the logs")
    args = parser.parse_args()
    if args.instances < 2:
        parser.error("--instances must be at least 2 (a leader and a follower)")

    import psycopg2

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(args.postgres.replace("postgresql://", "postgres://"))
    admin.autocommit = True
    admin.cursor().execute(f"CREATE SCHEMA {schema}")
    database_url = f"{args.postgres}?options=-csearch_path%3D{schema}"
    tmp = Path(tempfile.mkdtemp(prefix="bench-replicas-"))
    print(f"bench_replicas: {args.instances} instances on schema {schema}, {args.changes} changes, "
          f"{args.kills} kills; logs in {tmp}", flush=True)
    simulator = SimulatorProcess(tmp / "simulator.log")
    cluster = Cluster(tmp / "replicas.toml", database_url, tmp)
    code = 0
    try:
        write_config(cluster.config, simulator.url)
        sim = Simulator(simulator)
        started = time.monotonic()
        for n in range(1, args.instances + 1):
            cluster.start(f"i{n}")
            if n == 1:
                cluster.wait_agreed(args.phase_timeout)  # the first one started leads
        leader_id, epoch = cluster.wait_agreed(args.phase_timeout)
        print(f"  {leader_id} leads (epoch {epoch}); all {args.instances} agree after "
              f"{time.monotonic() - started:.2f} s", flush=True)

        cycles = change_cycles(cluster, sim, args.changes, args.phase_timeout)
        elected, writes, _ = failovers(cluster, sim, args.kills, args.phase_timeout)

        table(f"commit → follower index, {args.changes} changes, {args.instances - 1} followers (ms)", "ms",
              [*cycles["by_event"], *cycles["by_post"], *cycles["post"]])
        print("\n  followers' own measure (GET /api/v1/status replication.apply_latency_ms: commit end → "
              "published in the index, last 1,000 batches)")
        worst_p99 = None
        for name, latency in cycles["internal"]:
            if latency:
                print(f"  {name + ':':<58} {latency.get('count', 0):>5} {_ms(latency.get('p50'))} "
                      f"{_ms(latency.get('p99'))} {_ms(latency.get('max'))}")
                if latency.get("p99") is not None:
                    worst_p99 = max(worst_p99 or 0.0, latency["p99"])
            else:
                print(f"  {name + ':':<58} n/a (no replication.apply_latency_ms in /api/v1/status)")
        outside = sorted(v for s in cycles["by_event"] for v in s.values)
        outside_p99 = nearest_rank(outside, 0.99) if outside else None
        table(f"failover, {args.kills} SIGKILLs of the leader (s)", "s", [elected, writes])
        print()
        print(f"p99 commit → follower index: {_ms(worst_p99).strip()} ms by the followers' measure, "
              f"{_ms(outside_p99).strip()} ms from outside (event time → seen: commit included, ~2 ms poll); target ≤ "
              f"{TARGET_P99_MS:.0f} ms: {verdict(worst_p99, TARGET_P99_MS)}")
        print(f"takeover after SIGKILL: max {max(elected.values):.3f} s; target ≤ {TAKEOVER_BOUND_S:.0f} s: "
              f"{verdict(max(elected.values), TAKEOVER_BOUND_S)}" if elected.values else "takeover: n/a")
    except PhaseFailed as exc:
        print(f"FAILED: {exc}", flush=True)
        code = 1
    finally:
        cluster.stop()
        simulator.stop()
        if args.keep:
            print(f"kept schema {schema} and {tmp}")
        else:
            admin.cursor().execute(f"DROP SCHEMA {schema} CASCADE")
            shutil.rmtree(tmp, ignore_errors=True)
        admin.close()
    return code


def _ms(value: float | None) -> str:
    return f"{'n/a':>9}" if value is None else f"{value:>9.1f}"


def verdict(value: float | None, target: float) -> str:
    if value is None:
        return "n/a"
    return "met" if value <= target else "NOT met"


if __name__ == "__main__":
    sys.exit(main())
