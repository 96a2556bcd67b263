"""Mistral ``GET /v1/models``: one unpaginated ``{"object": "list", "data": [cards]}``.

Quirks handled here: every alias is also listed as its own card whose ``name`` is the canonical
id, so cards are grouped by canonical id and the aliases recorded in ``attributes["aliases"]`` of
the one model; ``aliases`` may include the card's own id; ``created`` is the time of the request,
so it is never kept (it would change every model's hash on every refresh).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from discovery.draft import ModelDraft
from discovery.model import Model
from discovery.providers.base import ProviderClient
from discovery.taxonomy import guess_family, guess_kind, iso_date, positive_int

# Mistral capability key → taxonomy capability.
CAPABILITY_MAP = {
    "function_calling": "tool_calling",
    "vision": "vision",
    "reasoning": "reasoning",
    "fine_tuning": "fine_tuning",
}
# Capability keys with no taxonomy place, kept as attributes["features"].
_FEATURES = ("completion_fim", "ocr", "classification", "moderation", "audio", "audio_transcription",
             "audio_transcription_realtime", "audio_speech")
_KEEP = ("owned_by", "type", "description", "deprecation_replacement_model", "default_model_temperature",
         "root", "job", "archived")


def _kind(caps: Mapping[str, Any], model_id: str) -> tuple[str | None, bool]:
    """(kind, stated): the kind the capabilities state, else an id guess."""
    if caps.get("completion_chat"):
        return "chat", True
    if caps.get("audio_transcription") or caps.get("audio_speech"):
        return "audio", True
    if caps.get("moderation") or caps.get("classification"):
        return "moderation", True
    if caps.get("ocr"):
        return "other", True
    if caps.get("completion_fim"):
        return "completion", True
    return guess_kind(model_id), False


def _aliases(card: Mapping[str, Any]) -> list[str]:
    """The card's ``aliases`` that are strings; none unless it is a list (a number or true there
    raised TypeError out of the refresh: not iterable)."""
    listed = card.get("aliases")
    return [a for a in listed if isinstance(a, str)] if isinstance(listed, list) else []


def canonical_cards(cards: Iterable[Mapping[str, Any]]) -> list[tuple[Mapping[str, Any], list[str]]]:
    """Group alias cards under their canonical card: [(card, sorted aliases)], in list order."""
    cards = list(cards)
    ids = {c.get("id") for c in cards}
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for card in cards:
        name = card.get("name")
        # An alias card names the canonical id; a card whose name is not a listed id stands alone.
        key = name if isinstance(name, str) and name in ids else card.get("id")
        groups.setdefault(key, []).append(card)
    out = []
    for key, members in groups.items():
        canonical = next((c for c in members if c.get("id") == key), members[0])
        aliases: set[str] = set()
        for c in members:
            aliases.add(c.get("id"))
            aliases.update(_aliases(c))
        aliases.discard(canonical.get("id"))
        aliases.discard(None)
        out.append((canonical, sorted(aliases)))
    return out


class MistralClient(ProviderClient):
    """Mistral's model list."""

    format = "mistral"
    default_base_url = "https://api.mistral.ai/v1"
    default_api_key_env = "MISTRAL_API_KEY"
    catalog_name = "mistral"
    # Every card's "created" is the time of the request, not of the model.
    volatile_fields = ("created",)

    def fetch_models(self) -> list[Model]:
        """The whole list (one page), alias cards folded into their canonical model."""
        return self.normalize_list(self.list_field(self.get_json("/models")))

    def probe(self) -> None:
        """The list itself: the API has no page size."""
        self.list_field(self.get_json("/models"))

    def normalize_list(self, cards: Iterable[Mapping[str, Any]]) -> list[Model]:
        """All cards → one Model per canonical id."""
        for card in cards:
            self.expect(isinstance(card.get("id"), str) and card["id"] != "", "a card without an 'id'")
        return [self.normalized(self.normalize, card, aliases) for card, aliases in canonical_cards(cards)]

    def normalize(self, card: Mapping[str, Any], aliases: list[str] | None = None) -> Model:
        """One model card → Model; ``aliases`` defaults to the card's own list (less its id)."""
        model_id = card.get("id")
        self.expect(isinstance(model_id, str) and model_id != "", "a card without an 'id'")
        if aliases is None:
            aliases = sorted(set(_aliases(card)) - {model_id})
        draft = ModelDraft(self.name, model_id, self.name)
        caps = card.get("capabilities") if isinstance(card.get("capabilities"), Mapping) else {}
        kind, stated = _kind(caps, model_id)
        draft.set("kind", kind, None if stated else "heuristic")
        for key, capability in CAPABILITY_MAP.items():
            if isinstance(caps.get(key), bool):
                draft.set(f"capabilities.{capability}", caps[key])
        if isinstance(caps.get("vision"), bool) and kind == "chat":
            # Mistral's "audio" capability is audio input (Voxtral listens; it does not speak).
            inputs = ["text"] + (["image"] if caps["vision"] else []) + (["audio"] if caps.get("audio") is True else [])
            draft.set("modalities.input", inputs)
            draft.set("modalities.output", ["text"])
        draft.set("limits.context_window", positive_int(card.get("max_context_length")))
        if "deprecation" in card:
            deprecation = iso_date(card.get("deprecation"))
            draft.set("lifecycle.deprecation_date", deprecation)
            draft.set("lifecycle.status", "deprecated" if deprecation else "active")
        replacement = card.get("deprecation_replacement_model")
        if isinstance(replacement, str) and replacement.strip():
            draft.set("lifecycle.successor", replacement.strip())
        draft.guess("name", model_id)
        draft.guess("family", guess_family(model_id))
        attributes: dict[str, Any] = {k: card[k] for k in _KEEP if card.get(k) not in (None, "", [])}
        features = sorted(k for k in _FEATURES if caps.get(k) is True)
        if features:
            attributes["features"] = features
        if aliases:
            attributes["aliases"] = aliases
        # The raw card without the per-request timestamp, so the stored answer is stable too.
        raw = {k: v for k, v in card.items() if k != "created"}
        return draft.build(attributes=attributes, raw=raw)
