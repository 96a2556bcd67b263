"""Mistral ``GET /v1/models``: one unpaginated list of model cards.

Quirks reproduced: ``created`` is the time of the request on every card; every alias is also
listed as its own card whose ``name`` is the canonical id (and whose ``aliases`` include its
own id); capabilities are a dict of nine booleans; retiring models carry ``deprecation``.
The simulator's records are the canonical cards; alias cards are made at serve time, so removing
a model removes its aliases too.
"""
from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any

from flask import Blueprint

from discovery.simulator.formats.openai_chat import add_chat_routes
from discovery.simulator.formats.wire import WireFormat, json_response, served_records
from discovery.simulator.sources import modelsdev_models

PROVIDER = "mistral"
RETIREMENT = "2026-09-30T12:00:00Z"
FINE_TUNABLE = ("open-mistral-7b", "mistral-small", "codestral", "ministral", "mistral-large", "pixtral-12b")

blueprint = Blueprint(PROVIDER, __name__)


def _caps(chat: bool = True, fim: bool = False, tools: bool = False, fine_tuning: bool = False,
          vision: bool = False, ocr: bool = False, classification: bool = False,
          moderation: bool = False, audio: bool = False) -> dict[str, bool]:
    # Live answers carry these nine keys only (no reasoning, no audio_* keys).
    return {"completion_chat": chat, "completion_fim": fim, "function_calling": tools,
            "fine_tuning": fine_tuning, "vision": vision, "ocr": ocr,
            "classification": classification, "moderation": moderation, "audio": audio}


def card(model_id: str, description: str, context: int, capabilities: dict[str, bool],
         aliases: list[str] | None = None, deprecation: str | None = None,
         replacement: str | None = None, temperature: float | None = 0.3) -> dict[str, Any]:
    """A base model card (``created`` is filled in per request)."""
    return {"id": model_id, "object": "model", "created": 0, "owned_by": "mistralai",
            "capabilities": capabilities, "name": model_id, "description": description,
            "max_context_length": context, "aliases": aliases or [], "deprecation": deprecation,
            "deprecation_replacement_model": replacement, "default_model_temperature": temperature,
            "type": "base"}


def _alias_target(alias: str, by_id: Mapping[str, Mapping[str, Any]]) -> str | None:
    """The dated card an ``X-latest`` id points at: same prefix, same release day."""
    prefix = alias.removesuffix("-latest")
    day = by_id[alias].get("release_date")
    dated = sorted((i for i in by_id if re.fullmatch(rf"{re.escape(prefix)}-\d{{4}}", i)
                    and by_id[i].get("release_date") == day), reverse=True)
    return dated[0] if dated else None


def build_records(modelsdev_records: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """models.dev ``mistral`` records -> canonical cards with their aliases, plus real-only cards."""
    by_id = {r["id"]: r for r in modelsdev_records}
    aliases: dict[str, list[str]] = {}
    for model_id in by_id:
        if model_id.endswith("-latest") and (target := _alias_target(model_id, by_id)):
            aliases.setdefault(target, []).append(model_id)
    aliased = {a for group in aliases.values() for a in group}
    live = [r for r in modelsdev_records if r.get("status") != "deprecated" and r["id"] not in aliased]
    cards = []
    for r in modelsdev_records:
        model_id = r["id"]
        if model_id in aliased:
            continue
        inputs = (r.get("modalities") or {}).get("input") or []
        embed = "embed" in model_id
        deprecated = r.get("status") == "deprecated"
        replacement = None
        if deprecated:
            family = [x["id"] for x in live if x.get("family") == r.get("family")]
            replacement = family[-1] if family else None
        cards.append(card(
            model_id, r.get("name") or model_id, (r.get("limit") or {}).get("context") or 32768,
            _caps(chat=not embed, fim=model_id.startswith(("codestral", "devstral")),
                  tools=bool(r.get("tool_call")), vision="image" in inputs,
                  fine_tuning=model_id.startswith(FINE_TUNABLE)),
            aliases=aliases.get(model_id), deprecation=RETIREMENT if deprecated else None,
            replacement=replacement, temperature=None if embed else (0.7 if r.get("reasoning") else 0.3)))
    cards += [
        card("mistral-moderation-2411", "Mistral Moderation", 8192,
             _caps(chat=False, classification=True, moderation=True),
             aliases=["mistral-moderation-latest"], temperature=None),
        card("mistral-ocr-2505", "Mistral OCR", 32768, _caps(chat=False, ocr=True, vision=True),
             aliases=["mistral-ocr-latest"], temperature=None),
        {**card("ft:open-mistral-7b:5e1f0c2a:20250301:7a1b2c3d", "Fine-tuned Mistral 7B", 32768,
                _caps(tools=True)),
         "owned_by": "5e1f0c2a-6a7b-4c8d-9e0f-1a2b3c4d5e6f", "type": "fine-tuned",
         "job": "0b3f8e4a-1c2d-4e5f-8a9b-0c1d2e3f4a5b", "root": "open-mistral-7b", "archived": False},
    ]
    return cards


def default_records() -> list[dict[str, Any]]:
    """The default fixture, from models.dev's newest ``mistral`` provider."""
    return build_records(modelsdev_models("mistral"))


def error_body(status: int, kind: str, message: str) -> dict[str, Any]:
    """Mistral's error envelope."""
    types = {"auth": "invalid_api_key", "rate_limit": "rate_limited", "bad_request": "invalid_request_error",
             "not_found": "invalid_request_error", "forbidden": "permission_denied"}
    return {"object": "error", "message": message, "type": types.get(kind, "internal_error"),
            "param": None, "code": None}


def served_cards(records: list[Mapping[str, Any]], now: int) -> list[dict[str, Any]]:
    """Canonical cards, each followed by one card per alias; all stamped with ``now``."""
    out = []
    for record in records:
        out.append({**record, "created": now})
        group = [record["id"], *record.get("aliases", [])]
        for alias in record.get("aliases", []):
            # An alias card names its canonical model and lists the whole group, itself included.
            out.append({**record, "id": alias, "created": now, "name": record["id"], "aliases": group})
    return out


@blueprint.get("/v1/models")
def list_models():
    """Every card, aliases included: ``{"object": "list", "data": [...]}``."""
    return json_response({"object": "list", "data": served_cards(served_records(PROVIDER), int(time.time()))})


# Aliases (``mistral-large-latest``) are served as cards of their own, and answer chat too.
add_chat_routes(blueprint, PROVIDER, "/v1", known=lambda model: model in {
    card["id"] for card in served_cards(served_records(PROVIDER), 0)})

FORMAT = WireFormat(
    provider=PROVIDER, url_prefix="/mistral", blueprint=blueprint, default_records=default_records,
    error_body=error_body, auth_failure=lambda key_missing: (401, "auth", "Unauthorized"),
)
