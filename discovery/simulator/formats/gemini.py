"""Gemini ``GET /v1beta/models`` (``pageSize``/``pageToken`` -> ``nextPageToken``) and ``/models/{id}``.

Rows name the model ``models/<id>`` and state token limits and ``supportedGenerationMethods``;
sampling fields appear only where the model has them and ``thinking`` only when true. There is
no vision, tools or deprecation flag: embeddings are the rows with ``embedContent``, Imagen and
Veo the ones with ``predict`` / ``predictLongRunning``. As on the real API, a wrong key is a 400
``API_KEY_INVALID`` and a missing one a 403, not a 401.

``POST /v1beta/models/{id}:streamGenerateContent?alt=sse`` streams ``data: {GenerateContentResponse}``
frames separated by CRLF pairs with no terminator (the end of the body ends it); ``usageMetadata``
is on every chunk and cumulative, ``finishReason`` on the last. Thoughts are silent unless
``includeThoughts`` is set. The thinking checks are the real ones: 2.5 Pro refuses a budget of 0
and ``thinkingLevel`` is for Gemini 3 only. ``:embedContent`` answers ``embedding.values``.
"""
from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from flask import Blueprint, Request, Response, request

from discovery.simulator.formats.streaming import StreamPlan, int_field, message_text, paced, stream_plan
from discovery.simulator.formats.wire import (
    WireFormat,
    decode_page_token,
    encode_page_token,
    error_response,
    json_response,
    page_limit,
    served_items,
    sim_state,
)
from discovery.simulator.sources import modelsdev_models

PROVIDER = "gemini"
CHAT_METHODS = ["generateContent", "countTokens", "createCachedContent", "batchGenerateContent"]
EMBED_METHODS = ["embedContent", "countTextTokens", "countTokens", "asyncBatchEmbedContent"]
STATUS_NAMES = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
                404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE",
                504: "DEADLINE_EXCEEDED"}

UNREGISTERED_CALLER = ("Method doesn't allow unregistered callers (callers without established "
                       "identity). Please use API Key or other form of API consumer identity to call this API.")

blueprint = Blueprint(PROVIDER, __name__)

# Models the API lists that models.dev does not: older embeddings, Imagen, Veo, a Live model.
EXTRA_ROWS: list[dict[str, Any]] = [
    {"name": "models/text-embedding-004", "version": "004", "displayName": "Text Embedding 004",
     "description": "Obtain a distributed representation of a text.", "inputTokenLimit": 2048,
     "outputTokenLimit": 1, "supportedGenerationMethods": ["embedContent"]},
    {"name": "models/imagen-4.0-generate-001", "version": "001", "displayName": "Imagen 4",
     "description": "Vertex served Imagen 4.0 model", "inputTokenLimit": 480,
     "outputTokenLimit": 8192, "supportedGenerationMethods": ["predict"]},
    {"name": "models/imagen-4.0-fast-generate-001", "version": "001", "displayName": "Imagen 4 Fast",
     "description": "Vertex served Imagen 4.0 Fast model", "inputTokenLimit": 480,
     "outputTokenLimit": 8192, "supportedGenerationMethods": ["predict"]},
    {"name": "models/veo-3.0-generate-001", "version": "3.0", "displayName": "Veo 3",
     "description": "Veo 3", "inputTokenLimit": 480, "outputTokenLimit": 8192,
     "supportedGenerationMethods": ["predictLongRunning"]},
    {"name": "models/gemini-2.5-flash-native-audio-latest", "version": "Gemini 2.5 Flash Native Audio Latest",
     "displayName": "Gemini 2.5 Flash Native Audio Latest",
     "description": "Latest release of Gemini 2.5 Flash Native Audio", "inputTokenLimit": 131072,
     "outputTokenLimit": 8192, "supportedGenerationMethods": ["countTokens", "bidiGenerateContent"],
     "temperature": 1, "topP": 0.95, "topK": 64, "maxTemperature": 2, "thinking": True},
]


def _version(model_id: str) -> str:
    if "preview" in model_id or "latest" in model_id:
        return model_id.removeprefix("gemini-")
    return "001" if model_id.startswith("gemini-2.5") else model_id.split("-")[1]


def _methods(model_id: str, record: Mapping[str, Any]) -> list[str]:
    outputs = (record.get("modalities") or {}).get("output") or []
    if "embedding" in model_id:
        return list(EMBED_METHODS)
    if model_id.startswith("gemma"):
        return ["generateContent", "countTokens"]
    if "image" in outputs or "audio" in outputs:
        return ["generateContent", "countTokens", "batchGenerateContent"]
    return list(CHAT_METHODS)


