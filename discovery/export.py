"""The catalog as a LiteLLM proxy ``model_list``: the models an operator can call, from the
providers this service is configured with, ready for a gateway's config.

Each live model of a configured provider becomes one deployment:

- ``model_name``: the model's id here (``openai/gpt-4o``), unique across providers; or, with
  ``names="provider"``, the provider's own id, so the same model from two providers forms one
  LiteLLM model group;
- ``litellm_params``: ``model`` is LiteLLM's provider prefix and the provider's own id
  (``together_ai/meta-llama/...``, ``bedrock/us.anthropic...``); ``api_key`` names the environment
  variable the provider's key is read from (``os.environ/OPENAI_API_KEY``), never the key;
  ``api_base`` is the provider's endpoint where it is not the provider's public default (or is a
  local server), as LiteLLM wants it; a Bedrock model gets ``aws_region_name``: its best region
  among those that can call it (on demand, or through an inference profile) and answered their
  last refresh (measured TTFT, then control-plane latency), called by its own id there or
  through the profile;
- ``model_info``: ``mode`` from the kind, prices per token, ``max_input_tokens`` /
  ``max_output_tokens`` and LiteLLM's ``supports_*`` flags, each only where the catalog knows it;
  a Bedrock model called through an inference profile is priced as the catalog prices that
  profile (a regional profile costs more than the model on demand).

Models known only from a catalog (not callable with the operator's keys) are left out and
counted; models of a configured provider that cannot be mapped, and retired ones (by status, or
a retirement date past), are left out with why. A server that needs no key gets a placeholder
key: with none, LiteLLM sends its own ``OPENAI_API_KEY`` to the server. Pure: no threads, no I/O.
"""
from __future__ import annotations

import datetime
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Optional
from urllib.parse import urlsplit

from discovery.benchmark.formats.bedrock import invocation_id
from discovery.model import Model
from discovery.providers import FORMATS
from discovery.settings import ProviderConfig

# LiteLLM's provider prefix for each wire format (not Azure's: see litellm_model_list).
PREFIXES = {
    "openai": "openai", "openai_compatible": "openai", "llamacpp": "openai", "vllm": "hosted_vllm",
    "lmstudio": "lm_studio", "deepseek": "deepseek", "xai": "xai", "anthropic": "anthropic", "gemini": "gemini",
    "mistral": "mistral", "cohere": "cohere", "groq": "groq", "together": "together_ai",
    "openrouter": "openrouter", "ollama": "ollama", "bedrock": "bedrock",
}
# Servers an operator runs: their endpoint is always given, default or not.
LOCAL_FORMATS = frozenset({"openai_compatible", "vllm", "lmstudio", "llamacpp", "ollama"})
# LiteLLM's mode for each kind (audio is speech or transcription by its output).
MODES = {"chat": "chat", "completion": "completion", "embedding": "embedding", "image": "image_generation",
         "video": "video_generation", "rerank": "rerank", "moderation": "moderation"}
# Our capability → LiteLLM's model_info flag (json_mode has none: LiteLLM's map names no such flag).
FLAGS = {"vision": "supports_vision", "tool_calling": "supports_function_calling",
         "parallel_tool_calls": "supports_parallel_function_calling", "structured_output": "supports_response_schema",
         "reasoning": "supports_reasoning", "prompt_caching": "supports_prompt_caching",
         "system_messages": "supports_system_messages"}
# An input or output modality → LiteLLM's flag, set true where the catalog lists the modality.
MODALITY_FLAGS = (("input", "pdf", "supports_pdf_input"), ("input", "audio", "supports_audio_input"),
                  ("output", "audio", "supports_audio_output"))
# The api_key of an OpenAI-compatible server that needs none: LiteLLM's openai/ route sends its
# own OPENAI_API_KEY when a deployment names no key, to whatever server the api_base names.
NO_KEY = "no-key"
NAMES = ("id", "provider")


def _per_token(per_million: Optional[float]) -> Optional[float]:
    return None if per_million is None else float(f"{per_million / 1e6:.6g}")


def _mode(model: Model) -> Optional[str]:
    if model.kind == "audio":
        # Speech out is text to speech, speech in is transcription; with neither known no mode is
        # guessed (a text-to-speech model with unknown modalities was exported as transcription).
        if "audio" in (model.modalities.output or ()):
            return "audio_speech"
        return "audio_transcription" if "audio" in (model.modalities.input or ()) else None
    return MODES.get(model.kind or "")


def _max_input(model: Model) -> Optional[int]:
    """The most input tokens: the stated input limit, never more than the context window (the two
    can come from different sources, and the provider's window is the one it enforces)."""
    lim = model.limits
    if lim.max_input_tokens is None:
        return lim.context_window
    if lim.context_window is None:
        return lim.max_input_tokens
    return min(lim.max_input_tokens, lim.context_window)


