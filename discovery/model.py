"""The canonical model record and the capability taxonomy it is expressed in.

Everything here is immutable: records travel between actors without copies.
Unknown is ``None``, never ``False``.

A record is held compactly because the catalog keeps tens of thousands of them: the classes use
slots, equal sub-records (capabilities, limits...) and equal provenance maps are shared between
records, and the provider's raw answer is kept as its JSON bytes (:class:`RawAnswer`), decoded
only when someone reads it. The list form of a record (:meth:`Model.body`) is encoded once.
"""
from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields, replace
from types import MappingProxyType
from typing import Any, Optional

import orjson

KINDS = ("chat", "completion", "embedding", "image", "video", "audio", "rerank", "moderation", "other")
# What a kind filter calls a model no source gave a kind (the metrics' label for it too).
UNKNOWN_KIND = "unknown"
MODALITIES = ("text", "image", "audio", "video", "pdf", "embedding")
STATUSES = ("active", "preview", "legacy", "deprecated", "retired")
# A lifecycle move into one of these is announced as a `deprecated` event.
DEPRECATED_STATUSES = ("legacy", "deprecated", "retired")


class FrozenDict(dict):
    """A dict that refuses changes: read-only like a mapping proxy, and encoded natively by orjson."""

    __slots__ = ()

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("this mapping is read-only")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = _refuse  # type: ignore[assignment]
    __ior__ = _refuse  # type: ignore[assignment]

    def __reduce__(self):
        return (FrozenDict, (dict(self),))

    def __copy__(self) -> "FrozenDict":
        return self

    def __deepcopy__(self, memo: Any) -> "FrozenDict":
        return self


class FrozenList(list):
    """A list that refuses changes: equal to the list it was made from, and encoded natively by
    orjson (for data handed out where a tuple would compare unequal to what callers expect)."""

    __slots__ = ()

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("this list is read-only")

    __setitem__ = __delitem__ = __iadd__ = __imul__ = _refuse  # type: ignore[assignment]
    append = extend = insert = pop = remove = clear = sort = reverse = _refuse  # type: ignore[assignment]

    def __reduce__(self):
        return (FrozenList, (list(self),))

    def __copy__(self) -> "FrozenList":
        return self

    def __deepcopy__(self, memo: Any) -> "FrozenList":
        return self


def seal(value: Any) -> Any:
    """A read-only copy of a JSON-like value that compares equal to it (dicts become FrozenDicts,
    lists FrozenLists; tuples and other read-only values are kept): for data several readers share."""
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, dict):
        return FrozenDict({k: seal(v) for k, v in value.items()})
    if isinstance(value, list):
        return FrozenList(seal(v) for v in value)
    if isinstance(value, tuple):
        return tuple(seal(v) for v in value)
    return value


