"""The ``discovery`` verbs that talk to a running service: models, show, history, compare,
providers, refresh, events, export (benchmarks: web/benchmark_commands.py). Tables by rich;
``--json`` prints what the API answered.
"""
from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Optional

import click

from web.client import ClientError, ServiceClient, model_path

# rich is imported by the verbs that print with it, not with this module: ``discovery serve``
# loads this module for its command group and never prints a table (rich is about 5 MB resident).
if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text


def console(stderr: bool = False) -> Console:
    """A console that colours only a terminal and does not wrap tables when piped: a row stays one
    line for grep, awk and head (a width of 200 still folded long cells onto lines of their own)."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    tty = stream.isatty()
    return Console(file=stream, width=None if tty else PIPED_WIDTH, no_color=not tty, highlight=False,
                   soft_wrap=not tty)


# Wider than any row the CLI prints (cells are bounded: errors 500 characters, ids 512).
PIPED_WIDTH = 100_000


def print_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))


def when(value: Any) -> str:
    """A time the API gave (epoch seconds or ISO 8601) as ``YYYY-MM-DD HH:MM:SS`` UTC; '' when unknown."""
    if value in (None, ""):
        return ""
    try:
        moment = (datetime.fromtimestamp(float(value), timezone.utc) if isinstance(value, (int, float))
                  else datetime.fromisoformat(str(value).replace("Z", "+00:00")))
    except (TypeError, ValueError, OverflowError):
        return str(value)
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def number(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def shown(value: Any) -> str:
    """A field value in a cell: JSON for structures, '-' for unknown."""
    if value is None:
        return "-"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def client_of(ctx: click.Context) -> ServiceClient:
    return ctx.find_object(ServiceClient)


# -- models ----------------------------------------------------------------------------------------
FILTERS = (
    ("provider", "provider", "provider name (repeatable: any of them)"),
    ("capability", "capability", "capability the model has (repeatable: all of them)"),
    ("input-modality", "input_modality", "input modality (text, image, audio...)"),
    ("output-modality", "output_modality", "output modality"),
    ("kind", "kind", "chat, completion, embedding, image, audio, rerank, moderation, other"),
    ("status", "status", "active, preview, legacy, deprecated, retired"),
)


def with_options(func, options: list) -> Any:
    """``func`` with each of click's ``options`` applied, in the order given."""
    for option in reversed(options):
        func = option(func)
    return func


def catalog_filters(func):
    """The catalog filters of ``GET /api/v1/models`` (no time, order or paging), as options: those
    of ``models``, the leaderboard and the export."""
    for flag, _, doc in reversed(FILTERS):
        func = click.option(f"--{flag}", multiple=True, help=doc)(func)
    return with_options(func, [
        click.option("-q", "--query", "q", help="text in the id or name"),
        click.option("--id", "id_glob", help="id glob, e.g. 'openai/gpt-4*'"),
        click.option("--live/--catalog-only", default=None, help="only live models, or only catalog-only ones"),
        click.option("--min-context-window", type=int),
        click.option("--min-max-output-tokens", type=int),
        click.option("--max-input-price", type=float, help="USD per million input tokens"),
        click.option("--max-output-price", type=float, help="USD per million output tokens"),
        click.option("--released-after", help="YYYY-MM-DD (YYYY-MM, YYYY)"),
        click.option("--released-before", help="YYYY-MM-DD (YYYY-MM, YYYY)"),
        click.option("--attr", "attrs", multiple=True, metavar="KEY[=VALUE]",
                     help="a stated attribute equals (or contains) VALUE, or is present (repeatable)"),
        click.option("--param", "params", multiple=True, metavar="NAME=VALUE",
                     help="any other API parameter, passed as it is (repeatable)"),
    ])


def paging(sort_help: str) -> list:
    """The order and paging options of a listing."""
    return [click.option("--sort", help=sort_help),
            click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True),
            click.option("--offset", type=click.IntRange(0), default=0)]


def model_filters(func):
    """The filters of ``GET /api/v1/models``, with its time, order and paging, as options."""
    return catalog_filters(with_options(func, [
        click.option("--as-of", help="the catalog as it stood then (ISO 8601)"),
        *paging("id, name, provider, context_window, input_price, ... ('-' for descending)")]))