def model_info(model: Model, priced_as: Optional[Model] = None) -> dict[str, Any]:
    """LiteLLM's ``model_info`` of a model: only what the catalog knows. ``priced_as``: the record
    whose prices the calls are charged at (a Bedrock inference profile's), when it has any."""
    info: dict[str, Any] = {"id": model.id}
    mode = _mode(model)
    if mode:
        info["mode"] = mode
    p = priced_as.pricing if priced_as is not None and priced_as.pricing.input is not None else model.pricing
    # An embedding model's "output" limit is its vector's size in the catalogs, not tokens.
    max_output = model.limits.max_output_tokens if model.kind != "embedding" else None
    for key, value in (("input_cost_per_token", _per_token(p.input)), ("output_cost_per_token", _per_token(p.output)),
                       ("cache_read_input_token_cost", _per_token(p.cache_read)),
                       ("cache_creation_input_token_cost", _per_token(p.cache_write)),
                       ("max_input_tokens", _max_input(model)), ("max_output_tokens", max_output)):
        if value is not None:
            info[key] = value
    for capability, flag in FLAGS.items():
        value = getattr(model.capabilities, capability)
        if value is not None:
            info[flag] = value
    for direction, modality, flag in MODALITY_FLAGS:
        listed = getattr(model.modalities, direction)
        if listed is not None:
            info[flag] = modality in listed
    deprecation = model.lifecycle.deprecation_date or model.lifecycle.retirement_date
    if deprecation:
        info["deprecation_date"] = deprecation
    return info


def retired(model: Model, today: str) -> Optional[str]:
    """Why a model can no longer be called (its status, or a retirement date past), or None."""
    life = model.lifecycle
    if life.status == "retired":
        return "retired (its status)"
    if life.retirement_date and life.retirement_date <= today:
        return f"retired on {life.retirement_date}"
    return None


# A JSON number with an exponent and no fraction (3e-06): PyYAML, which LiteLLM's proxy reads an
# included file with, takes it for a string; 3.0e-06 it reads as a float. Matched as a member's
# value (after ':', before ',' or '}'), in JSON whose strings cannot hold such text.
_BARE_EXPONENT = re.compile(rb'(?<=":)(-?\d+)([eE][-+]?\d+)(?=[,}])')


def yaml_safe_numbers(body: bytes) -> bytes:
    """``body`` (JSON with no free text: no string of it holds ``":``) with each number written in
    exponent form given a fraction (``3.0e-06``)."""
    return _BARE_EXPONENT.sub(rb"\1.0\2", body)


def encode_entry(entry: Mapping[str, Any], dumps: Callable[[Any], bytes]) -> bytes:
    """A deployment as JSON whose numbers a YAML loader reads as numbers. The numbers are in
    ``model_info``, whose other strings are a mode and dates: it is rewritten without its ``id``
    (free text, as are the model's name and the params), which is put back as it was encoded."""
    info = dict(entry["model_info"])
    model_id = info.pop("id")
    rest = yaml_safe_numbers(dumps(info))
    info_json = b'{"id":' + dumps(model_id) + (b"," + rest[1:] if len(rest) > 2 else b"}")
    return (b'{"model_name":' + dumps(entry["model_name"]) + b',"litellm_params":' + dumps(entry["litellm_params"])
            + b',"model_info":' + info_json + b"}")


def _api_base(config: ProviderConfig) -> tuple[Optional[str], Optional[str]]:
    """(the api_base LiteLLM needs for this provider, or None for its default; a reason the
    provider cannot be exported, or None)."""
    default = FORMATS[config.format].default_base_url.rstrip("/")
    base = (config.base_url or default).rstrip("/")
    if config.format not in LOCAL_FORMATS and base == default:
        return None, None
    if urlsplit(base).username is not None:
        return None, "its endpoint carries credentials, which an export does not copy"
    if config.format == "anthropic":
        return base.removesuffix("/v1"), None  # LiteLLM adds /v1/messages itself
    if config.format == "cohere":
        return None, "a Cohere endpoint of its own: LiteLLM wants the full chat URL there; set api_base by hand"
    return base, None


