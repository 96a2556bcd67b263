"""models.dev ``api.json``: one object keyed by provider id, each with its ``models``.

A catalog, not a live API: its models are marked ``live=False`` and its fields enrich the live
lists. Fields the taxonomy has no place for are kept in ``attributes`` so that every change of a
record is a change of the model's content.
"""
from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any, Optional

import msgspec

from discovery.draft import HEURISTIC
from discovery.model import Capabilities, Lifecycle, Limits, Modalities, Model, Pricing
from discovery.providers.base import ProviderClient, dedupe
from discovery.taxonomy import as_object, guess_kind, normalize_modalities


class _Provider(msgspec.Struct):
    """A provider of the document as read in one pass: its models' raw spans by id (its other
    members are skipped, not kept)."""

    models: dict[str, msgspec.Raw]


# The whole document down to each model's span in one pass over the body; reading it a level at
# a time scanned every model's bytes three times (14 ms against 5.5 ms for a 3 MB document).
_DOCUMENT = msgspec.json.Decoder(dict[str, _Provider])

# models.dev provider ids that this service names differently.
PROVIDER_NAMES: dict[str, str] = {
    "google": "gemini",
    "amazon-bedrock": "bedrock",
    "togetherai": "together",
    "mistral": "mistral",
    "azure": "azure",
    "xai": "xai",
    "ollama-cloud": "ollama",
}

STATUS_MAP = {"alpha": "preview", "beta": "preview", "deprecated": "deprecated"}
_MAPPED_KEYS = {"id", "name", "family", "modalities", "limit", "cost", "tool_call", "reasoning",
                "structured_output", "status", "release_date", "knowledge", "open_weights"}


def _positive_int(value: Any) -> Optional[int]:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    # A finite float only: int(inf) raised OverflowError out of the refresh for a "context": 1e400.
    if isinstance(value, float) and value > 0 and math.isfinite(value):
        return int(value)
    return None


def _price(value: Any) -> Optional[float]:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        price = float(value)
    except OverflowError:  # an integer past 1e308: out of every range
        return None
    return price if price >= 0 and math.isfinite(price) else None


def _bool(value: Any) -> Optional[bool]:
    return value if isinstance(value, bool) else None


def _str(value: Any) -> Optional[str]:
    return value if isinstance(value, str) and value else None


def _kind(model_id: str, inputs: Optional[tuple], outputs: Optional[tuple]) -> str:
    guessed = guess_kind(model_id)
    if guessed in ("embedding", "rerank", "moderation"):
        return guessed
    if outputs and "text" not in outputs:
        if "video" in outputs:
            return "video"
        if "image" in outputs:
            return "image"
        if "audio" in outputs:
            return "audio"
        if "embedding" in outputs:
            return "embedding"
    return guessed or "chat"


def normalize_record(provider: str, record: Mapping[str, Any], source: str) -> Model:
    """One models.dev model record → Model (catalog entry)."""
    model_id = record["id"]
    modalities = as_object(record.get("modalities"))
    inputs = normalize_modalities(modalities.get("input")) if "input" in modalities else None
    outputs = normalize_modalities(modalities.get("output")) if "output" in modalities else None
    limit = as_object(record.get("limit"))
    cost = as_object(record.get("cost"))
    vision = ("image" in inputs) if inputs is not None else None
    status = record.get("status") if isinstance(record.get("status"), str) else None
    attributes: dict[str, Any] = {k: v for k, v in record.items() if k not in _MAPPED_KEYS}
    extra_cost = {k: v for k, v in cost.items() if k not in ("input", "output", "cache_read", "cache_write")}
    if extra_cost:
        attributes["cost_extra"] = extra_cost
    if "input" in limit:
        attributes["limit_input"] = limit["input"]
    return Model(
        provider=provider,
        provider_model_id=model_id,
        name=_str(record.get("name")) or model_id,
        family=_str(record.get("family")),
        kind=_kind(model_id, inputs, outputs),
        modalities=Modalities(input=inputs, output=outputs),
        capabilities=Capabilities(
            tool_calling=_bool(record.get("tool_call")),
            reasoning=_bool(record.get("reasoning")),
            structured_output=_bool(record.get("structured_output")),
            vision=vision,
            prompt_caching=(True if _price(cost.get("cache_read")) else None),
        ),
        limits=Limits(
            context_window=_positive_int(limit.get("context")),
            max_input_tokens=_positive_int(limit.get("input")),
            max_output_tokens=_positive_int(limit.get("output")),
        ),
        pricing=Pricing(
            input=_price(cost.get("input")),
            output=_price(cost.get("output")),
            cache_read=_price(cost.get("cache_read")),
            cache_write=_price(cost.get("cache_write")),
        ),
        lifecycle=Lifecycle(
            # models.dev gives a status only to alpha, beta and deprecated models: no status is
            # taken as active, but as a guess (HEURISTIC), which any source that states one
            # overrides (LiteLLM's deprecated, a provider's own).
            status=STATUS_MAP.get(status, "active") if status is not None or record else None,
            release_date=record.get("release_date"),
            knowledge_cutoff=record.get("knowledge"),
        ),
        open_weights=_bool(record.get("open_weights")),
        attributes=attributes,
        raw=record,
        source=source,
        live=False,
        provenance={"lifecycle.status": HEURISTIC} if status is None and record else {},
    )


