"""NotifierActor: fans committed events out to in-process subscribers, in batches."""
from __future__ import annotations

import bisect
import itertools
import threading
import weakref
from collections.abc import Callable
from typing import Any, Optional

import pykka
from loguru import logger

from actors.calls import Calls
from actors.scheduling import Timer, schedule
from discovery.collector import collector_paused
from discovery.messages import ChangeBatch, EventFilter, Subscription, check_batching
from discovery.model import seal
from discovery.store import StoredEvent


class _Pending:
    """Events waiting for one subscriber's next batch."""

    __slots__ = ("events", "timer", "paused", "through")

    def __init__(self, paused: bool = False) -> None:
        self.events: list[StoredEvent] = []
        self.timer: Optional[Timer] = None
        self.paused = paused
        # The newest id given it from the store when it caught up, so live events are given only
        # past it (each event once): for its whole life, as a commit's tell can reach the notifier
        # after the resume that already gave the committed event from the store.
        self.through = 0


def _member_id(member: tuple[int, Any]) -> int:
    return member[0]


def _entry_id(entry: tuple[Subscription, Any]) -> int:
    return entry[0].id


class _Direct:
    """Subscribers called at once with each batch: plain callables, no delay, not paused, not
    resumed from a point (those drop the live events they were given from the store: queued).

    Grouped by filter and batch size, so one batch is filtered and cut once per group and the
    loop over its members is only the calls (a callable per subscriber per commit is the
    notification latency at 1,000 subscribers).
    """

    __slots__ = ("filter", "max_batch", "members")

    def __init__(self, event_filter: EventFilter, max_batch: int) -> None:
        self.filter = event_filter
        self.max_batch = max_batch
        self.members: list[tuple[int, Callable[[tuple[StoredEvent, ...]], Any]]] = []


