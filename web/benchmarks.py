"""/api/v1/benchmarks (the leaderboard and the runs) and a model's benchmarks (/api/v1/models/<id>/benchmarks).

The model routes (``/api/v1/models/<id>/benchmarks``) live in the models blueprint, whose views
call :func:`model_benchmarks` and :func:`start_model_benchmark`. Starting a run needs the admin
token, as every mutating route.
"""
from __future__ import annotations

from dataclasses import asdict
from typing import Any, Optional

from flask import Blueprint, jsonify, request

from actors.benchmark import BenchmarkDisabled, BenchmarkRefused, UnknownBenchmarkRegion
from discovery.bedrock import PROVIDER as BEDROCK
from discovery.benchmark.board import LEADERBOARD_SORTS, leaderboard
from discovery.benchmark.records import BenchmarkRun
from discovery.model import loads
from discovery.query import ModelQuery, QueryError, number
from web.context import flag, int_arg, no_body, service
from web.errors import ApiError
from web.parameters import check_providers, follower_takes_region, values

bp = Blueprint("benchmarks", __name__, url_prefix="/api/v1/benchmarks")
LEADERBOARD_ARGS = ("sort", "limit", "offset", "region")


def run_dict(run: BenchmarkRun) -> dict[str, Any]:
    """A finished run as the API shows it (as ``GET /api/v1/benchmarks/runs`` does)."""
    out = asdict(run)
    out["skipped"] = [{"model_id": m, "reason": r} for m, r in run.skipped]
    return out


def _region(svc: Any) -> Optional[str]:
    """The ``region`` parameter: a Bedrock region watched, measured, or benchmarked before; else a 400
    naming them. A follower has no region board (and the leader may watch regions it discovered):
    there, any well-formed region name is taken."""
    region = request.args.get("region") or None
    if region is None:
        return None
    board = getattr(svc, "bedrock_board", None)
    if follower_takes_region(svc, region):
        return region
    watched = set(board.snapshot()) if board is not None else set()
    known = watched | {m.region for m in svc.view.performance.measurements() if m.region is not None}
    if region not in known:
        known |= set(svc.benchmark_regions())  # runs (and results) of a region no longer watched
    if region not in known:
        raise ApiError(400, "invalid_parameter", f"unknown region {region!r}; "
                       + (f"known: {', '.join(sorted(known))}" if known else "no Bedrock region is watched"))
    return region


def _providers(svc: Any) -> list[str]:
    """The ``provider`` values, known ones (a 400 names them); a Bedrock region's source is refused."""
    providers = values("provider")
    sources = [p for p in providers if p.startswith(f"{BEDROCK}@")]
    if sources:
        region = sources[0].split("@", 1)[1]
        raise ApiError(400, "invalid_parameter", f"provider {sources[0]} is a Bedrock region's source; benchmarks "
                                                 f"name the provider and the region apart: provider=bedrock&region={region}")
    check_providers(svc, providers)
    return providers


def _wait_timeout() -> float:
    value = request.args.get("timeout", "120")
    try:
        seconds = number(value, float)
    except ValueError:
        raise ApiError(400, "invalid_parameter", f"timeout must be a number of seconds, got {value!r}") from None
    if not 0.1 <= seconds <= 600:
        raise ApiError(400, "invalid_parameter", "timeout must be at least 0.1 and at most 600 seconds")
    return seconds


@bp.get("")
def board():
    """The leaderboard: every measured (model, region), filtered as ``GET /api/v1/models`` filters
    (``max_ttft_ms`` holds for each row).

    ``sort``: ttft (default), ttft_p90, output_speed, latency, latency_p90, cost, measured_at, model;
    prefix ``-`` for descending (``-output_speed``: fastest first); ``region``; ``limit``, ``offset``.
    :raise 400: an unknown parameter, sort or filter value, an unknown region, or a provider given as
        ``bedrock@<region>`` (benchmarks take ``provider=bedrock&region=<region>``).
    """
    svc = service()
    args = {k: v for k, v in request.args.to_dict(flat=False).items() if k not in LEADERBOARD_ARGS}
    _providers(svc)
    region = _region(svc)
    try:
        query = ModelQuery.from_args(args)
    except QueryError as exc:
        raise ApiError(400, "invalid_query", str(exc)) from None
    sort = request.args.get("sort") or "ttft"
    if (sort[1:] if sort.startswith("-") else sort) not in LEADERBOARD_SORTS:  # one '-' for descending
        raise ApiError(400, "invalid_query", f"unknown sort {sort!r}; valid: {', '.join(LEADERBOARD_SORTS)} "
                                             "(prefix '-' for descending)")
    limit, offset = int_arg("limit", 100, 1, 1000), int_arg("offset", 0, 0, 10**9)
    index, performance = svc.index, svc.view.performance
    bits = query.bits(index, performance) & index.bits_for(performance.ids())
    entries = {e.id: e for e in index.pick(bits)}
    rows, total = leaderboard(performance, set(entries), sort, region, offset, limit, query.max_ttft_ms)
    data = [{"rank": offset + i, "model_id": m.model_id, "provider": m.provider, "name": entries[m.model_id].name,
             "kind": m.kind, **m.to_dict()} for i, m in enumerate(rows, 1)]
    return jsonify({"data": data, "total": total, "limit": limit, "offset": offset, "sort": sort})


