"""The capability taxonomy's vocabulary: names, aliases, and what an id alone suggests."""
from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from discovery.model import CAPABILITIES, KINDS, MODALITIES, STATUSES

# Names other tools use for our capabilities (LiteLLM's supports_* flags, provider words).
CAPABILITY_ALIASES: dict[str, str] = {
    "function_calling": "tool_calling",
    "functions": "tool_calling",
    "tools": "tool_calling",
    "tool_call": "tool_calling",
    "tool_use": "tool_calling",
    "supports_function_calling": "tool_calling",
    "supports_tool_choice": "tool_calling",
    "parallel_function_calling": "parallel_tool_calls",
    "supports_parallel_function_calling": "parallel_tool_calls",
    "parallel_tool_calling": "parallel_tool_calls",
    "supports_vision": "vision",
    "image_input": "vision",
    "multimodal": "vision",
    "supports_response_schema": "structured_output",
    "response_schema": "structured_output",
    "structured_outputs": "structured_output",
    "json_schema": "structured_output",
    "supports_json_mode": "json_mode",
    "response_format": "json_mode",
    "json": "json_mode",
    "supports_reasoning": "reasoning",
    "thinking": "reasoning",
    "supports_prompt_caching": "prompt_caching",
    "caching": "prompt_caching",
    "cache": "prompt_caching",
    "supports_system_messages": "system_messages",
    "system_message": "system_messages",
    "supports_native_streaming": "streaming",
    "stream": "streaming",
    "finetuning": "fine_tuning",
    "fine_tune": "fine_tuning",
    "supports_batch": "batch",
    "supports_tool_calling": "tool_calling",
    "supports_structured_output": "structured_output",
    "supports_streaming": "streaming",
    "supports_fine_tuning": "fine_tuning",
    "image_understanding": "vision",
    "reasoning_effort": "reasoning",
    "parallel_tools": "parallel_tool_calls",
    "system_prompt": "system_messages",
    "json_output": "json_mode",
    "fine-tuning": "fine_tuning",
    "prompt_cache": "prompt_caching",
}


class UnknownCapability(ValueError):
    """A capability name that is neither in the taxonomy nor a known alias."""

    def __init__(self, names: Iterable[str]):
        self.names = tuple(names)
        super().__init__(
            f"unknown capability {', '.join(repr(n) for n in self.names)}; "
            f"valid capabilities: {', '.join(CAPABILITIES)}"
        )


def canonical_capability(name: str) -> str | None:
    """The taxonomy name for ``name`` or an alias of it; None if it is neither."""
    key = name.strip().lower().replace("-", "_")
    if key in CAPABILITIES:
        return key
    return CAPABILITY_ALIASES.get(key)


def canonical_capabilities(names: Iterable[str]) -> tuple[str, ...]:
    """Map names and aliases to taxonomy names; raise UnknownCapability listing the bad ones."""
    out, bad = [], []
    for n in names:
        c = canonical_capability(n)
        (out if c else bad).append(c or n)
    if bad:
        raise UnknownCapability(bad)
    return tuple(dict.fromkeys(out))


def check_choice(value: str, choices: tuple[str, ...], what: str) -> str:
    """The one of ``choices`` that ``value`` names, in any case (``CHAT`` is ``chat``, as a
    capability is in any case); raise ValueError naming the valid ones."""
    if value in choices:
        return value
    folded = value.lower()
    for choice in choices:
        if choice.lower() == folded:
            return choice
    raise ValueError(f"unknown {what} {value!r}; valid: {', '.join(choices)}")


_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")

_KIND_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"embed", "embedding"),
    (r"rerank", "rerank"),
    (r"moderation|guard", "moderation"),
    (r"whisper|transcri|tts|speech|audio(?!.*preview)", "audio"),
    (r"dall-e|gpt-image|imagen|image-gen|stable-diffusion|sdxl|flux|midjourney|veo|sora", "image"),
    # A dated instruct snapshot (gpt-3.5-turbo-instruct-0914) is a completion model like its base.
    (r"^(babbage|davinci)(-\d+)?$|turbo-instruct(-\d{4})?$|-base$", "completion"),
)

_KIND_RES = tuple((re.compile(p), k) for p, k in _KIND_PATTERNS)


