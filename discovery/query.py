"""The queries the API answers from the published index (:mod:`discovery.index`)."""
from __future__ import annotations

import datetime
import fnmatch
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Optional, Protocol

from discovery.bedrock import PROVIDER as BEDROCK
from discovery.bedrock import region_of, source_name
from discovery.entry import (
    CAPABILITY_FACET,
    FACET_LIVE,
    SORT_FIELDS,
    CatalogEntry,
    facet_input,
    facet_kind,
    facet_output,
    facet_provider,
    facet_status,
    model_sort_keys,
)
from discovery.index import CatalogIndex, attribute_terms
from discovery.model import KINDS, MODALITIES, STATUSES, UNKNOWN_KIND, Model
from discovery.taxonomy import canonical_capabilities, check_choice

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_OFFSET = 2**62  # the bound of every other whole number the API takes
# Orders by measured performance (discovery.benchmark.board): the index does not keep them.
PERFORMANCE_SORTS = ("ttft", "output_speed", "latency")


# The spellings of a boolean query parameter, everywhere the API takes one (case aside).
TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})


def parse_bool(value: str) -> Optional[bool]:
    """A boolean parameter's value: True, False, or None for a word that is neither."""
    low = value.strip().lower()
    return True if low in TRUE_WORDS else False if low in FALSE_WORDS else None


class QueryError(ValueError):
    """A query parameter is invalid; the message says which and what is allowed."""


# Every parameter /api/v1/models understands (besides attr.<key>).
QUERY_PARAMETERS = ("provider", "capability", "capabilities", "input_modality", "output_modality", "kind", "status",
                    "q", "id", "live", "min_context_window", "min_max_output_tokens", "max_input_price",
                    "max_output_price", "released_after", "released_before", "max_ttft_ms", "sort", "limit", "offset")


def _csv(value: Optional[str] | Sequence[str]) -> tuple[str, ...]:
    """A parameter's values: comma lists, and repeated parameters (a list) meaning their union."""
    if not value:
        return ()
    parts = [value] if isinstance(value, str) else list(value)
    out = [v.strip() for part in parts for v in part.split(",") if v.strip()]
    return tuple(dict.fromkeys(out))


def _one(args: Mapping[str, Any], name: str) -> Optional[str]:
    """A single-valued parameter (the last one given, when repeated)."""
    value = args.get(name)
    if value is None or isinstance(value, str):
        return value
    return value[-1] if value else None


# Range parameters: (parameter, sort field, bound: "low" or "high", type).
RANGES = (
    ("min_context_window", "context_window", "low", int),
    ("min_max_output_tokens", "max_output_tokens", "low", int),
    ("max_input_price", "input_price", "high", float),
    ("max_output_price", "output_price", "high", float),
    ("released_after", "release_date", "low", "date"),
    ("released_before", "release_date", "high", "date"),
)
_DATE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")
ATTRIBUTE_PREFIX = "attr."
MAX_ATTRIBUTE_FILTERS = 16


