"""Anthropic ``GET /v1/models`` (cursor pages), ``GET /v1/models/{id}`` and ``POST /v1/messages`` (streamed).

Pages: ``limit`` (default 20, 1-1000), ``after_id`` / ``before_id``; the answer carries
``has_more``, ``first_id`` and ``last_id``. Newest model first. Requires ``anthropic-version``;
the key travels in ``x-api-key``. Claude 3 rows have only the four base fields; newer ones add
``max_input_tokens``, ``max_tokens`` and ``capabilities`` (as the 2026 API does). Aliases such as
``claude-sonnet-4-5`` and retired models are not listed, as on the real API.
An ``unavailable`` fault is Anthropic's 529 ``overloaded_error``, not a 503.

A message stream is named SSE events: ``message_start`` (input tokens), ``content_block_start``,
a ``ping``, ``content_block_delta`` (``text_delta``; a ``thinking`` block with ``thinking_delta``
and ``signature_delta`` first when the model thinks), ``content_block_stop``, ``message_delta``
(stop reason and the cumulative ``output_tokens``) and ``message_stop``; a mid-stream failure is
``event: error`` with an ``overloaded_error``. ``max_tokens`` is required.
"""
from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

from flask import Blueprint, Request, Response, request

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
    error_response,
    header_key,
    json_response,
    page_limit,
    served_items,
    sim_state,
)
from discovery.simulator.sources import modelsdev_models, rfc3339, unix_time

PROVIDER = "anthropic"
BASE_FIELDS = ("type", "id", "display_name", "created_at")
# Retired before the fixture's date: the real list no longer shows them.
RETIRED = ("claude-3-5-sonnet", "claude-3-opus", "claude-3-sonnet")

blueprint = Blueprint(PROVIDER, __name__)


def _supported(flag: bool) -> dict[str, bool]:
    return {"supported": bool(flag)}


def capabilities(record: Mapping[str, Any]) -> dict[str, Any]:
    """The 2026 ``capabilities`` object for a models.dev Claude record, by release generation."""
    released = record.get("release_date") or ""
    inputs = (record.get("modalities") or {}).get("input") or []
    reasoning = bool(record.get("reasoning"))
    context_management: dict[str, Any] = {"supported": True,
                                          "clear_tool_uses_20250919": _supported(True)}
    if reasoning:
        context_management["clear_thinking_20251015"] = _supported(True)
    if released >= "2026-01-12":
        context_management["compact_20260112"] = _supported(True)
    effort = released >= "2025-11-01"
    caps: dict[str, Any] = {
        "batch": _supported(True),
        "citations": _supported(True),
        "code_execution": _supported(released >= "2025-09-29"),
        "context_management": context_management,
        "effort": {"supported": effort, "low": _supported(effort), "medium": _supported(effort),
                   "high": _supported(effort), "max": _supported(released >= "2026-02-05")},
        "image_input": _supported("image" in inputs),
        "pdf_input": _supported("pdf" in inputs),
        "structured_outputs": _supported(released >= "2025-09-29"),
        "thinking": {"supported": reasoning,
                     "types": {"enabled": _supported(reasoning),
                               "adaptive": _supported(released >= "2026-02-05")}},
    }
    if released >= "2026-05-01":
        # The newest answers carry a field the mid-2026 SDKs do not know yet.
        caps["server_tools"] = {"supported": True, "code_execution": _supported(True),
                                "web_search": _supported(True)}
    return caps


