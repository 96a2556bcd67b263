"""The ``discovery benchmarks`` verbs: the leaderboard, the runs, one model's results, and a run
started now. Tables by rich; ``--json`` prints what the API answered."""
from __future__ import annotations

from typing import Any, Optional

import click

from discovery.benchmark.budget import amount
from web.client import ClientError, model_path
from web.commands import catalog_filters, client_of, console, model_params, number, paging, print_json, when, with_options


# -- benchmarks -----------------------------------------------------------------------------------
@click.group()
def benchmarks() -> None:
    """Measured performance: the leaderboard, the runs, one model's results; run one now."""


SPEED_NOTE = "≈ output speed from tokens estimated from the text, or with reasoning tokens counted in"
FAILING_NOTE = ("! the newest run there kept no sample (its error: --json, last_error); ranked after "
                "those whose newest run measured")


def _ms(value: Any) -> str:
    return "" if value is None else f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def _usd(value: Any) -> str:
    return "" if value is None else amount(value)


def _measured_columns(table: Any) -> None:
    for name in ("TTFT MS", "TTFT P90", "OUT TOK/S", "LATENCY MS", "COST $", "SAMPLES", "MEASURED"):
        table.add_column(name, justify="left" if name == "MEASURED" else "right", no_wrap=True)


def _measured_cells(m: dict[str, Any]) -> tuple[str, ...]:
    """A leaderboard row's (or a performance summary's) numbers, in _measured_columns' order; a
    speed from estimated tokens or with reasoning counted in is marked ≈ (see SPEED_NOTE), a
    measurement whose newest run failed since with ! (FAILING_NOTE)."""
    speed = m.get("output_tokens_per_s")
    flagged = m.get("tokens_estimated") or m.get("speed_includes_reasoning")
    return (_ms(m.get("ttft_ms")), _ms(m.get("ttft_p90_ms")),
            "" if speed is None else f"{speed:,.1f}" + (" ≈" if flagged else ""),
            _ms(m.get("latency_ms")), _usd(m.get("cost_usd")), number(m.get("samples")),
            when(m.get("measured_at")) + (" !" if m.get("failed_at") else ""))


def _board_filters(func):
    """The catalog filters the leaderboard takes, its region, order and paging, as options."""
    return catalog_filters(with_options(func, [
        click.option("--region", help="one Bedrock region's measurements"),
        *paging("ttft (default), ttft_p90, output_speed, latency, latency_p90, cost, measured_at, model "
                "('-' for descending)")]))


@benchmarks.command("board")
@_board_filters
@click.option("--json", "as_json", is_flag=True, help="print the API's JSON answer")
@click.pass_context
def benchmarks_board(ctx: click.Context, as_json: bool, **opts: Any) -> None:
    """The leaderboard: every measured model (and Bedrock region), best first, filtered as models are."""
    from rich.table import Table

    page = client_of(ctx).get("/api/v1/benchmarks", model_params(opts))
    if as_json:
        print_json(page)
        return
    table = Table(box=None, pad_edge=False, header_style="bold")
    table.add_column("#", justify="right")
    table.add_column("MODEL", no_wrap=True)
    table.add_column("REGION", no_wrap=True)
    _measured_columns(table)
    for row in page.get("data", []):
        table.add_row(str(row.get("rank", "")), row.get("model_id", ""), row.get("region") or "", *_measured_cells(row))
    out = console()
    out.print(table)
    if any(r.get("tokens_estimated") or r.get("speed_includes_reasoning") for r in page.get("data", [])):
        out.print(SPEED_NOTE, style="dim")
    if any(r.get("failed_at") for r in page.get("data", [])):
        out.print(FAILING_NOTE, style="dim")
    shown_to = page.get("offset", 0) + len(page.get("data", []))
    sort = str(page.get("sort") or "ttft")
    out.print(f"{len(page.get('data', []))} of {page.get('total', 0)} measured, by "
              f"{sort[1:] + ', descending' if sort.startswith('-') else sort}"
              + (f" (next: --offset {shown_to})" if shown_to < page.get("total", 0) else ""), style="dim")


def _runs_table(runs: list[dict[str, Any]]) -> Any:
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, pad_edge=False, header_style="bold")
    for name in ("RUN", "PROVIDER", "REGION", "TRIGGER", "OUTCOME", "PROBED", "REQUESTS", "SPEND $", "STARTED",
                 "NOTE"):
        table.add_column(name, justify="right" if name in ("RUN", "PROBED", "REQUESTS", "SPEND $") else "left",
                         no_wrap=name != "NOTE", overflow="fold")
    for run in runs:
        outcome = run.get("outcome") or ""
        skipped = run.get("skipped") or []
        note = run.get("error") or run.get("stopped_reason") or ""
        if skipped:
            note = (note + "; " if note else "") + f"{len(skipped)} skipped: " + "; ".join(
                f"{s.get('model_id')} ({s.get('reason')})" for s in skipped[:3]) + (" ..." if len(skipped) > 3 else "")
        table.add_row(str(run.get("id", "")), run.get("provider") or "", run.get("region") or "", run.get("trigger") or "",
                      Text(outcome, style={"succeeded": "green", "running": "cyan", "stopped": "yellow"}.get(outcome, "red")),
                      f"{run.get('probed', 0)}/{run.get('planned', 0)}", number(run.get("requests")),
                      _usd(run.get("spend_usd")), when(run.get("started_at")), note)
    return table