def _pair(text: str, what: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not name or not sep:
        raise click.BadParameter(f"expected NAME=VALUE, got {text!r}", param_hint=what)
    return name, value


def model_params(opts: dict[str, Any]) -> list[tuple[str, str]]:
    """The query parameters the options name, in the API's spelling."""
    params: list[tuple[str, str]] = []
    for _, name, _ in FILTERS:
        params += [(name, v) for v in opts.pop(name, ()) or ()]
    id_glob = opts.pop("id_glob", None)
    if id_glob:
        params.append(("id", id_glob))
    for attr in opts.pop("attrs", ()) or ():
        key, sep, value = attr.partition("=")
        params.append((f"attr.{key}", value) if sep else (f"attr.{key}", ""))
    live = opts.pop("live", None)
    if live is not None:
        params.append(("live", "true" if live else "false"))
    given = [_pair(param, "--param") for param in opts.pop("params", ()) or ()]
    for name, value in opts.items():
        if value is not None:
            params.append((name, str(value)))
    named = {name for name, _ in given}
    return [(k, v) for k, v in params if k not in named] + given  # --param wins over an option's default


@click.command()
@model_filters
@click.option("--json", "as_json", is_flag=True, help="print the API's JSON answer")
@click.pass_context
def models(ctx: click.Context, as_json: bool, **opts: Any) -> None:
    """List models, filtered as GET /api/v1/models filters them."""
    from rich.table import Table

    page = client_of(ctx).get("/api/v1/models", model_params(opts))
    if as_json:
        print_json(page)
        return
    table = Table(box=None, pad_edge=False, header_style="bold")
    for name, justify in (("ID", "left"), ("KIND", "left"), ("CONTEXT", "right"), ("MAX OUT", "right"),
                          ("$IN/M", "right"), ("$OUT/M", "right"), ("STATUS", "left"), ("CAPABILITIES", "left")):
        table.add_column(name, justify=justify, no_wrap=name == "ID")
    for m in page.get("data", []):
        limits, pricing = m.get("limits") or {}, m.get("pricing") or {}
        caps = [c for c, on in (m.get("capabilities") or {}).items() if on]
        table.add_row(m.get("id", ""), m.get("kind") or "", number(limits.get("context_window")),
                      number(limits.get("max_output_tokens")), number(pricing.get("input")),
                      number(pricing.get("output")), (m.get("lifecycle") or {}).get("status") or "",
                      ", ".join(caps))
    out = console()
    out.print(table)
    shown_to = page.get("offset", 0) + len(page.get("data", []))
    out.print(f"{len(page.get('data', []))} of {page.get('total', 0)} models"
              + (f" (next: --offset {shown_to})" if shown_to < page.get("total", 0) else ""), style="dim")


# -- one model ------------------------------------------------------------------------------------
@click.command()
@click.argument("model_id")
@click.option("--raw", is_flag=True, help="include the provider's own answer")
@click.option("--json", "as_json", is_flag=True, help="print the API's JSON answer")
@click.pass_context
def show(ctx: click.Context, model_id: str, raw: bool, as_json: bool) -> None:
    """Show one model's record."""
    from rich.table import Table

    record = client_of(ctx).get(f"/api/v1/models/{model_path(model_id)}", {"raw": "true" if raw else "false"})
    if as_json:
        print_json(record)
        return
    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    for field, value in flatten(record, skip=("provenance",) if not raw else ()):
        table.add_row(field, shown(value))
    console().print(table)


def flatten(record: dict[str, Any], prefix: str = "", skip: Iterable[str] = ()) -> list[tuple[str, Any]]:
    """``(dotted.field, value)`` for every leaf of a record (lists stay whole)."""
    out: list[tuple[str, Any]] = []
    for key, value in record.items():
        if not prefix and key in skip:
            continue
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value and key not in ("attributes", "raw"):
            out += flatten(value, name + ".")
        else:
            out.append((name, value))
    return out


@click.command()
@click.argument("model_id")
@click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True,
              help="the newest this many versions")
