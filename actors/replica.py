"""Roles on one PostgreSQL database: the elector, the follower's catch-up, and mutations handed
from followers to the leader (docs/replicas.md).

``ElectorActor`` holds the leader's advisory lock on a connection of its own; a follower tries to
take it every ``leader_check_interval`` s and, once it has, bumps the epoch and promotes its
service. ``FollowerActor`` keeps a follower's index current: a listener thread wakes it on each
``NOTIFY discovery_commits`` (and every interval, for a missed one), and it applies the events after
its cursor, reading only the model rows they name. ``RequestServerActor`` runs on the leader and
answers the ``leader_requests`` rows followers write; ``LeaderClient`` is the follower's side.
"""
from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import contextvars
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Optional

import pykka
from loguru import logger

from actors.calls import Calls
from actors.scheduling import schedule
from discovery import replication, store
from discovery.benchmark import stored
from discovery.benchmark.board import PerformanceBoard
from discovery.messages import ChangeBatch
from discovery.redaction import scrub
from discovery.settings import Settings

# Events read per catch-up step: a follower far behind applies the backlog in steps of this many.
CATCH_UP_PAGE = 2000


def listen_loop(settings: Settings, name: str, channels: tuple[str, ...], halt: threading.Event,
                on_notes: Callable[[list[tuple[str, str]]], bool],
                on_connection: Optional[Callable[[bool], Any]] = None) -> None:
    """Until ``halt``: LISTEN on ``channels`` on a connection of its own (``application_name``
    ``name``), calling ``on_notes`` with what each wait of ``leader_check_interval`` s brought
    (empty on a timeout; False from it ends the loop) and ``on_connection`` with True on each
    (re)connect and False on a loss, after which it connects again."""
    conn = None
    while not halt.is_set():
        try:
            if conn is None:
                conn = replication.connect(settings.database_url, name)
                replication.listen(conn, *channels)
                if on_connection is not None:
                    on_connection(True)
            notes = replication.wait_notifications(conn, settings.leader_check_interval)
        except Exception as exc:
            if halt.is_set():
                break
            logger.warning("{}: listening connection lost ({}: {}); reconnecting", name, type(exc).__name__, exc)
            _close(conn)
            conn = None
            if on_connection is not None:
                on_connection(False)
            halt.wait(min(1.0, settings.leader_check_interval))
            continue
        if not on_notes(notes):
            break
    _close(conn)


def _close(conn: Any) -> None:
    if conn is not None:
        try:
            conn.close()
        except Exception:
            pass


# The deadline (time.monotonic()) of the request handing a change to the leader, when it has one
# of its own (``?wait=true&timeout=N``): a stalled leader was waited for twice ask_timeout first.
RELAY_DEADLINE: contextvars.ContextVar[Optional[float]] = contextvars.ContextVar("relay_deadline", default=None)


@contextlib.contextmanager
def relay_deadline(deadline: Optional[float]) -> Iterator[None]:
    """Within the block, a change handed to the leader waits for it to start until ``deadline`` at most."""
    token = RELAY_DEADLINE.set(deadline)
    try:
        yield
    finally:
        RELAY_DEADLINE.reset(token)


