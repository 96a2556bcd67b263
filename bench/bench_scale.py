"""The catalog core at operator scale: 1k, 10k and 100k models served by the simulator over HTTP.

For each size, a synthetic catalog (bench/catalogs.py: the real models.dev and LiteLLM records plus
seeded variants, over two catalogs and live providers of ten formats, one simulator tenant each)
is served by the simulator in its own process, and ``discovery serve`` runs as its own process
(refresh timers and health probes off, logs at WARNING). Printed per size:

- first, the real models.dev snapshot as the only source: cold ingest end to end (refresh start →
  commit, fetch included), on a fresh database each run;
- cold ingest: empty database, first refresh of every source committed (first run start → last
  commit, and from the process start);
- ready: a restart with the models in the store, process start → the API serving the stored catalog
  (``GET /api/v1/status`` counts every model), and → ``GET /readyz`` 200 (also every source tried once
  since the start);
- memory: peak (VmHWM) and current (VmRSS) of the serve process after the cold ingest, at ready,
  and steady (after the refreshes and the HTTP load, idle);
- unchanged refresh and 1%-changed refresh (``POST /api/v1/refresh?wait=true``): wall time until
  committed, and per run ``work_ms`` (after the body is read, until the commit ended; target
  ≤ 50 ms when nothing changed) and ``fetch_ms`` where the run rows have them, else ``duration_ms``;
  and the CPU the service used until it answered, and the simulator in the round (Linux): a round
  whose service CPU is close to its wall time is bound by the service's work, not by waiting;
- HTTP p50/p99 at 1 and 4 connections (wrk from another process, else bench/load.py's client);
  each of these repeats one URL, so its pages come from the service's page cache after the first.
  wrk's percentiles are corrected for coordinated omission: a connection that waited on a slow
  answer is counted as if it had gone on sending on schedule. So a single stall sets the p99.
  Measured here against a trivial server that stalled once for 150 ms in a 2 s run: 15,175
  requests, p50 0.12 ms, p99 129 ms. When the service's own request timer saw any answer over
  25 ms during a run, the line says how many (``[n of N over 25 ms in the service]``). That timer
  runs from the moment the HTTP server hands the request to the app to the last byte handed back;
  it does not see a request waiting before that (in the socket's backlog, or while the event loop
  waits for another thread to let go of the interpreter lock). So a p99 far over the p50 without
  such a note was no slow answer of the app itself: a stall of the machine, the load generator or
  another process, or of the service's event loop;
  then the capability query with every request a page not asked for before (2,000 distinct
  offsets, each sent once: wrk with a Lua script of the paths, else bench/load.py's client), the
  cost of a page made anew;
- the model-record cache hit rate under Zipf (s=1.1) traffic on ``GET /api/v1/models/<id>``, from
  ``GET /api/v1/status`` (``cache``) before and after ("n/a" where the service has no such field).

Then a summary table, and memory per extra model between sizes.

    python bench/bench_scale.py [--sizes 1000,10000,100000] [--runs 3] [--duration 5] [--keep]
                                [--zipf-requests 20000] [--phase-timeout S] [--max-rss-mb MB]

``--runs`` repeats the cheap phases (restart to ready, unchanged and 1%-changed refresh) and
reports medians; the cold ingest and the HTTP runs are done once per size. A size that misses a
deadline (``--phase-timeout``, default max(120, size/100) s per phase) or outgrows
``--max-rss-mb`` is stopped with the reason, and the next size goes on.
"""
from __future__ import annotations

import argparse
import bisect
import gc
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from catalogs import API_KEY_ENV, SyntheticCatalog, build_catalog, change_fraction, push_sources  # noqa: E402
from load import Latency, measure, measure_paths, run_client  # noqa: E402
from processes import PhaseFailed, ServeProcess, SimulatorProcess, compile_bytecode, process_cpu  # noqa: E402

QUERIES = ("capability", "provider+capability", "text search", "id glob", "sort by price", "one model")
CONNECTIONS = (1, 4)
ZIPF_S = 1.1
FRESH_PAGES = 2000
UNCHANGED_WORK_TARGET_MS = 50.0
MB = 2**20


# -- the service's settings ------------------------------------------------------------------------
def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(str(value))  # a TOML basic string


