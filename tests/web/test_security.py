"""Probed as an attacker and a careless client would, over real HTTP (the service's one uvicorn port).

Anonymous mutations are refused; a provider or receiver echoing any configured secret leaks it
nowhere (logs, answers, database rows, events, the live stream); each request that used to answer
500, or 400 after doing the work, is now a 4xx with nothing started.
"""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from loguru import logger

from tests.conftest import pg_answers, provider_config, wait_for
from tests.notify.conftest import SSEClient
from web import create_app
from web.server import ServerThread

ADMIN = "adm-token-5b8e2f1c9d7a4e3b"
READER = "read-token-2c4e6a8b0d1f3a5c"
OPENAI_KEY = "sk-test-openai-7f3a9c1e5b2d4f6a8c0e"
ANTHROPIC_KEY = "plainkey-anthropic-91b3d5f7a2c4e6"
GROQ_KEY = "plainkey-groq-0a2b4c6d8e1f3a5b7c"
HOOK_SECRET = "hook-secret-4d6f8a0c2e4b6d8f"
SECRETS = (ADMIN, READER, OPENAI_KEY, ANTHROPIC_KEY, GROQ_KEY, HOOK_SECRET)
ADMIN_AUTH = {"Authorization": f"Bearer {ADMIN}"}
READ_AUTH = {"Authorization": f"Bearer {READER}"}


@pytest.fixture
def http_service(start_service, simulator):
    """A service with admin and read tokens, one provider, served on a real port."""
    servers = []

    def start(providers=None, **settings):
        providers = providers or [provider_config(simulator, "openai", "openai_compatible", route="openai",
                                                  manual_refresh_per_minute=1000)]
        service = start_service(providers, **settings)
        wait_for(lambda: all(p.get("last_refresh_at") for p in service.providers()), what="first refreshes")
        server = ServerThread(service).start()
        servers.append(server)
        return service, server

    yield start
    for server in servers:
        server.stop()


def test_anonymous_and_read_token_mutations_are_refused_and_start_nothing(http_service, simulator):
    service, server = http_service(admin_token=ADMIN, read_token=READER)
    runs = len(service.refresh_runs(limit=1000))
    calls = simulator.state.request_count("openai")
    mutations = [("post", "/api/v1/refresh"), ("post", "/api/v1/providers/openai/refresh?wait=true"),
                 ("post", "/api/v1/subscriptions"), ("delete", "/api/v1/subscriptions/wh_x"),
                 ("post", "/api/v1/subscriptions/wh_x/replay")]
    for method, path in mutations:
        for headers, status in (({}, 401), ({"Authorization": "Bearer not-the-token"}, 401), (READ_AUTH, 403)):
            resp = requests.request(method, server.url + path, headers=headers, json={"url": "http://x"}, timeout=5)
            assert resp.status_code == status, (method, path, headers, resp.text)
            assert resp.json()["error"]["code"] in ("unauthorized", "forbidden")
            if status == 401:
                assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert len(service.refresh_runs(limit=1000)) == runs
    assert simulator.state.request_count("openai") == calls, "a refused request reached the provider"
    ok = requests.post(server.url + "/api/v1/refresh?wait=true", headers=ADMIN_AUTH, timeout=30)
    assert ok.status_code == 200 and ok.json()["runs"][0]["outcome"] == "succeeded"


