"""``discovery serve`` as a newcomer runs it: a subprocess, real HTTP, SIGTERM."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import wait_for

ROOT = Path(__file__).resolve().parents[1]


def checkout_env(**extra: str) -> dict[str, str]:
    """The environment of a subprocess that runs this checkout's code (not an installed copy)."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]),
            **extra}


def start_serve(tmp_path, *args):
    env = checkout_env(DISCOVERY_LOG_LEVEL="INFO")
    proc = subprocess.Popen(
        [sys.executable, "-m", "web.cli", "serve", "--port", "0", "--database", f"sqlite:///{tmp_path/'d.db'}", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True).start()
    url = wait_for(lambda: next((ln.split()[-1] for ln in lines if ln.startswith("serving on")), None),
                   timeout=15, what="the serving line")
    return proc, url


def test_demo_lists_models_of_both_formats_within_five_seconds_and_sigterm_exits_cleanly(tmp_path):
    started = time.monotonic()
    proc, url = start_serve(tmp_path, "--demo")
    try:
        def listed():
            body = requests.get(f"{url}/api/v1/models?limit=1000&live=true", timeout=2).json()
            sources = requests.get(f"{url}/api/v1/providers", timeout=2).json()["data"]
            done = {p["name"] for p in sources if p.get("last_success_at")}
            return {"openai", "modelsdev"} <= done and body["total"] > 0
        wait_for(listed, timeout=5 - (time.monotonic() - started) + 3, what="models from both formats")
        elapsed = time.monotonic() - started
        openai = requests.get(f"{url}/api/v1/providers/openai/models?limit=1000", timeout=2).json()
        catalog = requests.get(f"{url}/api/v1/models?live=false&limit=5", timeout=2).json()
        assert openai["total"] > 10 and catalog["total"] > 100
        # Capabilities normalized from both formats: catalog entries and enriched live OpenAI models.
        tools = requests.get(f"{url}/api/v1/models?capability=function_calling&live=false&limit=1", timeout=2).json()
        enriched = requests.get(f"{url}/api/v1/models?provider=openai&live=true&capability=vision", timeout=2).json()
        assert tools["total"] > 0 and enriched["total"] > 0
    finally:
        proc.send_signal(signal.SIGTERM)
        t0 = time.monotonic()
        code = proc.wait(timeout=10)
        stop_time = time.monotonic() - t0
    err = proc.stderr.read()
    assert code == 0, err[-2000:]
    assert stop_time < 5, f"stopping took {stop_time:.1f}s"
    assert "service stopped" in err
    print(f"demo listed both formats after {elapsed:.2f}s; SIGTERM to exit {stop_time:.2f}s")


def test_bad_settings_file_exits_2_with_a_clear_message(tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[service]\nport = 'x'\n")
    proc = subprocess.run([sys.executable, "-m", "web.cli", "serve", "--config", str(cfg)],
                          capture_output=True, text=True, timeout=30, cwd=tmp_path, env=checkout_env())
    assert proc.returncode == 2 and "service.port" in proc.stderr


@pytest.mark.parametrize("args,named", [
    (["serve", "--port", "99999"], "'--port': 99999 is not in the range 0<=x<=65535"),
    (["simulator", "--port", "99999"], "'--port': 99999 is not in the range 0<=x<=65535"),
    (["--timeout", "nan", "models"], "'--timeout': must be a number of seconds, not nan"),
    (["--timeout", "inf", "models"], "'--timeout': inf is not in the range"),
    (["serve", "--database", "bogus://x", "--port", "0"], ": database_url: must be a sqlite:/// or postgresql://"),
    (["serve", "--port", "0", "--simulator-port", "9100"], "--simulator-port is for --demo"),
    (["config", "check", "--config", "{cfg}"], "port: not a section of the settings file"),
])
def test_a_port_out_of_range_or_a_key_outside_any_section_is_refused_in_one_line(tmp_path, args, named):
    cfg = tmp_path / "loose.toml"
    cfg.write_text("port = 8081\n")  # meant for [service]: it used to be dropped without a word
    argv = [a.replace("{cfg}", str(cfg)) for a in args] + ["--database", f"sqlite:///{tmp_path / 'd.db'}"] \
        if args[0] == "serve" and "--database" not in args else [a.replace("{cfg}", str(cfg)) for a in args]
    proc = subprocess.run([sys.executable, "-m", "web.cli", *argv], capture_output=True, text=True, timeout=30,
                          cwd=tmp_path, env=checkout_env())
    assert proc.returncode == 2 and named in proc.stderr, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and not (tmp_path / "d.db").exists()


def test_sigterm_while_requests_are_open_still_stops_the_service(tmp_path):
    proc, url = start_serve(tmp_path)
    stream = requests.get(f"{url}/api/v1/events/stream", stream=True, timeout=10)
    assert stream.status_code == 200
    slow = threading.Thread(target=lambda: requests.get(f"{url}/api/v1/models", timeout=10), daemon=True)
    slow.start()
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(timeout=15)
    stream.close()
    assert code == 0, proc.stderr.read()[-2000:]
    assert time.monotonic() - t0 < 5


def test_sigterm_as_the_serving_line_is_printed_stops_cleanly_with_nothing_left_unawaited(tmp_path):
    # A process manager may stop the service the moment it starts serving: the signal is the
    # server's to handle from then on, so uvicorn never has a coroutine made and left unrun.
    for attempt in range(3):
        proc = subprocess.Popen(
            [sys.executable, "-m", "web.cli", "serve", "--port", "0", "--database", f"sqlite:///{tmp_path/'d.db'}"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=checkout_env(), cwd=tmp_path)
        assert proc.stdout is not None and proc.stderr is not None
        line = next((ln for ln in proc.stdout if ln.startswith("serving on")), None)
        assert line is not None, proc.stderr.read()[-2000:]
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=15)
        err = proc.stderr.read()
        assert code == 0, err[-2000:]
        assert "never awaited" not in err and "Traceback" not in err, f"attempt {attempt}: {err[-2000:]}"
        assert "service stopped" in err


def test_a_busy_port_fails_at_once_in_one_line_before_anything_starts(tmp_path):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        proc = subprocess.run([sys.executable, "-m", "web.cli", "serve", "--port", str(port), "--database",
                               f"sqlite:///{tmp_path / 'd.db'}"], capture_output=True, text=True, timeout=30,
                              cwd=tmp_path, env=checkout_env(DISCOVERY_LOG_LEVEL="info"))
    assert proc.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in proc.stderr and "Traceback" not in proc.stderr
    assert "catalog loaded" not in proc.stderr and not (tmp_path / "d.db").exists()


def test_the_demos_simulator_port_when_busy_fails_in_one_line(tmp_path):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        proc = subprocess.run([sys.executable, "-m", "web.cli", "serve", "--demo", "--port", "0", "--simulator-port",
                               str(port), "--database", f"sqlite:///{tmp_path / 'd.db'}"], capture_output=True,
                              text=True, timeout=60, cwd=tmp_path, env=checkout_env())
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert f"cannot listen on 127.0.0.1:{port} for the simulator" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("case", ["no directory", "not a database", "no postgresql there"])
def test_a_database_that_cannot_be_used_fails_the_start_in_one_line(tmp_path, case):
    """Each printed a traceback (73 lines for a file that is no database: one per actor that
    opened it, then pykka's ActorDeadError, naming none of this) and exited 1."""
    import socket

    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(bytes(range(256)) * 20)
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        free = closed.getsockname()[1]  # nothing listens there
    url, said = {
        "no directory": (f"sqlite:///{tmp_path / 'missing' / 'd.db'}", f"directory {tmp_path / 'missing'} does not exist"),
        "not a database": (f"sqlite:///{garbage}", f"{garbage} cannot be read as a SQLite database: file is not a database"),
        "no postgresql there": (f"postgresql://postgres@127.0.0.1:{free}/x", "OperationalError: connection to server"),
    }[case]
    proc = subprocess.run([sys.executable, "-m", "web.cli", "serve", "--port", "0", "--database", url],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path, env=checkout_env())
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "cannot start: " in lines[0] and said in lines[0], proc.stderr


def test_a_database_named_with_uri_characters_is_checked_as_the_file_peewee_opens(tmp_path):
    """The check read the name as a URI: '%41' was decoded and a good database refused, '#' cut
    the name and made a stray file; a '?timeout=5' was taken as part of the file's name."""
    import sqlite3

    good = tmp_path / "data%41.db"
    with sqlite3.connect(good) as conn:
        conn.execute("CREATE TABLE t (x)")
    for url in (f"sqlite:///{good}", f"sqlite:///{good}?timeout=5"):
        proc = subprocess.Popen([sys.executable, "-m", "web.cli", "serve", "--port", "0", "--database", url],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
                                env=checkout_env())
        assert proc.stdout is not None
        line = next((ln for ln in proc.stdout if ln.startswith("serving on")), None)
        proc.send_signal(signal.SIGTERM)
        err = proc.communicate(timeout=30)[1]
        assert line is not None and proc.returncode == 0, err[-2000:]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".instance")) == ["data%41.db.instance"]
    (tmp_path / "junk").write_bytes(b"not a database at all" * 100)
    proc = subprocess.run([sys.executable, "-m", "web.cli", "serve", "--port", "0", "--database",
                           f"sqlite:///{tmp_path / 'junk'}?timeout=5"], capture_output=True, text=True, timeout=60,
                          cwd=tmp_path, env=checkout_env())
    assert proc.returncode == 1 and "junk cannot be read as a SQLite database" in proc.stderr, proc.stderr
    assert not (tmp_path / "junk.instance").exists()  # no stray lock left beside it
    # A directory it may not write its lock in: one line, not a traceback.
    proc = subprocess.run([sys.executable, "-m", "web.cli", "serve", "--port", "0", "--database",
                           "sqlite:////proc/discovery.db"], capture_output=True, text=True, timeout=60,
                          cwd=tmp_path, env=checkout_env())
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert "cannot start: cannot make the instance lock /proc/discovery.db.instance" in proc.stderr


