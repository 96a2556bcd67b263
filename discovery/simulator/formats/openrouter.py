"""OpenRouter ``GET /api/v1/models``: ``{"data": [...]}``, paged only when asked.

Rows carry ``architecture`` modalities, ``pricing`` as strings in USD per token, ``top_provider``
limits, ``supported_parameters`` (tool support is ``"tools"`` in it) and, for models being
retired, ``expiration_date``. Without a page size knob or ``limit``/``offset`` the whole list is
one answer, as usual; otherwise pages carry ``total_count`` and ``links.next`` as in the 2026 SDK.
No embedding models are listed.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, request

from discovery.simulator.formats.openai_chat import add_chat_routes
from discovery.simulator.formats.wire import (
    WireFormat,
    error_response,
    json_response,
    served_items,
    served_records,
    sim_state,
)
from discovery.simulator.sources import modelsdev_models, unix_time

PROVIDER = "openrouter"
TOKENIZERS = {"gpt": "GPT", "claude": "Claude", "gemini": "Gemini", "gemma": "Gemini", "llama": "Llama3",
              "qwen": "Qwen3", "mistral": "Mistral", "deepseek": "DeepSeek", "grok": "Grok"}
MODERATED = ("openai/", "anthropic/")
# Models OpenRouter announced for retirement but models.dev no longer lists.
RETIRING = [
    {"id": "x-ai/grok-3-mini", "name": "xAI: Grok 3 Mini", "release_date": "2025-04-09",
     "limit": {"context": 131072, "output": 32768}, "cost": {"input": 0.3, "output": 0.5},
     "modalities": {"input": ["text"], "output": ["text"]}, "tool_call": True, "reasoning": True,
     "family": "grok", "expiration_date": "2026-07-15"},
    {"id": "mistralai/mistral-7b-instruct-v0.1", "name": "Mistral: Mistral 7B Instruct v0.1",
     "release_date": "2023-09-28", "limit": {"context": 2824, "output": 2824},
     "cost": {"input": 0.11, "output": 0.19}, "modalities": {"input": ["text"], "output": ["text"]},
     "tool_call": False, "family": "mistral", "open_weights": True, "expiration_date": "2026-03-31"},
]

blueprint = Blueprint(PROVIDER, __name__)


def per_token(per_million: Any) -> str:
    """USD per 1M tokens -> OpenRouter's string in USD per token (no exponent notation)."""
    value = float(per_million or 0) / 1e6
    return "0" if value == 0 else f"{value:.12f}".rstrip("0").rstrip(".")


def _modalities(names: list[str]) -> list[str]:
    return ["file" if m == "pdf" else m for m in names]


def openrouter_row(record: Mapping[str, Any]) -> dict[str, Any]:
    """One models.dev ``openrouter`` record -> an OpenRouter list row."""
    model_id = record["id"]
    modalities = record.get("modalities") or {}
    inputs = _modalities(modalities.get("input") or ["text"])
    outputs = _modalities(modalities.get("output") or ["text"])
    limit, cost = record.get("limit") or {}, record.get("cost") or {}
    family = (record.get("family") or "").split("-")[0]
    pricing = {"prompt": per_token(cost.get("input")), "completion": per_token(cost.get("output")),
               "request": "0", "image": "0", "web_search": "0", "internal_reasoning": "0"}
    if cost.get("cache_read"):
        pricing["input_cache_read"] = per_token(cost["cache_read"])
    if cost.get("cache_write"):
        pricing["input_cache_write"] = per_token(cost["cache_write"])
    params = ["max_tokens", "stop", "seed", "frequency_penalty", "presence_penalty"]
    if record.get("temperature", True):
        params += ["temperature", "top_p"]
    if record.get("tool_call"):
        params += ["tools", "tool_choice"]
    if record.get("reasoning"):
        params += ["reasoning", "include_reasoning"]
    if record.get("structured_output"):
        params += ["response_format", "structured_outputs"]
    row: dict[str, Any] = {
        "id": model_id, "canonical_slug": model_id,
        "hugging_face_id": model_id if record.get("open_weights") else "",
        "name": record.get("name") or model_id,
        "created": unix_time(record.get("release_date"), model_id),
        "description": f"{record.get('name') or model_id}, served through OpenRouter.",
        "context_length": limit.get("context"),
        "architecture": {"modality": f"{'+'.join(inputs)}->{'+'.join(outputs)}",
                         "input_modalities": inputs, "output_modalities": outputs,
                         "tokenizer": TOKENIZERS.get(family, "Other"), "instruct_type": None},
        "pricing": pricing,
        "top_provider": {"context_length": limit.get("context"), "max_completion_tokens": limit.get("output"),
                         "is_moderated": model_id.startswith(MODERATED)},
        "per_request_limits": None,
        "supported_parameters": sorted(params),
        "default_parameters": {"temperature": None, "top_p": None, "frequency_penalty": None},
        "links": {"details": f"/api/v1/models/{model_id}/endpoints"},
    }
    if record.get("knowledge"):
        row["knowledge_cutoff"] = record["knowledge"]
    if record.get("expiration_date") or record.get("status") == "deprecated":
        row["expiration_date"] = record.get("expiration_date") or "2026-09-30"
    return row