def test_reads_need_the_read_token_except_the_probes(http_service):
    service, server = http_service(admin_token=ADMIN, read_token=READER)
    for path in ("/api/v1/models", "/api/v1/providers", "/api/v1/events", "/api/v1/refresh/runs"):
        assert requests.get(server.url + path, timeout=5).status_code == 401
        assert requests.get(server.url + path, headers=READ_AUTH, timeout=5).status_code == 200
        assert requests.get(server.url + path, headers=ADMIN_AUTH, timeout=5).status_code == 200
    assert requests.get(server.url + "/healthz", timeout=5).status_code == 200
    # The probes answer without the token, but say nothing of the data, the sources or the instance.
    assert requests.get(server.url + "/healthz", timeout=5).json() == {"status": "ok"}
    ready = requests.get(server.url + "/readyz", timeout=5)
    assert ready.status_code == 200 and ready.json() == {"ready": True}, ready.text
    told = requests.get(server.url + "/readyz", headers=READ_AUTH, timeout=5).json()
    assert told["ready"] is True and told["attempted"] == ["openai"] and "instance" in told
    assert "models" in requests.get(server.url + "/healthz", headers=ADMIN_AUTH, timeout=5).json()
    for path in ("/openapi.json", "/docs", "/docs/swagger-ui.css"):
        assert requests.get(server.url + path, timeout=5).status_code == 200, path
    assert requests.get(server.url + "/version", timeout=5).status_code == 401
    assert SSEClient(server.port, "/api/v1/events/stream").status == 401
    refused = requests.get(server.url + "/api/v1/subscriptions", headers=READ_AUTH, timeout=5)
    assert refused.status_code == 403
    assert refused.json()["error"]["message"].startswith("the read token does not show webhook subscriptions")
    # A token sent and refused is told apart from none sent (both said "send 'Authorization: Bearer'").
    wrong = {"Authorization": "Bearer not-the-token-0123456789"}
    none = requests.get(server.url + "/api/v1/models", timeout=5).json()["error"]["message"]
    assert none.startswith("reads need the read token: send 'Authorization: Bearer <token>'")
    sent = requests.get(server.url + "/api/v1/models", headers=wrong, timeout=5).json()["error"]["message"]
    assert sent == "the token sent is neither the read token nor the admin token"
    change = requests.post(server.url + "/api/v1/refresh", headers=wrong, timeout=5)
    assert change.status_code == 401
    assert change.json()["error"]["message"] == "the token sent is not the admin token, which this needs"


def test_without_an_admin_token_mutations_come_only_from_loopback(http_service, simulator):
    service, server = http_service()
    resp = requests.post(server.url + "/api/v1/providers/openai/refresh?wait=true", timeout=30)
    assert resp.status_code == 200, "a loopback client may change things when no token is set"
    runs = len(service.refresh_runs(limit=1000))
    calls = simulator.state.request_count("openai")
    remote = create_app(service).test_client()
    for method, path in (("post", "/api/v1/refresh"), ("post", "/api/v1/providers/openai/refresh"),
                         ("post", "/api/v1/subscriptions"), ("get", "/api/v1/subscriptions")):
        resp = getattr(remote, method)(path, json={}, environ_base={"REMOTE_ADDR": "203.0.113.7"})
        assert resp.status_code == 403 and "DISCOVERY_ADMIN_TOKEN" in resp.get_json()["error"]["message"]
    # Reads stay open from anywhere when no read token is set.
    assert remote.get("/api/v1/models", environ_base={"REMOTE_ADDR": "203.0.113.7"}).status_code == 200
    assert len(service.refresh_runs(limit=1000)) == runs
    assert simulator.state.request_count("openai") == calls


