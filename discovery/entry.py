"""The compact in-memory form of a published model: what queries filter and sort on, plus its JSON.

A :class:`CatalogEntry` is made once per model version and never changes. Its ``body`` is the
model's list form, encoded once; a list response is a join of bodies. The provider's raw answer is
not here: it lives in the store and is read on demand.

Bodies are kept deflated against a preset dictionary holding the record's skeleton (every key
and the usual nulls): about 170 bytes instead of about 1,000, and 2-3 microseconds to inflate,
so a page of 100 costs a fraction of a millisecond more and the catalog a fifth of the memory.
"""
from __future__ import annotations

import sys
import zlib
from collections.abc import Mapping
from typing import Any, Optional

from discovery.bedrock import PROVIDER as BEDROCK
from discovery.bedrock import region_of
from discovery.model import CAPABILITIES, UNKNOWN_KIND, Model, Provenance, loads, share

# Facets a query can select on; each names a bitset in the index.
CAPABILITY_FACET = {c: f"cap:{c}" for c in CAPABILITIES}
SORT_FIELDS = ("id", "name", "provider", "context_window", "max_output_tokens", "input_price",
               "output_price", "release_date")


def trace_hash(trace_json: bytes) -> int:
    """A stable hash of a traced provenance's JSON (to see whether it changed)."""
    return zlib.crc32(trace_json) or 1


def facet_input(modality: str) -> str:
    return f"in:{modality}"


def facet_output(modality: str) -> str:
    return f"out:{modality}"


def facet_kind(kind: str) -> str:
    return f"kind:{kind}"


def facet_status(status: str) -> str:
    return f"status:{status}"


def facet_provider(provider: str) -> str:
    """The facet a ``provider`` filter selects; ``bedrock@<region>`` (a region's source) selects the
    Bedrock models offered in that region."""
    region = region_of(provider)
    return facet_region(region) if region is not None else f"provider:{provider}"



def facet_region(region: str) -> str:
    return f"region:{region}"


FACET_LIVE = "live:true"


def _skeleton() -> bytes:
    """What every record's JSON shares: its keys in order, the usual nulls and booleans."""
    blank = Model("provider", "model", source="source").body()
    full = Model("openai", "gpt-4o", name="GPT-4o", family="gpt", kind="chat", source="openai",
                 open_weights=False, live=True).body()
    common = (b'"text","image"],"output":["text"]},"capabilities":{"streaming":true,"tool_calling":true,'
              b'"parallel_tool_calls":true,"vision":true,"json_mode":true,"structured_output":true,'
              b'"reasoning":false,"prompt_caching":true,"fine_tuning":false,"batch":true,'
              b'"system_messages":true},"limits":{"context_window":128000,"max_input_tokens":128000,'
              b'"max_output_tokens":16384},"pricing":{"input":0.15,"output":0.6,"cache_read":0.075,'
              b'"cache_write":null},"lifecycle":{"status":"active","release_date":"2024-'
              b'"deprecation_date":null,"knowledge_cutoff":"2023-10"},"open_weights":false,"regions":null,'
              b'"attributes":{"owned_by":"system","litellm_provider":"openai","features":["')
    return blank + full + common


_ZDICT = _skeleton()


def pack(body: bytes) -> bytes:
    """A record's JSON, deflated against the skeleton dictionary."""
    # zlib's default memLevel (8): at 9 every compressor sets up a hash table of twice the size,
    # which took 17 us of a record's 20 (8: 6.6 us), for the same output on records this small.
    packer = zlib.compressobj(6, zlib.DEFLATED, -15, 8, zlib.Z_DEFAULT_STRATEGY, _ZDICT)
    return packer.compress(body) + packer.flush()


def unpack(packed: bytes) -> bytes:
    """The record's JSON back from :func:`pack`."""
    return zlib.decompressobj(-15, _ZDICT).decompress(packed)


# A stored packed form starts with a check of 4 bytes: the CRC-32 of the JSON text stored beside it
# in the same row, seeded with the dictionary's. Loading takes the packed form only where the check
# holds, so a row whose text some other path rewrote, or one packed against another dictionary (an
# older or newer release), is packed again from its text instead of being trusted. Packing is 20-30
# microseconds a record (most of it priming the dictionary), half of loading a catalog's rows.
_DICT_SEED = zlib.crc32(_ZDICT)


def stored_pack(text: bytes, packed: bytes) -> bytes:
    """What the store keeps of ``packed``, the packed form of the row's JSON ``text``."""
    return zlib.crc32(text, _DICT_SEED).to_bytes(4, "big") + packed


def from_store(text: bytes, stored: Any) -> Optional[bytes]:
    """The packed form kept by :func:`stored_pack` for the row's ``text``, or None where there is
    none or its check fails."""
    if not stored or len(stored) <= 4:
        return None
    stored = bytes(stored)  # PostgreSQL's driver hands a memoryview
    if stored[:4] != zlib.crc32(text, _DICT_SEED).to_bytes(4, "big"):
        return None
    return stored[4:]