def write_config(path: Path, catalog: SyntheticCatalog, simulator_url: str, refresh_on_start: bool) -> Path:
    """A settings file for every source: timers far off, no health probes, no rate limits in the way."""
    lines = ["[service]", f"refresh_on_start = {_toml(refresh_on_start)}", "", "[bedrock]", "enabled = false", ""]
    for source in catalog.sources:
        keys = {**source.settings(simulator_url), "refresh_interval": 86400 * 30, "jitter": 0.0,
                "timeout": 120.0, "health_check_interval": 0.0, "manual_refresh_per_minute": 10_000,
                "rate_limit_rps": 1000.0, "rate_limit_burst": 1000, "max_body_mb": 64.0}
        lines.append(f"[providers.{_toml(source.name)}]")
        lines += [f"{key} = {_toml(value)}" for key, value in keys.items()]
        lines.append("")
    path.write_text("\n".join(lines))
    return path


# -- what a size measured --------------------------------------------------------------------------
@dataclass
class RefreshRound:
    """One refresh of every provider: wall time until committed and the runs' rows."""

    wall: float
    runs: list[dict[str, Any]]
    # CPU seconds the service and the simulator used in the round (None where not readable): the
    # round is bound by the service's CPU when that is close to the wall time.
    cpu: float | None = None
    simulator_cpu: float | None = None

    def field(self) -> str:
        """The per-run time reported: work_ms when the service records it, else duration_ms."""
        return "work_ms" if all(r.get("work_ms") is not None for r in self.runs) else "duration_ms"

    def worst(self, name: str | None = None) -> tuple[float, str]:
        name = name or self.field()
        run = max(self.runs, key=lambda r: r.get(name) or 0)
        return float(run.get(name) or 0), str(run.get("provider"))

    def total(self, name: str | None = None) -> float:
        name = name or self.field()
        return sum(float(r.get(name) or 0) for r in self.runs)

    def updated(self) -> int:
        return sum(int(r.get("updated") or 0) + int(r.get("added") or 0) + int(r.get("removed") or 0)
                   for r in self.runs)

    def describe(self) -> str:
        name = self.field()
        worst, who = self.worst(name)
        text = f"wall {self.wall:.3f} s; {name} max {worst:.0f} ({who}), sum {self.total(name):.0f}"
        if all(r.get("fetch_ms") is not None for r in self.runs):
            fetch, fetch_who = self.worst("fetch_ms")
            text += f"; fetch_ms max {fetch:.0f} ({fetch_who})"
        if name == "duration_ms":
            text += " [run rows have no work_ms/fetch_ms: duration_ms includes the fetch]"
        if self.cpu is not None:
            text += f"; CPU: service {self.cpu * 1000:.0f} ms"
            if self.simulator_cpu is not None:
                text += f", simulator {self.simulator_cpu * 1000:.0f} ms"
        return text


@dataclass
class SizeResult:
    size: int
    records: int = 0
    models: int | None = None
    cold: float | None = None
    cold_from_start: float | None = None
    ready: list[float] = field(default_factory=list)
    serving: list[float] = field(default_factory=list)
    memory: dict[str, dict[str, int]] = field(default_factory=dict)
    unchanged: list[RefreshRound] = field(default_factory=list)
    changed: list[RefreshRound] = field(default_factory=list)
    changed_models: list[int] = field(default_factory=list)
    latency: dict[tuple[str, int], Latency] = field(default_factory=dict)
    cache: str = "n/a"
    zipf: Latency | None = None
    uncached: dict[int, Latency] = field(default_factory=dict)
    error: str | None = None

    @property
    def steady_rss(self) -> int | None:
        return self.memory.get("steady", {}).get("VmRSS")


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


# -- phases ----------------------------------------------------------------------------------------
def query_paths(catalog: SyntheticCatalog, model_id: str) -> dict[str, str]:
    """The measured requests; the provider filter names the biggest provider that states tool calling."""
    big = catalog.biggest_live("openrouter").name
    return {
        "capability": "/api/v1/models?capability=vision,tool_calling&limit=100",
        "provider+capability": f"/api/v1/models?provider={big}&capability=tool_calling&limit=100",
        "text search": "/api/v1/models?q=llama&limit=100",
        "id glob": "/api/v1/models?id=openai/gpt-4*&limit=100",
        "sort by price": "/api/v1/models?sort=input_price&limit=100",
        "one model": f"/api/v1/models/{quote(model_id, safe='/:@')}",
    }


