"""Ollama ``GET /api/tags``, ``POST /api/show`` and ``GET /api/version``.

A record holds everything the server knows about one model; ``/api/tags`` and ``/api/show``
each serve their own projection of it, so one ``update_model`` changes both answers. The option
``tags_capabilities`` (default True) makes ``/api/tags`` carry ``capabilities`` and
``details.context_length`` / ``embedding_length`` as servers do since v0.30; set it False to
simulate an older server whose clients must call ``/api/show`` per model.

The fixture is a local server with a few pulled models (an embedding model, a vision model, a
legacy Llama 2) plus models.dev's ``ollama-cloud`` models as cloud entries (``remote_host``),
named with ollama.com's ids so the catalogs can enrich them.

``POST /api/chat`` streams NDJSON (one object a line, no blank lines) unless ``stream`` is false:
``message.content`` (``message.thinking`` while a thinking model thinks), then a last line with
``done: true``, ``done_reason`` and the server's own counts and timings in nanoseconds
(``prompt_eval_count``, ``eval_count``, ``eval_duration``, ``load_duration``...). A failure
mid-way is the line ``{"error": "..."}`` under HTTP 200. ``POST /api/embed`` answers ``embeddings``.
"""
from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Iterator, Mapping
from typing import Any

from flask import Blueprint, Response, request

from discovery.simulator.formats.streaming import StreamPlan, int_field, message_text, paced, stream_plan
from discovery.simulator.formats.wire import (
    WireFormat,
    error_response,
    id_field,
    json_response,
    served_items,
    sim_state,
)
from discovery.simulator.sources import modelsdev_models

PROVIDER = "ollama"
TAGS_FIELDS = ("name", "model", "remote_model", "remote_host", "modified_at", "size", "digest", "details",
               "capabilities")
SHOW_FIELDS = ("license", "modelfile", "parameters", "template", "details", "model_info", "capabilities",
               "remote_model", "remote_host", "modified_at")
# Fields /api/tags gained in v0.30.
NEW_DETAIL_FIELDS = ("context_length", "embedding_length")

blueprint = Blueprint(PROVIDER, __name__)

# (name, architecture, families, parameters in billions, quantization, context, embedding size,
#  capabilities, modified day): models a developer typically has pulled.
LOCAL_MODELS = [
    ("llama3.2:3b", "llama", ["llama"], 3.2, "Q4_K_M", 131072, 3072, ["completion", "tools"], "2025-03-02"),
    ("qwen3:8b", "qwen3", ["qwen3"], 8.2, "Q4_K_M", 40960, 4096, ["completion", "tools", "thinking"], "2025-06-11"),
    ("gemma3:4b", "gemma3", ["gemma3"], 4.3, "Q4_K_M", 131072, 2560, ["completion", "vision"], "2025-04-20"),
    ("llava:7b", "llama", ["llama", "clip"], 7.0, "Q4_0", 32768, 4096, ["completion", "vision"], "2024-11-05"),
    ("deepseek-r1:8b", "qwen3", ["qwen3"], 8.2, "Q4_K_M", 131072, 4096, ["completion", "thinking"], "2025-06-01"),
    ("qwen2.5-coder:7b", "qwen2", ["qwen2"], 7.6, "Q4_K_M", 32768, 3584, ["completion", "tools", "insert"], "2025-01-14"),
    ("nomic-embed-text:latest", "nomic-bert", ["nomic-bert"], 0.137, "F16", 2048, 768, ["embedding"], "2024-08-30"),
    ("mxbai-embed-large:latest", "bert", ["bert"], 0.334, "F16", 512, 1024, ["embedding"], "2024-09-12"),
    ("llama2:7b", "llama", ["llama"], 6.7, "Q4_0", 4096, 4096, ["completion"], "2023-12-01"),
]


