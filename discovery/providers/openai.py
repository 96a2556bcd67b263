"""OpenAI ``GET /v1/models``, and every OpenAI-compatible server (vLLM, LM Studio, llama.cpp,
DeepSeek, xAI, ...): one unpaginated ``{"object": "list", "data": [...]}``.

The list states only ids, owners and creation times, so this format fills ``kind`` and ``family``
from the id and leaves capabilities unknown for the catalogs to enrich.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Mapping

from discovery.model import Lifecycle, Model
from discovery.providers.base import ProviderClient, dedupe
from discovery.taxonomy import guess_family, guess_kind


def _date(created: Any) -> str | None:
    if isinstance(created, (int, float)) and created > 0:
        return datetime.fromtimestamp(created, tz=timezone.utc).date().isoformat()
    return None


class OpenAIClient(ProviderClient):
    """OpenAI's model list (and servers that copy it)."""

    format = "openai"
    default_base_url = "https://api.openai.com/v1"
    default_api_key_env = "OPENAI_API_KEY"

    def fetch_models(self) -> list[Model]:
        body = self.get_json("/models")
        return dedupe(self.normalize(item) for item in self.list_field(body))

    def normalize(self, item: Mapping[str, Any]) -> Model:
        """One ``data`` entry → Model."""
        model_id = item.get("id")
        self.expect(isinstance(model_id, str) and model_id != "", "a model without an 'id'")
        attributes = {}
        if item.get("owned_by"):
            attributes["owned_by"] = item["owned_by"]
        kind = guess_kind(model_id)
        return Model(
            provider=self.name,
            provider_model_id=model_id,
            name=model_id,
            family=guess_family(model_id),
            kind=kind,
            lifecycle=Lifecycle(release_date=_date(item.get("created"))),
            attributes=attributes,
            raw=item,
            source=self.name,
            provenance={"kind": "heuristic"} if kind else {},
        )


class OpenAICompatibleClient(OpenAIClient):
    """Any server speaking OpenAI's list format; no key required, no default URL."""

    format = "openai_compatible"
    default_base_url = "http://127.0.0.1:8000/v1"
    default_api_key_env = None
    requires_key = False
    default_enabled = False
