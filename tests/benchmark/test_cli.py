"""``discovery benchmarks`` against a real running service: real actors, SQLite, the simulator's
streaming chat over loopback, the uvicorn port; tables and ``--json`` parsed, errors as one line."""
from __future__ import annotations

import json

from click.testing import CliRunner

from discovery.settings import BenchmarkTarget
from tests.benchmark.test_service import ADMIN, start
from web.cli import cli
from web.server import ServerThread


def run(server, *args, token: str | None = ADMIN, code: int = 0):
    env = {"DISCOVERY_ADMIN_TOKEN": token, "DISCOVERY_READ_TOKEN": None, "DISCOVERY_URL": None}
    result = CliRunner().invoke(cli, ["--url", server.url, *args], env=env, catch_exceptions=False)
    assert result.exit_code == code, (result.stdout, result.stderr)
    return result


def test_benchmarks_run_board_runs_and_show_from_the_command_line(start_service, simulator):
    simulator.state.set_stream("openai", ttft=0.03, tokens_per_second=400, output_tokens=16)
    service = start(start_service, simulator,
                    [BenchmarkTarget("openai", enabled=True, models=("openai/gpt-4o", "openai/gpt-4.1"))])
    server = ServerThread(service).start()
    try:
        # Starting a run is a change: without the admin token it is refused, in one line.
        refused = run(server, "benchmarks", "run", "openai/gpt-4o", token=None, code=1)
        assert "unauthorized (401)" in refused.stderr and "DISCOVERY_ADMIN_TOKEN" in refused.stderr
        assert service.benchmark_runs() == []

        answer = json.loads(run(server, "benchmarks", "run", "openai/gpt-4o", "--wait", "--json").stdout)
        [first] = answer["runs"]
        assert first["outcome"] == "succeeded" and first["provider"] == "openai" and first["trigger"] == "manual"
        [result] = answer["results"]
        assert result["model_id"] == "openai/gpt-4o" and result["sample_count"] == 2 and result["ttft_ms"] >= 30
        table = run(server, "benchmarks", "run", "openai/gpt-4.1", "--wait").stdout
        assert "succeeded" in table and "TTFT MS" in table

        board = json.loads(run(server, "benchmarks", "board", "--provider", "openai", "--sort", "-ttft", "--json").stdout)
        assert board["total"] == 2 and {r["model_id"] for r in board["data"]} == {"openai/gpt-4o", "openai/gpt-4.1"}
        assert board["sort"] == "-ttft"
        ranked = run(server, "benchmarks", "board", "--limit", "1").stdout
        assert board["data"][-1]["model_id"] in ranked and "1 of 2 measured, by ttft (next: --offset 1)" in ranked

        runs = json.loads(run(server, "benchmarks", "runs", "--provider", "openai", "--json").stdout)
        assert len(runs["data"]) == 2 and runs["data"][1]["id"] == first["id"]  # newest first
        assert all(r["outcome"] == "succeeded" and r["spend_usd"] > 0 for r in runs["data"])
        assert runs["today"]["spent_usd"] == round(sum(r["spend_usd"] for r in runs["data"]), 8)
        listed = run(server, "benchmarks", "runs").stdout.splitlines()
        assert listed[0].split()[:2] == ["RUN", "PROVIDER"] and listed[-1].startswith("2 runs; spent today (UTC) $")
        assert [line.split()[0] for line in listed[1:3]] == [str(r["id"]) for r in runs["data"]]

        shown = json.loads(run(server, "benchmarks", "show", "openai/gpt-4o", "--json").stdout)
        assert shown["performance"]["ttft_ms"] == round(result["ttft_ms"], 2)
        assert "openai/gpt-4o: performance" in run(server, "benchmarks", "show", "openai/gpt-4o").stdout
        assert "not measured yet" in run(server, "benchmarks", "show", "openai/gpt-4o-mini").stdout

        # The API's own messages, one line and exit 1, and nothing started.
        before = len(service.benchmark_runs())
        assert "openai/gpt-4o-mini is not matched by benchmarks.providers.openai.models" in run(
            server, "benchmarks", "run", "openai/gpt-4o-mini", code=1).stderr
        assert "no model 'openai/nope'" in run(server, "benchmarks", "run", "openai/nope", code=1).stderr
        assert "unknown sort 'colour'" in run(server, "benchmarks", "board", "--sort", "colour", code=1).stderr
        assert len(service.benchmark_runs()) == before
    finally:
        server.stop()