def test_without_an_admin_token_a_page_of_another_origin_cannot_change_anything(http_service, simulator):
    """A page in a browser on the service's host is a loopback client too, and a form or text/plain
    POST needs no preflight: without the origin check it could register a webhook to anywhere."""
    service, server = http_service(webhook_allow_private=True)
    runs = len(service.refresh_runs(limit=1000))
    evil = {"Origin": "https://evil.example", "Content-Type": "text/plain"}
    hook = '{"url": "http://127.0.0.1:9/hook", "since": 0}'
    for path, body in (("/api/v1/subscriptions", hook), ("/api/v1/refresh", None),
                       ("/api/v1/providers/openai/refresh", None)):
        resp = requests.post(server.url + path, data=body, headers=evil, timeout=10)
        assert resp.status_code == 403 and "another origin" in resp.json()["error"]["message"], (path, resp.text)
    assert service.webhooks.list_all() == [] and len(service.refresh_runs(limit=1000)) == runs
    # The body of a webhook must come as JSON: a form or text/plain type is a 415 that says so.
    resp = requests.post(server.url + "/api/v1/subscriptions", data=hook, timeout=10,
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert resp.status_code == 415 and "Content-Type: application/json" in resp.json()["error"]["message"]
    assert service.webhooks.list_all() == []
    # The service's own pages (the dashboard) send their own origin; curl and the CLI send none.
    own = requests.post(server.url + "/api/v1/subscriptions", data=hook, timeout=10,
                        headers={"Origin": server.url, "Content-Type": "application/json"})
    assert own.status_code == 201, own.text
    assert requests.post(server.url + "/api/v1/providers/openai/refresh", timeout=10).status_code == 202


def test_without_an_admin_token_a_page_rebound_to_loopback_cannot_change_anything(http_service, simulator):
    """DNS rebinding: a page whose own name was made to resolve to 127.0.0.1 sends its name as both
    Origin and Host, so the two agree; the name that is not a loopback one gives it away."""
    service, server = http_service(webhook_allow_private=True)
    runs = len(service.refresh_runs(limit=1000))
    port = server.url.rsplit(":", 1)[1]
    rebound = {"Host": f"evil.example:{port}", "Origin": f"http://evil.example:{port}", "Content-Type": "text/plain"}
    for path, body in (("/api/v1/subscriptions", '{"url": "http://127.0.0.1:9/hook", "since": 0}'),
                       ("/api/v1/refresh", None), ("/api/v1/providers/openai/refresh", None)):
        resp = requests.post(server.url + path, data=body, headers=rebound, timeout=10)
        assert resp.status_code == 403 and "loopback name" in resp.json()["error"]["message"], (path, resp.text)
    assert requests.get(server.url + "/api/v1/subscriptions", headers=rebound, timeout=10).status_code == 403
    assert service.webhooks.list_all() == [] and len(service.refresh_runs(limit=1000)) == runs
    # The service's own names go on working, with their own origin or none.
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"localhost.:{port}"):
        own = requests.post(server.url + "/api/v1/providers/openai/refresh", timeout=10,
                            headers={"Host": host, "Origin": f"http://{host}"})
        assert own.status_code == 202, own.text


def test_without_an_admin_token_a_change_a_proxy_on_the_host_passed_on_is_refused(http_service, simulator):
    """A reverse proxy on the same host connects from loopback and (as nginx's proxy_pass does)
    may pass the service's own Host: only its forwarding headers say the sender is elsewhere."""
    service, server = http_service(webhook_allow_private=True)
    runs = len(service.refresh_runs(limit=1000))
    calls = simulator.state.request_count("openai")
    hook = {"url": "http://127.0.0.1:9/attacker", "since": 0}
    for header, value in (("X-Forwarded-For", "192.0.2.2"), ("X-Real-IP", "192.0.2.2"),
                          ("Forwarded", "for=192.0.2.2;proto=http"), ("Via", "1.1 proxy"),
                          ("x-forwarded-host", "discovery.example"), ("X-Original-Forwarded-For", "1.2.3.4"),
                          ("X-Forwarded", "for=1.2.3.4"), ("X-Forwarded-Server", "proxy"),
                          ("X-Cluster-Client-IP", "1.2.3.4"), ("Fastly-Client-IP", "1.2.3.4"),
                          ("X-Envoy-External-Address", "1.2.3.4"), ("Client-IP", "1.2.3.4")):
        for method, path in (("post", "/api/v1/subscriptions"), ("post", "/api/v1/refresh"),
                             ("post", "/api/v1/providers/openai/refresh"), ("get", "/api/v1/subscriptions")):
            resp = requests.request(method, server.url + path, json=hook, headers={header: value}, timeout=10)
            assert resp.status_code == 403, (header, path, resp.text)
            message = resp.json()["error"]["message"]
            assert "passed on by a proxy" in message and "DISCOVERY_ADMIN_TOKEN" in message, message
        # The dashboard is told so: no admin actions offered through the proxy.
        assert requests.get(server.url + "/version", headers={header: value}, timeout=10).json()["admin_open"] is False
    assert service.webhooks.list_all() == [] and len(service.refresh_runs(limit=1000)) == runs
    assert simulator.state.request_count("openai") == calls
    # Reads through the proxy stay open (no read token), and a local client may still change things.
    assert requests.get(server.url + "/api/v1/models", headers={"X-Forwarded-For": "192.0.2.2"},
                        timeout=10).status_code == 200
    assert requests.get(server.url + "/version", timeout=10).json()["admin_open"] is True
    assert requests.post(server.url + "/api/v1/providers/openai/refresh", timeout=10).status_code == 202


