"""BenchmarkActor: one per benchmarked provider and per benchmarked Bedrock region.

Each has its own timer, its own I/O thread and its own HTTP session (or boto3 client), so a
benchmark never holds up a discovery refresh: the provider actor's I/O thread is not used, and
the provider's breaker is only read here (:class:`actors.provider.ProbeGate`). Results go to the
catalog writer by tell with a future, one model at a time, so they show as soon as each is
measured. Also the wiring (:func:`benchmark_children`) and the service's benchmark questions
(:class:`BenchmarkQueries`, mixed into :class:`actors.service.Service`).
"""
from __future__ import annotations

import concurrent.futures
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, Optional

import pykka
import requests
from loguru import logger

from actors.calls import Calls
from actors.io import IOWorker
from actors.scheduling import Timer, jittered, schedule
from actors.stopped import while_running
from actors.view import RUN_ID_BLOCK
from discovery.bedrock import PROVIDER as BEDROCK
from discovery.bedrock import source_name
from discovery.benchmark import records
from discovery.benchmark.budget import RunBudget, SpendLedger, dollars
from discovery.benchmark.plan import matches, plan_run, refusal
from discovery.benchmark.records import BenchmarkReport, BenchmarkRun
from discovery.benchmark.runner import SERVICE_STOPPED, benchmark_model
from discovery.model import Model
from discovery.redaction import scrub
from discovery.settings import BenchmarkPolicy, ProviderConfig, Settings

# How long a run waits for the writer to commit one hand-over.
COMMIT_WAIT = 600.0
# The longest a run's start waits for its row to be written before its id is handed out anyway,
# and for its block of run ids (BenchmarkBook) when the next one was not reserved in time.
ROW_WAIT = 1.0
# A timer run due before the provider's first refresh answered waits this long and looks again.
NOT_DISCOVERED_RETRY = 1.0


class BenchmarkDisabled(LookupError):
    """No benchmark actor can measure this model (benchmarking off for its provider or region)."""


class UnknownBenchmarkRegion(ValueError):
    """A benchmark asked for a region this service does not watch (a 400 naming the ones it does)."""


class BenchmarkRefused(ValueError):
    """The model may not be benchmarked (not matched by the provider's globs, or never probed: catalog-only...)."""


@dataclass
class BenchmarkTicket:
    """A run started or queued: its id and a future resolving to its final :class:`BenchmarkRun`."""

    run_id: int
    provider: str
    region: Optional[str]
    trigger: str
    model_ids: Optional[tuple[str, ...]] = None
    future: concurrent.futures.Future = field(default_factory=concurrent.futures.Future)


