"""Enrichment of live models from catalog entries, field by field with provenance.

Records are built field by field by :mod:`discovery.draft` (each field with the source that
stated it, ``heuristic`` for a guess from the id alone); this module matches and combines them.

Matching a live model to a catalog entry (same provider, after mapping the live provider's name
to the catalog's, see :func:`catalog_provider_names`) tries, in order, the keys
:func:`match_keys` derives from the live id, its aliases (Mistral), and compares them with the
same keys derived from each catalog id:

1. the id itself (case-insensitive);
2. without a ``models/`` prefix (Gemini);
3. without a ``:latest`` / ``-latest`` tag;
4. without a Bedrock cross-region prefix (``us.``, ``eu.``, ``apac.``, ``global.``, ``au.``,
   ``jp.``, ``ca.``, ``us-gov.``);
5. without a Bedrock version suffix (``-v1:0``, ``-v2``, ``:0``);
6. without a Bedrock-style ``vendor.`` prefix (``anthropic.``, ``meta.``, ``amazon.``);
7. without a date suffix (``-2024-08-06``, ``-20240620``, ``@20240620``, ``@default``);
8. without a short version date (``-0613``, ``-2411``, ``-08-2024``).

A dated live id never takes from another dated version, nor from a ``-latest`` entry unless the
provider names that alias for it (:func:`match_kind`).

Keys are cumulative (each strips one more thing), so a closer key always wins over a looser one;
among catalog entries that share a key the one for which it is closer wins, then the shorter id,
then the newest-looking (lexically largest) id.

Precedence, per field: the live API first, always (a value a provider states about its own model
is the truth); then the catalogs, the closer match first (an entry for this very model or its
alias, then one for its undated base, then one for its family), and among equally close ones the
configured order (default: the order they are passed in, models.dev then LiteLLM); then the id
heuristic. The order after ``live`` can be set for all
fields, a section (``pricing``) or a single field path (``pricing.input``).
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any, Optional

from discovery.draft import (
    _ACCESS,
    FIELD_PATHS,
    HEURISTIC,
    LIVE,
    ModelDraft,
    _values,
    build_model,
    field_value,
    with_provenance,
)
from discovery.model import Model
from discovery.providers import FORMATS
from discovery.taxonomy import guess_family, guess_kind

# -- matching ------------------------------------------------------------------------------------
_MODELS_PREFIX = re.compile(r"^models/")
_LATEST = re.compile(r"[-:]latest$")
_REGION_PREFIX = re.compile(r"^(?:us|eu|apac|global|au|jp|ca|us-gov)\.")
_VERSION_SUFFIX = re.compile(r"(?:-v\d+(?::\d+)?|:\d+)$")
_VENDOR_PREFIX = re.compile(r"^[a-z]+(?:-[a-z]+)*\.(?=[a-z])")
_DATE_SUFFIX = re.compile(r"(?:[-@]\d{4}-\d{2}-\d{2}|[-@]\d{8}|@\d{6}|@default)$")
_SHORT_DATE = re.compile(r"(?:-\d{2}-\d{4}|-\d{4})$")
_STEPS = (_MODELS_PREFIX, _LATEST, _REGION_PREFIX, _VERSION_SUFFIX, _VENDOR_PREFIX, _DATE_SUFFIX, _SHORT_DATE)
_DATE_STEPS = (_DATE_SUFFIX, _SHORT_DATE)
_NOT_DIGIT = re.compile(r"\D")

# How a live model's value came from a catalog entry.
EXACT, ALIAS, UNDATED_BASE, FAMILY = "exact", "alias", "undated-base", "family"


def _spelled(model_id: str) -> str:
    # Azure spells GPT-3.5 without its dot (gpt-35-turbo).
    return model_id.lower().replace("gpt-35", "gpt-3.5")


@lru_cache(maxsize=1 << 16)
def match_keys(model_id: str) -> tuple[str, ...]:
    """The lookup keys of an id, closest first (see the module docstring for the rules)."""
    key = _spelled(model_id)
    keys = [key]
    for step in _STEPS:
        stripped = step.sub("", key)
        if stripped and stripped != key:
            key = stripped
            keys.append(key)
    return tuple(keys)


@lru_cache(maxsize=1 << 16)
def id_date(model_id: str) -> Optional[str]:
    """The version date an id carries (its digits: ``2024-08-06`` → ``20240806``), or None if undated."""
    key = _spelled(model_id)
    for step in _STEPS:
        found = step.search(key)
        if found is None:
            continue
        if step in _DATE_STEPS:
            if found.group(0) == "@default":
                continue
            return _NOT_DIGIT.sub("", found.group(0))
        stripped = key[:found.start()] + key[found.end():]
        if stripped:
            key = stripped
    return None


def match_kind(live_date: Optional[str], entry_id: str, via_alias: bool) -> Optional[str]:
    """How a live model (of ``live_date``) may take values from the catalog entry ``entry_id``:
    exact, alias, undated-base or family; None when it may not (another dated version, or a
    ``-latest`` entry the provider does not name an alias of the model)."""
    entry_date = id_date(entry_id)
    if live_date and entry_date and live_date != entry_date:
        return None
    if via_alias:
        return ALIAS
    if live_date and not entry_date:
        # A -latest entry is the newest version, which may be another one: a dated model takes
        # from it only when the provider names it an alias of that model (above).
        if _LATEST.search(_spelled(entry_id)):
            return None
        return UNDATED_BASE
    if entry_date and not live_date:
        return FAMILY
    return EXACT


class _Slot:
    """Several catalog entries under one (provider, match key): each with its rank there, and the best."""

    __slots__ = ("best", "candidates")

    def __init__(self) -> None:
        self.candidates: dict[str, tuple[int, Model]] = {}
        self.best: Model | None = None

    def choose(self) -> None:
        self.best = _best(self.candidates.values())


def _best(candidates) -> Model | None:
    """Closer key first, then the shorter id, then the lexically largest (newest-looking) id."""
    best: tuple[int, Model] | None = None
    for rank, m in candidates:
        if best is None:
            best = (rank, m)
            continue
        pid, bpid = m.provider_model_id, best[1].provider_model_id
        if (rank, len(pid)) < (best[0], len(bpid)) or ((rank, len(pid)) == (best[0], len(bpid)) and pid > bpid):
            best = (rank, m)
    return best[1] if best is not None else None


def slot_key(provider: str, key: str) -> str:
    """The name of one (provider, match key) slot."""
    return f"{provider}\x00{key}"


class CatalogLookup:
    """One catalog's entries, looked up by (provider, match key); kept current entry by entry.

    :meth:`put` and :meth:`remove` return the slots whose best entry changed (another entry, or
    a new version of the same one), so a caller can find the live models that looked there.
    """

    __slots__ = ("by_id", "source", "_slots")

    def __init__(self, source: str, models: Iterable[Model] = ()):
        self.source = source
        self.by_id: dict[str, Model] = {}
        # slot → the single entry there, or a _Slot when several share it.
        self._slots: dict[str, Model | _Slot] = {}
        for m in models:
            if m.id not in self.by_id:
                self.put(m)

    @property
    def models(self) -> tuple[Model, ...]:
        return tuple(self.by_id.values())

    def put(self, model: Model) -> set[str]:
        """Add or replace one entry (by id); returns the slots whose best entry changed."""
        model = with_provenance(model)
        changed = self.remove(model.id) if model.id in self.by_id else set()
        self.by_id[model.id] = model
        for rank, key in enumerate(match_keys(model.provider_model_id)):
            name = slot_key(model.provider, key)
            held = self._slots.get(name)
            if held is None:
                self._slots[name] = model
                changed.add(name)
                continue
            if not isinstance(held, _Slot):
                slot = _Slot()
                slot.candidates[held.id] = (match_keys(held.provider_model_id).index(key), held)
                slot.best = held
                self._slots[name] = held = slot
            before = held.best
            held.candidates[model.id] = (rank, model)
            held.choose()
            if held.best is not before:
                changed.add(name)
        return changed

    def remove(self, model_id: str) -> set[str]:
        """Drop one entry; returns the slots whose best entry changed."""
        model = self.by_id.pop(model_id, None)
        if model is None:
            return set()
        changed: set[str] = set()
        for key in match_keys(model.provider_model_id):
            name = slot_key(model.provider, key)
            held = self._slots.get(name)
            if held is None:
                continue
            if not isinstance(held, _Slot):
                if held is model:
                    del self._slots[name]
                    changed.add(name)
                continue
            before = held.best
            held.candidates.pop(model_id, None)
            if len(held.candidates) == 1:
                (_, only), = held.candidates.values()
                self._slots[name] = only
                if only is not before:
                    changed.add(name)
            elif not held.candidates:
                del self._slots[name]
                changed.add(name)
            else:
                held.choose()
                if held.best is not before:
                    changed.add(name)
        return changed

    def lookup(self, provider: str, keys: Sequence[str]) -> Model | None:
        """The best entry for the first of ``keys`` (closest first) that this catalog knows."""
        for key in keys:
            held = self._slots.get(slot_key(provider, key))
            if held is not None:
                return held.best if isinstance(held, _Slot) else held
        return None

    def find(self, provider: str, plan: Sequence[tuple[str, bool]], live_date: Optional[str]
             ) -> tuple[Model, str] | None:
        """The entry a live model takes values from, and how it matched: for each (key, is an
        alias) of ``plan`` in order, the best entry under that key that is not another dated
        version of the model (see :func:`match_kind`)."""
        for key, via_alias in plan:
            held = self._slots.get(slot_key(provider, key))
            if held is None:
                continue
            if not isinstance(held, _Slot):
                kind = match_kind(live_date, held.provider_model_id, via_alias)
                if kind is not None:
                    return held, kind
                continue
            best = held.best
            kind = match_kind(live_date, best.provider_model_id, via_alias) if best is not None else None
            if kind is not None:
                return best, kind  # type: ignore[return-value]
            # The slot's best is another version: the best of the others that may be used, if any.
            allowed = [(rank, m) for rank, m in held.candidates.values()
                       if match_kind(live_date, m.provider_model_id, via_alias) is not None]
            if allowed:
                chosen = _best(allowed)
                return chosen, match_kind(live_date, chosen.provider_model_id, via_alias)  # type: ignore
        return None


# The name older callers use for a catalog's lookup table.
CatalogIndex = CatalogLookup


def live_match_plan(model: Model) -> tuple[tuple[str, bool], ...]:
    """(key, is from an alias) in the order a live model is looked up (see :func:`live_match_keys`)."""
    own = match_keys(model.provider_model_id)
    alias_keys = [match_keys(a) for a in model.aliases]
    ordered = [(own[0], False), *((k[0], True) for k in alias_keys), *((k, False) for k in own[1:]),
               *((x, True) for k in alias_keys for x in k[1:])]
    seen: dict[str, bool] = {}
    for key, via_alias in ordered:
        seen.setdefault(key, via_alias)
    return tuple(seen.items())


def live_match_keys(model: Model) -> tuple[str, ...]:
    """Keys to look a live model up by: its exact id and aliases first, then the looser variants."""
    own = match_keys(model.provider_model_id)
    alias_keys = [match_keys(a) for a in model.aliases]
    ordered = [own[0], *(k[0] for k in alias_keys), *own[1:], *(x for k in alias_keys for x in k[1:])]
    return tuple(dict.fromkeys(ordered))


# -- precedence ----------------------------------------------------------------------------------
Precedence = Sequence[str] | Mapping[str, Sequence[str]] | None


class FieldOrder:
    """The source order for each field path: ``live`` first, then as configured, then the rest."""

    def __init__(self, catalogs: Sequence[str], precedence: Precedence = None):
        default = [*catalogs, HEURISTIC]
        table: Mapping[str, Sequence[str]]
        if isinstance(precedence, str):
            precedence = [precedence]
        if precedence is None:
            table = {}
        elif isinstance(precedence, Mapping):
            table = precedence
        else:
            table = {"*": precedence}
        self.by_path: dict[str, tuple[str, ...]] = {}
        for path in FIELD_PATHS:
            section = path.split(".", 1)[0]
            chosen = table.get(path) or table.get(section) or table.get("*") or ()
            order = [s for s in chosen if s != LIVE]
            order += [s for s in default if s not in order]
            self.by_path[path] = (LIVE, *order)
        self.key = tuple(sorted(self.by_path.items()))


def _guesses(base: Model | None, matches: Mapping[str, Model], head: Model) -> dict[str, Any]:
    """Heuristic values: those a source already guessed (first wins), else computed from the id."""
    out: dict[str, Any] = {}
    for candidate in (base, *matches.values()):
        if candidate is None:
            continue
        for path, origin in candidate.provenance.items():
            if origin == HEURISTIC and path not in out:
                value = field_value(candidate, path)
                if value is not None:
                    out[path] = value
    if "kind" not in out:
        out["kind"] = guess_kind(head.provider_model_id)
    if "family" not in out:
        out["family"] = guess_family(head.provider_model_id)
    return out


def entry_name(model: Model) -> str:
    """The name a source gives the record: LiteLLM's map key, else the provider's own id."""
    key = model.attributes.get("litellm_key")
    return key if isinstance(key, str) and key else model.provider_model_id


# A field's trace: (source, entry, how matched, [(source, entry, value) of sources stating otherwise]).
Trace = dict[str, tuple[str, Optional[str], Optional[str], list]]


def trace_of(model: Model) -> Trace:
    """The trace of a record that was not combined: each filled field from the record itself."""
    own = entry_name(model)
    out: Trace = {}
    for path, origin in model.provenance.items():
        out[path] = (origin, None, None, []) if origin == HEURISTIC else (origin, own, EXACT, [])
    return out


def combine(base: Model | None, matches: Mapping[str, Model], order: FieldOrder,
            template: Model | None = None, kinds: Optional[Mapping[str, str]] = None,
            trace: Optional[Trace] = None) -> Model:
    """One model from a live model (``base``, may be None) and catalog entries by source name.

    The identity, attributes, raw record and liveness come from ``base`` (or ``template``, the
    first catalog entry, for a catalog-only model); every field is resolved by ``order``. With
    ``trace`` (a dict to fill), each filled field gets its source, entry and how that entry
    matched (``kinds``: catalog name → exact, alias, undated-base or family), and the values other
    sources state for it where they differ.
    """
    if base is not None and not matches and base.source != HEURISTIC:
        return _alone(base, trace)
    return _combined(base, matches, order, template, kinds, trace)


def _alone(base: Model, trace: Optional[Trace]) -> Model:
    """:func:`combine` of a live model no catalog entry matched, without walking the precedence.

    With no entries, each field is the live value unless its own provenance says it was guessed
    (then it stays, as the heuristic's); an empty ``kind`` or ``family`` is guessed from the id.
    The same values, provenance and trace as the general walk (tests/providers/test_enrich_alone.py).
    """
    values: dict[str, Any] = {}
    provenance: dict[str, str] = {}
    own: dict[str, Any] = {}
    stated = base.provenance
    fallback = base.source or LIVE
    entry = None
    for path, section, name in _ACCESS:
        value = getattr(getattr(base, section), name) if section else getattr(base, name)
        if value is not None:
            own[path] = value
            origin = stated.get(path) or fallback
            values[path], provenance[path] = value, origin
            if trace is not None:
                if origin == HEURISTIC:
                    trace[path] = (HEURISTIC, None, None, [])
                else:
                    entry = entry or entry_name(base)
                    trace[path] = (origin, entry, EXACT, [])
            continue
        if path == "kind":
            value = guess_kind(base.provider_model_id)
        elif path == "family":
            value = guess_family(base.provider_model_id)
        if value is not None:
            values[path], provenance[path] = value, HEURISTIC
            if trace is not None:
                trace[path] = (HEURISTIC, None, None, [])
    if values == own and provenance == dict(stated):
        return base  # nothing enriched: keep the object (and its memoized content hash)
    return build_model(base.provider, base.provider_model_id, values, provenance=provenance,
                       attributes=base.attributes, raw=base.raw, source=base.source, live=base.live)


def _combined(base: Model | None, matches: Mapping[str, Model], order: FieldOrder, template: Model | None,
              kinds: Optional[Mapping[str, str]], trace: Optional[Trace]) -> Model:
    """:func:`combine` by walking each field's precedence over the live model and the entries."""
    head = base if base is not None else template
    assert head is not None
    guesses = _guesses(base, matches, head)
    values: dict[str, Any] = {}
    provenance: dict[str, str] = {}
    closer = _closer_first(kinds, matches)
    window_from = input_from = None  # the tokens the context window and the input price were taken from
    # The limits' and cache prices' rules compare two sources' values: with one source there is
    # nothing to compare (a catalog-only record: most of a cold ingest), and they are not looked at.
    guarded = _GUARDED if len(matches) + (base is not None) > 1 else {}
    for path, section, name in _ACCESS:
        chosen_token = None
        guard = guarded.get(path)
        tokens = order.by_path[path]
        for token in (closer(tokens) if closer is not None else tokens):
            if token == HEURISTIC:
                value = guesses.get(path)
                if value is not None:
                    values[path], provenance[path] = value, HEURISTIC
                    chosen_token = token
                    break
                continue
            candidate = base if token == LIVE else matches.get(token)
            if candidate is None:
                continue
            value = getattr(getattr(candidate, section), name) if section else getattr(candidate, name)
            if value is None:
                continue
            origin = candidate.provenance.get(path) or candidate.source or token
            if origin == HEURISTIC:
                continue
            if guard is CACHE_PRICE and token != input_from and not _same_price(
                    candidate.pricing.input, values.get("pricing.input")):
                # A cache price belongs to its table's input price: a catalog whose input price
                # differs from the one taken (mistral-medium's 1.5 beside models.dev's 0.4; Groq's
                # new 0.2 beside models.dev's old 0.15) prices another model or another time.
                continue
            if guard is WITHIN_WINDOW and token not in (LIVE, window_from) \
                    and value > values.get("limits.context_window", value):
                # A catalog's input or output limit past the window another source gave
                # (LiteLLM's undated entry's 262,144 beside Mistral's own 131,072 for a dated
                # model) is another model's: the next source is asked. The live API's own is kept.
                continue
            values[path], provenance[path] = value, origin
            chosen_token = token
            break
        if guard is WINDOW:
            window_from = chosen_token
        elif guard is INPUT_PRICE:
            input_from = chosen_token
        if trace is not None and chosen_token is not None:
            trace[path] = _field_trace(path, section, name, chosen_token, values[path], provenance[path], base,
                                       matches, kinds or {})
    if base is not None and values == _values(base) and provenance == dict(base.provenance):
        return base  # nothing enriched: keep the object (and its memoized content hash)
    return build_model(head.provider, head.provider_model_id, values, provenance=provenance,
                       attributes=head.attributes, raw=head.raw, source=head.source, live=head.live)


# The paths the rules between sources look at: limits no larger than the context window when
# another source gave the window; cache prices taken from another source than the input price
# only where its input price agrees.
WINDOW, WITHIN_WINDOW, INPUT_PRICE, CACHE_PRICE = "window", "within window", "input price", "cache price"
_GUARDED = {"limits.context_window": WINDOW, "limits.max_input_tokens": WITHIN_WINDOW,
            "limits.max_output_tokens": WITHIN_WINDOW, "pricing.input": INPUT_PRICE,
            "pricing.cache_read": CACHE_PRICE, "pricing.cache_write": CACHE_PRICE}


def _same_price(theirs: Optional[float], taken: Optional[float]) -> bool:
    """Whether a source's input price agrees with the one taken (within 1%), or either is unknown."""
    if theirs is None or taken is None:
        return True
    return abs(theirs - taken) <= 0.01 * max(abs(theirs), abs(taken))

# How close each kind of match is: an entry for this very model (or its alias) before one for its
# undated base, before one for its family.
_CLOSENESS = {EXACT: 0, ALIAS: 0, UNDATED_BASE: 1, FAMILY: 2}


def _closer_first(kinds: Optional[Mapping[str, str]], matches: Mapping[str, Model]):
    """None when every matched catalog matched as closely; else a function that reorders a field's
    precedence so closer matches come first, the configured order breaking ties (live and the
    heuristic keep their places): a value stated for this very model beats one for its base."""
    if not kinds:
        return None
    rank = {name: _CLOSENESS.get(kinds.get(name, EXACT), 0) for name in matches}
    if len(set(rank.values())) < 2:
        return None
    memo: dict[tuple[str, ...], tuple[str, ...]] = {}

    def reorder(tokens: tuple[str, ...]) -> tuple[str, ...]:
        found = memo.get(tokens)
        if found is None:
            spots = [i for i, t in enumerate(tokens) if t in rank]
            ordered = sorted((tokens[i] for i in spots), key=rank.__getitem__)  # stable: ties keep the order
            out = list(tokens)
            for i, token in zip(spots, ordered):
                out[i] = token
            found = memo[tokens] = tuple(out)
        return found

    return reorder


def _field_trace(path: str, section: Optional[str], name: str, chosen: str, value: Any, origin: str,
                 base: Model | None, matches: Mapping[str, Model], kinds: Mapping[str, str]
                 ) -> tuple[str, Optional[str], Optional[str], list]:
    if chosen == HEURISTIC:
        where: tuple[str, Optional[str], Optional[str]] = (HEURISTIC, None, None)
    else:
        source = base if chosen == LIVE else matches[chosen]
        where = (origin, entry_name(source), EXACT if chosen == LIVE else kinds.get(chosen, EXACT))  # type: ignore
    conflicts = []
    for token, candidate in ((LIVE, base), *matches.items()):
        if candidate is None or token == chosen:
            continue
        other = getattr(getattr(candidate, section), name) if section else getattr(candidate, name)
        if other is None or other == value or (candidate.provenance.get(path) == HEURISTIC):
            continue
        conflicts.append((candidate.provenance.get(path) or candidate.source or token, entry_name(candidate), other))
    return (*where, conflicts)


def trace_json(trace: Trace) -> bytes:
    """A trace as the API shows a record's provenance (without ``verified_at``), JSON bytes."""
    out: dict[str, Any] = {}
    for path, (source, entry, match, conflicts) in trace.items():
        item: dict[str, Any] = {"source": source, "entry": entry, "match": match}
        if conflicts:
            item["conflicts"] = [{"source": s, "entry": e, "value": v} for s, e, v in conflicts]
        out[path] = item
    from discovery.model import dumps

    return dumps(out)


def catalog_provider_names(configs: Iterable[Any]) -> dict[str, str]:
    """For each configured live provider, the provider name its models carry in the catalogs.

    The ``catalog_provider`` option wins; otherwise the format name (a provider configured as
    ``openai-eu`` with format ``openai`` is matched against the catalogs' ``openai`` entries).
    Formats whose name is not a catalog provider name map through their own ``catalog_name``.
    """
    out = {}
    for cfg in configs:
        cls = FORMATS.get(cfg.format)
        if cls is None or cls.is_catalog:
            continue
        default = getattr(cls, "catalog_name", None) or cfg.format
        out[cfg.name] = str(cfg.options.get("catalog_provider") or default)
    return out


__all__ = [
    "FIELD_PATHS", "HEURISTIC", "LIVE", "CatalogIndex", "CatalogLookup", "FieldOrder", "ModelDraft", "build_model",
    "catalog_provider_names", "combine", "field_value", "live_match_keys", "match_keys", "slot_key",
    "with_provenance",
]
