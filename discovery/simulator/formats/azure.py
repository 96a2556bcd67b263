"""Azure OpenAI ``GET /openai/models?api-version=...``: the models a resource can deploy.

Rows carry ``capabilities`` (what the resource can do with the model), ``lifecycle_status`` and
``deprecation`` dates in unix seconds, some already past. Quirks reproduced: ``api-version`` is
required (400 without it), an id can appear twice (``text-embedding-ada-002``), and models appear
under both versioned and base ids (``dall-e-3-3.0`` and ``dall-e-3``). The duplicate row is kept
in the state under the key ``text-embedding-ada-002#2`` (its hidden ``_sim_key``).
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Request

from discovery.simulator.formats.openai_chat import chat_completion, embeddings
from discovery.simulator.formats.wire import (
    WireFormat,
    error_response,
    header_key,
    json_response,
    served_records,
)
from discovery.simulator.sources import modelsdev_models, unix_time

PROVIDER = "azure"
HIDDEN_KEY = "_sim_key"
OPENAI_PREFIXES = ("gpt-", "o1", "o3", "o4", "text-embedding", "codex", "dall-e", "whisper")
ACCESS_DENIED = ("Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide "
                 "a valid key for an active subscription and use a correct regional API endpoint for your "
                 "resource.")
# Versioned ids Azure lists next to the base ids models.dev knows.
VERSIONED = {"gpt-4o": ["gpt-4o-2024-05-13", "gpt-4o-2024-08-06"], "gpt-4": ["gpt-4-0613"],
             "gpt-4o-mini": ["gpt-4o-mini-2024-07-18"]}
# Retired for inference before the fixture's date (unix seconds in the past).
RETIRED = {"gpt-3.5-turbo-0301", "gpt-3.5-turbo-0613", "gpt-4-32k", "gpt-4-turbo-vision", "o1-mini"}

blueprint = Blueprint(PROVIDER, __name__)


def _unix(day: str) -> int:
    return int(datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC).timestamp())


def azure_row(model_id: str, created: int, *, chat: bool = True, embeddings: bool = False,
              fine_tune: bool = False, preview: bool = False, retire: str = "2027-06-30") -> dict[str, Any]:
    """One Azure model row."""
    deprecation: dict[str, int] = {"inference": _unix(retire)}
    if fine_tune:
        deprecation["fine_tune"] = _unix(retire)
    return {"status": "succeeded",
            "capabilities": {"fine_tune": fine_tune, "inference": True, "completion": chat and not embeddings,
                             "chat_completion": chat and not embeddings, "embeddings": embeddings},
            "lifecycle_status": "preview" if preview else "generally-available",
            "deprecation": deprecation, "id": model_id, "created_at": created, "object": "model"}


def build_records(modelsdev_records: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """models.dev ``azure`` OpenAI models -> Azure rows, with versioned ids and the duplicate."""
    rows = []
    for r in modelsdev_records:
        model_id = r["id"]
        if not model_id.startswith(OPENAI_PREFIXES):
            continue  # Foundry models (Claude, Llama, ...) are not in the Azure OpenAI list
        outputs = (r.get("modalities") or {}).get("output") or []
        created = unix_time(r.get("release_date"), model_id)
        kwargs: dict[str, Any] = {
            "chat": "image" not in outputs or "text" in outputs, "embeddings": "embedding" in model_id,
            "fine_tune": model_id in ("gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "gpt-3.5-turbo-0125"),
            "preview": r.get("status") in ("alpha", "beta") or model_id.startswith("gpt-5.5"),
        }
        if model_id in RETIRED:
            kwargs["retire"] = "2025-04-30"
        rows.append(azure_row(model_id, created, **kwargs))
        for versioned in VERSIONED.get(model_id, []):
            rows.append(azure_row(versioned, created, **kwargs))
    created = _unix("2023-10-02")
    rows.append(azure_row("dall-e-3-3.0", created, chat=False))
    rows.append(azure_row("dall-e-3", created, chat=False))
    rows.append(azure_row("whisper-001", _unix("2023-09-15"), chat=False))
    # The real list repeats this id; the second row differs in what the resource can do.
    duplicate = azure_row("text-embedding-ada-002", _unix("2023-02-02"), chat=False, embeddings=True,
                          fine_tune=True, retire="2026-04-30")
    rows.append({**duplicate, HIDDEN_KEY: "text-embedding-ada-002#2"})
    return rows


def default_records() -> list[dict[str, Any]]:
    """The default fixture, from models.dev's newest ``azure`` provider."""
    return build_records(modelsdev_models("azure"))


def record_id(record: Mapping[str, Any]) -> str:
    """The row's id, or its hidden key when it repeats another row's id."""
    key = record.get(HIDDEN_KEY) or record.get("id")
    if not isinstance(key, str) or not key:
        raise ValueError("an Azure record needs a non-empty string 'id'")
    return key


def error_body(status: int, kind: str, message: str) -> dict[str, Any]:
    """Azure's error envelope; its ``code`` is a string."""
    codes = {"bad_request": "BadRequest", "not_found": "404", "rate_limit": "429",
             "server": "InternalServerError", "unavailable": "ServiceUnavailable"}
    return {"error": {"code": codes.get(kind, str(status)), "message": message}}


def check_request(req: Request) -> tuple[int, str, str] | None:
    """Every Azure OpenAI call names an api-version."""
    if not req.args.get("api-version"):
        return 400, "bad_request", ("Missing required query parameter 'api-version'. Please provide a "
                                    "supported API version, for example '2024-10-21'.")
    return None


@blueprint.get("/openai/models")
def list_models():
    """``{"data": [...], "object": "list"}``. :raise 400: no api-version."""
    rows = [{k: v for k, v in r.items() if k != HIDDEN_KEY} for r in served_records(PROVIDER)]
    return json_response({"data": rows, "object": "list"})


@blueprint.get("/openai/models/<path:model_id>")
def get_model(model_id: str):
    """One row by id (the first, when the id repeats). :raise 404: no such model."""
    for record in served_records(PROVIDER):
        if record.get("id") == model_id:
            return json_response({k: v for k, v in record.items() if k != HIDDEN_KEY})
    return error_response(404, "not_found", "The model was not found.")


def _deployed(model: str) -> bool:
    # Deployments are named after the models they serve here.
    return any(record.get("id") == model for record in served_records(PROVIDER))


@blueprint.post("/openai/deployments/<deployment>/chat/completions")
def chat_completions(deployment: str):
    """A deployment's streamed chat completion (a content-filter chunk first). :raise 404: no such deployment."""
    return chat_completion(PROVIDER, deployment, content_filter=True, known=_deployed)


@blueprint.post("/openai/deployments/<deployment>/embeddings")
def deployment_embeddings(deployment: str):
    """A deployment's embeddings. :raise 404: no such deployment."""
    return embeddings(PROVIDER, deployment, known=_deployed)


FORMAT = WireFormat(
    provider=PROVIDER, url_prefix="/azure", blueprint=blueprint, default_records=default_records,
    record_id=record_id, error_body=error_body, key_from=header_key("api-key"),
    check_request=check_request, auth_failure=lambda key_missing: (401, "auth", ACCESS_DENIED),
)
