"""The published catalog index: compact entries, facet bitsets and sort orders, built incrementally.

Each entry has a *position* (a small integer, stable while the model exists). A facet
(``cap:vision``, ``kind:chat``, ``provider:openai``...) is a Python integer used as a bitset over
positions, so a filter is a few big-integer ANDs and ORs done in C, and a count is
``int.bit_count``. Each sort field keeps the positions of the entries whose value is known, sorted
by (value, id); a page walks that order and keeps the positions whose bit is set, or, when few
match, sorts just the matches. Text and id-glob searches scan one joined string per index version
(built on first use), again in C (:mod:`discovery.index_text`).

An index is immutable once published: :meth:`CatalogIndex.apply` returns a new index that shares
everything a change did not touch, so the cost of publishing follows the change, not the catalog.
"""
from __future__ import annotations

import bisect
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from itertools import chain, compress, islice
from typing import Any, Optional

from discovery.entry import SORT_FIELDS, CatalogEntry
from discovery.index_text import GLOB_SECONDS, GLOB_SLICE, CostlyGlob, SearchText, glob_line_pattern, glob_prefix
from discovery.model import CAPABILITIES, Model

_SORT_INDEX = {name: i for i, name in enumerate(SORT_FIELDS)}
# Fields whose value may be unknown (None); the others always have one.
_OPTIONAL = tuple(name for name in SORT_FIELDS if name not in ("id", "provider"))
_BIT_TABLE = bytes.maketrans(b"01", b"\x00\x01")
# Byte value -> its bit j (0 or 1), one table per bit: byte_mask of a large set.
_BIT_PLANES = tuple(bytes((b >> j) & 1 for b in range(256)) for j in range(8))
_PLANES_FROM = 2048
# Up to this many positions join or leave an order one by one (bisection); more, in one pass.
_FEW = 48


def bits_of(positions: Iterable[int], size: int = 0) -> int:
    """A bitset with the given positions set."""
    positions = positions if isinstance(positions, list) else list(positions)
    if len(positions) < 128:
        value = 0
        for p in positions:
            value |= 1 << p
        return value
    buf = bytearray((max(size, max(positions) + 1) >> 3) + 1)
    for p in positions:
        buf[p >> 3] |= 1 << (p & 7)
    return int.from_bytes(buf, "little")


def iter_bits(bits: int) -> Iterator[int]:
    """The set positions of a bitset, ascending."""
    text = bin(bits)[:1:-1]
    i = text.find("1")
    while i >= 0:
        yield i
        i = text.find("1", i + 1)


def byte_mask(bits: int, size: int) -> bytes:
    """One byte per position (1 where the bit is set), for C-speed filtering with ``compress``;
    at least ``max(size, bits.bit_length())`` bytes long."""
    if size < _PLANES_FROM:
        return bin(bits)[:1:-1].encode("ascii").translate(_BIT_TABLE).ljust(size, b"\x00")
    # Large sets: the bitset's bytes, one translate per bit plane, each plane written into every
    # eighth byte (100k positions: 75 us, where the text of the number took 116 us).
    length = max(size, bits.bit_length())
    data = bits.to_bytes((length + 7) >> 3, "little")
    out = bytearray(len(data) << 3)
    for j, plane in enumerate(_BIT_PLANES):
        out[j::8] = data.translate(plane)
    return bytes(out[:length]) if len(out) != length else bytes(out)


# Per published index: the ordered match lists of the latest queries (discovery.index.CatalogIndex.select).
MATCH_MEMO_QUERIES = 64
MATCH_MEMO_POSITIONS = 400_000  # about 3 MB of list slots at most