def test_with_an_admin_token_a_change_through_a_proxy_carrying_it_is_taken(http_service):
    service, server = http_service(admin_token=ADMIN)
    proxied = {"X-Forwarded-For": "192.0.2.2", "Via": "1.1 proxy"}
    through = requests.post(server.url + "/api/v1/providers/openai/refresh", headers={**proxied, **ADMIN_AUTH},
                            timeout=10)
    assert through.status_code == 202, through.text
    assert requests.post(server.url + "/api/v1/providers/openai/refresh", headers=proxied,
                         timeout=10).status_code == 401


def test_with_an_admin_token_a_non_loopback_client_needs_it_too(http_service):
    service, _ = http_service(admin_token=ADMIN)
    remote = create_app(service).test_client()
    away = {"REMOTE_ADDR": "198.51.100.20"}
    assert remote.post("/api/v1/refresh", environ_base=away).status_code == 401
    assert remote.post("/api/v1/refresh", headers=ADMIN_AUTH, environ_base=away).status_code == 202


class _EchoingReceiver:
    """A webhook receiver that answers 500 with the signing secret it was sent in its body."""

    def __init__(self):
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the http.server API
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                body = f"bad signature, expected secret {HOOK_SECRET}".encode()
                self.send_response(500)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.posts = 0

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def test_a_provider_or_receiver_echoing_any_configured_secret_leaks_it_nowhere(
        http_service, simulator, db_url, monkeypatch):
    monkeypatch.setenv("SEC_OPENAI_KEY", OPENAI_KEY)
    monkeypatch.setenv("SEC_ANTHROPIC_KEY", ANTHROPIC_KEY)
    monkeypatch.setenv("SEC_GROQ_KEY", GROQ_KEY)
    lines: list[str] = []
    sink = logger.add(lines.append, level="DEBUG", backtrace=True, diagnose=False)
    receiver = _EchoingReceiver()
    state = simulator.state
    try:
        providers = [provider_config(simulator, name, fmt, route=route, api_key_env=env, health_check_interval=0.3,
                                     manual_refresh_per_minute=1000)
                     for name, fmt, route, env in (("openai", "openai", "openai", "SEC_OPENAI_KEY"),
                                                   ("anthropic", "anthropic", "anthropic", "SEC_ANTHROPIC_KEY"),
                                                   ("groq", "groq", "groq", "SEC_GROQ_KEY"))]
        service, server = http_service(providers, admin_token=ADMIN, read_token=READER, webhook_allow_private=True,
                                       webhook_backoff=0.05, webhook_backoff_max=0.1, webhook_max_attempts=3)
        created = requests.post(server.url + "/api/v1/subscriptions", headers=ADMIN_AUTH, timeout=5,
                                json={"url": receiver.url, "secret": HOOK_SECRET, "since": 0})
        assert created.status_code == 201 and HOOK_SECRET not in created.text
        everything = f"admin={ADMIN} read={READER} hook={HOOK_SECRET} openai={OPENAI_KEY}"
        # Each provider echoes the key it was sent (and every other secret) in a body, a header or a redirect.
        state.set_fault("openai", "status", status=401,
                        message="Incorrect API key provided: {key}. key={key} Bearer {key} " + everything,
                        headers={"WWW-Authenticate": 'Bearer error="invalid_token", key="{key}"'})
        state.set_fault("anthropic", "redirect", location="https://login.elsewhere.invalid/?key={key}&" + everything)
        state.set_fault("groq", "status", status=500, message="upstream said: {key} " + everything,
                        headers={"X-Debug-Key": "{key}"})
        answers = [requests.post(server.url + "/api/v1/refresh?wait=true", headers=ADMIN_AUTH, timeout=30)]
        assert [r["outcome"] for r in answers[0].json()["runs"]] == ["failed"] * 3, answers[0].text
        # The provider really got the keys (so a leak would be noticed), and its echoes were scrubbed.
        assert {r["auth"] for name in ("openai", "groq") for r in state.requests(name)} == {"authorization"}
        assert "[REDACTED]" in answers[0].text and "redirect" in answers[0].text
        wait_for(lambda: (service.webhooks.list_all()[0].get("last_error") or "").startswith("HTTP 500"),
                 what="a failed webhook delivery")
        wait_for(lambda: any(e.kind == "status_changed" and e.data.get("new") != "healthy"
                             for e in service.events_after(0, 10_000)), what="a status change with the reason")
        reads = ["/api/v1/providers", "/api/v1/providers/openai", "/api/v1/providers/anthropic/health",
                 "/api/v1/providers/groq/health", "/api/v1/refresh/runs?limit=1000", "/api/v1/events?limit=1000",
                 "/api/v1/models?limit=1000", "/api/v1/status", "/api/v1/subscriptions",
                 f"/api/v1/subscriptions/{created.json()['id']}"]
        run_ids = [r["run_id"] for r in answers[0].json()["runs"]]
        reads += [f"/api/v1/refresh/runs/{i}" for i in run_ids]
        answers += [requests.get(server.url + path, headers=ADMIN_AUTH, timeout=5) for path in reads]
        assert all(a.status_code in (200, 202) for a in answers), [a.status_code for a in answers]
        stream = SSEClient(server.port, "/api/v1/events/stream?since=0", timeout=5, extra_headers=READ_AUTH)
        assert stream.status == 200
        streamed = []
        last = service.last_event_id()
        while not streamed or int(streamed[-1].id) < last:
            streamed.append(stream.next_message())
        stream.close()
    finally:
        logger.remove(sink)
        receiver.stop()
    service.stop()
    texts = [a.text for a in answers] + [m.data for m in streamed] + lines
    for secret in SECRETS:
        for text in texts:
            assert secret not in text, f"{secret} leaked into: {text[:300]}"
    # Masked once, whichever layers (the run error, the status reason, the log) scrubbed it again.
    for text in texts:
        assert "[REDACTED]]" not in text, f"a mask was masked again in: {text[:300]}"
    db_file = Path(db_url.removeprefix("sqlite:///"))
    stored = b"".join(p.read_bytes() for p in db_file.parent.glob(db_file.name + "*"))
    assert b"[REDACTED]]" not in stored
    for secret in SECRETS:
        if secret != HOOK_SECRET:
            assert secret.encode() not in stored, f"{secret} is in the database"
    # The signing secret is stored (signing needs it), in its own column and nowhere else.
    assert secret_holders(db_url, HOOK_SECRET) == [("webhooks", "secret")]
    events_text = "".join(m.data for m in streamed)
    assert "status_changed" in events_text