def litellm_model_list(models: Iterable[Model], providers: Mapping[str, ProviderConfig],
                       regions: Callable[[Model], list[str]], available: Callable[[str], bool] = lambda r: True,
                       names: str = "id", encode: Optional[Callable[[dict[str, Any]], Any]] = None,
                       record_of: Callable[[str], Optional[Model]] = lambda model_id: None,
                       runtime_endpoint: Optional[str] = None, today: Optional[str] = None,
                       ) -> tuple[list[Any], list[dict[str, str]], int]:
    """(the ``model_list`` entries, the models of configured providers left out with why, how
    many catalog-only models were left out), in the order ``models`` come.

    ``encode``: each entry is kept as ``encode(entry)`` (its JSON, say) instead of as a dict, so a
    large export never holds every entry's dicts at once (at 10k models they left 5 MB more
    resident after the export than its body).
    ``providers``: the configured providers by name (a Bedrock model's provider is ``bedrock``,
    given by the caller when Bedrock is on); ``regions``: a Bedrock model's regions, best first;
    ``available``: whether a region may be called (its last refresh did not fail);
    ``record_of``: the catalog's record of an id (a Bedrock inference profile's, for its prices
    and lifecycle); ``runtime_endpoint``: Bedrock Runtime's endpoint when not AWS's (a
    ``{region}`` template); ``today``: the UTC date retirement dates are compared with.
    """
    today = today or datetime.datetime.now(datetime.UTC).date().isoformat()
    if names not in NAMES:
        raise ValueError(f"names must be one of {', '.join(NAMES)}, got {names!r}")
    entries: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    catalog_only = 0
    bases: dict[str, tuple[Optional[str], Optional[str]]] = {}
    for model in models:
        if not model.live:
            catalog_only += 1  # no configured provider lists it: not callable with the operator's keys
            continue
        gone = retired(model, today)
        if gone is not None:
            skipped.append({"model_id": model.id, "reason": gone})
            continue
        priced_as: Optional[Model] = None
        config = providers.get(model.provider)
        if config is None:
            skipped.append({"model_id": model.id, "reason": f"provider {model.provider!r} is not configured here"})
            continue
        prefix = PREFIXES.get(config.format)
        if prefix is None:
            reason = ("Azure lists the models a resource can deploy, not its deployments: LiteLLM calls a deployment"
                      if config.format == "azure" else f"no LiteLLM provider for the {config.format} format")
            skipped.append({"model_id": model.id, "reason": reason})
            continue
        params: dict[str, Any] = {}
        if config.format == "bedrock":
            callable_in = [(r, t) for r in regions(model) if (t := invocation_id(model, r)) is not None]
            if not callable_in:
                skipped.append({"model_id": model.id,
                                "reason": "no region serves it on demand or through an inference profile"})
                continue
            usable = [(r, t) for r, t in callable_in if available(r)]
            if not usable:
                skipped.append({"model_id": model.id, "reason": "no region that can call it answered its last refresh "
                                f"({', '.join(r for r, _ in callable_in)})"})
                continue
            # A profile the catalog says is deprecated or retired is the last choice (the order
            # of the regions kept otherwise); calls through a profile cost what it costs.
            profiles = {t: record_of(f"bedrock/{t}") if t != model.provider_model_id else None for _, t in usable}
            region, target = min(usable, key=lambda rt: _winding_down(profiles[rt[1]], today))
            priced_as = profiles[target]
            params["model"] = f"bedrock/{target}"
            params["aws_region_name"] = region
            if runtime_endpoint:
                params["aws_bedrock_runtime_endpoint"] = runtime_endpoint.replace("{region}", region)
        else:
            if config.name not in bases:
                bases[config.name] = _api_base(config)
            base, refused = bases[config.name]
            if refused:
                skipped.append({"model_id": model.id, "reason": refused})
                continue
            if config.format == "ollama" and model.kind in (None, "chat"):
                prefix = "ollama_chat"  # LiteLLM's chat route for Ollama
            params["model"] = f"{prefix}/{model.provider_model_id}"
            key_env = config.api_key_env or FORMATS[config.format].default_api_key_env
            if key_env:
                params["api_key"] = f"os.environ/{key_env}"
            elif prefix == "openai":
                params["api_key"] = NO_KEY
            if base:
                params["api_base"] = base
        entry = {"model_name": model.id if names == "id" else model.provider_model_id,
                 "litellm_params": params, "model_info": model_info(model, priced_as)}
        entries.append(entry if encode is None else encode(entry))
    return entries, skipped, catalog_only


def _winding_down(profile: Optional[Model], today: str) -> int:
    """0 for a profile in service (or none: the model called by its own id), 1 deprecated, 2 retired."""
    if profile is None:
        return 0
    if retired(profile, today) is not None:
        return 2
    return 1 if profile.lifecycle.status == "deprecated" else 0


__all__ = ["FLAGS", "MODES", "NO_KEY", "PREFIXES", "encode_entry", "litellm_model_list", "model_info",
           "yaml_safe_numbers"]
