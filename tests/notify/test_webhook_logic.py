"""Webhook logic and the subscription store, with plain calls: no threads, no HTTP."""
from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest

from actors.webhook_post import redact
from discovery import store
from discovery import subscriptions_store as subs
from discovery.store import StoredEvent
from discovery.webhooks import (
    InvalidWebhookURL,
    backoff_delay,
    build_delivery,
    select_batch,
    sign,
    validate_webhook_url,
    verify_signature,
)


def event(i: int, kind: str = "added", model_id: str | None = "openai/gpt-x") -> StoredEvent:
    return StoredEvent(i, kind, "openai", model_id, 1, 1_700_000_000.0, {"capabilities": ["vision"]})


@pytest.mark.parametrize("url", ["ftp://example.com/x", "file:///etc/passwd", "example.com/hook", "http:///x",
                                 "https://user:pw@example.com/x", "http://example.com:99999/x", "",
                                 # No POST can carry these (http.client refuses them): every delivery failed.
                                 "http://example.com/a b", "http://example.com/a\r\nX-Injected: 1",
                                 "http://example.com/a\tb", "http://example.com/\x7f"])
def test_webhook_url_with_a_bad_scheme_host_port_or_credentials_is_refused(url):
    with pytest.raises(InvalidWebhookURL):
        validate_webhook_url(url, allow_private=True)


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "192.168.0.7", "172.16.5.5", "169.254.169.254",
                                     "::1", "fe80::1", "fd00::1", "0.0.0.0", "100.64.0.1", "::ffff:127.0.0.1"])
def test_webhook_host_resolving_to_a_non_public_address_is_refused_unless_allowed(address):
    resolver = lambda host, port: [address]  # noqa: E731 - a fake DNS answer
    with pytest.raises(InvalidWebhookURL, match="webhook_allow_private"):
        validate_webhook_url("https://hooks.example.com/in", resolver=resolver)
    assert validate_webhook_url("https://hooks.example.com/in", allow_private=True, resolver=resolver)


def test_webhook_host_with_any_private_address_among_public_ones_is_refused():
    resolver = lambda host, port: ["93.184.216.34", "10.0.0.5"]  # noqa: E731
    with pytest.raises(InvalidWebhookURL, match="private"):
        validate_webhook_url("https://hooks.example.com/in", resolver=resolver)
    assert validate_webhook_url("https://hooks.example.com/in", resolver=lambda h, p: ["93.184.216.34"])


def test_unresolvable_webhook_host_is_refused():
    def resolver(host, port):
        raise OSError("Name or service not known")
    with pytest.raises(InvalidWebhookURL, match="does not resolve"):
        validate_webhook_url("https://nowhere.invalid/in", resolver=resolver)