def freeze(value: Any) -> Any:
    """Return a read-only copy of a JSON-like value (dicts become FrozenDicts, lists tuples)."""
    # Concrete types first: isinstance against typing.Mapping is slow on hot paths.
    if isinstance(value, (str, int, float, bool)) or value is None or type(value) is FrozenDict:
        return value
    if isinstance(value, (dict, MappingProxyType)):
        return FrozenDict({str(k): freeze(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(freeze(v) for v in value)
    if isinstance(value, Mapping):
        return FrozenDict({str(k): freeze(v) for k, v in value.items()})
    return value


def thaw(value: Any) -> Any:
    """Return a plain JSON-serializable copy of a value made by :func:`freeze`."""
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (dict, MappingProxyType)):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [thaw(v) for v in value]
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, FrozenJSON):
        return orjson.Fragment(value.json)
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    return str(value)


def dumps(value: Any, *, sort_keys: bool = False) -> bytes:
    """JSON bytes of ``value`` (mapping proxies and tuples included), compact.

    orjson does the work; integers beyond 64 bits (which orjson refuses) fall back to the
    standard library, so no answer a provider can send makes encoding fail.
    """
    try:
        out = orjson.dumps(value, default=_json_default, option=orjson.OPT_SORT_KEYS if sort_keys else 0)
        # orjson's result keeps a buffer of at least 4 KiB behind it; a copy is its own size, and
        # these bytes are kept for as long as the record lives.
        return bytes(memoryview(out)) if len(out) < 3072 else out
    except (orjson.JSONEncodeError, TypeError):
        return json.dumps(thaw(value), sort_keys=sort_keys, separators=(",", ":"), default=str,
                          ensure_ascii=False).encode()


# Python refuses to make an int of more digits than this from text (sys.get_int_max_str_digits).
_MAX_INT_DIGITS = 4000


def _json_int(text: str) -> int | float:
    """A JSON integer; one too long for Python to read as an int is read as a float (±inf): a
    number far out of any range, as a 1e400 is, rather than a ValueError for valid JSON."""
    return int(text) if len(text) <= _MAX_INT_DIGITS else float(text)


def loads(data: bytes | str) -> Any:
    """Decode JSON text or bytes (orjson, with the standard library for what orjson refuses:
    NaN, integers beyond 64 bits, and beyond 4,000 digits, which become ±inf)."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data, parse_int=_json_int)


class FrozenJSON(Mapping):
    """A JSON object kept as its bytes and decoded on each read (a read-only mapping).

    Used for a provider's raw answer (``raw["id"]``, ``"created" in raw``) and for the records
    events carry: a few hundred bytes instead of a tree of dicts; :attr:`json` is what is
    written, and :func:`dumps` embeds it without decoding.
    """

    __slots__ = ("json",)

    def __init__(self, data: bytes = b"{}"):
        object.__setattr__(self, "json", bytes(data))

    @classmethod
    def of(cls, value: Any) -> "FrozenJSON":
        """``value`` as a FrozenJSON: kept if it is one, encoded once if it is a mapping."""
        if isinstance(value, FrozenJSON):
            return value
        if not value:
            return EMPTY_RAW
        return cls(dumps(value))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("FrozenJSON is read-only")

    def _value(self) -> Mapping[str, Any]:
        value = loads(self.json)
        return freeze(value) if isinstance(value, dict) else FrozenDict()

    def __getitem__(self, key: str) -> Any:
        return self._value()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._value())

    def __len__(self) -> int:
        return 0 if self.json == b"{}" else len(self._value())

    def __bool__(self) -> bool:
        return self.json != b"{}"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FrozenJSON):
            return self.json == other.json
        if isinstance(other, Mapping):
            return thaw(self._value()) == thaw(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.json)

    def __repr__(self) -> str:
        return f"FrozenJSON({self.json[:60]!r}{'...' if len(self.json) > 60 else ''})"


# A provider's own answer for one model.
RawAnswer = FrozenJSON


class RecordJSON(FrozenJSON):
    """A record's JSON (list form and provenance) joined on demand from what the catalog already
    holds, so an event carrying a record costs a few references, not a copy of the record.

    ``body`` is the list form, or an object whose ``body`` attribute gives it (a catalog entry,
    which keeps it deflated).
    """

    __slots__ = ("_body", "_provenance")

    def __init__(self, body: Any, provenance: "Provenance"):
        object.__setattr__(self, "_body", body)
        object.__setattr__(self, "_provenance", provenance)

    @property  # type: ignore[override]
    def json(self) -> bytes:  # type: ignore[override]
        body = self._body if isinstance(self._body, bytes) else self._body.body
        return join_record(body, self._provenance.json(), None)

    def __len__(self) -> int:
        return len(self._value())

    def __bool__(self) -> bool:
        return True

    def __hash__(self) -> int:
        return hash(self.json)
EMPTY_RAW = RawAnswer(b"{}")

# Equal sub-records and provenance maps are shared between records (most models have one of a
# few hundred capability sets and provenance maps). The tables are bounded: when one fills up
# it starts again, which only costs sharing, never correctness.
_SHARED_LIMIT = 200_000
_shared: dict[Any, Any] = {}


def share(value: Any) -> Any:
    """The one stored instance equal to ``value`` (hashable values only)."""
    try:
        found = _shared.get(value)
    except TypeError:
        return value
    if found is not None:
        return found
    if len(_shared) >= _SHARED_LIMIT:
        _shared.clear()
    _shared[value] = value
    return value


class Provenance(Mapping):
    """A read-only, hashable map from field path to the source that stated it (shared)."""

    __slots__ = ("_items", "_map", "_hash", "_json")

    def __init__(self, items: Mapping[str, str] | None = None):
        mapping = dict(items or {})
        object.__setattr__(self, "_map", mapping)
        object.__setattr__(self, "_items", tuple(sorted(mapping.items())))
        object.__setattr__(self, "_hash", hash(self._items))
        object.__setattr__(self, "_json", None)

    def json(self) -> bytes:
        """The map as JSON bytes (encoded once; provenance maps are shared between records)."""
        if self._json is None:
            object.__setattr__(self, "_json", dumps(self._map))
        return self._json  # type: ignore[return-value]

    @classmethod
    def of(cls, value: Mapping[str, str] | None) -> "Provenance":
        """A shared Provenance equal to ``value``."""
        if isinstance(value, Provenance):
            return value
        return share(cls(value))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Provenance is read-only")

    def __getitem__(self, key: str) -> str:
        return self._map[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self._map.get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self._map

    def __iter__(self) -> Iterator[str]:
        return iter(self._map)

    def items(self):  # type: ignore[override]
        # The dict's own view: Mapping's would look every key up again, in Python.
        return self._map.items()

    def keys(self):  # type: ignore[override]
        return self._map.keys()

    def values(self):  # type: ignore[override]
        return self._map.values()

    def __len__(self) -> int:
        return len(self._map)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Provenance):
            return self._hash == other._hash and self._items == other._items
        if isinstance(other, Mapping):
            return self._map == dict(other)
        return NotImplemented

    def __hash__(self) -> int:
        return self._hash

    def __repr__(self) -> str:
        return f"Provenance({self._map!r})"


@dataclass(frozen=True, slots=True)
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
        found = _SUPPORTED.get(self)
        if found is None:
            found = tuple(name for name in _CAPABILITY_NAMES if getattr(self, name) is True)
            if len(_SUPPORTED) < 4096:
                _SUPPORTED[self] = found
        return found


CAPABILITIES: tuple[str, ...] = tuple(f.name for f in fields(Capabilities))
_SUPPORTED: dict[Capabilities, tuple[str, ...]] = {}
_CAPABILITY_NAMES = CAPABILITIES


@dataclass(frozen=True, slots=True)
class Modalities:
    """Input and output modalities; ``None`` where the source does not say."""

    input: Optional[tuple[str, ...]] = None
    output: Optional[tuple[str, ...]] = None


@dataclass(frozen=True, slots=True)
class Limits:
    """Token limits."""

    context_window: Optional[int] = None
    max_input_tokens: Optional[int] = None
    max_output_tokens: Optional[int] = None


@dataclass(frozen=True, slots=True)
class Pricing:
    """Prices in USD per million tokens."""

    input: Optional[float] = None
    output: Optional[float] = None
    cache_read: Optional[float] = None
    cache_write: Optional[float] = None


@dataclass(frozen=True, slots=True)
class Lifecycle:
    """Lifecycle status and dates (ISO 8601 dates as strings).

    ``deprecation_date``: from when the provider discourages the model (legacy, deprecated);
    ``retirement_date``: from when it no longer answers; ``successor``: the model the provider
    names to use instead (its own id).
    """

    status: Optional[str] = None
    release_date: Optional[str] = None
    deprecation_date: Optional[str] = None
    knowledge_cutoff: Optional[str] = None
    retirement_date: Optional[str] = None
    successor: Optional[str] = None


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
_EMPTY_SECTIONS = {name: klass() for name, klass in SECTIONS.items()}
_EMPTY_ATTRIBUTES = FrozenDict()


def _section(value: Any, name: str) -> Any:
    if value is None:
        return _EMPTY_SECTIONS[name]
    if name == "modalities":
        if isinstance(value.input, list) or isinstance(value.output, list):
            value = Modalities(tuple(value.input) if value.input is not None else None,
                               tuple(value.output) if value.output is not None else None)
    elif name == "pricing":
        # Shared instances compare equal across int and float: store one type per field.
        if any(type(v) is int for v in (value.input, value.output, value.cache_read, value.cache_write)):
            value = Pricing(*(float(v) if type(v) is int else v
                              for v in (value.input, value.output, value.cache_read, value.cache_write)))
    elif name == "limits":
        if any(type(v) is float for v in (value.context_window, value.max_input_tokens, value.max_output_tokens)):
            value = Limits(*(int(v) if type(v) is float and v.is_integer() else v
                             for v in (value.context_window, value.max_input_tokens, value.max_output_tokens)))
    return share(value)


@dataclass(frozen=True, slots=True)
class Model:
    """One model at one provider, in the service's own taxonomy.

    ``id`` is ``<provider>/<provider_model_id>``. ``source`` names the configured source
    that reported it; ``live`` is False for a model known only from a catalog
    (models.dev, LiteLLM) and not from the provider's own live list.
    ``provenance`` maps a field path (``limits.context_window``) to the source it came from.
    ``raw`` is the provider's own answer (a read-only mapping over its JSON bytes).
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
    raw: Mapping[str, Any] = field(default=EMPTY_RAW)
    source: Optional[str] = None
    live: bool = True
    provenance: Mapping[str, str] = field(default_factory=dict)
    # Memoized encodings (records are immutable); not part of equality.
    _body: Optional[bytes] = field(default=None, init=False, repr=False, compare=False)
    _hash: Optional[str] = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Accept plain dicts/lists from callers and make them read-only (and shared) here, once.
        setter = object.__setattr__
        # Few distinct values, held by every record: one string each.
        setter(self, "provider", sys.intern(self.provider))
        if self.source is not None:
            setter(self, "source", sys.intern(self.source))
        for name in SECTIONS:
            setter(self, name, _section(getattr(self, name), name))
        attributes = self.attributes
        if type(attributes) is not FrozenDict:
            setter(self, "attributes", freeze(attributes) if attributes else _EMPTY_ATTRIBUTES)
        if not isinstance(self.raw, RawAnswer):
            setter(self, "raw", RawAnswer.of(self.raw))
        if not isinstance(self.provenance, Provenance):
            setter(self, "provenance", Provenance.of(self.provenance))
        if self.regions is not None and not isinstance(self.regions, tuple):
            setter(self, "regions", tuple(self.regions))
        if self.kind is not None and self.kind not in KINDS:
            raise ValueError(f"unknown model kind {self.kind!r}; expected one of {', '.join(KINDS)}")
        if self.lifecycle.status is not None and self.lifecycle.status not in STATUSES:
            raise ValueError(f"unknown lifecycle status {self.lifecycle.status!r}")

    @property
    def id(self) -> str:
        """The canonical id, ``<provider>/<provider model id>``."""
        return f"{self.provider}/{self.provider_model_id}"

    @property
    def aliases(self) -> tuple[str, ...]:
        """Other ids the provider answers to for this model (``attributes["aliases"]``)."""
        found = self.attributes.get("aliases") or ()
        return tuple(a for a in found if isinstance(a, str))

    def model(self) -> "Model":
        """The record itself (a packed record unpacks to one)."""
        return self

    def evolve(self, **changes: Any) -> "Model":
        """Return a copy with some fields replaced."""
        return replace(self, **changes)

    def _clone(self, **changes: Any) -> "Model":
        """A copy with already-normalized values replaced (no validation; memos dropped)."""
        out = object.__new__(Model)
        setter = object.__setattr__
        for name in _MODEL_SLOTS:
            setter(out, name, getattr(self, name))
        for name, value in changes.items():
            setter(out, name, value)
        return out

    def without_raw(self) -> "Model":
        """The same record without the provider's raw answer (what the catalog keeps in memory)."""
        if self.raw is EMPTY_RAW:
            return self
        # The list form and the content hash do not depend on raw: they are kept.
        return self._clone(raw=EMPTY_RAW, _body=self._body, _hash=self._hash)

    def with_provenance_of(self, provenance: Mapping[str, str]) -> "Model":
        """The same record with another provenance map (the content and its encodings are kept)."""
        return self._clone(provenance=Provenance.of(provenance), _body=self._body, _hash=self._hash)

    # -- encodings -------------------------------------------------------------------------------
    def _content_dict(self, *, source: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "provider": self.provider,
            "provider_model_id": self.provider_model_id,
            "name": self.name,
            "family": self.family,
            "kind": self.kind,
            "modalities": self.modalities,
            "capabilities": self.capabilities,
            "limits": self.limits,
            "pricing": self.pricing,
            "lifecycle": self.lifecycle,
            "open_weights": self.open_weights,
            "regions": self.regions,
            "attributes": self.attributes,
        }
        if source:
            out["source"] = self.source
        out["live"] = self.live
        return out

    def body(self) -> bytes:
        """The list form as JSON bytes (no raw answer, no provenance), encoded once per record."""
        cached = self._body
        if cached is None:
            cached = dumps(self._content_dict())
            object.__setattr__(self, "_body", cached)
        return cached

    def encode_body(self) -> bytes:
        """The list form as JSON bytes, without keeping it on the record (unless it already is)."""
        return self._body if self._body is not None else dumps(self._content_dict())

    def to_dict(self, *, raw: bool = True, provenance: bool = True) -> dict[str, Any]:
        """The JSON form of the record (the shape the HTTP API returns); a fresh dict each call."""
        out = loads(self.body())
        if provenance:
            out["provenance"] = dict(self.provenance)
        if raw:
            out["raw"] = loads(self.raw.json)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, raw: Any = None) -> "Model":
        """Rebuild a record from :meth:`to_dict` output (``raw``: JSON bytes or a mapping, if apart)."""
        kwargs: dict[str, Any] = {
            "provider": data["provider"],
            "provider_model_id": data["provider_model_id"],
            "name": data.get("name"),
            "family": data.get("family"),
            "kind": data.get("kind"),
            "open_weights": data.get("open_weights"),
            "source": data.get("source"),
        }
        for section, klass in SECTIONS.items():
            sub = data.get(section)
            if not sub:
                continue
            if section == "modalities":
                sub = {k: (tuple(v) if v is not None else None) for k, v in sub.items()}
            kwargs[section] = klass(**sub)
        regions = data.get("regions")
        kwargs["regions"] = tuple(regions) if regions is not None else None
        kwargs["attributes"] = data.get("attributes") or {}
        if raw is None:
            raw = data.get("raw") or EMPTY_RAW
        kwargs["raw"] = RawAnswer(raw) if isinstance(raw, (bytes, bytearray)) else raw
        kwargs["live"] = bool(data.get("live", True))
        kwargs["provenance"] = data.get("provenance") or {}
        return cls(**kwargs)

    def json_text(self) -> str:
        """The full JSON form as text: the list form plus provenance and raw (what history stores)."""
        return self.full_json().decode()

    def full_json(self, provenance: Optional[bytes] = None, raw: Optional[bytes] | bool = True) -> bytes:
        """The full JSON form as bytes, joined from pre-encoded parts (no re-encoding of the body).

        ``raw``: True for the record's own raw answer, bytes for another, None to leave it out.
        """
        prov = provenance if provenance is not None else self.provenance.json()  # type: ignore[attr-defined]
        return join_record(self.body(), prov, self.raw.json if raw is True else raw or None)

    def content(self) -> dict[str, Any]:
        """The part of the record that changes mean something: no raw, no provenance, no source."""
        out = self.to_dict(raw=False, provenance=False)
        del out["source"]
        return out

    def content_hash(self) -> str:
        """A stable hash of :meth:`content`; equal hashes mean no change worth recording.

        A field the taxonomy gains changes every hash; the catalog then finds no field that
        differs and corrects the stored hash without a new version (CatalogState._commit).
        """
        cached = self._hash
        if cached is None:
            blob = dumps(self._content_dict(source=False), sort_keys=True)
            cached = hashlib.blake2b(blob, digest_size=16).hexdigest()
            object.__setattr__(self, "_hash", cached)
        return cached


_SECTION_FIELDS.update({name: tuple(f.name for f in fields(klass)) for name, klass in SECTIONS.items()})
_MODEL_SLOTS = tuple(f.name for f in fields(Model))


def join_record(body: bytes, provenance: Optional[bytes], raw: Optional[bytes]) -> bytes:
    """A record's JSON from its list form, its provenance and its raw answer, all pre-encoded."""
    parts = [body[:-1]]
    if provenance is not None:
        parts.append(b',"provenance":' + provenance)
    if raw is not None:
        parts.append(b',"raw":' + raw)
    parts.append(b"}")
    return b"".join(parts)


def split_model_id(model_id: str) -> tuple[str, str]:
    """Split a canonical id into (provider, provider model id); raise ValueError if it has no '/'."""
    provider, sep, rest = model_id.partition("/")
    if not sep or not provider or not rest:
        raise ValueError(f"model id {model_id!r} is not of the form <provider>/<model>")
    return provider, rest
