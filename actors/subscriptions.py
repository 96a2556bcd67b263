"""Subscribing to committed change events and reading the event feed, mixed into
:class:`actors.service.Service`: a subscription is made on the notifier, a resume replays the
stored events after its point (paged from the store's reader) before the live ones."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, Optional

import pykka
from loguru import logger

from actors.notifier import UNSUBSCRIBE_WAIT, make_unsubscribe
from actors.stopped import ServiceStopped, while_running
from actors.subscriber import CallbackSubscriber
from discovery import store
from discovery.messages import EventFilter, check_batching
from discovery.settings import Settings

# Stored events read per page when a subscriber resumes from an event id (Service.subscribe(since=)).
CATCH_UP_PAGE = 1000


class Subscriptions:
    """Subscriptions and the event feed (``Service`` sets every attribute named here)."""

    settings: Settings
    notifier: Any
    reader: Any
    index: Any
    _notifier_thread: Optional[int]
    _stopped: threading.Event
    _callbacks_lock: threading.Lock
    _callbacks: dict[int, CallbackSubscriber]
    source_names: Callable[[], list[str]]

    def subscribe(self, target: Callable[[tuple], Any] | pykka.ActorRef, kinds: Iterable[str] = (),
                  providers: Iterable[str] = (), capabilities: Iterable[str] = (),
                  model_glob: Optional[str] = None, max_batch: Optional[int] = None,
                  max_delay: Optional[float] = None, inline: bool = True,
                  since: Optional[int] = None, read_only: bool = True,
                  on_missed: Optional[Callable[[int], None]] = None) -> Callable[[], None]:
        """Deliver committed change events to ``target`` in batches; returns an unsubscribe callable.

        ``since``: first the stored events after that id (the last one a subscriber had before a
        restart), then the live ones, each once and in id order; without it, from the next commit.
        When retention has deleted events after ``since``, a WARNING says how many, and
        ``on_missed`` (if given) is called with that count before any event is delivered, on the
        subscribing thread: the subscriber has lost changes and should read the catalog afresh.

        A callable is called on the notifier's thread (``inline``, the default: no thread hand-off,
        what the event stream does): it must return at once and never call the service back.
        ``inline=False`` gives it a thread of its own, so it may be slow, block, or call the service
        back (subscribe, unsubscribe, wait) without holding up anyone else; each commit then wakes
        one thread per such subscriber (bench_notify --threaded: p99 21 ms at 100 of them, 371 ms
        at 1,000, where inline ones take 1-1.5 ms).

        ``read_only`` (the default): each event's ``data`` is a read-only copy, so no subscriber
        can change what another one sees. ``read_only=False`` spares the copy (about 10 µs an
        event) for a subscriber that never changes the data; it is made anyway while another
        subscriber wants it.

        Bad arguments are refused here (TypeError, ValueError): a target that is neither a callable
        nor an ActorRef, an unknown kind or capability, a bare string for a list, a glob that is not
        a string or longer than 512 characters, ``max_batch`` not a positive integer, ``max_delay``
        negative or not finite."""
        if not (callable(target) or isinstance(target, pykka.ActorRef)):
            raise TypeError(f"a subscriber is a callable or a pykka ActorRef, not {type(target).__name__}")
        flt = EventFilter.build(kinds, providers, capabilities, model_glob)
        check_batching(max_batch, max_delay)
        if since is not None and (isinstance(since, bool) or not isinstance(since, int) or since < 0):
            raise ValueError(f"since must be an event id (an integer, 0 or more), not {since!r}")
        if on_missed is not None and not callable(on_missed):
            raise TypeError(f"on_missed must be a callable, not {type(on_missed).__name__}")
        if self._stopped.is_set():
            raise ServiceStopped("subscribe()")
        if threading.get_ident() == self._notifier_thread:
            # It would wait for the notifier, busy calling this very callable, for ask_timeout.
            raise RuntimeError("subscribe from an inline subscriber's callable: subscribe that one without inline")
        if isinstance(target, pykka.ActorRef) and not target.is_alive():
            raise pykka.ActorDeadError(f"{target} has stopped: it cannot subscribe")
        self._warn_strangers(flt)
        own: Optional[CallbackSubscriber] = None
        if not (inline or isinstance(target, pykka.ActorRef)):
            own = CallbackSubscriber(target, self.settings.batch_max_size if max_batch is None else max_batch)
            target = own
        try:
            sub_id = self.notifier.subscribe(target, flt, max_batch, max_delay, since is not None,
                                             read_only).get(
                timeout=self.settings.ask_timeout)
        except BaseException:
            if own is not None:
                own.close()
            raise
        if since is not None:
            try:
                self._catch_up(sub_id, flt, since, on_missed)
            except BaseException:
                make_unsubscribe(self.notifier, sub_id, self._notifier_thread)()
                if own is not None:
                    own.close()
                raise
        if own is None:
            return make_unsubscribe(self.notifier, sub_id, self._notifier_thread)
        with self._callbacks_lock:
            self._callbacks[sub_id] = own
        if self._stopped.is_set():
            own.close()  # stop() began meanwhile and may have closed the others already
        forget = make_unsubscribe(self.notifier, sub_id, self._notifier_thread)

        def unsubscribe() -> None:
            # Taken out first: a batch it has already taken is the only call left, and that one
            # is waited for (from another thread), so none is made once this returns. One wait in
            # all; none on the notifier's own thread (an inline callable unsubscribing it), which
            # would hold up every other subscriber, the stream and the webhooks.
            deadline = time.monotonic() + UNSUBSCRIBE_WAIT
            forget()
            with self._callbacks_lock:
                self._callbacks.pop(sub_id, None)
            on_notifier = threading.get_ident() == self._notifier_thread
            wait = 0.0 if on_notifier else max(0.001, deadline - time.monotonic())
            if not own.close(wait=wait) and not on_notifier:
                logger.warning("in-process subscriber {}: unsubscribed while its callable has run for over {:g}s "
                               "on a batch taken before; that call goes on", own.thread.name, UNSUBSCRIBE_WAIT)
        return unsubscribe

    def _warn_strangers(self, flt: EventFilter) -> None:
        """Warn of provider names no source or catalog knows yet: not refused (a provider only a
        catalog lists is known after its first refresh, and a gateway subscribes at its start),
        but a misspelled one would match nothing, silently."""
        if not flt.providers:
            return
        known = set(self.source_names()) | set(self.index.providers()) | {"bedrock"}
        strangers = sorted(n for n in flt.providers if n not in known)
        if strangers:
            logger.warning("subscribe: no source or catalog lists provider {} yet; the subscription matches "
                           "its events only once one does (known now: {})", ", ".join(strangers),
                           ", ".join(sorted(known)))

    def _catch_up(self, sub_id: int, flt: EventFilter, since: int,
                  on_missed: Optional[Callable[[int], None]] = None) -> None:
        """Give a subscription, paused since it was made, the stored events after ``since``, then
        resume it: the live events that queued meanwhile follow, those already given dropped.

        The subscription is made before the store is read, so no commit falls between the two
        (the SSE stream's resume does the same)."""
        newest = self.last_event_id()
        if since > newest:
            # Another store's id, or a store that was replaced: from now on, as the stream does.
            logger.warning("resume point {} is past the newest event {}; delivering from there", since, newest)
        after = min(since, newest)
        missed = self.missed_after(after) if after < newest else 0
        if missed:
            logger.warning("subscribe: resuming after event {}, but retention has deleted the {} events after it "
                           "(the oldest kept is {}): this subscriber missed them and should resync",
                           after, missed, after + missed + 1)
            if on_missed is not None:
                on_missed(missed)
        # Had through ``after`` already: a live event up to it that queued meanwhile (committed
        # before the subscription, told to the notifier after) is not given again.
        self.notifier.backfill(sub_id, (), after).get(timeout=self.settings.ask_timeout)
        while after < newest:
            page = self.reader.events_after(after, CATCH_UP_PAGE, flt.kinds, flt.providers).get(
                timeout=self.settings.ask_timeout)
            # A short page holds every wanted event up to the newest (read before it): the live
            # events queued up to there were given with it, or were never wanted.
            through = newest if len(page) < CATCH_UP_PAGE else page[-1].id
            self.notifier.backfill(sub_id, tuple(page), through).get(timeout=self.settings.ask_timeout)
            if len(page) < CATCH_UP_PAGE:
                break
            after = page[-1].id
        self.notifier.resume(sub_id).get(timeout=self.settings.ask_timeout)

    @while_running
    def events_after(self, after_id: int = 0, limit: int = 100, kinds: Iterable[str] = (),
                     providers: Iterable[str] = ()) -> list[Any]:
        """A page of the persisted event feed (StoredEvent), ids greater than ``after_id``, oldest first."""
        return self.reader.events_after(after_id, limit, tuple(kinds), tuple(providers)).get(
            timeout=self.settings.ask_timeout)

    @while_running
    def last_event_id(self) -> int:
        """The newest committed event id (0 when the feed is empty)."""
        return self.reader.last_event_id().get(timeout=self.settings.ask_timeout)

    @while_running
    def oldest_event_id(self) -> int:
        """The oldest event id retention has kept (0 when the feed is empty)."""
        return self.reader.oldest_event_id().get(timeout=self.settings.ask_timeout)

    def missed_after(self, since: int) -> int:
        """How many events after ``since`` retention deleted before the oldest kept one (0: none).

        Event ids have no gaps (see store.insert_events), so the count is exact; it is read after
        the events given, so a prune in between makes it larger, never silent.
        """
        return store.events_missed(since, self.oldest_event_id())