@click.option("--before", type=click.IntRange(1), help="versions older than this one (the next page back)")
@click.option("--json", "as_json", is_flag=True, help="print the API's JSON answer")
@click.pass_context
def history(ctx: click.Context, model_id: str, limit: int, before: Optional[int], as_json: bool) -> None:
    """A model's versions with their change and field diff (coloured on a terminal), oldest first;
    the newest --limit of them, and how to page back to older ones."""
    from rich.text import Text

    params: dict[str, Any] = {"limit": limit, **({"before": before} if before else {})}
    answer = client_of(ctx).get(f"/api/v1/models/{model_path(model_id)}/history", params)
    if as_json:
        print_json(answer)
        return
    out = console()
    for version in answer.get("versions", []):
        change = version.get("change") or ""
        colour = {"added": "green", "removed": "red"}.get(change, "yellow")
        out.print(Text.assemble((f"v{version.get('version')}", "bold"), "  ", (change, colour), "  ",
                                when(version.get("created_at")),
                                f"  run {version['run_id']}" if version.get("run_id") else ""))
        if version.get("reason"):
            out.print(Text.assemble("    ", (str(version["reason"]), "italic")))
        for path, pair in sorted((version.get("diff") or {}).items()):
            old, new = (pair + [None, None])[:2] if isinstance(pair, list) else (None, pair)
            out.print(Text.assemble("    ", (path, "bold"), ": ", (shown(old), "red"), " → ", (shown(new), "green")))
    if answer.get("has_more"):
        shown_count = len(answer.get("versions", []))
        out.print(f"{shown_count} of {answer.get('total')} versions; older ones: --before {answer.get('next')}",
                  style="dim")


# -- compare --------------------------------------------------------------------------------------
@click.command()
@click.argument("model_ids", nargs=-1, required=True)
@click.option("--all-fields", is_flag=True, help="show the fields that are the same too")
@click.option("--json", "as_json", is_flag=True, help="print the comparison as JSON (ids, fields, differs)")
@click.pass_context
def compare(ctx: click.Context, model_ids: tuple[str, ...], all_fields: bool, as_json: bool) -> None:
    """Compare 2-10 models side by side; the fields that differ are marked."""
    from rich.table import Table
    from rich.text import Text

    ids = list(dict.fromkeys(model_ids))
    if not 2 <= len(ids) <= 10:
        raise click.UsageError("compare takes 2 to 10 different model ids")
    result = client_of(ctx).get("/api/v1/models/compare", {"ids": ",".join(ids)})
    if as_json:
        print_json({k: v for k, v in result.items() if k != "models"})
        return
    table = Table(box=None, pad_edge=False, header_style="bold")
    table.add_column("FIELD", no_wrap=True)
    for model_id in result.get("ids", ids):
        table.add_column(model_id, overflow="fold")
    for row in result.get("fields", []):
        field, differs = row.get("field", ""), bool(row.get("differs"))
        if field == "id" or (not differs and not all_fields):
            continue
        table.add_row(Text(("* " if differs else "  ") + field, style="yellow" if differs else ""),
                      *[shown(v) for v in row.get("values", [])])
    out = console()
    out.print(table)
    out.print(f"{len(result.get('differing', []))} fields differ", style="dim")


# -- providers and refresh ------------------------------------------------------------------------
@click.command()
@click.option("--json", "as_json", is_flag=True, help="print the API's JSON answer")
@click.pass_context
def providers(ctx: click.Context, as_json: bool) -> None:
    """Every provider (and Bedrock region): status, breaker, models, last refresh."""
    from rich.table import Table
    from rich.text import Text

    answer = client_of(ctx).get("/api/v1/providers")
    if as_json:
        print_json(answer)
        return
    table = Table(box=None, pad_edge=False, header_style="bold")
    for name in ("NAME", "FORMAT", "STATUS", "BREAKER", "MODELS", "LAST SUCCESS", "LAST ERROR"):
        table.add_column(name, justify="right" if name == "MODELS" else "left", no_wrap=name != "LAST ERROR",
                         overflow="fold")
    for p in answer.get("data", []):
        status = p.get("status") or ""
        colour = {"healthy": "green", "degraded": "yellow", "unconfigured": "yellow"}.get(status, "red" if status else "")
        # A catalog's models are the providers' (it only describes them): its own count read 0.
        models = (f"{number(p.get('reported_models'))} described" if p.get("is_catalog") and p.get("reported_models")
                  else number(p.get("model_count")))
        table.add_row(p.get("name", ""), p.get("format") or "", Text(status, style=colour),
                      (p.get("breaker") or {}).get("state", ""), models,
                      when(p.get("last_success_at")), p.get("last_error") or "")
    console().print(table)


