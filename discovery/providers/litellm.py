"""LiteLLM's model map (``model_prices_and_context_window.json``): a catalog, like models.dev.

One JSON object keyed by LiteLLM's model name. Each entry becomes a catalog model
(``live=False``) under this service's provider name and the provider's own model id:

Provider names (``litellm_provider``): ``together_ai`` → together, ``bedrock_converse`` →
bedrock, ``cohere_chat`` → cohere, ``text-completion-openai`` → openai, every
``vertex_ai-*`` → vertex_ai, ``*-embedding-models`` → the provider before the dash; a provider
models.dev also lists under another spelling → models.dev's (``fireworks_ai`` → fireworks-ai,
``novita`` → novita-ai, ``moonshot`` → moonshotai, ...: MODELSDEV_SPELLINGS); the rest keep
LiteLLM's name (openai, anthropic, gemini, mistral, azure, groq, deepseek, xai, ollama, ...).

Ids: the key, less leading segments that are not part of the provider's id: the provider's
LiteLLM prefix (``gemini/``, ``groq/``, ``bedrock/``, ``vertex_ai/``, ...), AWS regions
(``us-east-1/``), Azure deployment zones (``eu/``, ``global/``, ``global-standard/``), image
sizes (``1024-x-1024/``), step counts (``50-steps/``) and quality tiers (``hd/``, ``low/``). What
is left may still contain ``/`` when the provider's id does (``groq/openai/gpt-oss-120b`` →
``openai/gpt-oss-120b``). Skipped: ``sample_spec``, entries without a provider, provisioned
throughput prices (``1-month-commitment``), wildcards (``*``), LiteLLM's parameter-size price
buckets (``together-ai-4.1b-8b``), and search/guardrail/vector-store entries (not models). When
several keys clean to one id, the key with the fewest stripped qualifiers wins (then the
lexically first key), so ``anthropic.claude-v2:1`` beats ``bedrock/us-east-1/anthropic.claude-v2:1``.
"""
from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import msgspec

from discovery.draft import ModelDraft
from discovery.model import Model
from discovery.providers.base import ProviderClient, holds_object
from discovery.taxonomy import (
    guess_family,
    guess_kind,
    iso_date,
    normalize_modalities,
    per_million,
    positive_int,
)

# LiteLLM provider → this service's provider name (others keep LiteLLM's name).
PROVIDER_NAMES = {
    "together_ai": "together",
    "bedrock_converse": "bedrock",
    "cohere_chat": "cohere",
    "text-completion-openai": "openai",
    "text-completion-codestral": "codestral",
    "text-completion-inception": "inception",
    "azure_text": "azure",
}
# Providers both catalogs list under different spellings: models.dev's is kept, so that one model
# is one record (their ids overlap: 97 of novita's, 72 of Vercel's, every one of Cloudflare's in
# models.dev) rather than two under two provider names. Only a new spelling: unlike the names
# above, it is not a prefix that keys repeat (``vercel_ai_gateway/vercel/v0-1.0-md`` is Vercel's
# own model ``vercel/v0-1.0-md``).
MODELSDEV_SPELLINGS = {
    "fireworks_ai": "fireworks-ai",
    "novita": "novita-ai",
    "github_copilot": "github-copilot",
    "moonshot": "moonshotai",
    "opencode_go": "opencode-go",
    "friendliai": "friendli",
    "abliteration": "abliteration-ai",
    "vercel_ai_gateway": "vercel",
    "cloudflare": "cloudflare-workers-ai",
    "snowflake": "snowflake-cortex",
}
# LiteLLM mode → kind.
MODE_KINDS = {
    "chat": "chat", "responses": "chat", "completion": "completion", "embedding": "embedding",
    "image_generation": "image", "image_edit": "image", "video_generation": "video",
    "audio_transcription": "audio", "audio_speech": "audio", "realtime": "audio", "rerank": "rerank",
    "moderation": "moderation", "ocr": "other",
}
SKIPPED_MODES = {"search", "vector_store", "guardrail"}


