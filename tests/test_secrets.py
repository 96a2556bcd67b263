"""API keys never reach logs, HTTP responses or the database."""
from __future__ import annotations

import os
from pathlib import Path

from loguru import logger

from discovery.settings import ProviderConfig
from tests.conftest import provider_config, wait_for
from web import create_app

SECRET = "sk-test-4f9c2b7e-do-not-leak"


def finished_runs(client) -> int:
    """How many refresh runs have ended."""
    return sum(1 for r in client.get("/api/v1/refresh/runs").get_json()["data"] if r["finished_at"])


def test_api_key_is_absent_from_logs_responses_and_the_database(start_service, simulator, db_url, monkeypatch):
    monkeypatch.setenv("LEAK_TEST_KEY", SECRET)
    lines: list[str] = []
    sink = logger.add(lines.append, level="DEBUG")
    try:
        good = provider_config(simulator, "openai", "openai", api_key_env="LEAK_TEST_KEY")
        bad = provider_config(simulator, "anthropic", "anthropic", api_key_env="LEAK_TEST_KEY")
        simulator.state.set_expected_key("anthropic", "another-key")  # so this one fails auth
        service = start_service([good, bad])
        client = create_app(service).test_client()
        wait_for(lambda: all(p.get("last_refresh_at") for p in service.providers()), what="both refreshed")
        simulator.state.set_fault("openai", "status", status=500)
        client.post("/api/v1/refresh?wait=true")
        bodies = [client.get(u).get_data(as_text=True) for u in (
            "/api/v1/providers", "/api/v1/refresh/runs", "/api/v1/models?limit=1000",
            "/api/v1/providers/anthropic/health", "/api/v1/providers/openai/health")]
        model_id = client.get("/api/v1/models?provider=openai&limit=1").get_json()["data"][0]["id"]
        bodies.append(client.get(f"/api/v1/models/{model_id}").get_data(as_text=True))
        # The simulator really received the key, so the test would notice a leak.
        assert any(r.get("auth") for r in simulator.state.requests("openai"))
    finally:
        logger.remove(sink)
    service.stop()
    assert "401" in "".join(bodies)
    for text in bodies + lines:
        assert SECRET not in text
    db_file = Path(db_url.removeprefix("sqlite:///"))
    for path in db_file.parent.glob(db_file.name + "*"):
        assert SECRET.encode() not in path.read_bytes()
    assert os.environ["LEAK_TEST_KEY"] == SECRET


def test_key_from_the_formats_own_variable_is_absent_from_responses_logs_and_the_database(
        start_service, simulator, db_url, monkeypatch):
    # No api_key_env: the client reads the format's own variable (MISTRAL_API_KEY), a key of no
    # known shape, and the provider echoes it in its error body.
    key = "plainmistral-0123456789abcdef-default-env"
    monkeypatch.setenv("MISTRAL_API_KEY", key)
    lines: list[str] = []
    sink = logger.add(lines.append, level="TRACE")
    try:
        config = provider_config(simulator, "mistral", "mistral")
        assert config.api_key_env is None
        simulator.state.set_fault("mistral", "status", status=401, message="Incorrect API key provided: {key}")
        service = start_service([config])
        client = create_app(service).test_client()
        wait_for(lambda: finished_runs(client) == 1, what="the failed run")
        bodies = [client.get(u).get_data(as_text=True) for u in (
            "/api/v1/providers", "/api/v1/refresh/runs", "/api/v1/events", "/api/v1/providers/mistral/health")]
    finally:
        logger.remove(sink)
    service.stop()
    assert "401" in bodies[1]
    for text in bodies + lines:
        assert key not in text
    db_file = Path(db_url.removeprefix("sqlite:///"))
    for path in db_file.parent.glob(db_file.name + "*"):
        assert key.encode() not in path.read_bytes()


