"""Answers that are JSON in form but that no reader here can take: nested deeper than the parsers
(or the record encoder) recurse, or holding strings that are not UTF-8. Every format fails the
refresh as a malformed answer that says which, not as an internal error.

Found by a review of malformed answers: these escaped ``fetch`` as RecursionError and
UnicodeDecodeError (msgspec passes over the bytes of a member it keeps as a span), and the run
said ``internal: RecursionError: maximum recursion depth exceeded ...``.
"""
from __future__ import annotations

import pytest

from discovery.bedrock import BedrockRegionClient
from discovery.providers.errors import MalformedAnswer, ProviderHTTPError
from discovery.settings import BedrockSettings
from tests.providers.conftest import make_client

# format → (path served, options, the answer with one record whose extra member is ``X``)
ANSWERS = {
    "openai": ("/v1/models", {}, b'{"object":"list","data":[{"id":"m1","object":"model",X}]}'),
    "anthropic": ("/v1/models", {}, b'{"data":[{"id":"m1","type":"model",X}],"has_more":false}'),
    "gemini": ("/v1beta/models", {}, b'{"models":[{"name":"models/m1",X}]}'),
    "cohere": ("/v1/models", {}, b'{"models":[{"name":"m1","endpoints":["chat"],X}]}'),
    "together": ("/v1/models", {}, b'[{"id":"m1","type":"chat",X}]'),
    "openrouter": ("/v1/models", {}, b'{"data":[{"id":"a/m1",X}]}'),
    "modelsdev": ("/modelsdev/api.json", {}, b'{"acme":{"models":{"m1":{"id":"m1",X}}}}'),
    "litellm": ("/litellm/map.json", {"path": "/map.json"},
                b'{"m1":{"litellm_provider":"openai","mode":"chat",X}}'),
}
# Deep enough for the record encoder to recurse (the parsers read it), and for the parsers too.
DEPTHS = (600, 100_000)


def client_for(stub, fmt):
    path, options, template = ANSWERS[fmt]
    base = stub.url + path.rsplit("/", 1)[0]
    return make_client(fmt, base, **options), path, template


@pytest.mark.parametrize("depth", DEPTHS)
@pytest.mark.parametrize("fmt", ANSWERS)
def test_json_nested_too_deeply_fails_the_refresh_as_malformed(stub, fmt, depth):
    client, path, template = client_for(stub, fmt)
    stub.route(path, (200, template.replace(b"X", b'"x":' + b"[" * depth + b"]" * depth)))
    with pytest.raises(MalformedAnswer, match="nested too deeply to read"):
        client.fetch(None)
    stub.route(path, (200, template.replace(b",X", b"")))
    assert len(client.fetch(None).models) == 1  # the same client reads the next good answer


@pytest.mark.parametrize("fmt", ANSWERS)
def test_text_that_is_not_utf8_fails_the_refresh_as_malformed(stub, fmt):
    client, path, template = client_for(stub, fmt)
    stub.route(path, (200, template.replace(b"X", b'"description":"caf\xe9"')))
    with pytest.raises(MalformedAnswer, match=r"not UTF-8 \(byte 0xe9\)"):
        client.fetch(None)


def test_a_health_check_of_an_unreadable_answer_is_malformed_too(stub):
    client, path, template = client_for(stub, "anthropic")
    stub.route(path, (200, template.replace(b"X", b'"x":' + b"[" * 100_000 + b"]" * 100_000)))
    with pytest.raises(MalformedAnswer, match="nested too deeply to read"):
        client.check()


def test_an_error_body_nested_too_deeply_still_reports_its_status(stub):
    client, path, _ = client_for(stub, "openai")
    stub.route(path, (503, b'{"error":' + b"[" * 100_000 + b"]" * 100_000 + b"}"))
    with pytest.raises(ProviderHTTPError, match="answered HTTP 503") as caught:
        client.fetch(None)
    assert caught.value.status == 503


def test_a_bedrock_answer_nested_too_deeply_is_malformed(stub, monkeypatch, tmp_path):
    for name, value in {"AWS_ACCESS_KEY_ID": "AKIDTESTBEDROCK", "AWS_SECRET_ACCESS_KEY": "test-secret-not-real",
                        "AWS_CONFIG_FILE": str(tmp_path / "none"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
                        "AWS_EC2_METADATA_DISABLED": "true"}.items():
        monkeypatch.setenv(name, value)
    deep = b"[" * 100_000 + b"]" * 100_000
    stub.route("/bedrock/us-east-1/foundation-models",
               (200, b'{"modelSummaries":[{"modelId":"a.m1-v1:0","x":' + deep + b"}]}"))
    settings = BedrockSettings(enabled=True, regions=("us-east-1",), endpoint_url=stub.url + "/bedrock/{region}",
                               timeout=3.0)
    with pytest.raises(MalformedAnswer, match="bedrock us-east-1 answered with JSON nested too deeply to read"):
        BedrockRegionClient("us-east-1", settings).list_foundation_models()
