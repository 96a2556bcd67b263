"""WebhookDispatcherActor: delivers the outbox to every webhook from its acknowledged cursor.

The actor owns each subscription's state machine (idle, in flight, waiting to retry, paused,
dead letter) and the webhook tables; the POSTs themselves run on a pool of worker threads, one
at most per subscription, so a slow or dead receiver only ever holds its own worker and never
the catalog, the notifier, this actor or the other receivers. A worker tells the actor how its
POST ended; retries are timers that tell the actor, never sleeps.
"""
from __future__ import annotations

import concurrent.futures
import functools
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Optional

import peewee
import pykka
from loguru import logger

from actors.calls import Calls
from actors.scheduling import schedule
from actors.webhook_post import InFlight, PostResult, describe_url, post_delivery, redact
from discovery import refresh_runs, store
from discovery import subscriptions_store as subs
from discovery.messages import ChangeBatch, EventFilter
from discovery.redaction import REDACTOR, scrub
from discovery.settings import Settings
from discovery.webhooks import (
    MAX_SECRET_LENGTH,
    MIN_SECRET_DISTINCT,
    MIN_SECRET_LENGTH,
    Delivery,
    backoff_delay,
    build_delivery,
    select_batch,
    validate_webhook_url,
)

# Events read per query, and at most this many looked at per turn of the actor, so a filter
# that skips a long backlog never holds the actor for long (it continues on its next message).
PAGE_SIZE = 500
SCAN_LIMIT = 5000


class UnknownWebhook(KeyError):
    """No webhook subscription has that id."""


def _survives(handler: Callable[..., Any]) -> Callable[..., Any]:
    """A handler reached by tell logs its errors instead of killing the dispatcher."""
    @functools.wraps(handler)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return handler(self, *args, **kwargs)
        except Exception:  # noqa: BLE001 - an exception here would kill the actor and every delivery
            logger.exception("webhook dispatcher: {} failed", handler.__name__)
            return None
    return wrapper


class _Hook:
    """One subscription's live state (only ever touched on the actor's thread)."""

    __slots__ = (
        "attempts",
        "cursor",
        "filter",
        "generation",
        "id",
        "in_flight",
        "max_batch",
        "max_delay",
        "secret",
        "state",
        "timer",
        "url",
    )

    def __init__(self, row: subs.WebhookRow):
        self.id: str = row.id
        self.url: str = row.url
        self.secret: str = row.secret
        f = row.filter or {}
        self.filter = EventFilter(tuple(f.get("kinds") or ()), tuple(f.get("providers") or ()),
                                  tuple(f.get("capabilities") or ()), f.get("model_glob"))
        self.max_batch: int = row.max_batch
        self.max_delay: float = row.max_delay
        self.state: str = row.state
        self.cursor: int = row.cursor
        self.attempts: int = row.attempts
        self.in_flight: Delivery | None = None
        self.timer: threading.Timer | None = None
        # Bumped by a replay: results and timers of an older generation are ignored.
        self.generation = 0

    def cancel_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


class _FeedScan:
    """Pages of the feed after a cursor, at most SCAN_LIMIT events; remembers if it stopped early,
    and how many events after the cursor retention had deleted (``missed``)."""

    def __init__(self, after: int):
        self.after = after
        self.truncated = False
        self.missed = 0

    def __iter__(self) -> Iterator[list[store.StoredEvent]]:
        after, seen = self.after, 0
        while True:
            if seen >= SCAN_LIMIT:
                self.truncated = True
                return
            page = store.events_after(after, PAGE_SIZE)
            if not page:
                return
            if not seen:
                # Event ids have no gaps and retention never passes a subscription's cursor, so
                # a first event past cursor + 1 means a replay or a since= reached below what is
                # kept: the events in between are gone.
                self.missed = max(0, page[0].id - self.after - 1)
            yield page
            seen += len(page)
            after = page[-1].id
            if len(page) < PAGE_SIZE:
                return