class BenchmarkBook:
    """Shared by every benchmark actor: run ids and today's spend, seeded from the store at start.

    Run ids are reserved in the store in blocks of RUN_ID_BLOCK, and a start continues after the
    last block: an id is handed out before its run's row is written, and a process killed in
    between must not leave it to be handed out again for another run. ``reserve(upto, timeout)``
    writes the bound (through the catalog writer). The first block and each next one (once half of
    one is used) are reserved on a thread of their own, so a start does not wait for them; only a
    start past the reserved bound (right after the service's start, or after the writer failed for
    half a block) waits, ROW_WAIT at most, and is refused with ``pykka.Timeout`` (a 503) if the
    bound still did not move: no id past it is handed out.
    """

    def __init__(self, seed: dict[str, Any], reserve: Optional[Callable[[int, float], Any]] = None):
        self._last = int(seed.get("last_run_id") or 0)
        self._lock = threading.Lock()
        self.ledger = SpendLedger(seed.get("spend") or {})
        self.last_started: dict[tuple[str, Optional[str]], float] = dict(seed.get("last_started") or {})
        self._reserve = reserve
        self.reserved = self._last if reserve is not None else None
        self._reserving = False
        if reserve is not None:
            # Not waited for: the writer may still be loading the sources' last answers, and the
            # service's start (its providers' first refreshes) must not wait behind that.
            self._reserve_later(self._last + RUN_ID_BLOCK)

    def _reserve_up_to(self, upto: int, timeout: float) -> bool:
        """Reserve ids up to ``upto`` (blocking); whether the store took it."""
        assert self._reserve is not None
        try:
            self._reserve(upto, timeout)
        except Exception as exc:  # a busy or failed writer: the bound stays where it was
            logger.warning("could not reserve benchmark run ids up to {}: {}: {}", upto, type(exc).__name__, exc)
            return False
        with self._lock:
            self.reserved = max(self.reserved or 0, upto)
        return True

    def _reserve_later(self, upto: int) -> None:
        def run() -> None:
            try:
                self._reserve_up_to(upto, COMMIT_WAIT)
            finally:
                self._reserving = False

        self._reserving = True
        threading.Thread(target=run, name="benchmark-run-ids", daemon=True).start()

    def next_run_id(self) -> int:
        while True:
            with self._lock:
                if self.reserved is None or self._last < self.reserved:
                    self._last += 1
                    run_id, reserved = self._last, self.reserved
                    break
                needed = self._last + 1 + RUN_ID_BLOCK
            if not self._reserve_up_to(needed, ROW_WAIT):
                raise pykka.Timeout(f"benchmark run ids could not be reserved in the store within {ROW_WAIT:g}s")
        if reserved is not None and run_id > reserved - RUN_ID_BLOCK // 2 and not self._reserving:
            self._reserve_later(run_id + RUN_ID_BLOCK)
        return run_id


def utc_midnight() -> float:
    """Unix time of today's UTC midnight (the daily budgets' start)."""
    now = datetime.now(timezone.utc)
    return now.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