class ElectorActor(pykka.ThreadingActor):
    """Leader election: the session advisory lock, the epoch, and noticing a lost lock."""

    def __init__(self, settings: Settings, instance: str, on_elected: Callable[[int], None],
                 on_deposed: Callable[[str], None]):
        super().__init__()
        self.settings = settings
        self.instance = instance
        self.on_elected = on_elected
        self.on_deposed = on_deposed
        self.conn: Any = None
        self.key = 0
        self.epoch: Optional[int] = None
        self._timer: Any = None
        self._stopping = False

    def on_start(self) -> None:
        self._proxy = Calls(self.actor_ref)
        self._connect()

    def _connect(self) -> None:
        self.conn = replication.connect(self.settings.database_url, f"discovery-leader:{self.instance}")
        self.key = replication.lock_key(self.conn, store.LEADER_LOCK)

    def on_stop(self) -> None:
        self._stopping = True
        if self._timer is not None:
            self._timer.cancel()
        self._drop_connection()  # releases the lock: a follower takes over at its next try

    def try_lead(self) -> Optional[int]:
        """Try to take the lock now; the new epoch if this instance now leads, else None."""
        if self.epoch is not None:
            return self.epoch
        try:
            if self.conn is None or self.conn.closed:
                self._connect()
            if not replication.try_lock(self.conn, self.key):
                return None
            self.epoch = replication.take_epoch(self.conn, self.instance)
        except Exception as exc:
            logger.warning("leader election: {}: {}", type(exc).__name__, exc)
            self._drop_connection()
            return None
        return self.epoch

    def start_ticking(self) -> None:
        self._arm()

    def _arm(self) -> None:
        if not self._stopping:
            self._timer = schedule(self.settings.leader_check_interval, self._proxy.tick.defer, name="timer-elector")

    def tick(self) -> None:
        """Follower: try the lock. Leader: check the lock's connection is alive and the epoch ours."""
        try:
            if self.epoch is None:
                epoch = self.try_lead()
                if epoch is not None:
                    logger.info("{} won the leader election (epoch {})", self.instance, epoch)
                    self.on_elected(epoch)
            else:
                found = replication.read_epoch(self.conn)
                if found is None or found[0] != self.epoch:
                    held = f"epoch {found[0]} held by {found[1]}" if found else "no leadership row"
                    self._deposed(f"the leadership moved on ({held}; this instance had epoch {self.epoch})")
                    return
        except Exception as exc:
            if self.epoch is not None:
                self._deposed(f"the leader's lock connection failed ({type(exc).__name__}: {exc})")
                return
            logger.warning("leader election: {}: {}", type(exc).__name__, exc)
            self._drop_connection()
        self._arm()

    def _deposed(self, reason: str) -> None:
        self._drop_connection()
        self.on_deposed(reason)

    def _drop_connection(self) -> None:
        _close(self.conn)
        self.conn = None