class CatalogIndex:
    """One published state of the catalog. Never mutated: :meth:`apply` makes the next one."""

    def __init__(self, models: Mapping[str, Model] | None = None, version: int = 0,
                 built_at: Optional[float] = None):
        """Build from records (tests, start-up); :meth:`from_entries` builds from entries."""
        self._build([CatalogEntry.of(m) for m in (models or {}).values()], version, built_at)

    @classmethod
    def from_entries(cls, entries: Iterable[CatalogEntry], version: int = 0) -> "CatalogIndex":
        """An index of the given entries (one per id; a later duplicate wins)."""
        out = cls.__new__(cls)
        out._build(list({e.id: e for e in entries}.values()), version, None)
        return out

    def _build(self, entries: list[CatalogEntry], version: int, built_at: Optional[float]) -> None:
        entries.sort(key=lambda e: e.id)
        self.version = version
        self.built_at = built_at if built_at is not None else time.time()
        self._entries: list[Optional[CatalogEntry]] = list(entries)
        self._pos: dict[str, int] = {e.id: p for p, e in enumerate(entries)}
        self._free: list[int] = []
        n = len(entries)
        self._alive = (1 << n) - 1
        by_facet: dict[str, list[int]] = defaultdict(list)
        for p, e in enumerate(entries):
            for f in e.facets:
                by_facet[f].append(p)
        self._facets: dict[str, int] = {f: bits_of(ps, n) for f, ps in by_facet.items()}
        self._orders: dict[str, list[int]] = {"id": list(range(n))}
        self._known: dict[str, int] = {}
        for name in SORT_FIELDS[1:]:
            i = _SORT_INDEX[name]
            keys = [e.sort_keys[i] for e in entries]
            known = [p for p, k in enumerate(keys) if k is not None]
            # Positions follow the ids, and the sort is stable: equal keys stay in id order, as
            # (key, id) would have them, with a key function that runs in C.
            known.sort(key=keys.__getitem__)
            self._orders[name] = known
            if name in _OPTIONAL:
                self._known[name] = bits_of(known, n)
        self._text_cache: Optional[SearchText] = None
        self._attr_cache: Optional[dict[str, list[int]]] = None
        self._text_lock = threading.Lock()
        self._matches: dict[tuple[Any, ...], list[int]] = {}
        self._matches_lock = threading.Lock()

    # -- reading ---------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._pos)

    def __contains__(self, model_id: object) -> bool:
        return model_id in self._pos

    @property
    def size(self) -> int:
        """Positions in use, holes included (the length of the bitsets)."""
        return len(self._entries)

    @property
    def alive(self) -> int:
        """The bitset of every published position."""
        return self._alive

    def entry(self, model_id: str) -> Optional[CatalogEntry]:
        """The entry of one model id, or None."""
        p = self._pos.get(model_id)
        return self._entries[p] if p is not None else None

    def get(self, model_id: str) -> Optional[Model]:
        """The record of one model id (without its raw answer), or None."""
        e = self.entry(model_id)
        return e.model() if e is not None else None

    def ids(self) -> list[str]:
        """Every model id, sorted."""
        return [self._entries[p].id for p in self._orders["id"]]  # type: ignore[union-attr]

    def entries(self) -> list[CatalogEntry]:
        """Every entry, sorted by id."""
        return [self._entries[p] for p in self._orders["id"]]  # type: ignore[misc]

    @property
    def models(self) -> dict[str, Model]:
        """Every record by id (decoded; for tests and small catalogs)."""
        return {e.id: e.model() for e in self.entries()}

    def facet(self, name: str) -> int:
        """The bitset of a facet (0 when no entry has it)."""
        return self._facets.get(name, 0)

    def facet_count(self, name: str) -> int:
        return self._facets.get(name, 0).bit_count()

    def provider_count(self, provider: str) -> int:
        """How many models a provider has in this index."""
        return self.facet_count(f"provider:{provider}")

    def of_provider(self, provider: str) -> list[CatalogEntry]:
        """A provider's entries, sorted by id."""
        return self.pick(self.facet(f"provider:{provider}"))

    @property
    def by_provider(self) -> Mapping[str, tuple[Model, ...]]:
        """Provider → its records (decoded on access; prefer :meth:`of_provider`)."""
        return _ByProvider(self)

    @property
    def capability_counts(self) -> dict[str, int]:
        """How many models support each capability."""
        return {c: self.facet_count(f"cap:{c}") for c in CAPABILITIES}

    def providers(self) -> list[str]:
        """Every provider with a model in the index."""
        return sorted(f[9:] for f, bits in self._facets.items() if f.startswith("provider:") and bits)

    def pick(self, bits: int) -> list[CatalogEntry]:
        """The entries of a bitset, sorted by id."""
        ents = self._entries
        return sorted((ents[p] for p in iter_bits(bits)), key=lambda e: e.id)  # type: ignore[union-attr]

    def count(self, bits: int) -> int:
        return bits.bit_count()

    # -- paging ----------------------------------------------------------------------------------
    def prefix_range(self, prefix: str) -> tuple[int, int]:
        """The slice of the id order holding the ids that start with ``prefix``."""
        ents = self._entries
        ids = self._orders["id"]
        lo = bisect.bisect_left(ids, prefix, key=lambda p: ents[p].id)  # type: ignore[union-attr]
        hi = bisect.bisect_left(ids, prefix + "\U0010ffff", lo, key=lambda p: ents[p].id)  # type: ignore
        return lo, hi

    def select(self, bits: int, sort: str = "id", offset: int = 0, limit: int = 100,
               id_prefixes: Iterable[str] = ()) -> tuple[list[CatalogEntry], int]:
        """One page of the entries in ``bits``, ordered by ``sort`` (``-`` prefix: descending), and the total.

        Unknown values sort last either way; ties are broken by id, in the direction of the sort.
        ``id_prefixes``: every entry in ``bits`` has an id starting with one of these (a provider
        filter), so an id-ordered walk covers only those stretches of the order.
        """
        descending = sort.startswith("-")
        name = sort.lstrip("-")
        bits &= self._alive
        total = bits.bit_count()
        if total == 0 or offset >= total:
            return [], total
        end = offset + limit
        ents = self._entries
        if total <= max(64, len(ents) >> 5):
            # Few matches: sort just them.
            hits = list(iter_bits(bits))
            if name == "id":
                hits.sort(key=lambda p: ents[p].id, reverse=descending)  # type: ignore[union-attr]
            else:
                i = _SORT_INDEX[name]
                known = [p for p in hits if ents[p].sort_keys[i] is not None]  # type: ignore[union-attr]
                known.sort(key=lambda p: (ents[p].sort_keys[i], ents[p].id), reverse=descending)  # type: ignore
                unknown = [p for p in hits if ents[p].sort_keys[i] is None]  # type: ignore[union-attr]
                unknown.sort(key=lambda p: ents[p].id)  # type: ignore[union-attr]
                hits = known + unknown
            return [ents[p] for p in hits[offset:end]], total  # type: ignore[misc]
        # A query paged past its first page keeps its whole ordered match list with this index: the
        # next page (another offset or limit) is a slice of it, not another walk of the order. A
        # first page walks only as far as its end, as most queries are never paged.
        key = (bits, sort, tuple(sorted(set(id_prefixes))) if name == "id" else ())
        matches = self._matches.get(key)
        if matches is None:
            if offset == 0:
                return [ents[p] for p in self._ordered_matches(bits, name, descending, key[2], end)], total  # type: ignore[misc]
            matches = self._ordered_matches(bits, name, descending, key[2])
            self._remember(key, matches)
        return [ents[p] for p in matches[offset:end]], total  # type: ignore[misc]

    def _remember(self, key: tuple[Any, ...], matches: list[int]) -> None:
        """Keep a query's match list, within MATCH_MEMO_QUERIES queries and MATCH_MEMO_POSITIONS positions
        (oldest out first; several list threads may do this at once)."""
        with self._matches_lock:
            memo = self._matches
            memo[key] = matches
            held = sum(len(m) for m in memo.values())
            while memo and (len(memo) > MATCH_MEMO_QUERIES or held > MATCH_MEMO_POSITIONS):
                oldest = next(iter(memo))
                held -= len(memo.pop(oldest))

    def _ordered_matches(self, bits: int, name: str, descending: bool, id_prefixes: tuple[str, ...],
                         stop: Optional[int] = None) -> list[int]:
        """The positions in ``bits`` in the order of field ``name`` (unknown values last, by id):
        every one, or the first ``stop``."""
        ents = self._entries
        mask = byte_mask(bits, len(ents))
        order = self._orders[name]
        if name == "id" and id_prefixes:
            ranges = sorted(self.prefix_range(p) for p in set(id_prefixes))
            order = [p for lo, hi in ranges for p in order[lo:hi]] if len(ranges) > 1 else order[ranges[0][0]:ranges[0][1]]
        seq = order if not descending else order[::-1]
        walk: Iterator[int] = compress(seq, map(mask.__getitem__, seq))
        known_bits = self._known.get(name)
        if known_bits is not None:
            rest = byte_mask(bits & ~known_bits, len(ents))
            ids = self._orders["id"]
            walk = chain(walk, compress(ids, map(rest.__getitem__, ids)))
        return list(islice(walk, stop))

    def range_bits(self, field: str, low: Any = None, high: Any = None) -> int:
        """The bitset of entries whose ``field`` value is known and within [low, high] (either end open)."""
        i = _SORT_INDEX[field]
        ents = self._entries
        order = self._orders[field]
        value = lambda p: ents[p].sort_keys[i]  # type: ignore[union-attr]  # noqa: E731
        lo = 0 if low is None else bisect.bisect_left(order, low, key=value)
        hi = len(order) if high is None else bisect.bisect_right(order, high, key=value)
        if lo >= hi:
            return 0
        size = len(ents)
        if hi - lo > len(order) // 2:
            # A wide range: the known ones less the few outside it.
            outside = bits_of(list(order[:lo]) + list(order[hi:]), size)
            return self._known.get(field, self._alive) & ~outside
        return bits_of(order[lo:hi], size)

    def attribute_bits(self, key: str, value: Optional[str] = None) -> int:
        """The bitset of entries whose attributes have ``key`` (with ``value``, when given: equal to it,
        or containing it when the attribute is a list). Values compare as text (``true``, ``8192``)."""
        terms = self._attribute_terms()
        found = terms.get(key if value is None else f"{key}={value}")
        return bits_of(found, len(self._entries)) if found else 0

    def _attribute_terms(self) -> dict[str, list[int]]:
        # Built on first use per index version, from the bodies (attributes are not indexed otherwise).
        cached = self._attr_cache
        if cached is None:
            with self._text_lock:
                cached = self._attr_cache
                if cached is None:
                    cached = self._attr_cache = _attribute_postings(self._entries)
        return cached

    def bits_for(self, model_ids: Iterable[str]) -> int:
        """The bitset of the given ids (those not in the index are left out)."""
        pos = self._pos
        return bits_of([pos[m] for m in model_ids if m in pos], len(self._entries))

    def select_by(self, bits: int, key: Callable[[CatalogEntry], Any], descending: bool = False, offset: int = 0,
                  limit: int = 100) -> tuple[list[CatalogEntry], int]:
        """A page of the entries in ``bits`` ordered by ``key(entry)`` (None: unknown, last either way;
        ties by id in the direction of the sort), and the total. For orders the index does not keep
        (measured performance, say): it sorts the matches, so keep it to selective filters or small sets.
        """
        bits &= self._alive
        ents = self._entries
        hits = [ents[p] for p in iter_bits(bits)]
        keyed = [(key(e), e) for e in hits]  # type: ignore[arg-type]
        known = [(k, e) for k, e in keyed if k is not None]
        known.sort(key=lambda ke: (ke[0], ke[1].id), reverse=descending)
        unknown = sorted((e for k, e in keyed if k is None), key=lambda e: e.id)
        ordered = [e for _, e in known] + unknown
        return ordered[offset:offset + limit], len(ordered)

    # -- text ------------------------------------------------------------------------------------
    def _text(self) -> SearchText:
        cached = self._text_cache
        if cached is None:
            with self._text_lock:
                cached = self._text_cache
                if cached is None:
                    cached = self._text_cache = SearchText(self._entries, self._orders["id"])
        return cached

    def text_bits(self, needle: str) -> int:
        """The bitset of entries whose id or name contains ``needle`` (case-insensitive)."""
        needle = needle.lower()
        if not needle:
            return self._alive
        if "\t" in needle or "\n" in needle:
            return bits_of([p for p, e in enumerate(self._entries) if e is not None
                            and (needle in e.id.lower() or needle in (e.name or "").lower())], len(self._entries))
        t = self._text()
        known = t.recall(("q", needle))
        if known is not None:
            return known
        text, starts, order = t.text, t.text_starts, t.order
        found: list[int] = []
        i = text.find(needle)
        while i >= 0:
            line = bisect.bisect_right(starts, i) - 1
            found.append(order[line])
            i = text.find(needle, starts[line + 1])
        return t.remember(("q", needle), bits_of(found, len(self._entries)))

    def glob_bits(self, glob: str) -> int:
        """The bitset of entries whose id matches the shell-style ``glob`` (case-sensitive)."""
        t = self._text()
        known = t.recall(("id", glob))
        if known is not None:
            return known
        prefix = glob_prefix(glob)
        lo, hi = 0, len(t.order)
        if prefix:
            ents = self._entries
            ids = self._orders["id"]
            lo = bisect.bisect_left(ids, prefix, key=lambda p: ents[p].id)  # type: ignore[union-attr]
            hi = bisect.bisect_left(ids, prefix + "\U0010ffff", lo, key=lambda p: ents[p].id)  # type: ignore
        if lo >= hi:
            return 0
        pattern = glob_line_pattern(glob)
        starts, order = t.id_starts, t.order
        # The ids are scanned a slice at a time (the regex engine holds the interpreter lock
        # through a call), within GLOB_SECONDS in all: a part between stars is looked for at each
        # place of each id, so a long part of sets ('*[!Z][!Z]...Z*') costs id length x part
        # length per id, seconds over 100k ids. Each slice ends at its last newline, not after
        # it: a glob that matches an empty line (``*``) would otherwise match once more there.
        found: list[int] = []
        deadline = time.monotonic() + GLOB_SECONDS
        for first in range(lo, hi, GLOB_SLICE):
            end = starts[min(first + GLOB_SLICE, hi)] - 1
            found += [order[bisect.bisect_right(starts, m.start()) - 1]
                      for m in pattern.finditer(t.ids, starts[first], end)]
            if time.monotonic() > deadline:
                raise CostlyGlob(f"the id glob {glob[:60]!r} takes too long to match against "
                                 f"{hi - lo:,} ids; use fewer wildcards, or a literal prefix")
        return t.remember(("id", glob), bits_of(found, len(self._entries)))

    # -- the next version ------------------------------------------------------------------------
    def apply(self, changes: Mapping[str, Optional[CatalogEntry]], version: Optional[int] = None) -> "CatalogIndex":
        """A new index with ``changes`` (id → new entry, or None to remove) applied; this one is unchanged."""
        version = self.version + 1 if version is None else version
        ents = self._entries
        live_changes = {mid: e for mid, e in changes.items() if e is not None or mid in self._pos}
        removed = sum(1 for mid, e in live_changes.items() if e is None)
        if len(self._free) + removed > max(1024, len(ents) // 2) or len(live_changes) > max(2048, len(self._pos) // 4):
            # Many holes, or a change of a large part (a cold start): start again with dense positions.
            kept = {e.id: e for e in ents if e is not None}
            for mid, e in live_changes.items():
                if e is None:
                    kept.pop(mid, None)
                else:
                    kept[mid] = e
            return CatalogIndex.from_entries(kept.values(), version)
        new = CatalogIndex.__new__(CatalogIndex)
        new.version = version
        new.built_at = time.time()
        entries = list(ents)
        pos = dict(self._pos)
        free = list(self._free)
        orders = dict(self._orders)
        copied: set[str] = set()

        def order_list(name: str) -> list[int]:
            if name not in copied:
                orders[name] = list(orders[name])
                copied.add(name)
            return orders[name]

        def key_of(i: int):
            if i == 0:
                return lambda p: entries[p].id  # type: ignore[union-attr]
            return lambda p: (entries[p].sort_keys[i], entries[p].id)  # type: ignore[union-attr]

        def target(e: CatalogEntry, i: int):
            return e.id if i == 0 else (e.sort_keys[i], e.id)

        set_bits: dict[str, list[int]] = defaultdict(list)
        clear_bits: dict[str, list[int]] = defaultdict(list)
        adds: dict[str, list[int]] = defaultdict(list)
        drops: dict[str, list[tuple[object, int]]] = defaultdict(list)
        # 1. Note what leaves each order (with its old key), then take it out while the orders still
        #    hold only old entries: by bisection when few leave, by one filtering pass when many do.
        plans: list[tuple[str, Optional[int], Optional[CatalogEntry], Optional[CatalogEntry]]] = []
        for mid, e in live_changes.items():
            p = pos.get(mid)
            old = entries[p] if p is not None else None
            plans.append((mid, p, old, e))
            if old is None:
                continue
            for name in SORT_FIELDS:
                i = _SORT_INDEX[name]
                if e is not None and (i == 0 or e.sort_keys[i] == old.sort_keys[i]):
                    continue
                if old.sort_keys[i] is None and i != 0:
                    continue
                drops[name].append((target(old, i), p))
        for name, leaving in drops.items():
            lst = order_list(name)
            if len(leaving) <= _FEW:
                key = key_of(_SORT_INDEX[name])
                for old_key, p in leaving:
                    at = bisect.bisect_left(lst, old_key, key=key)
                    if at < len(lst) and lst[at] == p:
                        del lst[at]
            else:
                gone = {p for _, p in leaving}
                orders[name] = [p for p in lst if p not in gone]
        # 2. Place the new entries, 3. then put them into the orders that lost or lack them.
        for mid, p, old, e in plans:
            if e is None:
                assert p is not None and old is not None
                entries[p] = None
                del pos[mid]
                free.append(p)
                for f in old.facets:
                    clear_bits[f].append(p)
                clear_bits["\0alive"].append(p)
                for name in _OPTIONAL:
                    if old.sort_keys[_SORT_INDEX[name]] is not None:
                        clear_bits["\0known:" + name].append(p)
                continue
            if p is None:
                if free:
                    p = free.pop()
                else:
                    p = len(entries)
                    entries.append(None)
                pos[mid] = p
                set_bits["\0alive"].append(p)
            entries[p] = e
            old_facets = old.facets if old is not None else ()
            if old_facets != e.facets:
                for f in old_facets:
                    if f not in e.facets:
                        clear_bits[f].append(p)
                for f in e.facets:
                    if f not in old_facets:
                        set_bits[f].append(p)
            old_keys = old.sort_keys if old is not None else ()
            for name in SORT_FIELDS:
                i = _SORT_INDEX[name]
                if old_keys and (i == 0 or old_keys[i] == e.sort_keys[i]):
                    continue
                if i != 0 and e.sort_keys[i] is None:
                    continue
                adds[name].append(p)
            for name in _OPTIONAL:
                i = _SORT_INDEX[name]
                was = old is not None and old.sort_keys[i] is not None
                now = e.sort_keys[i] is not None
                if was and not now:
                    clear_bits["\0known:" + name].append(p)
                elif now and not was:
                    set_bits["\0known:" + name].append(p)
        for name, arriving in adds.items():
            key = key_of(_SORT_INDEX[name])
            lst = order_list(name)
            if len(arriving) <= _FEW:
                for p in arriving:
                    lst.insert(bisect.bisect_left(lst, key(p), key=key), p)
                continue
            # Many: sort the arrivals, find where each goes, and splice the segments in one pass.
            arriving.sort(key=key)
            merged: list[int] = []
            at = 0
            for p in arriving:
                cut = bisect.bisect_left(lst, key(p), at, key=key)
                merged.extend(lst[at:cut])
                merged.append(p)
                at = cut
            merged.extend(lst[at:])
            orders[name] = merged
        size = len(entries)
        facets = dict(self._facets)
        known = dict(self._known)
        alive = self._alive
        for name in set(set_bits) | set(clear_bits):
            if name == "\0alive":
                current = alive
            elif name.startswith("\0known:"):
                current = known.get(name[7:], 0)
            else:
                current = facets.get(name, 0)
            if name in clear_bits:
                current &= ~bits_of(clear_bits[name], size)
            if name in set_bits:
                current |= bits_of(set_bits[name], size)
            if name == "\0alive":
                alive = current
            elif name.startswith("\0known:"):
                known[name[7:]] = current
            elif current:
                facets[name] = current
            else:
                facets.pop(name, None)
        new._entries = entries
        new._pos = pos
        new._free = free
        new._alive = alive
        new._facets = facets
        new._orders = orders
        new._known = known
        # The joined ids and names (built by the first text search or id glob of a version, O(catalog):
        # 15 ms at 10k models, 160-200 ms at 100k) carry over when no id came or went and no name
        # changed, as in a routine refresh that changed prices or limits: each id keeps its position
        # then. (A change of a large part of the catalog took the dense rebuild above: no carry-over.)
        same_text = all(old is not None and e is not None and old.name == e.name for _, _, old, e in plans)
        new._text_cache = self._text_cache if same_text else None
        new._attr_cache = None
        new._text_lock = threading.Lock()
        new._matches = {}
        new._matches_lock = threading.Lock()
        return new


def attribute_text(value: Any) -> Optional[str]:
    """How an attribute value is matched: JSON scalars as text (booleans lower-case), else None."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    return None


def attribute_terms(attributes: Mapping[str, Any]) -> set[str]:
    """The terms an attributes mapping answers to: each key, and ``key=value`` for scalar values
    and for each scalar element of a list."""
    terms: set[str] = set()
    for key, value in attributes.items():
        terms.add(key)
        for item in value if isinstance(value, (list, tuple)) else (value,):
            text = attribute_text(item)
            if text is not None:
                terms.add(f"{key}={text}")
    return terms


def _attribute_postings(entries: list[Optional[CatalogEntry]]) -> dict[str, list[int]]:
    from discovery.model import loads

    postings: dict[str, list[int]] = defaultdict(list)
    for p, e in enumerate(entries):
        if e is None:
            continue
        attributes = loads(e.body).get("attributes") or {}
        for term in attribute_terms(attributes):
            postings[term].append(p)
    return dict(postings)


class _ByProvider(Mapping):
    """A read-only provider → records view over an index (decodes on access)."""

    def __init__(self, index: CatalogIndex):
        self._index = index

    def __getitem__(self, provider: str) -> tuple[Model, ...]:
        found = self._index.of_provider(provider)
        if not found:
            raise KeyError(provider)
        return tuple(e.model() for e in found)

    def get(self, provider, default=()):  # type: ignore[override]
        found = self._index.of_provider(provider)
        return tuple(e.model() for e in found) if found else default

    def __iter__(self):
        return iter(self._index.providers())

    def __len__(self) -> int:
        return len(self._index.providers())
