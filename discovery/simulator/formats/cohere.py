"""Cohere ``GET /v1/models``: ``page_size`` / ``page_token`` pages with ``next_page_token``.

Rows: ``name``, ``endpoints``, ``finetuned``, ``context_length``, ``tokenizer_url``,
``default_endpoints``, ``features`` (null for some models), ``is_deprecated`` and
``sampling_defaults``. The ``endpoint`` and ``default_only`` filters work as documented.

``POST /v2/chat`` with ``stream: true`` streams named events: ``message-start``,
``content-start``, ``content-delta`` (``delta.message.content.text``, or ``.thinking`` in a
thinking block), ``content-end`` and ``message-end`` with ``finish_reason`` and ``usage``
(``billed_units`` and ``tokens``); a failure mid-way ends with ``finish_reason: ERROR`` and
``delta.error``. ``POST /v2/embed`` answers ``embeddings.float`` and ``meta.billed_units``.
"""
from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from flask import Blueprint, Response, request

from discovery.simulator.formats.streaming import (
    StreamPlan,
    int_field,
    message_text,
    paced,
    request_id,
    sse,
    stream_plan,
)
from discovery.simulator.formats.wire import (
    WireFormat,
    decode_page_token,
    encode_page_token,
    error_response,
    id_field,
    json_response,
    page_limit,
    served_records,
    sim_state,
)
from discovery.simulator.sources import modelsdev_models

PROVIDER = "cohere"
ENDPOINTS = ("chat", "embed", "classify", "summarize", "rerank", "rate", "generate")
SAMPLING = {"temperature": 0.3, "k": 0, "p": 0.75, "frequency_penalty": 0, "presence_penalty": 0}

blueprint = Blueprint(PROVIDER, __name__)


def cohere_row(name: str, endpoints: list[str], context: int, features: list[str] | None, *,
               deprecated: bool = False, defaults: list[str] | None = None) -> dict[str, Any]:
    """One Cohere model row."""
    row: dict[str, Any] = {"name": name, "endpoints": endpoints, "finetuned": False,
                           "context_length": context,
                           "tokenizer_url": f"https://storage.googleapis.com/cohere-public/tokenizers/{name}.json",
                           "default_endpoints": defaults or [], "features": features,
                           "is_deprecated": deprecated}
    if "chat" in endpoints:
        row["sampling_defaults"] = dict(SAMPLING)
    return row


def _row(record: Mapping[str, Any]) -> dict[str, Any]:
    name = record["id"]
    inputs = (record.get("modalities") or {}).get("input") or []
    features: list[str] = []
    if record.get("tool_call"):
        features += ["tools", "strict_tools"]
    features += ["json_mode", "json_schema"]
    if "image" in inputs:
        features.append("vision")
    if record.get("reasoning"):
        features.append("reasoning")
    return cohere_row(name, ["chat"], (record.get("limit") or {}).get("context") or 4096, features,
                      deprecated=record.get("status") == "deprecated",
                      defaults=["chat"] if name == "command-a-03-2025" else [])


def default_records() -> list[dict[str, Any]]:
    """The default fixture: models.dev's newest ``cohere`` models plus embed, rerank and legacy rows."""
    rows = [_row(r) for r in modelsdev_models("cohere")]
    return rows + [
        cohere_row("embed-v4.0", ["embed", "embed_image"], 128000, None, defaults=["embed"]),
        cohere_row("embed-english-v3.0", ["embed"], 512, None),
        cohere_row("embed-multilingual-v3.0", ["embed", "classify"], 512, None),
        cohere_row("rerank-v3.5", ["rerank"], 4096, None, defaults=["rerank"]),
        cohere_row("rerank-english-v3.0", ["rerank"], 4096, None),
        cohere_row("command-light", ["generate", "chat", "summarize"], 4096, [], deprecated=True,
                   defaults=["generate"]),
        cohere_row("command", ["generate", "chat", "summarize"], 4096, ["tools"], deprecated=True),
    ]