class FollowerActor(pykka.ThreadingActor):
    """A follower's index, kept current from the events the leader commits."""

    def __init__(self, settings: Settings, view: Any, notifier: Any, after: int, replies: Optional["LeaderClient"] = None):
        super().__init__()
        self.settings = settings
        self.view = view
        self.notifier = notifier
        self.applied = after
        self.leader_last = after
        self.connected = False
        # (event id, commit time) of notified commits not applied yet; latencies of applied ones (ms).
        self._notified: collections.deque[tuple[int, float]] = collections.deque(maxlen=10000)
        self.latencies: collections.deque[float] = collections.deque(maxlen=1000)
        self.oldest_unapplied: Optional[float] = None
        self._halt = threading.Event()
        self._queued = False
        self._listener: Optional[threading.Thread] = None
        self.replies = replies

    def on_start(self) -> None:
        self._proxy = Calls(self.actor_ref)
        store.open_database(self.settings.database_url)
        self._listener = threading.Thread(target=self._listen, name="follower-listen", daemon=True)
        self._listener.start()

    def on_stop(self) -> None:
        self._halt.set()
        store.close_database()

    # -- the listener thread ---------------------------------------------------------------------
    def _listen(self) -> None:
        listen_loop(self.settings, "discovery-follower", (replication.COMMITS, replication.REPLIES), self._halt,
                    self._notes, self._connection)

    def _connection(self, up: bool) -> None:
        self.connected = up
        if up:
            self._wake()  # after a (re)connect: catch up on what was missed meanwhile

    def _notes(self, notes: list[tuple[str, str]]) -> bool:
        commits = False
        for channel, payload in notes:
            if channel == replication.COMMITS:
                commits = True
                try:
                    last, at = payload.split()
                    self._notified.append((int(last), float(at)))
                    self.leader_last = max(self.leader_last, int(last))
                except ValueError:
                    pass
            elif channel == replication.REPLIES and self.replies is not None:
                self.replies.wake(payload)
        if commits or not notes:
            self._wake()  # on a timeout too: a notification may have been missed
        if not notes and self.replies is not None:
            self.replies.sweep()
        return True

    def _wake(self) -> None:
        if not self._queued:
            self._queued = True
            try:
                self._proxy.catch_up.defer()
            except pykka.ActorDeadError:
                pass

    # -- applying --------------------------------------------------------------------------------
    def catch_up(self) -> int:
        """Apply every committed event after the cursor; returns the new cursor."""
        self._queued = False
        try:
            newest = store.last_event_id()
            self.leader_last = max(self.leader_last, newest)
            while self.applied < newest:
                self._apply_page(store.events_after(self.applied, CATCH_UP_PAGE))
            self.oldest_unapplied = None
        except Exception as exc:
            logger.warning("follower: catching up failed ({}: {}); tried again at the next notification or poll",
                           type(exc).__name__, str(exc).strip().splitlines()[0] if str(exc).strip() else "")
            store.reset_connection()
            if self.oldest_unapplied is None:
                self.oldest_unapplied = time.time()
        return self.applied

    def _apply_page(self, events: list[store.StoredEvent]) -> None:
        if not events:
            # Ids are contiguous; nothing after the cursor yet visible (cannot happen after a commit).
            raise RuntimeError(f"no events after {self.applied} although the feed reaches further")
        ids = {e.model_id for e in events if e.model_id}
        view = self.view
        if ids:
            changes = replication.entries_for(ids)
            index = view.index
            # Only what differs from what is served (an event such as retiring_soon changes nothing).
            changes = {mid: e for mid, e in changes.items()
                       if not (e is None and index.entry(mid) is None)
                       and not (e is not None and (old := index.entry(mid)) is not None
                                and old.content_hash == e.content_hash and old.trace_hash == e.trace_hash)}
            if changes:
                view.publish(index.apply(changes), set(changes))
        if any(e.provider for e in events):
            view.provider_rows = store.provider_rows()
        if any(e.kind.startswith("benchmark_") for e in events):
            view.performance = PerformanceBoard.from_rows(stored.latest_benchmark_results())
        self.applied = events[-1].id
        view.last_event_id = self.applied
        view.telemetry.events_committed(e.kind for e in events)
        self.notifier.publish(ChangeBatch(tuple(events)))
        now = time.time()
        heard = False
        while self._notified and self._notified[0][0] <= self.applied:
            _, at = self._notified.popleft()
            self.latencies.append(max(0.0, (now - at) * 1000))
            heard = True
        if not heard:
            # A batch found by catching up, never notified (the listening connection was down): its
            # latency from when its last event was written. Left out, the p99 and max understated
            # the lag exactly when it was worst.
            self.latencies.append(max(0.0, (now - events[-1].created_at) * 1000))

    def lag(self) -> dict[str, Any]:
        """Events and seconds behind the leader's last commit."""
        behind = max(0, self.leader_last - self.applied)
        seconds = 0.0
        if behind:
            since = self._notified[0][1] if self._notified else self.oldest_unapplied
            seconds = round(max(0.0, time.time() - since), 3) if since else 0.0
        return {"events": behind, "seconds": seconds}

    def stats(self) -> dict[str, Any]:
        values = sorted(self.latencies)

        def pick(q: float) -> Optional[float]:
            return round(values[min(len(values) - 1, int(q * len(values)))], 3) if values else None

        return {"last_event_id": max(self.leader_last, self.applied), "applied_event_id": self.applied,
                "connected": self.connected, "lag": self.lag(),
                "apply_latency_ms": {"count": len(values), "p50": pick(0.5), "p99": pick(0.99),
                                     "max": round(values[-1], 3) if values else None}}