def secret_holders(db_url: str, secret: str) -> list[tuple[str, str]]:
    """Every (table, column) of the database with a value that contains ``secret``."""
    import sqlite3

    con = sqlite3.connect(db_url.removeprefix("sqlite:///"))
    try:
        found = set()
        for (table,) in con.execute("SELECT name FROM sqlite_master WHERE type='table'"):
            cursor = con.execute(f'SELECT * FROM "{table}"')
            columns = [d[0] for d in cursor.description]
            for row in cursor:
                found |= {(table, c) for c, v in zip(columns, row) if isinstance(v, str) and secret in v}
        return sorted(found)
    finally:
        con.close()


def test_a_webhook_secret_is_only_in_its_own_row(http_service, db_url):
    """The one stored copy of a secret the service must keep: in webhooks.secret, nowhere else."""
    service, server = http_service(admin_token=ADMIN, webhook_allow_private=True)
    created = requests.post(server.url + "/api/v1/subscriptions", headers=ADMIN_AUTH, timeout=5,
                            json={"url": "http://127.0.0.1:9/hook", "secret": HOOK_SECRET})
    assert created.status_code == 201
    service.stop()
    assert secret_holders(db_url, HOOK_SECRET) == [("webhooks", "secret")]


def test_requests_that_used_to_fail_with_500_or_act_before_refusing_are_4xx_with_nothing_started(
        http_service, simulator):
    service, server = http_service(admin_token=ADMIN, max_request_body=64 * 1024)
    url = server.url
    runs = len(service.refresh_runs(limit=1000))
    calls = simulator.state.request_count("openai")
    checks = [
        ("get", "/api/v1/refresh/runs/9223372036854775808", None, 400),
        ("get", "/api/v1/refresh/runs/99999999999999999999999", None, 400),
        ("post", "/api/v1/subscriptions", {"url": "https://example.com/h", "since": 2**64}, 400),
        ("post", "/api/v1/subscriptions", {"url": "https://example.com/h", "max_batch": 2**70}, 400),
        ("post", "/api/v1/subscriptions/wh_nope/replay", {"since": 2**64}, 400),
        ("post", "/api/v1/subscriptions/wh_nope/replay?since=18446744073709551616", None, 400),
        ("post", "/api/v1/refresh?wait=true&timeout=abc", None, 400),
        ("post", "/api/v1/refresh?wait=maybe", None, 400),
        ("post", "/api/v1/refresh?wait=true&timeout=1e999", None, 400),
        ("post", "/api/v1/providers/openai/refresh?wait=maybe", None, 400),
        ("post", "/api/v1/providers/openai/refresh?wait=true&timeout=-1", None, 400),
        # No refresh can end this soon: it started every refresh and answered a 504.
        ("post", "/api/v1/refresh?wait=true&timeout=5e-324", None, 400),
        ("post", "/api/v1/providers/openai/refresh?wait=true&timeout=0.01", None, 400),
        # A filter list is its names once each, and not past 256 of them (100,000 made 800 KB stored).
        ("post", "/api/v1/subscriptions", {"url": "https://example.com/h", "model_glob": "*",
                                           "providers": [f"p{i}" for i in range(300)]}, 400),
        ("post", "/api/v1/subscriptions", {"url": "https://example.com/h", "kinds": ["added"] * 2000
                                           + [f"k{i}" for i in range(300)]}, 400),
        # The dashboard's 404 names what was asked for, cut (a 60 KB path was a 60 KB answer).
        ("get", "/ui/" + "a" * 3000, None, 404),
        ("get", "/api/v1/events?since=18446744073709551616", None, 400),
        ("get", "/api/v1/models?limit=99999999999999999999", None, 400),
        ("get", "/api/v1/models?offset=-1", None, 400),
    ]
    for method, path, body, status in checks:
        resp = requests.request(method, url + path, json=body, headers=ADMIN_AUTH, timeout=10)
        assert resp.status_code == status, (path[:80], body and str(body)[:80], resp.status_code, resp.text[:300])
        assert set(resp.json()["error"]) >= {"code", "message"} and len(resp.content) < 2000
    # A request id holding a configured secret is not echoed back in the answer's header.
    echoed = requests.get(url + "/healthz", headers={"X-Request-ID": ADMIN}, timeout=10)
    assert echoed.headers["X-Request-ID"] != ADMIN and len(echoed.headers["X-Request-ID"]) == 32
    same = requests.get(url + "/healthz", headers={"X-Request-ID": "trace-abc.123"}, timeout=10)
    assert same.headers["X-Request-ID"] == "trace-abc.123"
    # Repeated names count once: a subscription of one kind given twice is taken, stored once.
    once = {"url": "http://8.8.8.8/h", "kinds": ["added"] * 500, "model_glob": "none-such/*"}  # matches no event
    hook = requests.post(url + "/api/v1/subscriptions", json=once, headers=ADMIN_AUTH, timeout=10)
    assert hook.status_code == 201 and hook.json()["filter"]["kinds"] == ["added"]
    requests.delete(url + f"/api/v1/subscriptions/{hook.json()['id']}", headers=ADMIN_AUTH, timeout=10)
    # A body over the limit is refused before the app reads it, declared or chunked.
    big = b"x" * (64 * 1024 + 1)
    for data in (big, iter([big[:40_000], big[40_000:]])):
        resp = requests.post(url + "/api/v1/refresh", data=data, headers=ADMIN_AUTH, timeout=10)
        assert resp.status_code == 413 and resp.json()["error"]["code"] == "body_too_large"
    wrong = requests.put(url + "/api/v1/refresh", headers=ADMIN_AUTH, timeout=5)
    assert wrong.status_code == 405 and "POST" in wrong.headers["Allow"]
    assert wrong.json()["error"]["code"] == "method_not_allowed"
    stream = requests.post(url + "/api/v1/events/stream", headers=ADMIN_AUTH, timeout=5)
    assert stream.status_code == 405 and "GET" in stream.headers["Allow"]
    assert len(service.refresh_runs(limit=1000)) == runs, "a refused request started a refresh"
    assert simulator.state.request_count("openai") == calls
    assert service.webhooks.list_all() == []