def test_credentials_in_a_base_urls_user_part_are_absent_from_responses_logs_and_the_database(
        start_service, db_url):
    import socket

    with socket.socket() as probe:  # a port nothing listens on: every refresh fails to connect
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    token = "userinfo-token-0123456789abcdef"  # a token as the whole user part, no password
    password = "userinfo-password-0123456789"
    configs = [ProviderConfig(name="vllm", format="vllm", base_url=f"http://{token}@127.0.0.1:{port}/v1",
                              retries=0, timeout=1.0, health_check_interval=0),
               ProviderConfig(name="ollama", format="ollama", base_url=f"http://bob:{password}@127.0.0.1:{port}",
                              retries=0, timeout=1.0, health_check_interval=0)]
    lines: list[str] = []
    sink = logger.add(lines.append, level="TRACE")
    try:
        service = start_service(configs)
        client = create_app(service).test_client()
        wait_for(lambda: finished_runs(client) == 2, what="both failed runs")
        bodies = [client.get(u).get_data(as_text=True) for u in (
            "/api/v1/providers", "/api/v1/refresh/runs", "/api/v1/events", "/api/v1/providers/vllm/health")]
    finally:
        logger.remove(sink)
    service.stop()
    assert "cannot connect to vllm" in bodies[1]
    for text in bodies + lines:
        assert token not in text and password not in text
    db_file = Path(db_url.removeprefix("sqlite:///"))
    for path in db_file.parent.glob(db_file.name + "*"):
        data = path.read_bytes()
        assert token.encode() not in data and password.encode() not in data


