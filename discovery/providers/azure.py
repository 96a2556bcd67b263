"""Azure OpenAI ``GET {endpoint}/openai/models?api-version=...``: the models a resource can deploy.

``base_url`` is the resource endpoint (``https://NAME.openai.azure.com``); there is no default.
The ``api-version`` comes from ``options.api_version`` (default ``2024-10-21``). The answer can
repeat an id (the first is kept). ``capabilities`` give the kind and fine-tuning support;
``lifecycle_status`` and ``deprecation`` (unix seconds) give the lifecycle: an inference
deprecation date in the past means ``retired``, a past fine-tune deprecation ``deprecated``,
otherwise ``preview`` or ``active``.
"""
from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

from discovery.draft import ModelDraft
from discovery.model import Model
from discovery.providers.base import ProviderClient, dedupe
from discovery.providers.errors import ProviderError
from discovery.taxonomy import date_from_unix, guess_family, guess_kind

DEFAULT_API_VERSION = "2024-10-21"
_STATUS = {"preview": "preview", "generally-available": "active"}


def _seconds(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        return None
    try:
        seconds = float(value)
    except OverflowError:  # an integer past 1e308: no time at all
        return None
    return seconds if math.isfinite(seconds) else None


class AzureOpenAIClient(ProviderClient):
    """An Azure OpenAI resource's model list."""

    # deployments: model id -> deployment name, for benchmarks (discovery.benchmark.formats.openai).
    options = {**ProviderClient.options, "api_version": str, "auth": str, "deployments": dict}

    format = "azure"
    default_base_url = ""
    default_api_key_env = "AZURE_OPENAI_API_KEY"
    catalog_name = "azure"

    @property
    def base_url(self) -> str:
        """The resource endpoint; settings must name it."""
        url = (self.config.base_url or "").rstrip("/")
        if not url:
            raise ProviderError(f"{self.name}: set base_url to the Azure resource endpoint "
                                f"(https://NAME.openai.azure.com)")
        return url

    def auth_headers(self) -> dict[str, str]:
        """``api-key``, or a Bearer (Entra ID) token when ``options.auth = "bearer"``."""
        key = self.api_key() or ""
        if self.config.options.get("auth") == "bearer":
            return {"Authorization": f"Bearer {key}"}
        return {"api-key": key}

    def _params(self) -> dict[str, str]:
        return {"api-version": str(self.config.options.get("api_version") or DEFAULT_API_VERSION)}

    # Whether a deprecation has passed depends on the day: items are normalized again daily.
    date_dependent = True

    def fetch_models(self) -> list[Model]:
        """The whole list (one page); repeated ids keep their first entry."""
        body = self.get_json(f"{self.base_url}/openai/models", params=self._params())
        now = time.time()
        return dedupe(self.normalized(lambda item: self.normalize(item, now=now), item)
                      for item in self.list_field(body))

    def probe(self) -> None:
        """The list itself: the API has no page size."""
        self.list_field(self.get_json(f"{self.base_url}/openai/models", params=self._params()))

    def normalize(self, item: Mapping[str, Any], now: float | None = None) -> Model:
        """One model entry → Model; ``now`` (unix seconds) decides whether a deprecation has passed."""
        model_id = self.require_str(item)
        now = time.time() if now is None else now
        draft = ModelDraft(self.name, model_id, self.name)
        caps = item.get("capabilities") if isinstance(item.get("capabilities"), Mapping) else {}
        if caps.get("embeddings"):
            draft.set("kind", "embedding")
        elif caps.get("chat_completion"):
            draft.set("kind", "chat")
        elif caps.get("completion"):
            draft.set("kind", "completion")
        if isinstance(caps.get("fine_tune"), bool):
            draft.set("capabilities.fine_tuning", caps["fine_tune"])
        draft.set("lifecycle.release_date", date_from_unix(item.get("created_at")))
        deprecation = item.get("deprecation") if isinstance(item.get("deprecation"), Mapping) else {}
        inference_end = _seconds(deprecation.get("inference"))
        fine_tune_end = _seconds(deprecation.get("fine_tune"))
        # Azure's deprecation.inference is the day the model stops answering: both its
        # deprecation and its retirement.
        draft.set("lifecycle.deprecation_date", date_from_unix(inference_end))
        draft.set("lifecycle.retirement_date", date_from_unix(inference_end))
        if inference_end is not None and inference_end <= now:
            draft.set("lifecycle.status", "retired")
        elif fine_tune_end is not None and fine_tune_end <= now:
            draft.set("lifecycle.status", "deprecated")
        else:
            draft.set("lifecycle.status", _STATUS.get(str(item.get("lifecycle_status") or "")))
        draft.guess("kind", guess_kind(model_id))
        draft.guess("name", model_id)
        draft.guess("family", guess_family(model_id))
        attributes: dict[str, Any] = {}
        if isinstance(caps.get("inference"), bool):
            attributes["inference"] = caps["inference"]
        if fine_tune_end is not None:
            attributes["fine_tune_deprecation_date"] = date_from_unix(fine_tune_end)
        if item.get("lifecycle_status"):
            attributes["lifecycle_status"] = item["lifecycle_status"]
        for key in ("model", "fine_tune"):
            if isinstance(item.get(key), str) and item[key]:
                attributes[key] = item[key]
        return draft.build(attributes=attributes, raw=item)
