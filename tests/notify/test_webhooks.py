"""Webhooks end to end: real actors, a real SQLite file, the simulator and receivers over loopback HTTP."""
from __future__ import annotations

import json
import socket
import threading
import time

import pytest

from tests.conftest import wait_for
from tests.notify.conftest import ADMIN_TOKEN, NOTIFY_SETTINGS, SECRET, add_model, openai_source
from web import create_app

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
def running(start_service, simulator):
    service = start_service(openai_source(simulator), **NOTIFY_SETTINGS)
    wait_for(lambda: service.last_event_id() > 0, what="the first refresh's events")
    return service


@pytest.fixture
def client(running):
    return create_app(running).test_client()


def subscribe(client, url, **body):
    body.setdefault("secret", SECRET)
    resp = client.post("/api/v1/subscriptions", json={"url": url, **body}, headers=AUTH)
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def make_events(service, simulator, n, prefix="gpt-hook"):
    """Commit n refreshes that each add one model; return every event id in the feed."""
    for i in range(n):
        add_model(simulator, f"{prefix}-{i}")
        (outcome,) = service.wait([service.refresh("openai")], timeout=10)
        assert outcome.outcome == "succeeded"
    return [e.id for e in service.events_after(0, 10_000)]


def test_receiver_failing_its_first_three_deliveries_then_succeeding_gets_every_event(
        running, client, simulator, receiver):
    hook = receiver(plan=lambda n: 500 if n <= 3 else 200)
    sub = subscribe(client, hook.url, since=0, max_batch=5)
    ids = make_events(running, simulator, 4)
    wait_for(lambda: set(hook.acked_ids()) >= set(ids), what="every event acknowledged")
    posts = hook.all_posts()
    assert [p.status for p in posts[:4]] == [500, 500, 500, 200]
    assert [p.attempt for p in posts[:4]] == [1, 2, 3, 4]
    assert posts[0].event_ids == posts[3].event_ids  # the same batch, retried
    assert all(p.signed for p in posts), "every POST carries a valid HMAC signature"
    assert all(p.header_ids == ",".join(map(str, p.event_ids)) for p in posts)
    acked = hook.acked_ids()
    assert acked == sorted(acked) and len(acked) == len(set(acked)), "in order, once each after success"
    # The receiver has answered 200; the dispatcher stores the cursor just after that answer.
    detail_of = lambda: client.get(f"/api/v1/subscriptions/{sub['id']}", headers=AUTH).get_json()  # noqa: E731
    wait_for(lambda: detail_of()["cursor"] >= max(ids), what="the acknowledged cursor to be stored")
    detail = detail_of()
    assert detail["state"] == "active" and detail["attempts"] == 0
    assert detail["cursor"] >= max(ids) and detail["pending_events"] == 0
    assert [d["outcome"] for d in reversed(detail["deliveries"])][:4] == ["failed"] * 3 + ["delivered"]


def test_receiver_that_never_succeeds_ends_in_dead_letter_and_replay_delivers_the_rest(
        running, client, simulator, receiver):
    status = {"code": 503}
    hook = receiver(plan=lambda n: status["code"])
    sub = subscribe(client, hook.url, since=0)
    ids = make_events(running, simulator, 2)

    def dead():
        body = client.get(f"/api/v1/subscriptions/{sub['id']}", headers=AUTH).get_json()
        return body if body["state"] == "dead_letter" else None

    body = wait_for(dead, what="dead letter")
    assert body["attempts"] == NOTIFY_SETTINGS["webhook_max_attempts"]
    assert "HTTP 503" in body["last_error"] and body["dead_lettered_at"] and body["pending_events"] > 0
    errors = [body["last_error"]] + [d["error"] for d in body["deliveries"]]
    assert "receiver-path-token" not in str(errors), "the receiver's own URL token stays out of errors"
    posts = len(hook.all_posts())
    assert posts == NOTIFY_SETTINGS["webhook_max_attempts"]
    listed = client.get("/api/v1/subscriptions", headers=AUTH).get_json()["data"]
    assert [s["state"] for s in listed if s["id"] == sub["id"]] == ["dead_letter"]

    status["code"] = 200
    resp = client.post(f"/api/v1/subscriptions/{sub['id']}/replay", headers=AUTH)
    assert resp.status_code == 200 and resp.get_json()["state"] == "active"
    wait_for(lambda: set(hook.acked_ids()) >= set(ids), what="replayed events")


