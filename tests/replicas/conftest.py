"""Several ``discovery serve`` processes on one PostgreSQL schema, the simulator they all read, and
what the tests read straight from the database (psycopg2, never through the service's code).

The server is the one on 127.0.0.1:5432 (``DISCOVERY_TEST_POSTGRES`` to point elsewhere); each test
gets a schema of its own (``r_<hex>``), dropped after every process has stopped.
"""
from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import PG_URL, client_ports, wait_for
from tests.notify.conftest import SSEClient, receiver  # noqa: F401 - receiver is a fixture used here

ADMIN_TOKEN = "replicas-admin-token-0123456789"
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
ROOT = Path(__file__).resolve().parents[2]



# -- the database, read directly ---------------------------------------------------------------------
class Schema:
    """One test's schema: the ``DATABASE_URL`` the instances use, and an autocommit connection of the test's own."""

    def __init__(self, name: str):
        import psycopg2

        self.name = name
        self.database_url = f"{PG_URL}?options=-csearch_path%3D{name}"
        self.con = psycopg2.connect(PG_URL.replace("postgresql://", "postgres://"), options=f"-csearch_path={name}")
        self.con.autocommit = True

    def rows(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self.con.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()

    def value(self, sql: str, params: tuple = ()) -> Any:
        found = self.rows(sql, params)
        return found[0][0] if found else None

    def dicts(self, sql: str, params: tuple = ()) -> list[dict[str, Any]]:
        with self.con.cursor() as cur:
            cur.execute(sql, params)
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row)) for row in cur.fetchall()]

    def leadership(self) -> dict[str, Any] | None:
        found = self.dicts("SELECT * FROM leadership WHERE id = 1")
        return found[0] if found else None

    def last_event_id(self) -> int:
        return self.value("SELECT COALESCE(MAX(id), 0) FROM events")

    def models(self) -> dict[str, dict[str, Any]]:
        """The ``models`` table: id → the stored list form."""
        return {mid: json.loads(body) for mid, body in self.rows("SELECT id, body FROM models")}

    def cut_leader_connection(self, instance_id: str, pid: int) -> int:
        """Terminate the backend of the leader's lock connection (of process ``pid``: another test
        run's instance of the same id is left alone); how many were terminated."""
        return self.cut_connections(f"discovery-leader:{instance_id}", [pid])

    def cut_connections(self, application_name: str, pids: list[int]) -> int:
        """Terminate the backends named ``application_name`` whose client is one of these processes
        (matched by the client's TCP port, so another test run's processes are left alone)."""
        ports = [port for pid in pids for port in client_ports(pid)]
        if not ports:
            return 0
        return len([ok for (ok,) in self.rows(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s "
            "AND client_port = ANY(%s)", (application_name, ports)) if ok])

    def close(self) -> None:
        self.con.close()


@contextmanager
def fresh_schema() -> Iterator[Schema]:
    """A new schema ``r_<hex>``, dropped (CASCADE) on leaving."""
    import psycopg2

    name = f"r_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(PG_URL.replace("postgresql://", "postgres://"))
    admin.autocommit = True
    admin.cursor().execute(f"CREATE SCHEMA {name}")
    schema = Schema(name)
    try:
        yield schema
    finally:
        schema.close()
        drop_schema(admin, name)
        admin.close()


def drop_schema(admin: Any, name: str, attempts: int = 3) -> None:
    """DROP SCHEMA ... CASCADE, waiting at most 10 s for locks each time (a backend of a process
    killed a moment ago may still hold some)."""
    import psycopg2

    with admin.cursor() as cur:
        cur.execute("SET lock_timeout = '10s'")
        for attempt in range(1, attempts + 1):
            try:
                cur.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
                return
            except psycopg2.Error as exc:
                if attempt == attempts:
                    raise RuntimeError(f"schema {name} could not be dropped: {exc}") from exc
                time.sleep(1)


@pytest.fixture
def pg_schema() -> Iterator[Schema]:
    """This test's schema (the module skips when no server answers)."""
    with fresh_schema() as schema:
        yield schema


@pytest.fixture
def other_schema() -> Iterator[Schema]:
    """A second schema of the same database, for a second deployment (request it before cluster_of)."""
    with fresh_schema() as schema:
        yield schema


# -- the processes -----------------------------------------------------------------------------------
def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(str(value))


def openai_source(simulator: Any, refresh_interval: float = 3600.0, tenant: str | None = None) -> str:
    """The simulated OpenAI list (of ``tenant``'s copy) as the one source (TOML)."""
    return f"""
[providers.openai]
format = "openai_compatible"
base_url = "{simulator.base_url('openai', tenant)}"
refresh_interval = {refresh_interval!r}
jitter = 0.0
retries = 0
timeout = 5.0
health_check_interval = 0
max_removal_ratio = 0.9
manual_refresh_per_minute = 100000
"""


