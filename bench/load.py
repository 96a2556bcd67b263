"""HTTP load from a second process on loopback: ``wrk --latency`` where installed, else this file's client.

As a script it is the fallback client: keep-alive connections, one thread each, over a fixed list
of paths (each sent once, shared by the connections in order) or one path for a duration; prints
one JSON line with the request count, errors and latency percentiles::

    python bench/load.py --base http://127.0.0.1:8080 --path /api/v1/models --connections 4 --duration 5
    python bench/load.py --base http://127.0.0.1:8080 --paths-file zipf.txt --connections 4
"""
from __future__ import annotations

import argparse
import http.client
import json
import re
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

WRK_TIMEOUT = "10s"
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}
_PERCENTILE = re.compile(r"^\s*(50|75|90|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s|m)\s*$")


@dataclass(frozen=True)
class Latency:
    """What one load run measured; latencies in milliseconds."""

    p50: float
    p99: float
    requests: int
    errors: int
    rps: float
    tool: str

    def cell(self) -> str:
        """``p50/p99`` for a table cell; errors are flagged."""
        flag = f" ({self.errors} err)" if self.errors else ""
        return f"{self.p50:.2f}/{self.p99:.2f}{flag}"


def nearest_rank(ordered: list[float], q: float) -> float:
    """The q-quantile (0..1) of an ascending list, nearest rank."""
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def parse_wrk(text: str) -> Latency:
    """wrk's ``--latency`` report: the 50% and 99% lines, requests, errors and Requests/sec."""
    percentiles = {}
    for line in text.splitlines():
        found = _PERCENTILE.match(line)
        if found:
            percentiles[found.group(1)] = float(found.group(2)) * _UNITS[found.group(3)]
    if "50" not in percentiles or "99" not in percentiles:
        raise ValueError(f"no latency distribution in wrk's output:\n{text}")
    total = re.search(r"^\s*(\d+) requests in", text, re.M)
    rps = re.search(r"^Requests/sec:\s*([\d.]+)", text, re.M)
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses:\s*(\d+)", text))
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if socket_errors:
        errors += sum(int(n) for n in socket_errors.groups())
    return Latency(percentiles["50"], percentiles["99"], int(total.group(1)) if total else 0, errors,
                   float(rps.group(1)) if rps else 0.0, "wrk")


def run_wrk(url: str, connections: int, duration: float) -> Latency:
    """``wrk -t1 -c<connections> -d<duration> --latency <url>`` (one thread: the machine is small)."""
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s", "--latency",
                          "--timeout", WRK_TIMEOUT, url],
                         capture_output=True, text=True, timeout=duration + 60)
    if out.returncode != 0:
        raise RuntimeError(f"wrk failed ({out.returncode}): {out.stderr.strip() or out.stdout.strip()}")
    return parse_wrk(out.stdout)


# wrk over a list of paths, each sent at most once (shared in order by the connections). wrk runs
# for its whole duration: a list used up before then stops the thread's requests, and the rest of
# the time is idle. The list is read in init, before the clock starts.
_WRK_PATHS_SCRIPT = """
local paths, n = {}, 0
function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then paths[#paths + 1] = line end
  end
end
function request()
  n = n + 1
  if n > #paths then
    wrk.thread:stop()
    n = #paths
  end
  return wrk.format("GET", paths[n])
end
"""


def run_wrk_paths(base: str, paths_file: Path, connections: int, duration: float) -> Latency:
    """``wrk`` for ``duration`` with a Lua script that sends the paths of ``paths_file`` in order,
    each at most once (make the list longer than the run can use)."""
    script = paths_file.with_suffix(".lua")
    script.write_text(_WRK_PATHS_SCRIPT)
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s", "--latency",
                          "--timeout", WRK_TIMEOUT, "-s", str(script), base, "--", str(paths_file)],
                         capture_output=True, text=True, timeout=duration + 60)
    if out.returncode != 0:
        raise RuntimeError(f"wrk failed ({out.returncode}): {out.stderr.strip() or out.stdout.strip()}")
    return parse_wrk(out.stdout)