class BenchmarkActor(pykka.ThreadingActor):
    """Benchmarks one source (a provider, or Bedrock in one region) on a timer and on request."""

    def __init__(self, policy: BenchmarkPolicy, settings: Settings, catalog: Any, view: Any, book: BenchmarkBook,
                 supervisor: Any, source: str, provider: Optional[ProviderConfig] = None,
                 region: Optional[str] = None):
        super().__init__()
        self.policy = policy
        self.settings = settings
        self.catalog = catalog
        self.view = view
        self.book = book
        self.supervisor = supervisor
        self.source = source  # the supervised actor whose breaker guards us: a provider or bedrock@<region>
        self.provider_config = provider
        self.region = region
        self.provider = BEDROCK if region is not None else source
        self.running: Optional[BenchmarkTicket] = None
        self.queued: list[BenchmarkTicket] = []
        self.last_run: Optional[BenchmarkRun] = None
        self.next_run_at: Optional[float] = None
        self._timer: Optional[Timer] = None
        self._io: Optional[IOWorker] = None
        self._session: Optional[requests.Session] = None
        self._probe: Any = None  # made on the I/O thread at the first run
        self._stopping = threading.Event()  # set when the actor stops: ends a wait for a provider's 429
        # Runs already said to be cut short by the service stopping: said once, by whichever
        # thread comes first (the actor's stop, before the service's last log lines, as a rule).
        self._told_stopped: set[int] = set()
        self._told_lock = threading.Lock()

    # -- life cycle ------------------------------------------------------------------------------
    def on_start(self) -> None:
        self._proxy = Calls(self.actor_ref)
        self._io = IOWorker(f"io-bench-{self.source}")
        self._session = requests.Session()
        bench = self.settings.benchmarks
        last = self.book.last_started.get((self.provider, self.region))
        due = bench.start_delay if last is None else max(bench.start_delay, last + self.policy.interval - time.time())
        self._schedule(jittered(due, bench.jitter) if due > bench.start_delay else due)

    def on_stop(self) -> None:
        self._cleanup("the service stopped")

    def on_failure(self, exception_type, exception_value, traceback) -> None:
        logger.error("benchmark actor {} died: {}: {}", self.source, exception_type.__name__, exception_value)
        self._cleanup(f"the benchmark actor died: {exception_value}")
        if self.supervisor is not None:
            try:
                self.supervisor.child_failed(child_name(self.source), f"{exception_type.__name__}: {exception_value}")
            except pykka.ActorDeadError:
                pass

    def _cleanup(self, why: str) -> None:
        self._stopping.set()  # a run waiting out a provider's 429 ends now
        if self._timer is not None:
            self._timer.cancel()
        if self.running is not None and why == "the service stopped":
            self._tell_stopped(self.running.run_id, "benchmark run {} of {} stopped with the service; its row is "
                                                     "marked interrupted at the next start")
        if self._io is not None:
            self._io.shutdown()  # a request in flight ends on its own timeout; its run is marked at the next start
        for ticket in [t for t in (self.running, *self.queued) if t is not None]:
            if not ticket.future.done():
                ticket.future.set_exception(RuntimeError(f"benchmark run {ticket.run_id} abandoned: {why}"))
        if self._session is not None:
            self._session.close()

    def on_receive(self, message: Any) -> Any:
        raise TypeError(f"benchmark {self.source}: unexpected message {message!r}")

    # -- timer -----------------------------------------------------------------------------------
    def _schedule(self, delay: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self.next_run_at = time.time() + delay
        self._timer = schedule(delay, self._proxy.tick, name=f"timer-bench-{self.source}")

    def tick(self) -> None:
        """The timer fired: run unless one is running or the provider has not been discovered yet."""
        try:
            if not self._discovered():
                self._schedule(NOT_DISCOVERED_RETRY)
                return
            if self.running is None and not self.queued:
                self.run(trigger="timer")
        except Exception:  # reached by tell: an escaped error would kill the actor
            logger.exception("benchmark {}: timer run failed to start", self.source)
        self._schedule(jittered(self.policy.interval, self.settings.benchmarks.jitter))

    def _discovered(self) -> bool:
        """Whether the source has answered, and every catalog has been asked once (prices come from them)."""
        rows = self.view.provider_rows
        if rows.get(self.source, {}).get("last_success_at") is None:
            return False
        return all(row.get("last_refresh_at") is not None for row in rows.values() if row.get("is_catalog"))

    # -- runs ------------------------------------------------------------------------------------
    def run(self, model_ids: Optional[Iterable[str]] = None, trigger: str = "manual") -> BenchmarkTicket:
        """Start a run now (or after the one running); ``model_ids`` limits it to those models."""
        ticket = BenchmarkTicket(self.book.next_run_id(), self.provider, self.region, trigger,
                                 tuple(model_ids) if model_ids is not None else None)
        self.book.last_started[(self.provider, self.region)] = time.time()
        # The run's row is written now, running, queued or not: a process killed after the 202
        # leaves it to be marked interrupted at the next start. A writer busy for longer than
        # ROW_WAIT does not hold the 202 (the caller would time out): the row follows, and the id,
        # reserved, is not handed out again either way.
        future: concurrent.futures.Future = concurrent.futures.Future()
        self.catalog.submit_benchmark.defer(
            BenchmarkReport(BenchmarkRun(ticket.run_id, self.provider, self.region, trigger, time.time())), future)
        try:
            future.result(timeout=min(ROW_WAIT, self.settings.ask_timeout / 2))
        except concurrent.futures.TimeoutError:
            logger.info("benchmark run {} of {}: the writer is busy; its row follows", ticket.run_id, self.source)
        except Exception as exc:  # the writer failed the write: the run's row is written again as it starts
            logger.warning("benchmark run {} of {}: its row could not be written: {}: {}", ticket.run_id,
                           self.source, type(exc).__name__, exc)
        if self.running is None:
            self.running = ticket
        else:
            self.queued.append(ticket)
        assert self._io is not None
        self._io.submit(self._run, ticket)
        return ticket

    def run_finished(self, ticket: BenchmarkTicket, run: BenchmarkRun) -> None:
        """Back on the actor thread: the next queued run becomes the running one."""
        self.last_run = run
        if self.running is ticket:
            self.running = self.queued.pop(0) if self.queued else None
        elif ticket in self.queued:
            self.queued.remove(ticket)

    def status(self) -> dict[str, Any]:
        """What this actor is doing, for the runs endpoint."""
        return {"source": self.source, "provider": self.provider, "region": self.region,
                "running": self.running.run_id if self.running else None, "queued": [t.run_id for t in self.queued],
                "next_run_at": self.next_run_at, "models": list(self.policy.models)}

    # -- on the I/O thread -----------------------------------------------------------------------
    def _make_probe(self) -> Any:
        if self._probe is None:
            if self.region is not None:
                from discovery.bedrock import endpoint_for, make_client
                from discovery.benchmark.formats import BedrockProbe

                # The benchmark timeout, not the control plane's: a probe waits for a model's answer.
                bedrock = replace(self.settings.bedrock, timeout=self.policy.timeout)
                client = make_client("bedrock-runtime", self.region, bedrock,
                                     endpoint_for(bedrock.runtime_endpoint_url, self.region))
                self._probe = BedrockProbe(client, self.region, self.policy.timeout)
            else:
                from discovery.benchmark.formats import probe_for

                assert self.provider_config is not None and self._session is not None
                self._probe = probe_for(self.provider_config, self._session, self.policy.timeout)
                if self._probe is None:
                    raise RuntimeError(f"format {self.provider_config.format} has no benchmark probe")
        return self._probe

    def _gate(self) -> Any:
        """The guarding actor's gate (asked anew each run: the actor may have been restarted)."""
        timeout = self.settings.ask_timeout
        ref = self.supervisor.ref(self.source).get(timeout=timeout)
        if ref is None:
            raise RuntimeError(f"{self.source} is not running (restarting or failed): its breaker cannot be asked")
        return Calls(ref).probe_gate().get(timeout=timeout)

    def _candidates(self, only: Optional[tuple[str, ...]]) -> list[Model]:
        wanted = set(only) if only is not None else None
        entries = self.view.index.of_provider(self.provider)
        return [e.model() for e in entries
                if (wanted is None and matches(self.policy, e.id, e.provider_model_id))
                or (wanted is not None and e.id in wanted)]

    def _submit(self, report: BenchmarkReport) -> None:
        future: concurrent.futures.Future = concurrent.futures.Future()
        self.catalog.submit_benchmark.defer(report, future)
        future.result(timeout=COMMIT_WAIT)

    def _run(self, ticket: BenchmarkTicket) -> None:
        run = BenchmarkRun(ticket.run_id, self.provider, self.region, ticket.trigger, time.time())
        try:
            run = self._measure(ticket, run)
        except pykka.ActorDeadError:
            # The service is stopping (the writer is gone): the run row stays 'running' and the
            # next start marks it interrupted. Nothing went wrong with the run itself.
            self._tell_stopped(ticket.run_id, "benchmark run {} of {} stopped with the service; its row is "
                                              "marked interrupted at the next start")
            self._abandon(ticket, run)
            return
        except Exception as exc:
            logger.opt(exception=exc).warning("benchmark run {} of {} failed", ticket.run_id, self.source)
            run = replace(run, outcome=records.FAILED, finished_at=time.time(),
                          error=scrub(f"{type(exc).__name__}: {exc}"))
        try:
            self._submit(run_final(run))
        except pykka.ActorDeadError:
            self._tell_stopped(run.id, "benchmark run {} of {} ended as the service stopped; its row is marked "
                                       "interrupted at the next start")
        except Exception:
            logger.exception("benchmark run {} of {}: the final row could not be written", run.id, self.source)
        if not ticket.future.done():
            ticket.future.set_result(run)
        try:
            self._proxy.run_finished(ticket, run)
        except pykka.ActorDeadError:
            pass

    def _tell_stopped(self, run_id: int, text: str) -> None:
        """Log, once per run, that the service's stop cut it short (``text`` takes the run id and
        the source)."""
        with self._told_lock:
            if run_id in self._told_stopped:
                return
            self._told_stopped.add(run_id)
        logger.info(text, run_id, self.source)

    def _abandon(self, ticket: BenchmarkTicket, run: BenchmarkRun) -> None:
        if not ticket.future.done():
            ticket.future.set_result(replace(run, outcome=records.FAILED, finished_at=time.time(),
                                             error="the service stopped during the run"))
        try:
            self._proxy.run_finished(ticket, run)
        except pykka.ActorDeadError:
            pass

    def _measure(self, ticket: BenchmarkTicket, run: BenchmarkRun) -> BenchmarkRun:
        from discovery.benchmark.formats import invocation_id

        probe = self._make_probe()
        region = self.region
        plan = plan_run(self._candidates(ticket.model_ids), self.policy, region=region,
                        only=ticket.model_ids, embeds=getattr(probe, "embeds", True),
                        invoke_as=(lambda m: invocation_id(m, region)) if region is not None else None)
        run = replace(run, planned=len(plan.models), skipped=plan.skipped)
        self._submit(BenchmarkReport(run))
        if not plan.models:
            return replace(run, outcome=records.SUCCEEDED, finished_at=time.time())
        gate = self._gate()
        bench = self.settings.benchmarks
        budget = RunBudget(self.book.ledger, self.provider, self.policy.budget_per_run_usd,
                           self.policy.budget_per_day_usd, bench.budget_per_day_usd)
        stopped = None
        errors: list[str] = []  # of the results without a sample
        for model_plan in plan.models:
            before = run

            def sending(requests: int, before: BenchmarkRun = before) -> None:
                # The run's spend, its reservations included, stored before each request: a stop
                # in the middle of a model lost what its requests had cost, and the next start's
                # ledger (seeded from the runs) let the day's budget be passed.
                self._submit(BenchmarkReport(replace(before, requests=before.requests + requests,
                                                     spend_usd=dollars(budget.spent))))

            outcome = benchmark_model(probe, model_plan, self.policy, run.id, gate, budget, self._stopping, sending)
            run = replace(run, probed=run.probed + (outcome.result is not None), requests=run.requests + outcome.requests,
                          spend_usd=dollars(budget.spent))
            if outcome.result is not None:
                self._submit(BenchmarkReport(run, (outcome.result,)))
                if outcome.result.error is not None:
                    errors.append(f"{model_plan.model.id}: {outcome.result.error}")
            if outcome.stopped == SERVICE_STOPPED:
                # Its row stays 'running' and the next start marks it interrupted, as for any run
                # the stop cuts short (it was recorded 'stopped', a budget's or the breaker's word).
                raise pykka.ActorDeadError("the service is stopping")
            if outcome.stopped is not None:
                stopped = outcome.stopped
                break
        if stopped is not None:
            logger.info("benchmark run {} of {} stopped: {}", run.id, self.source, stopped)
            return replace(run, outcome=records.STOPPED, stopped_reason=stopped, finished_at=time.time())
        if len(errors) == len(plan.models):
            logger.warning("benchmark run {} of {} failed: no model got a sample", run.id, self.source)
            return replace(run, outcome=records.FAILED, finished_at=time.time(),
                           error=f"no model got a sample ({len(errors)} planned): {'; '.join(errors[:3])}"
                                 + (" ..." if len(errors) > 3 else ""))
        return replace(run, outcome=records.SUCCEEDED, finished_at=time.time())


def run_final(run: BenchmarkRun) -> BenchmarkReport:
    """The last hand-over of a run: its row as it ended."""
    return BenchmarkReport(run if run.finished_at is not None else replace(run, finished_at=time.time()))


def child_name(source: str) -> str:
    """The supervised name of a source's benchmark actor."""
    return f"benchmark:{source}"


def benchmark_targets(settings: Settings, warn: bool = False,
                      ) -> list[tuple[str, BenchmarkPolicy, Optional[ProviderConfig], Optional[str]]]:
    """(source, policy, provider settings, region) of every provider and Bedrock region the
    settings benchmark; ``warn``: log each enabled provider whose format has no probe."""
    bench = settings.benchmarks
    targets: list[tuple[str, BenchmarkPolicy, Optional[ProviderConfig], Optional[str]]] = []
    for cfg in settings.providers:
        policy = bench.policy(cfg.name)
        if cfg.enabled and policy.enabled:
            from discovery.benchmark.formats import PROBES

            if cfg.format in PROBES:
                targets.append((cfg.name, policy, cfg, None))
            elif warn:
                logger.warning("benchmarks: provider {} (format {}) has no benchmark probe", cfg.name, cfg.format)
    bedrock = bench.policy(BEDROCK)
    if settings.bedrock.enabled and bedrock.enabled:
        for region in settings.bedrock.regions:
            if not bedrock.regions or region in bedrock.regions:
                targets.append((source_name(region), bedrock, None, region))
    return targets


def benchmark_children(service: Any, settings: Settings) -> list[tuple[str, Callable[[Any], pykka.ActorRef]]]:
    """A (name, factory) per benchmarked provider and Bedrock region; none unless one is enabled.

    Seeds the shared :class:`BenchmarkBook` (run ids, today's spend) from the store first.
    """
    targets = benchmark_targets(settings, warn=True)
    if not targets:
        return []
    wait = max(30.0, settings.ask_timeout)
    service.benchmark_book = BenchmarkBook(service.reader.benchmark_seed(utc_midnight()).get(timeout=wait),
                                           lambda upto, timeout: service.catalog.reserve_benchmark_run_ids(upto).get(
                                               timeout=timeout))
    out = []
    for source, policy, cfg, region in targets:
        def factory(sup: Any, source=source, policy=policy, cfg=cfg, region=region) -> pykka.ActorRef:
            return BenchmarkActor.start(policy, settings, service.catalog, service.view, service.benchmark_book,
                                        sup, source, cfg, region)

        out.append((child_name(source), factory))
    service.benchmark_sources = tuple(source for source, *_ in targets)
    return out


class BenchmarkQueries:
    """The service's benchmark questions; mixed into Service, which provides index, view, reader and supervisor."""

    benchmark_book: Optional[BenchmarkBook] = None
    benchmark_sources: tuple[str, ...] = ()

    @while_running
    def run_benchmark(self, model_id: str, region: Optional[str] = None) -> list[BenchmarkTicket]:
        """Benchmark one model now (in each benchmarked region it is available in, for Bedrock).

        Raises KeyError for a model not in the catalog, :class:`BenchmarkDisabled` when no
        benchmark actor covers it, :class:`BenchmarkRefused` when the provider's globs leave it out
        or it can never be probed (catalog-only, unpriced...): then no run is made.
        """
        entry = self.view.index.entry(model_id)  # type: ignore[attr-defined]
        if entry is None:
            raise KeyError(model_id)
        board = getattr(self, "bedrock_board", None)
        watched = set(board.snapshot()) if board is not None else set()
        if region is not None and region not in watched:
            raise UnknownBenchmarkRegion(f"unknown region {region!r}; " + (
                f"watched: {', '.join(sorted(watched))}" if watched else "no Bedrock region is watched"))
        model = entry.model()
        if region is not None and model.provider != BEDROCK:
            raise BenchmarkRefused(f"{model.id} is not a Bedrock model: region applies to Bedrock models only")
        if region is not None and region not in (model.regions or ()):
            raise BenchmarkRefused(f"{model.id} is not offered in {region} (its regions: "
                                   f"{', '.join(model.regions or ()) or 'none known'})")
        if model.provider == BEDROCK:
            regions = [r for r in (model.regions or ()) if region in (None, r)]
            sources = [source_name(r) for r in regions if source_name(r) in self.benchmark_sources]
        else:
            sources = [model.provider] if model.provider in self.benchmark_sources and region is None else []
        if not sources:
            where = f" in {region}" if region else ""
            bench = self.settings.benchmarks  # type: ignore[attr-defined]
            policy = bench.policy(model.provider)
            # The fix that applies, not always "enabled = true" (it was said where that was set).
            if not bench.enabled:
                fix = "[benchmarks] enabled is false (or DISCOVERY_BENCHMARKS_ENABLED): benchmarks are off for every provider"
            elif policy.enabled and policy.regions and (region or "") not in policy.regions:
                fix = (f"[benchmarks.providers.{model.provider}] regions ({', '.join(policy.regions)}) "
                       f"leave {region or 'its regions'} out")
            elif policy.enabled:
                fix = f"its benchmark actors are not running{where}"
            else:
                fix = f"set [benchmarks.providers.{model.provider}] enabled = true"
            raise BenchmarkDisabled(f"benchmarking is not enabled for {model.provider}{where}: {fix}")
        policy = self.settings.benchmarks.policy(model.provider)  # type: ignore[attr-defined]
        if not matches(policy, model.id, model.provider_model_id):
            raise BenchmarkRefused(f"{model.id} is not matched by benchmarks.providers.{model.provider}.models "
                                   f"({', '.join(policy.models)})")
        from discovery.benchmark.formats import PROBES

        config = next((c for c in self.settings.providers if c.name == model.provider), None)  # type: ignore[attr-defined]
        reason = refusal(model, policy, getattr(PROBES.get(config.format) if config else None, "embeds", True))
        if reason is not None:
            raise BenchmarkRefused(f"{model.id} is not benchmarked: {reason}")
        timeout = self.settings.ask_timeout  # type: ignore[attr-defined]
        refs = self.supervisor.refs([child_name(s) for s in sources]).get(timeout=timeout)  # type: ignore[attr-defined]
        started = [self.calls_of(ref).run([model.id], "manual")  # type: ignore[attr-defined]
                   for ref in refs.values() if ref is not None]
        if not started:
            raise BenchmarkDisabled(f"the benchmark actors of {model.provider} are not running (restarting or failed)")
        return list(pykka.get_all(started, timeout=timeout))

    @staticmethod
    def wait_benchmarks(tickets: Iterable[BenchmarkTicket], timeout: float) -> list[BenchmarkRun]:
        """The runs of these tickets once they ended; TimeoutError if one has not in time."""
        tickets = list(tickets)
        done, not_done = concurrent.futures.wait([t.future for t in tickets], timeout=timeout)
        if not_done:
            raise TimeoutError(f"{len(not_done)} benchmark runs still running after {timeout:g}s")
        return [t.future.result() for t in tickets]

    def benchmark_history(self, model_id: str, limit: int = 50, region: Optional[str] = None) -> list[dict]:
        """A model's stored results, newest first."""
        return self.reader.benchmark_history(model_id, limit, region).get(  # type: ignore[attr-defined]
            timeout=self.settings.ask_timeout)  # type: ignore[attr-defined]

    def benchmark_runs(self, provider: Optional[str] = None, limit: int = 50, before: Optional[int] = None,
                       region: Optional[str] = None) -> list[dict]:
        """Benchmark runs with their spend, newest first."""
        return self.reader.benchmark_runs(provider, limit, before, region).get(  # type: ignore[attr-defined]
            timeout=self.settings.ask_timeout)  # type: ignore[attr-defined]

    @while_running
    def benchmark_regions(self) -> list[str]:
        """Every region a benchmark run was made in (stored runs), sorted."""
        return self.reader.benchmark_regions().get(timeout=self.settings.ask_timeout)  # type: ignore[attr-defined]

    def benchmark_spend_today(self) -> dict[str, float]:
        """Today's (UTC) benchmark spend: every provider's together and the daily budget."""
        book = self.benchmark_book
        if book is not None:
            spent = book.ledger.spent()
        else:
            # Benchmarks off (or no provider benchmarked): what the store's runs spent today all the
            # same; it read 0 though earlier runs had spent that day.
            seed = self.reader.benchmark_seed(utc_midnight()).get(  # type: ignore[attr-defined]
                timeout=self.settings.ask_timeout)  # type: ignore[attr-defined]
            spent = sum(seed["spend"].values())
        return {"spent_usd": dollars(spent),
                "budget_per_day_usd": self.settings.benchmarks.budget_per_day_usd}  # type: ignore[attr-defined]
