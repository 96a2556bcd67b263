"""A provider that echoes the caller's key into a model's fields: the key reaches no stream, no
webhook and no row of the store, as it reaches no HTTP answer and no log line."""
from __future__ import annotations

from pathlib import Path

from tests.conftest import provider_config, wait_for
from tests.notify.conftest import NOTIFY_SETTINGS, LiveServer, SSEClient
from web import create_app

KEY_ENV = "ECHO_TEST_OPENAI_KEY"
KEY = "echoed-key-7f3a9c1e5b2d4f6a8c0e"
AUTH = {"Authorization": f"Bearer {NOTIFY_SETTINGS['admin_token']}"}


def test_a_key_a_provider_puts_into_a_model_is_masked_before_the_store_the_feed_and_the_webhooks(
        start_service, simulator, receiver, db_url, monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    simulator.state.add_model("openai", {"id": "echo-model", "object": "model", "created": 1700000000,
                                         "owned_by": f"org of {KEY}", "note": {"url": f"https://x/?k={KEY}"}})
    # A model whose id holds the key is left out: masking it would make it another model.
    simulator.state.add_model("openai", {"id": f"model-{KEY}", "object": "model", "created": 1700000000,
                                         "owned_by": "x"})
    service = start_service([provider_config(simulator, "openai", "openai_compatible", route="openai",
                                             api_key_env=KEY_ENV)], **NOTIFY_SETTINGS)
    wait_for(lambda: service.index.get("openai/echo-model") is not None, what="the echoing model")
    client = create_app(service).test_client()
    hook = receiver()
    assert client.post("/api/v1/subscriptions", json={"url": hook.url, "since": 0, "secret": hook.secret},
                       headers=AUTH).status_code == 201
    last = service.last_event_id()
    wait_for(lambda: last in hook.acked_ids(), what="every event delivered")
    server = LiveServer(service)
    try:
        stream = SSEClient(server.port, "/api/v1/events/stream?since=0", timeout=5)
        streamed = []
        while not streamed or int(streamed[-1].id) < last:
            streamed.append(stream.next_message())
        stream.close()
    finally:
        server.stop()

    delivered = str([p.body for p in hook.all_posts()])
    assert "echo-model" in delivered and KEY not in delivered and "[REDACTED]" in delivered
    assert any("echo-model" in m.data for m in streamed) and not [m.data for m in streamed if KEY in m.data]
    detail = client.get("/api/v1/models/openai/echo-model").get_json()
    assert detail["raw"]["owned_by"] == "org of [REDACTED]" and detail["raw"]["note"]["url"] == "https://x/?k=[REDACTED]"
    [run] = [r for r in service.refresh_runs(limit=10) if r["provider"] == "openai"][:1]
    assert run["rejected"] == 1 and "its id holds a configured secret" in str(run["rejections"])
    assert not any(m.startswith("openai/model-") for m in service.index.ids())
    service.stop()
    db = Path(db_url.removeprefix("sqlite:///"))
    stored = b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))
    assert b"echo-model" in stored and KEY.encode() not in stored


def test_a_key_that_is_also_part_of_a_number_is_masked_in_strings_and_the_numbers_stay(start_service, simulator,
                                                                                        monkeypatch):
    """A weak key (digits alone) echoed into a model: masked where it is text, while the numbers
    that hold the same digits stay numbers. Masking the JSON text turned the raw answer's
    ``created`` into ``17[REDACTED]``: the record could not be read back (the refresh failed with
    an internal error) and the HTTP answer was no longer JSON."""
    digits = "12345678"
    monkeypatch.setenv(KEY_ENV, digits)
    simulator.state.add_model("openai", {"id": "digits-model", "object": "model", "created": 1712345678,
                                         "owned_by": f"org {digits}", "max_model_len": 812345678})
    service = start_service([provider_config(simulator, "openai", "openai_compatible", route="openai",
                                             api_key_env=KEY_ENV)], **NOTIFY_SETTINGS)
    wait_for(lambda: service.refresh_runs(limit=5), what="the first refresh")
    wait_for(lambda: service.refresh_runs(limit=5)[0]["finished_at"], what="the first refresh to end")
    run = service.refresh_runs(limit=5)[0]
    assert run["outcome"] == "succeeded", run
    client = create_app(service).test_client()
    answer = client.get("/api/v1/models/openai/digits-model")
    assert answer.status_code == 200
    detail = answer.get_json()  # None if the answer were not JSON
    assert detail["raw"]["owned_by"] == "org [REDACTED]"
    assert detail["raw"]["created"] == 1712345678 and detail["raw"]["max_model_len"] == 812345678
    assert detail["limits"]["context_window"] == 812345678
    page = client.get("/api/v1/models?provider=openai&limit=1000").get_json()
    assert page is not None and any(m["id"] == "openai/digits-model" for m in page["data"])
    service.stop()
