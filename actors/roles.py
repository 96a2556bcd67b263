"""A service's roles on one PostgreSQL database (docs/replicas.md): its replication status, the
calls a follower hands to the leader, the leader's answers to them, and promotion and stepping
down. A mixin of :class:`actors.service.Service`, as its subscriptions and queries are."""
from __future__ import annotations

import concurrent.futures
import threading
import time
from typing import Any, Optional

import pykka
from loguru import logger

from actors.benchmark import BenchmarkQueries
from actors.provider import RefreshTicket
from actors.stopped import while_running
from discovery import store
from discovery.messages import RefreshOutcome
from discovery.timestamps import iso

# What a follower hands to the leader unchanged ("call" requests): Service methods that need the
# leader's actors, and WebhookAdmin methods (every change of a subscription).
RELAYED_CALLS = frozenset({"providers", "health", "reconciliation", "check_lifecycle", "bedrock_regions"})
RELAYED_WEBHOOK_CALLS = frozenset({"create", "list_all", "get", "delete", "pause", "resume", "replay", "prune"})


class Roles:
    """Replication and the leader's role; mixed into Service, which provides the view, the
    settings, the reader, the follower and leader client, and ``start_leader_actors``."""

    def replication_status(self) -> dict[str, Any]:
        """This instance's role, the leader (instance, epoch, since) and a follower's lag."""
        out: dict[str, Any] = {"instance": self.instance_id, "role": self.role}
        if not self.replicated:
            out["leader"] = {"instance": self.instance_id, "epoch": None, "since": iso(self.started_at)}
            out["lag"] = {"events": 0, "seconds": 0.0}
            out["replication"] = None
            return out
        out["leader"] = self._leadership()
        follower = self.follower
        if self.role == "follower" and follower is not None:
            try:
                stats = follower.stats().get(timeout=self.settings.ask_timeout)
            except (pykka.Timeout, pykka.ActorDeadError):
                stats = None
        else:
            stats = None
        if stats is None:
            last = self.view.last_event_id
            stats = {"last_event_id": last, "applied_event_id": last, "connected": True,
                     "lag": {"events": 0, "seconds": 0.0},
                     "apply_latency_ms": {"count": 0, "p50": None, "p99": None, "max": None}}
        out["lag"] = stats.pop("lag")
        out["replication"] = stats
        return out

    def _leadership(self) -> dict[str, Any]:
        """The leader the store names, read at most once per leader_check_interval (load balancers
        probe /readyz often; the row changes only at an election)."""
        read_at, found = self._leader_seen
        if found is None or time.monotonic() - read_at >= self.settings.leader_check_interval:
            try:
                found = self.reader.leadership().get(timeout=self.settings.ask_timeout)
            except (pykka.Timeout, pykka.ActorDeadError):
                return {"instance": None, "epoch": None, "since": None}
            self._leader_seen = (time.monotonic(), found)
        return found

    def follower_connected(self) -> bool:
        """True while a follower listens to the leader's commits (and has caught up once)."""
        try:
            stats = self.follower.stats().get(timeout=self.settings.ask_timeout)
        except (AttributeError, pykka.Timeout, pykka.ActorDeadError):
            return False
        return bool(stats["connected"])

    def _relay(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """A Service call handed to the leader through the database (a follower's)."""
        return self.leader_client.call("call", {"method": method, "args": list(args), "kwargs": kwargs})

    def _relay_refresh(self, op: str, args: dict[str, Any]) -> tuple[list[RefreshTicket], list[dict[str, Any]]]:
        """A refresh handed to the leader: its tickets once started there; each future resolves
        with the leader's outcome."""
        def finished(state: str, reply: Optional[dict]) -> None:
            outcomes = {o["run_id"]: o for o in (reply or {}).get("outcomes", [])}
            error = ((reply or {}).get("error") or {}).get("message") or "the leader did not report the outcome"
            for t in tickets:
                found = outcomes.get(t.run_id)
                outcome = (RefreshOutcome(**{**found, "rejections": tuple(found.get("rejections") or ())})
                           if found else RefreshOutcome(t.run_id, t.provider, "interrupted", error=error))
                if not t.future.done():
                    t.future.set_result(outcome)

        request_id, started = self.leader_client.start(op, args)
        tickets = [RefreshTicket(t["run_id"], t["provider"], t["trigger"]) for t in started.get("tickets", [])]
        self.leader_client.on_final(request_id, finished)
        return tickets, list(started.get("skipped") or [])

    @while_running
    def run_benchmark(self, model_id: str, region: Optional[str] = None) -> list[Any]:
        """Benchmark one model now (see BenchmarkQueries.run_benchmark); a follower hands it to the leader."""
        if self.role != "follower":
            return BenchmarkQueries.run_benchmark(self, model_id, region)
        from actors.benchmark import BenchmarkTicket
        from discovery.benchmark.records import INTERRUPTED, BenchmarkRun

        if self.view.index.entry(model_id) is None:
            raise KeyError(model_id)
        asked_at = time.time()
        request_id, started = self.leader_client.start("benchmark", {"model_id": model_id, "region": region})
        tickets = [BenchmarkTicket(t["run_id"], t["provider"], t["region"], t["trigger"])
                   for t in started.get("tickets", [])]

        def finished(state: str, reply: Optional[dict]) -> None:
            runs = {r["id"]: r for r in (reply or {}).get("runs", [])}
            for t in tickets:
                found = runs.get(t.run_id)
                if found is not None:
                    found = {**found, "skipped": tuple(tuple(s) for s in found.get("skipped") or ())}
                    t.future.set_result(BenchmarkRun(**found))
                else:
                    # The leader stopped or lost its lead before the run ended: interrupted, as a
                    # relayed refresh is (this was a RuntimeError, a 500 to a caller waiting).
                    error = (((reply or {}).get("error") or {}).get("message")
                             or "the leader did not report how the benchmark run ended")
                    t.future.set_result(BenchmarkRun(t.run_id, t.provider, t.region, t.trigger, asked_at,
                                                     outcome=INTERRUPTED, finished_at=time.time(), error=error))

        self.leader_client.on_final(request_id, finished)
        return tickets

    def handle_request(self, request_id: int, op: str, args: dict[str, Any]) -> None:
        """The leader answers a request a follower handed over (on a worker thread)."""
        from actors.provider import COMMIT_WAIT
        from actors.replica import error_reply
        from discovery import replication

        def answer(state: str, reply: dict[str, Any]) -> None:
            replication.answer_request(request_id, state, reply)

        try:
            if op in ("refresh", "refresh_many"):
                if op == "refresh":
                    tickets, skipped = [self.refresh(args["source"], args.get("trigger") or "manual")], []
                else:
                    tickets, skipped = self.refresh_many(args.get("trigger") or "manual")
                shown = [{"run_id": t.run_id, "provider": t.provider, "trigger": t.trigger} for t in tickets]
                answer(replication.STARTED, {"tickets": shown, "skipped": skipped})
                done, _ = concurrent.futures.wait([t.future for t in tickets], timeout=COMMIT_WAIT)
                outcomes = [t.future.result().to_dict() for t in tickets if t.future in done]
                answer(replication.DONE, {"tickets": shown, "skipped": skipped, "outcomes": outcomes})
            elif op == "benchmark":
                import dataclasses

                bench_tickets = self.run_benchmark(args["model_id"], args.get("region"))
                shown = [{"run_id": t.run_id, "provider": t.provider, "region": t.region, "trigger": t.trigger}
                         for t in bench_tickets]
                answer(replication.STARTED, {"tickets": shown})
                done, _ = concurrent.futures.wait([t.future for t in bench_tickets], timeout=COMMIT_WAIT)
                runs = [dataclasses.asdict(t.future.result()) for t in bench_tickets if t.future in done]
                answer(replication.DONE, {"tickets": shown, "runs": runs})
            elif op == "call" and args.get("method") in RELAYED_CALLS:
                result = getattr(self, args["method"])(*args.get("args") or (), **args.get("kwargs") or {})
                answer(replication.DONE, {"result": result})
            elif op == "webhooks" and args.get("method") in RELAYED_WEBHOOK_CALLS:
                result = getattr(self.webhooks, args["method"])(*args.get("args") or (), **args.get("kwargs") or {})
                answer(replication.DONE, {"result": list(result) if isinstance(result, tuple) else result})
            else:
                answer(replication.FAILED, {"error": {"type": "ValueError", "message": f"unknown request {op!r}"}})
        except Exception as exc:
            reply = error_reply(exc)
            if "source" in args:
                reply["error"].setdefault("provider", args["source"])
            answer(replication.FAILED, reply)

    def _elected(self, epoch: int) -> None:
        """The elector won the lock (its thread): promote this follower in a thread of its own."""
        threading.Thread(target=self._promote, args=(epoch,), name="promote", daemon=True).start()

    def _promote(self, epoch: int) -> None:
        started = time.monotonic()
        with self._role_lock:
            if self._stopped.is_set():
                return
            store.set_fence(True, epoch)
            self.epoch = epoch
            self._leader_seen = (0.0, None)
            follower_ref = self._follower_ref
            if follower_ref is not None:
                # What the old leader committed before it went: into the index and to subscribers.
                try:
                    self.follower.catch_up().get(timeout=60)
                except Exception:
                    logger.exception("promotion: the last catch-up failed; the store is loaded in full next")
                try:
                    follower_ref.stop(block=True, timeout=10)
                except (pykka.ActorDeadError, pykka.Timeout):
                    pass
                self._refs.remove(follower_ref)
                self._follower_ref = self.follower = None
            # Readiness counts a refresh round from here: the providers start now.
            self.started_at = time.time()
            try:
                self.start_leader_actors()
            except Exception as exc:
                logger.exception("promotion to leader failed")
                self._lost(f"promotion failed: {exc}")
                return
            self.role = "leader"
        logger.info("{} is the leader now (epoch {}; took {:.2f} s)", self.instance_id, epoch,
                    time.monotonic() - started)

    def _lost(self, reason: str) -> None:
        """This instance may no longer write (lock lost, or a write was fenced): step down once."""
        if store.FENCE.deposed is None:
            store.step_down(reason)
        if self.deposed.is_set():
            return
        self.deposed_reason = reason
        self.deposed.set()
        logger.error("{} is no longer the leader: {}", self.instance_id, reason)
        hook = self.on_deposed
        if hook is not None:
            threading.Thread(target=hook, args=(reason,), name="deposed", daemon=True).start()
        else:
            threading.Thread(target=self.stop, name="deposed", daemon=True).start()