@click.command()
@click.argument("provider", required=False)
@click.option("--wait", is_flag=True, help="wait for the runs to finish, showing progress")
@click.option("--timeout", type=click.FloatRange(0, min_open=True), default=120.0, show_default=True,
              help="seconds to wait with --wait")
@click.option("--json", "as_json", is_flag=True, help="print the runs as JSON")
@click.pass_context
def refresh(ctx: click.Context, provider: Optional[str], wait: bool, timeout: float, as_json: bool) -> None:
    """Refresh one provider (or Bedrock region, bedrock@<region>), or every one. Needs the admin token
    unless the service runs on this host without one."""
    from rich.table import Table
    from rich.text import Text

    client = client_of(ctx)
    path = f"/api/v1/providers/{model_path(provider)}/refresh" if provider else "/api/v1/refresh"
    answer = client.post(path)
    runs = answer.get("runs", [])
    skipped = answer.get("skipped") or []
    if wait and runs:
        runs = wait_for_runs(client, runs, timeout, show=not as_json)
    if as_json:
        print_json({"runs": runs, **({"skipped": skipped} if skipped else {})})
    else:
        table = Table(box=None, pad_edge=False, header_style="bold")
        for name in ("RUN", "PROVIDER", "OUTCOME", "ADDED", "UPDATED", "REMOVED", "ERROR"):
            table.add_column(name, overflow="fold")
        for run in runs:
            outcome = run.get("outcome") or ""
            table.add_row(str(run.get("run_id", run.get("id", ""))), run.get("provider") or "",
                          Text(outcome, style={"succeeded": "green", "running": "cyan"}.get(outcome, "red")),
                          number(run.get("added")), number(run.get("updated")), number(run.get("removed")),
                          run.get("error") or "")
        out = console()
        out.print(table)
        for skip in skipped:
            out.print(f"skipped {skip.get('provider')}: {skip.get('reason')} ({skip.get('message', '')})", style="dim")
    failed = [r for r in runs if r.get("outcome") not in ("succeeded", "running")]
    if failed:
        raise ClientError(f"{len(failed)} of {len(runs)} refreshes did not succeed")


def wait_for_runs(client: ServiceClient, runs: list[dict[str, Any]], timeout: float, show: bool) -> list[dict]:
    """Poll each run until it ends (progress on stderr); the finished runs, in order."""
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    deadline = time.monotonic() + timeout
    done: dict[int, dict[str, Any]] = {}
    ids = [r["run_id"] for r in runs]
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TimeElapsedColumn(), console=console(stderr=True), transient=True,
                  # Only on a terminal: elsewhere (cron, CI) it left a blank line in the log.
                  disable=not (show and sys.stderr.isatty())) as progress:
        task = progress.add_task("refreshing " + ", ".join(sorted({r.get("provider") or "?" for r in runs})),
                                 total=len(ids))
        while len(done) < len(ids):
            for run_id in ids:
                if run_id in done:
                    continue
                run = client.get(f"/api/v1/refresh/runs/{run_id}")
                if run.get("outcome") != "running":
                    done[run_id] = {"run_id": run_id, **run}
                    progress.update(task, completed=len(done))
            if len(done) == len(ids):
                break
            if time.monotonic() > deadline:
                raise ClientError(f"{len(ids) - len(done)} of {len(ids)} refreshes still running after {timeout:g}s "
                                  f"(runs {', '.join(str(i) for i in ids if i not in done)})")
            time.sleep(0.2)
    return [done[i] for i in ids]


# -- events ---------------------------------------------------------------------------------------
def event_line(event: dict[str, Any]) -> Text:
    from rich.text import Text

    kind = event.get("kind") or ""
    colour = {"added": "green", "removed": "red", "deprecated": "red", "status_changed": "cyan"}.get(kind, "yellow")
    data = event.get("data") or {}
    detail = ""
    if isinstance(data.get("diff"), dict):
        detail = ", ".join(sorted(data["diff"]))
    elif "new" in data:
        detail = f"{data.get('old')} → {data.get('new')}"
    return Text.assemble((f"#{event.get('id')}", "bold"), " ", when(event.get("time")), " ", (kind, colour), " ",
                         event.get("model_id") or event.get("provider") or "", ("  " + detail) if detail else "")