@pytest.fixture(params=["sqlite", "postgresql"])
def database_settings(request):
    """The service's database: its SQLite file, or a fresh schema of the local PostgreSQL (set up
    before the service, so dropped after it stops)."""
    if request.param == "sqlite":
        yield {}
        return
    if not pg_answers():
        pytest.skip("no PostgreSQL on 127.0.0.1:5432")
    from tests.replicas.conftest import fresh_schema

    with fresh_schema() as schema:
        yield {"database_url": schema.database_url}


def test_a_nul_or_control_character_in_a_path_query_or_webhook_field_is_a_400_on_either_database(
        database_settings, http_service):
    """PostgreSQL refuses a NUL in any text it is asked (a 500 once); SQLite looked it up (a 404)."""
    service, server = http_service(webhook_allow_private=True, **database_settings)
    for path in ("/api/v1/models/openai/a%00b", "/api/v1/models/openai/a%00b/history",
                 "/api/v1/models/openai/a%00/history?before=3", "/api/v1/models/openai/a%00b/benchmarks",
                 "/api/v1/subscriptions/wh_%00", "/api/v1/models?q=a%00b", "/api/v1/events?provider=op%00"):
        resp = requests.get(server.url + path, timeout=10)
        assert resp.status_code == 400 and "NUL character" in resp.json()["error"]["message"], (path, resp.text)
    resp = requests.delete(server.url + "/api/v1/subscriptions/wh_%00", timeout=10)
    assert resp.status_code == 400, resp.text
    for field, value in (("description", "a\\u0000b"), ("model_glob", "openai/\\u0000*"),
                         ("description", "\\u001b[2Jcleared"), ("model_glob", "openai/\\u202egpt*")):
        body = '{"url": "http://127.0.0.1:9/hook", "%s": "%s"}' % (field, value)
        resp = requests.post(server.url + "/api/v1/subscriptions", data=body, timeout=10,
                             headers={"Content-Type": "application/json"})
        assert resp.status_code == 400, (field, value, resp.text)
        assert resp.json()["error"]["message"] == f"{field} contains control characters", resp.text
    assert service.webhooks.list_all() == []
    # A tab is taken in a description, as in a name.
    ok = requests.post(server.url + "/api/v1/subscriptions", timeout=10,
                       json={"url": "http://127.0.0.1:9/hook", "description": "team\tA"})
    assert ok.status_code == 201, ok.text