class _Head(msgspec.Struct):
    """The two fields of a map entry that choose among entries (any JSON type; checked after)."""

    litellm_provider: Any = None
    mode: Any = None


_HEAD = msgspec.json.Decoder(_Head)
# supports_* flag → taxonomy capability.
CAPABILITY_FLAGS = {
    "supports_function_calling": "tool_calling",
    "supports_parallel_function_calling": "parallel_tool_calls",
    "supports_vision": "vision",
    "supports_response_schema": "structured_output",
    "supports_reasoning": "reasoning",
    "supports_prompt_caching": "prompt_caching",
    "supports_system_messages": "system_messages",
    "supports_native_streaming": "streaming",
}
PRICE_KEYS = {
    "input_cost_per_token": "input", "output_cost_per_token": "output",
    "cache_read_input_token_cost": "cache_read", "cache_creation_input_token_cost": "cache_write",
}
# Per-unit prices kept as attributes (images, seconds, characters, queries), in LiteLLM's units.
_UNIT_PRICE = re.compile(r"^(?:input|output)_cost_per_(?:image|second|character|query|request|pixel)$|"
                         r"^(?:input|output)_cost_per_(?:audio|image|video)_token$")
_REGION = re.compile(r"^[a-z]{2}(?:-gov)?-[a-z]+-\d+$")
_QUALIFIER = re.compile(r"^(?:\d+-x-\d+|max-x-max|\d+-steps|max-steps|low|medium|high|standard|hd)$")
_AZURE_ZONES = {"eu", "us", "global", "global-standard", "data-zone", "datazone"}
# A key with a segment that is "*" or a commitment term ("1-month-commitment") is skipped: one
# search of the whole key, rather than a match per segment (a newline may end a commitment
# segment, as "$" allowed when each segment was matched on its own).
_SKIPPED_SEGMENT = re.compile(r"(?:^|/)(?:\*|\d+-month-commitment\n?)(?=/|\Z)")
_PRICE_BUCKET = re.compile(r"^(?:together-ai|fireworks-ai)-")


@functools.lru_cache(maxsize=1024)
def provider_name(litellm_provider: str) -> str:
    """This service's name for a ``litellm_provider`` value (a map has about a hundred distinct
    ones, each asked for at every entry; hence the cache)."""
    if litellm_provider in PROVIDER_NAMES:
        return PROVIDER_NAMES[litellm_provider]
    if litellm_provider in MODELSDEV_SPELLINGS:
        return MODELSDEV_SPELLINGS[litellm_provider]
    if litellm_provider.startswith("vertex_ai"):
        return "vertex_ai"
    if litellm_provider.endswith("-models") and "-" in litellm_provider:
        return provider_name(litellm_provider.split("-", 1)[0])
    return litellm_provider


@functools.lru_cache(maxsize=1024)
def _prefixes(litellm_provider: str) -> tuple[str, frozenset[str]]:
    """(this service's name, the leading key segments that only repeat the provider) for a
    ``litellm_provider`` value."""
    mapped = provider_name(litellm_provider)
    prefixes = {litellm_provider, mapped, litellm_provider.split("-", 1)[0], "bedrock" if mapped == "bedrock" else ""}
    prefixes.discard("")
    if litellm_provider in MODELSDEV_SPELLINGS:
        prefixes.discard(mapped)
    return mapped, frozenset(prefixes)


def clean_id(key: str, litellm_provider: str) -> tuple[str, int] | None:
    """(provider's model id, number of stripped qualifiers) for a map key; None to skip the entry."""
    if _SKIPPED_SEGMENT.search(key):
        return None
    if "/" not in key:  # nothing to strip
        return (key, 0) if key else None
    segments = key.split("/")
    mapped, prefixes = _prefixes(litellm_provider)
    qualifiers = 0
    while len(segments) > 1:
        head = segments[0]
        if head in prefixes:
            pass
        elif _QUALIFIER.match(head) or _REGION.match(head) or (mapped == "azure" and head in _AZURE_ZONES):
            qualifiers += 1
        else:
            break
        segments = segments[1:]
    model_id = "/".join(segments)
    return (model_id, qualifiers) if model_id else None