def gemini_row(record: Mapping[str, Any]) -> dict[str, Any]:
    """One models.dev ``google`` record -> a Gemini list row."""
    model_id = record["id"]
    limit = record.get("limit") or {}
    description = record.get("name") or model_id
    if record.get("status") == "deprecated":
        # The API has no deprecation field; Google says so in the description.
        description += ". This model is deprecated and will be shut down; migrate to a newer model."
    row: dict[str, Any] = {
        "name": f"models/{model_id}", "version": _version(model_id),
        "displayName": record.get("name") or model_id, "description": description,
        "inputTokenLimit": limit.get("input") or limit.get("context"),
        "outputTokenLimit": limit.get("output"),
        "supportedGenerationMethods": _methods(model_id, record),
    }
    if "embedding" not in model_id:
        row.update({"temperature": 1, "topP": 0.95, "topK": 40 if model_id.startswith("gemini-2.0") else 64})
        if not model_id.startswith("gemma"):
            row["maxTemperature"] = 2
    if record.get("reasoning"):
        row["thinking"] = True
    return row


def build_records(modelsdev_records: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """models.dev ``google`` records -> Gemini rows, plus the rows only the live API has."""
    rows = [gemini_row(r) for r in modelsdev_records]
    names = {row["name"] for row in rows}
    return rows + [dict(row) for row in EXTRA_ROWS if row["name"] not in names]


def default_records() -> list[dict[str, Any]]:
    """The default fixture, from models.dev's newest ``google`` provider."""
    return build_records(modelsdev_models("google"))


def record_id(record: Mapping[str, Any]) -> str:
    """A row's id is its ``name`` without the ``models/`` prefix."""
    name = record.get("name") if isinstance(record, Mapping) else None
    if not isinstance(name, str) or not name.startswith("models/"):
        raise ValueError("a Gemini record needs a 'name' of the form 'models/<id>'")
    return name.removeprefix("models/")


def error_body(status: int, kind: str, message: str) -> dict[str, Any]:
    """Google's RPC error envelope."""
    error: dict[str, Any] = {"code": status, "message": message,
                             "status": STATUS_NAMES.get(status, "UNKNOWN")}
    if kind == "auth":
        error["details"] = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                             "reason": "API_KEY_INVALID", "domain": "googleapis.com",
                             "metadata": {"service": "generativelanguage.googleapis.com"}}]
    return {"error": error}


