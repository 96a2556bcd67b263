"""The functions that read and write the store (its tables are in :mod:`discovery.schema`,
whose names this module re-exports).

``db`` is a :class:`peewee.DatabaseProxy` initialized once at start-up: SQLite (WAL, foreign
keys) by default, any peewee URL from ``DATABASE_URL``. Here: the connection, the leader's fence,
write transactions and bulk writes, the provider rows and the event outbox. Every catalog write
goes through :func:`discovery.refresh_commit.commit_refresh`, one transaction that writes
versions, current rows, the refresh runs and the outbox events together; the stored models are
read by :mod:`discovery.stored_models`, the refresh runs by :mod:`discovery.refresh_runs`.
"""
from __future__ import annotations

import operator
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Optional

import peewee
from playhouse.db_url import connect, parse
from playhouse.db_url import schemes as db_url_schemes
from playhouse.shortcuts import ReconnectMixin

from discovery.model import Model, dumps, loads, thaw
from discovery.schema import (  # noqa: F401 (re-exported for callers)
    FAILED,
    INTERRUPTED,
    RUNNING,
    SUCCEEDED,
    TABLES,
    WEBHOOK_TABLES,
    BaseModel,
    BenchmarkResultRow,
    BenchmarkRunRow,
    EncodedJSONField,
    EventRow,
    JSONField,
    JSONText,
    LeaderRequestRow,
    LeadershipRow,
    LifecycleNoticeRow,
    MetaRow,
    ModelRow,
    ModelVersionRow,
    ProviderRow,
    RefreshRunRow,
    SourceModelRow,
    db,
)
from discovery.sources import BEDROCK_PROVIDER, BEDROCK_SOURCE_PREFIX
from discovery.timestamps import iso, with_iso_times

CHUNK = 200
# Ids per lookup query on the write path (SQLite allows 32,766 parameters since 3.32).
LOOKUP_CHUNK = 900


# -- fencing -----------------------------------------------------------------------------------

class Fenced(RuntimeError):
    """This instance may not write: another instance holds a newer leadership epoch."""

    # Expected while a deposed leader steps down: logged as one line, not a traceback (each of
    # its writes refused logged one, some 20 a step-down, burying whatever else went wrong).
    log_brief = True


class _Fence:
    """What this process may write under: ``required`` once an election governs the store (several
    instances on PostgreSQL); ``epoch`` the leadership epoch this process won (None: not leader)."""

    required = False
    epoch: Optional[int] = None
    # Why this instance stepped down (its lock was lost, or a write was refused): set, every write
    # is refused, even while the store still names this instance's epoch.
    deposed: Optional[str] = None
    # Called (once) when a write is refused: the service steps down.
    on_fenced: Optional[Callable[[str], None]] = None


FENCE = _Fence()


def set_fence(required: bool, epoch: Optional[int]) -> None:
    FENCE.required, FENCE.epoch, FENCE.deposed = required, epoch, None


def step_down(reason: str) -> None:
    """Refuse every write from now on (the epoch is kept for what the refusals say)."""
    FENCE.deposed = reason


def current_epoch() -> Optional[int]:
    """The epoch this process writes under (None on a single instance, or when not the leader)."""
    return FENCE.epoch


def check_fence() -> None:
    """Inside a write transaction: refuse it unless this process holds the newest epoch.

    ``FOR SHARE`` keeps the row as read until the transaction ends: a new leader's epoch bump
    waits for the writes already past this check, and every later check sees the new epoch.
    """
    if not FENCE.required:
        return
    epoch = FENCE.epoch
    if FENCE.deposed is not None:
        raise Fenced(f"fenced: this instance lost the leadership of epoch {epoch}: {FENCE.deposed}")
    row = db.execute_sql("SELECT epoch, instance FROM leadership WHERE id = 1 FOR SHARE").fetchone()
    if epoch is None or row is None or row[0] != epoch:
        held = f"the store names epoch {row[0]}, held by {row[1]}" if row else "the store names no leader"
        if epoch is None:
            raise Fenced(f"fenced: this instance is a follower ({held})")
        hook = FENCE.on_fenced
        if hook is not None:
            hook(held)
        raise Fenced(f"fenced: epoch {epoch} is over ({held})")