def test_basic_credentials_from_a_base_url_echoed_by_the_endpoint_are_absent_everywhere(start_service, db_url):
    # requests sends a base URL's user part as "Authorization: Basic base64(user:password)"; a
    # gateway in front of the provider echoes the header it refused.
    import base64
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Gateway(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the http.server API
            body = json.dumps({"error": {"message": f"refused {self.headers.get('Authorization')}"}}).encode()
            self.send_response(401)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    gateway = ThreadingHTTPServer(("127.0.0.1", 0), Gateway)
    gateway.daemon_threads = True
    threading.Thread(target=gateway.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    password = "gateway-password-0123456789"
    basic = base64.b64encode(f"svc:{password}".encode()).decode()
    config = ProviderConfig(name="vllm", format="vllm", retries=0, timeout=2.0, health_check_interval=0,
                            base_url=f"http://svc:{password}@127.0.0.1:{gateway.server_port}/v1")
    lines: list[str] = []
    sink = logger.add(lines.append, level="TRACE")
    try:
        service = start_service([config])
        client = create_app(service).test_client()
        wait_for(lambda: finished_runs(client) == 1, what="the failed run")
        bodies = [client.get(u).get_data(as_text=True) for u in (
            "/api/v1/providers", "/api/v1/refresh/runs", "/api/v1/events", "/api/v1/providers/vllm/health")]
    finally:
        logger.remove(sink)
        gateway.shutdown()
        gateway.server_close()
    service.stop()
    assert "refused Basic" in bodies[1]
    for text in bodies + lines:
        assert basic not in text and password not in text
    db_file = Path(db_url.removeprefix("sqlite:///"))
    for path in db_file.parent.glob(db_file.name + "*"):
        assert basic.encode() not in path.read_bytes()


def test_a_key_echoed_past_where_an_error_excerpt_is_cut_leaves_no_part_of_itself(start_service, db_url, monkeypatch):
    # Error excerpts are cut (a body that is not JSON: its first 80 characters; a plain error page:
    # 120): cut before it was scrubbed, the key's first characters were no longer the key.
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    key = "gatewaykey0123456789abcdefghijklmnopqrstuv"
    monkeypatch.setenv("LEAK_GATEWAY_KEY", key)

    class Gateway(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the http.server API
            sent = self.headers.get("Authorization", "").removeprefix("Bearer ")
            status = 401 if self.path.startswith("/plain") else 200
            body = (f"Request refused at the edge by policy gw-7 (see the runbook, section 4.2); the credential presented, "
                    f"{sent}, is not one we know"
                    if status == 401 else f"<<maintenance>> back soon. Your request with {sent} was queued").encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    gateway = ThreadingHTTPServer(("127.0.0.1", 0), Gateway)
    gateway.daemon_threads = True
    threading.Thread(target=gateway.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    configs = [ProviderConfig(name=name, format="vllm", api_key_env="LEAK_GATEWAY_KEY", retries=0, timeout=2.0,
                              health_check_interval=0, base_url=f"http://127.0.0.1:{gateway.server_port}/{name}/v1")
               for name in ("plain", "notjson")]
    lines: list[str] = []
    sink = logger.add(lines.append, level="TRACE")
    try:
        service = start_service(configs)
        client = create_app(service).test_client()
        wait_for(lambda: finished_runs(client) == 2, what="both failed runs")
        bodies = [client.get(u).get_data(as_text=True) for u in (
            "/api/v1/providers", "/api/v1/refresh/runs", "/api/v1/events")]
    finally:
        logger.remove(sink)
        gateway.shutdown()
        gateway.server_close()
    service.stop()
    assert "refused at the edge" in bodies[1] and "maintenance" in bodies[1]
    part = key[:8]  # any run of the key's first characters
    for text in bodies + lines:
        assert part not in text, text[:400]
    db_file = Path(db_url.removeprefix("sqlite:///"))
    for path in db_file.parent.glob(db_file.name + "*"):
        assert part.encode() not in path.read_bytes()


def test_a_key_echoed_in_another_case_is_absent_everywhere(start_service, db_url, monkeypatch):
    """A provider's error that echoed the key lower- and upper-cased left both in the logs, the
    provider's last_error, the run's error, the status_changed reason and the database."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    key = "uatKEY-abc-def-ghi0123456789"

    class Echo(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the http.server API
            given = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
            body = json.dumps({"error": {"message": f"invalid key lower={given.lower()} upper={given.upper()}"}})
            self.send_response(401)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    monkeypatch.setenv("DISCOVERY_TEST_CASE_KEY", key)
    config = ProviderConfig(name="evil", format="openai_compatible", retries=0, timeout=2.0, health_check_interval=0,
                            api_key_env="DISCOVERY_TEST_CASE_KEY", base_url=f"http://127.0.0.1:{server.server_port}/v1")
    lines: list[str] = []
    sink = logger.add(lines.append, level="TRACE")
    try:
        service = start_service([config])
        client = create_app(service).test_client()
        wait_for(lambda: finished_runs(client) == 1, what="the failed run")
        bodies = [client.get(u).get_data(as_text=True) for u in (
            "/api/v1/providers", "/api/v1/refresh/runs", "/api/v1/events", "/api/v1/providers/evil/health")]
    finally:
        logger.remove(sink)
        server.shutdown()
        server.server_close()
    service.stop()
    assert "invalid key lower=" in bodies[1]
    for text in bodies + lines:
        for spelling in (key, key.lower(), key.upper()):
            assert spelling not in text
    db_file = Path(db_url.removeprefix("sqlite:///"))
    for path in db_file.parent.glob(db_file.name + "*"):
        data = path.read_bytes()
        assert key.lower().encode() not in data and key.upper().encode() not in data


def test_forgetting_a_secret_never_forgets_one_of_the_settings():
    """A webhook whose secret was the admin token, deleted, unmasked the token everywhere."""
    from discovery.redaction import Redactor
    from discovery.settings import Settings

    redactor = Redactor()
    token = "admin-token-4f6a8c0e2b4d6f8a"
    redactor.add_settings(Settings(admin_token=token), environ={})
    redactor.add(token, "whsec-other-0123456789abc")
    redactor.remove(token, "whsec-other-0123456789abc")
    assert redactor.scrub(f"x {token} whsec-other-0123456789abc") == "x [REDACTED] whsec-other-0123456789abc"
    assert redactor.holds_configured(f"prefix{token.upper()}") and not redactor.holds_configured("whsec-other-0123456789abc")