def test_config_check_and_serve_warn_of_valid_settings_that_will_not_do_what_they_seem(tmp_path):
    """The README's example (providers, no catalog) passed with "settings are valid" and served
    models with no prices or capabilities; a provider's key variable unset passed too, and the
    provider was misconfigured at its first refresh; demo = true in the settings did nothing."""
    cfg = tmp_path / "prod.toml"
    cfg.write_text('[providers.groq]\nformat = "groq"\napi_key_env = "UNSET_GROQ_KEY_FOR_TEST"\n')
    env = checkout_env()
    env.pop("UNSET_GROQ_KEY_FOR_TEST", None)
    check = subprocess.run([sys.executable, "-m", "web.cli", "config", "check", "--config", str(cfg)],
                           capture_output=True, text=True, timeout=60, cwd=tmp_path, env=env)
    assert check.returncode == 0, check.stderr
    warnings = [line for line in check.stderr.splitlines() if line.startswith("warning: ")]
    assert warnings == [
        "warning: provider groq: UNSET_GROQ_KEY_FOR_TEST is not set; it will be misconfigured (no API key) until it is",
        "warning: no public catalog is configured (a [providers.modelsdev] or [providers.litellm] table): models get "
        "no prices, capabilities or kinds but what their own provider says (discovery.example.toml configures both)"]
    assert 'api_key = "not set (UNSET_GROQ_KEY_FOR_TEST is not set)"' in check.stdout

    demo = subprocess.run([sys.executable, "-m", "web.cli", "config", "check", "--config", str(cfg)],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path, env={**env, "DISCOVERY_DEMO": "1"})
    assert demo.returncode == 0 and "warning:" not in demo.stderr, demo.stderr
    assert "note: demo = true: serve replaces the providers with the built-in simulator's" in demo.stderr

    # demo = true (here from the environment) runs the demo, as --demo does, and warns of nothing.
    proc = subprocess.Popen([sys.executable, "-m", "web.cli", "serve", "--port", "0", "--config", str(cfg),
                             "--database", f"sqlite:///{tmp_path / 'd.db'}"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=tmp_path, env={**env, "DISCOVERY_DEMO": "true"})
    assert proc.stdout is not None
    line = next((ln for ln in proc.stdout if ln.startswith("serving on")), None)
    proc.send_signal(signal.SIGTERM)
    err = proc.communicate(timeout=30)[1]
    assert line is not None and proc.returncode == 0, err[-2000:]
    assert "demo: provider simulator on http://127.0.0.1:" in err
    assert "no public catalog" not in err and "UNSET_GROQ_KEY_FOR_TEST" not in err

    # Without the demo, serve logs the same warnings at its start.
    proc = subprocess.Popen([sys.executable, "-m", "web.cli", "serve", "--port", "0", "--config", str(cfg),
                             "--database", f"sqlite:///{tmp_path / 'e.db'}"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=tmp_path, env=env)
    assert proc.stdout is not None
    line = next((ln for ln in proc.stdout if ln.startswith("serving on")), None)
    proc.send_signal(signal.SIGTERM)
    err = proc.communicate(timeout=30)[1]
    assert line is not None and proc.returncode == 0, err[-2000:]
    assert "WARNING __main__: provider groq: UNSET_GROQ_KEY_FOR_TEST is not set" in " ".join(err.split()), err
    assert "no public catalog is configured" in err


def test_postgresql_without_its_driver_says_which_extra_to_install(tmp_path):
    """A plain install has no psycopg2: the start printed peewee's ImproperlyConfigured traceback,
    naming no fix (the README did not mention the postgres extra either)."""
    blocked = tmp_path / "no-driver" / "psycopg2"
    blocked.mkdir(parents=True)
    (blocked / "__init__.py").write_text("raise ImportError('psycopg2 is not installed here')\n")
    env = checkout_env()
    env["PYTHONPATH"] = os.pathsep.join([str(blocked.parent), env["PYTHONPATH"]])
    proc = subprocess.run([sys.executable, "-m", "web.cli", "serve", "--port", "0", "--database",
                           "postgresql://postgres@127.0.0.1:5432/test"], capture_output=True, text=True, timeout=60,
                          cwd=tmp_path, env=env)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].endswith(
        "cannot start: ImproperlyConfigured: Postgres driver not installed. "
        "(install the postgres extra: pip install -e '.[postgres]')"), lines


def test_log_level_in_any_case_and_stdlib_logging_reach_the_log(tmp_path):
    for level in ("debug", "Warning", "INFO"):
        help_run = subprocess.run([sys.executable, "-m", "web.cli", "--help"], capture_output=True, text=True,
                                  timeout=30, env=checkout_env(DISCOVERY_LOG_LEVEL=level))
        assert help_run.returncode == 0 and "serve" in help_run.stdout, help_run.stderr
    proc, url = start_serve(tmp_path)
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True).start()
    try:
        requests.get(f"{url}/healthz", timeout=5)
        proc.send_signal(signal.SIGUSR1)  # every thread's stack, one WARNING record
        wait_for(lambda: any("thread dump (SIGUSR1)" in line for line in lines), what="the thread dump in the log")
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=15)
    wait_for(lambda: any("stopped" in line for line in lines), what="the last log line")
    err = "".join(lines)
    assert code == 0
    assert "uvicorn.error: " in err  # uvicorn's own lines, stdlib logging through loguru
    # The dump is at WARNING (pykka's was at CRITICAL: alerts paged on a diagnostic), a record a thread.
    assert "CRITICAL" not in err and "WARNING actors.service: thread dump (SIGUSR1)" in " ".join(err.split()), \
        err[-3000:]
    assert "--- MainThread" in err
    # Without an admin token, start-up says once that changes are accepted from loopback only.
    assert err.count("no admin token configured") == 1


