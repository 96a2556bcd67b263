"""Fan-out: 50 live providers and 30 Bedrock regions, each answering in 0.2-1 s, refreshed at once.

Every source is refreshed in parallel, so discovering them all (every answer committed) should
take about the slowest source's latency: target ≤ 1.15 x. The latencies are spread evenly over
0.2-1 s and dealt out in a seeded random order. The 50 providers (bench/catalogs.py) cycle through
ten wire formats, each a simulator tenant with a model set of its own; the simulator runs in its
own process, the service in this one (``start_service``).

Prints the ratio to the slowest latency of: cold (empty database, ``start_service`` → every source
committed), one fresh service per round; and warm (refresh every provider and region of the
running service → every run committed).

Each round also prints the CPU the process used until its last commit, and (on Linux) how the
service's threads shared it: the writer, the regions' and the providers' I/O threads (their
fetches, parses and normalizing), the actors, and the rest. The split is read at the poll that
saw the last commit, so it can include up to half a second of work after it. The first cold round
of a run is slower than the others: it also pays what a process does only once (botocore loading
its endpoint and service data, first imports); the median is over all rounds. The work of a round
(starting the actors, parsing and normalizing every answer, botocore's clients and calls, the
writer's merge and commit) runs under one interpreter lock, so a round cannot take less wall time
than that CPU: when the CPU is close to the wall time, the round is bound by the machine's speed,
not by waiting. The first line gives the machine's speed (a fixed pure-Python loop), to compare
runs on machines, or hours, that differ.

A third phase, first discovery, separates the start of a service from the catalog's first
ingest: a fresh service per round on an empty database with ``refresh_on_start`` off, its 80
actors left to start, then every source refreshed at once (→ every run committed). Its sources are
all new to the catalog, as in a cold round, but no actor or thread starts inside the round (each
region still makes its boto3 client at its first refresh). It is printed for comparison; the
target is the cold round's.

Each cold round also prints its floor, from the simulator's request log: the latest, over all
sources, of when the simulator received the source's last request plus its latency. No processing
ends the round before that, so a floor over 1.15 x means the sources were asked too late (boto3
makes a client per region and signs each call, under the same lock as the answers already being
processed), and the gap between the floor and the round is the processing after it.

    python bench/bench_fanout.py [--providers 50] [--regions 30] [--rounds 5] [--models 60] [--first-rounds 5]
"""
from __future__ import annotations

import argparse
import bisect
import dataclasses
import math
import os
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
import timeit
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from catalogs import API_KEY_ENV, CatalogSource, fanout_sources, push_sources, set_latencies  # noqa: E402
from processes import PhaseFailed, SimulatorProcess, compile_bytecode  # noqa: E402

from actors.service import Service, start_service  # noqa: E402
from discovery.settings import BedrockSettings, ProviderConfig, Settings  # noqa: E402
from discovery.simulator.formats.bedrock import NOT_OFFERED, REGIONS  # noqa: E402

LIMIT = 1.15
DEADLINE = 60.0


def settings_for(sources: list[CatalogSource], regions: list[str], simulator_url: str, database: str) -> Settings:
    """Every provider and region pointed at the simulator; timers far off, no health probes."""
    providers = tuple(ProviderConfig(name=s.name, format=s.format, base_url=s.base_url(simulator_url),
                                     api_key_env=API_KEY_ENV, refresh_interval=86400.0, jitter=0.0, timeout=10.0,
                                     health_check_interval=0.0, manual_refresh_per_minute=10_000,
                                     rate_limit_rps=1000.0, rate_limit_burst=1000)
                      for s in sources)
    bedrock = BedrockSettings(enabled=True, regions=tuple(regions), endpoint_url=simulator_url + "/bedrock/{region}",
                              timeout=10.0, refresh_interval=86400.0)
    return Settings(database_url=database, batch_max_delay=0.01, providers=providers, bedrock=bedrock)


