"""Anthropic ``GET /v1/models``: cursor pages (``limit``, ``after_id``; ``has_more``, ``last_id``).

Every listed model is a Messages (chat) model. Since 2026 the list states token limits and a
``capabilities`` object (image and PDF input, batch, structured outputs, thinking, ...); older
answers carry only ``id``, ``display_name`` and ``created_at``, and then those fields stay unknown.
Tool use is never advertised, and the list has no deprecation field.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from discovery.draft import ModelDraft
from discovery.model import Model
from discovery.providers.base import ProviderClient, dedupe
from discovery.taxonomy import guess_family, iso_date, positive_int

ANTHROPIC_VERSION = "2023-06-01"
MAX_PAGES = 1000
# Capabilities with no taxonomy place, kept as a sorted list of names in attributes["features"].
_FEATURES = ("citations", "code_execution", "context_management", "effort", "server_tools")


def _supported(capabilities: Mapping[str, Any], key: str) -> bool | None:
    entry = capabilities.get(key)
    if isinstance(entry, Mapping) and isinstance(entry.get("supported"), bool):
        return entry["supported"]
    return None


def _supported_keys(entry: Mapping[str, Any]) -> list[str]:
    """Names of the sub-options marked supported (``{"low": {"supported": true}}`` or ``{"low": true}``)."""
    return sorted(k for k, v in entry.items() if k != "supported" and
                  (v is True or (isinstance(v, Mapping) and v.get("supported") is True)))


class AnthropicClient(ProviderClient):
    """Anthropic's model list."""

    options = {**ProviderClient.options, "page_size": int}

    format = "anthropic"
    default_base_url = "https://api.anthropic.com/v1"
    default_api_key_env = "ANTHROPIC_API_KEY"
    catalog_name = "anthropic"

    def auth_headers(self) -> dict[str, str]:
        """``x-api-key`` and the API version every request must carry."""
        return {"x-api-key": self.api_key() or "", "anthropic-version": ANTHROPIC_VERSION}

    def fetch_models(self) -> list[Model]:
        """Every page, following ``after_id=last_id`` while ``has_more``."""
        limit = int(self.config.options.get("page_size", 1000))
        params: dict[str, Any] = {"limit": limit}
        models: list[Model] = []
        followed: set[str] = set()
        for _ in range(MAX_PAGES):
            body = self.get_listing("/models", params=params)
            models.extend(self.normalized_spans(self.normalize, body.items))
            if not body.get("has_more"):
                return dedupe(models)
            params = {"limit": limit, "after_id": self.next_cursor(body.get("last_id"), followed, "last_id")}
        self.expect(False, f"more than {MAX_PAGES} pages")
        return models

    def probe(self) -> None:
        """One model."""
        self.list_field(self.get_json("/models", params={"limit": 1}))

    def normalize(self, item: Mapping[str, Any]) -> Model:
        """One ``ModelInfo`` → Model."""
        model_id = self.require_str(item)
        draft = ModelDraft(self.name, model_id, self.name)
        draft.set("name", item.get("display_name") or None)
        draft.set("kind", "chat")
        created = iso_date(item.get("created_at"))
        # "may be an epoch value if unknown"
        draft.set("lifecycle.release_date", created if created and created > "1970-01-01" else None)
        max_input = positive_int(item.get("max_input_tokens"))
        draft.set("limits.max_input_tokens", max_input)
        draft.set("limits.context_window", max_input)
        draft.set("limits.max_output_tokens", positive_int(item.get("max_tokens")))
        attributes: dict[str, Any] = {}
        caps = item.get("capabilities")
        if isinstance(caps, Mapping):
            vision = _supported(caps, "image_input")
            pdf = _supported(caps, "pdf_input")
            draft.set("capabilities.vision", vision)
            draft.set("capabilities.batch", _supported(caps, "batch"))
            draft.set("capabilities.structured_output", _supported(caps, "structured_outputs"))
            draft.set("capabilities.reasoning", _supported(caps, "thinking"))
            if vision is not None:
                inputs = ["text"] + (["image"] if vision else []) + (["pdf"] if pdf else [])
                draft.set("modalities.input", inputs)
                draft.set("modalities.output", ["text"])
            features = sorted(k for k in _FEATURES if _supported(caps, k))
            if features:
                attributes["features"] = features
            effort = caps.get("effort")
            if isinstance(effort, Mapping) and effort.get("supported"):
                attributes["effort_levels"] = _supported_keys(effort)
            thinking = caps.get("thinking")
            types = thinking.get("types") if isinstance(thinking, Mapping) else None
            if isinstance(types, Mapping):
                attributes["thinking_types"] = _supported_keys(types)
        draft.guess("family", guess_family(model_id))
        return draft.build(attributes=attributes, raw=item)