def test_thread_dumps_during_start_up_are_never_refused_by_the_log(tmp_path):
    # The main thread logs uvicorn's start-up lines right after "serving on"; a dump logged from
    # the signal handler itself would hit loguru's re-entrancy guard there and be lost.
    proc, url = start_serve(tmp_path, "--log-format", "json")
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True).start()
    try:
        for _ in range(60):
            proc.send_signal(signal.SIGUSR1)
            time.sleep(0.003)
        wait_for(lambda: requests.get(f"{url}/healthz", timeout=5).ok, what="the service")
        wait_for(lambda: any("--- MainThread" in line for line in lines), timeout=30, what="a thread dump")
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=15)
    wait_for(lambda: any("stopped" in line for line in lines), timeout=30, what="the last log line")
    err = "".join(lines)
    assert code == 0
    assert "deadlock avoided" not in err and "Logging error" not in err, err[-3000:]


def test_json_logs_are_one_object_a_line_with_request_ids_provider_and_run_id(tmp_path):
    import json

    proc, url = start_serve(tmp_path, "--log-format", "json")
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True).start()
    try:
        answer = requests.get(f"{url}/healthz", headers={"X-Request-ID": "probe-42"}, timeout=5)
        assert answer.headers["X-Request-ID"] == "probe-42"
        made = requests.get(f"{url}/healthz", headers={"X-Request-ID": "no spaces allowed"}, timeout=5)
        assert made.headers["X-Request-ID"] != "no spaces allowed" and len(made.headers["X-Request-ID"]) == 32
        proc.send_signal(signal.SIGUSR1)
        wait_for(lambda: any("thread dump (SIGUSR1)" in line for line in lines), timeout=30, what="the thread dump")
        assert any('"logger": "uvicorn.error"' in line for line in lines)  # stdlib logging, as JSON too
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=15)
    wait_for(lambda: any("stopped" in line for line in lines), timeout=30, what="the last log line")
    assert code == 0
    records = [json.loads(line) for line in lines if line.strip()]  # every line is one JSON object
    assert all({"time", "level", "message", "logger"} <= set(r) for r in records)
    assert records[0]["time"].endswith("Z")
    loggers = {r["logger"] for r in records}
    assert {"actors.service", "uvicorn.error", "web.access"} <= loggers
    [head] = [r for r in records if r["message"].startswith("thread dump (SIGUSR1)")]
    threads = [r for r in records if r["message"].startswith("thread dump ") and r is not head]
    assert head["level"] == "WARNING" and len(threads) == int(head["message"].split(": ")[1].split()[0])
    assert any("--- MainThread" in r["message"] for r in threads)
    assert max(len(r["message"]) for r in threads) < 16_000  # each within a log shipper's line
    access = [r for r in records if r["logger"] == "web.access" and r.get("request_id") == "probe-42"]
    assert len(access) == 1 and access[0]["http_status"] == 200 and access[0]["http_route"] == "/healthz"
    assert any(r.get("provider") and r.get("run_id") for r in records)