def test_replay_from_an_event_id_redelivers_from_there(running, client, simulator, receiver):
    hook = receiver()
    sub = subscribe(client, hook.url, since=0)
    ids = make_events(running, simulator, 2)
    wait_for(lambda: set(hook.acked_ids()) >= set(ids), what="first delivery")
    first = len(hook.acked_ids())
    middle = ids[len(ids) // 2]
    resp = client.post(f"/api/v1/subscriptions/{sub['id']}/replay", json={"since": middle}, headers=AUTH)
    assert resp.status_code == 200
    wait_for(lambda: len(hook.acked_ids()) >= first + len([i for i in ids if i > middle]), what="replay")
    assert hook.acked_ids()[first:] == [i for i in ids if i > middle]


def test_slow_webhook_does_not_delay_another_or_the_catalog(running, client, simulator, receiver):
    slow, fast = receiver(), receiver()
    slow.hold.clear()  # every POST to it waits until released
    subscribe(client, slow.url)
    subscribe(client, fast.url)
    ids = make_events(running, simulator, 3, prefix="gpt-slow")
    wait_for(lambda: slow.entered.is_set(), what="the slow receiver to be called")
    wait_for(lambda: set(fast.acked_ids()) >= set(ids[-3:]), what="the fast receiver's events")
    assert slow.acked_ids() == [], "the slow receiver is still holding its first POST"
    slow.hold.set()
    wait_for(lambda: set(slow.acked_ids()) >= set(ids[-3:]), what="the slow receiver to catch up")


def test_filters_and_batching_shape_what_a_webhook_receives(running, client, simulator, receiver):
    hook = receiver()
    subscribe(client, hook.url, kinds=["added"], model_glob="openai/gpt-filter-*", max_batch=2)
    make_events(running, simulator, 3, prefix="gpt-filter")
    make_events(running, simulator, 1, prefix="gpt-other")
    wait_for(lambda: len(hook.acked_ids()) >= 3, what="filtered events")
    events = [e for p in hook.all_posts() for e in p.body["events"]]
    assert {e["model_id"] for e in events} == {f"openai/gpt-filter-{i}" for i in range(3)}
    assert {e["kind"] for e in events} == {"added"}
    assert all(len(p.event_ids) <= 2 for p in hook.all_posts())


def test_pause_holds_deliveries_and_resume_sends_what_waited(running, client, simulator, receiver):
    hook = receiver()
    # Only the models this test adds: a provider's health event of the service's start can come
    # between the subscription and its pause, and would rightly be delivered.
    sub = subscribe(client, hook.url, kinds=["added"], model_glob="openai/gpt-paused-*")
    assert client.post(f"/api/v1/subscriptions/{sub['id']}/pause", headers=AUTH).get_json()["state"] == "paused"
    make_events(running, simulator, 2, prefix="gpt-paused")
    ids = [e.id for e in running.events_after(0, 10_000) if (e.model_id or "").startswith("openai/gpt-paused-")]
    detail = client.get(f"/api/v1/subscriptions/{sub['id']}", headers=AUTH).get_json()
    # Only what its filter takes: every event after the cursor was counted (hundreds, for two).
    assert len(ids) == 2 and hook.all_posts() == [] and detail["pending_events"] == 2
    assert "pending_events_more" not in detail and running.last_event_id() - detail["cursor"] > 2
    client.post(f"/api/v1/subscriptions/{sub['id']}/resume", headers=AUTH)
    wait_for(lambda: set(hook.acked_ids()) >= set(ids), what="events after resume")
    wait_for(lambda: client.get(f"/api/v1/subscriptions/{sub['id']}", headers=AUTH).get_json()["pending_events"] == 0,
             what="nothing left waiting")
    # A delivery that succeeded is an attempt too (last_attempt_at stayed null until one failed).
    detail = client.get(f"/api/v1/subscriptions/{sub['id']}", headers=AUTH).get_json()
    assert detail["last_attempt_at"] is not None and detail["last_attempt_at"] == detail["last_success_at"]


def test_subscription_routes_need_the_admin_token_and_never_show_the_secret(running, client, receiver):
    hook = receiver()
    assert client.get("/api/v1/subscriptions").status_code == 401
    wrong = client.get("/api/v1/subscriptions", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.headers["WWW-Authenticate"].startswith("Bearer")
    given = subscribe(client, hook.url)
    assert "secret" not in given
    generated = client.post("/api/v1/subscriptions", json={"url": hook.url}, headers=AUTH).get_json()
    assert generated["secret"].startswith("whsec_"), "a generated secret is shown once, at creation"
    for body in (client.get("/api/v1/subscriptions", headers=AUTH).get_data(as_text=True),
                 client.get(f"/api/v1/subscriptions/{generated['id']}", headers=AUTH).get_data(as_text=True)):
        assert SECRET not in body and generated["secret"] not in body
    assert client.delete(f"/api/v1/subscriptions/{given['id']}", headers=AUTH).status_code == 204
    assert client.get(f"/api/v1/subscriptions/{given['id']}", headers=AUTH).status_code == 404


def test_a_deleted_subscriptions_secret_is_masked_no_more(running, client, receiver):
    """Its secret went on being masked in every answer until a restart."""
    secret = "Zq81-lookalike-name-77"
    sub = subscribe(client, receiver().url, secret=secret)
    asked = f"/api/v1/models/openai/{secret}"  # a 404 names the id asked for
    missing = client.get(asked).get_data(as_text=True)
    assert secret not in missing and "[REDACTED]" in missing
    assert client.delete(f"/api/v1/subscriptions/{sub['id']}", headers=AUTH).status_code == 204
    assert f"openai/{secret}" in client.get(asked).get_data(as_text=True)


def test_without_an_admin_token_subscription_routes_serve_loopback_clients_only(start_service, simulator):
    service = start_service(openai_source(simulator))
    client = create_app(service).test_client()
    assert client.get("/api/v1/subscriptions").status_code == 200
    resp = client.get("/api/v1/subscriptions", headers=AUTH, environ_base={"REMOTE_ADDR": "10.20.30.40"})
    assert resp.status_code == 403
    assert "DISCOVERY_ADMIN_TOKEN" in resp.get_json()["error"]["message"]


def test_invalid_webhook_urls_and_fields_are_refused_with_400(running, client):
    cases = [
        ({"url": "ftp://example.com/hook"}, "invalid_url"),
        ({"url": "http://user:pw@example.com/hook"}, "invalid_url"),
        ({"url": "http://127.0.0.1:9/hook", "secret": "short"}, "invalid_subscription"),
        ({"url": "http://127.0.0.1:9/hook", "secret": "s" * 257}, "invalid_subscription"),
        # Long enough, but no secret: it would be masked in every long number of every answer.
        ({"url": "http://127.0.0.1:9/hook", "secret": "0" * 16}, "invalid_subscription"),
        # Words are text the answers hold: "provider_model_id" was masked in every record's keys.
        ({"url": "http://127.0.0.1:9/hook", "secret": "provider_model_id"}, "invalid_subscription"),
        # The admin token as a signing secret: deleting the subscription would have unmasked it.
        ({"url": "http://127.0.0.1:9/hook", "secret": ADMIN_TOKEN}, "invalid_subscription"),
        # A configured secret in a stored field would be kept in the clear (and shown in the answer).
        ({"url": f"http://127.0.0.1:9/hook?t={ADMIN_TOKEN}"}, "invalid_body"),
        ({"url": "http://127.0.0.1:9/hook", "description": f"note {ADMIN_TOKEN}"}, "invalid_body"),
        ({"url": "http://127.0.0.1:9/hook", "kinds": ["exploded"]}, "invalid_subscription"),
        ({"url": "http://127.0.0.1:9/hook", "max_batch": 0}, "invalid_subscription"),
        ({"url": "http://127.0.0.1:9/hook", "colour": "red"}, "invalid_body"),
        # Filters that could never match, and a cursor past the newest event, would mute it for good.
        ({"url": "http://127.0.0.1:9/hook", "providers": ["openai", "nope"]}, "invalid_parameter"),
        ({"url": "http://127.0.0.1:9/hook", "since": running.last_event_id() + 10**8}, "invalid_subscription"),
        ({"url": 123}, "invalid_url"),
        # A bad field is named before the host is looked up (that can take seconds, and fail).
        ({"url": "http://no-such-host.invalid/hook", "kinds": ["exploded"]}, "invalid_subscription"),
        ({"url": "http://127.0.0.1:9/hook", "since": -1}, "invalid_subscription"),
    ]
    for body, code in cases:
        resp = client.post("/api/v1/subscriptions", json=body, headers=AUTH)
        assert resp.status_code == 400 and resp.get_json()["error"]["code"] == code, (body, resp.get_json())
    message = client.post("/api/v1/subscriptions", json=cases[-5][0], headers=AUTH).get_json()["error"]["message"]
    assert "nope" in message and "openai" in message
    messages = [client.post("/api/v1/subscriptions", json=body, headers=AUTH).get_json()["error"]["message"]
                for body, _ in cases[-3:]]
    assert messages[0] == "url must be a string, got int" and messages[2] == "since must be at least 0, got -1"
    assert "exploded" in messages[1]
    resp = client.post("/api/v1/subscriptions", data="{bad", content_type="application/json", headers=AUTH)
    assert resp.status_code == 400 and "not JSON" in resp.get_json()["error"]["message"]
    # Numbers JSON does not have, and nesting deeper than a parser recurses, are 400s too (were 500s).
    for body in ('{"url": "http://127.0.0.1:9/hook", "since": Infinity}', '{"url": "http://127.0.0.1:9/hook", '
                 '"max_batch": NaN}', "[" * 100_000):
        resp = client.post("/api/v1/subscriptions", data=body, content_type="application/json", headers=AUTH)
        assert resp.status_code == 400, (body[:60], resp.status_code)
    assert client.get("/api/v1/subscriptions", headers=AUTH).get_json()["data"] == []
    made = client.post("/api/v1/subscriptions", headers=AUTH, content_type="application/json",
                       data=json.dumps({"url": "http://127.0.0.1:9/hook", "providers": ["openai"],
                                        "since": running.last_event_id()}))
    assert made.status_code == 201, made.get_json()
    ahead = running.last_event_id() + 10**8
    resp = client.post(f"/api/v1/subscriptions/{made.get_json()['id']}/replay?since={ahead}", headers=AUTH)
    assert resp.status_code == 400 and resp.get_json()["error"]["code"] == "invalid_subscription"
    assert client.get(f"/api/v1/subscriptions/{made.get_json()['id']}", headers=AUTH).get_json()["cursor"] \
        == made.get_json()["cursor"]
    resp = client.post(f"/api/v1/subscriptions/{made.get_json()['id']}/replay", json={"sincee": 1}, headers=AUTH)
    assert resp.status_code == 400 and resp.get_json()["error"]["message"] == "unknown field sincee; known: since"
    assert client.get(f"/api/v1/subscriptions/{made.get_json()['id']}", headers=AUTH).get_json()["cursor"] \
        == made.get_json()["cursor"]
    resp = client.post(f"/api/v1/subscriptions/{made.get_json()['id']}/pause", json={"until": 5}, headers=AUTH)
    assert resp.status_code == 400 and resp.get_json()["error"]["code"] == "invalid_body"
    assert client.get(f"/api/v1/subscriptions/{made.get_json()['id']}", headers=AUTH).get_json()["state"] == "active"


def test_loopback_webhook_is_refused_unless_settings_allow_private_addresses(start_service, simulator):
    service = start_service(openai_source(simulator), admin_token=ADMIN_TOKEN)
    client = create_app(service).test_client()
    resp = client.post("/api/v1/subscriptions", json={"url": "http://127.0.0.1:9/hook"}, headers=AUTH)
    assert resp.status_code == 400
    assert "loopback" in resp.get_json()["error"]["message"]
    # The fields are checked before the host is resolved (a lookup can take seconds): a bad filter
    # is named first.
    resp = client.post("/api/v1/subscriptions", json={"url": "http://127.0.0.1:9/hook", "kinds": ["exploded"]},
                       headers=AUTH)
    assert resp.status_code == 400 and "exploded" in resp.get_json()["error"]["message"]


def test_retention_keeps_every_event_a_webhook_still_has_to_receive(start_service, simulator, receiver):
    service = start_service(openai_source(simulator), **{**NOTIFY_SETTINGS, "event_retention_count": 5})
    wait_for(lambda: service.last_event_id() > 0, what="the first refresh's events")
    client = create_app(service).test_client()
    hook = receiver(plan=lambda n: 500)  # never acknowledges: its cursor stays at 0
    sub = subscribe(client, hook.url, since=0)
    before = {e.id for e in service.events_after(0, 10_000)}
    # Nothing pruned: every event stays (more may come meanwhile, such as the status the first
    # health check announces; that is why this compares ids, not counts).
    assert service.webhooks.prune() == 0 and before <= {e.id for e in service.events_after(0, 10_000)}
    client.delete(f"/api/v1/subscriptions/{sub['id']}", headers=AUTH)
    total = len(service.events_after(0, 10_000))
    assert service.webhooks.prune() >= total - 5 > 0
    assert len(service.events_after(0, 10_000)) == 5


def test_delivery_that_times_out_is_retried_and_then_acknowledged(start_service, simulator, receiver):
    service = start_service(openai_source(simulator), **{**NOTIFY_SETTINGS, "webhook_timeout": 0.3})
    wait_for(lambda: service.last_event_id() > 0, what="the first refresh's events")
    client = create_app(service).test_client()
    hook = receiver()
    hook.first_delay = 1.0  # answers after the service gave up on it
    sub = subscribe(client, hook.url, since=0)
    ids = [e.id for e in service.events_after(0, 10_000)]
    wait_for(lambda: set(hook.acked_ids()) >= set(ids), what="the retried batch")
    deliveries = client.get(f"/api/v1/subscriptions/{sub['id']}", headers=AUTH).get_json()["deliveries"]
    first = deliveries[-1]
    assert first["outcome"] == "failed" and first["error"] == "no complete answer within 0.3s"
    assert first["status_code"] is None


class TricklingReceiver:
    """A receiver that reads the POST, then answers its status line and one byte more every
    ``every`` seconds, each well inside the read timeout, for as long as the connection lasts."""

    def __init__(self, every: float):
        self.every = every
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/hook"
        self.posts = 0
        self.cut = threading.Event()  # set when the service closed a connection it was answered on
        self.stopped = threading.Event()
        threading.Thread(target=self._accept, name="trickling-receiver", daemon=True).start()

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            conn.recv(1 << 20)
            self.posts += 1
            try:
                conn.sendall(b"HTTP/1.1 200 OK\r\n")
                while not self.stopped.wait(self.every):
                    conn.sendall(b"X")
            except OSError:
                self.cut.set()

    def stop(self) -> None:
        self.stopped.set()
        self.listener.close()


@pytest.fixture
def trickling():
    made: list[TricklingReceiver] = []

    def make(every: float) -> TricklingReceiver:
        made.append(TricklingReceiver(every))
        return made[-1]

    yield make
    for r in made:
        r.stop()


def test_a_receiver_answering_a_byte_at_a_time_fails_at_webhook_timeout_and_is_retried(running, client, trickling):
    # webhook_timeout is 2 s (NOTIFY_SETTINGS); a byte every 0.5 s never lets one read time out.
    hook = trickling(every=0.5)
    sub = subscribe(client, hook.url, since=0)
    started = time.monotonic()
    failed = wait_for(lambda: next((d for d in client.get(f"/api/v1/subscriptions/{sub['id']}", headers=AUTH)
                                    .get_json()["deliveries"] if d["outcome"] == "failed"), None),
                      timeout=10, what="the trickled POST to count as a failure")
    assert failed["error"] == "no complete answer within 2s" and failed["status_code"] is None
    assert 1.9 <= failed["duration_ms"] / 1000 < 4 and time.monotonic() - started < 6
    wait_for(lambda: hook.posts >= 2, what="the retry of the trickled batch")


def test_stopping_the_service_cuts_a_post_in_flight_at_once(start_service, simulator, trickling):
    # A long webhook_timeout: without the cut, the stopped process would wait for it to pass.
    service = start_service(openai_source(simulator), **{**NOTIFY_SETTINGS, "webhook_timeout": 60.0})
    wait_for(lambda: service.last_event_id() > 0, what="the first refresh's events")
    hook = trickling(every=0.2)
    subscribe(create_app(service).test_client(), hook.url, since=0)
    wait_for(lambda: hook.posts >= 1, what="the POST in flight")
    workers = [t for t in threading.enumerate() if t.name.startswith("webhook-post")]
    assert workers
    stopped = time.monotonic()
    service.stop()
    assert hook.cut.wait(5), "the POST in flight was not cut"
    for worker in workers:
        worker.join(5)
    assert not any(w.is_alive() for w in workers) and time.monotonic() - stopped < 5


def test_deliveries_retries_and_dead_letters_show_in_metrics(start_service, simulator, receiver):
    from prometheus_client.parser import text_string_to_metric_families

    service = start_service(openai_source(simulator), **{**NOTIFY_SETTINGS, "webhook_max_attempts": 3})
    wait_for(lambda: service.last_event_id() > 0, what="the first refresh's events")
    client = create_app(service).test_client()

    def counts() -> dict[tuple, float]:
        text = client.get("/metrics").get_data(as_text=True)
        return {(s.name, s.labels.get("outcome")): s.value for f in text_string_to_metric_families(text)
                for s in f.samples if s.name.startswith("discovery_webhook_")}

    flaky = receiver(plan=lambda n: 500 if n == 1 else 200)
    dead = receiver(plan=lambda n: 500)
    subscribe(client, flaky.url, since=0)
    subscribe(client, dead.url, since=0)
    wait_for(lambda: flaky.acked_ids() and len(dead.all_posts()) >= 3, timeout=20, what="a retry and a dead letter")
    wait_for(lambda: counts()[("discovery_webhook_dead_letters_total", None)] == 1, what="the dead letter counted")
    seen = counts()
    assert seen[("discovery_webhook_deliveries_total", "delivered")] >= 1
    assert seen[("discovery_webhook_deliveries_total", "failed")] == 1 + 3
    assert seen[("discovery_webhook_retries_total", None)] >= 1 + 2


@pytest.fixture
def tls_receiver(monkeypatch, tmp_path):
    """An HTTPS receiver on loopback whose certificate names ``localhost``, from a test CA the
    dispatcher is made to trust (in place of certifi's bundle)."""
    import ssl
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    import trustme

    import actors.webhook_post

    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    monkeypatch.setattr(actors.webhook_post.certifi, "where", lambda: str(tmp_path / "ca.pem"))

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server API
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(context)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield server.server_port
    server.shutdown()
    server.server_close()


def test_an_https_receiver_is_delivered_to_and_one_whose_certificate_names_another_host_is_a_failure(tls_receiver):
    from actors.webhook_post import post_delivery
    from discovery.webhooks import Delivery

    delivery = Delivery("d1", "wh_1", 1, b'{"events": []}', {"Content-Type": "application/json"}, (1,), 1)
    to_loopback = lambda host, port: ["127.0.0.1"]  # noqa: E731 - every name resolves to the receiver
    good = post_delivery(f"https://localhost:{tls_receiver}/hook", delivery, 5.0, True, resolver=to_loopback)
    assert good.ok and good.status_code == 204, good
    # urllib3 raises a ValueError (CertificateError) for a certificate of another name: it escaped,
    # killing the worker before it reported, so the subscription stayed in flight for good.
    wrong = post_delivery(f"https://other.example:{tls_receiver}/hook", delivery, 5.0, True, resolver=to_loopback)
    assert not wrong.ok and wrong.status_code is None and "doesn't match" in wrong.error, wrong


def test_retention_prunes_old_refresh_runs_but_keeps_those_history_needs(start_service, simulator):
    """A refresh that changed nothing leaves a run row; over a long run those are nearly all of the
    table. Retention drops them by event_retention_age, and keeps the runs a model version names,
    each source's newest successful run and the newest run of all."""
    from discovery import refresh_runs, store
    from tests.notify.conftest import add_model

    service = start_service(openai_source(simulator), **{**NOTIFY_SETTINGS, "event_retention_age": 3600.0})
    wait_for(lambda: service.last_event_id() > 0, what="the first refresh's events")
    add_model(simulator, "gpt-kept-by-history")
    for _ in range(4):  # the first writes a version; the others change nothing
        (outcome,) = service.wait([service.refresh("openai")], timeout=10)
        assert outcome.outcome == "succeeded"
    simulator.state.set_fault("openai", "status", status=400, times=1)  # a failed run, not retried
    (failed,) = service.wait([service.refresh("openai")], timeout=10)
    assert failed.outcome == "failed"
    (last,) = service.wait([service.refresh("openai")], timeout=10)
    runs = refresh_runs.list_runs(limit=1000)
    wrote = {r for (r,) in store.ModelVersionRow.select(store.ModelVersionRow.run)
             .where(store.ModelVersionRow.run.is_null(False)).tuples()}
    assert wrote and len(runs) > len(wrote) + 2
    # Every run ended two hours ago.
    with store.write_transaction():
        store.RefreshRunRow.update(started_at=store.RefreshRunRow.started_at - 7200,
                                   finished_at=store.RefreshRunRow.finished_at - 7200).execute()
    newest = max(r["id"] for r in runs)
    service.webhooks.prune()
    left = {r["id"] for r in refresh_runs.list_runs(limit=1000)}
    newest_good = max(r["id"] for r in runs if r["outcome"] == "succeeded")
    assert left == wrote | {newest_good, newest}, "only the runs history needs are kept"
    assert last.run_id == newest_good


def test_replay_from_below_retention_says_how_many_events_were_missed_and_tells_the_receiver(
        start_service, simulator, receiver):
    service = start_service(openai_source(simulator), **{**NOTIFY_SETTINGS, "event_retention_count": 5})
    wait_for(lambda: service.last_event_id() > 10, what="the first refresh's events")
    client = create_app(service).test_client()
    assert service.webhooks.prune() > 0
    oldest = service.events_after(0, 1)[0].id
    assert oldest > 2
    hook = receiver()
    # A filter that matches nothing kept: the receiver still hears that it lost events.
    sub = subscribe(client, hook.url, kinds=["retiring_soon"])
    resp = client.post(f"/api/v1/subscriptions/{sub['id']}/replay", json={"since": 1}, headers=AUTH)
    assert resp.status_code == 200 and resp.get_json()["missed"] == oldest - 2
    (post,) = wait_for(lambda: hook.all_posts() or None, what="the marker delivery")
    assert post.signed and post.body["events"] == [] and post.body["missed"] == oldest - 2
    assert post.body["missed_after"] == 1 and post.body["oldest_event_id"] == oldest
    # Acknowledged: the cursor moved past the gap, so it is told once.
    wait_for(lambda: client.get(f"/api/v1/subscriptions/{sub['id']}", headers=AUTH).get_json()["cursor"] >= oldest,
             what="the cursor past the gap")
    again = client.post(f"/api/v1/subscriptions/{sub['id']}/replay", json={"since": oldest - 1}, headers=AUTH)
    assert again.get_json()["missed"] == 0


def test_a_delivery_after_a_gap_carries_the_events_and_the_count_missed(start_service, simulator, receiver):
    service = start_service(openai_source(simulator), **{**NOTIFY_SETTINGS, "event_retention_count": 5})
    wait_for(lambda: service.last_event_id() > 10, what="the first refresh's events")
    client = create_app(service).test_client()
    assert service.webhooks.prune() > 0
    kept = [e.id for e in service.events_after(0, 10_000)]
    hook = receiver()
    subscribe(client, hook.url, since=3)
    wait_for(lambda: set(hook.acked_ids()) >= set(kept), what="the kept events")
    first = hook.all_posts()[0]
    # (An event committed after ``kept`` was read, a status change say, may ride in the same batch.)
    assert first.body["missed"] == kept[0] - 4 and list(first.event_ids)[:len(kept)] == kept[:len(first.event_ids)]
    assert all("missed" not in p.body for p in hook.all_posts()[1:])