def write_config(path: Path, database_url: str, simulator: Any, *, refresh_interval: float = 3600.0,
                 sources: str | None = None, **service: Any) -> Path:
    """A settings file every instance shares: the schema, webhooks to loopback, and ``sources`` (TOML;
    default: the simulated OpenAI list refreshed every ``refresh_interval`` s)."""
    settings = {"database_url": database_url, "batch_max_delay": 0.0, "webhook_allow_private": True,
                "webhook_backoff": 0.05, "webhook_backoff_max": 0.2, "sse_heartbeat": 1.0, **service}
    path.write_text("[service]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in settings.items())
                    + (sources if sources is not None else openai_source(simulator, refresh_interval)))
    return path


class Instance:
    """One ``discovery serve`` process: its id, URL, log file and exit code."""

    def __init__(self, instance_id: str, config: Path, workdir: Path, env: Mapping[str, str] | None = None):
        self.instance_id = instance_id
        self.config = config
        self.workdir = workdir
        self.env = dict(env or {})
        self.log_path = workdir / f"serve-{instance_id}.log"
        self.proc: subprocess.Popen | None = None
        self.url = ""
        self.http = requests.Session()
        self.starts = 0

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None and bool(self.url)

    def launch(self) -> subprocess.Popen:
        """Start the process (its stdout lines collect in ``self.stdout``); do not wait for it."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DISCOVERY_", "DATABASE_URL"))}
        env.update({"PYTHONPATH": str(ROOT), "DISCOVERY_INSTANCE_ID": self.instance_id,
                    "DISCOVERY_ADMIN_TOKEN": ADMIN_TOKEN, "DISCOVERY_LOG_LEVEL": "INFO", **self.env})
        self.starts += 1
        with open(self.log_path, "a") as log:
            log.write(f"---- start {self.starts} of {self.instance_id} at {time.time():.3f}\n")
            log.flush()
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "web.cli", "serve", "--config", str(self.config), "--port", "0"],
                stdout=subprocess.PIPE, stderr=log, text=True, cwd=self.workdir, env=env)
        self.url = ""
        self.stdout: list[str] = []
        proc, lines = self.proc, self.stdout
        threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True).start()
        return proc

    def start(self, timeout: float = 30.0) -> "Instance":
        """Start the process and wait for its "serving on URL" line."""
        proc = self.launch()

        def serving() -> str | None:
            if proc.poll() is not None:
                pytest.fail(f"instance {self.instance_id} exited with {proc.returncode} before serving:\n"
                            f"{self.log_tail()}")
            return next((ln.split()[-1] for ln in self.stdout if ln.startswith("serving on")), None)

        self.url = wait_for(serving, timeout=timeout, what=f"instance {self.instance_id} to serve")
        return self

    # -- HTTP ------------------------------------------------------------------------------------------
    def get(self, path: str, timeout: float = 5.0, **kw: Any) -> requests.Response:
        return self.http.get(self.url + path, timeout=timeout, **kw)

    def post(self, path: str, timeout: float = 30.0, **kw: Any) -> requests.Response:
        kw.setdefault("headers", AUTH)
        return self.http.post(self.url + path, timeout=timeout, **kw)

    def status(self) -> dict[str, Any] | None:
        """``GET /api/v1/status`` as JSON, or None while the process does not answer."""
        if not self.alive:
            return None
        try:
            resp = self.http.get(self.url + "/api/v1/status", timeout=2)
        except requests.RequestException:
            return None
        return resp.json() if resp.status_code == 200 else None

    def catalog(self) -> dict[str, dict[str, Any]]:
        """Every model the instance lists (``GET /api/v1/models``, paged), without the measured performance."""
        out: dict[str, dict[str, Any]] = {}
        offset = 0
        while True:
            page = self.get("/api/v1/models", params={"limit": 1000, "offset": offset}).json()
            for record in page["data"]:
                out[record["id"]] = {k: v for k, v in record.items() if k != "performance"}
            offset += len(page["data"])
            if not page["data"] or offset >= page["total"]:
                return out

    # -- the process -----------------------------------------------------------------------------------
    def kill(self) -> None:
        """SIGKILL, and wait for the process to be gone."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM (SIGKILL after ``timeout``); the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 40) -> str:
        tail = self.log_text().splitlines()[-lines:]
        return "\n".join(f"    {self.instance_id} | {line}" for line in tail)