class CpuClock:
    """The process's CPU time sampled every 10 ms, to read the CPU used up to a past moment."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-cpu-clock", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.time(), time.process_time()))
            self._stop.wait(0.01)

    def at(self, wall: float) -> float:
        """Process CPU seconds at the last sample taken at or before ``wall`` (time.time())."""
        at = bisect.bisect_right(self.samples, (wall, math.inf))  # samples are in time order
        return self.samples[at - 1][1] if at else self.samples[0][1]

    def between(self, start: float, end: float) -> float:
        return self.at(end) - self.at(start)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


# Where a cold round's CPU went, by the threads that spent it (their names).
THREAD_GROUPS = (("writer", ("CatalogActor",)), ("region I/O", ("io-bedrock@",)), ("provider I/O", ("io-",)),
                 ("actors", ("ProviderActor", "BedrockRegionActor")))


def thread_cpu(skip: set[int]) -> dict[str, float]:
    """CPU seconds each group of this process's live threads has used since it started (Linux:
    /proc/self/task/<tid>/schedstat, nanosecond precision); threads in ``skip`` are left out.

    Every cold round starts a new service, so its threads are new: their totals are the round's.
    Empty where /proc is not there.
    """
    out: dict[str, float] = {}
    for thread in threading.enumerate():
        if thread.native_id is None or thread.native_id in skip:
            continue
        try:
            with open(f"/proc/self/task/{thread.native_id}/schedstat") as fh:
                seconds = int(fh.read().split()[0]) / 1e9
        except (OSError, ValueError, IndexError):
            continue
        group = next((label for label, prefixes in THREAD_GROUPS if thread.name.startswith(prefixes)), "other")
        out[group] = out.get(group, 0.0) + seconds
    return out


def machine_speed() -> float:
    """Milliseconds for ``sum(range(10**6))``, best of 5: the machine's pure-Python speed."""
    return min(timeit.repeat("sum(range(10**6))", number=20, repeat=5)) / 20 * 1000


def wait_committed(service: Service, providers: list[str], regions: list[str], since: float) -> tuple[float, float]:
    """(seconds from ``since`` to the last commit, to the last provider refresh's start), once every
    provider and region has committed after ``since``.

    Times come from the run rows and the region board, so the poll's pace does not count.
    """
    end = time.monotonic() + DEADLINE
    while time.monotonic() < end:
        runs = [r for r in service.refresh_runs(limit=1000) if (r["started_at"] or 0) >= since]
        done = {r["provider"]: r for r in runs if r["outcome"] == "succeeded"}
        failed = [r for r in runs if r["outcome"] == "failed"]
        if failed:
            raise PhaseFailed(f"refresh failed: {failed[0]['provider']}: {failed[0]['error']}")
        board = {r["region"]: r.get("last_success_at") or 0 for r in service.bedrock_regions()}
        if all(p in done for p in providers) and all(board.get(r, 0) >= since for r in regions):
            last_commit = max([done[p]["finished_at"] for p in providers] + [board[r] for r in regions])
            last_start = max((done[p]["started_at"] for p in providers), default=since)
            return last_commit - since, last_start - since
        # A benchmark's poll, not a test's wait; the times come from the run rows, so the poll's
        # pace does not change them, and each poll (the run rows, the region board) takes CPU from
        # the service being measured: at 10 a second it was about a tenth of the cold round's.
        time.sleep(0.5)
    raise PhaseFailed(f"not every provider and region committed within {DEADLINE:g} s")


def wait_started(service: Service, deadline: float = DEADLINE) -> None:
    """Until every provider's and region's actor is running (a started service; nothing refreshed)."""
    end = time.monotonic() + deadline
    names = service.source_names()
    while time.monotonic() < end:
        refs = service.supervisor.refs(names).get(timeout=10)
        if all(ref is not None and ref.is_alive() for ref in refs.values()):
            return
        time.sleep(0.05)
    raise PhaseFailed(f"not every actor started within {deadline:g} s")