def test_requests_waiting_on_a_slow_refresh_hold_up_neither_the_probes_nor_other_requests(http_service, simulator):
    """Each ?wait=true holds a worker thread until its outcome; as many as the pool has threads
    left every other request queued behind them, the liveness probe too."""
    service, server = http_service(http_threads=2)
    simulator.state.set_latency("openai", 3.0)
    answers: list[int] = []

    def wait_for_refresh():
        resp = requests.post(server.url + "/api/v1/providers/openai/refresh?wait=true&timeout=20", timeout=30)
        answers.append(resp.status_code)

    waiting = [threading.Thread(target=wait_for_refresh) for _ in range(4)]
    for thread in waiting:
        thread.start()
    wait_for(lambda: simulator.state.request_count("openai") >= 2, what="the refresh under way")
    for path in ("/healthz", "/readyz", "/api/v1/providers", "/version", "/api/v1/refresh/runs?provider=openai"):
        resp = requests.get(server.url + path, timeout=1.5)  # answered while every wait goes on
        assert resp.status_code == 200, (path, resp.text)
    assert not answers, "the waits ended before the other requests were asked"
    for thread in waiting:
        thread.join(timeout=30)
    assert answers == [200, 200, 200, 200]


def test_a_webhook_secret_the_catalog_holds_is_refused(http_service, simulator):
    """A secret is masked wherever it appears: one made of a model's id ("claude-3-haiku-20240307")
    served that model as "anthropic/[REDACTED]" in every answer."""
    service, server = http_service(webhook_allow_private=True)
    some = max(sorted(service.index.ids()), key=len)
    own = some.split("/", 1)[1]
    assert len(own) >= 16, own
    resp = requests.post(server.url + "/api/v1/subscriptions", timeout=10,
                         json={"url": "http://127.0.0.1:9/hook", "secret": own.upper()})
    assert resp.status_code == 400, resp.text
    assert "text of the catalog" in resp.json()["error"]["message"]
    assert service.webhooks.list_all() == []
    assert requests.get(f"{server.url}/api/v1/models/{some}", timeout=10).json()["id"] == some
    ok = requests.post(server.url + "/api/v1/subscriptions", timeout=10,
                       json={"url": "http://127.0.0.1:9/hook", "secret": "not-in-any-catalog-7f3a9c"})
    assert ok.status_code == 201, ok.text


