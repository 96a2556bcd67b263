"""Several instances on one PostgreSQL database: what they say to each other through it.

The leader holds a session advisory lock on a connection of its own and the epoch in the
``leadership`` row (the fencing token every write transaction checks, discovery/store.py). After
each commit it sends ``NOTIFY discovery_commits`` with the newest event id; followers read the
events after their cursor and the model rows those events name. A follower hands a mutation to
the leader as a ``leader_requests`` row and ``NOTIFY discovery_requests``; the leader answers in
the row and ``NOTIFY discovery_replies``. Nothing here is needed on SQLite (one instance).
"""
from __future__ import annotations

import select
import time
from collections.abc import Iterable, Mapping
from typing import Any, Optional

from playhouse.db_url import parse

from discovery import store
from discovery.entry import CatalogEntry, trace_hash
from discovery.model import loads

COMMITS, REQUESTS, REPLIES = "discovery_commits", "discovery_requests", "discovery_replies"
# Notification channels are database-wide: each schema (deployment) gets its own names, set by
# configure() from a hash of the database and schema.
_SUFFIX = {"value": ""}


def configure(suffix: str) -> None:
    _SUFFIX["value"] = suffix


def channel(base: str) -> str:
    """The channel ``base`` of this deployment (its schema), e.g. ``discovery_commits_3fa4...``."""
    return f"{base}_{_SUFFIX['value']}" if _SUFFIX["value"] else base


def channel_suffix(key: int) -> str:
    return f"{key & 0xFFFFFFFFFFFFFFFF:016x}"
PENDING, ACCEPTED, STARTED, DONE, FAILED = "pending", "accepted", "started", "done", "failed"


def is_postgres(url: str) -> bool:
    return url.startswith(("postgres://", "postgresql://", "postgresext://", "postgresqlext://"))


def connect(url: str, application_name: str) -> Any:
    """A psycopg2 connection of its own (autocommit), with keepalives short enough that a dead
    peer is noticed within seconds on both ends."""
    import psycopg2

    params = parse(url)
    params.pop("register_hstore", None)
    params["dbname"] = params.pop("database")
    conn = psycopg2.connect(application_name=application_name[:63], keepalives=1, keepalives_idle=2,
                            keepalives_interval=1, keepalives_count=3, connect_timeout=5, **params)
    conn.autocommit = True
    with conn.cursor() as cur:
        # The server end of the socket too: a lock held by a vanished leader is released soon.
        cur.execute("SET tcp_keepalives_idle = 2; SET tcp_keepalives_interval = 1; SET tcp_keepalives_count = 3")
    return conn


