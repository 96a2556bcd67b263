"""What the store keeps of benchmarks: a run's row, its results and their events written in one
transaction, and the reads the API, the performance board and the benchmark actors start from."""
from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any, Optional

import peewee

from discovery import refresh_commit, refresh_runs, store
from discovery.benchmark.budget import dollars
from discovery.schema import INTERRUPTED, RUNNING, BenchmarkResultRow, BenchmarkRunRow


def commit_benchmarks(report: Any, threshold: float, window: int, now: Optional[float] = None) -> refresh_commit.CommitResult:
    """Write a benchmark run's row, its new results and their outbox events in one transaction.

    ``report`` is a :class:`discovery.benchmark.records.BenchmarkReport`. Each result with samples
    is compared with the trailing median of the ``window`` previous results of the same model (and
    region); a regression past ``threshold`` adds a ``benchmark_regressed`` event. A result without
    samples is stored (its error is history too) and announced, but not compared.
    """
    from discovery.benchmark.summary import Summary, regressions
    from discovery.diff import BENCHMARK_COMPLETED, BENCHMARK_REGRESSED

    now = now or time.time()
    run = report.run
    with store.write_transaction():
        row = {"provider": run.provider, "region": run.region, "trigger": run.trigger, "started_at": run.started_at,
               "finished_at": run.finished_at, "outcome": run.outcome, "planned": run.planned, "probed": run.probed,
               "requests": run.requests, "spend_usd": run.spend_usd,
               "skipped": [{"model_id": m, "reason": r} for m, r in run.skipped], "stopped_reason": run.stopped_reason,
               "error": run.error}
        BenchmarkRunRow.insert(id=run.id, **row).on_conflict(conflict_target=[BenchmarkRunRow.id],
                                                             update=row).execute()
        specs: list[tuple[str, Optional[str], Optional[str], Optional[int], Mapping[str, Any]]] = []
        for result in report.results:
            summary = result.summary
            trailing = [] if summary is None else [
                Summary.from_dict({"ttft_ms": t, "output_tokens_per_s": v})
                for t, v in (BenchmarkResultRow.select(BenchmarkResultRow.ttft_ms, BenchmarkResultRow.output_tokens_per_s)
                             .where((BenchmarkResultRow.model_id == result.model_id)
                                    & (BenchmarkResultRow.region.is_null() if result.region is None
                                       else BenchmarkResultRow.region == result.region)
                                    & (BenchmarkResultRow.samples > 0))
                             .order_by(BenchmarkResultRow.id.desc()).limit(window).tuples())]
            BenchmarkResultRow.insert(
                run_id=run.id, model_id=result.model_id, provider=result.provider, region=result.region,
                kind=result.kind, measured_at=result.measured_at, samples=len(result.samples),
                failures=len(result.failures), ttft_ms=summary.ttft_ms if summary else None,
                output_tokens_per_s=summary.output_tokens_per_s if summary else None,
                latency_ms=summary.latency_ms if summary else None,
                input_tokens=summary.input_tokens if summary else None,
                output_tokens=summary.output_tokens if summary else None,
                tokens_estimated=bool(summary and summary.tokens_estimated), cost_usd=result.cost_usd,
                error=result.error, data=result.detail()).execute()
            common = {"benchmark_run_id": run.id, "region": result.region, "kind": result.kind,
                      "capabilities": list(result.capabilities)}
            specs.append((BENCHMARK_COMPLETED, result.provider, result.model_id, None, {
                **common, "summary": summary.to_dict() if summary else None, "cost_usd": result.cost_usd,
                "failures": [f.error_class for f in result.failures], "error": result.error}))
            moved = regressions(trailing, summary, threshold) if summary is not None else {}
            if moved:
                specs.append((BENCHMARK_REGRESSED, result.provider, result.model_id, None, {
                    **common, "metrics": moved, "threshold": threshold, "window": len(trailing)}))
        events = store.insert_events(specs, now)
    return refresh_commit.CommitResult(events, time.time())


def _hundredths(value: Optional[float]) -> Optional[float]:
    """A p50 or p90 as the API shows it: to 2 decimals, as the leaderboard and ``performance`` are."""
    return None if value is None else round(value, 2)


def benchmark_result_dict(row: BenchmarkResultRow) -> dict[str, Any]:
    """A stored result as the API shows it (p50 values at the top, p90, samples and failures inside)."""
    data = row.data or {}
    p90 = data.get("p90")
    return {"id": row.id, "run_id": row.run_id, "model_id": row.model_id, "provider": row.provider,
            "region": row.region, "kind": row.kind, "measured_at": row.measured_at, "sample_count": row.samples,
            "ttft_ms": _hundredths(row.ttft_ms), "output_tokens_per_s": _hundredths(row.output_tokens_per_s),
            "latency_ms": _hundredths(row.latency_ms), "input_tokens": row.input_tokens,
            "output_tokens": row.output_tokens, "tokens_estimated": row.tokens_estimated, "cost_usd": row.cost_usd,
            "speed_includes_reasoning": any(isinstance(s, Mapping) and bool(s.get("speed_includes_reasoning"))
                                            for s in data.get("samples") or ()),
            "error": row.error, "p90": {k: _hundredths(v) for k, v in p90.items()} if isinstance(p90, Mapping) else p90,
            "settings": data.get("settings"), "invoked_id": data.get("invoked_id"),
            "samples": data.get("samples") or [], "failures": data.get("failures") or []}