def test_a_request_path_cannot_end_an_access_line_or_start_one_of_its_own(tmp_path):
    proc, url = start_serve(tmp_path, "--log-format", "text")
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True).start()
    try:
        forged = requests.get(f"{url}/api/v1/models/x%0aFORGED%20line%1b%5b31m%00%e2%80%aeend", timeout=5)
        assert forged.status_code == 404
        wait_for(lambda: any("FORGED" in line for line in lines), what="the access line")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)
    [line] = [line for line in lines if "FORGED" in line]
    assert '"GET /api/v1/models/x\\nFORGED line\\x1b[31m\\x00\\u202eend" 404' in line, line
    assert all(c.isprintable() for c in line.rstrip("\n"))


def test_library_records_reach_the_json_sink_redacted():
    import io
    import json
    import logging

    from loguru import logger

    from web.logs import configure_logging

    out = io.StringIO()
    try:
        configure_logging("INFO", "json", stream=out)
        for name in ("botocore.credentials", "urllib3.connectionpool", "uvicorn.error", "pykka"):
            logging.getLogger(name).warning("leaked key sk-proj-abcdefghijklmnopqrstuvwx in %s", name)
        logger.bind(provider="openai", run_id=7).info("hello")
        # A bound value is a field of its own in a JSON line: a request id sent as a key, say.
        logger.bind(request_id="sk-proj-abcdefghijklmnopqrstuvwx").info("asked")
    finally:
        logger.remove()
        logger.add(sys.stderr)
        logging.basicConfig(force=True)
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r["logger"] for r in records[:4]] == ["botocore.credentials", "urllib3.connectionpool", "uvicorn.error",
                                                  "pykka"]
    assert all("sk-proj" not in r["message"] and "[REDACTED]" in r["message"] for r in records[:4])
    assert records[4]["provider"] == "openai" and records[4]["run_id"] == 7
    assert records[5]["request_id"] == "[REDACTED]", records[5]


