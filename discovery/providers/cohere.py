"""Cohere ``GET /v1/models``: pages by ``page_size``/``page_token`` (``next_page_token``).

The kind follows from ``endpoints`` (chat, embed, rerank, generate, ...); capabilities from
``features`` (``tools``, ``vision``, ``reasoning``, ``json_schema``, ...), which may be null: then
they stay unknown. A feature missing from a present list also stays unknown, since Cohere does not
promise the list is complete. ``is_deprecated`` gives the lifecycle status.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from discovery.draft import ModelDraft
from discovery.model import Model
from discovery.providers.base import ProviderClient, dedupe
from discovery.taxonomy import as_list, canonical_capability, guess_family, positive_int

MAX_PAGES = 1000
# Endpoint → kind, strongest first (a chat model usually also serves generate).
_ENDPOINT_KINDS = (
    ("chat", "chat"), ("embed", "embedding"), ("embed_image", "embedding"), ("rerank", "rerank"),
    ("generate", "completion"), ("summarize", "chat"), ("transcriptions", "audio"), ("classify", "other"),
)
# Features that name a capability. strict_tools is a mode of tool calling, not tool calling itself:
# only "tools" says a model calls tools.
_FEATURE_NAMES = {"json_mode": "json_mode", "json_schema": "structured_output", "tools": "tool_calling"}
_NOT_CAPABILITIES = {"strict_tools"}


def _kind(endpoints: list[str]) -> str | None:
    for endpoint, kind in _ENDPOINT_KINDS:
        if endpoint in endpoints:
            return kind
    return None


class CohereClient(ProviderClient):
    """Cohere's model list."""

    options = {**ProviderClient.options, "page_size": int}

    format = "cohere"
    default_base_url = "https://api.cohere.com/v1"
    default_api_key_env = "CO_API_KEY"
    catalog_name = "cohere"

    def fetch_models(self) -> list[Model]:
        """Every page, following ``next_page_token``."""
        size = int(self.config.options.get("page_size", 1000))
        params: dict[str, Any] = {"page_size": size}
        models: list[Model] = []
        followed: set[str] = set()
        for _ in range(MAX_PAGES):
            body = self.get_listing("/models", "models", params=params)
            models.extend(self.normalized_spans(self.normalize, body.items))
            token = body.get("next_page_token")
            if not token:
                return dedupe(models)
            params = {"page_size": size, "page_token": self.next_cursor(token, followed, "next_page_token")}
        self.expect(False, f"more than {MAX_PAGES} pages")
        return models

    def probe(self) -> None:
        """One model."""
        self.list_field(self.get_json("/models", params={"page_size": 1}), "models")

    def normalize(self, item: Mapping[str, Any]) -> Model:
        """One ``GetModelResponse`` → Model."""
        model_id = item.get("name")
        self.expect(isinstance(model_id, str) and model_id != "", "a model without a 'name'")
        draft = ModelDraft(self.name, model_id, self.name)
        endpoints = [e for e in as_list(item.get("endpoints")) if isinstance(e, str)]
        kind = _kind(endpoints)
        draft.set("kind", kind)
        draft.set("limits.context_window", positive_int(item.get("context_length")))
        if isinstance(item.get("is_deprecated"), bool):
            draft.set("lifecycle.status", "deprecated" if item["is_deprecated"] else "active")
        features = item.get("features")
        if isinstance(features, list):
            names = {f for f in features if isinstance(f, str)}
            for feature in sorted(names):
                if feature in _NOT_CAPABILITIES:
                    continue
                capability = _FEATURE_NAMES.get(feature) or canonical_capability(feature)
                if capability:
                    draft.set(f"capabilities.{capability}", True)
            if kind == "chat":
                draft.set("modalities.input", ["text", "image"] if "vision" in names else None)
        if "embed_image" in endpoints:
            draft.set("modalities.input", ["text", "image"])
        draft.guess("name", model_id)
        draft.guess("family", guess_family(model_id))
        attributes: dict[str, Any] = {}
        if endpoints:
            attributes["endpoints"] = sorted(endpoints)
        for key in ("default_endpoints", "tokenizer_url", "sampling_defaults", "finetuned"):
            if item.get(key) not in (None, [], {}):
                attributes[key] = item[key]
        if isinstance(features, list) and features:
            attributes["features"] = sorted(f for f in features if isinstance(f, str))
        return draft.build(attributes=attributes, raw=item)