_INTEGER = re.compile(r"-?[0-9]+")
_DECIMAL = re.compile(r"-?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def number(raw: str, kind: type = int) -> Any:
    """``raw`` as an ``int`` or a ``float``, written in ASCII digits only: Python's own parsers also
    take other scripts' digits (``٥``), a ``+``, ``_`` between digits, spaces around, ``nan`` and
    ``inf``. ValueError otherwise."""
    if not isinstance(raw, str):  # a caller's own number, not a query's text
        return kind(raw)
    if not (_INTEGER if kind is int else _DECIMAL).fullmatch(raw):
        raise ValueError(raw)
    return kind(raw)


def _range_value(name: str, raw: str, kind: Any, bound: str = "low") -> Any:
    if kind == "date":
        return _date_bound(name, raw, bound)
    try:
        value = number(raw, kind)
    except ValueError:
        raise QueryError(f"{name} must be a {'whole ' if kind is int else ''}number, got {raw!r}") from None
    if value != value or value < 0 or value in (float("inf"),):
        raise QueryError(f"{name} must be a finite number not below 0, got {raw!r}")
    return value


def _date_bound(name: str, raw: str, bound: str) -> str:
    """A release-date bound as the text stored dates compare against (they are ISO text).

    ``YYYY`` and ``YYYY-MM`` name a whole year or month, each end inclusive: as an upper bound they
    reach to the period's last day, so ``released_before=2023`` keeps December 2023. A lower bound
    is already the period's first day in text order. A month or day that does not exist is refused.
    """
    valid = _DATE.match(raw) is not None
    if valid:
        parts = [int(p) for p in raw.split("-")]
        try:
            datetime.date(*parts, *[1] * (3 - len(parts)))
        except ValueError:
            valid = False
    if not valid:
        raise QueryError(f"{name} must be a date, YYYY-MM-DD (or YYYY-MM, YYYY), got {raw!r}")
    if bound == "high" and len(raw) < 10:
        # Past every day of the period in text order ("2023-12-31" for 2023, "2024-05-31" for May).
        return raw + ("-12-31" if len(raw) == 4 else "-31")
    return raw


def _check_sort(name: str) -> None:
    if name not in SORT_FIELDS and name not in PERFORMANCE_SORTS:
        raise QueryError(f"unknown sort field {name!r}; valid: {', '.join(SORT_FIELDS + PERFORMANCE_SORTS)} "
                         "(prefix '-' for descending)")


class Performance(Protocol):
    """What a query needs of the measured performance (discovery.benchmark.board.PerformanceBoard)."""

    def ids(self) -> list[str]: ...

    def value(self, model_id: str, metric: str) -> Optional[float]: ...



@dataclass(frozen=True)
class ModelQuery:
    """A validated query over the catalog."""

    providers: tuple[str, ...] = ()
    capabilities: tuple[str, ...] = ()
    input_modalities: tuple[str, ...] = ()
    output_modalities: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    text: Optional[str] = None
    id_glob: Optional[str] = None
    live: Optional[bool] = None
    # (sort field, low, high) ranges; a model whose value is unknown matches none.
    ranges: tuple[tuple[str, Any, Any], ...] = ()
    # (attribute key, accepted values or () for "present").
    attributes: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # Only models whose measured p50 TTFT (best region) is at most this many milliseconds.
    max_ttft_ms: Optional[float] = None
    sort: str = "id"
    limit: int = DEFAULT_LIMIT
    offset: int = 0

    @classmethod
    def from_args(cls, args: Mapping[str, Any]) -> "ModelQuery":
        """Build from HTTP query parameters; raise QueryError naming the bad parameter.

        A value may be a list (a repeated parameter): its values are united like a comma list.
        """
        known = set(QUERY_PARAMETERS)
        unknown = sorted(k for k in args if k not in known and not k.startswith(ATTRIBUTE_PREFIX))
        if unknown:
            raise QueryError(f"unknown query parameter {', '.join(unknown)}; valid: {', '.join(sorted(known))} "
                             f"and {ATTRIBUTE_PREFIX}<key>")
        attributes = []
        for name in sorted(k for k in args if k.startswith(ATTRIBUTE_PREFIX)):
            key = name[len(ATTRIBUTE_PREFIX):]
            if not key or len(key) > 128:
                raise QueryError(f"{name}: an attribute filter is attr.<key>=<value> with a key of 1-128 characters")
            attributes.append((key, _csv(args[name])))
        if len(attributes) > MAX_ATTRIBUTE_FILTERS:
            raise QueryError(f"at most {MAX_ATTRIBUTE_FILTERS} attribute filters")
        ranges = []
        for name, field, bound, kind in RANGES:
            raw = _one(args, name)
            if raw is None or raw == "":
                continue
            value = _range_value(name, raw.strip(), kind, bound)
            ranges.append((field, value, None) if bound == "low" else (field, None, value))
        try:
            caps = canonical_capabilities(_csv(args.get("capability")) + _csv(args.get("capabilities")))
            inputs = tuple(check_choice(v, MODALITIES, "input modality") for v in _csv(args.get("input_modality")))
            outputs = tuple(check_choice(v, MODALITIES, "output modality") for v in _csv(args.get("output_modality")))
            kinds = tuple(check_choice(v, (*KINDS, UNKNOWN_KIND), "kind") for v in _csv(args.get("kind")))
            statuses = tuple(check_choice(v, STATUSES, "status") for v in _csv(args.get("status")))
        except ValueError as exc:
            raise QueryError(str(exc)) from None
        live = _one(args, "live")
        live_value: Optional[bool] = None
        if live is not None:
            live_value = parse_bool(live)
            if live_value is None:
                raise QueryError(f"live must be true or false, got {live!r}")
        sort = _one(args, "sort") or "id"
        _check_sort(sort[1:] if sort.startswith("-") else sort)  # one '-' for descending; "--id" is no field
        max_ttft: Optional[float] = None
        raw_ttft = _one(args, "max_ttft_ms")
        if raw_ttft not in (None, ""):
            max_ttft = _range_value("max_ttft_ms", str(raw_ttft).strip(), float)
        try:
            limit = number(_one(args, "limit") or str(DEFAULT_LIMIT))
            offset = number(_one(args, "offset") or "0")
        except ValueError:
            raise QueryError("limit and offset must be whole numbers") from None
        if not 1 <= limit <= MAX_LIMIT:
            raise QueryError(f"limit must be between 1 and {MAX_LIMIT}")
        if not 0 <= offset <= MAX_OFFSET:
            raise QueryError(f"offset must be between 0 and {MAX_OFFSET}")
        return cls(providers=_csv(args.get("provider")), capabilities=caps, input_modalities=inputs,
                   output_modalities=outputs, kinds=kinds, statuses=statuses,
                   text=(_one(args, "q") or None), id_glob=(_one(args, "id") or None), live=live_value,
                   ranges=tuple(ranges), attributes=tuple(attributes), max_ttft_ms=max_ttft, sort=sort, limit=limit,
                   offset=offset)

    def matches(self, m: Model) -> bool:
        """True if the model passes every filter of the query (a plain check, for in-process use)."""
        if self.providers and m.provider not in self.providers and not (
                m.provider == BEDROCK and m.live and any(source_name(r) in self.providers for r in m.regions or ())):
            return False
        if self.capabilities and not all(getattr(m.capabilities, c) is True for c in self.capabilities):
            return False
        if self.input_modalities and not set(self.input_modalities) <= set(m.modalities.input or ()):
            return False
        if self.output_modalities and not set(self.output_modalities) <= set(m.modalities.output or ()):
            return False
        if self.kinds and (m.kind or UNKNOWN_KIND) not in self.kinds:
            return False
        if self.statuses and (m.lifecycle.status or "active") not in self.statuses:
            return False
        if self.live is not None and m.live != self.live:
            return False
        if self.id_glob and not fnmatch.fnmatchcase(m.id, self.id_glob):
            return False
        if self.text:
            needle = self.text.lower()
            if needle not in m.id.lower() and needle not in (m.name or "").lower():
                return False
        keys = model_sort_keys(m) if self.ranges else ()
        for field, low, high in self.ranges:
            value = keys[SORT_FIELDS.index(field)]
            if value is None or (low is not None and value < low) or (high is not None and value > high):
                return False
        if self.attributes:
            terms = attribute_terms(m.attributes)
            for key, values in self.attributes:
                if not (any(f"{key}={v}" in terms for v in values) if values else key in terms):
                    return False
        return True

    def bits(self, index: CatalogIndex, performance: Optional[Performance] = None) -> int:
        """The bitset of the index's entries that pass every filter (``max_ttft_ms`` needs ``performance``)."""
        bits = index.alive
        if self.max_ttft_ms is not None:
            limit = self.max_ttft_ms
            fast = [] if performance is None else [
                m for m in performance.ids() if (v := performance.value(m, "ttft")) is not None and v <= limit]
            bits &= index.bits_for(fast)
        if self.providers:
            bits &= _any(index, (facet_provider(p) for p in self.providers))
        for cap in self.capabilities:
            bits &= index.facet(CAPABILITY_FACET[cap])
        for modality in self.input_modalities:
            bits &= index.facet(facet_input(modality))
        for modality in self.output_modalities:
            bits &= index.facet(facet_output(modality))
        if self.kinds:
            bits &= _any(index, (facet_kind(k) for k in self.kinds))
        if self.statuses:
            bits &= _any(index, (facet_status(s) for s in self.statuses))
        if self.live is not None:
            live = index.facet(FACET_LIVE)
            bits &= live if self.live else ~live
        for field, low, high in self.ranges:
            if bits:
                bits &= index.range_bits(field, low, high)
        for key, values in self.attributes:
            if bits:
                bits &= _any_bits(index.attribute_bits(key, v) for v in values) if values else index.attribute_bits(key)
        if bits and self.id_glob:
            bits &= index.glob_bits(self.id_glob)
        if bits and self.text:
            bits &= index.text_bits(self.text)
        return bits


def _any_bits(bitsets) -> int:
    out = 0
    for bits in bitsets:
        out |= bits
    return out


def _any(index: CatalogIndex, facets) -> int:
    out = 0
    for name in facets:
        out |= index.facet(name)
    return out


@dataclass(frozen=True)
class Page:
    """One page of query results (entries: ``.body`` is the record's encoded list form)."""

    items: tuple[CatalogEntry, ...]
    total: int
    limit: int
    offset: int


def run_query(index: CatalogIndex, query: ModelQuery, performance: Optional[Performance] = None) -> Page:
    """Filter, sort and page the index. Unknown sort values (None) sort last either way.

    ``performance`` (the measured summaries) serves ``max_ttft_ms`` and the performance sorts.
    """
    bits = query.bits(index, performance)
    name = query.sort.lstrip("-")
    if name in PERFORMANCE_SORTS:
        return _performance_page(index, query, bits, name, performance)
    # A provider filter keeps the match inside that provider's stretch of the id order.
    # (A region's source, bedrock@<region>, selects Bedrock's models: "bedrock/".)
    prefixes = tuple(dict.fromkeys(f"{BEDROCK}/" if region_of(p) is not None else f"{p}/" for p in query.providers))
    items, total = index.select(bits, query.sort, query.offset, query.limit, prefixes)
    return Page(tuple(items), total, query.limit, query.offset)


def _performance_page(index: CatalogIndex, query: ModelQuery, bits: int, metric: str,
                      performance: Optional[Performance]) -> Page:
    """Measured models in the metric's order (only they are sorted), then the unmeasured ones by id."""
    measured = [] if performance is None else [m for m in performance.ids() if performance.value(m, metric) is not None]
    known = bits & index.bits_for(measured)
    known_total = known.bit_count()
    total = (bits & index.alive).bit_count()
    items: list[CatalogEntry] = []
    if query.offset < known_total:
        assert performance is not None
        items, _ = index.select_by(known, lambda e: performance.value(e.id, metric), query.sort.startswith("-"),
                                   query.offset, query.limit)
    end = query.offset + query.limit
    if end > known_total:
        start = max(0, query.offset - known_total)
        rest, _ = index.select(bits & ~known, "id", start, end - max(query.offset, known_total))
        items = list(items) + list(rest)
    return Page(tuple(items), total, query.limit, query.offset)