@benchmarks.command("runs")
@click.option("--provider", multiple=True, help="provider name (repeatable: any of them)")
@click.option("--region", help="one Bedrock region's runs")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@click.option("--before", type=click.IntRange(1), help="runs older than this run id (the next page)")
@click.option("--json", "as_json", is_flag=True, help="print the API's JSON answer")
@click.pass_context
def benchmarks_runs(ctx: click.Context, provider: tuple[str, ...], region: Optional[str], limit: int,
                    before: Optional[int], as_json: bool) -> None:
    """Benchmark runs, newest first: outcome, models probed, requests, spend; and today's spend."""
    params: list[tuple[str, Any]] = [("provider", p) for p in provider] + [("limit", limit)]
    params += [(k, v) for k, v in (("region", region), ("before", before)) if v]
    answer = client_of(ctx).get("/api/v1/benchmarks/runs", params)
    if as_json:
        print_json(answer)
        return
    out = console()
    runs = answer.get("data", [])
    out.print(_runs_table(runs))
    today = answer.get("today") or {}
    budget = today.get("budget_per_day_usd")
    out.print(f"{len(runs)} runs; spent today (UTC) ${_usd(today.get('spent_usd')) or '0'}"
              + (f" of ${_usd(budget)} a day" if budget is not None else "")
              + (f" (next: --before {runs[-1]['id']})" if len(runs) == limit and runs else ""), style="dim")


def _results_table(results: list[dict[str, Any]]) -> Any:
    from rich.table import Table

    table = Table(box=None, pad_edge=False, header_style="bold")
    for name in ("RUN", "REGION", "TTFT MS", "OUT TOK/S", "LATENCY MS", "TOKENS IN/OUT", "COST $", "SAMPLES", "MEASURED",
                 "ERROR"):
        table.add_column(name, justify="left" if name in ("REGION", "MEASURED", "ERROR") else "right",
                         no_wrap=name != "ERROR", overflow="fold")
    for r in results:
        speed = r.get("output_tokens_per_s")
        flagged = r.get("tokens_estimated") or r.get("speed_includes_reasoning")
        tokens = f"{number(r.get('input_tokens'))}/{number(r.get('output_tokens'))}"
        if r.get("tokens_estimated"):
            tokens += " (est.)"
        table.add_row(str(r.get("run_id", "")), r.get("region") or "", _ms(r.get("ttft_ms")),
                      "" if speed is None else f"{speed:,.1f}" + (" ≈" if flagged else ""), _ms(r.get("latency_ms")), tokens,
                      _usd(r.get("cost_usd")), number(r.get("sample_count", len(r.get("samples") or []))),
                      when(r.get("measured_at")), r.get("error") or "")
    return table


@benchmarks.command("show")
@click.argument("model_id")
@click.option("--region", help="one Bedrock region's results")
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="print the API's JSON answer")
@click.pass_context
def benchmarks_show(ctx: click.Context, model_id: str, region: Optional[str], limit: int, as_json: bool) -> None:
    """One model's performance (per region for Bedrock) and its results, newest first."""
    from rich.table import Table

    params: list[tuple[str, Any]] = [("limit", limit)] + ([("region", region)] if region else [])
    answer = client_of(ctx).get(f"/api/v1/models/{model_path(model_id)}/benchmarks", params)
    if as_json:
        print_json(answer)
        return
    out = console()
    perf = answer.get("performance")
    if perf:
        table = Table(box=None, pad_edge=False, header_style="bold", title=f"{model_id}: performance",
                      title_justify="left")
        table.add_column("REGION", no_wrap=True)
        _measured_columns(table)
        for region_name, summary in (perf.get("regions") or {None: perf}).items():
            table.add_row(region_name or "", *_measured_cells(summary))
        out.print(table)
    else:
        out.print(f"{model_id}: not measured yet", style="dim")
    history = answer.get("history") or []
    if history:
        out.print(_results_table(history))
    if (perf and any(s.get("tokens_estimated") or s.get("speed_includes_reasoning")
                     for s in (perf.get("regions") or {None: perf}).values())) \
            or any(r.get("tokens_estimated") or r.get("speed_includes_reasoning") for r in history):
        out.print(SPEED_NOTE, style="dim")
    if perf and any(s.get("failed_at") for s in (perf.get("regions") or {None: perf}).values()):
        out.print(FAILING_NOTE, style="dim")


@benchmarks.command("run")
@click.argument("model_id")
@click.option("--region", help="benchmark a Bedrock model in this region only")
@click.option("--wait", is_flag=True, help="wait for the runs to end and print their results")
@click.option("--timeout", type=click.FloatRange(0, 600, min_open=True), default=120.0, show_default=True,
              help="seconds the service waits with --wait")
@click.option("--json", "as_json", is_flag=True, help="print the API's JSON answer")
@click.pass_context
def benchmarks_run(ctx: click.Context, model_id: str, region: Optional[str], wait: bool, timeout: float,
                   as_json: bool) -> None:
    """Benchmark a model now (every benchmarked region of a Bedrock model, or --region). Needs the
    admin token unless the service runs on this host without one."""
    client = client_of(ctx)
    params: list[tuple[str, Any]] = [("region", region)] if region else []
    if wait:
        params += [("wait", "true"), ("timeout", f"{timeout:g}")]
    answer = client.post(f"/api/v1/models/{model_path(model_id)}/benchmarks", params,
                         timeout=(timeout + client.timeout) if wait else None)
    if as_json:
        print_json(answer)
    else:
        out = console()
        runs = [{"id": r.get("run_id"), **r} if "id" not in r else r for r in answer.get("runs", [])]
        out.print(_runs_table(runs))
        if answer.get("results"):
            out.print(_results_table(answer["results"]))
        if not wait:
            out.print(f"started; see `discovery benchmarks runs` or `discovery benchmarks show {model_id}`", style="dim")
    failed = [r for r in answer.get("runs", []) if r.get("outcome") == "failed"]
    if failed:
        raise ClientError(f"{len(failed)} of {len(answer.get('runs', []))} benchmark runs failed")