@click.command()
@click.option("--follow", "-f", is_flag=True, help="stream live events (resumes after a dropped connection)")
@click.option("--since", type=click.IntRange(0), help="events after this id (with --follow: resume from it)")
@click.option("--kinds", help="comma list of event kinds")
@click.option("--provider", help="comma list of providers")
@click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True, help="without --follow")
@click.option("--count", type=click.IntRange(1), help="stop after this many events")
@click.option("--json", "as_json", is_flag=True, help="one JSON object per event and line")
@click.pass_context
def events(ctx: click.Context, follow: bool, since: Optional[int], kinds: Optional[str], provider: Optional[str],
           limit: int, count: Optional[int], as_json: bool) -> None:
    """The change feed: a page of stored events, or the live stream with --follow."""
    client = client_of(ctx)
    params = {k: v for k, v in (("kinds", kinds), ("provider", provider)) if v}
    out = console()

    def emit(event: dict[str, Any]) -> None:
        if as_json:
            click.echo(json.dumps(event, ensure_ascii=False))
        else:
            out.print(event_line(event))

    note = console(stderr=True)

    def missed(count: int, after: int) -> None:
        note.print(f"{count} events after #{after} were deleted by retention before they were read; "
                   "what they announced is not shown (resync from the current state)", style="yellow")

    if not follow:
        page = client.get("/api/v1/events", {**params, "since": since or 0, "limit": min(limit, count or limit)})
        # Without --since the page is the feed from its start: nothing was this reader's to miss.
        if page.get("missed") and since is not None:
            missed(page["missed"], since)
        for event in page.get("data", []):
            emit(event)
        if page.get("has_more") and page.get("next") is not None and not as_json:
            note.print(f"more events after these: --since {page['next']}", style="dim")
        return

    def reconnecting(reason: str, delay: float) -> None:
        note.print(f"{reason}; reconnecting in {delay:g}s", style="dim")

    seen = 0
    try:
        for message in client.stream(params, str(since) if since is not None else None, follow=True,
                                     on_reconnect=reconnecting):
            try:
                event = json.loads(message.data)
            except ValueError:
                continue
            if message.event == "missed":
                missed(event.get("missed", 0), event.get("since", 0))
                continue
            emit(event)
            seen += 1
            if count is not None and seen >= count:
                return
    except KeyboardInterrupt:
        return


# -- export ---------------------------------------------------------------------------------------
@click.group()
def export() -> None:
    """The catalog in another tool's format."""


@export.command("litellm")
@catalog_filters
@click.option("--names", type=click.Choice(["id", "provider"]), default="id", show_default=True,
              help="name each deployment by the id here, or by the provider's own id (one group per model)")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), help="write it to this file")
@click.pass_context
def export_litellm(ctx: click.Context, names: str, output: Optional[str], **opts: Any) -> None:
    """Every model a configured provider lists, as a LiteLLM proxy model_list (JSON, which the
    proxy's YAML loader reads as it is): keys as os.environ/<VARIABLE>, never the key itself."""
    if opts.get("live") is False:
        raise click.UsageError("--catalog-only selects nothing for the export: it has only the models a configured "
                               "provider lists")
    params = model_params(opts) + ([("names", names)] if names != "id" else [])
    answer = client_of(ctx).get("/api/v1/export/litellm", params)
    text = json.dumps(answer, indent=2, ensure_ascii=False) + "\n"
    if output:
        try:
            with open(output, "w", encoding="utf-8") as fh:
                fh.write(text)
        except OSError as exc:
            raise click.ClickException(f"cannot write {output}: {exc.strerror or exc}") from None
    else:
        click.echo(text, nl=False)
    skipped = answer.get("skipped") or []
    note = console(stderr=True)
    note.print(f"{len(answer.get('model_list', []))} deployments; {answer.get('catalog_only', 0)} models known only "
               f"from a catalog left out" + (f"; {len(skipped)} skipped:" if skipped else ""), style="dim")
    reasons: dict[str, int] = {}
    for skip in skipped:
        reasons[skip.get("reason", "")] = reasons.get(skip.get("reason", ""), 0) + 1
    for reason, n in sorted(reasons.items(), key=lambda kv: -kv[1]):
        note.print(f"  {n} × {reason}", style="dim")


# With web.benchmark_commands.benchmarks, the verbs web/cli.py adds to its group.
COMMANDS = (models, show, history, compare, providers, refresh, events, export)
