"""Provider wire formats, by the ``format`` name used in settings."""
from __future__ import annotations

import requests

from discovery.providers.anthropic import AnthropicClient
from discovery.providers.azure import AzureOpenAIClient
from discovery.providers.base import ProviderClient
from discovery.providers.cohere import CohereClient
from discovery.providers.errors import (
    MalformedAnswer,
    ProviderAuthError,
    ProviderError,
    ProviderHTTPError,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnreachable,
    SuspiciousSnapshot,
)
from discovery.providers.gemini import GeminiClient
from discovery.providers.groq import GroqClient
from discovery.providers.litellm import LiteLLMClient
from discovery.providers.mistral import MistralClient
from discovery.providers.modelsdev import ModelsDevClient
from discovery.providers.ollama import OllamaClient
from discovery.providers.openai import (
    OPENAI_FORMATS,
    OpenAIClient,
    OpenAICompatibleClient,
)
from discovery.providers.openrouter import OpenRouterClient
from discovery.providers.together import TogetherClient
from discovery.settings import ProviderConfig

FORMATS: dict[str, type[ProviderClient]] = {
    cls.format: cls
    for cls in (*OPENAI_FORMATS, AnthropicClient, GeminiClient, MistralClient, CohereClient, GroqClient,
                TogetherClient, AzureOpenAIClient, OllamaClient, OpenRouterClient, ModelsDevClient,
                LiteLLMClient)
}


def client_for(config: ProviderConfig, session: requests.Session | None = None) -> ProviderClient:
    """Build the client for a configured provider; ValueError if its format is unknown."""
    try:
        cls = FORMATS[config.format]
    except KeyError:
        raise ValueError(f"provider {config.name!r}: unknown format {config.format!r}; "
                         f"known formats: {', '.join(sorted(FORMATS))}") from None
    return cls(config, session=session)


__all__ = [
    "FORMATS",
    "AnthropicClient",
    "AzureOpenAIClient",
    "CohereClient",
    "GeminiClient",
    "GroqClient",
    "LiteLLMClient",
    "MalformedAnswer",
    "MistralClient",
    "ModelsDevClient",
    "OllamaClient",
    "OpenAIClient",
    "OpenAICompatibleClient",
    "OpenRouterClient",
    "ProviderAuthError",
    "ProviderClient",
    "ProviderError",
    "ProviderHTTPError",
    "ProviderRateLimited",
    "ProviderTimeout",
    "ProviderUnreachable",
    "SuspiciousSnapshot",
    "TogetherClient",
    "client_for",
]