def benchmark_history(model_id: str, limit: int = 50, region: Optional[str] = None) -> list[dict[str, Any]]:
    """A model's stored results, newest first."""
    q = (BenchmarkResultRow.select().where(BenchmarkResultRow.model_id == model_id)
         .order_by(BenchmarkResultRow.id.desc()).limit(limit))
    if region:
        q = q.where(BenchmarkResultRow.region == region)
    return [benchmark_result_dict(r) for r in q]


def latest_benchmark_results(where: Optional[peewee.Expression] = None) -> list[dict[str, Any]]:
    """The newest result with samples of every (model, region): what the performance summaries
    start from; with ``failed_at`` and ``last_error`` from the newest result when it kept no sample.
    ``where``: only the results it holds (those measured by a past time)."""
    def newest(condition: Optional[peewee.Expression]) -> peewee.SelectQuery:
        query = BenchmarkResultRow.select(peewee.fn.MAX(BenchmarkResultRow.id))
        if condition is not None:
            query = query.where(condition)
        return query.group_by(BenchmarkResultRow.model_id, BenchmarkResultRow.region)

    measured = BenchmarkResultRow.samples > 0
    rows = [benchmark_result_dict(r) for r in BenchmarkResultRow.select().where(
        BenchmarkResultRow.id.in_(newest(measured if where is None else measured & where)))]
    failures = {(model_id, region): (row_id, at, error) for row_id, model_id, region, at, error in (
        BenchmarkResultRow.select(BenchmarkResultRow.id, BenchmarkResultRow.model_id, BenchmarkResultRow.region,
                                  BenchmarkResultRow.measured_at, BenchmarkResultRow.error)
        .where(BenchmarkResultRow.id.in_(newest(where)) & (BenchmarkResultRow.samples == 0)).tuples())}
    for row in rows:
        failure = failures.get((row["model_id"], row["region"]))
        if failure is not None and failure[0] > row["id"]:
            row["failed_at"], row["last_error"] = failure[1], failure[2]
    return rows


def benchmark_run_dict(row: BenchmarkRunRow) -> dict[str, Any]:
    """A benchmark run as the API shows it."""
    return {"id": row.id, "provider": row.provider, "region": row.region, "trigger": row.trigger,
            "outcome": row.outcome, "started_at": row.started_at, "finished_at": row.finished_at,
            "planned": row.planned, "probed": row.probed, "requests": row.requests,
            "spend_usd": dollars(row.spend_usd or 0.0), "stopped_reason": row.stopped_reason, "error": row.error,
            "skipped": row.skipped or []}


def benchmark_regions() -> list[str]:
    """Every region a benchmark run was made in, sorted (its runs and results stay readable after
    the region is no longer watched)."""
    q = (BenchmarkRunRow.select(BenchmarkRunRow.region).where(BenchmarkRunRow.region.is_null(False))
         .distinct().tuples())
    return sorted(region for (region,) in q)


def list_benchmark_runs(provider: Optional[str] | Sequence[str] = None, limit: int = 50,
                        before: Optional[int] = None, region: Optional[str] = None) -> list[dict[str, Any]]:
    """Benchmark runs, newest first; ``provider``: one name or several."""
    q = BenchmarkRunRow.select().order_by(BenchmarkRunRow.id.desc()).limit(limit)
    if provider:
        q = q.where(BenchmarkRunRow.provider.in_(refresh_runs.provider_names(provider)))
    if region:
        q = q.where(BenchmarkRunRow.region == region)
    if before:
        q = q.where(BenchmarkRunRow.id < before)
    return [benchmark_run_dict(r) for r in q]


BENCHMARK_IDS_RESERVED = "benchmark_run_ids_reserved"


def reserve_benchmark_run_ids(upto: int) -> None:
    """Record that benchmark run ids up to ``upto`` may have been handed out."""
    with store.write_transaction():
        store.set_meta(BENCHMARK_IDS_RESERVED, str(upto))


def benchmark_seed(since: float) -> dict[str, Any]:
    """What benchmark actors start from: the largest run id, the spend per provider since ``since``
    (UTC midnight) and when each (provider, region) last started a run."""
    spend = dict(BenchmarkRunRow.select(BenchmarkRunRow.provider, peewee.fn.SUM(BenchmarkRunRow.spend_usd))
                 .where(BenchmarkRunRow.started_at >= since).group_by(BenchmarkRunRow.provider).tuples())
    last = {(p, r): t for p, r, t in BenchmarkRunRow.select(BenchmarkRunRow.provider, BenchmarkRunRow.region,
                                                            peewee.fn.MAX(BenchmarkRunRow.started_at))
            .group_by(BenchmarkRunRow.provider, BenchmarkRunRow.region).tuples()}
    # Ids go out before their rows are written (a 202 names them), so a start continues after the
    # last block reserved, not after the last stored id (see actors.benchmark.BenchmarkBook).
    stored = BenchmarkRunRow.select(peewee.fn.MAX(BenchmarkRunRow.id)).scalar() or 0
    return {"last_run_id": max(stored, int(store.get_meta(BENCHMARK_IDS_RESERVED) or 0)),
            "spend": {k: float(v or 0.0) for k, v in spend.items()}, "last_started": last}


def interrupt_benchmark_runs(now: Optional[float] = None) -> int:
    """Benchmark runs left ``running`` by a crash become ``interrupted``; return how many."""
    with store.write_transaction():
        return (BenchmarkRunRow.update(outcome=INTERRUPTED, finished_at=now or time.time(),
                                       error="interrupted: the service stopped before this run finished")
                .where(BenchmarkRunRow.outcome == RUNNING).execute())
