"""Groq ``GET /openai/v1/models``: OpenAI's list shape plus Groq's own fields, unpaginated.

Two row shapes are accepted: the old one (``context_window``, ``max_completion_tokens``,
``active``, ``created``) and the newer one that adds ``name``, ``input_modalities``,
``output_modalities``, ``pricing`` (USD per token, as strings) and ``supported_features``, and
may leave out ``created``. ``active: false`` marks a model Groq no longer serves (``retired``).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from discovery.draft import ModelDraft
from discovery.model import Model
from discovery.providers.base import ProviderClient, dedupe
from discovery.taxonomy import (
    canonical_capability,
    date_from_unix,
    guess_family,
    guess_kind,
    kind_from_modalities,
    normalize_modalities,
    per_million,
    positive_int,
)

# Groq pricing key → taxonomy pricing field.
PRICING_KEYS = {"input": "input", "prompt": "input", "output": "output", "completion": "output",
                "cached_input": "cache_read", "input_cache_read": "cache_read"}


# The capabilities Groq's supported_features speaks of (tools, json_mode, reasoning): with the
# list present, one of these it does not name is false.
STATED_FEATURES = frozenset({"tool_calling", "json_mode", "reasoning"})


class GroqClient(ProviderClient):
    """Groq's model list."""

    format = "groq"
    default_base_url = "https://api.groq.com/openai/v1"
    default_api_key_env = "GROQ_API_KEY"
    catalog_name = "groq"


    def fetch_models(self) -> list[Model]:
        """The whole list (one page)."""
        return dedupe(self.normalized_spans(self.normalize, self.get_listing("/models").items))

    def probe(self) -> None:
        """The list itself: the API has no page size."""
        self.list_field(self.get_json("/models"))

    def normalize(self, item: Mapping[str, Any]) -> Model:
        """One row (old or new shape) → Model."""
        model_id = self.require_str(item)
        draft = ModelDraft(self.name, model_id, self.name)
        draft.set("name", item.get("name") or None)
        draft.set("limits.context_window", positive_int(item.get("context_window")))
        draft.set("limits.max_output_tokens", positive_int(item.get("max_completion_tokens")))
        draft.set("lifecycle.release_date", date_from_unix(item.get("created")))
        if isinstance(item.get("active"), bool):
            draft.set("lifecycle.status", "active" if item["active"] else "retired")
        inputs = normalize_modalities(item["input_modalities"]) if isinstance(item.get("input_modalities"), list) else None
        outputs = normalize_modalities(item["output_modalities"]) if isinstance(item.get("output_modalities"), list) else None
        draft.set("modalities.input", inputs)
        draft.set("modalities.output", outputs)
        if inputs is not None:
            draft.set("capabilities.vision", "image" in inputs)
        draft.set("kind", kind_from_modalities(inputs, outputs))
        features = item.get("supported_features")
        if isinstance(features, list):
            named = {c for f in features if isinstance(f, str) and (c := canonical_capability(f))}
            for capability in sorted(named):
                draft.set(f"capabilities.{capability}", True)
            # The list is Groq's word on the features it has words for: one it leaves out is not
            # there (a model that lost "tools" kept tool calling from the catalogs, unannounced).
            for capability in sorted(STATED_FEATURES - named):
                draft.set(f"capabilities.{capability}", False)
        pricing = item.get("pricing")
        extra_pricing: dict[str, Any] = {}
        # A zero token price on a model not billed by the token (speech, transcription) means "not
        # priced this way", not "free".
        token_billed = draft.get("kind") in (None, "chat", "completion", "embedding")
        if isinstance(pricing, Mapping):
            for key, value in sorted(pricing.items()):
                field = PRICING_KEYS.get(key)
                price = per_million(value) if field else None
                if field and draft.get(f"pricing.{field}") is None and (token_billed or price):
                    draft.set(f"pricing.{field}", price)
                elif not field and value not in (None, ""):
                    extra_pricing[key] = value
        draft.guess("kind", guess_kind(model_id))
        draft.guess("family", guess_family(model_id))
        attributes: dict[str, Any] = {k: item[k] for k in ("owned_by", "hugging_face_id", "public_apps")
                                      if item.get(k) not in (None, "", [])}
        if isinstance(features, list) and features:
            attributes["features"] = sorted(f for f in features if isinstance(f, str))
        if extra_pricing:
            attributes["pricing_extra"] = extra_pricing
        return draft.build(attributes=attributes, raw=item)