@contextmanager
def write_transaction() -> Iterator[Any]:
    """One write transaction, refused (rolled back, :class:`Fenced`) unless this process leads."""
    with db.atomic() as txn:
        check_fence()
        yield txn
    checkpointer = getattr(_writer, "checkpointer", None)
    if checkpointer is not None:
        checkpointer.poke()


# The writer's thread: its SQLite connection leaves checkpoints to a thread of their own.
_writer = threading.local()
_checkpointers: dict[str, Any] = {}


def checkpoint_in_background() -> Optional[Any]:
    """Called by the writer: its connection no longer checkpoints the write-ahead log as part of a
    commit; a thread does it after each of its write transactions (discovery/checkpoint.py).
    The :class:`~discovery.checkpoint.WalCheckpointer`, or None (PostgreSQL, an in-memory SQLite)."""
    from discovery.checkpoint import WalCheckpointer

    database = db.obj
    path = database.database if isinstance(database, peewee.SqliteDatabase) else None
    if not path or path == ":memory:" or str(path).startswith("file:"):
        return None
    db.execute_sql("PRAGMA wal_autocheckpoint=0")
    with _OPEN_LOCK:
        checkpointer = _checkpointers.get(path)
        if checkpointer is None or not checkpointer.alive:
            checkpointer = _checkpointers[path] = WalCheckpointer(path).start()
    _writer.checkpointer = checkpointer
    return checkpointer


def stop_background_checkpoints() -> None:
    """The writer is stopping: one last checkpoint pass, and the thread ends."""
    checkpointer = getattr(_writer, "checkpointer", None)
    _writer.checkpointer = None
    if checkpointer is not None:
        with _OPEN_LOCK:
            if _checkpointers.get(checkpointer.path) is checkpointer:
                del _checkpointers[checkpointer.path]
        checkpointer.stop()


def load_notices() -> dict[tuple[str, str], tuple[str, frozenset[int]]]:
    """The retiring_soon notices given: (model id, kind) → (the date warned about, its horizons)."""
    out: dict[tuple[str, str], tuple[str, set[int]]] = {}
    rows = LifecycleNoticeRow.select(LifecycleNoticeRow.model_id, LifecycleNoticeRow.kind,
                                     LifecycleNoticeRow.horizon, LifecycleNoticeRow.date).tuples()
    for model_id, kind, horizon, day in rows:
        held = out.get((model_id, kind))
        if held is None or held[0] != day:
            out[(model_id, kind)] = held = (day, set())
        held[1].add(horizon)
    return {key: (day, frozenset(horizons)) for key, (day, horizons) in out.items()}


def record_notices(notices: Sequence[Any], now: float) -> list[StoredEvent]:
    """Store notices given (each covering its horizons, a moved date replacing the old one) and
    their retiring_soon events, in one transaction."""
    with write_transaction():
        for n in notices:
            # A moved date: the horizons warned about for the old date no longer count.
            LifecycleNoticeRow.delete().where((LifecycleNoticeRow.model_id == n.model_id)
                                              & (LifecycleNoticeRow.kind == n.kind)
                                              & (LifecycleNoticeRow.date != n.date)).execute()
            for horizon in n.covers:
                LifecycleNoticeRow.insert(model_id=n.model_id, kind=n.kind, horizon=horizon, date=n.date,
                                          created_at=now).on_conflict(
                    conflict_target=[LifecycleNoticeRow.model_id, LifecycleNoticeRow.kind, LifecycleNoticeRow.horizon],
                    update={LifecycleNoticeRow.date: n.date, LifecycleNoticeRow.created_at: now}).execute()
        return insert_events([("retiring_soon", n.provider, n.model_id, None, n.event_data()) for n in notices], now)


def get_meta(key: str) -> Optional[str]:
    """A stored fact, or None."""
    return MetaRow.select(MetaRow.value).where(MetaRow.key == key).scalar()


CATALOG_ID = "catalog_id"


def catalog_id() -> str:
    """This catalog's own name: a random UUID made the first time it is asked for and kept in the
    store, the same for every instance on it and across restarts (the Atom feed's ids)."""
    found = get_meta(CATALOG_ID)
    if found is None:
        MetaRow.insert(key=CATALOG_ID, value=uuid.uuid4().hex).on_conflict_ignore().execute()
        found = get_meta(CATALOG_ID)
    return str(found)