def catalog_ids(serve: ServeProcess, deadline: float) -> list[str]:
    """Every model id the service publishes, a page of 1,000 at a time."""
    ids: list[str] = []
    end = time.monotonic() + deadline
    while True:
        page = serve.get_json("/api/v1/models", limit=1000, offset=len(ids), sort="id")
        ids += [m["id"] for m in page["data"]]
        if not page["data"] or len(ids) >= page["total"]:
            return ids
        if time.monotonic() > end:
            raise serve.fail(f"listing the catalog's ids took over {deadline:g} s ({len(ids)} so far)")


def zipf_paths(ids: list[str], count: int, seed: int) -> list[str]:
    """``count`` detail paths, ids drawn by Zipf (s=1.1) over the ids in a seeded random rank order."""
    rng = random.Random(seed)
    ranked = rng.sample(ids, len(ids))
    cumulative, total = [], 0.0
    for k in range(1, len(ranked) + 1):
        total += k ** -ZIPF_S
        cumulative.append(total)
    picks = (bisect.bisect_left(cumulative, rng.random() * total) for _ in range(count))
    return ["/api/v1/models/" + quote(ranked[min(i, len(ranked) - 1)], safe="/:@") for i in picks]


def cache_counters(serve: ServeProcess) -> dict[str, Any] | None:
    """``GET /api/v1/status``'s ``cache`` object, or None where the service has none."""
    resp = serve.get("/api/v1/status")
    if resp.status_code != 200:
        return None
    cache = resp.json().get("cache") if isinstance(resp.json(), dict) else None
    return cache if isinstance(cache, dict) and {"hits", "misses"} <= set(cache) else None


def fresh_pages(path: str, matches: int, run: int, runs: int) -> list[str]:
    """Pages of ``path`` (a query with ``limit=100``) that no other run asks for: offsets within
    the matches, and limits of this run's own around 100 (the mean stays 100: 100, 98, 102... for
    the first run, 99, 101, 97... for the second). With wrk the run takes the pages it has time for
    (more than it can use); the Python client sends ``FRESH_PAGES`` of them."""
    offsets = range(max(1, matches - 100))
    limits = [100 + sign * step for step in range(run, 20, runs) for sign in ((1, -1) if step else (1,))]
    pages = [path.replace("limit=100", f"limit={limit}") + f"&offset={offset}" for limit in limits for offset in offsets]
    return pages if shutil.which("wrk") else pages[:FRESH_PAGES]


def zipf_hit_rate(serve: ServeProcess, ids: list[str], requests: int, tmp: Path, seed: int) -> tuple[str, Latency]:
    """(hit rate over the Zipf requests, or "n/a"; the requests' latency)."""
    paths_file = tmp / "zipf-paths.txt"
    paths_file.write_text("\n".join(zipf_paths(ids, requests, seed)))
    before = cache_counters(serve)
    latency = run_client(serve.url, 4, paths_file=paths_file)
    after = cache_counters(serve)
    if before is None or after is None:
        return "n/a (no cache counters in GET /api/v1/status)", latency
    hits = after["hits"] - before["hits"]
    lookups = hits + after["misses"] - before["misses"]
    rate = f"{hits / lookups:.1%}" if lookups else "n/a (no lookups counted)"
    extra = {k: after.get(k) for k in ("entries", "evictions", "bytes") if k in after}
    return f"{rate} of {lookups} lookups {json.dumps(extra)}", latency


def refresh_round(serve: ServeProcess, simulator: SimulatorProcess, deadline: float) -> RefreshRound:
    """One ``POST /api/v1/refresh?wait=true`` with the CPU the service and the simulator used."""
    before = process_cpu(simulator.proc.pid)
    wall, runs, cpu = serve.refresh_all(deadline)
    after = process_cpu(simulator.proc.pid)
    return RefreshRound(wall, runs, cpu, after - before if before is not None and after is not None else None)


SLOW_ANSWER = "0.025"  # a histogram bucket bound of the service's request timer, in seconds


