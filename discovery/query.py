"""The immutable in-memory catalog index and the queries the API answers from it."""
from __future__ import annotations

import fnmatch
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional

from discovery.diff import capability_counts
from discovery.model import KINDS, MODALITIES, STATUSES, Model
from discovery.taxonomy import canonical_capabilities, check_choice

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


class QueryError(ValueError):
    """A query parameter is invalid; the message says which and what is allowed."""


@dataclass(frozen=True)
class CatalogIndex:
    """One published state of the catalog. Never mutated: a new index replaces it."""

    models: Mapping[str, Model]
    version: int = 0
    built_at: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        ordered = tuple(sorted(self.models.values(), key=lambda m: m.id))
        by_provider: dict[str, list[Model]] = {}
        for m in ordered:
            by_provider.setdefault(m.provider, []).append(m)
        object.__setattr__(self, "ordered", ordered)
        object.__setattr__(self, "by_provider", {k: tuple(v) for k, v in by_provider.items()})
        object.__setattr__(self, "capability_counts", capability_counts(self.models))

    def get(self, model_id: str) -> Optional[Model]:
        return self.models.get(model_id)

    def __len__(self) -> int:
        return len(self.models)


def _csv(value: Optional[str]) -> tuple[str, ...]:
    if not value:
        return ()
    return tuple(v.strip() for v in value.split(",") if v.strip())


def _sort_key(name: str) -> Callable[[Model], Any]:
    getters: dict[str, Callable[[Model], Any]] = {
        "id": lambda m: m.id,
        "name": lambda m: (m.name or m.provider_model_id).lower(),
        "provider": lambda m: (m.provider, m.id),
        "context_window": lambda m: m.limits.context_window,
        "max_output_tokens": lambda m: m.limits.max_output_tokens,
        "input_price": lambda m: m.pricing.input,
        "output_price": lambda m: m.pricing.output,
        "release_date": lambda m: m.lifecycle.release_date,
    }
    if name not in getters:
        raise QueryError(f"unknown sort field {name!r}; valid: {', '.join(getters)} (prefix '-' for descending)")
    return getters[name]


SORT_FIELDS = ("id", "name", "provider", "context_window", "max_output_tokens", "input_price",
               "output_price", "release_date")


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
    sort: str = "id"
    limit: int = DEFAULT_LIMIT
    offset: int = 0

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> "ModelQuery":
        """Build from HTTP query parameters; raise QueryError naming the bad parameter."""
        known = {"provider", "capability", "capabilities", "input_modality", "output_modality", "kind",
                 "status", "q", "id", "live", "sort", "limit", "offset"}
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
        _sort_key(sort.lstrip("-"))
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
                   sort=sort, limit=limit, offset=offset)

    def matches(self, m: Model) -> bool:
        """True if the model passes every filter of the query."""
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


@dataclass(frozen=True)
class Page:
    """One page of query results."""

    items: tuple[Model, ...]
    total: int
    limit: int
    offset: int


def run_query(index: CatalogIndex, query: ModelQuery) -> Page:
    """Filter, sort and page the index. Unknown sort values (None) sort last either way."""
    source = index.ordered
    if len(query.providers) == 1:
        source = index.by_provider.get(query.providers[0], ())
    hits = [m for m in source if query.matches(m)]
    name = query.sort.lstrip("-")
    if name != "id":
        key = _sort_key(name)
        known = [m for m in hits if key(m) is not None]
        unknown = [m for m in hits if key(m) is None]
        known.sort(key=key, reverse=query.sort.startswith("-"))
        hits = known + unknown
    elif query.sort.startswith("-"):
        hits.reverse()
    return Page(tuple(hits[query.offset:query.offset + query.limit]), len(hits), query.limit, query.offset)