@bp.get("/runs")
def runs():
    """Benchmark runs with their spend, newest first; ``provider``, ``region``, ``limit``, ``before`` (a run id).

    ``today`` is every provider's spend since UTC midnight and the daily budget.
    :raise 400: an unknown provider or region, or a provider given as ``bedrock@<region>``.
    """
    svc = service()
    providers = _providers(svc)
    region = _region(svc)
    limit = int_arg("limit", 50, 1, 1000)
    before = int_arg("before", 0, 1, 2**62) or None  # before=0: no run is older; a 400, not the newest
    data = svc.benchmark_runs(providers or None, limit, before, region)
    return jsonify({"data": data, "today": svc.benchmark_spend_today()})


def model_benchmarks(model_id: str):
    """A model's benchmark history (newest first) and its current ``performance`` summary.

    ``limit`` (default 50), ``region`` (Bedrock). Fields of each result: ``ttft_ms``,
    ``output_tokens_per_s``, ``latency_ms`` (p50s), ``p90``, ``input_tokens``, ``output_tokens``,
    ``tokens_estimated``, ``cost_usd``, ``region``, ``measured_at``, ``error``, ``samples``, ``failures``.
    :raise 400: an unknown region. :raise 404: the model is not in the catalog and was never benchmarked.
    """
    svc = service()
    history = svc.benchmark_history(model_id, int_arg("limit", 50, 1, 1000), _region(svc))
    perf = svc.view.performance.get(model_id)
    if not history and svc.index.entry(model_id) is None:
        raise ApiError(404, "model_not_found", f"no model {model_id!r} in the catalog")
    return jsonify({"model_id": model_id, "performance": loads(perf.json) if perf else None, "history": history})


def start_model_benchmark(model_id: str):
    """Benchmark the model now (admin token). 202 with the run ids; ``?wait=true`` → 200 with the
    runs and their results (``&timeout=`` seconds, default 120). ``region`` limits a Bedrock model to one.

    :raise 401: no or wrong admin token. :raise 404: no such model.
    :raise 409: benchmarking is off for its provider, its globs leave the model out, or it can never be
        probed (catalog-only, no price...); no run is made.
    :raise 504: with wait, a run did not end in time.
    """
    # The admin token was checked before this view ran (web/auth.py: every mutation needs it).
    # Parameters are checked before anything starts.
    no_body("?wait=true&timeout=SECONDS&region=REGION")
    wait = flag("wait")
    timeout = _wait_timeout()
    svc = service()
    try:
        tickets = svc.run_benchmark(model_id, request.args.get("region") or None)
    except KeyError:
        raise ApiError(404, "model_not_found", f"no model {model_id!r} in the catalog") from None
    except UnknownBenchmarkRegion as exc:
        raise ApiError(400, "invalid_parameter", str(exc)) from None
    except BenchmarkDisabled as exc:
        raise ApiError(409, "benchmarks_disabled", str(exc)) from None
    except BenchmarkRefused as exc:
        raise ApiError(409, "benchmark_refused", str(exc)) from None
    if not wait:
        return jsonify({"runs": [{"run_id": t.run_id, "provider": t.provider, "region": t.region,
                                  "outcome": "running"} for t in tickets]}), 202
    try:
        finished = svc.wait_benchmarks(tickets, timeout)
    except TimeoutError as exc:
        raise ApiError(504, "benchmark_timeout", str(exc), runs=[t.run_id for t in tickets]) from None
    ids = {run.id for run in finished}
    results = [r for r in svc.benchmark_history(model_id, 50) if r["run_id"] in ids]
    return jsonify({"runs": [run_dict(run) for run in finished], "results": results}), 200
