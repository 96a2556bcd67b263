"""Provider wire formats, by the ``format`` name used in settings."""
from __future__ import annotations

from typing import Optional

import requests

from discovery.providers.base import (
    MalformedAnswer,
    ProviderAuthError,
    ProviderClient,
    ProviderError,
    ProviderHTTPError,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnreachable,
    SuspiciousSnapshot,
)
from discovery.providers.modelsdev import ModelsDevClient
from discovery.providers.openai import OpenAIClient, OpenAICompatibleClient
from discovery.settings import ProviderConfig

FORMATS: dict[str, type[ProviderClient]] = {
    cls.format: cls for cls in (OpenAIClient, OpenAICompatibleClient, ModelsDevClient)
}


def client_for(config: ProviderConfig, session: Optional[requests.Session] = None) -> ProviderClient:
    """Build the client for a configured provider; ValueError if its format is unknown."""
    try:
        cls = FORMATS[config.format]
    except KeyError:
        raise ValueError(f"provider {config.name!r}: unknown format {config.format!r}; "
                         f"known formats: {', '.join(sorted(FORMATS))}") from None
    return cls(config, session=session)


__all__ = [
    "FORMATS", "client_for", "MalformedAnswer", "ProviderAuthError", "ProviderClient", "ProviderError",
    "ProviderHTTPError", "ProviderRateLimited", "ProviderTimeout", "ProviderUnreachable",
    "SuspiciousSnapshot",
]