def test_an_exception_an_actor_hands_back_to_its_caller_is_logged_only_at_debug():
    """A refused refresh (429) used to print pykka's INFO line and a 12-line traceback each time."""
    import io
    import logging

    import pykka
    from loguru import logger

    from web.logs import configure_logging

    class Refuses(pykka.ThreadingActor):
        def refresh(self):
            raise ValueError("too many refreshes")

    texts = {}
    try:
        for level in ("INFO", "DEBUG"):
            out = io.StringIO()
            configure_logging(level, "text", stream=out)
            ref = Refuses.start()
            try:
                with pytest.raises(ValueError):
                    ref.proxy().refresh().get(timeout=5)
            finally:
                ref.stop()
            logging.getLogger("pykka").warning("a warning still shows")
            texts[level] = out.getvalue()
    finally:
        logger.remove()
        logger.add(sys.stderr)
        logging.basicConfig(force=True)
    assert "Exception returned from" not in texts["INFO"] and "Traceback" not in texts["INFO"]
    assert "a warning still shows" in texts["INFO"]
    assert "Exception returned from" in texts["DEBUG"] and "too many refreshes" in texts["DEBUG"]


def test_the_demo_discovers_every_wire_format_the_simulator_serves(simulator):
    from discovery.simulator.formats import FORMATS_BY_PROVIDER
    from web.demo import demo_bedrock, demo_providers

    served = {route for route in FORMATS_BY_PROVIDER if "@" not in route and route != "ec2"}
    demo = demo_providers(simulator)
    assert {p.format for p in demo} >= served - {"openai_compatible"} and "azure" in {p.format for p in demo}
    assert "openai_compatible" in {p.format for p in demo}
    assert demo_bedrock(simulator).enabled


def test_a_log_level_that_is_none_is_one_error_line(capsys, monkeypatch):
    """It printed a warning that logging goes on at INFO, then the settings' error and exit 2."""
    from web.cli import main

    monkeypatch.setenv("DISCOVERY_LOG_LEVEL", "loud")
    monkeypatch.delenv("DISCOVERY_CONFIG", raising=False)
    try:
        assert main(["config", "check"]) == 2
    finally:
        import logging

        from loguru import logger

        # Not on this test's captured stream, which is closed after it.
        logger.remove()
        logger.add(sys.__stderr__)
        logging.basicConfig(force=True, handlers=[logging.StreamHandler(sys.__stderr__)])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines == ["Error: DISCOVERY_LOG_LEVEL: must be one of TRACE, DEBUG, INFO, SUCCESS, WARNING, WARN, ERROR, "
                     "CRITICAL, got 'loud'"], err