@store.heals_connection
class WebhookDispatcherActor(pykka.ThreadingActor):
    """Delivers committed events to webhook subscriptions: batched, signed, retried, dead-lettered."""

    def __init__(self, settings: Settings, notifier: Any = None, telemetry: Any = None):
        super().__init__()
        self.settings = settings
        self._notifier = notifier
        self._telemetry = telemetry  # actors.telemetry.Telemetry: delivery counters for /metrics
        self._hooks: dict[str, _Hook] = {}
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._self: Any = None
        self._sub_id: int | None = None
        self._retention_timer: threading.Timer | None = None
        self._inflight = InFlight()

    # -- life cycle ------------------------------------------------------------------------------
    def on_start(self) -> None:
        # The catalog actor opened the database and created the tables; this thread only connects.
        store.db.connect(reuse_if_open=True)
        self._self = Calls(self.actor_ref)
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(1, self.settings.webhook_workers),
                                                           thread_name_prefix="webhook-post")
        for row in subs.list_webhooks():
            REDACTOR.add(row.secret)
            self._hooks[row.id] = _Hook(row)
        if self._notifier is not None:
            # Subscribe before the first reads: whatever commits after this point wakes us.
            # A wake-up only (the events are read from the store): no read-only copy of their data.
            self._sub_id = self._notifier.subscribe(self.actor_ref, EventFilter(), 10_000, 0, read_only=False).get(
                timeout=self.settings.ask_timeout)
        for hook in self._hooks.values():
            self._kick(hook)
        self._schedule_retention(min(60.0, self.settings.event_retention_interval))
        waiting = sum(1 for h in self._hooks.values() if h.state == subs.ACTIVE)
        logger.info("webhooks: {} subscriptions ({} active)", len(self._hooks), waiting)

    def on_stop(self) -> None:
        self._shutdown()

    def on_failure(self, exception_type, exception_value, traceback) -> None:
        logger.error("webhook dispatcher died: {}", exception_value)
        self._shutdown()

    def _shutdown(self) -> None:
        if self._retention_timer is not None:
            self._retention_timer.cancel()
        for hook in self._hooks.values():
            hook.cancel_timer()
        if self._pool is not None:
            # A POST in flight is cut; its result is dropped, so the batch is not acknowledged and
            # is delivered again after a restart (at-least-once). Its worker ends at once, so the
            # process's exit (which joins the workers) does not wait for a slow receiver.
            self._inflight.close()
            self._pool.shutdown(wait=False, cancel_futures=True)
        if self._notifier is not None and self._sub_id is not None:
            try:
                self._notifier.unsubscribe(self._sub_id)
            except pykka.ActorDeadError:
                pass
        store.close_database()

    @_survives
    def on_receive(self, message: Any) -> Any:
        """The notifier tells a ChangeBatch after each commit: wake every idle subscription."""
        if isinstance(message, ChangeBatch):
            for hook in self._hooks.values():
                if hook.timer is None:
                    self._kick(hook)
        return None

    # -- administration (asked by the Service) ---------------------------------------------------
    def create(self, url: str, secret: str, event_filter: dict[str, Any], max_batch: int, max_delay: float,
               description: str | None, since: int | None) -> dict[str, Any]:
        """Store a subscription; delivery starts after ``since`` (default: the newest event)."""
        REDACTOR.add(secret)
        cursor = store.last_event_id() if since is None else max(0, since)
        row = subs.create_webhook(url, secret, event_filter, cursor, max_batch, max_delay, description)
        hook = self._hooks[row.id] = _Hook(row)
        logger.info("webhook {} created for {} (from event {})", row.id, describe_url(url), cursor)
        self._kick(hook)
        return subs.webhook_dict(row)

    def list_all(self) -> list[dict[str, Any]]:
        """Every subscription (no secrets)."""
        return [self._dict(row) for row in subs.list_webhooks()]

    def get(self, webhook_id: str) -> dict[str, Any] | None:
        """One subscription with its recent deliveries and how many events wait after its cursor."""
        row = subs.get_webhook(webhook_id)
        if row is None:
            return None
        out = self._dict(row)
        hook = self._hooks.get(webhook_id)
        flt = hook.filter if hook is not None else None
        # What waits for it: the events after its cursor that its filter takes (all of them were
        # counted, so a narrow filter showed hundreds waiting where a few would be sent). Kinds
        # and providers are counted in SQL; only capabilities and a model glob read events.
        python_side = flt is not None and bool(flt.capabilities or flt.model_glob)
        pending, more = subs.events_after_cursor(row.cursor, flt.matches if python_side else None,
                                                 flt.kinds if flt else (), flt.providers if flt else ())
        out["pending_events"] = pending
        if more:
            out["pending_events_more"] = True
        out["deliveries"] = subs.recent_deliveries(webhook_id)
        return out

    def delete(self, webhook_id: str) -> bool:
        """Forget a subscription; a POST in flight finishes but is not recorded."""
        hook = self._hooks.pop(webhook_id, None)
        if hook is not None:
            hook.cancel_timer()
        deleted = subs.delete_webhook(webhook_id)
        if deleted:
            logger.info("webhook {} deleted", webhook_id)
        if hook is not None and not any(h.secret == hook.secret for h in self._hooks.values()):
            # Masked no more: a deleted subscription's secret (text like any other) went on being
            # masked in every answer until a restart.
            REDACTOR.remove(hook.secret)
        return deleted

    def pause(self, webhook_id: str) -> dict[str, Any]:
        """Hold deliveries; events keep waiting after the cursor."""
        hook = self._hook(webhook_id)
        hook.cancel_timer()
        hook.state = subs.PAUSED
        subs.update_webhook(webhook_id, state=subs.PAUSED, next_attempt_at=None)
        return self.get(webhook_id)  # type: ignore[return-value]

    def resume(self, webhook_id: str) -> dict[str, Any]:
        """Deliver again from the cursor (a dead-lettered subscription is replayed from its cursor)."""
        return self.replay(webhook_id, None)

    def replay(self, webhook_id: str, since: int | None = None) -> dict[str, Any]:
        """Make the subscription active again, from its cursor or from after event ``since``."""
        hook = self._hook(webhook_id)
        hook.cancel_timer()
        hook.generation += 1
        hook.state, hook.attempts = subs.ACTIVE, 0
        fields_: dict[str, Any] = {"state": subs.ACTIVE, "attempts": 0, "dead_lettered_at": None,
                                   "next_attempt_at": None}
        if since is not None:
            hook.cursor = fields_["cursor"] = max(0, since)
        subs.update_webhook(webhook_id, **fields_)
        missed = store.events_missed(hook.cursor, store.oldest_event_id())
        if missed:
            logger.warning("webhook {} replayed from event {}: retention has deleted the {} events after it; "
                           "its next delivery says so", webhook_id, hook.cursor, missed)
        else:
            logger.info("webhook {} active again from event {}", webhook_id, hook.cursor)
        self._kick(hook)
        # missed: events after the cursor retention had deleted (the receiver is told too).
        return {**self.get(webhook_id), "missed": missed}  # type: ignore[dict-item]

    def prune(self) -> int:
        """Apply event retention, never past a subscription's cursor; return how many events went."""
        s = self.settings
        floor = subs.retention_floor()
        deleted = store.prune_events(s.event_retention_age, s.event_retention_count, keep_after=floor)
        runs = 0
        if s.event_retention_age > 0:
            subs.prune_deliveries(time.time() - s.event_retention_age)
            # Refresh runs by the same age (those that wrote history stay: refresh_runs.prune_runs).
            runs = refresh_runs.prune_runs(s.event_retention_age, keep_after=floor)
        if deleted:
            logger.info("retention: pruned {} events (kept everything after {})", deleted, floor)
        if runs:
            logger.info("retention: pruned {} refresh runs (none had written history)", runs)
        return deleted

    def retention_tick(self) -> None:
        """Timer: prune, then schedule the next run."""
        try:
            self.prune()
        except peewee.PeeweeException:
            logger.exception("event retention failed")
        self._schedule_retention(self.settings.event_retention_interval)

    def _schedule_retention(self, delay: float) -> None:
        if delay > 0:
            self._retention_timer = schedule(delay, lambda: self._self.retention_tick(), name="retention")

    def _hook(self, webhook_id: str) -> _Hook:
        hook = self._hooks.get(webhook_id)
        if hook is None:
            raise UnknownWebhook(webhook_id)
        return hook

    def _dict(self, row: subs.WebhookRow) -> dict[str, Any]:
        out = subs.webhook_dict(row)
        hook = self._hooks.get(row.id)
        out["delivering"] = bool(hook and hook.in_flight)
        return out

    # -- delivery --------------------------------------------------------------------------------
    def _kick(self, hook: _Hook) -> None:
        """Start the next POST if the subscription is active and idle."""
        if hook.state != subs.ACTIVE or hook.in_flight is not None or hook.timer is not None:
            return
        scan = _FeedScan(hook.cursor)
        try:
            batch, scanned = select_batch(scan, hook.filter.matches, hook.max_batch)
        except peewee.PeeweeException:
            logger.exception("webhook {}: could not read the event feed; retrying", hook.id)
            self._retry_later(hook, self.settings.webhook_backoff)
            return
        if scanned is None:
            return
        if not batch and not scan.missed:
            # Nothing this filter wants: move past the skipped events so retention can drop them.
            hook.cursor = scanned
            try:
                subs.update_webhook(hook.id, cursor=scanned)
            except peewee.PeeweeException:
                logger.exception("webhook {}: could not store its cursor", hook.id)
            if scan.truncated:
                self._self.wake(hook.id, hook.generation)  # the scan stopped early: go on next turn
            return
        wait = batch[0].created_at + hook.max_delay - time.time() if batch else 0.0
        if wait > 0 and len(batch) < hook.max_batch and hook.attempts == 0:
            # Small and young: hold it until the oldest event is max_delay old, so more events
            # travel in the same POST.
            self._retry_later(hook, wait)
            return
        # Events were lost after the cursor: the receiver is told, in a POST of its own if none
        # of the kept events matches its filter (the lost ones may have).
        delivery = build_delivery(hook.id, hook.secret, batch, scanned, attempt=hook.attempts + 1,
                                  missed=scan.missed, missed_after=hook.cursor)
        hook.in_flight = delivery
        gen = hook.generation
        url, timeout, allow = hook.url, self.settings.webhook_timeout, self.settings.webhook_allow_private
        proxy, inflight = self._self, self._inflight

        def run() -> None:
            try:
                result = post_delivery(url, delivery, timeout, allow, inflight=inflight)
            except Exception as exc:  # noqa: BLE001 - a POST that broke is a failed POST, never a lost one
                logger.opt(exception=exc).error("webhook {}: the POST failed unexpectedly", hook.id)
                result = PostResult(False, None, scrub(redact(f"{type(exc).__name__}: {exc}", url)), 0.0)
            try:
                proxy.delivery_done(hook.id, gen, delivery, result)
            except pykka.ActorDeadError:
                pass  # stopped meanwhile: not acknowledged, so delivered again after a restart

        assert self._pool is not None
        self._pool.submit(run)

    @_survives
    def wake(self, webhook_id: str, generation: int) -> None:
        """Timer or self-tell: try the subscription again."""
        hook = self._hooks.get(webhook_id)
        if hook is None or hook.generation != generation:
            return
        hook.timer = None
        self._kick(hook)

    def _retry_later(self, hook: _Hook, delay: float) -> None:
        hook.cancel_timer()
        gen = hook.generation
        hook.timer = schedule(delay, lambda: self._self.wake(hook.id, gen), name=f"webhook-{hook.id}")

    @_survives
    def delivery_done(self, webhook_id: str, generation: int, delivery: Delivery, result: PostResult) -> None:
        """A worker's POST ended: acknowledge and go on, or count the failure and back off."""
        hook = self._hooks.get(webhook_id)
        if hook is None:
            return  # deleted while in flight
        if hook.in_flight is delivery:
            hook.in_flight = None
        if hook.generation != generation:
            self._kick(hook)  # replayed meanwhile: this result is about the old position
            return
        was_dead = hook.state == subs.DEAD_LETTER
        try:
            self._record(hook, delivery, result)
        except peewee.PeeweeException:
            # The store is busy or failing: the acknowledgement is not stored, so after a restart
            # this batch is sent again (at-least-once); in memory, delivery goes on.
            logger.exception("webhook {}: could not record delivery {}", hook.id, delivery.delivery_id)
            if result.ok:
                hook.cursor, hook.attempts = max(hook.cursor, delivery.ack_to), 0
        if self._telemetry is not None:
            self._telemetry.delivery_finished(result.ok, delivery.attempt,
                                              not was_dead and hook.state == subs.DEAD_LETTER)
        if hook.state != subs.ACTIVE:
            return  # paused or dead-lettered: a resume or replay starts it again
        if result.ok:
            self._kick(hook)
            return
        delay = backoff_delay(hook.attempts, self.settings.webhook_backoff, self.settings.webhook_backoff_max)
        self._retry_later(hook, delay)
        try:
            subs.update_webhook(hook.id, next_attempt_at=time.time() + delay)
        except peewee.PeeweeException:
            logger.exception("webhook {}: could not store its next attempt", hook.id)

    def _record(self, hook: _Hook, delivery: Delivery, result: PostResult) -> None:
        now = time.time()
        outcome = subs.DELIVERED if result.ok else subs.FAILED
        with store.write_transaction():
            subs.record_delivery(hook.id, delivery.delivery_id, delivery.attempt, delivery.event_ids, outcome,
                                 result.status_code, result.error, result.duration_ms, now)
            if result.ok:
                subs.acknowledge(hook.id, delivery.ack_to, len(delivery.event_ids), now)
                hook.cursor, hook.attempts = max(hook.cursor, delivery.ack_to), 0
                return
            hook.attempts += 1
            fields_: dict[str, Any] = {"attempts": hook.attempts, "last_error": result.error,
                                       "last_attempt_at": now}
            if hook.attempts >= self.settings.webhook_max_attempts and hook.state == subs.ACTIVE:
                hook.state = fields_["state"] = subs.DEAD_LETTER
                fields_["dead_lettered_at"], fields_["next_attempt_at"] = now, None
            subs.update_webhook(hook.id, **fields_)
        if hook.state == subs.DEAD_LETTER:
            logger.warning("webhook {} ({}) moved to dead letter after {} attempts: {}", hook.id,
                           describe_url(hook.url), hook.attempts, result.error)
        else:
            logger.info("webhook {} ({}) attempt {} failed: {}", hook.id, describe_url(hook.url),
                        hook.attempts, result.error)


