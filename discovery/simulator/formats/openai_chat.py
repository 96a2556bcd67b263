"""OpenAI's ``POST /v1/chat/completions`` (streamed) and ``POST /v1/embeddings``, for every server that copies them.

The stream is ``data: {chunk}`` frames ending with ``data: [DONE]``: a role-only first delta at
once, text in ``choices[0].delta.content`` (thinking in ``delta.reasoning_content``), a chunk
with the ``finish_reason``, and, with ``stream_options.include_usage``, a last chunk with
``"choices": []`` and the ``usage``. A mid-stream error is ``data: {"error": {...}}`` under HTTP 200.
Variants: OpenRouter sends ``: OPENROUTER PROCESSING`` comments while it waits; Azure sends a
``prompt_filter_results`` chunk with no choices first. Reasoning models (``o1``, ``o3``,
``o4-…``, ``gpt-5…``) refuse ``max_tokens`` and any temperature but 1, as OpenAI does.
"""
from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

from flask import Blueprint, Response, request

from discovery.simulator.formats.streaming import (
    StreamPlan,
    int_field,
    message_text,
    paced,
    request_id,
    stream_plan,
)
from discovery.simulator.formats.wire import error_response, json_response, served_items, sim_state

REASONING_MODEL = re.compile(r"^(?:o\d|gpt-5)")
# Whether the provider serves a model id (default: a key of its records).
Known = Callable[[str], bool]


def served_id(provider: str) -> Known:
    """A Known that looks the id up among the provider's records."""
    return lambda model: any(key == model for key, _ in served_items(provider))


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _frames(plan: StreamPlan, model: str, include_usage: bool, comments: bool, content_filter: bool,
            state: Any) -> Iterator[bytes]:
    chunk_id, created = request_id("chatcmpl-"), int(time.time())

    def chunk(delta: dict[str, Any] | None, finish: str | None = None, **extra: Any) -> bytes:
        body: dict[str, Any] = {"id": chunk_id, "object": "chat.completion.chunk", "created": created,
                                "model": model, "system_fingerprint": "fp_sim"}
        body["choices"] = [] if delta is None else [{"index": 0, "delta": delta, "logprobs": None,
                                                     "finish_reason": finish}]
        if include_usage:
            body["usage"] = None
        body.update(extra)
        return f"data: {_dumps(body)}\n\n".encode()

    if content_filter:
        yield chunk(None, prompt_filter_results=[{"prompt_index": 0, "content_filter_results": {}}])
    if comments:
        yield b": OPENROUTER PROCESSING\n\n"
    yield chunk({"role": "assistant", "content": "", "refusal": None})
    for piece in paced(plan, state):
        if piece.kind == "error":
            error = {"error": {"message": piece.text, "type": "server_error", "code": "internal_error"}}
            yield f"data: {_dumps(error)}\n\n".encode()
            return
        yield chunk({"reasoning_content": piece.text} if piece.kind == "thinking" else {"content": piece.text})
    yield chunk({}, "length" if plan.capped else "stop")
    if include_usage and plan.usage:
        usage = {"prompt_tokens": plan.prompt_tokens, "completion_tokens": plan.output_tokens,
                 "total_tokens": plan.prompt_tokens + plan.output_tokens,
                 "prompt_tokens_details": {"cached_tokens": 0},
                 "completion_tokens_details": {"reasoning_tokens": plan.thinking_tokens}}
        body = {"id": chunk_id, "object": "chat.completion.chunk", "created": created, "model": model,
                "system_fingerprint": "fp_sim", "choices": [], "usage": usage}
        yield f"data: {_dumps(body)}\n\n".encode()
    yield b"data: [DONE]\n\n"


def _refusal(body: dict[str, Any], model: str) -> Response | None:
    """OpenAI's parameter checks that a probe must get right."""
    if not isinstance(body.get("messages"), list) or not body["messages"]:
        return error_response(400, "bad_request", "'messages' must be a non-empty array")
    if REASONING_MODEL.match(model):
        if "max_tokens" in body:
            return error_response(400, "bad_request", "Unsupported parameter: 'max_tokens' is not supported with "
                                                      "this model. Use 'max_completion_tokens' instead.")
        if body.get("temperature") not in (None, 1, 1.0):
            return error_response(400, "bad_request", "Unsupported value: 'temperature' does not support "
                                                      f"{body['temperature']} with this model. Only the default (1) "
                                                      "value is supported.")
    return None


def chat_completion(provider: str, model: str | None = None, *, comments: bool = False,
                    content_filter: bool = False, known: Known | None = None) -> Response:
    """Answer one chat completion request for ``provider`` (``model``: Azure's deployment)."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return error_response(400, "bad_request", "the request body must be a JSON object")
    model = model or body.get("model")
    if not isinstance(model, str) or not (known or served_id(provider))(model):
        return error_response(404, "not_found", f"The model '{model}' does not exist or you do not have access to it.")
    refused = _refusal(body, model)
    if refused is not None:
        return refused
    state = sim_state()
    cap = int_field(body, "max_completion_tokens") or int_field(body, "max_tokens")
    plan = stream_plan(state, provider, cap, message_text(body["messages"]))
    if not body.get("stream"):
        return _whole_answer(plan, model, state)
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    return Response(_frames(plan, model, include_usage, comments, content_filter, state),
                    mimetype="text/event-stream", headers={"Cache-Control": "no-cache"})


def _whole_answer(plan: StreamPlan, model: str, state: Any) -> Response:
    """``stream: false``: the whole answer once the last token is due."""
    text = "".join(p.text for p in paced(plan, state) if p.kind == "text")
    return json_response({"id": request_id("chatcmpl-"), "object": "chat.completion", "created": int(time.time()),
                          "model": model, "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                                       "finish_reason": "length" if plan.capped else "stop"}],
                          "usage": {"prompt_tokens": plan.prompt_tokens, "completion_tokens": plan.output_tokens,
                                    "total_tokens": plan.prompt_tokens + plan.output_tokens}})


def embeddings(provider: str, model: str | None = None, known: Known | None = None) -> Response:
    """``POST /embeddings``: one float vector per input after the provider's ``ttft``."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or body.get("input") in (None, "", []):
        return error_response(400, "bad_request", "'input' is required")
    model = model or body.get("model")
    if not isinstance(model, str) or not (known or served_id(provider))(model):
        return error_response(404, "not_found", f"The model '{model}' does not exist or you do not have access to it.")
    inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
    state = sim_state()
    state.wait(float(state.stream(provider)["ttft"]))
    tokens = sum(max(1, len(str(text)) // 4) for text in inputs)
    return json_response({"object": "list", "model": model, "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
                          "data": [{"object": "embedding", "index": i, "embedding": [0.0125, -0.031, 0.0042, 0.5]}
                                   for i in range(len(inputs))]})


def add_chat_routes(bp: Blueprint, provider: str, prefix: str, *, comments: bool = False,
                    known: Known | None = None) -> None:
    """Serve ``{prefix}/chat/completions`` and ``{prefix}/embeddings`` on ``bp`` for ``provider``."""
    bp.add_url_rule(f"{prefix}/chat/completions", "chat_completions",
                    lambda: chat_completion(provider, comments=comments, known=known), methods=["POST"])
    bp.add_url_rule(f"{prefix}/embeddings", "embeddings", lambda: embeddings(provider, known=known),
                    methods=["POST"])
