"""Benchmark probes, one module per streaming wire format, chosen by a provider's ``format``."""
from __future__ import annotations

from typing import Optional

import requests

from discovery.benchmark.formats.anthropic import AnthropicProbe
from discovery.benchmark.formats.bedrock import BedrockProbe, invocation_id
from discovery.benchmark.formats.cohere import CohereProbe
from discovery.benchmark.formats.gemini import GeminiProbe
from discovery.benchmark.formats.ollama import OllamaProbe
from discovery.benchmark.formats.openai import AzureProbe, OpenAIProbe, OwnOpenAIProbe
from discovery.benchmark.formats.stream import HTTPProbe
from discovery.settings import ProviderConfig

# Provider format -> probe class. Catalogs (models.dev, LiteLLM) serve no models: not here.
PROBES: dict[str, type[HTTPProbe]] = {
    "openai": OwnOpenAIProbe, "azure": AzureProbe, "anthropic": AnthropicProbe, "gemini": GeminiProbe,
    "cohere": CohereProbe, "ollama": OllamaProbe,
    **{fmt: OpenAIProbe for fmt in ("openai_compatible", "deepseek", "xai", "vllm", "lmstudio", "llamacpp",
                                    "mistral", "groq", "together", "openrouter")},
}


def probe_for(config: ProviderConfig, session: requests.Session, timeout: float) -> Optional[HTTPProbe]:
    """The probe of a configured provider's wire format (its own key and base URL), or None if it has none."""
    from discovery.providers import client_for

    cls = PROBES.get(config.format)
    if cls is None:
        return None
    # The listing client knows the key, the auth headers and the base URL; its own session is not used.
    client = client_for(config, session=requests.Session())
    client.session.close()
    return cls(client, session, timeout)


__all__ = ["PROBES", "AnthropicProbe", "AzureProbe", "BedrockProbe", "CohereProbe", "GeminiProbe", "HTTPProbe",
           "OllamaProbe", "OpenAIProbe", "OwnOpenAIProbe", "invocation_id", "probe_for"]