def test_every_answer_has_one_date_header(http_service):
    """werkzeug's conditional answers (send_file, make_conditional) set a Date, and the server adds
    its own to every answer: the dashboard, the docs' assets and the Atom feed carried two."""
    service, server = http_service(read_token=READER)
    for path in ("/", "/docs/swagger-ui.css", "/api/v1/events.atom", "/api/v1/models?limit=1", "/healthz",
                 "/api/v1/nothing-here"):
        resp = requests.get(server.url + path, headers=READ_AUTH, timeout=5)
        assert resp.status_code in (200, 404), (path, resp.status_code)
        assert len(resp.raw.headers.getlist("Date")) == 1, (path, resp.raw.headers.getlist("Date"))


def test_an_overlong_query_string_is_a_json_414_on_the_stream_too(http_service):
    service, server = http_service()
    query = "&".join(["provider=openai"] * 3000)  # 48 KB: past the app's limit, within the server's
    for path in ("/api/v1/events/stream", "/api/v1/events", "/api/v1/models"):
        resp = requests.get(f"{server.url}{path}?{query}", timeout=10)
        assert resp.status_code == 414 and resp.json()["error"]["code"] == "query_too_long", (path, resp.text[:200])


def test_an_answer_holding_a_secret_nested_too_deeply_to_mask_is_withheld_with_a_clear_error(
        start_service, monkeypatch):
    """Masking an answer's strings recurses through it: one nested past Python's recursion limit
    raised RecursionError and answered a bare 500. Masked as text instead, a secret spelled with
    JSON escapes would still be read by the client: such an answer is withheld."""
    import web
    from discovery.redaction import Redactor

    key = "deep-answer-key-8e2c4a6f1b3d"
    redactor = Redactor()
    redactor.add(key)
    monkeypatch.setattr(web, "REDACTOR", redactor)
    app = create_app(start_service([]))
    deep = b'{"note":%s"%s"%s}' % (b"[" * 5000, key.encode(), b"]" * 5000)
    app.add_url_rule("/deep", "deep", lambda: (deep, 200, {"Content-Type": "application/json"}))
    app.add_url_rule("/shallow", "shallow", lambda: ({"note": [key]}, 200))
    answer = app.test_client().get("/deep")
    assert key.encode() not in answer.data
    assert answer.status_code == 502 and answer.get_json()["error"]["code"] == "answer_withheld"
    assert app.test_client().get("/shallow").get_json() == {"note": ["[REDACTED]"]}
