"""The canonical model record and the capability taxonomy it is expressed in.

Everything here is immutable: records travel between actors without copies.
Unknown is ``None``, never ``False``.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, fields, replace
from types import MappingProxyType
from typing import Any, Mapping, Optional

KINDS = ("chat", "completion", "embedding", "image", "audio", "rerank", "moderation", "other")
MODALITIES = ("text", "image", "audio", "video", "pdf", "embedding")
STATUSES = ("active", "preview", "legacy", "deprecated", "retired")
# A lifecycle move into one of these is announced as a `deprecated` event.
DEPRECATED_STATUSES = ("legacy", "deprecated", "retired")

def freeze(value: Any) -> Any:
    """Return a read-only copy of a JSON-like value (dicts become mapping proxies, lists tuples)."""
    # Concrete types first: isinstance against typing.Mapping is slow on hot paths.
    if isinstance(value, (dict, MappingProxyType)):
        return MappingProxyType({str(k): freeze(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(freeze(v) for v in value)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, Mapping):
        return MappingProxyType({str(k): freeze(v) for k, v in value.items()})
    return value


def thaw(value: Any) -> Any:
    """Return a plain JSON-serializable copy of a value made by :func:`freeze`."""
    if isinstance(value, (dict, MappingProxyType)):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [thaw(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class Capabilities:
    """What a model can do; each flag is True, False or None (unknown)."""

    streaming: Optional[bool] = None
    tool_calling: Optional[bool] = None
    parallel_tool_calls: Optional[bool] = None
    vision: Optional[bool] = None
    json_mode: Optional[bool] = None
    structured_output: Optional[bool] = None
    reasoning: Optional[bool] = None
    prompt_caching: Optional[bool] = None
    fine_tuning: Optional[bool] = None
    batch: Optional[bool] = None
    system_messages: Optional[bool] = None

    def supported(self) -> tuple[str, ...]:
        """Names of the capabilities known to be supported."""
        return tuple(name for name in _CAPABILITY_NAMES if getattr(self, name) is True)


CAPABILITIES: tuple[str, ...] = tuple(f.name for f in fields(Capabilities))
_CAPABILITY_NAMES = CAPABILITIES


@dataclass(frozen=True)
class Modalities:
    """Input and output modalities; ``None`` where the source does not say."""

    input: Optional[tuple[str, ...]] = None
    output: Optional[tuple[str, ...]] = None


@dataclass(frozen=True)
class Limits:
    """Token limits."""

    context_window: Optional[int] = None
    max_input_tokens: Optional[int] = None
    max_output_tokens: Optional[int] = None


@dataclass(frozen=True)
class Pricing:
    """Prices in USD per million tokens."""

    input: Optional[float] = None
    output: Optional[float] = None
    cache_read: Optional[float] = None
    cache_write: Optional[float] = None


@dataclass(frozen=True)
class Lifecycle:
    """Lifecycle status and dates (ISO 8601 dates as strings)."""

    status: Optional[str] = None
    release_date: Optional[str] = None
    deprecation_date: Optional[str] = None
    knowledge_cutoff: Optional[str] = None


# Sub-records in the order they appear in the JSON form; used by diff, provenance and merging.
SECTIONS: dict[str, type] = {
    "modalities": Modalities,
    "capabilities": Capabilities,
    "limits": Limits,
    "pricing": Pricing,
    "lifecycle": Lifecycle,
}
_SECTION_FIELDS: dict[str, tuple[str, ...]] = {}  # filled below, once the classes exist
# Top-level fields that describe the model (as opposed to bookkeeping such as raw or provenance).
SCALAR_FIELDS = ("name", "family", "kind", "open_weights", "regions")


@dataclass(frozen=True)
class Model:
    """One model at one provider, in the service's own taxonomy.

    ``id`` is ``<provider>/<provider_model_id>``. ``source`` names the configured source
    that reported it; ``live`` is False for a model known only from a catalog
    (models.dev, LiteLLM) and not from the provider's own live list.
    ``provenance`` maps a field path (``limits.context_window``) to the source it came from.
    """

    provider: str
    provider_model_id: str
    name: Optional[str] = None
    family: Optional[str] = None
    kind: Optional[str] = None
    modalities: Modalities = field(default_factory=Modalities)
    capabilities: Capabilities = field(default_factory=Capabilities)
    limits: Limits = field(default_factory=Limits)
    pricing: Pricing = field(default_factory=Pricing)
    lifecycle: Lifecycle = field(default_factory=Lifecycle)
    open_weights: Optional[bool] = None
    regions: Optional[tuple[str, ...]] = None
    attributes: Mapping[str, Any] = field(default_factory=dict)
    raw: Mapping[str, Any] = field(default_factory=dict)
    source: Optional[str] = None
    live: bool = True
    provenance: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Accept plain dicts/lists from callers and make them read-only here, once.
        if not isinstance(self.attributes, MappingProxyType):
            object.__setattr__(self, "attributes", freeze(self.attributes or {}))
        if not isinstance(self.raw, MappingProxyType):
            object.__setattr__(self, "raw", freeze(self.raw or {}))
        if not isinstance(self.provenance, MappingProxyType):
            object.__setattr__(self, "provenance", MappingProxyType(dict(self.provenance or {})))
        if self.regions is not None and not isinstance(self.regions, tuple):
            object.__setattr__(self, "regions", tuple(self.regions))
        if self.kind is not None and self.kind not in KINDS:
            raise ValueError(f"unknown model kind {self.kind!r}; expected one of {', '.join(KINDS)}")
        if self.lifecycle.status is not None and self.lifecycle.status not in STATUSES:
            raise ValueError(f"unknown lifecycle status {self.lifecycle.status!r}")

    @property
    def id(self) -> str:
        """The canonical id, ``<provider>/<provider model id>``."""
        return f"{self.provider}/{self.provider_model_id}"

    def evolve(self, **changes: Any) -> "Model":
        """Return a copy with some fields replaced."""
        return replace(self, **changes)

    def to_dict(self, *, raw: bool = True, provenance: bool = True) -> dict[str, Any]:
        """The JSON form of the record (the shape the HTTP API returns); a fresh dict each call."""
        full = self._full_dict()
        out = dict(full)
        if not provenance:
            del out["provenance"]
        if not raw:
            del out["raw"]
        return out

    def _full_dict(self) -> dict[str, Any]:
        # Computed once per record (records are immutable); callers get shallow copies.
        cached = self.__dict__.get("_dict")
        if cached is not None:
            return cached
        out: dict[str, Any] = {
            "id": self.id,
            "provider": self.provider,
            "provider_model_id": self.provider_model_id,
            "name": self.name,
            "family": self.family,
            "kind": self.kind,
        }
        for section, names in _SECTION_FIELDS.items():
            sub = getattr(self, section)
            out[section] = {n: (list(v) if isinstance(v, tuple) else v)
                            for n in names for v in (getattr(sub, n),)}
        out["open_weights"] = self.open_weights
        out["regions"] = list(self.regions) if self.regions is not None else None
        out["attributes"] = thaw(self.attributes)
        out["source"] = self.source
        out["live"] = self.live
        out["provenance"] = dict(self.provenance)
        out["raw"] = thaw(self.raw)
        object.__setattr__(self, "_dict", out)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Model":
        """Rebuild a record from :meth:`to_dict` output."""
        kwargs: dict[str, Any] = {
            "provider": data["provider"],
            "provider_model_id": data["provider_model_id"],
        }
        for name in ("name", "family", "kind", "open_weights", "source"):
            kwargs[name] = data.get(name)
        for section, klass in SECTIONS.items():
            sub = dict(data.get(section) or {})
            if section == "modalities":
                sub = {k: (tuple(v) if v is not None else None) for k, v in sub.items()}
            kwargs[section] = klass(**sub)
        regions = data.get("regions")
        kwargs["regions"] = tuple(regions) if regions is not None else None
        kwargs["attributes"] = data.get("attributes") or {}
        kwargs["raw"] = data.get("raw") or {}
        kwargs["live"] = bool(data.get("live", True))
        kwargs["provenance"] = data.get("provenance") or {}
        return cls(**kwargs)

    def json_text(self) -> str:
        """The full JSON form as text, serialized once per record (what the store writes)."""
        cached = self.__dict__.get("_json")
        if cached is None:
            cached = json.dumps(self._full_dict(), sort_keys=True, separators=(",", ":"), default=str)
            object.__setattr__(self, "_json", cached)
        return cached

    def content(self) -> dict[str, Any]:
        """The part of the record that changes mean something: no raw answer, no provenance."""
        out = self.to_dict(raw=False, provenance=False)
        del out["source"]
        return out

    def content_hash(self) -> str:
        """A stable hash of :meth:`content`; equal hashes mean no change worth recording."""
        cached = self.__dict__.get("_hash")
        if cached is None:
            blob = json.dumps(self.content(), sort_keys=True, separators=(",", ":"), default=str)
            cached = hashlib.sha256(blob.encode()).hexdigest()[:32]
            # Frozen dataclass: memoize outside the fields (not part of eq or repr).
            object.__setattr__(self, "_hash", cached)
        return cached


_SECTION_FIELDS.update({name: tuple(f.name for f in fields(klass)) for name, klass in SECTIONS.items()})


def split_model_id(model_id: str) -> tuple[str, str]:
    """Split a canonical id into (provider, provider model id); raise ValueError if it has no '/'."""
    provider, sep, rest = model_id.partition("/")
    if not sep or not provider or not rest:
        raise ValueError(f"model id {model_id!r} is not of the form <provider>/<model>")
    return provider, rest