def slow_answers(serve: ServeProcess) -> tuple[float, float]:
    """(answers so far, answers that took over SLOW_ANSWER s) to GET requests other than
    ``/metrics``, from the service's own request timer (``GET /metrics``, read with
    prometheus_client's parser): from the HTTP server handing the request to the app to the last
    byte handed back (not the time a request waited before that)."""
    from prometheus_client.parser import text_string_to_metric_families

    total = fast = 0.0
    for family in text_string_to_metric_families(serve.get("/metrics").text):
        if family.name != "discovery_http_request_duration_seconds":
            continue
        for sample in family.samples:
            labels = sample.labels
            if (sample.name.endswith("_bucket") and labels.get("method") == "GET"
                    and labels.get("route") != "/metrics"):
                if labels.get("le") == "+Inf":
                    total += sample.value
                elif labels.get("le") == SLOW_ANSWER:
                    fast += sample.value
    return total, total - fast


class ServiceTimed:
    """The answers the service itself timed over SLOW_ANSWER while a load ran (``with``)."""

    def __init__(self, serve: ServeProcess):
        self.serve = serve
        self.answers = self.slow = 0

    def __enter__(self) -> "ServiceTimed":
        self._before = slow_answers(self.serve)
        return self

    def __exit__(self, *exc: Any) -> None:
        if exc[0] is None:
            after = slow_answers(self.serve)
            self.answers = round(after[0] - self._before[0])
            self.slow = round(after[1] - self._before[1])

    def note(self) -> str:
        """Empty when none was slow; else how many, which tells a slow answer of the app from a
        stall elsewhere (see the module docstring on wrk's p99)."""
        return f" [{self.slow} of {self.answers:,} over {float(SLOW_ANSWER) * 1000:g} ms in the service]" if self.slow else ""


def memory_text(mem: dict[str, int]) -> str:
    return f"peak {mem['VmHWM'] / MB:.0f} MB, rss {mem['VmRSS'] / MB:.0f} MB"