class LiteLLMClient(ProviderClient):
    """LiteLLM's model map. Options: ``path`` (the document's path under the base URL),
    ``providers`` (service provider names to keep; default all)."""

    options = {**ProviderClient.options, "path": str, "providers": list}

    format = "litellm"
    default_base_url = "https://raw.githubusercontent.com/BerriAI/litellm/main"
    default_api_key_env = None
    requires_key = False
    is_catalog = True
    path = "/model_prices_and_context_window.json"
    # Whether a deprecation date has passed depends on the day: entries are normalized again daily.
    date_dependent = True

    def fetch_models(self) -> list[Model]:
        """The whole map (one document), read as each entry's raw span: only the two fields that
        choose among entries are decoded from each, and an entry is parsed and normalized only
        when its span (with its key) is new (see normalized_span)."""
        body, status = self.request_body("GET", str(self.config.options.get("path") or self.path))
        entries = self.decode_spans(body, status, "the model map must be an object keyed by model name")
        heads = []
        for key, span in entries.items():
            if holds_object(span):  # anything else is not an entry (as in the parsed map)
                head = _HEAD.decode(span)
                heads.append((key, head.litellm_provider, head.mode, span))
        build = self._builder(datetime.now(UTC).date().isoformat())
        chosen = list(self._choose(heads).values())
        return self.normalized_spans(build, [span for _, _, _, span in chosen],
                                     [(provider, model_id, rank[1]) for rank, provider, model_id, _ in chosen])

    def probe(self) -> None:
        """The document itself: there is nothing smaller."""
        self.fetch_models()

    def normalize(self, body: Any, today: str | None = None) -> list[Model]:
        """The whole map → Models (catalog entries), in key order of the chosen entries.

        ``today`` (``YYYY-MM-DD``, default the current UTC date) decides whether a
        ``deprecation_date`` has passed.
        """
        self.expect(isinstance(body, Mapping), "the model map must be an object keyed by model name")
        today = today or datetime.now(UTC).date().isoformat()
        heads = [(key, entry.get("litellm_provider"), entry.get("mode"), entry)
                 for key, entry in body.items() if isinstance(entry, Mapping)]
        build = self._builder(today)
        return [self.normalized(build, entry, provider, model_id, rank[1])
                for rank, provider, model_id, entry in self._choose(heads).values()]

    def _builder(self, today: str) -> Any:
        """``build(entry, provider, model_id, key)`` → the entry's Model, for a day's normalizing."""
        def build(entry: Mapping[str, Any], provider: str, model_id: str, key: str) -> Model:
            return self.normalize_entry(provider, model_id, entry, key=key, today=today)
        return build

    def _choose(self, heads: list[tuple[str, Any, Any, Any]]) -> dict[str, tuple[tuple[int, str], str, str, Any]]:
        """Of the map's entries, given as (key, litellm_provider, mode, payload), the one kept for
        each model (the fewest qualifiers stripped from its key, then the first key in order), by
        canonical id, in the order they were first seen: (rank, provider, model id, payload)."""
        wanted = self.config.options.get("providers")
        chosen: dict[str, tuple[tuple[int, str], str, str, Any]] = {}
        for key, litellm_provider, mode, payload in heads:
            if key == "sample_spec" or _PRICE_BUCKET.match(key):
                continue
            if not isinstance(litellm_provider, str) or (isinstance(mode, str) and mode in SKIPPED_MODES):
                continue
            cleaned = clean_id(key, litellm_provider)
            if cleaned is None:
                continue
            provider = provider_name(litellm_provider)
            if wanted and provider not in wanted:
                continue
            model_id, qualifiers = cleaned
            canonical = f"{provider}/{model_id}"
            rank = (qualifiers, key)
            if canonical not in chosen or rank < chosen[canonical][0]:
                chosen[canonical] = (rank, provider, model_id, payload)
        return chosen

    def normalize_entry(self, provider: str, model_id: str, entry: Mapping[str, Any], *,
                        key: str | None = None, today: str | None = None) -> Model:
        """One map entry → Model, given the provider name and cleaned id."""
        draft = ModelDraft(provider, model_id, self.name)
        kind = MODE_KINDS.get(str(entry.get("mode")))
        draft.set("kind", kind)
        max_input = positive_int(entry.get("max_input_tokens"))
        draft.set("limits.context_window", max_input)
        draft.set("limits.max_input_tokens", max_input)
        draft.set("limits.max_output_tokens", positive_int(entry.get("max_output_tokens")))
        for price_key, field in PRICE_KEYS.items():
            draft.set(f"pricing.{field}", per_million(entry.get(price_key)))
        for flag, capability in CAPABILITY_FLAGS.items():
            if isinstance(entry.get(flag), bool):
                draft.set(f"capabilities.{capability}", entry[flag])
        if draft.get("capabilities.tool_calling") is None and isinstance(entry.get("supports_tool_choice"), bool):
            draft.set("capabilities.tool_calling", entry["supports_tool_choice"])
        self._modalities(draft, entry, kind)
        deprecation = iso_date(entry.get("deprecation_date"))
        draft.set("lifecycle.deprecation_date", deprecation)
        if deprecation and deprecation <= (today or datetime.now(UTC).date().isoformat()):
            draft.set("lifecycle.status", "deprecated")
        regions = entry.get("supported_regions")
        if isinstance(regions, list) and regions:
            draft.set("regions", sorted({r for r in regions if isinstance(r, str)}))
        draft.guess("kind", guess_kind(model_id))
        draft.guess("family", guess_family(model_id))
        attributes: dict[str, Any] = {"litellm_key": key or model_id, "litellm_provider": entry.get("litellm_provider")}
        features = sorted(k[len("supports_"):] for k, v in entry.items()
                          if k.startswith("supports_") and k not in CAPABILITY_FLAGS and v is True)
        if features:
            attributes["features"] = features
        unit_prices = {k: v for k, v in entry.items() if _UNIT_PRICE.match(k) and isinstance(v, (int, float))}
        if unit_prices:
            attributes["unit_prices"] = dict(sorted(unit_prices.items()))
        for name in ("output_vector_size", "source"):
            if entry.get(name) not in (None, ""):
                attributes[name] = entry[name]
        return draft.build(attributes=attributes, raw=entry, live=False)

    @staticmethod
    def _modalities(draft: ModelDraft, entry: Mapping[str, Any], kind: str | None) -> None:
        inputs = entry.get("supported_modalities")
        outputs = entry.get("supported_output_modalities")
        if isinstance(inputs, list):
            draft.set("modalities.input", normalize_modalities(inputs))
            if isinstance(outputs, list):
                draft.set("modalities.output", normalize_modalities(outputs))
            return
        mode = entry.get("mode")
        if mode in ("audio_speech", "audio_transcription"):
            # What goes in and what comes out is the mode itself: text to speech, speech to text
            # (a gateway's export tells the two apart by them).
            speech = mode == "audio_speech"
            draft.set("modalities.input", ["text"] if speech else ["audio"])
            draft.set("modalities.output", ["audio"] if speech else ["text"])
            return
        if kind == "chat" and isinstance(entry.get("supports_vision"), bool):
            # Derived from the input flags LiteLLM states for chat models.
            extra = [("image", "supports_vision"), ("pdf", "supports_pdf_input"), ("audio", "supports_audio_input"),
                     ("video", "supports_video_input")]
            draft.set("modalities.input", ["text"] + [m for m, flag in extra if entry.get(flag) is True])
