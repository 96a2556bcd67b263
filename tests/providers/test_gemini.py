"""Gemini's GET /v1beta/models: pageToken pages, x-goog-api-key, kinds from generation methods."""
from __future__ import annotations

import pytest

from discovery.providers import ProviderAuthError, ProviderHTTPError, ProviderRateLimited
from tests.providers.conftest import by_id, make_client, simulated

FLASH = {
    "name": "models/gemini-2.5-flash", "version": "001", "displayName": "Gemini 2.5 Flash",
    "description": "Stable version of Gemini 2.5 Flash", "inputTokenLimit": 1048576, "outputTokenLimit": 65536,
    "supportedGenerationMethods": ["generateContent", "countTokens", "createCachedContent", "batchGenerateContent"],
    "temperature": 1, "topP": 0.95, "topK": 64, "maxTemperature": 2, "thinking": True,
}
EMBEDDING = {
    "name": "models/gemini-embedding-001", "version": "001", "displayName": "Gemini Embedding 001",
    "inputTokenLimit": 2048, "outputTokenLimit": 1,
    "supportedGenerationMethods": ["embedContent", "countTextTokens", "countTokens", "asyncBatchEmbedContent"],
}
IMAGEN = {"name": "models/imagen-4.0-generate-001", "version": "001", "displayName": "Imagen 4",
          "inputTokenLimit": 480, "outputTokenLimit": 8192, "supportedGenerationMethods": ["predict"]}
VEO = {"name": "models/veo-3.0-generate-001", "version": "3.0", "displayName": "Veo 3",
       "inputTokenLimit": 480, "outputTokenLimit": 8192, "supportedGenerationMethods": ["predictLongRunning"]}


def test_chat_model_id_strips_models_prefix_and_states_limits_reasoning_caching():
    m = make_client("gemini").normalize(FLASH)
    assert m.id == "gemini/gemini-2.5-flash" and m.name == "Gemini 2.5 Flash"
    assert m.kind == "chat" and m.provenance["kind"] == "gemini"
    assert (m.limits.context_window, m.limits.max_output_tokens) == (1048576, 65536)
    assert m.capabilities.reasoning is True and m.capabilities.prompt_caching is True
    assert m.capabilities.batch is True
    assert m.attributes["sampling"]["maxTemperature"] == 2 and m.attributes["version"] == "001"


def test_vision_and_tools_are_not_stated_so_they_stay_unknown():
    m = make_client("gemini").normalize(FLASH)
    assert m.capabilities.vision is None and m.capabilities.tool_calling is None


def test_embedding_image_and_video_kinds_come_from_generation_methods():
    client = make_client("gemini")
    assert client.normalize(EMBEDDING).kind == "embedding"
    assert client.normalize(IMAGEN).kind == "image"
    assert client.normalize(VEO).kind == "video"
    # thinking appears only when true: its absence is unknown, not False
    assert client.normalize(EMBEDDING).capabilities.reasoning is None


def test_fetch_follows_next_page_token_over_three_pages(stub):
    pages = {None: ([FLASH], "t1"), "t1": ([EMBEDDING], "t2"), "t2": ([IMAGEN], None)}

    def page(request):
        rows, token = pages[request.args.get("pageToken")]
        return 200, {"models": rows, **({"nextPageToken": token} if token else {})}

    stub.route("/v1beta/models", page)
    models = make_client("gemini", stub.url + "/v1beta", env={"GEMINI_API_KEY": "g-key"}).fetch_models()
    assert [m.provider_model_id for m in models] == ["gemini-2.5-flash", "gemini-embedding-001",
                                                   "imagen-4.0-generate-001"]
    assert stub.requests[0]["headers"]["X-Goog-Api-Key"] == "g-key"
    assert "key" not in stub.requests[0]["query"]


def test_a_page_without_models_is_an_empty_page_not_a_malformed_answer(stub):
    """Google's JSON leaves out an empty list: a page of no models comes as {} or as a bare
    nextPageToken. Such a page failed the whole refresh as malformed ("'models' is not a list")."""
    pages = {None: ({"models": [FLASH], "nextPageToken": "t1"}), "t1": {"nextPageToken": "t2"},
             "t2": {"models": [EMBEDDING], "nextPageToken": "t3"}, "t3": {}}
    stub.route("/v1beta/models", lambda request: (200, pages[request.args.get("pageToken")]))
    models = make_client("gemini", stub.url + "/v1beta").fetch_models()
    assert [m.provider_model_id for m in models] == ["gemini-2.5-flash", "gemini-embedding-001"]
    assert len(stub.requests) == 4


