"""Groq ``GET /openai/v1/models``: OpenAI's list shape with Groq's extra fields.

Every row has ``active``, ``context_window``, ``public_apps`` and ``max_completion_tokens``. Newer
rows (as Groq has been rolling out) also carry ``name``, modalities, ``pricing`` as strings in USD
per token and ``supported_features``, and leave out ``created``: clients must accept both.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from discovery.simulator.formats.openai import list_blueprint
from discovery.simulator.formats.openrouter import per_token
from discovery.simulator.formats.wire import WireFormat
from discovery.simulator.sources import modelsdev_models, unix_time

PROVIDER = "groq"
OWNERS = {"meta-llama": "Meta", "openai": "OpenAI", "qwen": "Alibaba Cloud", "groq": "Groq",
          "canopylabs": "Canopy Labs", "llama": "Meta", "whisper": "OpenAI"}
# Rows Groq serves in the newer, richer shape.
NEW_SHAPE_FROM = "2025-08-01"

# A model Groq still lists but has switched off.
LEGACY = {"id": "gemma2-9b-it", "release_date": "2024-06-27", "limit": {"context": 8192, "output": 8192},
          "tool_call": True, "modalities": {"input": ["text"], "output": ["text"]}, "active": False}


def _owner(model_id: str) -> str:
    head = model_id.split("/")[0] if "/" in model_id else model_id.split("-")[0]
    return OWNERS.get(head, "Google" if head.startswith("gemma") else "Groq")


def groq_row(record: Mapping[str, Any]) -> dict[str, Any]:
    """One models.dev ``groq`` record -> a Groq list row (old or new shape by release)."""
    model_id = record["id"]
    limit = record.get("limit") or {}
    row: dict[str, Any] = {"id": model_id, "object": "model",
                           "created": unix_time(record.get("release_date"), model_id),
                           "owned_by": _owner(model_id), "active": record.get("active", True),
                           "context_window": limit.get("context") or 448,
                           "public_apps": None, "max_completion_tokens": limit.get("output") or 448}
    if (record.get("release_date") or "") >= NEW_SHAPE_FROM:
        del row["created"]
        modalities = record.get("modalities") or {}
        cost = record.get("cost") or {}
        features = [name for name, present in (("tools", record.get("tool_call")),
                                               ("json_mode", record.get("tool_call")),
                                               ("reasoning", record.get("reasoning"))) if present]
        row.update({"name": record.get("name") or model_id,
                    "input_modalities": modalities.get("input") or ["text"],
                    "output_modalities": modalities.get("output") or ["text"],
                    "pricing": {"input": per_token(cost.get("input")), "output": per_token(cost.get("output"))},
                    "supported_features": features})
    return row


def default_records() -> list[dict[str, Any]]:
    """The default fixture, from models.dev's newest ``groq`` provider plus a switched-off model."""
    return [groq_row(r) for r in [*modelsdev_models("groq"), LEGACY]]


FORMAT = WireFormat(
    provider=PROVIDER, url_prefix="/groq", blueprint=list_blueprint(PROVIDER, "/openai/v1/models"),
    default_records=default_records,
    auth_failure=lambda key_missing: (401, "auth", "Invalid API Key"),
    rate_limit_headers={"x-ratelimit-limit-requests": "14400", "x-ratelimit-remaining-requests": "0",
                        "x-ratelimit-reset-requests": "6s"},
)
