"""Cohere ``GET /v1/models``: ``page_size`` / ``page_token`` pages with ``next_page_token``.

Rows: ``name``, ``endpoints``, ``finetuned``, ``context_length``, ``tokenizer_url``,
``default_endpoints``, ``features`` (null for some models), ``is_deprecated`` and
``sampling_defaults``. The ``endpoint`` and ``default_only`` filters work as documented.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Blueprint, request

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


FORMAT = WireFormat(
    provider=PROVIDER, url_prefix="/cohere", blueprint=blueprint, default_records=default_records,
    record_id=id_field("name"), error_body=lambda status, kind, message: {"id": "5f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b",
                                                                         "message": message},
    auth_failure=lambda key_missing: (401, "auth", "no api key supplied" if key_missing else "invalid api token"),
    default_page_size=7,
)
