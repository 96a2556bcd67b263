"""The processes a benchmark drives: the provider simulator and ``discovery serve``, each its own.

Both run with this checkout's code (``PYTHONPATH`` is the repository root) and are stopped by the
caller in ``finally``. Every wait has a deadline and fails with :class:`PhaseFailed`, saying what
did not happen and ending with the last lines of the service's log.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import requests

from discovery.collector import collector_paused
from discovery.timestamps import parse_time

ROOT = Path(__file__).resolve().parents[1]
POLL = 0.02  # a benchmark's poll, not a test's wait


class PhaseFailed(RuntimeError):
    """A benchmark phase missed its deadline, or the service failed or outgrew its memory limit."""


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This checkout's code first; no AWS credentials, so Bedrock stays off unless asked for."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    env.update(extra or {})
    return env


def compile_bytecode() -> None:
    """Write the project's bytecode caches, as an installed service has them.

    Where ``PYTHONDONTWRITEBYTECODE`` is set (some CI and container images set it), every
    process the benchmark starts would otherwise compile each of the project's modules again:
    about 0.5 s of CPU at start and more in the lazy imports of the first refreshes, measured as
    if it were the service's own work.
    """
    import compileall

    for package in ("discovery", "actors", "web"):
        compileall.compile_dir(str(ROOT / package), quiet=2)


def free_port() -> int:
    """A loopback port free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_process(proc: subprocess.Popen, timeout: float = 30.0) -> int | None:
    """SIGTERM, then SIGKILL after ``timeout``; returns the exit code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    return proc.returncode


class SimulatorProcess:
    """``python -m discovery.simulator`` on a free port, its output in ``log_path``."""

    def __init__(self, log_path: Path, deadline: float = 60.0):
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "discovery.simulator", "--port", "0"],
                                     stdout=self._log, stderr=subprocess.STDOUT, cwd=ROOT, env=child_env())
        end = time.monotonic() + deadline
        while time.monotonic() < end and self.proc.poll() is None:
            # "provider simulator on http://127.0.0.1:PORT (...)"
            words = [w for w in log_path.read_text(errors="replace").split() if w.startswith("http://")]
            if words:
                self.url = words[0]
                return
            time.sleep(POLL)
        self.stop()
        raise PhaseFailed(f"the simulator did not start within {deadline:g} s: "
                          f"{log_path.read_text(errors='replace')[-500:]!r}")

    def stop(self) -> None:
        stop_process(self.proc, 10)
        self._log.close()


def process_cpu(pid: int) -> float | None:
    """CPU seconds (user and system) a process has used so far, its ended threads included (Linux:
    /proc/<pid>/stat, in clock ticks, usually 10 ms). None where /proc is not there."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    # After the command name: state is field 3, utime 14 and stime 15 (1-based, proc(5)).
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def read_memory(pid: int) -> dict[str, int]:
    """VmHWM (peak) and VmRSS (now) of a process, in bytes."""
    out = {}
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            name, _, value = line.partition(":")
            if name in ("VmHWM", "VmRSS"):
                out[name] = int(value.split()[0]) * 1024
    return out


