"""Webhook subscriptions and their deliveries: peewee tables on the same ``db`` as the catalog.

A subscription's ``cursor`` is the last event id its receiver acknowledged (answered 2xx for);
delivery always resumes from it, so a restart or a crash repeats at most the batch in flight
(at-least-once; receivers de-duplicate by event id). The secret is the shared signing key: it is
stored (HMAC needs it) but never part of :func:`webhook_dict`, so no API answer or log shows it.
"""
from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import peewee

from discovery.schema import (  # noqa: F401 (re-exported for callers)
    ACTIVE,
    DEAD_LETTER,
    PAUSED,
    STATES,
    WEBHOOK_TABLES,
    DeliveryRow,
    EventRow,
    WebhookRow,
    db,
)
from discovery.store import event_providers, events_after

DELIVERED, FAILED = "delivered", "failed"


def new_webhook_id() -> str:
    """A random, URL-safe subscription id."""
    return "wh_" + secrets.token_hex(12)


def new_secret() -> str:
    """A signing secret for a subscriber that did not bring one (with a digit, as a given one must have)."""
    while True:
        made = "whsec_" + secrets.token_urlsafe(32)
        if any(c.isdigit() for c in made):
            return made


def webhook_dict(row: WebhookRow) -> dict[str, Any]:
    """A subscription as the API shows it: everything but the secret."""
    return {
        "id": row.id, "url": row.url, "description": row.description, "state": row.state,
        "filter": dict(row.filter or {}), "max_batch": row.max_batch, "max_delay": row.max_delay,
        "cursor": row.cursor, "attempts": row.attempts, "last_error": row.last_error,
        "last_attempt_at": row.last_attempt_at, "last_success_at": row.last_success_at,
        "next_attempt_at": row.next_attempt_at, "dead_lettered_at": row.dead_lettered_at,
        "delivered_events": row.delivered_events, "created_at": row.created_at,
    }


def create_webhook(url: str, secret: str, event_filter: Mapping[str, Any], cursor: int,
                   max_batch: int = 100, max_delay: float = 0.0, description: str | None = None,
                   now: float | None = None) -> WebhookRow:
    """Store a new active subscription whose delivery starts after event ``cursor``."""
    return WebhookRow.create(id=new_webhook_id(), url=url, secret=secret, filter=dict(event_filter),
                             max_batch=max_batch, max_delay=max_delay, description=description,
                             state=ACTIVE, cursor=cursor, created_at=now or time.time())


def get_webhook(webhook_id: str) -> WebhookRow | None:
    """The subscription row, or None."""
    return WebhookRow.get_or_none(WebhookRow.id == webhook_id)


def list_webhooks() -> list[WebhookRow]:
    """Every subscription, oldest first."""
    return list(WebhookRow.select().order_by(WebhookRow.created_at, WebhookRow.id))


def delete_webhook(webhook_id: str) -> bool:
    """Forget a subscription and its delivery log; False if there was none."""
    with db.atomic():
        DeliveryRow.delete().where(DeliveryRow.webhook == webhook_id).execute()
        return WebhookRow.delete().where(WebhookRow.id == webhook_id).execute() > 0


def update_webhook(webhook_id: str, **fields_: Any) -> None:
    """Set columns of one subscription."""
    WebhookRow.update(**fields_).where(WebhookRow.id == webhook_id).execute()


def acknowledge(webhook_id: str, cursor: int, delivered: int, now: float | None = None) -> None:
    """Move the cursor forward to ``cursor`` after a 2xx (never backward) and clear the failures."""
    now = now or time.time()
    forward = peewee.Case(None, [(WebhookRow.cursor < cursor, cursor)], WebhookRow.cursor)
    WebhookRow.update(
        cursor=forward, attempts=0, last_error=None, last_success_at=now, last_attempt_at=now, next_attempt_at=None,
        delivered_events=WebhookRow.delivered_events + delivered,
    ).where(WebhookRow.id == webhook_id).execute()


def record_delivery(webhook_id: str, delivery_id: str, attempt: int, event_ids: tuple[int, ...], outcome: str,
                    status_code: int | None, error: str | None, duration_ms: float,
                    now: float | None = None) -> None:
    """Log one delivery attempt."""
    DeliveryRow.create(webhook=webhook_id, delivery_id=delivery_id, attempt=attempt,
                       first_event_id=event_ids[0] if event_ids else None,
                       last_event_id=event_ids[-1] if event_ids else None, event_count=len(event_ids),
                       outcome=outcome, status_code=status_code, error=error, duration_ms=duration_ms,
                       created_at=now or time.time())


def recent_deliveries(webhook_id: str, limit: int = 20) -> list[dict[str, Any]]:
    """The newest delivery attempts of one subscription, newest first."""
    rows = (DeliveryRow.select().where(DeliveryRow.webhook == webhook_id)
            .order_by(DeliveryRow.id.desc()).limit(limit))
    return [{"delivery_id": r.delivery_id, "attempt": r.attempt, "first_event_id": r.first_event_id,
             "last_event_id": r.last_event_id, "event_count": r.event_count, "outcome": r.outcome,
             "status_code": r.status_code, "error": r.error, "duration_ms": r.duration_ms,
             "time": r.created_at} for r in rows]


# Events read, at most, to count what waits for a subscription whose filter SQL cannot apply
# (capabilities, a model glob): the dispatcher's thread reads them, between deliveries.
PENDING_SCAN = 10_000


def events_after_cursor(cursor: int, matches: Callable[[Any], bool] | None = None,
                        kinds: Sequence[str] = (), providers: Sequence[str] = ()) -> tuple[int, bool]:
    """How many events after ``cursor`` the subscription's filter takes, and whether more lie
    past those counted. ``kinds`` and ``providers`` are a COUNT in SQL, exact; ``matches`` (the
    rest of the filter) reads the events, the first ``PENDING_SCAN`` after the cursor at most."""
    if matches is None:
        query = EventRow.select().where(EventRow.id > cursor)
        if kinds:
            query = query.where(EventRow.kind.in_(list(kinds)))
        if providers:
            query = query.where(event_providers(list(providers)))
        return query.count(), False
    count, seen, after = 0, 0, cursor
    while seen < PENDING_SCAN:
        page = events_after(after, min(5000, PENDING_SCAN - seen), kinds, providers)
        if not page:
            return count, False
        seen += len(page)
        count += sum(1 for e in page if matches(e))
        after = page[-1].id
    return count, bool(events_after(after, 1, kinds, providers))


def retention_floor() -> int | None:
    """The lowest cursor of a subscription that still has to receive events (None: no such one).

    Active, paused and dead-lettered subscriptions all hold events: a paused one resumes and a
    dead-lettered one can be replayed. Delete a subscription to release what it holds.
    """
    return (WebhookRow.select(peewee.fn.MIN(WebhookRow.cursor))
            .where(WebhookRow.state.in_(STATES)).scalar())


def prune_deliveries(before: float) -> int:
    """Drop delivery log rows older than ``before``; return how many."""
    return DeliveryRow.delete().where(DeliveryRow.created_at < before).execute()