class WebhookAdmin:
    """What the web views call: validation in the caller's thread, then an ask to the dispatcher."""

    def __init__(self, dispatcher: Any, settings: Settings, catalog_holds: Optional[Callable[[str], bool]] = None):
        self.dispatcher = dispatcher
        self.settings = settings
        # Whether a model's id or name holds a text (a secret chosen from the catalog would mask it).
        self.catalog_holds = catalog_holds

    def _ask(self, future: Any) -> Any:
        return future.get(timeout=self.settings.ask_timeout)

    def create(self, url: str, secret: str | None = None, kinds: Sequence[str] = (),
               providers: Sequence[str] = (), capabilities: Sequence[str] = (), model_glob: str | None = None,
               max_batch: int = 100, max_delay: float = 0.0, description: str | None = None,
               since: int | None = None) -> tuple[dict[str, Any], str | None]:
        """Validate and store a subscription; returns (subscription, the generated secret or None).

        Raises InvalidWebhookURL or ValueError (bad filter, short secret, bad batching).
        """
        # The fields first, the URL last: checking it resolves its host, which can take seconds.
        flt = EventFilter.build(kinds, providers, capabilities, model_glob)
        generated = None
        if secret is None:
            secret = generated = subs.new_secret()
        elif not isinstance(secret, str) or not MIN_SECRET_LENGTH <= len(secret) <= MAX_SECRET_LENGTH:
            raise ValueError(f"secret must be a string of {MIN_SECRET_LENGTH} to {MAX_SECRET_LENGTH} characters")
        elif len(set(secret)) < MIN_SECRET_DISTINCT:
            # A secret is masked wherever it turns up: one like "0000000000000000" would be found
            # in every long number, and guessed as easily.
            raise ValueError(f"secret must have at least {MIN_SECRET_DISTINCT} different characters")
        elif REDACTOR.holds_configured(secret):
            # A key or token the service is configured with: not a signing secret to share.
            raise ValueError("secret holds a secret this service is configured with (a key or token); choose "
                             "another, or leave it out to have one made")
        elif not (any(c.isdigit() for c in secret) and any(c.isalpha() for c in secret)):
            # Words alone are text the service itself writes: "provider_model_id" as a secret was
            # masked in every record's keys.
            raise ValueError("secret must mix letters and digits (a word or a phrase is text the service's "
                             "answers hold, and a secret is masked wherever it appears)")
        elif self.catalog_holds is not None and self.catalog_holds(secret):
            # Every configured secret is masked wherever it turns up: the model would be served masked.
            raise ValueError("secret is text of the catalog (a model's id or name holds it), and a secret is "
                             "masked wherever it appears; choose another, or leave it out to have one made")
        if not 1 <= int(max_batch) <= 1000:
            raise ValueError("max_batch must be between 1 and 1000")
        if not 0 <= float(max_delay) <= 3600:
            raise ValueError("max_delay must be between 0 and 3600 seconds")
        url = validate_webhook_url(url, allow_private=self.settings.webhook_allow_private)
        event_filter = {"kinds": list(flt.kinds), "providers": list(flt.providers),
                        "capabilities": list(flt.capabilities), "model_glob": flt.model_glob}
        created = self._ask(self.dispatcher.create(url, secret, event_filter, int(max_batch), float(max_delay),
                                                   description, since))
        return created, generated

    def list_all(self) -> list[dict[str, Any]]:
        """Every subscription."""
        return self._ask(self.dispatcher.list_all())

    def get(self, webhook_id: str) -> dict[str, Any] | None:
        """One subscription with its recent deliveries, or None."""
        return self._ask(self.dispatcher.get(webhook_id))

    def delete(self, webhook_id: str) -> bool:
        """Delete a subscription; False if it did not exist."""
        return self._ask(self.dispatcher.delete(webhook_id))

    def pause(self, webhook_id: str) -> dict[str, Any]:
        """Hold deliveries (UnknownWebhook if there is no such subscription)."""
        return self._ask(self.dispatcher.pause(webhook_id))

    def resume(self, webhook_id: str) -> dict[str, Any]:
        """Deliver again from the cursor."""
        return self._ask(self.dispatcher.resume(webhook_id))

    def replay(self, webhook_id: str, since: int | None = None) -> dict[str, Any]:
        """Active again, from the cursor (dead letter) or from after event ``since``."""
        return self._ask(self.dispatcher.replay(webhook_id, since))

    def prune(self) -> int:
        """Apply event retention now; returns how many events were deleted."""
        return self._ask(self.dispatcher.prune())