def measure_paths(base: str, paths_file: Path, connections: int, duration: float) -> Latency:
    """Latency over a list of paths, each sent at most once: wrk for ``duration`` when installed,
    else the Python client (every path, whatever the time)."""
    if shutil.which("wrk"):
        return run_wrk_paths(base, paths_file, connections, duration)
    return run_client(base, connections, paths_file=paths_file)


def run_client(base: str, connections: int, *, path: str | None = None, paths_file: Path | None = None,
               duration: float = 5.0) -> Latency:
    """This file's client in its own process (see the module docstring)."""
    cmd = [sys.executable, __file__, "--base", base, "--connections", str(connections), "--duration", str(duration)]
    cmd += ["--path", path] if path is not None else ["--paths-file", str(paths_file)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 600)
    if out.returncode != 0:
        raise RuntimeError(f"load client failed ({out.returncode}): {out.stderr.strip()[-400:]}")
    doc = json.loads(out.stdout.strip().splitlines()[-1])
    return Latency(doc["p50_ms"], doc["p99_ms"], doc["requests"], doc["errors"], doc["rps"], "python")


def measure(base: str, path: str, connections: int, duration: float) -> Latency:
    """Latency of ``GET path`` at ``connections``: wrk when installed, else the Python client."""
    if shutil.which("wrk"):
        return run_wrk(base + path, connections, duration)
    return run_client(base, connections, path=path, duration=duration)


# -- the client process ----------------------------------------------------------------------------
class _Work:
    """The paths still to send (a list, shared in order) or one path until a deadline."""

    def __init__(self, paths: list[str] | None, path: str | None, duration: float):
        self._paths, self._path, self._next = paths, path, 0
        self._lock = threading.Lock()
        self.deadline = time.monotonic() + duration

    def take(self) -> str | None:
        if self._paths is None:
            return self._path if time.monotonic() < self.deadline else None
        with self._lock:
            if self._next >= len(self._paths):
                return None
            self._next += 1
            return self._paths[self._next - 1]


def _connection_loop(host: str, port: int, work: _Work, latencies: list[float], errors: list[int]) -> None:
    conn = http.client.HTTPConnection(host, port, timeout=30)
    while (path := work.take()) is not None:
        started = time.perf_counter()
        try:
            conn.request("GET", path)
            resp = conn.getresponse()
            resp.read()
            latencies.append((time.perf_counter() - started) * 1000)
            if resp.status >= 400:
                errors.append(resp.status)
        except (OSError, http.client.HTTPException):
            errors.append(0)
            conn.close()
            conn = http.client.HTTPConnection(host, port, timeout=30)
    conn.close()


def client_main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Fallback HTTP load client (see bench/load.py).")
    parser.add_argument("--base", required=True, help="http://host:port")
    parser.add_argument("--path", help="one path, sent for --duration seconds")
    parser.add_argument("--paths-file", help="paths to send, one a line, each once")
    parser.add_argument("--connections", type=int, default=1)
    parser.add_argument("--duration", type=float, default=5.0)
    args = parser.parse_args(argv)
    paths = Path(args.paths_file).read_text().split() if args.paths_file else None
    work = _Work(paths, args.path, args.duration)
    split = urlsplit(args.base)
    latencies: list[float] = []
    errors: list[int] = []
    started = time.monotonic()
    threads = [threading.Thread(target=_connection_loop, args=(split.hostname, split.port or 80, work, latencies, errors))
               for _ in range(args.connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    ordered = sorted(latencies) or [0.0]
    result: dict[str, Any] = {"requests": len(latencies), "errors": len(errors), "p50_ms": nearest_rank(ordered, 0.5),
                              "p99_ms": nearest_rank(ordered, 0.99), "rps": len(latencies) / elapsed if elapsed else 0.0}
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(client_main())
