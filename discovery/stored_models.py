"""Reads of the stored models: every source's last answer (for the merge at start-up), the
published rows (for the index), raw answers, provenance and details read on demand, and a model's
versions. The writes are :func:`discovery.refresh_commit.commit_refresh`'s."""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Optional

from discovery.model import Model, loads
from discovery.schema import ModelRow, ModelVersionRow, ProviderRow, SourceModelRow, db
from discovery.store import CHUNK


@dataclass(frozen=True)
class StoredSource:
    """One source's last accepted answer as stored: records (without raw) and their fingerprints."""

    models: Mapping[str, Model]
    fingerprints: Mapping[str, Optional[str]]
    body_hash: Optional[str] = None


def load_sources(build: Optional[Callable[[str, bytes, str, Any], Any]] = None) -> dict[str, StoredSource]:
    """Every source's last good models and fingerprints, for rebuilding the merge at start-up.

    ``build(source, record JSON, content hash, stored packed form or None)`` makes each record
    (default: a Model). Read from the driver's cursor, as :func:`load_current_rows` is.
    """
    models: dict[str, dict[str, Any]] = {}
    prints: dict[str, dict[str, Optional[str]]] = {}
    sql, params = SourceModelRow.select(SourceModelRow.source, SourceModelRow.model_id, SourceModelRow.fingerprint,
                                        SourceModelRow.content_hash, SourceModelRow.data,
                                        SourceModelRow.packed).sql()
    for source, model_id, fingerprint, content_hash, data, packed in db.execute_sql(sql, params):
        data = data.encode() if isinstance(data, str) else bytes(data)
        models.setdefault(source, {})[model_id] = (build(source, data, content_hash, packed) if build is not None
                                                   else Model.from_dict(loads(data), raw=b"{}"))
        prints.setdefault(source, {})[model_id] = fingerprint
    hashes = dict(ProviderRow.select(ProviderRow.name, ProviderRow.body_hash).tuples())
    return {source: StoredSource(found, prints[source], hashes.get(source)) for source, found in models.items()}


def load_source_models() -> dict[str, dict[str, Model]]:
    """Every source's last good models (without raw answers)."""
    return {source: dict(s.models) for source, s in load_sources().items()}


def has_sources() -> bool:
    """Whether any source's answer is stored."""
    return SourceModelRow.select().limit(1).exists()


def load_current_rows() -> Iterator[tuple[str, bytes, bytes, Any]]:
    """(content hash, list form, provenance, stored packed form or None) of every published model.

    Read from the driver's cursor as it is: peewee's per-row conversion was a seventh of loading
    10k models at start-up. The text columns are handed back as bytes, as EncodedJSONField does.
    """
    query = ModelRow.select(ModelRow.content_hash, ModelRow.body, ModelRow.provenance, ModelRow.packed)
    sql, params = query.sql()
    cursor = db.execute_sql(sql, params)
    for content_hash, body, provenance, packed in cursor:
        yield (content_hash, body.encode() if isinstance(body, str) else bytes(body),
               provenance.encode() if isinstance(provenance, str) else bytes(provenance), packed)


def load_current_models() -> dict[str, Model]:
    """The published catalog as last committed (without raw answers)."""
    out = {}
    for _, body, provenance, _ in load_current_rows():
        m = Model.from_dict({**loads(body), "provenance": compact_provenance(loads(provenance))}, raw=b"{}")
        out[m.id] = m
    return out


def load_raw(source: Optional[str], model_id: str) -> Optional[bytes]:
    """The raw answer a source gave for one model (a primary-key read), or None."""
    if source is None:
        return None
    raw = (SourceModelRow.select(SourceModelRow.raw)
           .where((SourceModelRow.source == source) & (SourceModelRow.model_id == model_id)).scalar())
    return raw.encode() if isinstance(raw, str) else raw


def load_raws(pairs: Iterable[tuple[Optional[str], str]]) -> dict[tuple[str, str], bytes]:
    """Raw answers of many (source, model id) pairs, a query per source and chunk."""
    by_source: dict[str, list[str]] = {}
    for source, model_id in pairs:
        if source is not None:
            by_source.setdefault(source, []).append(model_id)
    out: dict[tuple[str, str], bytes] = {}
    for source, ids in by_source.items():
        for i in range(0, len(ids), CHUNK):
            rows = (SourceModelRow.select(SourceModelRow.model_id, SourceModelRow.raw)
                    .where((SourceModelRow.source == source) & SourceModelRow.model_id.in_(ids[i:i + CHUNK])).tuples())
            for model_id, raw in rows:
                out[(source, model_id)] = raw if isinstance(raw, bytes) or raw is None else raw.encode()
    return out


def load_provenances(model_ids: Iterable[str]) -> dict[str, bytes]:
    """The stored provenance of each published model given (JSON), by id."""
    ids = list(model_ids)
    out: dict[str, bytes] = {}
    for i in range(0, len(ids), CHUNK):
        for model_id, provenance in (ModelRow.select(ModelRow.id, ModelRow.provenance)
                                     .where(ModelRow.id.in_(ids[i:i + CHUNK])).tuples()):
            out[model_id] = provenance.encode() if isinstance(provenance, str) else provenance
    return out


def load_detail(source: Optional[str], model_id: str) -> tuple[bytes, bytes]:
    """What a model's detail adds to its list form: the raw answer and the traced provenance (JSON)."""
    provenance = ModelRow.select(ModelRow.provenance).where(ModelRow.id == model_id).scalar()
    provenance = provenance.encode() if isinstance(provenance, str) else (provenance or b"{}")
    return load_raw(source, model_id) or b"{}", provenance


def load_model(model_id: str) -> Optional[Model]:
    """One published model with its raw answer, from the store."""
    row = ModelRow.get_or_none(ModelRow.id == model_id)
    if row is None:
        return None
    return Model.from_dict({**loads(row.body), "provenance": compact_provenance(loads(row.provenance))},
                           raw=load_raw(row.source, model_id) or b"{}")


def compact_provenance(stored: Mapping[str, Any]) -> dict[str, str]:
    """Field path → source from a stored provenance (traced: {path: {"source", ...}}, or plain)."""
    return {path: (value.get("source") if isinstance(value, Mapping) else value) for path, value in stored.items()}


def model_history(model_id: str, limit: int = 100, before: Optional[int] = None) -> list[dict[str, Any]]:
    """A model's versions, oldest first: the newest ``limit`` (older than version ``before``)."""
    return model_history_page(model_id, limit, before)[0]


def model_history_page(model_id: str, limit: int = 100, before: Optional[int] = None
                       ) -> tuple[list[dict[str, Any]], bool, int]:
    """(the newest ``limit`` versions older than ``before`` (all, without it), oldest first;
    whether older ones are left; how many versions the model has in all)."""
    query = ModelVersionRow.select().where(ModelVersionRow.model_id == model_id)
    if before is not None:
        query = query.where(ModelVersionRow.version < before)
    rows = list(query.order_by(ModelVersionRow.version.desc()).limit(limit + 1))
    more = len(rows) > limit
    out = [{
        "version": r.version, "change": r.change, "content_hash": r.content_hash, "diff": r.diff,
        "run_id": r.run_id, "created_at": r.created_at, "reason": r.reason, "model": r.data,
    } for r in rows[:limit]]
    out.reverse()
    total = ModelVersionRow.select().where(ModelVersionRow.model_id == model_id).count()
    return out, more, total