def refresh_everything(service: Service, names: list[str]) -> tuple[float, int]:
    """Refresh every provider and region at once (``refresh_all`` starts the regions too) and wait
    until each run has committed: (seconds, sources refreshed)."""
    since = time.time()
    tickets = service.refresh_all()
    started = sorted(t.provider for t in tickets)
    if started != sorted(names):
        raise PhaseFailed(f"refresh_all started {len(started)} refreshes for {len(names)} sources")
    bad = [o for o in service.wait(tickets, timeout=DEADLINE) if o.outcome != "succeeded"]
    if bad:
        raise PhaseFailed(f"refresh failed: {bad[0].provider}: {bad[0].error}")
    return time.time() - since, len(tickets)


def print_split(split: dict[str, float]) -> None:
    """A round's CPU by group of threads (``thread_cpu``), in THREAD_GROUPS' order."""
    if split:
        labels = [label for label, _ in THREAD_GROUPS] + ["other"]
        print("  CPU by thread: " + ", ".join(f"{label} {split[label]:.2f} s" for label in labels if label in split)
              + f" (sum {sum(split.values()):.2f} s)", flush=True)


def asked_floor(simulator_url: str, sources: list[CatalogSource], regions: list[str], latency: dict[str, float],
                since: float) -> tuple[float, str] | None:
    """(seconds from ``since``, source): the earliest the round could have ended, given when the
    simulator received each source's requests: the last request (a list's last page, or the later
    of a region's two calls) plus that source's latency, the latest over all sources.

    No processing, however fast, ends the round before its last answer is sent, so this is the
    floor set by how soon each source was asked. None if a source's request log says nothing.
    """
    admins = [(s.name, f"/t/{s.name}/_admin/{s.route}") for s in sources]
    admins += [(f"bedrock@{r}", f"/_admin/bedrock@{r}") for r in regions]
    floor: tuple[float, str] | None = None
    with requests.Session() as http:
        for name, admin in admins:
            resp = http.get(f"{simulator_url}{admin}/requests", timeout=30)
            resp.raise_for_status()
            log = resp.json().get("requests") or []
            times = [r["at"] for r in log if isinstance(r.get("at"), (int, float)) and r["at"] >= since]
            if not times:
                return None
            ends = max(times) + latency[name] - since
            if floor is None or ends > floor[0]:
                floor = (ends, name)
    return floor


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--providers", type=int, default=50)
    parser.add_argument("--regions", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--models", type=int, default=60, help="models per provider")
    parser.add_argument("--first-rounds", type=int, default=5,
                        help="rounds of first discovery in a started service (0: skip)")
    args = parser.parse_args()
    compile_bytecode()
    print(f"machine speed: sum(range(10**6)) takes {machine_speed():.1f} ms (best of 5); the CPU a round "
          f"needs scales with it", flush=True)
    # Dummy credentials for this process only: they go nowhere but the simulator.
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "AKIDBENCHMARK")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench-secret")
    os.environ.setdefault(API_KEY_ENV, "bench-key-for-the-simulator")
    os.environ.setdefault("DISCOVERY_LOG_LEVEL", "WARNING")
    from loguru import logger

    logger.remove()
    logger.add(sys.stderr, level=os.environ["DISCOVERY_LOG_LEVEL"])

    sources = fanout_sources(args.providers, args.models)
    regions = [r for r in REGIONS if r not in NOT_OFFERED][:args.regions]
    names = [s.name for s in sources] + [f"bedrock@{r}" for r in regions]
    order = random.Random(7).sample(names, len(names))
    latency = {n: round(0.2 + 0.8 * i / max(1, len(order) - 1), 3) for i, n in enumerate(order)}
    slowest = max(latency.values())
    tmp = Path(tempfile.mkdtemp(prefix="bench-fanout-"))
    simulator = SimulatorProcess(tmp / "simulator.log")
    service = None
    clock = CpuClock()
    cold: list[float] = []
    warm: list[float] = []
    first: list[float] = []
    floors: list[float] = []  # per cold round, the asked_floor
    try:
        push_sources(simulator.url, sources)
        set_latencies(simulator.url, [(s.name, s.route, latency[s.name]) for s in sources]
                      + [(None, f"bedrock@{r}", latency[f"bedrock@{r}"]) for r in regions])
        provider_names = [s.name for s in sources]
        # This process's own threads (the bench's, the clock's) are not the service's.
        own_threads = {t.native_id for t in threading.enumerate() if t.native_id is not None}
        for i in range(args.rounds):
            if service is not None:
                service.stop()
            settings = settings_for(sources, regions, simulator.url, f"sqlite:///{tmp}/cold-{i}.db")
            started = time.time()
            service = start_service(settings)
            returned = time.time() - started
            seconds, last_start = wait_committed(service, provider_names, regions, started)
            cold.append(seconds)
            cpu = clock.between(started, started + seconds)
            split = thread_cpu(own_threads)  # before the floor's requests, which only add time after the round
            floor = asked_floor(simulator.url, sources, regions, latency, started)
            if floor is not None:
                floors.append(floor[0])
            print(f"cold round {i + 1}: {seconds:.3f} s, ratio {seconds / slowest:.2f}, process CPU {cpu:.2f} s "
                  f"(start_service returned after {returned:.3f} s; the last provider refresh began at "
                  f"{last_start:.3f} s)", flush=True)
            if floor is not None:
                print(f"  asked in time for {floor[0]:.3f} s at best (ratio {floor[0] / slowest:.2f}; the last answer "
                      f"the simulator could send was {floor[1]}'s); {seconds - floor[0]:.3f} s went on after it",
                      flush=True)
            print_split(split)
        assert service is not None
        for i in range(args.rounds):
            since = time.time()
            seconds, count = refresh_everything(service, names)
            warm.append(seconds)
            cpu = clock.between(since, since + seconds)
            print(f"warm round {i + 1}: {seconds:.3f} s, ratio {seconds / slowest:.2f}, process CPU {cpu:.2f} s "
                  f"({count} sources)", flush=True)
        models = len(service.index)
        for i in range(args.first_rounds):
            service.stop()
            settings = dataclasses.replace(settings_for(sources, regions, simulator.url, f"sqlite:///{tmp}/first-{i}.db"),
                                           refresh_on_start=False)
            service = start_service(settings)
            wait_started(service)
            before = thread_cpu(own_threads)
            since = time.time()
            seconds, count = refresh_everything(service, names)
            first.append(seconds)
            cpu = clock.between(since, since + seconds)
            after = thread_cpu(own_threads)
            split = {label: after[label] - before.get(label, 0.0) for label in after}
            floor = asked_floor(simulator.url, sources, regions, latency, since)
            print(f"first discovery round {i + 1}: {seconds:.3f} s, ratio {seconds / slowest:.2f}, process CPU "
                  f"{cpu:.2f} s ({count} sources, {len(service.index):,} models)"
                  + (f"; asked in time for {floor[0]:.3f} s at best (ratio {floor[0] / slowest:.2f}, {floor[1]})"
                     if floor is not None else ""), flush=True)
            print_split(split)
    finally:
        if service is not None:
            service.stop()
        simulator.stop()
        clock.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"{len(sources)} providers ({len({s.format for s in sources})} formats) + {len(regions)} Bedrock regions, "
          f"latency 0.2-{slowest:g} s each, {models:,} models in the catalog")
    if floors:
        print(f"cold rounds' floor from when their sources were asked: median {statistics.median(floors):.3f} s, "
              f"ratio {statistics.median(floors) / slowest:.2f} (best {min(floors) / slowest:.2f})")
    ok = True
    for label, rounds in (("cold (empty database, start_service → all committed)", cold),
                          ("warm (refresh everything → all committed)", warm)):
        median = statistics.median(rounds)
        ok = ok and median / slowest <= LIMIT
        print(f"{label}: median {median:.3f} s, ratio {median / slowest:.2f} (best {min(rounds) / slowest:.2f}, "
              f"worst {max(rounds) / slowest:.2f}); target ≤ {LIMIT}: {'ok' if median / slowest <= LIMIT else 'OVER'}")
    if first:
        median = statistics.median(first)
        print(f"first discovery (started service, empty database; refresh everything → all committed): median "
              f"{median:.3f} s, ratio {median / slowest:.2f} (best {min(first) / slowest:.2f}, worst "
              f"{max(first) / slowest:.2f}); for comparison with the cold rounds")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
