"""OpenAI ``GET /v1/models``, and every OpenAI-compatible server (DeepSeek, xAI, vLLM, LM Studio,
llama.cpp, ...): one unpaginated ``{"object": "list", "data": [...]}``.

The list states only ids, owners and creation times, so this format guesses ``kind``, ``family``
and ``name`` from the id (provenance ``heuristic``) and leaves capabilities unknown for the
catalogs to enrich. Self-hosted servers add a few fields of their own (vLLM's ``max_model_len``).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from discovery.draft import ModelDraft
from discovery.model import Model
from discovery.providers.base import ProviderClient, dedupe
from discovery.taxonomy import date_from_unix, guess_family, guess_kind, positive_int


class OpenAIClient(ProviderClient):
    """OpenAI's model list (and servers that copy it)."""

    format = "openai"
    default_base_url = "https://api.openai.com/v1"
    default_api_key_env = "OPENAI_API_KEY"
    # The provider name this format's models carry in models.dev and LiteLLM.
    catalog_name: str | None = "openai"
    options = {**ProviderClient.options, "organization": str, "project": str}

    def auth_headers(self) -> dict[str, str]:
        """The Bearer key, and ``OpenAI-Organization`` / ``OpenAI-Project`` when the options name
        them: a key of several organizations lists its default one's models (fine-tunes) otherwise."""
        headers = super().auth_headers()
        for option, header in (("organization", "OpenAI-Organization"), ("project", "OpenAI-Project")):
            value = self.config.options.get(option)
            if value:
                headers[header] = str(value)
        return headers

    def fetch_models(self) -> list[Model]:
        """The whole list (one page)."""
        listing = self.get_listing("/models")
        return dedupe(self.normalized_spans(self.normalize, listing.items))

    def probe(self) -> None:
        """The list itself is the cheapest call: the API has no page size."""
        self.list_field(self.get_json("/models"))

    def normalize(self, item: Mapping[str, Any]) -> Model:
        """One ``data`` entry → Model."""
        model_id = self.require_str(item)
        draft = ModelDraft(self.name, model_id, self.name)
        draft.set("lifecycle.release_date", date_from_unix(item.get("created")))
        # vLLM states the served context length; other servers ignore the field.
        draft.set("limits.context_window", positive_int(item.get("max_model_len")))
        draft.guess("name", model_id)
        draft.guess("family", guess_family(model_id))
        draft.guess("kind", guess_kind(model_id))
        attributes = {k: item[k] for k in ("owned_by", "root", "parent") if item.get(k)}
        if attributes.get("root") == model_id:
            del attributes["root"]
        return draft.build(attributes=attributes, raw=item)


class OpenAICompatibleClient(OpenAIClient):
    """Any server speaking OpenAI's list format; no key required, no default URL."""

    format = "openai_compatible"
    default_base_url = "http://127.0.0.1:8000/v1"
    default_api_key_env = None
    requires_key = False
    default_enabled = False
    catalog_name = None


class DeepSeekClient(OpenAIClient):
    """DeepSeek's OpenAI-compatible list."""

    format = "deepseek"
    default_base_url = "https://api.deepseek.com"
    default_api_key_env = "DEEPSEEK_API_KEY"
    catalog_name = "deepseek"


class XAIClient(OpenAIClient):
    """xAI's OpenAI-compatible list."""

    format = "xai"
    default_base_url = "https://api.x.ai/v1"
    default_api_key_env = "XAI_API_KEY"
    catalog_name = "xai"


class VLLMClient(OpenAICompatibleClient):
    """A vLLM server (``vllm serve``); a key only if the server was started with ``--api-key``."""

    format = "vllm"
    default_base_url = "http://127.0.0.1:8000/v1"
    default_api_key_env = "VLLM_API_KEY"


class LMStudioClient(OpenAICompatibleClient):
    """LM Studio's local server."""

    format = "lmstudio"
    default_base_url = "http://127.0.0.1:1234/v1"
    default_api_key_env = "LMSTUDIO_API_KEY"
    catalog_name = "lmstudio"


class LlamaCppClient(OpenAICompatibleClient):
    """llama.cpp's ``llama-server``; a key only if it was started with ``--api-key``."""

    format = "llamacpp"
    default_base_url = "http://127.0.0.1:8080/v1"
    default_api_key_env = "LLAMA_API_KEY"


OPENAI_FORMATS = (OpenAIClient, OpenAICompatibleClient, DeepSeekClient, XAIClient, VLLMClient,
                  LMStudioClient, LlamaCppClient)