class PackedModel:
    """A source's record kept packed: what merging looks at without unpacking (ids, aliases, the
    content hash, provenance), and the rest deflated. :meth:`model` gives the full record.

    A record just normalized keeps its unpacked form until :meth:`release` (the write that
    brought it in resolves merged models from it without unpacking it again).
    """

    # The id is kept and the provider's own id derived from it: an unchanged source's records are
    # looked up by id at every step of its refresh (34k reads in a 1%-changed round at 10k).
    __slots__ = ("provider", "id", "packed", "provenance", "source", "live", "aliases", "_hash", "_model")

    def __init__(self, provider: str, provider_model_id: str, packed: bytes, provenance: Provenance,
                 source: Optional[str], live: bool, aliases: tuple[str, ...], content_hash: str,
                 model: Optional[Model] = None):
        self.provider = provider
        self.id = f"{provider}/{provider_model_id}"
        self.packed = packed
        self.provenance = provenance
        self.source = source
        self.live = live
        self.aliases = aliases
        self._hash = content_hash
        self._model = model

    @classmethod
    def of(cls, model: Model, keep: bool = True) -> "PackedModel":
        """Pack a record (raw answer left out); ``keep``: hold the unpacked form until released."""
        return cls(model.provider, model.provider_model_id, pack(model.encode_body()), Provenance.of(model.provenance),
                   model.source, model.live, model.aliases, model.content_hash(),
                   model.without_raw() if keep else None)

    @classmethod
    def from_stored(cls, record: bytes, content_hash: str, stored_packed: Any = None) -> "PackedModel":
        """From a stored source row's record (list form and provenance, as :func:`join_record` made it)
        and the packed list form stored with it, if any (see :func:`stored_pack`)."""
        cut = record.rindex(b',"provenance":')
        body = record[:cut] + b"}"
        data = loads(body)
        aliases = tuple(a for a in (data.get("attributes") or {}).get("aliases") or () if isinstance(a, str))
        source = data.get("source")
        packed = from_store(record, stored_packed)
        return cls(sys.intern(data["provider"]), data["provider_model_id"], packed if packed is not None else pack(body),
                   Provenance.of(loads(record[cut + 14:-1])), sys.intern(source) if source else source,
                   bool(data.get("live", True)), aliases, content_hash)

    @property
    def provider_model_id(self) -> str:
        return self.id[len(self.provider) + 1:]

    def model(self) -> Model:
        """The full record (without its raw answer)."""
        if self._model is not None:
            return self._model
        return Model.from_dict({**loads(unpack(self.packed)), "provenance": self.provenance}, raw=b"{}")

    def release(self) -> None:
        """Drop the unpacked form kept since packing."""
        self._model = None

    def content_hash(self) -> str:
        return self._hash

    def body(self) -> bytes:
        return unpack(self.packed)

    def __repr__(self) -> str:
        return f"PackedModel({self.id!r})"