# -- mutations handed to the leader ------------------------------------------------------------

class LeaderTimeout(TimeoutError):
    """The leader did not answer a request in time (a failover, or a leader stalled): a 503 over HTTP."""


class RemoteError(Exception):
    """The leader refused a handed-over request, for a reason with no local exception type."""


class RequestServerActor(pykka.ThreadingActor):
    """The leader's side: claims pending requests and answers them (each in a worker thread)."""

    def __init__(self, settings: Settings, handler: Callable[[int, str, dict], None],
                 closing: Optional[threading.Event] = None):
        super().__init__()
        self.settings = settings
        self.handler = handler
        # Set when the service begins to stop: from then on nothing is claimed. A request claimed
        # then ran while the actors stopped, and its caller heard "abandoned" of a run that had
        # committed; left pending, the next leader claims and answers it.
        self._closing = closing or threading.Event()
        self._halt = threading.Event()
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="leader-request")
        self._queued = False
        self._pruned = 0.0

    def on_start(self) -> None:
        self._proxy = Calls(self.actor_ref)
        store.open_database(self.settings.database_url)
        # Requests an earlier leader accepted but never answered will not be answered: say so.
        replication.abandon_stale_requests(time.time())
        threading.Thread(target=self._listen, name="leader-requests-listen", daemon=True).start()

    def on_stop(self) -> None:
        self._halt.set()
        self._pool.shutdown(wait=False, cancel_futures=True)
        store.close_database()

    def _listen(self) -> None:
        listen_loop(self.settings, "discovery-requests", (replication.REQUESTS,), self._halt,
                    lambda notes: self._kick(), lambda up: up and self._kick())

    def _kick(self) -> bool:
        """Drain the pending requests (on a notification, a reconnect, and every interval for a
        missed one); False once the actor is gone."""
        if not self._queued:
            self._queued = True
            try:
                self._proxy.drain.defer()
            except pykka.ActorDeadError:
                return False
        return True

    def drain(self) -> None:
        self._queued = False
        try:
            while not self._closing.is_set():
                claimed = replication.claim_request()
                if claimed is None:
                    break
                self._pool.submit(self._handle, *claimed)
            if time.time() - self._pruned > 3600:
                self._pruned = time.time()
                replication.prune_requests(time.time() - 86400)
        except Exception:
            logger.exception("leader: could not claim handed-over requests")
            store.heal_connection()

    def _handle(self, request_id: int, op: str, args: dict) -> None:
        try:
            self.handler(request_id, op, args)
        except Exception as exc:  # the handler answers what it can; this is the last resort
            logger.exception("leader: request {} ({}) failed", request_id, op)
            try:
                replication.answer_request(request_id, replication.FAILED, error_reply(exc))
            except Exception:
                logger.exception("leader: could not answer request {}", request_id)
        finally:
            store.close_database()


def error_reply(exc: BaseException) -> dict[str, Any]:
    """The error a handed-over request ended with, as stored for its caller (scrubbed: the row is
    in the database until the caller has read it)."""
    text = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
    error: dict[str, Any] = {"type": type(exc).__name__, "message": scrub(text)}
    if hasattr(exc, "retry_after"):
        error["retry_after"] = exc.retry_after
    if hasattr(exc, "provider"):
        error["provider"] = exc.provider
    return {"error": error}


# Seconds between the leader client's own reads of the answers it still waits for (see _watch).
FINALS_POLL = 0.5


