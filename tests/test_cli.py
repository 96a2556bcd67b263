"""``discovery serve`` as a newcomer runs it: a subprocess, real HTTP, SIGTERM."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import requests

from tests.conftest import wait_for


def start_serve(tmp_path, *args):
    env = {**os.environ, "DISCOVERY_LOG_LEVEL": "INFO"}
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
                          capture_output=True, text=True, timeout=30, cwd=tmp_path)
    assert proc.returncode == 2 and "service.port" in proc.stderr


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


def test_a_busy_port_fails_at_once_in_one_line_before_anything_starts(tmp_path):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        proc = subprocess.run([sys.executable, "-m", "web.cli", "serve", "--port", str(port), "--database",
                               f"sqlite:///{tmp_path / 'd.db'}"], capture_output=True, text=True, timeout=30,
                              cwd=tmp_path, env={**os.environ, "DISCOVERY_LOG_LEVEL": "info"})
    assert proc.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in proc.stderr and "Traceback" not in proc.stderr
    assert "catalog loaded" not in proc.stderr and not (tmp_path / "d.db").exists()


def test_log_level_in_any_case_and_stdlib_logging_reach_the_log(tmp_path):
    for level in ("debug", "Warning", "INFO"):
        help_run = subprocess.run([sys.executable, "-m", "web.cli", "--help"], capture_output=True, text=True,
                                  timeout=30, env={**os.environ, "DISCOVERY_LOG_LEVEL": level})
        assert help_run.returncode == 0 and "serve" in help_run.stdout, help_run.stderr
    proc, url = start_serve(tmp_path)
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True).start()
    try:
        requests.get(f"{url}/healthz", timeout=5)
        proc.send_signal(signal.SIGUSR1)  # pykka logs every thread's stack through stdlib logging
        wait_for(lambda: any("pykka:" in line for line in lines), what="pykka's thread dump in the log")
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=15)
    wait_for(lambda: any("stopped" in line for line in lines), what="the last log line")
    err = "".join(lines)
    assert code == 0
    assert "uvicorn.error: " in err  # uvicorn's own lines, through loguru
    # Without an admin token, start-up says once that changes are accepted from loopback only.
    assert err.count("no admin token configured") == 1