def test_probe_asks_for_a_one_model_page(stub):
    stub.route("/v1beta/models", (200, {"models": [FLASH], "nextPageToken": "x"}))
    make_client("gemini", stub.url + "/v1beta").probe()
    assert stub.requests[-1]["query"] == {"pageSize": "1"}


def test_error_body_message_and_status_reach_the_refresh_error(stub):
    stub.route("/v1beta/models", (400, {"error": {"code": 400, "message": "API key not valid. Please pass a valid API key.",
                                                  "status": "INVALID_ARGUMENT", "details": []}}))
    with pytest.raises(ProviderHTTPError) as err:
        make_client("gemini", stub.url + "/v1beta").fetch_models()
    assert "API key not valid" in str(err.value) and err.value.status == 400


def test_a_wrong_key_answered_with_400_api_key_invalid_is_an_auth_error(sim):
    """Google refuses a wrong, expired or deleted key with 400 INVALID_ARGUMENT (ErrorInfo reason
    API_KEY_INVALID), not 401: it was an ordinary HTTP failure, as if Google were failing."""
    base = simulated(sim, "gemini")
    sim.state.set_expected_key("gemini", "g-right")
    with pytest.raises(ProviderAuthError) as err:
        make_client("gemini", base, env={"GEMINI_API_KEY": "g-wrong"}).fetch_models()
    assert err.value.status == 400 and err.value.kind == "auth" and "API key not valid" in str(err.value)
    assert make_client("gemini", base, env={"GEMINI_API_KEY": "g-right"}).fetch_models()


def test_another_400_is_not_an_auth_error(stub):
    stub.route("/v1beta/models", (400, {"error": {"code": 400, "message": "Invalid value for pageSize",
                                                  "status": "INVALID_ARGUMENT", "details": [
                                                      {"@type": "type.googleapis.com/google.rpc.BadRequest"}]}}))
    with pytest.raises(ProviderHTTPError) as err:
        make_client("gemini", stub.url + "/v1beta").fetch_models()
    assert err.value.kind == "http" and err.value.status == 400


def test_refresh_from_the_simulator_over_three_pages(sim):
    base = simulated(sim, "gemini")
    records = sim.state.models("gemini")
    size = max(1, len(records) // 3)
    sim.state.set_page_size("gemini", size)
    before = sim.state.request_count("gemini")
    got = by_id(make_client("gemini", base, page_size=size).fetch_models())
    assert sim.state.request_count("gemini") - before >= 3
    assert len(got) == len(records) and not any(k.startswith("models/") for k in got)
    flash = got["gemini-2.5-flash"]
    assert flash.kind == "chat" and flash.capabilities.reasoning is True and flash.limits.context_window
    assert flash.capabilities.vision is None  # Gemini states no vision flag: left for the catalogs
    assert got["gemini-embedding-001"].kind == "embedding"
    assert got["imagen-4.0-generate-001"].kind == "image" and got["veo-3.0-generate-001"].kind == "video"
    assert got["gemini-2.0-flash"].capabilities.reasoning is None


def test_a_429_says_when_to_come_back_in_its_retry_info(sim):
    """Google sends no Retry-After: the wait is a RetryInfo detail of the body, which was ignored,
    so a rate-limited Gemini refresh was asked again at its next interval, early."""
    sim.state.set_fault("gemini", "rate_limit", retry_after=37)
    with pytest.raises(ProviderRateLimited) as err:
        make_client("gemini", simulated(sim, "gemini")).fetch_models()
    assert err.value.status == 429 and err.value.retry_after == 37.0


def _quota_error(delay, headers=None):
    body = {"error": {"code": 429, "message": "Resource has been exhausted (e.g. check quota).",
                      "status": "RESOURCE_EXHAUSTED", "details": [
                          {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": []},
                          {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay}]}}
    return (429, body, headers or {})


@pytest.mark.parametrize("delay,headers,expected", [
    ("1.500s", None, 1.5),
    ("0.000340s", None, 0.00034),
    ("soon", None, None),  # not a Duration: the provider's text, whatever it holds, is no wait
    ({"seconds": 5}, None, None),
    ("99999999999s", None, None),
    ("9s", {"Retry-After": "4"}, 4.0),  # a header, where one is sent, is read first
])
def test_the_retry_delay_is_read_as_a_protobuf_duration(stub, delay, headers, expected):
    stub.route("/v1beta/models", _quota_error(delay, headers))
    with pytest.raises(ProviderRateLimited) as err:
        make_client("gemini", stub.url + "/v1beta").fetch_models()
    assert err.value.retry_after == expected