class ServeProcess:
    """``python -m web.cli serve`` on its own port, with its log in ``log_path``.

    ``max_rss`` (bytes, 0: none) is checked by every wait: a service that grows past it is
    stopped and the phase fails.
    """

    def __init__(self, config: Path, database_url: str, log_path: Path, env: Mapping[str, str] | None = None,
                 max_rss: int = 0):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.max_rss = max_rss
        self.http = requests.Session()
        self._log = open(log_path, "ab")
        self.started = time.time()
        self._started_mono = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "web.cli", "serve", "--config", str(config), "--database", database_url,
             "--port", str(self.port)],
            stdout=self._log, stderr=subprocess.STDOUT, cwd=ROOT,
            env=child_env({"DISCOVERY_LOG_LEVEL": "WARNING", **(env or {})}))

    # -- state -------------------------------------------------------------------------------------
    def memory(self) -> dict[str, int]:
        """Peak (VmHWM) and current (VmRSS) resident memory in bytes."""
        return read_memory(self.proc.pid)

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return ""
        return "\n".join("    | " + line for line in text)

    def fail(self, message: str) -> PhaseFailed:
        """A PhaseFailed carrying ``message`` and the end of the service's log."""
        tail = self.log_tail()
        return PhaseFailed(message + (f"\n  last lines of {self.log_path}:\n{tail}" if tail else ""))

    def check(self) -> None:
        """Raise PhaseFailed if the service exited or outgrew ``max_rss``."""
        if self.proc.poll() is not None:
            raise self.fail(f"the service exited with code {self.proc.returncode}")
        if self.max_rss:
            rss = self.memory().get("VmRSS", 0)
            if rss > self.max_rss:
                self.stop()
                raise PhaseFailed(f"the service grew to {rss / 2**20:.0f} MB, over the limit of "
                                  f"{self.max_rss / 2**20:.0f} MB; stopped")

    # -- HTTP --------------------------------------------------------------------------------------
    def _request(self, method: str, path: str, timeout: float, params: Mapping[str, Any]) -> requests.Response:
        try:
            return self.http.request(method, self.url + path, params=params or None, timeout=timeout)
        except requests.RequestException as exc:
            self.check()
            raise self.fail(f"{method} {path}: {exc}") from None

    def get(self, path: str, http_timeout: float = 60.0, **params: Any) -> requests.Response:
        return self._request("GET", path, http_timeout, params)

    def get_json(self, path: str, http_timeout: float = 60.0, **params: Any) -> Any:
        resp = self.get(path, http_timeout, **params)
        if resp.status_code != 200:
            raise self.fail(f"GET {path} answered {resp.status_code}: {resp.text[:300]}")
        return resp.json()

    def post(self, path: str, http_timeout: float = 330.0, **params: Any) -> requests.Response:
        return self._request("POST", path, http_timeout, params)

    # -- waits -------------------------------------------------------------------------------------
    def wait_ready(self, deadline: float) -> float:
        """Seconds from process start until ``GET /readyz`` answers 200."""
        end = self._started_mono + deadline
        while time.monotonic() < end:
            self.check()
            try:
                if self.http.get(self.url + "/readyz", timeout=5).status_code == 200:
                    return time.monotonic() - self._started_mono
            except requests.RequestException:
                pass
            time.sleep(POLL)
        raise self.fail(f"GET /readyz did not answer 200 within {deadline:g} s of the process start")

    def wait_serving(self, models: int, deadline: float) -> float:
        """Seconds from process start until the API serves the stored catalog (``models`` published)."""
        end = self._started_mono + deadline
        while time.monotonic() < end:
            self.check()
            try:
                resp = self.http.get(self.url + "/api/v1/status", timeout=5)
                if resp.status_code == 200 and resp.json()["catalog"]["models"] >= models:
                    return time.monotonic() - self._started_mono
            except requests.RequestException:
                pass
            time.sleep(POLL)
        raise self.fail(f"the stored catalog ({models} models) was not served within {deadline:g} s of the start")

    def wait_runs(self, run_ids: Iterable[int], deadline: float) -> list[dict[str, Any]]:
        """The rows of these refresh runs once every one has finished (each run polled by id)."""
        ids = list(run_ids)
        pending = list(ids)
        rows: dict[int, dict[str, Any]] = {}
        end = time.monotonic() + deadline
        while pending:
            self.check()
            if time.monotonic() > end:
                raise self.fail(f"{len(pending)} refresh runs still unfinished after {deadline:g} s: {pending[:5]}")
            for run_id in list(pending):
                resp = self.get(f"/api/v1/refresh/runs/{run_id}")
                if resp.status_code == 200 and resp.json().get("outcome") not in (None, "running"):
                    rows[run_id] = resp.json()
                    pending.remove(run_id)
            if pending:
                time.sleep(0.1)
        return [rows[i] for i in ids]

    def wait_first_refreshes(self, providers: Iterable[str], deadline: float) -> dict[str, dict[str, Any]]:
        """Each provider's first succeeded run; fails at once when a provider's first refresh fails."""
        wanted = set(providers)
        found: dict[str, dict[str, Any]] = {}
        self.wait_ready(deadline)
        end = time.monotonic() + deadline
        while True:
            self.check()
            resp = self.get("/api/v1/refresh/runs", limit=1000)
            if resp.status_code == 200:
                for run in resp.json()["data"]:
                    name = run.get("provider")
                    if name in wanted and name not in found:
                        if run.get("outcome") == "succeeded":
                            # The API gives ISO 8601 times; the benchmarks subtract epoch seconds.
                            found[name] = {k: parse_time(v) if k.endswith("_at") and isinstance(v, str) else v
                                           for k, v in run.items()}
                        elif run.get("outcome") not in (None, "running"):
                            raise self.fail(f"{name}'s first refresh {run['outcome']}: {run.get('error')}")
            if len(found) == len(wanted):
                return found
            if time.monotonic() > end:
                missing = sorted(wanted - set(found))
                raise self.fail(f"{len(missing)} of {len(wanted)} providers not committed after {deadline:g} s: "
                                f"{', '.join(missing[:8])}")
            # The times come from the run rows, not from this poll; each poll (a page of up to
            # 1,000 runs) takes CPU from the ingest being measured, so it comes twice a second.
            time.sleep(0.5)

    def refresh_all(self, deadline: float) -> tuple[float, list[dict[str, Any]], float | None]:
        """``POST /api/v1/refresh?wait=true``: (seconds until every run committed, the runs' rows,
        the CPU seconds the service used until its answer; None where that cannot be read)."""
        cpu_before = process_cpu(self.proc.pid)
        wait = max(1, min(300, int(deadline)))
        # No collection in this process while the request is timed: it holds whole catalogs,
        # so one of its full collections takes tens of milliseconds, and one that struck while
        # an answer was read was timed as the service's (seen: the first request after a round
        # 20-40 ms slower than the next, for that reason alone).
        with collector_paused():
            started = time.monotonic()
            resp = self.post("/api/v1/refresh", wait="true", timeout=str(wait))
            ended = time.monotonic()
        cpu_after = process_cpu(self.proc.pid)
        cpu = cpu_after - cpu_before if cpu_before is not None and cpu_after is not None else None
        if resp.status_code == 200:
            wall = ended - started
            run_ids = [r["run_id"] for r in resp.json()["runs"]]
        elif resp.status_code == 504:
            # The service's own wait is capped; follow the runs until our deadline.
            run_ids = [r["run_id"] for r in resp.json()["error"].get("runs", [])]
            self.wait_runs(run_ids, max(1.0, deadline - (time.monotonic() - started)))
            wall = time.monotonic() - started
            cpu = None  # the answer came before the runs ended: the CPU read says nothing
        else:
            raise self.fail(f"POST /api/v1/refresh answered {resp.status_code}: {resp.text[:300]}")
        rows = self.wait_runs(run_ids, deadline)
        bad = [r for r in rows if r.get("outcome") != "succeeded"]
        if bad:
            raise self.fail(f"refresh failed: {json.dumps(bad)[:400]}")
        return wall, rows, cpu

    def stop(self, timeout: float = 60.0) -> None:
        """SIGTERM (SIGKILL after ``timeout``), and close the log."""
        stop_process(self.proc, timeout)
        self.http.close()
        self._log.close()
