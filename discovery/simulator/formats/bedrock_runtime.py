"""Bedrock Runtime in each simulated region: ``ConverseStream`` and ``InvokeModel`` for embeddings.

``POST /model/{modelId}/converse-stream`` answers in the AWS event-stream framing
(:mod:`discovery.simulator.eventstream`), so unmodified boto3 parses it: ``messageStart``,
``contentBlockDelta`` events (``delta.text``, or ``delta.reasoningContent.text`` in a reasoning
block first), ``contentBlockStop``, ``messageStop`` with the stop reason and ``metadata`` with
``usage`` and ``metrics.latencyMs``; every event carries AWS's ``p`` padding field. A failure
mid-way is a ``modelStreamErrorException`` frame. As on AWS, a model reachable in the region only
through an inference profile refuses its bare model id (call the profile id), and an unknown id
is a ``ResourceNotFoundException`` before the stream starts.

``POST /model/{modelId}/invoke`` answers an embedding model's ``{"inputText"}`` with ``embedding``
and ``inputTextTokenCount`` (also in ``X-Amzn-Bedrock-Input-Token-Count``).
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from flask import Response, request

from discovery.simulator import eventstream
from discovery.simulator.formats.streaming import StreamPlan, int_field, message_text, paced, stream_plan
from discovery.simulator.formats.wire import error_response, json_response, served_items, sim_state

PADDING = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def _record(provider: str, model_id: str) -> dict[str, Any] | None:
    for key, record in served_items(provider):
        if key == model_id:
            return record
    return None


def _unusable(provider: str, model_id: str) -> Response | dict[str, Any]:
    """The record the id names here, or the error AWS answers for it."""
    record = _record(provider, model_id)
    if record is None:
        return error_response(404, "not_found", "The provided model identifier is invalid.")
    if "modelId" in record and "ON_DEMAND" not in (record.get("inferenceTypesSupported") or ()):
        return error_response(400, "bad_request", f"Invocation of model ID {model_id} with on-demand throughput "
                                                  "isn't supported. Retry your request with the ID or ARN of an "
                                                  "inference profile that contains this model.")
    return record


def _padded(payload: dict[str, Any], n: int) -> dict[str, Any]:
    return {**payload, "p": PADDING[: 1 + n % len(PADDING)]}


def _events(plan: StreamPlan, state: Any) -> Iterator[bytes]:
    yield eventstream.event("messageStart", _padded({"role": "assistant"}, 0))
    block, opened = 0, None
    for piece in paced(plan, state):
        if piece.kind == "error":
            yield eventstream.exception("modelStreamErrorException", piece.text)
            return
        if opened != piece.kind and opened is not None:
            yield eventstream.event("contentBlockStop", _padded({"contentBlockIndex": block}, block))
            block += 1
        opened = piece.kind
        delta = {"reasoningContent": {"text": piece.text}} if piece.kind == "thinking" else {"text": piece.text}
        yield eventstream.event("contentBlockDelta", _padded({"contentBlockIndex": block, "delta": delta}, piece.index))
    if opened is not None:
        yield eventstream.event("contentBlockStop", _padded({"contentBlockIndex": block}, block))
    yield eventstream.event("messageStop", _padded({"stopReason": "max_tokens" if plan.capped else "end_turn"}, 1))
    metadata: dict[str, Any] = {"metrics": {"latencyMs": int((time.monotonic() - plan.started) * 1000)}}
    if plan.usage:
        metadata["usage"] = {"inputTokens": plan.prompt_tokens, "outputTokens": plan.output_tokens,
                             "totalTokens": plan.prompt_tokens + plan.output_tokens}
    yield eventstream.event("metadata", _padded(metadata, 2))


def converse_stream(model_id: str) -> Response:
    """``ConverseStream``. :raise 400: no messages, a profile-only model called by id. :raise 404: unknown id."""
    provider = request.blueprint or ""
    found = _unusable(provider, model_id)
    if isinstance(found, Response):
        return found
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list) or not body["messages"]:
        return error_response(400, "bad_request", "1 validation error detected: Value at 'messages' failed to "
                                                  "satisfy constraint: Member must not be null")
    state = sim_state()
    plan = stream_plan(state, provider, int_field(body, "inferenceConfig", "maxTokens"), message_text(body["messages"]))
    return Response(_events(plan, state), mimetype="application/vnd.amazon.eventstream",
                    headers={"x-amzn-RequestId": "5f0e3a91-2b7c-4d8e-9f10-a1b2c3d4e5f6"})


def invoke(model_id: str) -> Response:
    """``InvokeModel`` for an embedding model. :raise 400: not an embedding model, or no inputText."""
    provider = request.blueprint or ""
    found = _unusable(provider, model_id)
    if isinstance(found, Response):
        return found
    if "EMBEDDING" not in (found.get("outputModalities") or ()):
        return error_response(400, "bad_request", "this simulator serves InvokeModel for embedding models only")
    body = request.get_json(silent=True)
    text = body.get("inputText") if isinstance(body, dict) else None
    if not isinstance(text, str) or not text:
        return error_response(400, "bad_request", "Malformed input request: required key [inputText] not found")
    state = sim_state()
    state.wait(float(state.stream(provider)["ttft"]))
    tokens = max(1, len(text) // 4)
    resp = json_response({"embedding": [0.0125, -0.031, 0.0042, 0.5], "inputTextTokenCount": tokens})
    resp.headers["X-Amzn-Bedrock-Input-Token-Count"] = str(tokens)
    return resp

