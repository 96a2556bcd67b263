"""Together ``GET /v1/models``: a bare JSON array (not ``{"data": [...]}``), unpaginated.

``type`` gives the kind; ``pricing`` is already USD per million tokens (0 means free, but for a
model not billed by the token both prices are 0 and then they stay unknown). Undocumented
per-deployment fields (``running``, ``config``) are ignored: they change without the model changing.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from discovery.draft import ModelDraft
from discovery.model import Model
from discovery.providers.base import ProviderClient, dedupe
from discovery.taxonomy import date_from_unix, guess_family, positive_int, usd

# Together ``type`` → kind.
TYPE_KINDS = {
    "chat": "chat", "language": "completion", "code": "completion", "image": "image",
    "embedding": "embedding", "moderation": "moderation", "rerank": "rerank", "audio": "audio",
    "transcribe": "audio", "video": "video",
}
_TOKEN_BILLED = ("chat", "completion", "embedding", "moderation", "rerank")


class TogetherClient(ProviderClient):
    """Together AI's model list."""

    format = "together"
    default_base_url = "https://api.together.xyz/v1"
    default_api_key_env = "TOGETHER_API_KEY"
    catalog_name = "together"

    def fetch_models(self) -> list[Model]:
        """The whole list (one bare array)."""
        return dedupe(self.normalized(self.normalize, item) for item in self._rows(self.get_json("/models")))

    def probe(self) -> None:
        """The list itself: the API has no page size."""
        self._rows(self.get_json("/models"))

    def _rows(self, body: Any) -> list[Mapping[str, Any]]:
        # Tolerate the OpenAI-style envelope too, in case a proxy in front of Together adds it.
        if isinstance(body, Mapping) and "data" in body:
            return self.list_field(body)
        self.expect(isinstance(body, list), "expected a JSON array of models")
        self.expect(all(isinstance(i, Mapping) for i in body), "the array holds non-objects")
        return body

    def normalize(self, item: Mapping[str, Any]) -> Model:
        """One ``ModelObject`` → Model."""
        model_id = self.require_str(item)
        draft = ModelDraft(self.name, model_id, self.name)
        draft.set("name", item.get("display_name") or None)
        kind = TYPE_KINDS.get(str(item.get("type") or "").lower())
        draft.set("kind", kind)
        draft.set("limits.context_window", positive_int(item.get("context_length")))
        draft.set("lifecycle.release_date", date_from_unix(item.get("created")))
        pricing = item.get("pricing") if isinstance(item.get("pricing"), Mapping) else {}
        price_in, price_out = usd(pricing.get("input")), usd(pricing.get("output"))
        if kind in _TOKEN_BILLED or (price_in or price_out):
            draft.set("pricing.input", price_in)
            draft.set("pricing.output", price_out)
        if kind == "chat" or kind == "completion":
            draft.set("modalities.output", ["text"])
        draft.guess("family", guess_family(model_id))
        attributes: dict[str, Any] = {k: item[k] for k in ("organization", "license", "link", "type")
                                      if item.get(k) not in (None, "")}
        extra = {k: pricing[k] for k in ("hourly", "base", "finetune") if usd(pricing.get(k))}
        if extra:
            attributes["pricing_extra"] = extra
        return draft.build(attributes=attributes, raw=item)