class LeaderClient:
    """A follower's side: writes a request, waits for the leader's answer (NOTIFY, or a poll)."""

    def __init__(self, settings: Settings, instance: str):
        self.settings = settings
        self.instance = instance
        self._cond = threading.Condition()
        self._seen: dict[int, str] = {}
        # Request id → callback for its final answer (refresh tickets' futures).
        self._finals: dict[int, Callable[[str, Optional[dict]], None]] = {}
        self._watcher: Optional[threading.Thread] = None
        self._closed = threading.Event()

    def wake(self, payload: str) -> None:
        try:
            request_id, state = payload.split()
            rid = int(request_id)
        except ValueError:
            return
        with self._cond:
            self._seen[rid] = state
            self._cond.notify_all()
        if state in (replication.DONE, replication.FAILED):
            self._finish(rid)

    def sweep(self) -> None:
        """Every interval: final answers whose notification was missed."""
        for rid in list(self._finals):
            found = replication.read_request(rid)
            if found and found[0] in (replication.DONE, replication.FAILED):
                self._finish(rid, found)

    def _finish(self, rid: int, found: Optional[tuple] = None) -> None:
        callback = self._finals.pop(rid, None)
        if callback is None:
            return
        try:
            found = found or replication.read_request(rid)
            if found:
                callback(found[0], found[1])
                self.forget(rid)
        except Exception:
            logger.exception("follower: could not read the answer of request {}", rid)

    def forget(self, request_id: int) -> None:
        """The final answer is read: the row goes (it may carry a generated webhook secret)."""
        with self._cond:
            self._seen.pop(request_id, None)
        replication.forget_request(request_id)

    def submit(self, op: str, args: dict[str, Any]) -> int:
        return replication.submit_request(op, args, self.instance)

    def wait(self, request_id: int, states: tuple[str, ...], timeout: float) -> tuple[str, Optional[dict]]:
        """Wait until the request reaches one of ``states`` (or fails); TimeoutError after ``timeout``."""
        deadline = time.monotonic() + timeout
        want = set(states) | {replication.FAILED}
        while True:
            found = replication.read_request(request_id)
            if found is not None and found[0] in want:
                return found
            left = deadline - time.monotonic()
            if left <= 0:
                raise LeaderTimeout(f"the leader did not answer request {request_id} within {timeout:g} s "
                                   f"(state: {found[0] if found else 'unknown'})")
            with self._cond:
                if self._seen.get(request_id) not in want:
                    self._cond.wait(min(left, 0.25))

    def on_final(self, request_id: int, callback: Callable[[str, Optional[dict]], None]) -> None:
        self._finals[request_id] = callback
        found = replication.read_request(request_id)
        if found and found[0] in (replication.DONE, replication.FAILED):
            self._finish(request_id, found)
        self._watch()

    def _watch(self) -> None:
        """Read the answers still awaited every FINALS_POLL seconds on a thread of this client's own,
        until none is left. The follower actor's notifications and sweeps stop when this instance
        is promoted, and a request it forwarded just before is then answered by this very instance:
        its caller waited out its whole timeout and heard the run had not finished."""
        with self._cond:
            if self._watcher is not None:
                return
            self._watcher = threading.Thread(target=self._watch_loop, name="leader-client-answers", daemon=True)
            self._watcher.start()

    def _watch_loop(self) -> None:
        while not self._closed.wait(FINALS_POLL):
            with self._cond:  # an answer awaited from now on starts a new watcher once this one is gone
                if not self._finals:
                    self._watcher = None
                    return
            try:
                self.sweep()
            except Exception:
                logger.exception("follower: could not read the answers of requests {}", sorted(self._finals))

    def close(self) -> None:
        """Stop watching for answers (the service is stopping)."""
        self._closed.set()

    def call(self, op: str, args: dict[str, Any], timeout: Optional[float] = None) -> Any:
        """Hand ``op`` to the leader and return its result (raising the error it answered)."""
        request_id = self.submit(op, args)
        try:
            state, reply = self.wait(request_id, (replication.DONE,), timeout or self.settings.ask_timeout * 2)
        except LeaderTimeout:
            # The leader may still answer (a generated webhook secret, say): the row goes once it does.
            self.on_final(request_id, lambda state, reply: None)
            raise
        self.forget(request_id)
        return unwrap(state, reply)

    def start(self, op: str, args: dict[str, Any]) -> tuple[int, dict]:
        """Hand ``op`` to the leader; its id and first answer once the work started there (raising
        the error it answered). The caller then registers :meth:`on_final` for the final answer.
        A caller's own deadline (:func:`relay_deadline`) bounds the wait for the start too."""
        request_id = self.submit(op, args)
        wait = self.settings.ask_timeout * 2
        deadline = RELAY_DEADLINE.get()
        if deadline is not None:
            wait = max(0.0, min(wait, deadline - time.monotonic()))
        state, reply = self.wait(request_id, (replication.STARTED, replication.DONE), wait)
        if state == replication.FAILED:
            self.forget(request_id)
            raise rebuild_error((reply or {}).get("error") or {})
        return request_id, reply or {}