def test_signature_covers_the_timestamp_and_the_exact_body():
    body = b'{"events":[1]}'
    header = sign("s3cret-s3cret-s3cret", body, timestamp=1_700_000_000)
    t, v1 = header.split(",")
    expected = hmac.new(b"s3cret-s3cret-s3cret", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert t == "t=1700000000" and v1 == f"v1={expected}"
    assert verify_signature("s3cret-s3cret-s3cret", header, body, now=1_700_000_010)
    assert not verify_signature("s3cret-s3cret-s3cret", header, body + b" ", now=1_700_000_010)
    assert not verify_signature("another-secret-xxxx", header, body, now=1_700_000_010)
    assert not verify_signature("s3cret-s3cret-s3cret", header, body, now=1_700_000_000 + 301)
    assert not verify_signature("s3cret-s3cret-s3cret", "garbage", body)


def test_backoff_grows_exponentially_with_jitter_and_is_capped():
    lows = [backoff_delay(n, 1.0, 60.0, rng=lambda: 0.0) for n in range(1, 10)]
    highs = [backoff_delay(n, 1.0, 60.0, rng=lambda: 1.0) for n in range(1, 10)]
    assert lows[:4] == [0.5, 1.0, 2.0, 4.0] and highs[:4] == [1.0, 2.0, 4.0, 8.0]
    assert max(highs) == 60.0 and min(lows[6:]) == 30.0
    spread = {round(backoff_delay(3, 1.0, 60.0), 6) for _ in range(50)}
    assert len(spread) > 40 and all(2.0 <= d <= 4.0 for d in spread)


def test_batch_skips_unwanted_events_and_acknowledges_up_to_the_last_one_looked_at():
    pages = [[event(1), event(2, "models_refreshed", None), event(3)], [event(4, "removed"), event(5)]]
    batch, ack = select_batch(pages, lambda e: e.kind == "added", max_batch=10)
    assert [e.id for e in batch] == [1, 3, 5] and ack == 5
    batch, ack = select_batch(pages, lambda e: e.kind == "added", max_batch=2)
    assert [e.id for e in batch] == [1, 3] and ack == 3
    batch, ack = select_batch(pages, lambda e: e.kind == "deprecated", max_batch=2)
    assert batch == [] and ack == 5
    assert select_batch([], lambda e: True, 5) == ([], None)


def test_delivery_is_signed_json_with_event_ids_and_delivery_headers():
    d = build_delivery("wh_1", "secret-secret-secret", [event(7), event(9)], ack_to=9, attempt=2)
    body = json.loads(d.body)
    assert [e["id"] for e in body["events"]] == [7, 9] and body["subscription"] == "wh_1"
    assert d.headers["X-Discovery-Event-Ids"] == "7,9" and d.headers["X-Discovery-Attempt"] == "2"
    assert d.headers["X-Discovery-Delivery"] == body["delivery"]
    assert verify_signature("secret-secret-secret", d.headers["X-Discovery-Signature"], d.body)
    assert "secret-secret-secret" not in d.body.decode() + json.dumps(dict(d.headers))


def test_errors_are_stored_without_the_receivers_path_and_query():
    url = "https://hooks.example.com/in/abc?token=T0KEN"
    text = "ConnectionError: HTTPSConnectionPool(host='hooks.example.com'): Max retries with url: /in/abc?token=T0KEN"
    assert "T0KEN" not in redact(text, url) and "hooks.example.com" in redact(text, url)


def test_a_receivers_error_page_echoing_its_path_is_stored_without_it_and_a_refusal_is_not_a_timeout():
    """A receiver answering 500 with its own path and query in the body had them stored in
    last_error and logged; a connection refused was reported as no answer within the timeout."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from actors.webhook_post import post_delivery

    class Echo(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - the http.server API
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            body = f"failed for {self.path} (token {self.path.split('/')[-1].split('?')[0]})".encode()
            self.send_response(500)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    delivery = build_delivery("wh_1", "s" * 20, [StoredEvent(1, "added", "p", "p/m", 1, time.time(), {})], 1)
    try:
        url = f"http://127.0.0.1:{server.server_port}/hooks/PATHSECRET7?q=QUERYSECRET9"
        result = post_delivery(url, delivery, 2.0, True)
        assert not result.ok and result.status_code == 500
        assert result.error.startswith("HTTP 500: failed for ")
        assert "PATHSECRET7" not in result.error and "QUERYSECRET9" not in result.error
    finally:
        server.shutdown()
        server.server_close()
    # Nothing listens there now: refused at once, and said so.
    started = time.monotonic()
    refused = post_delivery(url, delivery, 2.0, True)
    assert time.monotonic() - started < 1.0
    assert not refused.ok and refused.error.startswith("could not connect: ConnectionRefusedError"), refused.error
    assert "within" not in refused.error and "PATHSECRET7" not in refused.error


def test_redact_takes_out_the_path_and_the_query_apart_and_decoded():
    url = "https://hooks.example.com/in/ab%20c?token=T0KEN&x=1"
    for text in ("no route /in/ab%20c", "no route /in/ab c", "bad query token=T0KEN&x=1", "at /in/ab%20c?token=T0KEN&x=1"):
        out = redact(text, url)
        assert "T0KEN" not in out and "ab%20c" not in out and "ab c" not in out, out
    assert redact("HTTP 404 at /", "https://hooks.example.com/") == "HTTP 404 at /"


@pytest.fixture
def database(db_url):
    store.open_database(db_url)
    yield
    store.close_database()


def test_cursor_only_moves_forward_on_acknowledgement(database):
    row = subs.create_webhook("http://x.example/", "s" * 20, {}, cursor=5)
    subs.acknowledge(row.id, 9, delivered=2)
    subs.acknowledge(row.id, 7, delivered=1)  # a late, older acknowledgement
    got = subs.get_webhook(row.id)
    assert got.cursor == 9 and got.delivered_events == 3 and got.attempts == 0


def test_subscription_as_shown_never_contains_its_secret(database):
    row = subs.create_webhook("http://x.example/", "very-secret-value-123", {"kinds": ["added"]}, cursor=0)
    assert "very-secret-value-123" not in json.dumps(subs.webhook_dict(row))


def test_retention_prunes_by_count_and_age_but_never_past_a_webhook_cursor_or_the_newest_event(database):
    now = time.time()
    store.insert_events([("added", "p", f"p/m{i}", None, {}) for i in range(10)], now - 1000)
    store.insert_events([("added", "p", f"p/n{i}", None, {}) for i in range(10)], now)
    hook = subs.create_webhook("http://x.example/", "s" * 20, {}, cursor=3)
    assert store.prune_events(max_count=5, keep_after=subs.retention_floor()) == 3
    assert store.oldest_event_id() == 4
    subs.update_webhook(hook.id, state=subs.DEAD_LETTER)
    assert store.prune_events(max_age=500, keep_after=subs.retention_floor()) == 0, "dead letter still holds"
    subs.delete_webhook(hook.id)
    assert store.prune_events(max_age=500, keep_after=subs.retention_floor()) == 7
    assert store.oldest_event_id() == 11
    assert store.prune_events(max_count=1) == 9
    assert store.prune_events(max_age=1e-9, now=now + 10) == 0, "the newest event always stays"
    assert store.last_event_id() == 20
    (new,) = store.insert_events([("added", "p", "p/z", None, {})], now)
    assert new.id == 21, "ids never go back after pruning"


def test_admin_token_comes_from_the_environment_only_and_stays_out_of_repr(tmp_path):
    from discovery.settings import SettingsError
    from discovery.settings_reader import load_settings

    cfg = tmp_path / "s.toml"
    cfg.write_text('[service]\nadmin_token = "in-the-file"\n')
    with pytest.raises(SettingsError, match="DISCOVERY_ADMIN_TOKEN"):
        load_settings(cfg, environ={})
    settings = load_settings(environ={"DISCOVERY_ADMIN_TOKEN": "from-env-token-0123"})
    assert settings.admin_token == "from-env-token-0123" and "from-env-token-0123" not in repr(settings)


@pytest.mark.parametrize("literal,why", [
    ("http://[2002:7f00:1::]/hook", "6to4 address embedding a loopback"),
    ("http://[2002:a9fe:a9fe::]/hook", "6to4 address embedding a link-local"),
    ("http://[2002:a00:1::]/hook", "6to4 address embedding a private"),
    ("http://[::ffff:127.0.0.1]/hook", "IPv4-mapped address embedding a loopback"),
    ("http://[::ffff:169.254.169.254]/hook", "IPv4-mapped address embedding a link-local"),
    ("http://[64:ff9b::7f00:1]/hook", "NAT64 address embedding a loopback"),
    ("http://[64:ff9b::a9fe:a9fe]/hook", "NAT64 address embedding a link-local"),
    ("http://[64:ff9b:1::a00:1]/hook", "local-use NAT64"),
    ("http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/hook", "Teredo address embedding a loopback"),
    ("http://[::127.0.0.1]/hook", "IPv4-compatible address embedding a loopback"),
    ("http://[fd00:ec2::254]/hook", "private"),
    ("http://169.254.169.254/latest/meta-data/", "link-local"),
    ("http://[fec0::1]/hook", "a site-local"),
    ("http://100.100.100.200/hook", "private"),
    ("http://192.0.2.10/hook", "private"),
    ("http://[2001:db8::1]/hook", "private"),
    ("http://0.0.0.0/hook", "reserved"),
    ("http://[::]/hook", "reserved"),
])
def test_every_address_form_that_reaches_a_non_public_network_is_refused(literal, why):
    with pytest.raises(InvalidWebhookURL, match=why):
        validate_webhook_url(literal)


@pytest.mark.parametrize("literal", ["http://93.184.216.34/hook", "http://[2606:2800:220:1:248:1893:25c8:1946]/hook",
                                     "http://[2002:5db8:d822::]/hook", "http://[64:ff9b::5db8:d822]/hook"])
def test_public_addresses_in_any_form_are_accepted(literal):
    assert validate_webhook_url(literal) == literal


def test_a_delivery_resolves_once_and_connects_to_the_address_it_checked():
    """DNS rebinding: the name answers a checked address first, then another; the POST goes to the first."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from actors.webhook_post import post_delivery

    seen: list[tuple[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - the http.server API
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            seen.append((self.headers["Host"], self.path))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    answers = [["127.0.0.1"], ["10.9.8.7"], ["169.254.169.254"]]
    asked = []

    def rebinding(host, port):
        asked.append(host)
        return answers[len(asked) - 1]

    try:
        port = server.server_port
        delivery = build_delivery("wh_1", "s" * 20, [StoredEvent(1, "added", "p", "p/m", 1, time.time(), {})], 1)
        result = post_delivery(f"http://hooks.example.test:{port}/in?t=1", delivery, 2.0, True, resolver=rebinding)
        assert result.ok, result.error
        assert asked == ["hooks.example.test"], "resolved exactly once"
        assert seen == [(f"hooks.example.test:{port}", "/in?t=1")]
        # Without allow_private the same name is refused before any connection is made.
        refused = post_delivery(f"http://hooks.example.test:{port}/in", delivery, 2.0, False,
                                resolver=lambda h, p: ["127.0.0.1"])
        assert not refused.ok and "loopback" in refused.error and len(seen) == 1
    finally:
        server.shutdown()
        server.server_close()


def test_what_waits_for_a_subscription_is_counted_through_its_filter(database, monkeypatch):
    """Kinds and providers are a COUNT in the database, exact whatever the feed's length; the rest
    of a filter (capabilities, a model glob) reads the events, up to PENDING_SCAN of them."""
    from discovery.messages import EventFilter

    with store.db.atomic():
        store.insert_events([("added", "openai", f"openai/m{i}", None, {"capabilities": ["vision"] if i % 2 else []})
                             for i in range(30)]
                            + [("updated", "bedrock@eu-west-1", None, None, {}), ("added", "groq", "groq/x", None, {})],
                            time.time())
    assert subs.events_after_cursor(0) == (32, False)
    assert subs.events_after_cursor(0, kinds=["added"], providers=["openai"]) == (30, False)
    assert subs.events_after_cursor(0, providers=["bedrock"]) == (1, False)  # its regions' events too
    assert subs.events_after_cursor(10, kinds=["added"]) == (21, False)
    vision = EventFilter.build(capabilities=["vision"])
    assert subs.events_after_cursor(0, vision.matches) == (15, False)
    monkeypatch.setattr(subs, "PENDING_SCAN", 10)
    assert subs.events_after_cursor(0, vision.matches) == (5, True)  # of the first 10 read; more lie past them
