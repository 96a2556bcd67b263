"""OpenRouter ``GET /api/v1/models``: ``{"data": [...]}``, following ``links.next`` when present.

The richest live list: modalities, context length, pricing (USD per token as strings, turned into
USD per million), ``supported_parameters`` (a complete list: ``tools`` absent means no tool
calling), knowledge cutoff, and ``expiration_date`` (the model is deprecated and goes away then).
The provider model id is OpenRouter's slug (``openai/gpt-4o``). The key is optional.
"""
from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any
from urllib.parse import urljoin, urlsplit

from discovery.draft import HEURISTIC, ModelDraft
from discovery.model import Model
from discovery.providers.base import ProviderClient, dedupe
from discovery.taxonomy import (
    date_from_unix,
    guess_family,
    guess_kind,
    iso_date,
    kind_from_modalities,
    normalize_modalities,
    per_million,
    positive_int,
    usd,
)

MAX_PAGES = 1000
PRICING_KEYS = {"prompt": "input", "completion": "output", "input_cache_read": "cache_read",
                "input_cache_write": "cache_write"}
# supported_parameters entry → taxonomy capability.
PARAMETER_CAPABILITIES = {
    "tools": "tool_calling",
    "response_format": "json_mode",
    "structured_outputs": "structured_output",
    "reasoning": "reasoning",
}
_KEEP = ("canonical_slug", "hugging_face_id", "description", "default_parameters", "supported_voices")


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(url: str) -> tuple[str, str, int | None] | None:
    """A URL's origin as browsers compare them: the scheme and host in lower case, and the port
    (the scheme's own when none is written, so ``https://h`` and ``https://H:443`` are one); None
    for a URL whose port cannot be read."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        return None
    return scheme, (parts.hostname or "").rstrip("."), port if port is not None else _DEFAULT_PORTS.get(scheme)


class OpenRouterClient(ProviderClient):
    """OpenRouter's model list."""

    format = "openrouter"
    default_base_url = "https://openrouter.ai/api/v1"
    default_api_key_env = "OPENROUTER_API_KEY"
    requires_key = False
    catalog_name = "openrouter"
    # An expiration date passing retires the model: the same answer means another thing tomorrow.
    date_dependent = True

    def fetch_models(self) -> list[Model]:
        """Every page: the first, then ``links.next`` while the answer names one."""
        url = "/models"
        seen: set[str] = set()
        models: list[Model] = []
        for _ in range(MAX_PAGES):
            body = self.get_listing(url)
            models.extend(self.normalized_spans(self.normalize, body.items))
            links = body.get("links")
            links = links if isinstance(links, Mapping) else {}
            nxt = links.get("next")
            if not nxt or not isinstance(nxt, str):
                return dedupe(models)
            url = self._next_url(nxt)
            # The key goes with every request: a link to another origin is not followed, as a
            # redirect is not (it sent the Authorization header wherever the answer named).
            base = urlsplit(self.base_url)
            origin = _origin(url)
            self.expect(origin is not None and origin == _origin(self.base_url),
                        f"'links.next' points away from {base.scheme}://{base.netloc}; not followed")
            self.expect(url not in seen, "'links.next' repeats a page")
            seen.add(url)
        self.expect(False, f"more than {MAX_PAGES} pages")
        return models

    def _next_url(self, link: str) -> str:
        """An absolute URL as is; a host-relative one (``/api/v1/models?offset=``) on the base
        URL's host; anything else relative to the base URL, like the paths this client uses."""
        if link[:8].lower().startswith(("http://", "https://")):
            scheme, rest = link.split(":", 1)
            return scheme.lower() + ":" + rest
        base_path = urlsplit(self.base_url).path.rstrip("/")
        if base_path and link.startswith(base_path + "/"):
            return urljoin(self.base_url, link)
        return f"{self.base_url}/{link.lstrip('/')}"

    def probe(self) -> None:
        """The first page."""
        self.list_field(self.get_json("/models"))

    def normalize(self, item: Mapping[str, Any], today: str | None = None) -> Model:
        """One model entry → Model."""
        model_id = self.require_str(item)
        draft = ModelDraft(self.name, model_id, self.name)
        draft.set("name", item.get("name") or None)
        arch = item.get("architecture") if isinstance(item.get("architecture"), Mapping) else {}
        inputs = normalize_modalities(arch["input_modalities"]) if isinstance(arch.get("input_modalities"), list) else None
        outputs = normalize_modalities(arch["output_modalities"]) if isinstance(arch.get("output_modalities"), list) else None
        draft.set("modalities.input", inputs)
        draft.set("modalities.output", outputs)
        if inputs is not None:
            draft.set("capabilities.vision", "image" in inputs)
        draft.set("kind", kind_from_modalities(inputs, outputs))
        draft.set("limits.context_window", positive_int(item.get("context_length")))
        top = item.get("top_provider") if isinstance(item.get("top_provider"), Mapping) else {}
        draft.set("limits.max_output_tokens", positive_int(top.get("max_completion_tokens")))
        params = item.get("supported_parameters")
        if isinstance(params, list):
            names = {p for p in params if isinstance(p, str)}
            for param, capability in PARAMETER_CAPABILITIES.items():
                draft.set(f"capabilities.{capability}", param in names)
            if "include_reasoning" in names:
                draft.set("capabilities.reasoning", True)
            if "structured_outputs" in names:
                draft.set("capabilities.json_mode", True)
        pricing = item.get("pricing") if isinstance(item.get("pricing"), Mapping) else {}
        extra: dict[str, float] = {}
        for key, value in sorted(pricing.items()):
            if key in PRICING_KEYS:
                draft.set(f"pricing.{PRICING_KEYS[key]}", per_million(value))
            elif usd(value):
                extra[key] = usd(value)
        expiration = iso_date(item.get("expiration_date"))
        if expiration:
            # After its expiration date OpenRouter no longer routes the model: retired from then.
            today = today or datetime.datetime.now(datetime.UTC).date().isoformat()
            draft.set("lifecycle.status", "retired" if expiration <= today else "deprecated")
            draft.set("lifecycle.deprecation_date", expiration)
            draft.set("lifecycle.retirement_date", expiration)
        # created is when OpenRouter listed the model, not its release: a guess that a catalog's
        # release date overrides (kimi-k2.5 read 2024-01-01 beside models.dev's 2026-01).
        draft.set("lifecycle.release_date", date_from_unix(item.get("created")), HEURISTIC)
        draft.set("lifecycle.knowledge_cutoff", item.get("knowledge_cutoff") or None)
        if isinstance(item.get("hugging_face_id"), str) and item["hugging_face_id"]:
            draft.set("open_weights", True)
        draft.guess("kind", guess_kind(model_id))
        draft.guess("family", guess_family(model_id))
        attributes: dict[str, Any] = {k: item[k] for k in _KEEP if item.get(k) not in (None, "", [], {})}
        for key in ("tokenizer", "instruct_type"):
            if arch.get(key):
                attributes[key] = arch[key]
        if isinstance(top.get("is_moderated"), bool):
            attributes["is_moderated"] = top["is_moderated"]
        if isinstance(params, list):
            attributes["supported_parameters"] = sorted(p for p in params if isinstance(p, str))
        if extra:
            attributes["pricing_extra_per_unit"] = extra
        return draft.build(attributes=attributes, raw=item)
