"""OpenAI ``GET /v1/models`` (and ``/v1/models/{id}``), plus an OpenAI-compatible server (vLLM).

One unpaginated ``{"object": "list", "data": [...]}`` of ``{id, object, created, owned_by}``;
nothing about capabilities. The fixture is models.dev's ``openai`` provider plus the rows a real
account also sees (a fine-tune owned by an organization, the old ``openai-internal`` embedding).
"""
from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from flask import Blueprint

from discovery.simulator.formats.openai_chat import add_chat_routes
from discovery.simulator.formats.wire import (
    WireFormat,
    error_response,
    json_response,
    served_items,
    served_records,
)
from discovery.simulator.sources import modelsdev_models, unix_time


def owned_by(model_id: str, release_date: str | None) -> str:
    """Who OpenAI says owns a model: old public models "openai", newer ones "system"."""
    if model_id == "text-embedding-ada-002":
        return "openai-internal"
    if (release_date or "9999") < "2023-11-01" or model_id.startswith("gpt-3.5"):
        return "openai"
    return "system"


def openai_record(model_id: str, created: int, owner: str) -> dict[str, Any]:
    """One OpenAI list row."""
    return {"id": model_id, "object": "model", "created": created, "owned_by": owner}


def build_openai_records(modelsdev_records: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """models.dev ``openai`` records -> OpenAI list rows, plus a fine-tune and an audio model."""
    rows = [openai_record(r["id"], unix_time(r.get("release_date"), r["id"]),
                          owned_by(r["id"], r.get("release_date")))
            for r in modelsdev_records]
    ids = {row["id"] for row in rows}
    # Rows models.dev does not list but a real key sees: a fine-tune and speech/moderation models.
    extras = [
        ("ft:gpt-4o-mini-2024-07-18:acme-corp::B7xQd2Lp", "2025-02-11", "org-acmecorp"),
        ("whisper-1", "2023-02-27", "openai-internal"),
        ("tts-1", "2023-11-03", "openai-internal"),
        ("omni-moderation-latest", "2024-09-26", "system"),
        ("babbage-002", "2023-08-21", "system"),
    ]
    rows += [openai_record(mid, unix_time(day, mid), owner) for mid, day, owner in extras if mid not in ids]
    return rows


def default_openai_records() -> list[dict[str, Any]]:
    """The default fixture: models.dev's newest ``openai`` models as OpenAI serves them."""
    return build_openai_records(modelsdev_models("openai"))


def default_compatible_records() -> list[dict[str, Any]]:
    """A vLLM-style server hosting a few open-weight models (ids from models.dev's Together list)."""
    open_weights = [r for r in modelsdev_models("togetherai") if r.get("open_weights")][:6]
    rows = []
    for r in open_weights:
        row = openai_record(r["id"], unix_time(r.get("release_date"), r["id"]), "vllm")
        # vLLM adds these beyond OpenAI's four fields.
        row.update({"root": r["id"], "parent": None,
                    "max_model_len": (r.get("limit") or {}).get("context") or 32768,
                    "permission": [{"id": f"modelperm-{uuid.uuid5(uuid.NAMESPACE_URL, r['id']).hex}",
                                    "object": "model_permission", "allow_sampling": True,
                                    "allow_view": True, "is_blocking": False}]})
        rows.append(row)
    return rows


def openai_headers() -> dict[str, str]:
    """Headers OpenAI sends on every answer."""
    return {"x-request-id": f"req_{uuid.uuid4().hex}", "openai-version": "2020-10-01",
            "openai-processing-ms": "23"}


def list_blueprint(provider: str, path: str) -> Blueprint:
    """A blueprint serving an OpenAI-style list (and single-model lookup) at ``path``, and chat beside it."""
    bp = Blueprint(provider, __name__)
    add_chat_routes(bp, provider, path.removesuffix("/models"))

    @bp.get(path)
    def list_models():
        """The whole list: ``{"object": "list", "data": [...]}``."""
        return json_response({"object": "list", "data": served_records(provider)},
                             headers=openai_headers())

    @bp.get(f"{path}/<path:model_id>")
    def get_model(model_id: str):
        """One model's row. :raise 404: no such model (OpenAI's error body)."""
        for key, record in served_items(provider):
            if key == model_id:
                return json_response(record, headers=openai_headers())
        return error_response(404, "not_found",
                              f"The model '{model_id}' does not exist or you do not have access to it.")

    return bp


FORMAT = WireFormat(
    provider="openai", url_prefix="/openai", blueprint=list_blueprint("openai", "/v1/models"),
    default_records=default_openai_records,
    rate_limit_headers={"x-ratelimit-limit-requests": "500", "x-ratelimit-remaining-requests": "0"},
)
COMPATIBLE_FORMAT = WireFormat(
    provider="openai_compatible", url_prefix="/vllm",
    blueprint=list_blueprint("openai_compatible", "/v1/models"),
    default_records=default_compatible_records,
)