class CatalogEntry:
    """One published model version, compact: query fields, provenance and the encoded list form."""

    __slots__ = ("id", "provider", "name", "packed", "content_hash", "provenance", "live", "facets",
                 "sort_keys", "source", "trace_hash", "_plain")

    def __init__(self, model_id: str, provider: str, provider_model_id: str, name: Optional[str], body: bytes,
                 content_hash: str, provenance: Provenance, live: bool, facets: tuple[str, ...],
                 sort_keys: tuple[Any, ...], source: Optional[str], packed: Optional[bytes] = None,
                 keep_plain: bool = False, pack_later: bool = False):
        self.id = model_id
        self.provider = provider
        self.name = name
        # With ``pack_later``, not packed until :meth:`release` (the catalog loaded at start-up is
        # served first and packed after: see CatalogState.load_index).
        self.packed: Optional[bytes] = packed if packed is not None or pack_later else pack(body)
        # With ``keep_plain`` (or ``pack_later``), the list form as given, until :meth:`release`:
        # the write that makes an entry also stores the events that carry the record, and would
        # otherwise unpack what it has just packed.
        self._plain: Optional[bytes] = body if keep_plain or self.packed is None else None
        # A hash of the traced provenance as stored (set by the writer; 0: unknown).
        self.trace_hash = 0
        self.content_hash = content_hash
        self.provenance = provenance
        self.live = live
        self.facets = facets
        self.sort_keys = sort_keys
        self.source = source

    @property
    def body(self) -> bytes:
        """The model's list form as JSON bytes."""
        plain = self._plain
        return plain if plain is not None else unpack(self.packed)  # type: ignore[arg-type]

    @property
    def plain(self) -> bool:
        """Whether the list form is still held unpacked (until :meth:`release`)."""
        return self._plain is not None

    def release(self) -> None:
        """Keep the list form packed only (from the end of the write that made the entry on, or
        once the catalog loaded at start-up is packed). The packed form is set before the plain
        one goes, so a reader on another thread always finds one of them."""
        if self.packed is None:
            self.packed = pack(self._plain)  # type: ignore[arg-type]
        self._plain = None

    @property
    def provider_model_id(self) -> str:
        return self.id[len(self.provider) + 1:]

    @classmethod
    def of(cls, model: Model, body: Optional[bytes] = None, packed: Optional[bytes] = None,
           keep_plain: bool = False) -> "CatalogEntry":
        """The entry of a record (``body``: its list form, if already encoded; ``packed``: that form
        packed already, e.g. by the source record this very record is; ``keep_plain``: hold the
        list form unpacked until :meth:`release`)."""
        return cls(model.id, model.provider, model.provider_model_id, model.name,
                   body if body is not None else model.encode_body(), model.content_hash(),
                   Provenance.of(model.provenance), model.live, model_facets(model), model_sort_keys(model),
                   model.source, packed, keep_plain)

    @classmethod
    def from_stored(cls, body: bytes, content_hash: str, provenance: Mapping[str, Any],
                    trace_hash: int = 0, pack_later: bool = False, stored_packed: Any = None) -> "CatalogEntry":
        """Rebuild from what the store keeps (the list form, its packed form if stored, and the
        provenance), without a Model; ``pack_later``: where no packed form was stored, keep the list
        form as read until :meth:`release` packs it."""
        packed = from_store(body, stored_packed)
        # dict first: an ABC check per field is most of the cost of loading 10k entries.
        provenance = {path: (v.get("source") if isinstance(v, (dict, Mapping)) else v) for path, v in provenance.items()}
        data = loads(body)
        caps = data.get("capabilities") or {}
        mods = data.get("modalities") or {}
        limits = data.get("limits") or {}
        pricing = data.get("pricing") or {}
        lifecycle = data.get("lifecycle") or {}
        facets = _facets(data["provider"], bool(data.get("live", True)), data.get("kind"), lifecycle.get("status"),
                         [c for c in CAPABILITIES if caps.get(c) is True], mods.get("input"), mods.get("output"),
                         data.get("regions"))
        keys = _sort_keys(data["id"], data["provider"], data["provider_model_id"], data.get("name"),
                          limits.get("context_window"), limits.get("max_output_tokens"), pricing.get("input"),
                          pricing.get("output"), lifecycle.get("release_date"))
        source = data.get("source")
        entry = cls(data["id"], sys.intern(data["provider"]), data["provider_model_id"], data.get("name"), body,
                    content_hash, Provenance.of(provenance), bool(data.get("live", True)), facets, keys,
                    sys.intern(source) if source else source, packed, pack_later=pack_later)
        entry.trace_hash = trace_hash
        return entry

    def model(self) -> Model:
        """The record as a :class:`Model` (without the raw answer), decoded from the body."""
        return Model.from_dict({**loads(self.body), "provenance": self.provenance}, raw=b"{}")

    def data(self) -> dict[str, Any]:
        """The list form as a fresh dict."""
        return loads(self.body)

    def __repr__(self) -> str:
        return f"CatalogEntry({self.id!r})"


def _facets(provider: str, live: bool, kind: Optional[str], status: Optional[str], caps, inputs, outputs,
            regions=None) -> tuple[str, ...]:
    out = [share(facet_provider(provider)), facet_status(status or "active")]
    if provider == BEDROCK and live and regions:
        # Only where a watched region lists it: a catalog-only record's regions are the catalog's claim.
        out.extend(share(facet_region(r)) for r in regions if isinstance(r, str))
    if live:
        out.append(FACET_LIVE)
    out.append(facet_kind(kind or UNKNOWN_KIND))
    out.extend(CAPABILITY_FACET[c] for c in caps)
    out.extend(facet_input(m) for m in inputs or ())
    out.extend(facet_output(m) for m in outputs or ())
    return share(tuple(out))


def model_facets(m: Model) -> tuple[str, ...]:
    """The facets (bitset names) a record belongs to."""
    return _facets(m.provider, m.live, m.kind, m.lifecycle.status, m.capabilities.supported(),
                   m.modalities.input, m.modalities.output, m.regions)


def _sort_keys(model_id, provider, provider_model_id, name, context_window, max_output_tokens, input_price,
               output_price, release_date) -> tuple[Any, ...]:
    # In SORT_FIELDS order; None is an unknown value (sorted last either way), a missing name too.
    return (model_id, name.lower() if name else None, provider, context_window, max_output_tokens,
            input_price, output_price, release_date)


def model_sort_keys(m: Model) -> tuple[Any, ...]:
    """The values a record sorts by, in :data:`SORT_FIELDS` order."""
    return _sort_keys(m.id, m.provider, m.provider_model_id, m.name, m.limits.context_window,
                      m.limits.max_output_tokens, m.pricing.input, m.pricing.output, m.lifecycle.release_date)