class NotifierActor(pykka.ThreadingActor):
    """Filters each committed batch per subscriber and delivers by size or delay, whichever first.

    A callable subscriber is called on this actor's thread and must return quickly; a slow
    consumer should subscribe a pykka actor ref, which is only ever told (never asked), as
    blocking here would hold up every other subscriber.
    """

    def __init__(self, default_max_batch: int = 100, default_max_delay: float = 0.05, board: Any = None):
        super().__init__()
        # Told how many subscribers are called at once with each batch (``immediate_subscribers``;
        # the catalog's view, whose writer then waits briefly for the fan-out).
        self.board = board
        self.default_max_batch = default_max_batch
        self.default_max_delay = default_max_delay
        self.subscriptions: dict[int, Subscription] = {}
        self.pending: dict[int, _Pending] = {}
        # Immediate callables, grouped (see _Direct); keyed by (id of the filter, max_batch).
        self._direct: dict[tuple[int, int], _Direct] = {}
        # Every other subscriber (actors, batched, paused) as (subscription, its pending queue), in
        # subscription order: read by the publish loop instead of two dicts.
        self._queued: list[tuple[Subscription, _Pending]] = []
        self._ids = itertools.count(1)
        # Equal filters share one object, so publish() filters once per distinct filter and
        # finds it by identity (hashing a filter per subscriber per batch costs more). Keyed by
        # the filter's fields, not the filter: a key that is the filter itself would hold it, and
        # every filter ever subscribed with would stay.
        self._filters: weakref.WeakValueDictionary = weakref.WeakValueDictionary()
        self.delivered = 0
        # How many subscribers want read-only event data: publish() seals a batch only while one does.
        self._read_only = 0
        # Subscriptions an inline callable ended from this thread: skipped from then on, before
        # their unsubscribe message (queued behind commits already waiting) comes.
        self._cancelled: set[int] = set()

    def on_start(self) -> None:
        self._proxy = Calls(self.actor_ref)
        self._thread = threading.get_ident()
        _CANCELLED[self._thread] = self._cancelled

    def thread_ident(self) -> int:
        """This actor's thread: a call from it must not wait for this actor (see make_unsubscribe)."""
        return self._thread

    def on_stop(self) -> None:
        _CANCELLED.pop(self._thread, None)
        # Events a batch was still gathering were committed: deliver them now rather than drop
        # them (the service stops the notifier after the catalog, so every commit is in).
        for sub_id in list(self.pending):
            self.flush(sub_id)

    def on_failure(self, exception_type, exception_value, traceback) -> None:
        logger.error("notifier died: {}", exception_value)
        for p in self.pending.values():
            if p.timer is not None:
                p.timer.cancel()

    def subscribe(self, target: Any, event_filter: Optional[EventFilter] = None,
                  max_batch: Optional[int] = None, max_delay: Optional[float] = None,
                  paused: bool = False, read_only: bool = True) -> int:
        """Register a callable (called with a tuple of events) or an actor ref (told a ChangeBatch);
        ``paused``: events queue until :meth:`resume` (a subscriber catching up, see :meth:`backfill`).
        ``read_only``: the subscriber is given read-only copies of the events' data. While no
        subscriber asks for them no copy is made (the event stream and the webhooks only encode or
        re-read the events); while one does, every subscriber gets the same read-only copies."""
        if not (callable(target) or isinstance(target, pykka.ActorRef)):
            raise TypeError("a subscriber is a callable or a pykka ActorRef")
        if isinstance(target, pykka.ActorRef) and not target.is_alive():
            raise pykka.ActorDeadError(f"{target} has stopped: it cannot subscribe")
        check_batching(max_batch, max_delay)
        event_filter = event_filter or EventFilter()
        try:
            event_filter = self._filters.setdefault(event_filter.key(), event_filter)
        except TypeError:
            pass  # an unhashable filter simply is not shared
        sub = Subscription(next(self._ids), target, event_filter,
                           self.default_max_batch if max_batch is None else max_batch,
                           self.default_max_delay if max_delay is None else max_delay, bool(read_only))
        self.subscriptions[sub.id] = sub
        self._read_only += sub.read_only
        self.pending[sub.id] = _Pending(paused)
        self._place(sub)
        return sub.id

    def unsubscribe(self, sub_id: int) -> bool:
        """Forget a subscriber; undelivered events for it are dropped."""
        pending = self.pending.pop(sub_id, None)
        if pending and pending.timer:
            pending.timer.cancel()
        sub = self.subscriptions.pop(sub_id, None)
        self._cancelled.discard(sub_id)
        if sub is not None:
            self._unplace(sub)
            self._read_only -= sub.read_only
        return sub is not None

    def pause(self, sub_id: int) -> None:
        """Hold deliveries for a subscriber; events keep queueing."""
        sub, pending = self.subscriptions.get(sub_id), self.pending.get(sub_id)
        if sub is not None and pending is not None and not pending.paused:
            self._unplace(sub)
            pending.paused = True
            self._place(sub)

    def backfill(self, sub_id: int, events: tuple[StoredEvent, ...], through: int = 0) -> None:
        """Give a paused subscriber stored events (a page of the feed, in id order) ahead of the
        live ones queued for it. ``through``: the page holds every event the subscriber wants up
        to that id (at least its last one's); :meth:`resume` drops the queued ones up to it."""
        sub, pending = self.subscriptions.get(sub_id), self.pending.get(sub_id)
        if sub is None or pending is None:
            return
        if sub.read_only:
            events = sealed(events)
        given = pending.through
        pending.through = max(given, through, events[-1].id if events else 0)
        try:
            wanted = [e for e in events if e.id > given and sub.filter.matches(e)]
        except Exception:
            logger.exception("subscriber {}: filter failed", sub_id)
            wanted = []
        for first in range(0, len(wanted), sub.max_batch):
            if sub_id not in self.subscriptions:
                return  # a dead actor, unsubscribed by _deliver
            self._deliver(sub, tuple(wanted[first:first + sub.max_batch]))

    def resume(self, sub_id: int) -> None:
        """Deliver what queued while paused (past what :meth:`backfill` gave), and go on (live
        events up to what it gave are dropped from then on too)."""
        sub, pending = self.subscriptions.get(sub_id), self.pending.get(sub_id)
        if sub is not None and pending is not None and pending.paused:
            self._unplace(sub)
            pending.paused = False
            if pending.through:
                pending.events = [e for e in pending.events if e.id > pending.through]
            self.flush(sub_id)
            self._place(sub)

    def _is_direct(self, sub: Subscription) -> bool:
        pending = self.pending[sub.id]
        return (sub.max_delay <= 0 and not isinstance(sub.target, pykka.ActorRef)
                and not pending.paused and not pending.through)

    def _place(self, sub: Subscription) -> None:
        """Put a subscriber in the direct groups or the queued list, by what it is now."""
        if self._is_direct(sub):
            key = (id(sub.filter), sub.max_batch)
            group = self._direct.get(key)
            if group is None:
                group = self._direct[key] = _Direct(sub.filter, sub.max_batch)
            bisect.insort(group.members, (sub.id, sub.target), key=_member_id)
            self._count_immediate()
        else:
            bisect.insort(self._queued, (sub, self.pending[sub.id]), key=_entry_id)

    def _count_immediate(self) -> None:
        if self.board is not None:
            self.board.immediate_subscribers = sum(len(g.members) for g in self._direct.values())

    def _unplace(self, sub: Subscription) -> None:
        key = (id(sub.filter), sub.max_batch)
        group = self._direct.get(key)
        if group is not None:
            group.members = [member for member in group.members if member[0] != sub.id]
            if not group.members:
                del self._direct[key]
            self._count_immediate()
        self._queued = [entry for entry in self._queued if entry[0].id != sub.id]

    def subscriber_count(self) -> int:
        return len(self.subscriptions)

    def publish(self, batch: ChangeBatch) -> None:
        """Called (told) by the catalog after each commit."""
        # Subscribers with equal filters share one filtered tuple: with many subscribers (SSE
        # clients) most filters are alike, and this loop is the notification latency.
        # The cyclic collector waits until every subscriber has its events: a collection that
        # fell inside this loop held back every subscriber after it (p99 2-3x the median at 1,000).
        events = sealed(batch.events) if self._read_only else batch.events
        with collector_paused():
            self._fan_out(events)

    def _fan_out(self, events: tuple[StoredEvent, ...]) -> None:
        matched: dict[int, tuple[StoredEvent, ...]] = {}

        def wanted_by(flt: EventFilter, sub_id: int) -> tuple[StoredEvent, ...]:
            wanted = matched.get(id(flt))
            if wanted is None:
                try:
                    wanted = matched[id(flt)] = tuple(e for e in events if flt.matches(e))
                except Exception:
                    logger.exception("subscriber {}: filter failed", sub_id)
                    return ()
            return wanted

        delivered = 0
        cancelled = self._cancelled
        for group in self._direct.values():
            wanted = wanted_by(group.filter, group.members[0][0])
            if not wanted:
                continue
            size = group.max_batch
            chunks = (wanted,) if len(wanted) <= size else \
                tuple(wanted[i:i + size] for i in range(0, len(wanted), size))
            for chunk in chunks:
                failed = 0
                for sub_id, target in group.members:
                    if cancelled and sub_id in cancelled:
                        failed += 1
                        continue
                    try:
                        target(chunk)
                    except Exception:
                        failed += 1
                        logger.exception("subscriber {} raised while handling {} events", sub_id, len(chunk))
                delivered += len(chunk) * (len(group.members) - failed)
        self.delivered += delivered
        for sub, pending in self._queued:
            wanted = wanted_by(sub.filter, sub.id)
            if wanted and pending.through:
                wanted = tuple(e for e in wanted if e.id > pending.through)
            if not wanted:
                continue
            if sub.max_delay <= 0 and not pending.events and not pending.paused and len(wanted) <= sub.max_batch:
                self._deliver(sub, wanted)
                continue
            pending.events.extend(wanted)
            if pending.paused:
                continue
            if len(pending.events) >= sub.max_batch or sub.max_delay <= 0:
                self.flush(sub.id)
            elif pending.timer is None:
                pending.timer = schedule(sub.max_delay, lambda sid=sub.id: self._proxy.flush(sid),
                                         name=f"notify-{sub.id}")

    def flush(self, sub_id: int) -> None:
        """Deliver a subscriber's pending events, at most ``max_batch`` per call."""
        sub, pending = self.subscriptions.get(sub_id), self.pending.get(sub_id)
        if sub is None or pending is None:
            return
        if pending.timer is not None:
            pending.timer.cancel()
            pending.timer = None
        if pending.paused:
            return
        while pending.events and sub_id in self.subscriptions:  # a dead actor is unsubscribed by _deliver
            chunk = tuple(pending.events[:sub.max_batch])
            del pending.events[:sub.max_batch]
            self._deliver(sub, chunk)

    def _deliver(self, sub: Subscription, events: tuple[StoredEvent, ...]) -> None:
        if sub.id in self._cancelled:
            return
        try:
            if isinstance(sub.target, pykka.ActorRef):
                sub.target.tell(ChangeBatch(events))
            else:
                sub.target(events)
            self.delivered += len(events)
        except pykka.ActorDeadError:
            logger.warning("subscriber {} is a dead actor; unsubscribing it", sub.id)
            self.unsubscribe(sub.id)
        except Exception:
            # One bad subscriber must not affect the others.
            logger.exception("subscriber {} raised while handling {} events", sub.id, len(events))


