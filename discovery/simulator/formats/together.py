"""Together ``GET /v1/models``: a bare JSON array (not ``{"data": [...]}``).

Rows carry ``type`` (chat, embedding, image, rerank, moderation, ...), ``display_name``,
``organization``, ``context_length`` and ``pricing`` as floats in USD per 1M tokens (0 = free),
plus undocumented extras (``running``, ``config``) that clients should ignore.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Blueprint

from discovery.simulator.formats.openai_chat import add_chat_routes
from discovery.simulator.formats.wire import WireFormat, json_response, served_records
from discovery.simulator.sources import modelsdev_models, unix_time

PROVIDER = "together"

INVALID_KEY = "Invalid API key provided. You can find your API key at https://api.together.xyz/settings/api-keys."

blueprint = Blueprint(PROVIDER, __name__)

# (id, type, display name, organization, context, input price, output price): kinds models.dev
# does not list for Together.
EXTRA_MODELS = [
    ("BAAI/bge-large-en-v1.5", "embedding", "BAAI-Bge-Large-1p5", "BAAI", 512, 0.02, 0.0),
    ("intfloat/multilingual-e5-large-instruct", "embedding", "Multilingual E5 Large Instruct", "Intfloat",
     514, 0.02, 0.0),
    ("black-forest-labs/FLUX.1-schnell", "image", "FLUX.1 Schnell", "Black Forest Labs", 0, 0.0, 0.0),
    ("Salesforce/Llama-Rank-V1", "rerank", "Salesforce Llama Rank V1 (8B)", "Salesforce", 8192, 0.1, 0.1),
    ("meta-llama/Llama-Guard-4-12B", "moderation", "Llama Guard 4 12B", "Meta", 1048576, 0.2, 0.2),
    ("openai/whisper-large-v3", "transcribe", "Whisper large-v3", "OpenAI", 0, 0.0, 0.0),
]


def together_row(model_id: str, kind: str, display: str, organization: str, context: int,
                 price_in: float, price_out: float, created: int, license_name: str = "") -> dict[str, Any]:
    """One Together list row."""
    return {"id": model_id, "object": "model", "created": created, "type": kind, "running": False,
            "display_name": display, "organization": organization,
            "link": f"https://huggingface.co/{model_id}", "license": license_name,
            "context_length": context,
            "config": {"chat_template": None, "stop": ["<|eot_id|>"] if kind == "chat" else [],
                       "bos_token": None, "eos_token": None},
            "pricing": {"hourly": 0, "input": price_in, "output": price_out, "base": 0, "finetune": 0}}


def _row(record: Mapping[str, Any]) -> dict[str, Any]:
    model_id = record["id"]
    cost = record.get("cost") or {}
    org = model_id.split("/")[0]
    return together_row(model_id, "chat", record.get("name") or model_id, org,
                        (record.get("limit") or {}).get("context") or 8192,
                        float(cost.get("input") or 0), float(cost.get("output") or 0),
                        unix_time(record.get("release_date"), model_id),
                        "apache-2.0" if record.get("open_weights") else "")


def default_records() -> list[dict[str, Any]]:
    """The default fixture: models.dev's newest ``togetherai`` models plus other kinds of model."""
    rows = [_row(r) for r in modelsdev_models("togetherai")]
    created = unix_time("2024-07-01", "together-extras")
    return rows + [together_row(*spec, created=created) for spec in EXTRA_MODELS]


@blueprint.get("/v1/models")
def list_models():
    """Every model, as a bare array."""
    return json_response(served_records(PROVIDER))


add_chat_routes(blueprint, PROVIDER, "/v1")

FORMAT = WireFormat(
    provider=PROVIDER, url_prefix="/together", blueprint=blueprint, default_records=default_records,
    auth_failure=lambda key_missing: (401, "auth", INVALID_KEY),
)
