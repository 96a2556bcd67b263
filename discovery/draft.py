"""Building a model record field by field, each field with the source that stated it.

A *field path* names one taxonomy field: a top-level one (``kind``) or one inside a section
(``limits.context_window``). Every model records, per filled field, the source that stated it
(``provenance``): a configured source name (``openai``, ``modelsdev``, ``litellm``) or
``heuristic`` for a guess made from the id alone. Every provider's normalizer builds its records
with :class:`ModelDraft`; :mod:`discovery.enrich` combines them.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from discovery.model import SECTIONS, Model, Provenance

LIVE = "live"
HEURISTIC = "heuristic"

SCALARS = ("name", "family", "kind", "open_weights", "regions")
FIELD_PATHS: tuple[str, ...] = SCALARS + tuple(
    f"{section}.{name}" for section, klass in SECTIONS.items() for name in klass.__dataclass_fields__
)
# (path, section or None, attribute) — precomputed because enrichment reads every field of
# thousands of models on each snapshot.
_ACCESS: tuple[tuple[str, str | None, str], ...] = tuple(
    (p, *p.split(".", 1)) if "." in p else (p, None, p) for p in FIELD_PATHS
)


def field_value(model: Model, path: str) -> Any:
    """The value of one field path of ``model`` (``limits.context_window``)."""
    section, _, name = path.rpartition(".")
    return getattr(getattr(model, section), name) if section else getattr(model, name)


def _values(model: Model) -> dict[str, Any]:
    """Every non-None field of ``model`` by path."""
    out = {}
    for path, section, name in _ACCESS:
        value = getattr(getattr(model, section), name) if section else getattr(model, name)
        if value is not None:
            out[path] = value
    return out


def build_model(provider: str, provider_model_id: str, values: Mapping[str, Any], *,
                provenance: Mapping[str, str], attributes: Mapping[str, Any] | None = None,
                raw: Mapping[str, Any] | None = None, source: str | None = None,
                live: bool = True) -> Model:
    """A Model from field-path values (missing paths stay None)."""
    top: dict[str, Any] = {}
    sections: dict[str, dict[str, Any]] = {}
    for path, value in values.items():
        section, _, name = path.rpartition(".")
        if section:
            sections.setdefault(section, {})[name] = value
        else:
            top[name] = value
    for section, fields in sections.items():
        top[section] = SECTIONS[section](**fields)
    return Model(provider=provider, provider_model_id=provider_model_id, attributes=attributes or {},
                 raw=raw or {}, source=source, live=live, provenance=provenance, **top)


class ModelDraft:
    """A model being normalized: fields set one at a time, each with the source that stated it."""

    __slots__ = ("provenance", "provider", "provider_model_id", "source", "values")

    def __init__(self, provider: str, provider_model_id: str, source: str):
        self.provider = provider
        self.provider_model_id = provider_model_id
        self.source = source
        self.values: dict[str, Any] = {}
        self.provenance: dict[str, str] = {}

    def set(self, path: str, value: Any, source: str | None = None) -> None:
        """Set ``path`` to ``value`` unless it is None (unknown stays unknown)."""
        if value is None:
            return
        if isinstance(value, list):
            value = tuple(value)
        self.values[path] = value
        self.provenance[path] = source or self.source

    def guess(self, path: str, value: Any) -> None:
        """Set ``path`` from an id heuristic, only if nothing better is known."""
        if path not in self.values:
            self.set(path, value, HEURISTIC)

    def get(self, path: str) -> Any:
        """The value set for ``path``, or None."""
        return self.values.get(path)

    def build(self, *, attributes: Mapping[str, Any] | None = None, raw: Mapping[str, Any] | None = None,
              live: bool = True) -> Model:
        """The finished :class:`Model`."""
        return build_model(self.provider, self.provider_model_id, self.values, provenance=self.provenance,
                           attributes=attributes, raw=raw, source=self.source, live=live)


def with_provenance(model: Model) -> Model:
    """``model`` with a provenance entry (its own source) for every filled field that lacks one.

    A model with any provenance is taken as complete: this service's mappers record every field.
    """
    if model.provenance or not isinstance(model, Model):
        return model  # complete already (a packed record was completed before it was packed)
    filled = tuple(_values(model))
    if not filled:
        return model
    # A source's records fill a few distinct sets of fields, so their maps are made once each
    # (a cold models.dev ingest made 5,288 maps for 80 distinct ones). Made here rather than taken
    # from the shared ones, each lists its fields in the taxonomy's order whatever was made before.
    key = (model.source or "unknown", filled)
    provenance = _FILLED_BY.get(key)
    if provenance is None:
        provenance = Provenance(dict.fromkeys(filled, key[0]))
        if len(_FILLED_BY) >= _FILLED_BY_LIMIT:
            _FILLED_BY.clear()
        _FILLED_BY[key] = provenance
    return model.with_provenance_of(provenance)


def completed_trace(fields: dict[str, Any], record: Callable[[], Mapping[str, Any]]) -> dict[str, Any]:
    """``fields`` (a served record's traced provenance: path → source, entry, match) with an entry
    for every field ``record`` (its list form) fills that has none: the record's own source's.

    A catalog record published as it came keeps the map its mapper made, and models.dev's mapper
    records only its guess at a missing status: 4,096 catalog-only records were served with
    prices, limits and capabilities credited to no source. Completed where it is served (the
    detail and as_of reads), not at ingest, where the fuller maps cost a cold models.dev ingest
    a third more (1.14 s → 1.57 s). ``record`` gives the list form, asked for only then: a trace
    with any entry that is not a guess is complete (every mapper but that one records each field)."""
    if any((item.get("source") if isinstance(item, Mapping) else item) != HEURISTIC for item in fields.values()):
        return fields
    record = record()
    source = record.get("source")
    if not source:
        return fields
    for path in FIELD_PATHS:
        if path in fields:
            continue
        section, _, name = path.partition(".")
        value = record.get(section)
        if name:
            value = value.get(name) if isinstance(value, Mapping) else None
        if value is not None:
            fields[path] = {"source": source, "entry": record.get("provider_model_id"), "match": "exact"}
    return fields


# (source, filled field paths) → the provenance map with_provenance gives such a record.
_FILLED_BY: dict[tuple[str, tuple[str, ...]], Provenance] = {}
_FILLED_BY_LIMIT = 4096


__all__ = ["FIELD_PATHS", "HEURISTIC", "LIVE", "SCALARS", "ModelDraft", "build_model", "completed_trace", "field_value",
           "with_provenance"]