def default_records() -> list[dict[str, Any]]:
    """The default fixture: models.dev's newest ``openrouter`` models plus two being retired."""
    records = modelsdev_models("openrouter")
    known = {r["id"] for r in records}
    return [openrouter_row(r) for r in records + [r for r in RETIRING if r["id"] not in known]]


def _int_arg(name: str) -> int | None | str:
    value = request.args.get(name)
    if value in (None, ""):
        return None
    return int(value) if value.isdigit() else "bad"


@blueprint.get("/api/v1/models")
def list_models():
    """All models, or one page when paged. :raise 400: a bad ``offset`` or ``limit``."""
    offset, limit = _int_arg("offset"), _int_arg("limit")
    if offset == "bad" or limit == "bad" or limit == 0:
        return error_response(400, "bad_request", "offset and limit must be non-negative integers")
    knob = sim_state().page_size(PROVIDER)
    if offset is None and limit is None and knob is None:
        return json_response({"data": served_records(PROVIDER)})
    records = served_records(PROVIDER)
    start = offset or 0
    caps = [n for n in (limit, knob) if n]
    size = min(caps) if caps else max(1, len(records))
    page = records[start:start + size]
    following = None
    if start + size < len(records):
        args = {**request.args.to_dict(), "offset": start + size, "limit": size}
        following = f"{request.base_url}?{urlencode(args)}"
    return json_response({"data": page, "total_count": len(records), "links": {"next": following}})


@blueprint.get("/api/v1/models/<path:model_id>/endpoints")
def endpoints(model_id: str):
    """The providers serving one model. :raise 404: no such model."""
    for key, record in served_items(PROVIDER):
        if key == model_id:
            top = record.get("top_provider") or {}
            return json_response({"data": {
                "id": model_id, "name": record.get("name"), "created": record.get("created"),
                "architecture": record.get("architecture"),
                "endpoints": [{"name": "Primary", "context_length": top.get("context_length"),
                               "pricing": record.get("pricing"), "provider_name": model_id.split("/")[0],
                               "max_completion_tokens": top.get("max_completion_tokens"),
                               "supported_parameters": record.get("supported_parameters"),
                               "status": 0}]}})
    return error_response(404, "not_found", "Model not found")


add_chat_routes(blueprint, PROVIDER, "/api/v1", comments=True)

FORMAT = WireFormat(
    provider=PROVIDER, url_prefix="/openrouter", blueprint=blueprint, default_records=default_records,
    error_body=lambda status, kind, message: {"error": {"code": status, "message": message}},
    auth_failure=lambda key_missing: (401, "auth", "No auth credentials found" if key_missing
                                      else "User not found."),
)