def retry_info(body: dict[str, Any], seconds: float) -> dict[str, Any]:
    """A 429 as Google sends it: which quota ran out, and a RetryInfo whose ``retryDelay`` is a
    protobuf Duration in JSON ("37s"); no Retry-After header."""
    delay = f"{seconds:.3f}".rstrip("0").rstrip(".") + "s"
    error = dict(body["error"])
    error["details"] = [
        {"@type": "type.googleapis.com/google.rpc.QuotaFailure",
         "violations": [{"quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                         "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"}]},
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay},
    ]
    return {"error": error}


def key_from(req: Request) -> tuple[str | None, str | None]:
    """The key from ``x-goog-api-key`` or the ``key`` query parameter."""
    if "x-goog-api-key" in req.headers:
        return "x-goog-api-key", req.headers["x-goog-api-key"]
    if "key" in req.args:
        return "query:key", req.args["key"]
    return None, None


def auth_failure(key_missing: bool) -> tuple[int, str, str]:
    """Google refuses a missing key with 403 and a wrong one with 400."""
    if key_missing:
        return 403, "forbidden", UNREGISTERED_CALLER
    return 400, "auth", "API key not valid. Please pass a valid API key."


@blueprint.get("/v1beta/models")
def list_models():
    """One page of models. :raise 400: an invalid ``pageSize`` or ``pageToken``."""
    size = page_limit(request.args.get("pageSize"), 50, 1000, sim_state().page_size(PROVIDER))
    if size is None:
        return error_response(400, "bad_request", "Invalid value for pageSize")
    token = request.args.get("pageToken")
    start = decode_page_token(token) if token else 0
    if start is None:
        return error_response(400, "bad_request", "Invalid page token.")
    items = served_items(PROVIDER)
    page = [record for _, record in items[start:start + size]]
    # Google's JSON leaves out empty repeated fields: no models is an empty object.
    body: dict[str, Any] = {"models": page} if page else {}
    if start + size < len(items):
        body["nextPageToken"] = encode_page_token(start + size)
    return json_response(body)


@blueprint.get("/v1beta/models/<path:model_id>")
def get_model(model_id: str):
    """One model by id. :raise 404: NOT_FOUND."""
    for key, record in served_items(PROVIDER):
        if key == model_id:
            return json_response(record)
    return error_response(404, "not_found", f"models/{model_id} is not found for API version v1beta, "
                                            "or is not supported for generateContent.")


def _chunks(plan: StreamPlan, model: str, thoughts: bool, state: Any) -> Iterator[bytes]:
    sent = 0

    def chunk(parts: list[dict[str, Any]], finish: str | None = None) -> bytes:
        candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
        if finish:
            candidate["finishReason"] = finish
        body: dict[str, Any] = {"candidates": [candidate]}
        if plan.usage:
            answer = max(0, sent - plan.thinking_tokens)
            body["usageMetadata"] = {"promptTokenCount": plan.prompt_tokens, "candidatesTokenCount": answer,
                                     "thoughtsTokenCount": min(sent, plan.thinking_tokens),
                                     "totalTokenCount": plan.prompt_tokens + sent}
        body.update(modelVersion=model, responseId="sim-" + model)
        return f"data: {json.dumps(body, separators=(',', ':'))}\r\n\r\n".encode()

    for piece in paced(plan, state):
        if piece.kind == "error":
            error = {"error": {"code": 500, "message": piece.text, "status": "INTERNAL"}}
            yield f"data: {json.dumps(error)}\r\n\r\n".encode()
            return
        sent += 1
        if piece.kind == "thinking":
            if thoughts:
                yield chunk([{"text": piece.text, "thought": True}])
            continue
        yield chunk([{"text": piece.text}])
    yield chunk([{"text": ""}], "MAX_TOKENS" if plan.capped else "STOP")


def _thinking_refusal(model: str, config: Any) -> Response | None:
    thinking = config.get("thinkingConfig") if isinstance(config, dict) else None
    if not isinstance(thinking, dict):
        return None
    if "thinkingLevel" in thinking and not model.startswith("gemini-3"):
        return error_response(400, "bad_request", "Thinking level is not supported for this model.")
    if thinking.get("thinkingBudget") == 0 and "2.5-pro" in model:
        return error_response(400, "bad_request", "Budget 0 is invalid. This model only works in thinking mode.")
    return None


def _embed(model: str) -> Response:
    body = request.get_json(silent=True)
    parts = ((body or {}).get("content") or {}).get("parts") if isinstance(body, dict) else None
    if not isinstance(parts, list) or not parts:
        return error_response(400, "bad_request", "content is required")
    state = sim_state()
    state.wait(float(state.stream(PROVIDER)["ttft"]))
    return json_response({"embedding": {"values": [0.0125, -0.031, 0.0042, 0.5]}})


@blueprint.post("/v1beta/models/<path:target>")
def call_model(target: str):
    """``{id}:streamGenerateContent`` (with ``alt=sse``) or ``{id}:embedContent``.

    :raise 400: another method, no ``alt=sse``, no contents, or thinking settings the model refuses.
    :raise 404: no such model.
    """
    model, _, method = target.rpartition(":")
    if not any(key == model for key, _ in served_items(PROVIDER)):
        return error_response(404, "not_found", f"models/{model} is not found for API version v1beta, "
                                                "or is not supported for generateContent.")
    if method == "embedContent":
        return _embed(model)
    if method != "streamGenerateContent" or request.args.get("alt") != "sse":
        return error_response(400, "bad_request", "this simulator serves streamGenerateContent?alt=sse and "
                                                  "embedContent only")
    body = request.get_json(silent=True)
    contents = body.get("contents") if isinstance(body, dict) else None
    if not isinstance(contents, list) or not contents:
        return error_response(400, "bad_request", "contents is not specified")
    config = body.get("generationConfig") or {}
    refused = _thinking_refusal(model, config)
    if refused is not None:
        return refused
    prompt = "\n".join(message_text([{"content": c.get("parts")}]) for c in contents if isinstance(c, dict))
    state = sim_state()
    plan = stream_plan(state, PROVIDER, int_field(config, "maxOutputTokens"), prompt)
    thoughts = bool((config.get("thinkingConfig") or {}).get("includeThoughts"))
    return Response(_chunks(plan, model, thoughts, state), mimetype="text/event-stream")


FORMAT = WireFormat(
    provider=PROVIDER, url_prefix="/gemini", blueprint=blueprint, default_records=default_records,
    record_id=record_id, error_body=error_body, key_from=key_from, auth_failure=auth_failure,
    default_page_size=10, retry_in_body=retry_info,
)
