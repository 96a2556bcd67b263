"""One port under load: 1,000 open event streams plus queries, with refreshes changing models every 3 s.

    python bench/bench_one_port.py [--clients 1000] [--duration 60] [--refresh-every 3]
                                   [--query-connections 4] [--healthz-target 50] [--latency-target 50]

A real service (SQLite file, actors, the simulator over loopback HTTP) serves its one uvicorn
port. In other processes: ``--clients`` SSE streams (one process, non-blocking sockets, every
stream resuming from the same event id), a query load on ``/api/v1/models`` and a ``/healthz``
prober, both bench/load.py's client. Every ``--refresh-every`` seconds a model is added upstream
and the provider refreshed. Checked: ``/healthz`` p99 within ``--healthz-target`` ms, no error
anywhere (HTTP, stream ended, refresh failed), every client received every event exactly once and
in order; printed: commit → SSE client latency p50/p99 over every delivery (target p99 ≤
``--latency-target`` ms). The last line is a JSON summary; the exit code is 1 if a check failed.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import resource
import selectors
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Seconds the load runs before the first refresh.
WARMUP = 2.0
ID_LINE = re.compile(rb"^id: (\d+)$", re.M)
# Linux: the kernel stamps each received segment (wall clock, ns) and hands the stamp to recvmsg.
SO_TIMESTAMPNS = 35


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values) or [0.0]
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


# -- the SSE client process ----------------------------------------------------------------------

def sse_clients(port: int, n: int, since: int) -> None:
    """Open ``n`` streams resuming after ``since``; print "ready"; on a line from stdin print what each got.

    Each event is recorded with two times: when its bytes reached the client's socket (the
    kernel's receive stamp, wall clock) and when this process read them (monotonic). With a
    thousand sockets in one Python process the second includes this process's own queueing.
    """
    raise_fd_limit()
    sel = selectors.DefaultSelector()
    buffers: dict[socket.socket, bytes] = {}
    index: dict[socket.socket, int] = {}
    received: list[list[tuple[int, float, float]]] = [[] for _ in range(n)]
    status: list[int | None] = [None] * n
    ended = [False] * n
    request = f"GET /api/v1/events/stream?since={since} HTTP/1.0\r\nHost: bench\r\nAccept: text/event-stream\r\n\r\n"
    for i in range(n):
        s = socket.create_connection(("127.0.0.1", port))
        s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        s.sendall(request.encode())
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
        buffers[s], index[s] = b"", i
    sel.register(sys.stdin, selectors.EVENT_READ)
    connected = 0
    seen: set[int] = set()
    ready = False
    while True:
        for key, _ in sel.select(timeout=1.0):
            if key.fileobj is sys.stdin:
                sys.stdin.readline()
                for s in index:
                    s.close()
                json.dump({"received": received, "status": status, "ended": ended}, sys.stdout)
                sys.stdout.flush()
                return
            s = key.fileobj
            i = index[s]
            try:
                data, ancillary, _, _ = s.recvmsg(262144, 64)
            except OSError:
                data, ancillary = b"", []
            now = time.perf_counter()
            arrived = next((sec + nsec / 1e9 for level, kind, raw in ancillary if kind == SO_TIMESTAMPNS
                            for sec, nsec in [struct.unpack("ll", raw[:16])]), time.time())
            if not data:
                sel.unregister(s)
                ended[i] = True
                continue
            buf = buffers[s] + data
            if status[i] is None and b"\r\n" in buf:
                status[i] = int(buf.split(b" ", 2)[1])
            cut = buf.rfind(b"\n") + 1
            for m in ID_LINE.finditer(buf, 0, cut):
                received[i].append((int(m.group(1)), now, arrived))
            if i not in seen and b": connected" in buf[:cut]:
                seen.add(i)
                connected += 1
            buffers[s] = buf[cut:]
        if not ready and connected >= n:
            ready = True
            print("ready", flush=True)


# -- the service side ----------------------------------------------------------------------------

class CommitClock:
    """Notes when each event's transaction returned (the commit), on the bench's monotonic clock."""

    def __init__(self) -> None:
        from discovery import refresh_commit

        self.at: dict[int, float] = {}
        self.wall: dict[int, float] = {}
        original = refresh_commit.commit_refresh

        def timed(write: Any, now: Any = None) -> Any:
            result = original(write, now)
            t, wall = time.perf_counter(), time.time()
            for e in result.events:
                self.at[e.id] = t
                self.wall[e.id] = wall
            return result

        refresh_commit.commit_refresh = timed


def load_client(base: str, path: str, connections: int, duration: float) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(ROOT / "bench" / "load.py"), "--base", base, "--path", path,
                             "--connections", str(connections), "--duration", str(duration)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def load_result(proc: subprocess.Popen, timeout: float) -> dict[str, Any]:
    out, err = proc.communicate(timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"load client failed: {err[-500:]}")
    return json.loads(out.strip().splitlines()[-1])


def run(clients: int, duration: float, refresh_every: float, query_connections: int,
        healthz_target: float, latency_target: float) -> dict[str, Any]:
    from actors.service import start_service
    from discovery.settings import ProviderConfig, Settings
    from discovery.simulator import SimulatorServer
    from web.server import ServerThread, raise_open_file_limit

    raise_open_file_limit()
    clock = CommitClock()
    with tempfile.TemporaryDirectory() as tmp:
        sim = SimulatorServer().start()
        source = ProviderConfig(name="openai", format="openai_compatible", base_url=sim.base_url("openai"),
                                refresh_interval=3600, manual_refresh_per_minute=1_000_000, health_check_interval=0)
        settings = Settings(database_url=f"sqlite:///{tmp}/bench.db", providers=(source,), batch_max_delay=0.0,
                            sse_heartbeat=5.0, sse_max_streams=clients + 100)
        service = start_service(settings)
        server = None
        sse = None
        try:
            deadline = time.monotonic() + 30
            while service.last_event_id() == 0 and time.monotonic() < deadline:
                time.sleep(0.05)
            server = ServerThread(service).start()
            start_id = service.last_event_id()
            sse = subprocess.Popen([sys.executable, __file__, "--sse-clients", str(server.port), str(clients),
                                    str(start_id)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            ready = sse.stdout.readline().strip()
            if ready != "ready":
                raise RuntimeError(f"the SSE clients did not connect: {ready!r}")
            while server.app.hub.stream_count < clients and time.monotonic() < deadline + 30:
                time.sleep(0.05)
            queries = load_client(server.url, "/api/v1/models?limit=50&sort=-context_window", query_connections,
                                  duration + WARMUP)
            probes = load_client(server.url, "/healthz", 1, duration + WARMUP)
            # The load processes start (imports take a second of CPU) before the first commit.
            time.sleep(WARMUP)
            refresh_errors: list[str] = []
            commits = 0
            started = time.monotonic()
            n = 0
            while time.monotonic() - started < duration:
                n += 1
                sim.state.add_model("openai", {"id": f"load-{n}", "object": "model", "created": 1750000000 + n,
                                               "owned_by": "bench"})
                if n > 3:
                    sim.state.remove_model("openai", f"load-{n - 3}")
                (outcome,) = service.wait([service.refresh("openai")], timeout=30)
                if outcome.outcome != "succeeded":
                    refresh_errors.append(outcome.error or "failed")
                commits += 1
                time.sleep(max(0.0, started + n * refresh_every - time.monotonic()))
            query = load_result(queries, duration + 120)
            health = load_result(probes, duration + 120)
            # Let the last commit's events reach every client, then collect.
            final = service.last_event_id()
            time.sleep(1.0 + clients / 1000)
            out, _ = sse.communicate("stop\n", timeout=120)
            sse = None
            got = json.loads(out)
            expected = [e.id for e in service.events_after(start_id, 1_000_000)]
        finally:
            if sse is not None:
                sse.kill()
            if server is not None:
                server.stop()
            service.stop()
            sim.stop()
    complete = sum(1 for r in got["received"] if [i for i, _, _ in r] == expected)
    bad_status = sum(1 for s in got["status"] if s != 200)
    ended = sum(1 for e in got["ended"] if e)
    # Commit → the event's bytes at the client's socket; and → read by the client process.
    latencies = [(arrived - clock.wall[i]) * 1000 for r in got["received"] for i, _, arrived in r if i in clock.wall]
    read = [(t - clock.at[i]) * 1000 for r in got["received"] for i, t, _ in r if i in clock.at]
    per_event: dict[int, list[float]] = {}
    for r in got["received"]:
        for i, _, arrived in r:
            if i in clock.wall:
                per_event.setdefault(i, []).append((arrived - clock.wall[i]) * 1000)
    summary = {
        "clients": clients, "duration_s": duration, "commits": commits, "events": len(expected),
        "last_event_id": final, "clients_with_every_event_once_in_order": complete,
        "streams_not_200": bad_status, "streams_ended": ended, "refresh_errors": len(refresh_errors),
        "healthz": {"requests": health["requests"], "errors": health["errors"], "p50_ms": health["p50_ms"],
                    "p99_ms": health["p99_ms"]},
        "queries": {"requests": query["requests"], "errors": query["errors"], "p50_ms": query["p50_ms"],
                    "p99_ms": query["p99_ms"], "rps": round(query["rps"], 1)},
        "commit_to_sse_ms": {"samples": len(latencies), "p50": percentile(latencies, 0.5),
                             "p99": percentile(latencies, 0.99), "max": max(latencies or [0.0]),
                             # Per event: the first and the last client to receive it.
                             "per_event": {i: [round(min(v), 1), round(max(v), 1)] for i, v in per_event.items()}},
        "commit_to_client_read_ms": {"p50": percentile(read, 0.5), "p99": percentile(read, 0.99),
                                     "max": max(read or [0.0])},
    }
    errors = health["errors"] + query["errors"] + bad_status + ended + len(refresh_errors)
    summary["errors"] = errors
    summary["ok"] = (errors == 0 and complete == clients and summary["healthz"]["p99_ms"] <= healthz_target
                     and bool(expected))
    summary["latency_target_met"] = summary["commit_to_sse_ms"]["p99"] <= latency_target
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--refresh-every", type=float, default=3.0)
    parser.add_argument("--query-connections", type=int, default=4)
    parser.add_argument("--healthz-target", type=float, default=50.0)
    parser.add_argument("--latency-target", type=float, default=50.0)
    parser.add_argument("--sse-clients", nargs=3, metavar=("PORT", "N", "SINCE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sse_clients:
        sse_clients(*(int(v) for v in args.sse_clients))
        return 0
    raise_fd_limit()
    from loguru import logger

    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus; {args.clients} SSE clients, "
          f"{args.query_connections} query connections and a /healthz prober for {args.duration:g} s, "
          f"a refresh changing models every {args.refresh_every:g} s, one port", flush=True)
    s = run(args.clients, args.duration, args.refresh_every, args.query_connections, args.healthz_target,
            args.latency_target)
    h, q, c = s["healthz"], s["queries"], s["commit_to_sse_ms"]
    print(f"streams: {s['clients_with_every_event_once_in_order']}/{s['clients']} got all {s['events']} events "
          f"exactly once in order; {s['streams_not_200']} refused, {s['streams_ended']} ended early", flush=True)
    print(f"/healthz: {h['requests']} requests, {h['errors']} errors, p50 {h['p50_ms']:.2f} ms, "
          f"p99 {h['p99_ms']:.2f} ms (target ≤ {args.healthz_target:g} ms)", flush=True)
    print(f"/api/v1/models: {q['requests']} requests ({q['rps']}/s), {q['errors']} errors, p50 {q['p50_ms']:.2f} ms, "
          f"p99 {q['p99_ms']:.2f} ms", flush=True)
    r = s["commit_to_client_read_ms"]
    print(f"commit → SSE client (bytes at its socket): {c['samples']} deliveries, p50 {c['p50']:.2f} ms, "
          f"p99 {c['p99']:.2f} ms, max {c['max']:.2f} ms (target p99 ≤ {args.latency_target:g} ms: "
          f"{'ok' if s['latency_target_met'] else 'MISSED'})", flush=True)
    print(f"commit → read by the one client process serving all {s['clients']} streams: p50 {r['p50']:.2f} ms, "
          f"p99 {r['p99']:.2f} ms, max {r['max']:.2f} ms", flush=True)
    print(f"{s['commits']} commits, {s['refresh_errors']} failed; errors in all: {s['errors']}; "
          f"{'ok' if s['ok'] else 'FAILED'}", flush=True)
    print(json.dumps(s), flush=True)
    return 0 if s["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