@blueprint.get("/v1/models")
def list_models():
    """One page of models. :raise 400: a bad page size, page token or endpoint."""
    size = page_limit(request.args.get("page_size"), 20, 1000, sim_state().page_size(PROVIDER))
    if size is None:
        return error_response(400, "bad_request", "invalid request: page_size must be a positive integer")
    token = request.args.get("page_token")
    start = decode_page_token(token) if token else 0
    if start is None:
        return error_response(400, "bad_request", "invalid request: page_token is invalid")
    endpoint = request.args.get("endpoint")
    if endpoint and endpoint not in ENDPOINTS:
        return error_response(400, "bad_request", f"invalid request: endpoint must be one of {', '.join(ENDPOINTS)}")
    rows = served_records(PROVIDER)
    if endpoint:
        field = "default_endpoints" if request.args.get("default_only") == "true" else "endpoints"
        rows = [r for r in rows if endpoint in (r.get(field) or [])]
    body: dict[str, Any] = {"models": rows[start:start + size]}
    if start + size < len(rows):
        body["next_page_token"] = encode_page_token(start + size)
    return json_response(body)


def _event(kind: str, body: dict[str, Any]) -> bytes:
    return sse(json.dumps({"type": kind, **body}, separators=(",", ":")), event=kind)


def _chat_events(plan: StreamPlan, state: Any) -> Iterator[bytes]:
    yield _event("message-start", {"id": request_id(""), "delta": {"message": {
        "role": "assistant", "content": [], "tool_plan": "", "tool_calls": [], "citations": []}}})
    index, opened = 0, None
    for piece in paced(plan, state):
        if piece.kind == "error":
            if opened is not None:
                yield _event("content-end", {"index": index})
            yield _event("message-end", {"delta": {"finish_reason": "ERROR", "error": piece.text}})
            return
        if opened != piece.kind:
            if opened is not None:
                yield _event("content-end", {"index": index})
                index += 1
            yield _event("content-start", {"index": index, "delta": {"message": {"content": {
                "type": piece.kind, piece.kind: ""}}}})
            opened = piece.kind
        yield _event("content-delta", {"index": index, "delta": {"message": {"content": {piece.kind: piece.text}}}})
    if opened is not None:
        yield _event("content-end", {"index": index})
    delta: dict[str, Any] = {"finish_reason": "MAX_TOKENS" if plan.capped else "COMPLETE"}
    if plan.usage:
        counts = {"input_tokens": plan.prompt_tokens, "output_tokens": plan.output_tokens}
        delta["usage"] = {"billed_units": counts, "tokens": {**counts, "input_tokens": plan.prompt_tokens + 200}}
    yield _event("message-end", {"delta": delta})


def _known(model: Any) -> bool:
    return isinstance(model, str) and any(r.get("name") == model for r in served_records(PROVIDER))


@blueprint.post("/v2/chat")
def chat():
    """A streamed chat answer. :raise 400: no messages, or not streamed. :raise 404: unknown model."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list) or not body["messages"]:
        return error_response(400, "bad_request", "invalid request: messages must not be empty")
    if not _known(body.get("model")):
        return error_response(404, "not_found", f"model '{body.get('model')}' not found, make sure the correct "
                                                "model ID was used and that you have access to the model.")
    if not body.get("stream"):
        return error_response(400, "bad_request", "this simulator serves streamed chat only (stream: true)")
    state = sim_state()
    plan = stream_plan(state, PROVIDER, int_field(body, "max_tokens"), message_text(body["messages"]))
    return Response(_chat_events(plan, state), mimetype="text/event-stream")


@blueprint.post("/v2/embed")
def embed():
    """Float embeddings of ``texts``. :raise 400: no texts. :raise 404: unknown model."""
    body = request.get_json(silent=True)
    texts = body.get("texts") if isinstance(body, dict) else None
    if not isinstance(texts, list) or not texts:
        return error_response(400, "bad_request", "invalid request: texts must not be empty")
    if not _known(body.get("model")):
        return error_response(404, "not_found", f"model '{body.get('model')}' not found")
    state = sim_state()
    state.wait(float(state.stream(PROVIDER)["ttft"]))
    tokens = sum(max(1, len(str(t)) // 4) for t in texts)
    return json_response({"id": request_id(""), "texts": texts,
                          "embeddings": {"float": [[0.0125, -0.031, 0.0042, 0.5] for _ in texts]},
                          "meta": {"api_version": {"version": "2"}, "billed_units": {"input_tokens": tokens}}})


FORMAT = WireFormat(
    provider=PROVIDER, url_prefix="/cohere", blueprint=blueprint, default_records=default_records,
    record_id=id_field("name"), error_body=lambda status, kind, message: {"id": "5f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b",
                                                                         "message": message},
    auth_failure=lambda key_missing: (401, "auth", "no api key supplied" if key_missing else "invalid api token"),
    default_page_size=7,
)