def unwrap(state: str, reply: Optional[dict]) -> Any:
    reply = reply or {}
    if state == replication.FAILED:
        raise rebuild_error(reply.get("error") or {})
    return reply.get("result")


def rebuild_error(error: dict[str, Any]) -> Exception:
    """The leader's error as the exception a local call would have raised."""
    from actors.provider import RefreshRateLimited
    from actors.service import ProviderUnavailable, UnknownProvider
    from discovery.webhooks import InvalidWebhookURL

    kind, message = error.get("type"), error.get("message") or "the leader refused the request"
    if kind == "UnknownProvider":
        return UnknownProvider(message)
    if kind == "RefreshRateLimited":
        return RefreshRateLimited(error.get("provider") or "", float(error.get("retry_after") or 1.0), message)
    if kind == "ProviderUnavailable":
        return ProviderUnavailable(message)
    if kind == "InvalidWebhookURL":
        return InvalidWebhookURL(message)
    if kind == "UnknownWebhook":
        from actors.webhooks import UnknownWebhook

        return UnknownWebhook(message)
    if kind in ("BenchmarkDisabled", "BenchmarkRefused", "UnknownBenchmarkRegion"):
        from actors import benchmark

        return getattr(benchmark, kind)(message)
    if kind == "KeyError":
        return KeyError(message)
    if kind in ("ValueError", "TypeError"):
        return ValueError(message)
    if kind == "TimeoutError":
        return TimeoutError(message)
    return RemoteError(f"{kind}: {message}")


class RemoteWebhookAdmin:
    """A follower's webhook administration: every call handed to the leader (validated there)."""

    def __init__(self, client: LeaderClient, settings: Settings):
        self.client = client
        self.settings = settings

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return self.client.call("webhooks", {"method": method, "args": list(args), "kwargs": kwargs})

    def create(self, url: str, secret: Optional[str] = None, kinds=(), providers=(), capabilities=(),
               model_glob: Optional[str] = None, max_batch: int = 100, max_delay: float = 0.0,
               description: Optional[str] = None, since: Optional[int] = None) -> tuple[dict[str, Any], Optional[str]]:
        created, generated = self._call("create", url, secret, list(kinds), list(providers), list(capabilities),
                                        model_glob, max_batch, max_delay, description, since)
        return created, generated

    def list_all(self) -> list[dict[str, Any]]:
        return self._call("list_all")

    def get(self, webhook_id: str) -> Optional[dict[str, Any]]:
        return self._call("get", webhook_id)

    def delete(self, webhook_id: str) -> bool:
        return self._call("delete", webhook_id)

    def pause(self, webhook_id: str) -> dict[str, Any]:
        return self._call("pause", webhook_id)

    def resume(self, webhook_id: str) -> dict[str, Any]:
        return self._call("resume", webhook_id)

    def replay(self, webhook_id: str, since: Optional[int] = None) -> dict[str, Any]:
        return self._call("replay", webhook_id, since)

    def prune(self) -> int:
        return self._call("prune")