def build_records(modelsdev_records: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """models.dev ``anthropic`` records -> list rows, newest first, without aliases or retired models."""
    rows = []
    for r in modelsdev_records:
        model_id = r["id"]
        if "(latest)" in (r.get("name") or "") or model_id.startswith(RETIRED):
            continue
        created = unix_time(r.get("release_date"), model_id)
        # Anthropic's created_at is the release day at midnight.
        row: dict[str, Any] = {"type": "model", "id": model_id,
                               "display_name": r.get("name") or model_id,
                               "created_at": rfc3339(created - created % 86400)}
        if not model_id.startswith("claude-3"):
            limit = r.get("limit") or {}
            row["max_input_tokens"] = limit.get("input") or limit.get("context")
            row["max_tokens"] = limit.get("output")
            row["capabilities"] = capabilities(r)
        rows.append(row)
    rows.sort(key=lambda row: (row["created_at"], row["id"]), reverse=True)
    return rows


def default_records() -> list[dict[str, Any]]:
    """The default fixture, from models.dev's newest ``anthropic`` provider."""
    return build_records(modelsdev_models("anthropic"))


def error_body(status: int, kind: str, message: str) -> dict[str, Any]:
    """Anthropic's error envelope."""
    types = {"bad_request": "invalid_request_error", "auth": "authentication_error",
             "forbidden": "permission_error", "not_found": "not_found_error",
             "rate_limit": "rate_limit_error", "unavailable": "overloaded_error"}
    return {"type": "error", "error": {"type": types.get(kind, "api_error"), "message": message},
            "request_id": f"req_{uuid.uuid4().hex[:24]}"}


def check_request(req: Request) -> tuple[int, str, str] | None:
    """Every Anthropic API call must name an API version."""
    if not req.headers.get("anthropic-version"):
        return 400, "bad_request", "anthropic-version: header is required"
    return None


def _headers() -> dict[str, str]:
    return {"request-id": f"req_{uuid.uuid4().hex[:24]}",
            "anthropic-organization-id": "5f3c1a2e-0000-4000-8000-00000000a11c"}


def _shaped(record: dict[str, Any]) -> dict[str, Any]:
    if sim_state().option(PROVIDER, "base_fields_only"):
        return {key: record[key] for key in BASE_FIELDS if key in record}
    return record


@blueprint.get("/v1/models")
def list_models():
    """One page of models. :raise 400: bad ``limit``, unknown cursor, or both cursors."""
    items = served_items(PROVIDER)
    ids = [key for key, _ in items]
    limit = page_limit(request.args.get("limit"), 20, 1000, sim_state().page_size(PROVIDER), strict=True)
    if limit is None:
        return error_response(400, "bad_request", "limit: Input should be between 1 and 1000")
    after, before = request.args.get("after_id"), request.args.get("before_id")
    if after and before:
        return error_response(400, "bad_request", "after_id and before_id cannot both be set")
    cursor = after or before
    if cursor and cursor not in ids:
        return error_response(400, "bad_request", f"{'after_id' if after else 'before_id'}: "
                                                  f"unknown model id {cursor!r}")
    if before:
        end = ids.index(before)
        start = max(0, end - limit)
        page, has_more = items[start:end], start > 0
    else:
        start = ids.index(after) + 1 if after else 0
        page, has_more = items[start:start + limit], start + limit < len(items)
    data = [_shaped(record) for _, record in page]
    return json_response({"data": data, "has_more": has_more,
                          "first_id": data[0]["id"] if data else None,
                          "last_id": data[-1]["id"] if data else None}, headers=_headers())


@blueprint.get("/v1/models/<path:model_id>")
def get_model(model_id: str):
    """One model. :raise 404: not_found_error."""
    for key, record in served_items(PROVIDER):
        if key == model_id:
            return json_response(_shaped(record), headers=_headers())
    return error_response(404, "not_found", f"model: {model_id}")


def _event(kind: str, body: dict[str, Any]) -> bytes:
    return sse(json.dumps({"type": kind, **body}, separators=(",", ":")), event=kind)


def _message_events(plan: StreamPlan, model: str, state: Any) -> Iterator[bytes]:
    usage = {"input_tokens": plan.prompt_tokens, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
             "output_tokens": 1}
    yield _event("message_start", {"message": {"id": request_id("msg_"), "type": "message", "role": "assistant",
                                               "model": model, "content": [], "stop_reason": None,
                                               "stop_sequence": None, "usage": usage}})
    block = 0
    opened: str | None = None
    for piece in paced(plan, state):
        if piece.kind == "error":
            yield _event("error", {"error": {"type": "overloaded_error", "message": piece.text}})
            return
        if opened != piece.kind:
            if opened is not None:
                if opened == "thinking":
                    yield _event("content_block_delta", {"index": block, "delta": {
                        "type": "signature_delta", "signature": "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pk"}})
                yield _event("content_block_stop", {"index": block})
                block += 1
            start = {"type": "thinking", "thinking": ""} if piece.kind == "thinking" else {"type": "text", "text": ""}
            yield _event("content_block_start", {"index": block, "content_block": start})
            if block == 0:
                yield _event("ping", {})
            opened = piece.kind
        delta = ({"type": "thinking_delta", "thinking": piece.text} if piece.kind == "thinking"
                 else {"type": "text_delta", "text": piece.text})
        yield _event("content_block_delta", {"index": block, "delta": delta})
    if opened is not None:
        yield _event("content_block_stop", {"index": block})
    final: dict[str, Any] = {"delta": {"stop_reason": "max_tokens" if plan.capped else "end_turn",
                                       "stop_sequence": None}}
    if plan.usage:
        final["usage"] = {"output_tokens": plan.output_tokens}
    yield _event("message_delta", final)
    yield _event("message_stop", {})


@blueprint.post("/v1/messages")
def create_message():
    """A streamed message. :raise 400: no ``max_tokens`` or messages, or not streamed. :raise 404: unknown model."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list) or not body["messages"]:
        return error_response(400, "bad_request", "messages: Field required")
    model = body.get("model")
    if not isinstance(model, str) or not any(key == model for key, _ in served_items(PROVIDER)):
        return error_response(404, "not_found", f"model: {model}")
    cap = int_field(body, "max_tokens")
    if cap is None:
        return error_response(400, "bad_request", "max_tokens: Field required")
    thinking = body.get("thinking") if isinstance(body.get("thinking"), dict) else {}
    if thinking.get("type") == "enabled" and body.get("temperature") not in (None, 1, 1.0):
        return error_response(400, "bad_request", "`temperature` may only be set to 1 when thinking is enabled")
    if not body.get("stream"):
        return error_response(400, "bad_request", "this simulator serves streamed messages only (stream: true)")
    state = sim_state()
    plan = stream_plan(state, PROVIDER, cap, message_text(body["messages"]))
    return Response(_message_events(plan, model, state), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", **_headers()})


FORMAT = WireFormat(
    provider=PROVIDER, url_prefix="/anthropic", blueprint=blueprint, default_records=default_records,
    error_body=error_body, key_from=header_key("x-api-key"), check_request=check_request,
    default_page_size=5,
    rate_limit_headers={"anthropic-ratelimit-requests-limit": "50",
                        "anthropic-ratelimit-requests-remaining": "0"},
    overloaded_status=529,  # overloaded_error, as the real API answers an overload
    options={"base_fields_only": False},
)