def sealed(events: tuple[StoredEvent, ...]) -> tuple[StoredEvent, ...]:
    """The events with read-only data: every subscriber gets the same objects (pykka does not
    copy messages), so one that changed an event's data changed it for all the others too."""
    return tuple(StoredEvent(e.id, e.kind, e.provider, e.model_id, e.run_id, e.created_at, seal(e.data))
                 for e in events)


# Each running notifier's cancelled subscriptions, by its thread (see make_unsubscribe).
_CANCELLED: dict[int, set[int]] = {}
# How long an unsubscribe waits for the notifier to remove the subscription, or for a call of an
# inline=False callable already under way to return.
UNSUBSCRIBE_WAIT = 5.0


def make_unsubscribe(notifier: Any, sub_id: int, notifier_thread: Optional[int] = None) -> Callable[[], None]:
    """A callable that removes the subscription; safe to call twice or after the service stopped.

    Called on the notifier's own thread (from an inline callable) it does not wait for the
    notifier, busy calling it: the subscription is skipped at once (commits already queued do not
    reach it), and removed once the notifier is done with this commit."""
    def unsubscribe() -> None:
        if notifier_thread is not None:
            cancelled = _CANCELLED.get(notifier_thread)
            if cancelled is not None:
                # Skipped from the notifier's next delivery on, before it reads the removal (busy
                # with a slow inline callable, it may deliver queued commits first). One add to a
                # set: the GIL makes it whole for the notifier's thread that reads it.
                cancelled.add(sub_id)
        try:
            removed = notifier.unsubscribe(sub_id)
            if threading.get_ident() != notifier_thread:
                removed.get(timeout=UNSUBSCRIBE_WAIT)
        except pykka.Timeout:
            logger.warning("subscription {}: its removal waits behind a busy notifier (an inline callable "
                           "slower than {:g}s); it is skipped meanwhile", sub_id, UNSUBSCRIBE_WAIT)
        except pykka.ActorDeadError:
            pass
    return unsubscribe