def meta_with_prefix(prefix: str) -> dict[str, str]:
    """Every stored fact whose key starts with ``prefix`` (and has a value)."""
    rows = MetaRow.select(MetaRow.key, MetaRow.value).where(
        MetaRow.key.startswith(prefix) & MetaRow.value.is_null(False))
    return {row.key: row.value for row in rows}


def set_meta(key: str, value: Optional[str]) -> None:
    """Store a fact (inside the caller's transaction, if any)."""
    MetaRow.insert(key=key, value=value).on_conflict(conflict_target=[MetaRow.key],
                                                      update={MetaRow.value: value}).execute()


def open_database(url: str) -> peewee.Database:
    """Connect ``db`` to ``url`` (``sqlite:///path`` or any peewee URL) and create the tables.

    Every actor calls this from its own thread (peewee connections are per thread): the database
    object is made once per URL and shared, so one thread never swaps it under another's feet.
    The tables are made (or checked and migrated) at the first open of that object only, except
    in an in-memory SQLite database, where every connection is a database of its own. A database
    deleted or dropped while the process runs is therefore not made again by a later open.
    """
    with _OPEN_LOCK:
        database = db.obj if getattr(db.obj, "discovery_url", None) == url else None
        if database is None:
            database = _make_database(url)
            database.discovery_url = url
            database.discovery_schema_ready = False
            db.initialize(database)
    db.connect(reuse_if_open=True)
    with _SCHEMA_LOCK:
        # Once per database object (one per URL, see above) and process: the actors that open it
        # after the first only connect. Checking the schema again was most of their start
        # (peewee builds every CREATE ... IF NOT EXISTS and each migration reads the columns).
        if database.discovery_schema_ready and not _per_connection(database):
            return database
        postgres = isinstance(database, peewee.PostgresqlDatabase)
        if postgres:
            # Several instances start at once: one creates and migrates the schema, the others wait.
            db.execute_sql("SELECT pg_advisory_lock(%s)", (schema_lock_key(SCHEMA_LOCK),))
        try:
            db.create_tables(TABLES + WEBHOOK_TABLES, safe=True)
            migrate_schema()
            widen_float_columns(TABLES + WEBHOOK_TABLES)
        finally:
            if postgres:
                db.execute_sql("SELECT pg_advisory_unlock(%s)", (schema_lock_key(SCHEMA_LOCK),))
        database.discovery_schema_ready = True
    return database


_OPEN_LOCK = threading.Lock()
_SCHEMA_LOCK = threading.Lock()


def _per_connection(database: peewee.Database) -> bool:
    """Whether each connection to ``database`` is a database of its own (in-memory SQLite)."""
    name = str(getattr(database, "database", "") or "")
    return isinstance(database, peewee.SqliteDatabase) and (name in ("", ":memory:") or "mode=memory" in name)


def _make_database(url: str) -> peewee.Database:
    if url.startswith("sqlite"):
        # Write transactions take the write lock as they begin (waiting up to busy_timeout for it):
        # a deferred one that read first fails at once with "database is locked" when another
        # connection (the webhook dispatcher) wrote in between. synchronous=full: each commit is on
        # disk when it returns, so a power loss or an OS crash cannot roll back events already
        # announced and delivered (their ids would be given again to other events, which receivers
        # de-duplicating by id would drop). It costs an fsync per commit: 0.25 ms here, and a
        # refresh round commits a handful of times.
        database = connect(url, pragmas={"journal_mode": "wal", "foreign_keys": 1,
                                         "synchronous": "full", "busy_timeout": 5000}, lock_type="IMMEDIATE")
    else:
        scheme = url.partition(":")[0]
        database = _reconnecting(db_url_schemes[scheme])(**parse(url))
    return database


def _reconnecting(database_class: type) -> type:
    """PostgreSQL (the URL's own class: pooled, ext) whose thread connection, once the server
    dropped it, is opened again at the next statement outside a transaction (peewee's
    ReconnectMixin). Only "connection already closed" is retried: the statement never left this
    process, so running it on the new connection is safe; the statement that met the drop fails
    to its caller as before. Without it every path that did not heal its own connection (the
    webhook dispatcher's feed reads, a follower's relayed requests, the history actor's
    inherited reads) failed on the dead one until a restart."""
    return type(f"Reconnecting{database_class.__name__}", (ReconnectMixin, database_class),
                {"reconnect_errors": ((peewee.InterfaceError, "connection already closed"),)})


SCHEMA_LOCK, LEADER_LOCK = "schema", "leader"


