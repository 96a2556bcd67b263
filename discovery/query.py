"""The queries the API answers from the published index (:mod:`discovery.index`)."""
from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Mapping, Optional, Protocol

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
)
from discovery.index import CatalogIndex
from discovery.model import KINDS, MODALITIES, STATUSES, Model
from discovery.taxonomy import canonical_capabilities, check_choice

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
# Orders by measured performance (discovery.benchmark.board): the index does not keep them.
PERFORMANCE_SORTS = ("ttft", "output_speed", "latency")


class QueryError(ValueError):
    """A query parameter is invalid; the message says which and what is allowed."""


def _csv(value: Optional[str]) -> tuple[str, ...]:
    if not value:
        return ()
    return tuple(v.strip() for v in value.split(",") if v.strip())


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
    # Only models whose measured p50 TTFT (best region) is at most this many milliseconds.
    max_ttft_ms: Optional[float] = None
    sort: str = "id"
    limit: int = DEFAULT_LIMIT
    offset: int = 0

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> "ModelQuery":
        """Build from HTTP query parameters; raise QueryError naming the bad parameter."""
        known = {"provider", "capability", "capabilities", "input_modality", "output_modality", "kind",
                 "status", "q", "id", "live", "sort", "limit", "offset", "max_ttft_ms"}
        unknown = sorted(set(args) - known)
        if unknown:
            raise QueryError(f"unknown query parameter {', '.join(unknown)}; valid: {', '.join(sorted(known))}")
        try:
            caps = canonical_capabilities(_csv(args.get("capability")) + _csv(args.get("capabilities")))
            inputs = tuple(check_choice(v, MODALITIES, "input modality") for v in _csv(args.get("input_modality")))
            outputs = tuple(check_choice(v, MODALITIES, "output modality") for v in _csv(args.get("output_modality")))
            kinds = tuple(check_choice(v, KINDS, "kind") for v in _csv(args.get("kind")))
            statuses = tuple(check_choice(v, STATUSES, "status") for v in _csv(args.get("status")))
        except ValueError as exc:
            raise QueryError(str(exc)) from None
        live = args.get("live")
        if live is not None:
            if live.lower() not in ("true", "false", "1", "0"):
                raise QueryError("live must be true or false")
            live_value: Optional[bool] = live.lower() in ("true", "1")
        else:
            live_value = None
        sort = args.get("sort") or "id"
        _check_sort(sort.lstrip("-"))
        max_ttft: Optional[float] = None
        if args.get("max_ttft_ms") not in (None, ""):
            try:
                max_ttft = float(args["max_ttft_ms"])
            except ValueError:
                raise QueryError("max_ttft_ms must be a number of milliseconds") from None
            if max_ttft < 0:
                raise QueryError("max_ttft_ms must not be negative")
        try:
            limit = int(args.get("limit", DEFAULT_LIMIT))
            offset = int(args.get("offset", 0))
        except ValueError:
            raise QueryError("limit and offset must be whole numbers") from None
        if not 1 <= limit <= MAX_LIMIT:
            raise QueryError(f"limit must be between 1 and {MAX_LIMIT}")
        if offset < 0:
            raise QueryError("offset must not be negative")
        return cls(providers=_csv(args.get("provider")), capabilities=caps, input_modalities=inputs,
                   output_modalities=outputs, kinds=kinds, statuses=statuses,
                   text=(args.get("q") or None), id_glob=(args.get("id") or None), live=live_value,
                   max_ttft_ms=max_ttft, sort=sort, limit=limit, offset=offset)

    def matches(self, m: Model) -> bool:
        """True if the model passes every filter of the query (a plain check, for in-process use)."""
        if self.providers and m.provider not in self.providers:
            return False
        if self.capabilities and not all(getattr(m.capabilities, c) is True for c in self.capabilities):
            return False
        if self.input_modalities and not set(self.input_modalities) <= set(m.modalities.input or ()):
            return False
        if self.output_modalities and not set(self.output_modalities) <= set(m.modalities.output or ()):
            return False
        if self.kinds and m.kind not in self.kinds:
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
        if bits and self.id_glob:
            bits &= index.glob_bits(self.id_glob)
        if bits and self.text:
            bits &= index.text_bits(self.text)
        return bits


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
    prefixes = tuple(f"{p}/" for p in query.providers)
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
        rest, _ = index.select(bits & ~known, "id", max(0, query.offset - known_total), end - max(query.offset,
                                                                                               known_total))
        items = list(items) + list(rest)
    return Page(tuple(items), total, query.limit, query.offset)
