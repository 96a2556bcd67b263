"""Google Gemini ``GET /v1beta/models``: pages by ``pageSize``/``pageToken`` (``nextPageToken``).

The list states token limits and ``supportedGenerationMethods``; the kind follows from the methods
(``generateContent`` → chat, ``embedContent`` → embedding, ``predict`` → image,
``predictLongRunning`` → video). ``thinking: true`` means reasoning. There is no
vision, tools or deprecation flag: those stay unknown for the catalogs. The provider model id is
``name`` without its ``models/`` prefix.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from discovery.draft import ModelDraft
from discovery.model import Model
from discovery.providers.base import ProviderClient, dedupe
from discovery.providers.retries import MAX_RETRY_AFTER_SECONDS
from discovery.taxonomy import guess_family, guess_kind, positive_int

MAX_PAGES = 1000
_SAMPLING = ("temperature", "maxTemperature", "topP", "topK")


def _kind(methods: set[str], model_id: str) -> str | None:
    if methods & {"generateContent", "bidiGenerateContent", "generateMessage"}:
        # A speech model answers generateContent too, but what it makes is audio, not chat.
        if guess_kind(model_id) == "audio" and "tts" in model_id.lower():
            return "audio"
        return "chat"
    if methods & {"embedContent", "batchEmbedContents", "embedText"}:
        return "embedding"
    if "generateText" in methods:
        return "completion"
    if "predict" in methods:
        return guess_kind(model_id) or "image"
    if "predictLongRunning" in methods:
        return "video"
    return None


def _details(body: Any) -> list[Mapping[str, Any]]:
    """The entries of a Google error body's ``details`` (ErrorInfo, RetryInfo, ...) that are objects."""
    error = body.get("error") if isinstance(body, Mapping) else None
    details = error.get("details") if isinstance(error, Mapping) else None
    return [d for d in details if isinstance(d, Mapping)] if isinstance(details, list) else []


def _error_reasons(body: Any) -> set[str]:
    """The ``reason`` of each ErrorInfo in a Google error body's ``details``."""
    return {d["reason"] for d in _details(body) if isinstance(d.get("reason"), str)}


# A protobuf Duration in JSON: decimal seconds with an "s" (``37s``, ``1.500s``).
_DURATION = re.compile(r"(\d{1,9}(?:\.\d{1,9})?)s")


def _retry_delay(body: Any) -> float | None:
    """Seconds from the ``retryDelay`` of a RetryInfo in a Google error body's ``details``."""
    for detail in _details(body):
        if str(detail.get("@type", "")).endswith("google.rpc.RetryInfo"):
            match = _DURATION.fullmatch(str(detail.get("retryDelay", "")))
            if match:
                return min(float(match.group(1)), MAX_RETRY_AFTER_SECONDS)
    return None


class GeminiClient(ProviderClient):
    """The Gemini API's model list."""

    options = {**ProviderClient.options, "page_size": int}

    format = "gemini"
    default_base_url = "https://generativelanguage.googleapis.com/v1beta"
    default_api_key_env = "GEMINI_API_KEY"
    catalog_name = "gemini"

    def auth_headers(self) -> dict[str, str]:
        """The key in ``x-goog-api-key`` (never in the URL, where it would be logged)."""
        return {"x-goog-api-key": self.api_key() or ""}

    def key_refused(self, status: int, body: Any) -> bool:
        """Google answers a wrong, expired or deleted key with 400 INVALID_ARGUMENT, not 401: its
        ``details`` hold an ErrorInfo whose reason is ``API_KEY_INVALID``."""
        return super().key_refused(status, body) or (status == 400 and "API_KEY_INVALID" in _error_reasons(body))

    def retry_after(self, headers: Mapping[str, str], body: Any) -> float | None:
        """Google sends no Retry-After: a 429 says when to come back in a RetryInfo detail."""
        header = super().retry_after(headers, body)
        return header if header is not None else _retry_delay(body)

    def fetch_models(self) -> list[Model]:
        """Every page, following ``nextPageToken``."""
        size = int(self.config.options.get("page_size", 1000))
        params: dict[str, Any] = {"pageSize": size}
        models: list[Model] = []
        followed: set[str] = set()
        for _ in range(MAX_PAGES):
            # Google's JSON leaves out an empty list: a page of no models is {} (or only a token).
            body = self.get_listing("/models", "models", params=params, absent_is_empty=True)
            models.extend(self.normalized_spans(self.normalize, body.items))
            token = body.get("nextPageToken")
            if not token:
                return dedupe(models)
            params = {"pageSize": size, "pageToken": self.next_cursor(token, followed, "nextPageToken")}
        self.expect(False, f"more than {MAX_PAGES} pages")
        return models

    def probe(self) -> None:
        """One model."""
        self.list_field(self.get_json("/models", params={"pageSize": 1}), "models")

    def normalize(self, item: Mapping[str, Any]) -> Model:
        """One ``Model`` resource → Model."""
        name = item.get("name")
        self.expect(isinstance(name, str) and name.strip("/") != "", "a model without a 'name'")
        model_id = name.removeprefix("models/")
        draft = ModelDraft(self.name, model_id, self.name)
        draft.set("name", item.get("displayName") or None)
        raw_methods = item.get("supportedGenerationMethods")
        methods = {m for m in raw_methods if isinstance(m, str)} if isinstance(raw_methods, list) else set()
        draft.set("kind", _kind(methods, model_id))
        input_limit = positive_int(item.get("inputTokenLimit"))
        draft.set("limits.context_window", input_limit)
        draft.set("limits.max_input_tokens", input_limit)
        draft.set("limits.max_output_tokens", positive_int(item.get("outputTokenLimit")))
        if item.get("thinking") is True:
            draft.set("capabilities.reasoning", True)
        # Stated only by their presence: absence may be an older answer, so it stays unknown.
        if "createCachedContent" in methods:
            draft.set("capabilities.prompt_caching", True)
        if methods & {"batchGenerateContent", "asyncBatchEmbedContent"}:
            draft.set("capabilities.batch", True)
        if draft.get("kind") == "audio":
            draft.set("modalities.output", ["audio"])
        # Gemini states a preview in the id, the display name or the version, not in a status field.
        if any("preview" in str(item.get(key) or "").lower() for key in ("name", "displayName", "version")):
            draft.set("lifecycle.status", "preview")
        draft.guess("family", guess_family(model_id))
        attributes: dict[str, Any] = {}
        if methods:
            attributes["generation_methods"] = sorted(methods)
        for key in ("version", "description", "baseModelId"):
            if item.get(key):
                attributes[key] = item[key]
        sampling = {k: item[k] for k in _SAMPLING if k in item}
        if sampling:
            attributes["sampling"] = sampling
        return draft.build(attributes=attributes, raw=item)
