"""A run id the API hands out names that run for good: a SIGKILL right after the 202 does not
leave the id to be given to another run by the restarted process."""
from __future__ import annotations

import signal
import time
from datetime import datetime

import requests

from tests.conftest import wait_for
from tests.resilience.test_crash import serve

KEY_ENV = "RUN_IDS_TEST_GROQ_KEY"


def ready(url: str) -> bool:
    return requests.get(f"{url}/readyz", timeout=5).status_code == 200


def serve_ready(config, cwd):
    """``discovery serve`` on ``config`` once its /readyz answers 200 (killed if it never does)."""
    proc, url = serve(config, cwd)
    try:
        wait_for(lambda: ready(url), timeout=30, what="ready")
    except BaseException:
        stop(proc, signal.SIGKILL)
        raise
    return proc, url


def stop(proc, sig=signal.SIGTERM) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
    proc.wait(timeout=20)


def big_catalog(generation: int, size: int = 5000) -> dict[str, dict]:
    """An OpenAI-style model list of ``size`` new models (new in each generation)."""
    ids = [f"bulk-{generation}-{i}" for i in range(size)]
    return {i: {"id": i, "object": "model", "created": 1750000000, "owned_by": "bulk"} for i in ids}


def test_refresh_run_ids_handed_out_before_a_kill_are_not_handed_out_again(tmp_path, simulator):
    config = tmp_path / "runs.toml"
    config.write_text(f"""
[service]
database_url = "sqlite:///{tmp_path / 'runs.db'}"

[providers.openai]
format = "openai_compatible"
base_url = "{simulator.base_url('openai')}"
refresh_interval = 3600
health_check_interval = 0
manual_refresh_per_minute = 1000

[providers.groq]
format = "openai_compatible"
base_url = "{simulator.base_url('groq')}"
refresh_interval = 3600
health_check_interval = 0
""")
    handed_out: list[int] = []
    for _ in range(3):
        started = time.time()
        proc, url = serve_ready(config, tmp_path)
        try:
            runs = requests.get(f"{url}/api/v1/refresh/runs", timeout=5).json()["data"]
            this_start = [r["id"] for r in runs if datetime.fromisoformat(r["started_at"]).timestamp() >= started]
            # The runs of this start (its refresh round) come after every id an earlier process handed out.
            assert this_start and min(this_start) > max(handed_out, default=0), (this_start, handed_out)
            # A large answer keeps the writer busy for a while, so the next run's row waits in its
            # mailbox: the kill comes after that run's id was handed out and before its row is written.
            simulator.state.set_models("groq", big_catalog(len(handed_out)))
            requests.post(f"{url}/api/v1/providers/groq/refresh", timeout=5)
            time.sleep(0.4)  # a pause, not a condition: when the writer is mid-commit cannot be seen from here
            answer = requests.post(f"{url}/api/v1/providers/openai/refresh", timeout=5)
            proc.send_signal(signal.SIGKILL)
        finally:
            stop(proc, signal.SIGKILL)
        assert answer.status_code == 202, answer.text
        handed_out.append(answer.json()["runs"][0]["run_id"])
    proc, url = serve_ready(config, tmp_path)
    try:
        for run_id in handed_out:
            # Either the run as it was stored (finished, or marked interrupted), or not found: never another run.
            got = requests.get(f"{url}/api/v1/refresh/runs/{run_id}", timeout=5)
            assert got.status_code == 404 or (got.json()["provider"], got.json()["trigger"]) == ("openai", "manual"), \
                got.json()
    finally:
        stop(proc)


def test_a_queued_benchmark_run_killed_before_it_started_is_interrupted_and_its_id_not_reused(
        tmp_path, simulator, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "test-key")
    simulator.state.set_stream("groq", ttft=3.0)  # the first run holds the second in the queue
    # models.dev gives the groq models their kind (chat), which the benchmark plan needs.
    config = tmp_path / "bench.toml"
    config.write_text(f"""
[service]
database_url = "sqlite:///{tmp_path / 'bench.db'}"

[providers.groq]
format = "groq"
base_url = "{simulator.base_url('groq')}"
api_key_env = "{KEY_ENV}"
refresh_interval = 3600
health_check_interval = 0

[providers.modelsdev]
format = "modelsdev"
base_url = "{simulator.base_url('modelsdev')}"
refresh_interval = 3600
health_check_interval = 0
providers = ["groq"]

[benchmarks]
samples = 1
allow_unknown_prices = true
start_delay = 3600

[benchmarks.providers.groq]
enabled = true
""")
    proc, url = serve_ready(config, tmp_path)
    try:
        first = requests.post(f"{url}/api/v1/models/groq/llama-3.1-8b-instant/benchmarks", timeout=10)
        queued = requests.post(f"{url}/api/v1/models/groq/llama-3.3-70b-versatile/benchmarks", timeout=10)
        assert first.status_code == 202 and queued.status_code == 202, (first.text, queued.text)
        proc.send_signal(signal.SIGKILL)
    finally:
        stop(proc, signal.SIGKILL)
    given = {a.json()["runs"][0]["run_id"] for a in (first, queued)}
    simulator.state.set_stream("groq", ttft=0.01)
    proc, url = serve_ready(config, tmp_path)
    try:
        runs = {r["id"]: r for r in requests.get(f"{url}/api/v1/benchmarks/runs", timeout=5).json()["data"]}
        assert given <= set(runs) and {runs[i]["outcome"] for i in given} == {"interrupted"}, runs
        again = requests.post(f"{url}/api/v1/models/groq/llama-3.1-8b-instant/benchmarks", timeout=10)
        assert again.status_code == 202 and again.json()["runs"][0]["run_id"] > max(given)
    finally:
        stop(proc)