_SHAPE = "api.json must be an object keyed by provider id"


class ModelsDevClient(ProviderClient):
    """The models.dev catalog. Options: ``providers`` (models.dev ids to keep; default all),
    ``provider_names`` (models.dev id → name used in model ids)."""

    options = {**ProviderClient.options, "providers": list, "provider_names": dict}

    format = "modelsdev"
    default_base_url = "https://models.dev"
    default_api_key_env = None
    requires_key = False
    is_catalog = True

    def fetch_models(self) -> list[Model]:
        """The document read as raw spans down to each model's record: a record is parsed and
        normalized only when its span (with its provider and id) is new (see normalized_span)."""
        body, status = self.request_body("GET", "/api.json")
        models: list[Model] = []
        for provider_id, name, members in self._model_spans(body, status):
            ids = list(members)
            models += self.normalized_spans(self._record_entry, list(members.values()),
                                            [(name, model_id) for model_id in ids],
                                            lambda i, p=provider_id, ids=ids: f"model {p}/{ids[i]} is not an object")
        return dedupe(models)

    def _model_spans(self, body: bytes, status: int) -> Iterator[tuple[str, str, Mapping[str, Any]]]:
        """(models.dev id, the name used in model ids, its models' spans by id) of each kept provider.

        A well-formed document is read in one pass (_DOCUMENT); any other is read a level at a
        time, which names what is wrong (and reads what only the standard library reads).
        """
        try:
            document = _DOCUMENT.decode(body)
        except msgspec.MsgspecError:
            document = None
        if document is not None:
            for provider_id, name, provider in self._kept(document):
                yield provider_id, name, provider.models
            return
        for provider_id, name, provider in self._kept(self.decode_spans(body, status, _SHAPE)):
            missing = f"provider {provider_id!r} has no 'models' object"
            members = self.span_map(provider, missing).get("models")
            self.expect(members is not None, missing)
            yield provider_id, name, self.span_map(members, missing)

    def _kept(self, providers: Mapping[str, Any]) -> Iterator[tuple[str, str, Any]]:
        """(models.dev id, the name used in model ids, its member) of each provider the options keep."""
        wanted = self.config.options.get("providers")
        names = {**PROVIDER_NAMES, **dict(self.config.options.get("provider_names") or {})}
        for provider_id, provider in providers.items():
            if not wanted or provider_id in wanted:
                yield provider_id, names.get(provider_id, provider_id), provider

    def _record_entry(self, record: Mapping[str, Any], name: str, model_id: str) -> Model:
        return self._entry(name, model_id, record)

    def normalize(self, body: Any) -> list[Model]:
        """The whole api.json document → Models (catalog entries)."""
        self.expect(isinstance(body, Mapping), _SHAPE)
        out: dict[str, Model] = {}
        for provider_id, name, provider in self._kept(body):
            self.expect(isinstance(provider, Mapping) and isinstance(provider.get("models"), Mapping),
                        f"provider {provider_id!r} has no 'models' object")
            for model_id, record in provider["models"].items():
                self.expect(isinstance(record, Mapping), f"model {provider_id}/{model_id} is not an object")
                model = self.normalized(self._entry, name, model_id, record)
                out.setdefault(model.id, model)
        return list(out.values())

    def _entry(self, name: str, model_id: str, record: Mapping[str, Any]) -> Model:
        record = dict(record)
        if not _str(record.get("id")):  # the key names the model when the record's own id does not
            record["id"] = model_id
        return normalize_record(name, record, self.name)