def bench_size(size: int, args: argparse.Namespace, result: SizeResult) -> None:
    """Every phase for one catalog size; fills ``result`` as it goes."""
    deadline = args.phase_timeout or max(120.0, size / 100)
    catalog = build_catalog(size, seed=args.seed)
    # The catalog stays in this process to the end: out of the collector's way, so that this
    # process's own collections stay short while it times the service (see ServeProcess.refresh_all).
    gc.collect()
    gc.freeze()
    result.records = catalog.records
    names = [s.name for s in catalog.sources]
    tmp = Path(tempfile.mkdtemp(prefix=f"bench-scale-{size}-"))
    print(f"\n== {size:,} models: {catalog.records:,} records over {len(names)} sources ({tmp})", flush=True)
    simulator = SimulatorProcess(tmp / "simulator.log")
    serve: ServeProcess | None = None
    env = {API_KEY_ENV: "bench-key-for-the-simulator"}
    max_rss = int(args.max_rss_mb * MB)
    try:
        started = time.monotonic()
        push_sources(simulator.url, catalog.sources)
        print(f"  simulator {simulator.url} serving every source ({time.monotonic() - started:.1f} s)", flush=True)
        cold_config = write_config(tmp / "cold.toml", catalog, simulator.url, refresh_on_start=True)
        warm_config = write_config(tmp / "restart.toml", catalog, simulator.url, refresh_on_start=False)
        database = f"sqlite:///{tmp}/bench.db"

        serve = ServeProcess(cold_config, database, tmp / "serve.log", env, max_rss)
        runs = serve.wait_first_refreshes(names, deadline)
        first = min(r["started_at"] for r in runs.values())
        last = max(r["finished_at"] for r in runs.values())
        result.cold, result.cold_from_start = last - first, last - serve.started
        result.memory["ingest"] = serve.memory()
        slowest = max(runs.values(), key=lambda r: r.get("duration_ms") or 0)
        print(f"  cold ingest: {result.cold:.2f} s (first run start → last commit), {result.cold_from_start:.2f} s "
              f"from process start; slowest source {slowest['provider']} {slowest['duration_ms'] or 0:.0f} ms; "
              f"{memory_text(result.memory['ingest'])}", flush=True)
        published = serve.get_json("/api/v1/status")["catalog"]["models"]
        serve.stop()

        for i in range(args.runs):
            serve = ServeProcess(warm_config, database, tmp / "serve.log", env, max_rss)
            result.serving.append(serve.wait_serving(published, deadline))
            result.ready.append(serve.wait_ready(deadline))
            if i < args.runs - 1:
                serve.stop()
        assert serve is not None
        result.memory["ready"] = serve.memory()
        result.models = serve.get_json("/healthz")["models"]
        print(f"  serving the stored catalog after restart: {', '.join(f'{t:.2f}' for t in result.serving)} s; "
              f"/readyz 200 (refresh_on_start off: nothing else to wait for): {', '.join(f'{t:.2f}' for t in result.ready)} s; "
              f"{result.models:,} models published; {memory_text(result.memory['ready'])}", flush=True)

        for _ in range(args.runs):
            result.unchanged.append(refresh_round(serve, simulator, deadline))
            print(f"  unchanged refresh: {result.unchanged[-1].describe()}", flush=True)
        for i in range(args.runs):
            changed = change_fraction(catalog, 0.01, seed=i)
            push_sources(simulator.url, [catalog.source(name) for name in changed])
            result.changed.append(refresh_round(serve, simulator, deadline))
            result.changed_models.append(sum(changed.values()))
            print(f"  1%-changed refresh ({sum(changed.values())} models in {len(changed)} sources changed, "
                  f"{result.changed[-1].updated()} model changes committed): {result.changed[-1].describe()}",
                  flush=True)

        ids = catalog_ids(serve, deadline)
        paths = query_paths(catalog, ids[len(ids) // 2])
        for name in QUERIES:
            probe = serve.get(paths[name])
            if probe.status_code != 200:
                raise serve.fail(f"{name}: GET {paths[name]} answered {probe.status_code}: {probe.text[:200]}")
            total = probe.json().get("total")
            timed: dict[int, ServiceTimed] = {}
            for connections in CONNECTIONS:
                serve.check()
                with ServiceTimed(serve) as timed[connections]:
                    result.latency[name, connections] = measure(serve.url, paths[name], connections, args.duration)
            print(f"  {name:<20} {paths[name][:70]:<72} {'' if total is None else f'{total:>7,} matches'}  "
                  + "  ".join(f"c{c} p50/p99 {result.latency[name, c].cell()} ms{timed[c].note()}" for c in CONNECTIONS),
                  flush=True)

        # The queries above repeat one URL, so after the first request each page comes from the
        # service's page cache. Here every request is a page not asked for before (another offset).
        matches = serve.get(paths["capability"]).json()["total"]
        timed = {}
        for run, connections in enumerate(CONNECTIONS):
            fresh = tmp / f"fresh-pages-{connections}.txt"
            fresh.write_text("\n".join(fresh_pages(paths["capability"], matches, run, len(CONNECTIONS))))
            with ServiceTimed(serve) as timed[connections]:
                result.uncached[connections] = measure_paths(serve.url, fresh, connections, args.duration)
        print(f"  {'capability, new page':<20} {paths['capability'][:60] + '&offset=<each new>':<72} {'':>15}  "
              + "  ".join(f"c{c} p50/p99 {result.uncached[c].cell()} ms{timed[c].note()}" for c in CONNECTIONS)
              + f"  ({FRESH_PAGES:,} pages each, {result.uncached[CONNECTIONS[-1]].tool}: the page cache never helps)",
              flush=True)
        # The whole catalog as a LiteLLM model list: made once, then from the export's cache.
        made = []
        for _ in range(3):
            started = time.perf_counter()
            answer = serve.get("/api/v1/export/litellm")
            made.append(time.perf_counter() - started)
            if answer.status_code != 200:
                raise serve.fail(f"GET /api/v1/export/litellm answered {answer.status_code}: {answer.text[:200]}")
        print(f"  LiteLLM export        {len(answer.json()['model_list']):,} deployments, "
              f"{len(answer.content) / 1e6:.1f} MB: " + ", ".join(f"{seconds * 1000:.0f} ms" for seconds in made)
              + " (made once, then from its cache)", flush=True)
        result.cache, result.zipf = zipf_hit_rate(serve, ids, args.zipf_requests, tmp, args.seed)
        print(f"  model cache under Zipf s={ZIPF_S} ({args.zipf_requests:,} GET /api/v1/models/<id>, 4 connections, "
              f"p50/p99 {result.zipf.cell()} ms): hit rate {result.cache}", flush=True)
        time.sleep(2)  # let the last requests' garbage go before reading the steady size
        result.memory["steady"] = serve.memory()
        print(f"  steady (after the refreshes and the load, idle): {memory_text(result.memory['steady'])}", flush=True)
    finally:
        if serve is not None:
            serve.stop()
        simulator.stop()
        if args.keep:
            print(f"  kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


# -- printing --------------------------------------------------------------------------------------
def _num(value: float | None, fmt: str = "{:.2f}") -> str:
    return "n/a" if value is None else fmt.format(value)


def row_line(r: SizeResult) -> str:
    """One size in one line."""
    if r.error and r.models is None:
        return f"{r.size:>8,}  failed: {r.error.splitlines()[0]}"
    unchanged = median([x.wall for x in r.unchanged])
    changed = median([x.wall for x in r.changed])
    work = median([x.worst()[0] for x in r.unchanged])
    steady = r.steady_rss
    return (f"{r.size:>8,}  models {r.models or 0:>7,}  serving {_num(median(r.serving))} s  "
            f"readyz {_num(median(r.ready))} s  cold {_num(r.cold)} s  "
            f"unchanged {_num(unchanged, '{:.3f}')} s (worst run {_num(work, '{:.0f}')} ms)  "
            f"1% {_num(changed, '{:.3f}')} s  steady {_num(steady and steady / MB, '{:.0f}')} MB"
            + (f"  [stopped: {r.error.splitlines()[0]}]" if r.error else ""))


def print_summary(results: list[SizeResult], runs: int) -> None:
    print(f"\n== summary (medians of {runs} runs where repeated; times in s, memory in MB)")
    for r in results:
        print(row_line(r))
    head = ["", *[f"{r.size:,}" for r in results]]

    def line(label: str, cells: list[str]) -> str:
        return f"{label:<40}" + "".join(f"{c:>26}" for c in cells)

    print("\n" + line(head[0], head[1:]))
    rows: list[tuple[str, Any]] = [
        ("models published", lambda r: _num(r.models, "{:,}")),
        ("cold ingest (runs)", lambda r: _num(r.cold)),
        ("cold ingest (from process start)", lambda r: _num(r.cold_from_start)),
        ("serving after restart (stored catalog)", lambda r: _num(median(r.serving))),
        ("/readyz after restart (+ a refresh round)", lambda r: _num(median(r.ready))),
        ("peak RSS ingest / serving", lambda r: "/".join(_num(r.memory.get(k, {}).get("VmHWM") and
                                                              r.memory[k]["VmHWM"] / MB, "{:.0f}")
                                                         for k in ("ingest", "steady"))),
        ("RSS at ready / steady", lambda r: "/".join(_num(r.memory.get(k, {}).get("VmRSS") and
                                                          r.memory[k]["VmRSS"] / MB, "{:.0f}")
                                                     for k in ("ready", "steady"))),
        ("unchanged refresh wall", lambda r: _num(median([x.wall for x in r.unchanged]), "{:.3f}")),
        ("unchanged worst run ms", lambda r: (_num(median([x.worst()[0] for x in r.unchanged]), "{:.0f}")
                                              + (f" {r.unchanged[0].field()}" if r.unchanged else ""))),
        ("1%-changed refresh wall", lambda r: _num(median([x.wall for x in r.changed]), "{:.3f}")),
        ("1%-changed worst run ms", lambda r: _num(median([x.worst()[0] for x in r.changed]), "{:.0f}")),
        ("1%-changed service CPU ms", lambda r: _num(median([x.cpu * 1000 for x in r.changed if x.cpu is not None]),
                                                     "{:.0f}")),
    ]
    for label, cell in rows:
        print(line(label, [cell(r) for r in results]))
    for name in QUERIES:
        for c in CONNECTIONS:
            print(line(f"{name} c{c} p50/p99 ms",
                       [r.latency[name, c].cell() if (name, c) in r.latency else "n/a" for r in results]))
    for c in CONNECTIONS:
        print(line(f"capability, new page c{c} p50/p99 ms",
                   [r.uncached[c].cell() if c in r.uncached else "n/a" for r in results]))
    print(line("Zipf detail c4 p50/p99 ms", [r.zipf.cell() if r.zipf else "n/a" for r in results]))
    print(line("model cache hit rate (Zipf)", [r.cache.split(" ")[0] for r in results]))
    if any(r.unchanged and r.unchanged[0].field() == "work_ms" for r in results):
        # The target is the 10k row's (the table); other sizes are printed for comparison.
        for r in results:
            if not r.unchanged or r.unchanged[0].field() != "work_ms":
                continue
            worst = max(x.worst()[0] for x in r.unchanged)
            verdict = (f"target ≤ {UNCHANGED_WORK_TARGET_MS:.0f} ms: "
                       f"{'ok' if worst <= UNCHANGED_WORK_TARGET_MS else 'OVER'}" if r.size == 10_000 else "no target")
            print(f"unchanged refresh work after the body is read at {r.size:,}: worst {worst:.0f} ms; {verdict}")
    else:
        print("unchanged refresh target (≤ 50 ms of work after the body is read): n/a, the run rows have no work_ms")
    measured = {r.models: r.steady_rss for r in results if r.models and r.steady_rss}
    sizes = sorted(measured)
    for small, big in zip(sizes, sizes[1:]):
        per = (measured[big] - measured[small]) / (big - small)
        print(f"memory per extra model {small:,} → {big:,} (steady RSS): {per / 1024:.2f} KB")


def bench_modelsdev_alone(args: argparse.Namespace) -> list[tuple[float, float, int]]:
    """The real models.dev snapshot (the simulator's default) as the only source: cold ingest end
    to end, ``--runs`` times on a fresh database each. Returns (run start → commit, process start →
    commit, models) per run."""
    out = []
    tmp = Path(tempfile.mkdtemp(prefix="bench-scale-modelsdev-"))
    simulator = SimulatorProcess(tmp / "simulator.log")
    try:
        for i in range(args.runs):
            config = tmp / f"modelsdev-{i}.toml"
            config.write_text("\n".join([
                "[service]", "refresh_on_start = true", "", "[bedrock]", "enabled = false", "",
                "[providers.modelsdev]", 'format = "modelsdev"', f'base_url = "{simulator.url}/modelsdev"',
                "refresh_interval = 2592000", "health_check_interval = 0.0", "max_body_mb = 64.0", ""]))
            serve = ServeProcess(config, f"sqlite:///{tmp}/modelsdev-{i}.db", tmp / "serve.log", {}, 0)
            try:
                run = serve.wait_first_refreshes(["modelsdev"], 120.0)["modelsdev"]
                out.append((run["finished_at"] - run["started_at"], run["finished_at"] - serve.started, run["total"]))
                print(f"  models.dev alone, run {i + 1}: {run['total']:,} models; cold ingest "
                      f"{out[-1][0]:.2f} s (refresh start → commit: fetch {run.get('fetch_ms') or 0:.0f} ms, "
                      f"work {run.get('work_ms') or 0:.0f} ms), {out[-1][1]:.2f} s from process start", flush=True)
            finally:
                serve.stop()
    finally:
        simulator.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000", help="catalog sizes, comma-separated")
    parser.add_argument("--runs", type=int, default=3, help="repeats of the cheap phases (medians)")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds of each wrk run")
    parser.add_argument("--zipf-requests", type=int, default=20_000)
    parser.add_argument("--phase-timeout", type=float, default=0.0,
                        help="deadline of each phase in s (default: max(120, size/100))")
    parser.add_argument("--max-rss-mb", type=float, default=0.0, help="stop a size whose service grows past this")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directories (database, logs)")
    parser.add_argument("--skip-modelsdev", action="store_true", help="skip the models.dev-alone cold ingest")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    compile_bytecode()
    print(f"bench_scale: sizes {sizes}, {args.runs} runs, {args.duration:g} s per load run, "
          f"load by {'wrk' if shutil.which('wrk') else 'the Python client'}")
    if not args.skip_modelsdev:
        print("\n== models.dev (the real snapshot) as the only source, fresh database each run", flush=True)
        runs = bench_modelsdev_alone(args)
        if runs:
            print(f"  models.dev cold ingest: median {median([r[0] for r in runs]):.2f} s end to end "
                  f"(target ≤ 1.5 s), {median([r[1] for r in runs]):.2f} s from process start", flush=True)
    results = []
    for size in sizes:
        result = SizeResult(size)
        results.append(result)
        started = time.monotonic()
        try:
            bench_size(size, args, result)
        except PhaseFailed as exc:
            result.error = str(exc)
            print(f"  FAILED: {exc}", flush=True)
        print(f"  row: {row_line(result)}  ({time.monotonic() - started:.0f} s)", flush=True)
    if results:
        print_summary(results, args.runs)
    return 1 if any(r.error for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
