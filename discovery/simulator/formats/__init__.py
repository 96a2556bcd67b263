"""Every simulated wire format; add a provider by writing its module and listing it here."""
from __future__ import annotations

from discovery.simulator.formats import (
    anthropic,
    azure,
    bedrock,
    cohere,
    gemini,
    groq,
    litellm,
    mistral,
    modelsdev,
    ollama,
    openai,
    openrouter,
    together,
)
from discovery.simulator.formats.wire import WireFormat

ALL_FORMATS: tuple[WireFormat, ...] = (
    openai.FORMAT,
    openai.COMPATIBLE_FORMAT,
    modelsdev.FORMAT,
    anthropic.FORMAT,
    gemini.FORMAT,
    ollama.FORMAT,
    openrouter.FORMAT,
    mistral.FORMAT,
    litellm.FORMAT,
    azure.FORMAT,
    groq.FORMAT,
    together.FORMAT,
    cohere.FORMAT,
    *bedrock.FORMATS,  # one provider per AWS region, plus EC2 DescribeRegions
)

FORMATS_BY_PROVIDER: dict[str, WireFormat] = {fmt.provider: fmt for fmt in ALL_FORMATS}
# Other names tests and settings use for a simulated provider.
PROVIDER_ALIASES: dict[str, str] = {"vllm": "openai_compatible"}

__all__ = ["ALL_FORMATS", "FORMATS_BY_PROVIDER", "PROVIDER_ALIASES", "WireFormat"]
