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
  ``max_output_tokens`` and LiteLLM's ``supports_*`` flags, each only where the catalog knows it.

Models known only from a catalog (not callable with the operator's keys) are left out and
counted; models of a configured provider that cannot be mapped are left out with why. Pure: no
threads, no I/O.
"""
from __future__ import annotations

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
         "rerank": "rerank", "moderation": "moderation"}
# Our capability → LiteLLM's model_info flag.
FLAGS = {"vision": "supports_vision", "tool_calling": "supports_function_calling",
         "parallel_tool_calls": "supports_parallel_function_calling", "structured_output": "supports_response_schema",
         "reasoning": "supports_reasoning", "prompt_caching": "supports_prompt_caching",
         "system_messages": "supports_system_messages", "json_mode": "supports_json_mode"}
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


def model_info(model: Model) -> dict[str, Any]:
    """LiteLLM's ``model_info`` of a model: only what the catalog knows."""
    info: dict[str, Any] = {"id": model.id}
    mode = _mode(model)
    if mode:
        info["mode"] = mode
    p, lim = model.pricing, model.limits
    for key, value in (("input_cost_per_token", _per_token(p.input)), ("output_cost_per_token", _per_token(p.output)),
                       ("cache_read_input_token_cost", _per_token(p.cache_read)),
                       ("cache_creation_input_token_cost", _per_token(p.cache_write)),
                       ("max_input_tokens", lim.max_input_tokens or lim.context_window),
                       ("max_output_tokens", lim.max_output_tokens)):
        if value is not None:
            info[key] = value
    for capability, flag in FLAGS.items():
        value = getattr(model.capabilities, capability)
        if value is not None:
            info[flag] = value
    return info


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
                       ) -> tuple[list[Any], list[dict[str, str]], int]:
    """(the ``model_list`` entries, the models of configured providers left out with why, how
    many catalog-only models were left out), in the order ``models`` come.

    ``encode``: each entry is kept as ``encode(entry)`` (its JSON, say) instead of as a dict, so a
    large export never holds every entry's dicts at once (at 10k models they left 5 MB more
    resident after the export than its body).
    ``providers``: the configured providers by name (a Bedrock model's provider is ``bedrock``,
    given by the caller when Bedrock is on); ``regions``: a Bedrock model's regions, best first;
    ``available``: whether a region may be called (its last refresh did not fail).
    """
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
            region, target = usable[0]
            params["model"] = f"bedrock/{target}"
            params["aws_region_name"] = region
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
            if base:
                params["api_base"] = base
        entry = {"model_name": model.id if names == "id" else model.provider_model_id,
                 "litellm_params": params, "model_info": model_info(model)}
        entries.append(entry if encode is None else encode(entry))
    return entries, skipped, catalog_only


__all__ = ["FLAGS", "MODES", "PREFIXES", "litellm_model_list", "model_info"]