def _digest(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def _modified_at(day: str, name: str) -> str:
    # Ollama writes local time with nanoseconds and the UTC offset.
    seed = int(_digest(name)[:8], 16)
    return f"{day}T{seed % 24:02d}:{seed % 60:02d}:{seed % 59:02d}.{seed % 10**9:09d}-07:00"


def _param_size(billions: float) -> str:
    return f"{billions * 1000:.0f}M" if billions < 1 else f"{billions:.1f}B"


def local_record(name: str, arch: str, families: list[str], billions: float, quant: str, context: int,
                 embedding: int, capabilities: list[str], day: str) -> dict[str, Any]:
    """One pulled model, as the server knows it."""
    bits = 16 if quant == "F16" else 4.5
    return {
        "name": name, "model": name, "modified_at": _modified_at(day, name),
        "size": int(billions * 1e9 * bits / 8), "digest": _digest(name),
        "details": {"parent_model": "", "format": "gguf", "family": arch, "families": families,
                    "parameter_size": _param_size(billions), "quantization_level": quant,
                    "context_length": context, "embedding_length": embedding},
        "capabilities": capabilities,
        "license": "See the model's license.", "modelfile": f"FROM {name}\n", "parameters": "",
        "template": "{{ .Prompt }}",
        "model_info": {"general.architecture": arch, "general.parameter_count": int(billions * 1e9),
                       f"{arch}.context_length": context, f"{arch}.embedding_length": embedding},
    }


def cloud_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """A models.dev ``ollama-cloud`` model as a cloud entry on a local server."""
    name = record["id"]
    inputs = (record.get("modalities") or {}).get("input") or []
    caps = ["completion"]
    caps += ["tools"] if record.get("tool_call") else []
    caps += ["thinking"] if record.get("reasoning") else []
    caps += ["vision"] if "image" in inputs else []
    arch = re.sub(r"[^a-z0-9]", "", (record.get("family") or name.split(":")[0]).split("-")[0])
    tag = name.split(":")[1] if ":" in name else ""
    size = re.match(r"^(\d+(?:\.\d+)?)([bt])$", tag)
    context = (record.get("limit") or {}).get("context") or 131072
    details: dict[str, Any] = {"parent_model": "", "format": "", "family": arch, "families": None,
                               "parameter_size": size.group(0).upper() if size else "",
                               "quantization_level": "", "context_length": context}
    return {
        "name": name, "model": name, "remote_model": name, "remote_host": "https://ollama.com:443",
        "modified_at": _modified_at(record.get("release_date") or "2025-09-01", name),
        # A cloud entry is only a manifest; its files stay on ollama.com.
        "size": 384, "digest": _digest("cloud:" + name), "details": details, "capabilities": caps,
        "license": "", "modelfile": "", "parameters": "", "template": "{{ .Prompt }}",
        "model_info": {"general.architecture": arch, f"{arch}.context_length": context},
    }


def default_records() -> list[dict[str, Any]]:
    """The default fixture: local pulls, then models.dev's ``ollama-cloud`` models."""
    rows = [local_record(*spec) for spec in LOCAL_MODELS]
    return rows + [cloud_record(r) for r in modelsdev_models("ollama-cloud")]


def tags_row(record: Mapping[str, Any], with_capabilities: bool) -> dict[str, Any]:
    """The ``/api/tags`` projection of a record (without v0.30 fields on an old server)."""
    row = {key: record[key] for key in TAGS_FIELDS if key in record}
    if not with_capabilities:
        row.pop("capabilities", None)
        row["details"] = {k: v for k, v in (row.get("details") or {}).items() if k not in NEW_DETAIL_FIELDS}
    return row


def show_body(record: Mapping[str, Any]) -> dict[str, Any]:
    """The ``/api/show`` projection of a record."""
    body = {key: record[key] for key in SHOW_FIELDS if key in record}
    body["details"] = {k: v for k, v in (record.get("details") or {}).items() if k not in NEW_DETAIL_FIELDS}
    return body


@blueprint.get("/api/tags")
def tags():
    """Every installed model: ``{"models": [...]}``."""
    with_caps = bool(sim_state().option(PROVIDER, "tags_capabilities"))
    return json_response({"models": [tags_row(r, with_caps) for _, r in served_items(PROVIDER)]})


@blueprint.post("/api/show")
def show():
    """One model's details. :raise 400: no model named. :raise 404: ``model 'x' not found``."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return error_response(400, "bad_request", "invalid request body")
    name = body.get("model") or body.get("name")
    if not isinstance(name, str) or not name:
        return error_response(400, "bad_request", "model is required")
    wanted = name if ":" in name else f"{name}:latest"
    for key, record in served_items(PROVIDER):
        if key in (name, wanted):
            return json_response(show_body(record))
    return error_response(404, "not_found", f"model '{name}' not found")


@blueprint.get("/api/version")
def version():
    """The server version, which says whether /api/tags carries capabilities."""
    new = bool(sim_state().option(PROVIDER, "tags_capabilities"))
    return json_response({"version": "0.30.2" if new else "0.12.6"})


def _installed(name: Any) -> str | None:
    """The installed model a request names (``llama2`` means ``llama2:latest``), or None."""
    if not isinstance(name, str) or not name:
        return None
    wanted = name if ":" in name else f"{name}:latest"
    return next((key for key, _ in served_items(PROVIDER) if key in (name, wanted)), None)


def _line(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode() + b"\n"


def _chat_lines(plan: StreamPlan, model: str, state: Any) -> Iterator[bytes]:
    first_at: float | None = None
    for piece in paced(plan, state):
        if piece.kind == "error":
            yield _line({"error": piece.text})
            return
        first_at = first_at if first_at is not None else time.monotonic()
        message = {"role": "assistant", "content": "" if piece.kind == "thinking" else piece.text}
        if piece.kind == "thinking":
            message["thinking"] = piece.text
        yield _line({"model": model, "created_at": rfc3339_now(), "message": message, "done": False})
    ended = time.monotonic()
    final: dict[str, Any] = {"model": model, "created_at": rfc3339_now(),
                             "message": {"role": "assistant", "content": ""}, "done": True,
                             "done_reason": "length" if plan.capped else "stop",
                             "total_duration": int((ended - plan.started) * 1e9), "load_duration": 1_200_000}
    if plan.usage:
        final.update(prompt_eval_count=plan.prompt_tokens, prompt_eval_duration=int(plan.ttft * 1e9),
                     eval_count=plan.output_tokens, eval_duration=int((ended - (first_at or ended)) * 1e9))
    yield _line(final)


def rfc3339_now() -> str:
    """The current time as Ollama writes it."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + ".000000Z"


@blueprint.post("/api/chat")
def chat():
    """A chat answer, streamed as NDJSON by default. :raise 400: no messages. :raise 404: model not pulled."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
        return error_response(400, "bad_request", "invalid request body")
    model = _installed(body.get("model"))
    if model is None:
        return error_response(404, "not_found", f"model '{body.get('model')}' not found, try pulling it first")
    state = sim_state()
    plan = stream_plan(state, PROVIDER, int_field(body, "options", "num_predict"), message_text(body["messages"]))
    if body.get("stream") is False:
        lines = list(_chat_lines(plan, model, state))
        text = "".join(json.loads(line).get("message", {}).get("content", "") for line in lines[:-1])
        final = json.loads(lines[-1])
        if "error" in final:
            return error_response(500, "server", final["error"])
        final["message"]["content"] = text
        return json_response(final)
    return Response(_chat_lines(plan, model, state), mimetype="application/x-ndjson")


@blueprint.post("/api/embed")
def embed():
    """Embeddings of ``input``. :raise 400: no input. :raise 404: model not pulled."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or body.get("input") in (None, "", []):
        return error_response(400, "bad_request", "input is required")
    model = _installed(body.get("model"))
    if model is None:
        return error_response(404, "not_found", f"model '{body.get('model')}' not found, try pulling it first")
    inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
    state = sim_state()
    started = time.monotonic()
    state.wait(float(state.stream(PROVIDER)["ttft"]))
    return json_response({"model": model, "embeddings": [[0.0125, -0.031, 0.0042, 0.5] for _ in inputs],
                          "total_duration": int((time.monotonic() - started) * 1e9), "load_duration": 1_000_000,
                          "prompt_eval_count": sum(max(1, len(str(t)) // 4) for t in inputs)})


FORMAT = WireFormat(
    provider=PROVIDER, url_prefix="/ollama", blueprint=blueprint, default_records=default_records,
    record_id=id_field("name"), error_body=lambda status, kind, message: {"error": message},
    auth_failure=lambda key_missing: (401, "auth", "unauthorized"),
    options={"tags_capabilities": True},
)
