"""The ``discovery`` client verbs against a real running service (real actors, SQLite, the
simulator, the uvicorn port): each verb, its ``--json`` parsed, and errors as one clear line."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import provider_config, wait_for
from tests.notify.conftest import add_model
from web.cli import cli
from web.server import ServerThread

ROOT = Path(__file__).resolve().parents[2]
ADMIN = "cli-admin-token-3f9a7c1e5b"


@pytest.fixture
def live(start_service, simulator):
    """A service with an admin token and one provider, its first refresh done, on a loopback port."""
    service = start_service([provider_config(simulator, "openai", "openai_compatible", route="openai",
                                             manual_refresh_per_minute=1000)], admin_token=ADMIN)
    wait_for(lambda: all(p.get("last_success_at") for p in service.providers()), what="the first refresh")
    server = ServerThread(service).start()
    yield service, server
    server.stop()


def run(server, *args, token: str | None = None, ok: bool = True):
    env = {"DISCOVERY_ADMIN_TOKEN": token, "DISCOVERY_READ_TOKEN": None, "DISCOVERY_URL": None}
    result = CliRunner().invoke(cli, ["--url", server.url, *args], env=env, catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, (result.stdout, result.stderr)
    return result


def test_models_show_and_providers_print_tables_and_json(live):
    service, server = live
    page = json.loads(run(server, "models", "--json", "--provider", "openai", "--limit", "5", "--sort", "id").stdout)
    assert page["total"] == service.index.provider_count("openai") and len(page["data"]) == 5
    assert [m["id"] for m in page["data"]] == sorted(m["id"] for m in page["data"])
    first = page["data"][0]["id"]
    table = run(server, "models", "--provider", "openai", "--limit", "5", "--sort", "id").stdout
    assert first in table and f"5 of {page['total']} models" in table

    record = json.loads(run(server, "show", first, "--json").stdout)
    assert record["id"] == first and "raw" not in record
    assert "provider" in run(server, "show", first).stdout

    providers = json.loads(run(server, "providers", "--json").stdout)["data"]
    assert [p["name"] for p in providers] == ["openai"]
    assert "healthy" in run(server, "providers").stdout


def test_history_compare_and_events_after_a_change(live, simulator):
    service, server = live
    add_model(simulator, "gpt-cli-test")
    refreshed = json.loads(run(server, "refresh", "openai", "--wait", "--json", token=ADMIN).stdout)
    assert [r["outcome"] for r in refreshed["runs"]] == ["succeeded"] and refreshed["runs"][0]["added"] == 1

    versions = json.loads(run(server, "history", "openai/gpt-cli-test", "--json").stdout)["versions"]
    assert [v["change"] for v in versions] == ["added"]
    assert "added" in run(server, "history", "openai/gpt-cli-test").stdout

    other = next(i for i in service.index.ids() if i.startswith("openai/") and i != "openai/gpt-cli-test")
    compared = json.loads(run(server, "compare", "openai/gpt-cli-test", other, "--json").stdout)
    assert compared["ids"] == ["openai/gpt-cli-test", other]
    rows = {row["field"]: row for row in compared["fields"]}
    assert rows["id"]["values"] == ["openai/gpt-cli-test", other] and rows["id"]["differs"]
    assert "provider_model_id" in compared["differing"] and not rows["provider"]["differs"]
    assert "provider_model_id" in run(server, "compare", "openai/gpt-cli-test", other).stdout

    lines = run(server, "events", "--json", "--kinds", "added", "--limit", "1000").stdout.splitlines()
    events = [json.loads(line) for line in lines]
    assert events and events[-1]["model_id"] == "openai/gpt-cli-test"


def test_refresh_without_the_token_is_refused_with_a_clear_message(live, simulator):
    service, server = live
    runs = len(service.refresh_runs(limit=1000))
    result = run(server, "refresh", "openai", ok=False)
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    assert "set DISCOVERY_ADMIN_TOKEN" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert len(service.refresh_runs(limit=1000)) == runs


def test_unknown_model_and_bad_parameter_show_the_apis_message(live):
    _, server = live
    missing = run(server, "show", "openai/no-such-model", ok=False)
    assert missing.exit_code == 1 and "no-such-model" in missing.stderr and "Traceback" not in missing.stderr
    bad = run(server, "models", "--param", "limit=0", ok=False)
    assert bad.exit_code == 1 and "limit" in bad.stderr and "Traceback" not in bad.stderr
    sort = run(server, "models", "--sort", "bogus", ok=False)
    assert sort.exit_code == 1 and "bogus" in sort.stderr and len(sort.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("args,message", [
    (["compare", "openai/gpt-4o"], "Error: compare takes 2 to 10 different model ids (see 'discovery compare --help')"),
    (["--nope"], "Error: No such option '--nope'. (see 'discovery --help')"),
    (["benchmarks", "run", "--wat", "x"],
     "Error: No such option '--wat'. Did you mean '--wait'? (see 'discovery benchmarks run --help')"),
    (["models", "--limit", "abc"], "Error: Invalid value for '--limit': 'abc' is not a valid integer range. "
                                   "(see 'discovery models --help')"),
])
def test_bad_usage_is_one_line_saying_where_help_is_and_exit_2(args, message):
    """Usage errors were four lines (the usage, a hint, a blank line, the error); the README says one."""
    result = CliRunner().invoke(cli, ["--url", "http://127.0.0.1:9", *args], prog_name="discovery")
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [message]


def test_connection_refused_is_one_line_and_exit_1_from_the_real_command(tmp_path):
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.run([sys.executable, "-m", "web.cli", "--url", f"http://127.0.0.1:{port}", "models"],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [f"Error: cannot reach the service at http://127.0.0.1:{port} "
                                                "(is `discovery serve` running there? set --url or DISCOVERY_URL)"]
    version = subprocess.run([sys.executable, "-m", "web.cli", "--version"], capture_output=True, text=True,
                             timeout=60, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert version.returncode == 0 and version.stdout.startswith("discovery ")


def test_credentials_in_the_services_url_never_reach_an_error_line(tmp_path):
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    token, password = "url-token-0123456789abcdef", "url-password-0123456789"
    for url in (f"http://{token}@127.0.0.1:{port}", f"http://ops:{password}@127.0.0.1:{port}",
                f"http://ops:{password}@127.0.0.1:99999"):
        result = CliRunner().invoke(cli, ["--url", url, "models"], catch_exceptions=False,
                                    env={"DISCOVERY_ADMIN_TOKEN": None, "DISCOVERY_READ_TOKEN": None})
        assert result.exit_code in (1, 2) and result.stderr.startswith("Error: "), result.stderr
        assert token not in result.stderr and password not in result.stderr, result.stderr


def test_events_follow_resumes_after_the_connection_drops_with_no_gap_and_no_duplicate(live, simulator):
    service, server = live
    after = service.last_event_id()
    proc = subprocess.Popen([sys.executable, "-m", "web.cli", "--url", server.url, "events", "--follow", "--json",
                             "--kinds", "added", "--since", str(after), "--count", "3"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT), "DISCOVERY_ADMIN_TOKEN": ADMIN})
    got: list[dict] = []
    reader = threading.Thread(target=lambda: got.extend(json.loads(line) for line in proc.stdout), daemon=True)
    reader.start()
    try:
        add_model(simulator, "gpt-follow-1")
        service.wait([service.refresh("openai")], 30)
        wait_for(lambda: len(got) == 1, timeout=15, what="the first streamed event")
        # The port goes away (the stream drops); two models are added while nobody listens.
        port = server.port
        server.stop()
        for name in ("gpt-follow-2", "gpt-follow-3"):
            add_model(simulator, name)
            service.wait([service.refresh("openai")], 30)
        restarted = ServerThread(service, port=port).start()
        try:
            assert proc.wait(timeout=30) == 0, proc.stderr.read()
        finally:
            restarted.stop()
        reader.join(timeout=5)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert [e["model_id"] for e in got] == ["openai/gpt-follow-1", "openai/gpt-follow-2", "openai/gpt-follow-3"]
    assert "reconnecting" in proc.stderr.read()


def test_config_check_prints_valid_toml_with_secrets_redacted_and_refuses_a_bad_file(tmp_path):
    good = tmp_path / "good.toml"
    good.write_text('[service]\nport = 9000\n\n[providers.openai]\nformat = "openai"\napi_key_env = "OPENAI_API_KEY"\n')
    env = {"DISCOVERY_ADMIN_TOKEN": ADMIN, "OPENAI_API_KEY": "sk-test-cli-0123456789abcdefghij", "DISCOVERY_CONFIG": None,
           "DATABASE_URL": "postgresql://app:Db-Passw0rd-4711@127.0.0.1:5432/discovery"}
    result = CliRunner().invoke(cli, ["config", "check", "--config", str(good)], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    assert ADMIN not in result.stdout and "sk-test-cli" not in result.stdout and "Db-Passw0rd" not in result.stdout
    assert 'database_url = "postgresql://app:[REDACTED]@127.0.0.1:5432/discovery"' in result.stdout
    document = tomllib.loads(result.stdout)
    assert document["service"]["port"] == 9000
    # The secrets are comments (masked): the printed settings are a file config check accepts again.
    assert '# admin_token = "[REDACTED]" (from the environment only)' in result.stdout
    assert '# api_key = "[REDACTED] (from OPENAI_API_KEY)" (from the environment only)' in result.stdout
    assert "admin_token" not in document["service"] and "api_key" not in document["providers"]["openai"]
    printed = tmp_path / "printed.toml"
    printed.write_text(result.stdout)
    again = CliRunner().invoke(cli, ["config", "check", "--config", str(printed)], env=env, catch_exceptions=False)
    assert again.exit_code == 0, again.stderr
    assert tomllib.loads(again.stdout) == document
    bad = tmp_path / "bad.toml"
    bad.write_text("[service]\nno_such_key = 1\n")
    refused = CliRunner().invoke(cli, ["config", "check", "--config", str(bad)], env=env)
    assert refused.exit_code == 2 and "service.no_such_key" in refused.stderr


def test_a_secret_quoted_as_a_wrong_value_is_masked_in_config_checks_error(tmp_path):
    """A key pasted into the wrong variable or key is the value an error quotes, and the settings
    that would have named it a secret are the ones that failed to load."""
    plain_key = "antkey+With/Slash=Plus9876"  # no key shape: only its variable says it is a secret
    env = {"DISCOVERY_ADMIN_TOKEN": ADMIN, "ANTHROPIC_API_KEY": plain_key, "MY_LLM_KEY": "llm-Key-5566778899",
           "DISCOVERY_CONFIG": None}
    cases = [({"DISCOVERY_PORT": plain_key}, None, "DISCOVERY_PORT: expected int"),
             ({"DISCOVERY_PROVIDER_OPENAI_TIMEOUT": ADMIN}, None, "DISCOVERY_PROVIDER_OPENAI_TIMEOUT: expected float"),
             ({"DISCOVERY_LOG_LEVEL": "llm-Key-5566778899"}, None, "DISCOVERY_LOG_LEVEL: must be one of"),
             ({}, f'[service]\nport = "{ADMIN}"\n', "service.port: expected int")]
    for extra, text, where in cases:
        args = ["config", "check"]
        if text:
            path = tmp_path / "wrong.toml"
            path.write_text(text)
            args += ["--config", str(path)]
        refused = CliRunner().invoke(cli, args, env={**env, **extra})
        assert refused.exit_code == 2 and where in refused.stderr, refused.stderr
        for secret in (plain_key, ADMIN, "llm-Key-5566778899"):
            assert secret not in refused.stderr, refused.stderr
        assert "[REDACTED]" in refused.stderr, refused.stderr
    # A wrong value that is no secret is still quoted, to be found.
    plain = CliRunner().invoke(cli, ["config", "check"], env={**env, "DISCOVERY_PORT": "80a"})
    assert plain.exit_code == 2 and "got '80a'" in plain.stderr, plain.stderr


def test_config_checks_output_of_benchmarks_waiting_for_a_key_is_a_file_config_check_accepts(tmp_path):
    """A benchmark table for a provider an API key would turn on, with the key not set: accepted,
    and so is what config check prints (which lists the providers it found, in tables)."""
    bench = tmp_path / "bench.toml"
    bench.write_text("[benchmarks]\n\n[benchmarks.providers.openai]\nenabled = true\n")
    env = {"OPENAI_API_KEY": None, "DISCOVERY_CONFIG": None, "DISCOVERY_ADMIN_TOKEN": None}
    result = CliRunner().invoke(cli, ["config", "check", "--config", str(bench)], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    document = tomllib.loads(result.stdout)
    # Printed as comments: the printed providers are tables, and with tables no key turns a provider
    # on, so a table of openai's benchmarks would be refused (its provider is not configured).
    assert "openai" not in document.get("providers", {}) and "openai" not in document["benchmarks"].get("providers", {})
    assert "# [benchmarks.providers.openai] waits for its provider, which is not configured" in result.stdout
    assert "# enabled = true" in result.stdout
    printed = tmp_path / "printed.toml"
    printed.write_text(result.stdout)
    again = CliRunner().invoke(cli, ["config", "check", "--config", str(printed)], env=env, catch_exceptions=False)
    assert again.exit_code == 0, again.stderr
    typo = tmp_path / "typo.toml"
    typo.write_text("[benchmarks.providers.opneai]\nenabled = true\n")
    refused = CliRunner().invoke(cli, ["config", "check", "--config", str(typo)], env=env)
    assert refused.exit_code == 2 and "benchmarks.providers.opneai: no provider opneai is configured" in refused.stderr


def test_config_check_masks_a_password_in_a_providers_base_url(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text('[providers.local]\nformat = "vllm"\nbase_url = "http://svc:Vllm-Passw0rd-0815@10.0.0.5:8000/v1"\n')
    result = CliRunner().invoke(cli, ["config", "check", "--config", str(path)], env={"DISCOVERY_CONFIG": None},
                                catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    assert "Vllm-Passw0rd" not in result.stdout
    assert 'base_url = "http://svc:[REDACTED]@10.0.0.5:8000/v1"' in result.stdout
    # Printed as it is, not only scrubbed on the way out: a token alone as the user part is masked too.
    from discovery.effective_settings import effective
    from discovery.settings_reader import load_settings

    path.write_text('[providers.local]\nformat = "vllm"\nbase_url = "http://Vllm-T0ken-0815@10.0.0.5:8000/v1"\n')
    shown = effective(load_settings(path, environ={}), environ={})["providers"]["local"]["base_url"]
    assert shown == "http://[REDACTED]@10.0.0.5:8000/v1"


def test_config_check_shows_the_key_a_provider_reads_from_its_formats_own_variable(tmp_path):
    """A provider with no api_key_env reads its format's variable (MISTRAL_API_KEY): config check
    says whether that one is set, not that the key is unset."""
    path = tmp_path / "m.toml"
    path.write_text('[providers.mistral]\nformat = "mistral"\n')
    env = {"DISCOVERY_CONFIG": None, "MISTRAL_API_KEY": "mistral-test-key-0123456789abcdef"}
    result = CliRunner().invoke(cli, ["config", "check", "--config", str(path)], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    assert "mistral-test-key" not in result.stdout
    assert '# api_key = "[REDACTED] (from MISTRAL_API_KEY)" (from the environment only)' in result.stdout
    unset = CliRunner().invoke(cli, ["config", "check", "--config", str(path)],
                               env={"DISCOVERY_CONFIG": None, "MISTRAL_API_KEY": None}, catch_exceptions=False)
    assert '# api_key = "not set (MISTRAL_API_KEY is not set)" (from the environment only)' in unset.stdout


def test_events_warns_of_events_lost_to_retention_only_when_resuming_from_an_id(start_service, simulator):
    service = start_service([provider_config(simulator, "openai", "openai_compatible", route="openai")],
                            event_retention_count=5, event_retention_interval=0)
    wait_for(lambda: service.last_event_id() > 10, what="the first refresh's events")
    assert service.webhooks.prune() > 0
    oldest = service.events_after(0, 1)[0].id
    server = ServerThread(service).start()
    try:
        # Reading the feed from its start resumes from nothing: what retention deleted long ago
        # was never this reader's to miss.
        fresh = run(server, "events", "--json", "--limit", "1000")
        assert [json.loads(line)["id"] for line in fresh.stdout.splitlines()][0] == oldest
        assert "deleted by retention" not in fresh.stderr
        resumed = run(server, "events", "--json", "--since", "1")
        assert f"{oldest - 2} events after #1 were deleted by retention" in resumed.stderr
    finally:
        server.stop()


def test_a_read_refused_to_a_wrong_read_token_names_the_read_token(start_service, simulator):
    """A wrong DISCOVERY_READ_TOKEN was told to set DISCOVERY_ADMIN_TOKEN, which reads need not."""
    service = start_service([provider_config(simulator, "openai", "openai_compatible", route="openai")],
                            admin_token=ADMIN, read_token="read-token-0123456789abcdef")
    server = ServerThread(service).start()
    try:
        env = {"DISCOVERY_ADMIN_TOKEN": None, "DISCOVERY_READ_TOKEN": "not-the-read-token-0123", "DISCOVERY_URL": None}
        wrong = CliRunner().invoke(cli, ["--url", server.url, "models"], env=env)
        assert wrong.exit_code == 1 and "DISCOVERY_READ_TOKEN holds a token the service does not take" in wrong.stderr, \
            wrong.stderr
        env["DISCOVERY_READ_TOKEN"] = "read-token-0123456789abcdef"
        change = CliRunner().invoke(cli, ["--url", server.url, "refresh", "openai"], env=env)
        assert change.exit_code == 1 and "set DISCOVERY_ADMIN_TOKEN to the service's token" in change.stderr, \
            change.stderr
    finally:
        server.stop()


def test_a_piped_table_keeps_each_row_on_one_line(monkeypatch):
    """A row whose cells passed 200 characters together was folded onto lines of their own when
    piped (capabilities, a provider's last error), breaking grep, awk and head on rows."""
    import io

    from rich.table import Table

    from web.commands import console

    piped = io.StringIO()
    monkeypatch.setattr(sys, "stdout", piped)
    table = Table(box=None, pad_edge=False)
    for column in ("ID", "CAPABILITIES", "LAST ERROR"):
        table.add_column(column)
    table.add_row("azure/apac/gpt-6.1-sol", ", ".join(["structured_output", "reasoning", "prompt_caching"] * 6),
                  "bedrock af-south-1 answered HTTP 403: " + "x" * 300)
    table.add_row("openai/gpt-4o", "vision", "")
    console().print(table)
    lines = piped.getvalue().splitlines()
    assert len(lines) == 3 and lines[1].startswith("azure/apac/gpt-6.1-sol ") and lines[1].rstrip().endswith("x" * 300)
    assert lines[2].startswith("openai/gpt-4o ")


@pytest.mark.parametrize("args", [["models"], ["models", "--json"], ["providers"], ["events"]])
def test_a_reader_gone_ends_a_command_quietly_with_exit_code_1(live, tmp_path, args):
    """``discovery models | head -1``: whatever prints the output (click or rich), the command ends
    at once with exit code 1 and nothing on stderr. (SIGPIPE left at its default would end it as
    coreutils end, but the CLI's sockets share the signal: a write to a reset connection would
    kill it silently instead of raising an error it reports.)"""
    service, server = live
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the command writes its first line
    try:
        proc = subprocess.run([sys.executable, "-m", "web.cli", "--url", server.url, *args], stdout=write_end,
                              stderr=subprocess.PIPE, text=True, timeout=60, cwd=tmp_path,
                              env={**os.environ, "PYTHONPATH": str(ROOT), "DISCOVERY_ADMIN_TOKEN": ADMIN})
    finally:
        os.close(write_end)
    assert proc.returncode == 1, (proc.returncode, proc.stderr)
    assert proc.stderr == ""


def test_refresh_wait_writes_nothing_to_a_stderr_that_is_no_terminal_and_events_say_there_are_more(live):
    """A blank line on stderr for every `refresh --wait` in cron or CI (rich's progress, shown
    though no terminal watched it); `events` stopped at its page with no word of the rest."""
    service, server = live
    done = run(server, "refresh", "openai", "--wait", token=ADMIN)
    assert done.stderr == "" and "openai" in done.stdout
    total = len(service.events_after(0, 10_000))
    assert total > 3
    first = run(server, "events", "--limit", "2")
    assert len(first.stdout.strip().splitlines()) == 2
    next_id = json.loads(run(server, "events", "--json", "--limit", "2").stdout.splitlines()[-1])["id"]
    assert first.stderr.strip() == f"more events after these: --since {next_id}"
    rest = run(server, "events", "--since", str(next_id), "--limit", "1000")
    assert rest.stderr == "" and len(rest.stdout.strip().splitlines()) == total - 2


def test_a_429_of_the_services_own_says_when_once(start_service, simulator):
    """"try again in 32s (retry after 33s)": the Retry-After header added to a message that said when."""
    service = start_service([provider_config(simulator, "openai", "openai_compatible", route="openai",
                                             manual_refresh_per_minute=1)], admin_token=ADMIN)
    wait_for(lambda: all(p.get("last_success_at") for p in service.providers()), what="the first refresh")
    server = ServerThread(service).start()
    try:
        run(server, "refresh", "openai", token=ADMIN)
        refused = run(server, "refresh", "openai", token=ADMIN, ok=False)
    finally:
        server.stop()
    assert refused.exit_code == 1
    message = refused.stderr.strip()
    assert "try again in" in message and "retry after" not in message and message.endswith("(429)"), message


def test_a_refused_token_names_the_variable_that_holds_it(live):
    """A wrong DISCOVERY_ADMIN_TOKEN was told to "set DISCOVERY_READ_TOKEN (or DISCOVERY_ADMIN_TOKEN)",
    as if no token had been sent."""
    _, server = live
    refused = run(server, "refresh", "openai", token="not-the-admin-token-0123456789", ok=False)
    assert refused.exit_code == 1
    assert refused.stderr.strip() == ("Error: unauthorized (401): the token sent is not the admin token, which this "
                                      "needs — DISCOVERY_ADMIN_TOKEN holds a token the service does not take; set it "
                                      "to the service's token")


def test_providers_show_what_a_catalog_describes_and_the_export_refuses_catalog_only(start_service, simulator):
    """modelsdev and litellm showed MODELS 0 (their models are the providers'), read as "the catalogs
    are empty"; `export litellm --catalog-only` always answered an empty model_list, exit 0."""
    simulator.state.set_models("modelsdev", {k: v for k, v in simulator.state.model_items("modelsdev")
                                             if k == "mistral"})
    service = start_service([provider_config(simulator, "openai", "openai_compatible", route="openai"),
                             provider_config(simulator, "modelsdev", "modelsdev")])
    wait_for(lambda: all(p.get("last_success_at") for p in service.providers()), what="the first refreshes")
    server = ServerThread(service).start()
    try:
        described = next(p for p in service.providers() if p["name"] == "modelsdev")["reported_models"]
        assert described > 0
        rows = {line.split()[0]: line for line in run(server, "providers").stdout.splitlines()[1:] if line.strip()}
        assert f"{described:,} described" in rows["modelsdev"], rows["modelsdev"]
        refused = run(server, "export", "litellm", "--catalog-only", ok=False)
        assert refused.exit_code == 2 and "--catalog-only selects nothing for the export" in refused.stderr, \
            refused.stderr  # bad usage, said before anything is asked of the service
    finally:
        server.stop()