def schema_lock_key(name: str) -> Any:
    """An advisory lock key (SQL expression parameter) for ``name`` in this database and schema:
    instances on different schemas of one database do not share leaders."""
    import hashlib

    where = db.execute_sql("SELECT current_database(), current_schema()").fetchone()
    digest = hashlib.blake2b(f"discovery:{name}:{where[0]}:{where[1]}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def widen_float_columns(models: Sequence[type[BaseModel]]) -> None:
    """On PostgreSQL, make every float column double precision (idempotent).

    peewee's FloatField is REAL there, 24 bits of mantissa: an epoch time would be rounded to about
    two minutes, and the catalog "as of" a time could not tell commits apart. SQLite's REAL is
    8 bytes already.
    """
    if not isinstance(db.obj, peewee.PostgresqlDatabase):
        return
    for model in models:
        table = model._meta.table_name
        narrow = {c.name for c in db.get_columns(table) if c.data_type == "real"}
        for f in model._meta.sorted_fields:
            if isinstance(f, peewee.FloatField) and f.column_name in narrow:
                db.execute_sql(f'ALTER TABLE "{table}" ALTER COLUMN "{f.column_name}" TYPE DOUBLE PRECISION')


def migrate_schema() -> None:
    """Bring a store written by an earlier version up to this schema (idempotent, one transaction).

    Earlier versions kept each current model as one JSON document with its raw answer, and each
    source row's raw answer inside its data; both are split here.
    """
    columns = {table: {c.name for c in db.get_columns(table)}
               for table in ("models", "source_models", "providers", "refresh_runs", "events", "model_versions")}
    added = [(ProviderRow, "body_hash"), (ProviderRow, "catalog_name"), (ProviderRow, "asked_until"),
             (ProviderRow, "asked_by"), (RefreshRunRow, "fetch_ms"), (RefreshRunRow, "work_ms"),
             (RefreshRunRow, "rejected"), (RefreshRunRow, "rejections"), (RefreshRunRow, "epoch"),
             (SourceModelRow, "fingerprint"), (SourceModelRow, "raw"), (EventRow, "epoch"),
             (ModelRow, "packed"), (SourceModelRow, "packed"), (ModelVersionRow, "reason")]
    missing = [(model, name) for model, name in added if name not in columns[model._meta.table_name]]
    if not missing and "data" not in columns["models"]:
        return
    from playhouse.migrate import SchemaMigrator, migrate

    migrator = SchemaMigrator.from_database(db.obj)
    with db.atomic():
        if missing:
            migrate(*(migrator.add_column(model._meta.table_name, name, model._meta.fields[name])
                      for model, name in missing))
        if "raw" not in columns["source_models"]:
            cursor = db.execute_sql('SELECT source, model_id, data FROM source_models')
            for source, model_id, data in list(cursor):
                record = loads(data)
                raw = record.pop("raw", None) or {}
                SourceModelRow.update(data=dumps(record), raw=dumps(raw)).where(
                    (SourceModelRow.source == source) & (SourceModelRow.model_id == model_id)).execute()
        if "data" in columns["models"]:
            old = list(db.execute_sql('SELECT id, provider, source, live, content_hash, version, data, '
                                      'first_seen, updated_at FROM models'))
            db.execute_sql('DROP TABLE models')
            db.create_tables([ModelRow])
            rows = []
            for model_id, provider, source, live, content_hash, version, data, first_seen, updated_at in old:
                record = Model.from_dict(loads(data))
                rows.append({"id": model_id, "provider": provider, "source": source, "live": bool(live),
                             "content_hash": content_hash, "version": version, "body": record.body(),
                             "provenance": dumps(dict(record.provenance)), "first_seen": first_seen,
                             "updated_at": updated_at})
            bulk_write(ModelRow, rows)


def connection_lost() -> bool:
    """True if this thread's connection was closed under it (the server restarted or cut it)."""
    if db.obj is None or db.is_closed():
        return False
    conn = db.obj._state.conn
    return bool(getattr(conn, "closed", 0))  # psycopg2: non-zero once closed; sqlite3 has no such flag


def heal_connection() -> bool:
    """After a failed query: if the server dropped this thread's connection, forget it so the next
    query opens a new one (peewee would keep failing on the dead one). True if it did."""
    if connection_lost():
        reset_connection()
        return True
    return False


def heals_connection(cls: type) -> type:
    """Wrap every public method of a store-reading actor: a read that fails because the server
    dropped the connection leaves the actor a new one for the next read (the error still goes
    to the caller)."""
    import functools

    def wrap(method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def healed(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return method(self, *args, **kwargs)
            except Exception:
                heal_connection()
                raise
        return healed

    for name, value in list(vars(cls).items()):
        if callable(value) and not name.startswith(("_", "on_")):
            setattr(cls, name, wrap(value))
    return cls


def reset_connection() -> None:
    """Forget this thread's connection after the server dropped it: the next query opens another."""
    if db.obj is None:
        return
    try:
        db.close()
    except Exception:
        db.obj._state.reset()


def close_database() -> None:
    """Close this thread's connection if open."""
    if db.obj is not None and not db.is_closed():
        db.close()


def bulk_write(model: type[BaseModel], rows: Iterable[Mapping[str, Any]], conflict: Sequence[str] = (),
               chunk: int = 500) -> None:
    """Insert many rows with one prepared statement (``executemany``), ``chunk`` rows at a time.

    Peewee's query builder costs tens of microseconds per value, which dominates a refresh of
    thousands of models; the statement is built once here. ``rows`` may be a generator: only a
    chunk's values are held at once. With ``conflict`` columns, an existing row is updated in
    place (``ON CONFLICT ... DO UPDATE``, SQLite and PostgreSQL).
    """
    it = iter(rows)
    first = next(it, None)
    if first is None:
        return
    fields_ = [model._meta.fields[name] for name in first]
    names = list(first)
    values = _row_values(names, fields_)
    columns = ", ".join(f'"{f.column_name}"' for f in fields_)
    params = ", ".join([db.param] * len(fields_))
    sql = f'INSERT INTO "{model._meta.table_name}" ({columns}) VALUES ({params})'
    if conflict:
        updates = ", ".join(f'"{f.column_name}" = EXCLUDED."{f.column_name}"' for f in fields_
                            if f.name not in conflict)
        sql += f' ON CONFLICT ({", ".join(conflict)}) DO UPDATE SET {updates}'
    cursor = db.cursor()
    batch = [first]
    for row in it:
        batch.append(row)
        if len(batch) >= chunk:
            cursor.executemany(sql, [values(r) for r in batch])
            batch = []
    if batch:
        cursor.executemany(sql, [values(r) for r in batch])


def _row_values(names: Sequence[str], fields_: Sequence[peewee.Field]) -> Callable[[Mapping[str, Any]], Sequence[Any]]:
    """A function from a row (a dict of field name to value) to its statement parameters, in order.

    Plain values go as they are (the drivers adapt them); only fields that encode need db_value,
    and a foreign key given as a plain id (the usual case) goes as it is too.
    """
    take = operator.itemgetter(*names)
    coders = [(i, _encoder(f)) for i, f in enumerate(fields_)
              if isinstance(f, (JSONField, EncodedJSONField, peewee.ForeignKeyField))]
    if len(names) == 1:
        single = coders[0][1] if coders else None
        return lambda row: (take(row) if single is None else single(take(row)),)
    if not coders:
        return take

    def values(row: Mapping[str, Any]) -> Sequence[Any]:
        out = list(take(row))
        for i, encode in coders:
            out[i] = encode(out[i])
        return out
    return values


def _encoder(f: peewee.Field) -> Callable[[Any], Any]:
    if isinstance(f, peewee.ForeignKeyField):
        db_value = f.db_value
        return lambda v: v if type(v) is int or type(v) is str or v is None else db_value(v)
    return f.db_value


def update_many(model: type[BaseModel], key: str, rows: Iterable[Mapping[str, Any]]) -> None:
    """``UPDATE ... SET ... WHERE key = ?`` for each row (a dict of field name to value, the key
    among them), one prepared statement per distinct set of fields (``executemany``).

    As with :func:`bulk_write`: peewee's query builder, per row, was most of the writer's time
    when many sources commit together.
    """
    groups: dict[tuple[str, ...], list[Mapping[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(name for name in row if name != key), []).append(row)
    key_field = model._meta.fields[key]
    cursor = db.cursor()
    for names, group in groups.items():
        fields_ = [model._meta.fields[name] for name in names]
        values = _row_values((*names, key), [*fields_, key_field])
        sets = ", ".join(f'"{f.column_name}" = {db.param}' for f in fields_)
        sql = f'UPDATE "{model._meta.table_name}" SET {sets} WHERE "{key_field.column_name}" = {db.param}'
        cursor.executemany(sql, [values(r) for r in group])


# -- providers ---------------------------------------------------------------------------------

def ensure_provider(name: str, format: str, is_catalog: bool) -> None:
    """Create the provider row if it is new; keep its history if it exists."""
    ensure_providers([(name, format, is_catalog)])


def ensure_providers(providers: Iterable[tuple[str, str, bool]],
                     catalog_names: Optional[Mapping[str, str]] = None) -> None:
    """:func:`ensure_provider` of each (name, format, is_catalog), in one transaction: one each
    was 8% of the writer's time in a cold start of 80 sources. ``catalog_names``: each configured
    live provider's name in the catalogs, stored too (left as it was when None)."""
    rows = [{"name": name, "format": format, "is_catalog": is_catalog} for name, format, is_catalog in providers]
    update = {ProviderRow.format: peewee.EXCLUDED.format, ProviderRow.is_catalog: peewee.EXCLUDED.is_catalog}
    if catalog_names is not None:
        for row in rows:
            row["catalog_name"] = catalog_names.get(row["name"])
        update[ProviderRow.catalog_name] = peewee.EXCLUDED.catalog_name
    with write_transaction():
        for start in range(0, len(rows), 200):  # 4 columns a row at most, within SQLite's 999 parameters
            ProviderRow.insert_many(rows[start:start + 200]).on_conflict(
                conflict_target=[ProviderRow.name], update=update).execute()


def provider_rows() -> dict[str, dict[str, Any]]:
    return {r.name: {
        "name": r.name, "format": r.format, "is_catalog": r.is_catalog, "status": r.status,
        "status_reason": r.status_reason, "last_refresh_at": r.last_refresh_at,
        "last_success_at": r.last_success_at, "last_error": r.last_error, "model_count": r.model_count,
        "body_hash": r.body_hash, "catalog_name": r.catalog_name,
        "asked_until": r.asked_until, "asked_by": r.asked_by,
    } for r in ProviderRow.select()}


def set_provider_asked(name: str, until: float, by: Optional[str]) -> None:
    """Store the wait a provider asked for (its row exists: only a configured provider asks)."""
    check_fence()
    ProviderRow.update(asked_until=until, asked_by=by).where(ProviderRow.name == name).execute()


def set_provider_status(name: str, status: str, reason: Optional[str], format: Optional[str] = None) -> None:
    """Store a source's status. With ``format``, the row is made if the source has none yet (a
    Bedrock region has a row only once its status or its taking out is stored)."""
    check_fence()
    if format is None:
        ProviderRow.update(status=status, status_reason=reason).where(ProviderRow.name == name).execute()
        return
    ProviderRow.insert(name=name, format=format, status=status, status_reason=reason).on_conflict(
        conflict_target=[ProviderRow.name],
        update={ProviderRow.status: peewee.EXCLUDED.status, ProviderRow.status_reason: peewee.EXCLUDED.status_reason},
    ).execute()


@dataclass(frozen=True)
class StoredEvent:
    """An event as written to the outbox (its id given by the writer, inside the transaction)."""

    id: int
    kind: str
    provider: Optional[str]
    model_id: Optional[str]
    run_id: Optional[int]
    created_at: float
    data: Mapping[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """The event as the feed shows it, in plain dicts and lists (``json.dumps`` takes it)."""
        return thaw(self.wire_dict())

    def wire_dict(self) -> dict[str, Any]:
        """:meth:`to_dict` as the service writes it (the feed, the stream, webhooks): a record in it
        stays its stored JSON bytes (a read-only mapping), which :func:`discovery.model.dumps`
        embeds without decoding; the standard ``json`` module cannot write it."""
        return {"id": self.id, "kind": self.kind, "provider": self.provider, "model_id": self.model_id,
                "run_id": self.run_id, "time": iso(self.created_at), "data": with_iso_times(dict(self.data))}


def _event(row: EventRow) -> StoredEvent:
    return StoredEvent(row.id, row.kind, row.provider, row.model_id, row.run_id, row.created_at, row.data)


def insert_events(specs: Sequence[tuple[str, Optional[str], Optional[str], Optional[int], Mapping[str, Any]]],
                  now: float) -> list[StoredEvent]:
    """Append events (kind, provider, model_id, run_id, data) and return them with their ids.

    Callers run this inside a transaction of the single writer (the catalog actor), so the
    new rows are exactly those above the previous maximum id, in insertion order.
    """
    if not specs:
        return []
    check_fence()
    # Ids are given here, not by a sequence: a transaction refused or rolled back (a deposed
    # leader's) must leave no gap in the feed. The fence (or the single instance) makes this
    # the only writer, and the newest event is never pruned, so the maximum never goes back.
    start = last_event_id()
    ids = range(start + 1, start + 1 + len(specs))
    epoch = FENCE.epoch
    rows = [{"id": i, "kind": kind, "provider": provider, "model_id": model_id, "run_id": run_id,
             "created_at": now, "data": data, "epoch": epoch}
            for i, (kind, provider, model_id, run_id, data) in zip(ids, specs)]
    bulk_write(EventRow, rows)
    return [StoredEvent(i, kind, provider, model_id, run_id, now, data)
            for i, (kind, provider, model_id, run_id, data) in zip(ids, specs)]


def events_after(after_id: int = 0, limit: int = 100, kinds: Iterable[str] = (),
                 providers: Iterable[str] = ()) -> list[StoredEvent]:
    """A page of the persisted feed, oldest first, ids greater than ``after_id``."""
    q = EventRow.select().where(EventRow.id > after_id).order_by(EventRow.id).limit(limit)
    kinds, providers = list(kinds), list(providers)
    if kinds:
        q = q.where(EventRow.kind.in_(kinds))
    if providers:
        q = q.where(event_providers(providers))
    return [_event(r) for r in q]


def event_providers(providers: list[str]) -> peewee.Expression:
    """The events of these providers, as ``EventFilter`` matches them: a region's own events
    (``bedrock@<region>``) are Bedrock's too."""
    return sources_named(EventRow.provider, providers)


def sources_named(field: peewee.Field, providers: list[str]) -> peewee.Expression:
    """Rows whose source ``field`` is one of ``providers``, Bedrock's taking its regions' too."""
    clause = field.in_(providers)
    if BEDROCK_PROVIDER in providers:
        clause |= field.startswith(BEDROCK_SOURCE_PREFIX)
    return clause


def last_event_id() -> int:
    # Plain SQL: the writer asks at every commit, and peewee built this query at ~0.15 ms each.
    return db.execute_sql('SELECT MAX("id") FROM "events"').fetchone()[0] or 0


def oldest_event_id() -> int:
    """The smallest id still in the feed (0 when it is empty)."""
    return EventRow.select(peewee.fn.MIN(EventRow.id)).scalar() or 0


def events_missed(since: int, oldest: int) -> int:
    """How many events after ``since`` retention deleted, given the oldest id it kept (0: an empty
    feed). Event ids have no gaps (insert_events), so the count is exact."""
    return max(0, oldest - since - 1) if oldest else 0


def prune_events(max_age: float = 0.0, max_count: int = 0, keep_after: int | None = None,
                 now: float | None = None, chunk: int = 5000) -> int:
    """Delete events older than ``max_age`` seconds or past the newest ``max_count`` (0: no limit).

    Every event after ``keep_after`` stays (the lowest cursor of a webhook that still has to
    receive them), and so does the newest event: SQLite reuses the largest rowid once it is
    deleted, and ids must never go back. Deletes in chunks so the writer is never held long.
    """
    newest = last_event_id()
    if not newest:
        return 0
    cutoff = 0  # delete ids <= cutoff
    if max_count > 0:
        cutoff = (EventRow.select(EventRow.id).order_by(EventRow.id.desc())
                  .offset(max_count).limit(1).scalar()) or 0
    if max_age > 0:
        old = (EventRow.select(peewee.fn.MAX(EventRow.id))
               .where(EventRow.created_at < (now or time.time()) - max_age).scalar()) or 0
        cutoff = max(cutoff, old)
    cutoff = min(cutoff, newest - 1)
    if keep_after is not None:
        cutoff = min(cutoff, keep_after)
    deleted = 0
    low = oldest_event_id()
    while low and low <= cutoff:
        high = min(cutoff, low + chunk - 1)
        with write_transaction():
            deleted += EventRow.delete().where(EventRow.id <= high).execute()
        low = high + 1
    return deleted