def lock_key(conn: Any, name: str) -> int:
    import hashlib

    with conn.cursor() as cur:
        cur.execute("SELECT current_database(), current_schema()")
        database, schema = cur.fetchone()
    digest = hashlib.blake2b(f"discovery:{name}:{database}:{schema}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def try_lock(conn: Any, key: int) -> bool:
    with conn.cursor() as cur:
        cur.execute("SELECT pg_try_advisory_lock(%s)", (key,))
        return bool(cur.fetchone()[0])


def take_epoch(conn: Any, instance: str) -> int:
    """Make this instance the leader: the next epoch, stored. Waits for writes of the old epoch
    already past their fence check (they hold the row FOR SHARE) to end first."""
    now = time.time()
    with conn.cursor() as cur:
        cur.execute("INSERT INTO leadership (id, epoch, instance, acquired_at) VALUES (1, 1, %s, %s) "
                    "ON CONFLICT (id) DO UPDATE SET epoch = leadership.epoch + 1, instance = EXCLUDED.instance, "
                    "acquired_at = EXCLUDED.acquired_at RETURNING epoch", (instance, now))
        return int(cur.fetchone()[0])


def read_epoch(conn: Any) -> Optional[tuple[int, str]]:
    with conn.cursor() as cur:
        cur.execute("SELECT epoch, instance FROM leadership WHERE id = 1")
        row = cur.fetchone()
    return (int(row[0]), row[1]) if row else None


def leadership() -> dict[str, Any]:
    """The leadership row as stored (through the thread's peewee connection)."""
    row = store.LeadershipRow.get_or_none(store.LeadershipRow.id == 1)
    if row is None:
        return {"instance": None, "epoch": None, "since": None}
    return {"instance": row.instance, "epoch": row.epoch, "since": row.acquired_at}


def notify_commit(last_event_id: int, committed_at: float) -> None:
    """Tell followers a commit ended (after it: a follower that reads at once sees it)."""
    store.db.execute_sql("SELECT pg_notify(%s, %s)", (channel(COMMITS), f"{last_event_id} {committed_at:.6f}"))


def listen(conn: Any, *channels: str) -> None:
    with conn.cursor() as cur:
        for name in channels:
            cur.execute(f"LISTEN {channel(name)}")


def wait_notifications(conn: Any, timeout: float) -> list[tuple[str, str]]:
    """(channel base name, payload) of what arrived within ``timeout`` s (empty on timeout); raises
    on a broken connection."""
    if not conn.notifies:
        ready, _, _ = select.select([conn], [], [], timeout)
        if not ready:
            return []
    conn.poll()
    names = {channel(base): base for base in (COMMITS, REQUESTS, REPLIES)}
    out = [(names.get(n.channel, n.channel), n.payload) for n in conn.notifies]
    conn.notifies.clear()
    return out


# -- the follower's reads ----------------------------------------------------------------------

def entries_for(model_ids: Iterable[str]) -> dict[str, Optional[CatalogEntry]]:
    """The published entry of each id as stored now (None: not in the catalog)."""
    ids = list(dict.fromkeys(model_ids))
    out: dict[str, Optional[CatalogEntry]] = {mid: None for mid in ids}
    for i in range(0, len(ids), store.CHUNK):
        rows = (store.ModelRow.select(store.ModelRow.id, store.ModelRow.content_hash, store.ModelRow.body,
                                      store.ModelRow.provenance, store.ModelRow.packed)
                .where(store.ModelRow.id.in_(ids[i:i + store.CHUNK])).tuples())
        for model_id, content_hash, body, provenance, packed in rows:
            out[model_id] = CatalogEntry.from_stored(body, content_hash, loads(provenance), trace_hash(provenance),
                                                     stored_packed=packed)
    return out


def event_time(event_id: int) -> Optional[float]:
    return store.EventRow.select(store.EventRow.created_at).where(store.EventRow.id == event_id).scalar()


# -- requests a follower hands to the leader ---------------------------------------------------

def submit_request(op: str, args: Mapping[str, Any], instance: str) -> int:
    with store.db.atomic():
        request_id = store.LeaderRequestRow.insert(op=op, args=dict(args), instance=instance,
                                                   created_at=time.time()).execute()
        store.db.execute_sql("SELECT pg_notify(%s, %s)", (channel(REQUESTS), str(request_id)))
    return int(request_id)


def claim_request() -> Optional[tuple[int, str, dict[str, Any]]]:
    """The oldest pending request, marked accepted (by this leader only: SKIP LOCKED)."""
    cursor = store.db.execute_sql(
        "UPDATE leader_requests SET state = %s, updated_at = %s WHERE id = ("
        " SELECT id FROM leader_requests WHERE state = %s ORDER BY id FOR UPDATE SKIP LOCKED LIMIT 1)"
        " RETURNING id, op, args", (ACCEPTED, time.time(), PENDING))
    row = cursor.fetchone()
    if row is None:
        return None
    return int(row[0]), row[1], loads(row[2]) if row[2] else {}


def answer_request(request_id: int, state: str, reply: Mapping[str, Any]) -> None:
    """Store the leader's answer and notify the followers. A final answer drops the request's
    arguments (a webhook's secret among them): nobody reads them again."""
    fields: dict[Any, Any] = {"state": state, "reply": dict(reply), "updated_at": time.time()}
    if state in (DONE, FAILED):
        fields["args"] = {}
    with store.db.atomic():
        store.LeaderRequestRow.update(**fields).where(store.LeaderRequestRow.id == request_id).execute()
        store.db.execute_sql("SELECT pg_notify(%s, %s)", (channel(REPLIES), f"{request_id} {state}"))


def read_request(request_id: int) -> Optional[tuple[str, Optional[dict[str, Any]]]]:
    row = (store.LeaderRequestRow.select(store.LeaderRequestRow.state, store.LeaderRequestRow.reply)
           .where(store.LeaderRequestRow.id == request_id).tuples().first())
    return (row[0], row[1]) if row else None


def forget_request(request_id: int) -> None:
    """Delete a request whose caller has read the final answer."""
    store.LeaderRequestRow.delete().where(store.LeaderRequestRow.id == request_id).execute()


def prune_requests(older_than: float) -> int:
    """Forget answered requests older than ``older_than`` (epoch seconds)."""
    return store.LeaderRequestRow.delete().where(
        store.LeaderRequestRow.state.in_((DONE, FAILED)) & (store.LeaderRequestRow.created_at < older_than)).execute()


def abandon_stale_requests(before: float) -> int:
    """Requests an earlier leader accepted and never answered fail (their caller hears why); like
    every final answer, this drops their arguments (a webhook's secret among them)."""
    return store.LeaderRequestRow.update(
        state=FAILED, updated_at=time.time(), args={},
        reply={"error": {"type": "LeaderChanged", "message": "the leader that accepted this request stopped"}},
    ).where(store.LeaderRequestRow.state.in_((ACCEPTED, STARTED)) & (store.LeaderRequestRow.updated_at < before)
            ).execute()