class Cluster:
    """The instances of one test, all on one schema and one settings file."""

    def __init__(self, workdir: Path, schema: Schema, config: Path):
        self.workdir = workdir
        self.schema = schema
        self.config = config
        self.instances: dict[str, Instance] = {}

    def start(self, instance_id: str, env: Mapping[str, str] | None = None) -> Instance:
        inst = self.instances.get(instance_id)
        if inst is None:
            inst = self.instances[instance_id] = Instance(instance_id, self.config, self.workdir, env)
        elif env is not None:
            inst.env = dict(env)
        return inst.start()

    def alive(self) -> list[Instance]:
        return [i for i in self.instances.values() if i.alive]

    def statuses(self, among: list[Instance] | None = None) -> dict[str, dict[str, Any] | None]:
        return {i.instance_id: i.status() for i in (self.alive() if among is None else among)}

    def agreed_leader(self) -> tuple[Instance, int] | None:
        """(leader, epoch) when every live instance answers, exactly one says it leads and all name it."""
        alive = self.alive()
        found = self.statuses(alive)
        if not found or any(s is None for s in found.values()):
            return None
        leaders = [iid for iid, s in found.items() if s.get("role") == "leader"]
        if len(leaders) != 1:
            return None
        named = {(s["leader"]["instance"], s["leader"]["epoch"]) for s in found.values()}
        if len(named) != 1 or next(iter(named))[0] != leaders[0]:
            return None
        return self.instances[leaders[0]], next(iter(named))[1]

    def wait_leader(self, timeout: float = 15.0) -> tuple[Instance, int]:
        """Wait until every live instance agrees on one leader; (leader, epoch)."""
        try:
            return wait_for(self.agreed_leader, timeout=timeout, what="the instances to agree on one leader")
        except BaseException:
            print(self.describe())
            raise

    def new_leader(self, after_epoch: int, among: list[Instance]) -> tuple[Instance, int] | None:
        """An instance of ``among`` that says it leads at an epoch past ``after_epoch``, or None."""
        for inst in among:
            s = inst.status()
            if s and s.get("role") == "leader" and (s["leader"]["epoch"] or 0) > after_epoch:
                return inst, s["leader"]["epoch"]
        return None

    def describe(self) -> str:
        """Each instance's role as it reports it, and the tail of its log (for failure messages)."""
        parts = []
        for inst in self.instances.values():
            s = inst.status()
            role = s and {k: s.get(k) for k in ("role", "leader", "lag")}
            parts.append(f"  {inst.instance_id}: alive={inst.alive} exit={inst.proc and inst.proc.returncode} "
                         f"status={role}\n{inst.log_tail(25)}")
        return "\n".join(parts)

    def stop_all(self) -> None:
        for inst in self.instances.values():
            if inst.proc is not None and inst.proc.poll() is None:
                inst.proc.send_signal(signal.SIGTERM)
        for inst in self.instances.values():
            inst.stop(timeout=15)
            inst.http.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: Any, call: Any) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


@pytest.fixture
def cluster_of(request: Any, tmp_path: Path, pg_schema: Schema, simulator: Any):
    """``cluster_of(config_name, schema=None, **settings)``: a Cluster on this test's schema (or
    ``schema``); every process is stopped afterwards (the logs' tails printed when the test failed)."""
    made: list[Cluster] = []

    def make(config_name: str = "replicas.toml", schema: Schema | None = None, **settings: Any) -> Cluster:
        schema = schema or pg_schema
        config = write_config(tmp_path / config_name, schema.database_url, simulator, **settings)
        made.append(Cluster(tmp_path, schema, config))
        return made[-1]

    yield make
    failed = getattr(request.node, "report_call", None)
    for cluster in made:
        if failed is not None and failed.failed:
            print(cluster.describe())
        cluster.stop_all()


# -- clients -----------------------------------------------------------------------------------------
class ResumingStream:
    """An SSE client that, whenever its stream ends, resumes with ``Last-Event-ID`` on a live instance
    picked at random (``cut()`` ends the current stream on purpose)."""

    def __init__(self, cluster: Cluster, rng: random.Random, since: int = 0):
        self.cluster = cluster
        self.rng = rng
        self.last = since
        self.ids: list[int] = []
        self.connections: list[tuple[str, int]] = []  # (instance, resume point)
        self._client: SSEClient | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True, name="resuming-stream")
        self.thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            candidates = self.cluster.alive()
            if not candidates:
                self._stop.wait(0.05)
                continue
            inst = self.rng.choice(candidates)
            try:
                client = SSEClient(inst.port, "/api/v1/events/stream", last_event_id=self.last, timeout=5)
            except (OSError, ValueError, IndexError):
                self._stop.wait(0.05)
                continue
            with self._lock:
                self._client = client
            try:
                if client.status != 200:
                    self._stop.wait(0.05)
                    continue
                self.connections.append((inst.instance_id, self.last))
                while (msg := client.next_message()) is not None:
                    self.ids.append(int(msg.id))
                    self.last = int(msg.id)
            except (OSError, ValueError):
                pass
            finally:
                with self._lock:
                    self._client = None
                client.close()

    def cut(self) -> None:
        with self._lock:
            if self._client is not None:
                try:
                    self._client.sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def stop(self) -> None:
        self._stop.set()
        self.cut()
        self.thread.join(10)
