"""Shared fixtures: a real SQLite file, the provider simulator on a loopback port, a running service."""
from __future__ import annotations

import fcntl
import os
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

import pykka
import pytest

from discovery.settings import ProviderConfig, Settings

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def pytest_sessionstart(session) -> None:
    """Write the project's bytecode caches before any test starts a process of it (the benchmarks'
    own helper, ``bench/processes.py``).

    Where ``PYTHONDONTWRITEBYTECODE`` is set (CI and container images often set it), every
    ``discovery serve`` a test starts (the SIGKILL loops, the replicas, the CLI) would otherwise
    compile each of the project's modules again: about 0.4 s of CPU per start on a 2-core machine.
    """
    from bench.processes import compile_bytecode

    compile_bytecode()


# A test records lines for the session's terminal summary as this property (``record_property``):
# the suite runs in pytest-xdist's workers, and only the main process writes the summary; a report
# carries its properties there.
SUMMARY_PROPERTY = "terminal_summary"
_SUMMARY: list[str] = []


def pytest_runtest_logreport(report) -> None:
    for name, value in getattr(report, "user_properties", ()):
        if name == SUMMARY_PROPERTY and report.when == "call":
            _SUMMARY.extend(value)


def pytest_terminal_summary(terminalreporter) -> None:
    for line in _SUMMARY:
        terminalreporter.write_line(line)


# Tests marked ``alone`` measure time to within milliseconds (probe accuracy, refresh waves): run
# by one pytest-xdist worker while the other runs its tests, the other's CPU moved their numbers
# (a TTFT of 94.6 ms measured for 80 ms). Every test holds a shared lock on the machine, an
# ``alone`` test an exclusive one; the gate makes the other worker wait for it, not overtake it.
_MACHINE_LOCKS = Path(tempfile.gettempdir())


@pytest.fixture(autouse=True)
def _machine_share(request):
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if not run:  # one process: nothing runs beside the test
        yield
        return
    alone = request.node.get_closest_marker("alone") is not None
    with open(_MACHINE_LOCKS / f"discovery-tests-{run}.gate", "a") as gate, \
            open(_MACHINE_LOCKS / f"discovery-tests-{run}.machine", "a") as machine:
        fcntl.flock(gate, fcntl.LOCK_EX)
        try:
            fcntl.flock(machine, fcntl.LOCK_EX if alone else fcntl.LOCK_SH)
        finally:
            if not alone:
                fcntl.flock(gate, fcntl.LOCK_UN)
        try:
            yield
        finally:
            fcntl.flock(machine, fcntl.LOCK_UN)
            if alone:
                fcntl.flock(gate, fcntl.LOCK_UN)


def newest_modelsdev() -> Path:
    """The newest models.dev snapshot in the shared data, else the packaged copy of it (the
    simulator's fixture is that snapshot), so a checkout without ../shared still tests on it."""
    from discovery.simulator.sources import FIXTURES_DIR, MODELSDEV_FIXTURE

    found = sorted((SHARED_DATA / "modelsdev").glob("api-*.json.gz"))
    return found[-1] if found else FIXTURES_DIR / MODELSDEV_FIXTURE


def litellm_map_file() -> Path:
    """LiteLLM's model map in the shared data, else the packaged copy of it."""
    from discovery.simulator.sources import FIXTURES_DIR, LITELLM_FIXTURE

    path = SHARED_DATA / "litellm" / "model_prices_and_context_window.json.gz"
    return path if path.exists() else FIXTURES_DIR / LITELLM_FIXTURE


def client_ports(pid: int, server_port: int = 5432) -> list[int]:
    """The local ports of a process's TCP connections to ``server_port`` (Linux /proc)."""
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except OSError:
        return []
    ports = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as fh:
                next(fh)
                for line in fh:
                    fields = line.split()
                    local, remote, inode = fields[1], fields[2], fields[9]
                    if inode in inodes and int(remote.rsplit(":", 1)[1], 16) == server_port:
                        ports.append(int(local.rsplit(":", 1)[1], 16))
        except OSError:
            continue
    return ports


# The PostgreSQL the tests use: the server on loopback (DISCOVERY_TEST_POSTGRES to point elsewhere).
PG_URL = os.environ.get("DISCOVERY_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


def pg_answers() -> bool:
    """Whether a PostgreSQL server answers on loopback and psycopg2 is installed."""
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=0.5):
            pass
        import psycopg2  # noqa: F401
    except (OSError, ImportError):
        return False
    return True


def wait_for(predicate: Callable[[], object], timeout: float = 10.0, interval: float = 0.02, what: str = "condition"):
    """Poll ``predicate`` until it returns something truthy; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'catalog.db'}"


@pytest.fixture
def simulator():
    from discovery.simulator import SimulatorServer

    server = SimulatorServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def provider_config(simulator, name: str, fmt: str, route: str | None = None, **kw) -> ProviderConfig:
    """A provider pointed at the simulator, with a long interval so only the start-up refresh runs."""
    kw.setdefault("refresh_interval", 3600.0)
    kw.setdefault("timeout", 2.0)
    kw.setdefault("fail_max", 3)
    kw.setdefault("reset_timeout", 30.0)
    kw.setdefault("retries", 0)
    kw.setdefault("health_check_interval", 0)
    return ProviderConfig(name=name, format=fmt, base_url=simulator.base_url(route or fmt), **kw)


@pytest.fixture
def start_service(db_url):
    """Start a service with given providers; every service started is stopped after the test."""
    from actors.service import start_service as _start

    started = []

    def start(providers, **kw):
        kw.setdefault("database_url", db_url)
        kw.setdefault("batch_max_delay", 0.01)
        kw.setdefault("restart_backoff", 0.05)
        settings = Settings(providers=tuple(providers), **kw)
        service = _start(settings)
        started.append(service)
        return service

    yield start
    for service in started:
        service.stop()
    assert not pykka.ActorRegistry.get_all(), "actors left running after the test"


def leftover_threads(before: set[str]) -> list[str]:
    """Names of non-daemon-timer threads started since ``before`` that are still alive."""
    return [t.name for t in threading.enumerate() if t.name not in before and t.is_alive()
            and not t.name.startswith(("timer-", "notify-", "supervisor-check", "restart-"))]