def guess_kind(model_id: str) -> str | None:
    """A kind suggested by the id alone, or None when the id says nothing special.

    Used last, after live APIs and catalogs: ``text-embedding-3-small`` → embedding.
    """
    low = model_id.lower()
    for pattern, kind in _KIND_RES:
        if pattern.search(low):
            return kind
    return None


def guess_family(model_id: str) -> str | None:
    """A family from the id: the id less its date/version suffixes (``gpt-4o-2024-08-06`` → ``gpt-4o``)."""
    base = model_id.rsplit("/", 1)[-1].split(":", 1)[0]
    base = re.sub(r"[-_@](\d{4}-?\d{2}-?\d{2}|\d{6,8}|latest|preview|v\d+(\.\d+)*)$", "", base)
    base = re.sub(r"[-_@](\d{4}-?\d{2}-?\d{2}|\d{4})$", "", base)
    return base or None


def as_object(value: Any) -> Mapping[str, Any]:
    """A member of an answer that should be an object; any other type says nothing (an empty one)."""
    return value if isinstance(value, Mapping) else {}


def as_list(value: Any) -> list:
    """A member of an answer that should be a list; any other type says nothing (an empty one)."""
    return value if isinstance(value, list) else []


def positive_int(value: Any) -> int | None:
    """An integer count (tokens) from a number or numeric string; None for absent, zero or junk."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        # Not through a float: an integer past 1e308 made math.isfinite raise OverflowError.
        return value if value > 0 else None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, float) and value > 0 and math.isfinite(value):
        return int(value)
    return None


def usd(value: Any) -> float | None:
    """A non-negative price from a number or numeric string; None for absent or junk."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):  # an integer past 1e308 is out of every range
        return None
    return number if number >= 0 and math.isfinite(number) else None


def per_million(per_token: Any) -> float | None:
    """USD per token (LiteLLM, OpenRouter, Groq) → USD per million tokens, rounded to hide float noise."""
    price = usd(per_token)
    return None if price is None else round(price * 1_000_000, 6)


def date_from_unix(seconds: Any) -> str | None:
    """An ISO date from unix seconds; None for absent, zero or negative values."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds <= 0:
        return None
    try:
        return datetime.fromtimestamp(seconds, tz=UTC).date().isoformat()
    except (OverflowError, OSError, ValueError):
        return None


def iso_date(value: Any) -> str | None:
    """The ``YYYY-MM-DD`` part of an ISO 8601 date or timestamp; None when it is not one."""
    if not isinstance(value, str):
        return None
    match = _ISO_DATE.match(value.strip())
    return match.group(0) if match else None


def kind_from_modalities(inputs: Iterable[str] | None, outputs: Iterable[str] | None) -> str | None:
    """The kind stated by a model's modalities (text out → chat, image out → image, ...); None if unsaid."""
    if not outputs:
        return None
    outs = set(outputs)
    if "text" in outs:
        return "audio" if inputs is not None and set(inputs) == {"audio"} else "chat"
    if "embedding" in outs:
        return "embedding"
    if "video" in outs:
        return "video"
    if "image" in outs:
        return "image"
    if "audio" in outs:
        return "audio"
    return None


def normalize_modalities(values: Iterable[str] | None) -> tuple[str, ...] | None:
    """Map provider modality words to ours; unknown words are dropped; None stays None, and so
    does anything but words (a lone word is one word; an object or a number says nothing)."""
    if isinstance(values, str):
        values = [values]
    if isinstance(values, Mapping) or not isinstance(values, Iterable):
        return None
    mapping = {"file": "pdf", "document": "pdf", "images": "image", "embeddings": "embedding"}
    out = []
    for v in values:
        key = str(v).strip().lower()
        key = mapping.get(key, key)
        if key in MODALITIES and key not in out:
            out.append(key)
    return tuple(out)


__all__ = [
    "CAPABILITIES",
    "CAPABILITY_ALIASES",
    "KINDS",
    "MODALITIES",
    "STATUSES",
    "UnknownCapability",
    "canonical_capabilities",
    "canonical_capability",
    "check_choice",
    "date_from_unix",
    "guess_family",
    "guess_kind",
    "iso_date",
    "kind_from_modalities",
    "normalize_modalities",
    "per_million",
    "positive_int",
    "usd",
]
