"""Ollama ``GET /api/tags``, then ``POST /api/show`` per model when the tags lack capabilities.

Servers since v0.30 put ``capabilities`` and ``details.context_length`` in ``/api/tags``; older
ones need one ``/api/show`` per model (``model_info["<arch>.context_length"]``). The capability
list is complete (Ollama derives it from the model's template and files), so a capability it
does not name is stated as unsupported. No key locally; ollama.com takes a Bearer key.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from loguru import logger

from discovery.draft import ModelDraft
from discovery.model import Model
from discovery.providers.base import ProviderClient, dedupe
from discovery.providers.errors import ProviderHTTPError
from discovery.taxonomy import as_object, guess_family, guess_kind, positive_int

# Ollama capability → taxonomy capability.
CAPABILITY_MAP = {"tools": "tool_calling", "vision": "vision", "thinking": "reasoning"}
_DETAILS = ("format", "family", "families", "parameter_size", "quantization_level", "parent_model",
            "embedding_length")


def _context_length(details: Mapping[str, Any], model_info: Mapping[str, Any]) -> int | None:
    stated = positive_int(details.get("context_length"))
    if stated:
        return stated
    arch = model_info.get("general.architecture")
    if isinstance(arch, str):
        return positive_int(model_info.get(f"{arch}.context_length"))
    return None


class OllamaClient(ProviderClient):
    """An Ollama server's installed models (or ollama.com's with a key)."""

    format = "ollama"
    default_base_url = "http://127.0.0.1:11434"
    default_api_key_env = "OLLAMA_API_KEY"
    requires_key = False
    default_enabled = False
    catalog_name = "ollama"

    def fetch_models(self) -> list[Model]:
        """The tags, each completed by ``/api/show`` when the tags say nothing of capabilities."""
        rows = self.list_field(self.get_json("/api/tags"), "models")
        models = []
        # Each name is shown once: tags that repeat a name (thousands of times, say) made a call
        # for every repeat, though the first of an id is the one kept.
        shown: dict[str, Mapping[str, Any] | None] = {}
        for row in rows:
            show: Mapping[str, Any] = {}
            if not isinstance(row.get("capabilities"), list):
                name = row.get("model") or row.get("name")
                self.expect(isinstance(name, str) and name != "", "a model without a 'name'")
                if name not in shown:
                    try:
                        answer = self.request_json("POST", "/api/show", json_body={"model": name, "verbose": False})
                    except ProviderHTTPError as exc:
                        if exc.status != 404:
                            raise
                        # Deleted between the two calls (`ollama rm` while the tags were read):
                        # gone, not an error. If every model is gone so, the answer is empty and
                        # refused as one (unless allow_empty).
                        logger.info("ollama: {} is in /api/tags but /api/show no longer knows it; left out", name)
                        answer = None
                    self.expect(answer is None or isinstance(answer, Mapping), "/api/show did not answer with an object")
                    shown[name] = answer
                if shown[name] is None:
                    continue
                show = shown[name]
            models.append(self.normalized(self.normalize, row, show))
        return dedupe(models)

    def probe(self) -> None:
        """The tags alone (no per-model calls)."""
        self.list_field(self.get_json("/api/tags"), "models")

    def normalize(self, row: Mapping[str, Any], show: Mapping[str, Any] | None = None) -> Model:
        """One ``/api/tags`` row, plus its ``/api/show`` answer if one was needed → Model."""
        model_id = row.get("name") or row.get("model")
        self.expect(isinstance(model_id, str) and model_id != "", "a model without a 'name'")
        show = show or {}
        # Each part only where it is an object: another type says nothing about the model.
        details = {**as_object(show.get("details")), **as_object(row.get("details"))}
        model_info = show.get("model_info") if isinstance(show.get("model_info"), Mapping) else {}
        caps = row.get("capabilities") if isinstance(row.get("capabilities"), list) else show.get("capabilities")
        draft = ModelDraft(self.name, model_id, self.name)
        draft.set("family", details.get("family") or None)
        draft.set("limits.context_window", _context_length(details, model_info))
        if isinstance(caps, list):
            names = {c for c in caps if isinstance(c, str)}
            if "embedding" in names:
                draft.set("kind", "embedding")
            elif "completion" in names:
                draft.set("kind", "chat")
            elif "image" in names:
                draft.set("kind", "image")
            for capability, taxonomy in CAPABILITY_MAP.items():
                draft.set(f"capabilities.{taxonomy}", capability in names)
            if "completion" in names:
                inputs = ["text"] + (["image"] if "vision" in names else []) + (["audio"] if "audio" in names else [])
                draft.set("modalities.input", inputs)
                draft.set("modalities.output", ["text"])
        draft.guess("kind", guess_kind(model_id))
        draft.guess("family", guess_family(model_id))
        draft.guess("name", model_id)
        attributes: dict[str, Any] = {k: details[k] for k in _DETAILS
                                      if details.get(k) not in (None, "", []) and k != "family"}
        if isinstance(caps, list):
            attributes["capabilities"] = sorted(c for c in caps if isinstance(c, str))
        # The digest changes exactly when the model's files do (a re-pull), unlike modified_at.
        for key in ("digest", "size", "remote_model", "remote_host"):
            if row.get(key) not in (None, ""):
                attributes[key] = row[key]
        raw = dict(row)
        if show:
            raw["show"] = {k: v for k, v in show.items() if k not in ("modelfile", "template", "license", "tensors")}
        return draft.build(attributes=attributes, raw=raw)
