"""The ``discovery`` command: ``serve`` runs the service; the other verbs talk to a running one.

``discovery serve`` runs the actor system and one HTTP port (uvicorn) in this one process; do not
run it under a forking multi-process server. ``models``, ``show``, ``history``, ``compare``,
``providers``, ``refresh``, ``events``, ``export`` (web/commands.py) and ``benchmarks``
(web/benchmark_commands.py) call the service at ``--url`` (``$DISCOVERY_URL``, default
http://127.0.0.1:8080) with ``$DISCOVERY_ADMIN_TOKEN`` (else ``$DISCOVERY_READ_TOKEN``). Every
error is one line and a non-zero exit code, never a traceback.
"""
from __future__ import annotations

import json
import math
import os
import signal
import sys
import threading
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Optional

import click
from loguru import logger

from discovery import redaction
from discovery.build import package_version as version
from discovery.settings import SettingsError
from discovery.settings_reader import load_settings
from web.benchmark_commands import benchmarks
from web.client import DEFAULT_URL, URL_ENV, ClientError, ServiceClient
from web.commands import COMMANDS
from web.demo import demo_bedrock, demo_benchmarks, demo_providers
from web.logs import configure_logging


class _Stop(SystemExit):
    """Raised in the main thread by SIGTERM/SIGINT while the service starts, to stop at once."""


def _one_line(exc: click.UsageError) -> click.UsageError:
    """``exc`` shown as one line, with where to find help (click shows the usage, a hint and a
    blank line before the error: four lines)."""
    def show(file: Any = None) -> None:
        hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
        click.echo(f"Error: {exc.format_message()}{hint}", err=True)

    exc.show = show  # type: ignore[method-assign]
    return exc


class DiscoveryGroup(click.Group):
    """Client errors, bad usage and Ctrl-C end a command with one line, not a traceback."""

    def make_context(self, info_name: Optional[str], args: list[str], parent: Optional[click.Context] = None,
                     **extra: Any) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.UsageError as exc:
            raise _one_line(exc) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            raise _one_line(exc) from None
        except ClientError as exc:
            click.echo(f"Error: {exc.message}", err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            ctx.exit(130)


def finite(value: float, param: click.Parameter) -> float:
    """``value``, unless it is NaN (which every range check lets through): a usage error."""
    if math.isnan(value):
        raise click.BadParameter("must be a number of seconds, not nan", param=param)
    return value


@click.group(cls=DiscoveryGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--url", envvar=URL_ENV, default=DEFAULT_URL, show_default=True, metavar="URL",
              help=f"the running service (env {URL_ENV}); the token comes from "
                   "DISCOVERY_ADMIN_TOKEN, else DISCOVERY_READ_TOKEN (reads only)")
@click.option("--timeout", type=click.FloatRange(0, 86400, min_open=True), default=30.0, show_default=True,
              callback=lambda ctx, param, value: finite(value, param), help="seconds to wait for each answer")
@click.version_option(version(), "--version", "-V", prog_name="discovery", message="%(prog)s %(version)s")
@click.pass_context
def cli(ctx: click.Context, url: str, timeout: float) -> None:
    """The model discovery service: run it (serve) or ask a running one."""
    ctx.obj = ServiceClient(url, timeout=timeout)


for _command in (*COMMANDS, benchmarks):
    cli.add_command(_command)


# -- serve ----------------------------------------------------------------------------------------
@cli.command()
@click.option("--config", type=click.Path(dir_okay=False), help="TOML settings file (default: $DISCOVERY_CONFIG)")
@click.option("--host", help="address to listen on (default 127.0.0.1)")
@click.option("--port", type=click.IntRange(0, 65535), help="port (default 8080; 0 picks a free one)")
@click.option("--database", help="database URL (default sqlite:///discovery.db)")
@click.option("--demo", is_flag=True, help="start the built-in provider simulator and discover from it (no keys, no network)")
@click.option("--threads", type=int, help="worker threads of the API (default 16; event streams use none)")
@click.option("--max-streams", type=int,
              help="event streams (SSE) open at once, past it 503 (sse_max_streams, default 5000)")
@click.option("--log-format", type=click.Choice(["text", "json"]), help="log lines as text or JSON (log_format)")
@click.option("--simulator-port", type=click.IntRange(1, 65535),
              help="with --demo: the simulator's port on 127.0.0.1, to drive it at /_admin/ (default: a free one)")
def serve(config: Optional[str], host: Optional[str], port: Optional[int], database: Optional[str], demo: bool,
          threads: Optional[int], max_streams: Optional[int], log_format: Optional[str],
          simulator_port: Optional[int]) -> None:
    """Run the service: discovery, the HTTP API and the event stream on one port."""
    if simulator_port is not None and not demo:
        raise click.UsageError("--simulator-port is for --demo (the simulator runs only in the demo)")
    code = run_service(config, demo, host=host, port=port, database_url=database, http_threads=threads,
                       sse_max_streams=max_streams, log_format=log_format, simulator_port=simulator_port)
    if code:
        sys.exit(code)


def start_failure(exc: BaseException) -> str:
    """Why a start failed, on one line: the exception that says it (the first of a chain that
    is not a wrapper), its type and message, secrets masked."""
    from actors.service import StoreUnusable

    while exc.__cause__ is not None and type(exc).__module__.startswith("peewee"):
        exc = exc.__cause__
    text = " ".join(str(exc).split()) or "no message"
    if "driver not installed" in text.lower():  # peewee's ImproperlyConfigured for a missing psycopg2
        text += " (install the postgres extra: pip install -e '.[postgres]')"
    return redaction.scrub(text if isinstance(exc, StoreUnusable) else f"{type(exc).__name__}: {text}")


def run_service(config: Optional[str], demo: bool = False, **given: Any) -> int:
    """``discovery serve``: 0 after a clean stop, 2 when the settings or the port are unusable (or
    another instance serves the SQLite file), 75 when this instance lost the leadership (its
    process manager starts it again, as a follower: docs/replicas.md)."""
    import sqlite3

    import peewee

    # ``web`` (Flask, the views, the OpenAPI document: about 0.3 s of imports) loads here, before
    # the actors start: loaded when the app is made, after, it took that GIL time from the first refreshes.
    import web  # noqa: F401
    from actors.service import AnotherInstance, StoreUnusable, dump_threads, start_service
    from discovery.effective_settings import settings_warnings
    from web.auth import is_loopback, startup_notice
    from web.server import DiscoveryASGI, bind_socket, raise_open_file_limit, serve_forever

    simulator_port = given.pop("simulator_port", None)
    overrides = {k: v for k, v in given.items() if v is not None}
    try:
        settings = load_settings(config, **overrides)
    except SettingsError as exc:
        logger.error("{}", exc)
        return 2
    configure_logging(settings.log_level, settings.log_format)
    # From here on a thread dump is one signal away, also while the catalog loads (SIGUSR1's
    # default action would kill the process).
    signal.signal(signal.SIGUSR1, dump_threads)
    # The port first: a busy one fails now, in one line, before anything has started.
    try:
        sock = bind_socket(settings.host, settings.port)
    except OSError as exc:
        logger.error("cannot listen on {}:{}: {}", settings.host, settings.port, exc.strerror or exc)
        return 2
    raise_open_file_limit()
    redaction.REDACTOR.add_settings(settings)

    stop_event = threading.Event()

    def on_signal(signum, frame):
        if not stop_event.is_set():
            stop_event.set()
            raise _Stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    simulator = None
    service = None
    try:
        if demo or settings.demo:  # the flag, or demo = true in the settings (DISCOVERY_DEMO)
            from discovery.simulator import SimulatorServer

            simulator = SimulatorServer(port=simulator_port or 0)
            try:
                simulator.start()
            except (OSError, SystemExit):  # werkzeug's server exits on a busy port, saying so on stderr
                logger.error("cannot listen on 127.0.0.1:{} for the simulator: the port is taken", simulator_port)
                simulator = None
                return 2
            logger.info("demo: provider simulator on {} (drive it over HTTP at {}/_admin/)", simulator.url, simulator.url)
            settings = replace(settings, demo=True, providers=demo_providers(simulator),
                               bedrock=demo_bedrock(simulator),
                               benchmarks=demo_benchmarks(simulator, settings.benchmarks))
            redaction.REDACTOR.add_settings(settings)
        service = start_service(settings)

        def deposed(reason: str) -> None:
            # Stop serving (streams end, clients resume on another instance); exit 75 below.
            stop_event.set()
            os.kill(os.getpid(), signal.SIGTERM)

        service.on_deposed = deposed
        if service.deposed.is_set():
            deposed(service.deposed_reason or "")
        notice = startup_notice(settings.admin_token)
        if notice:
            logger.warning("{}", notice)
        if not settings.read_token and settings.host != "localhost" and not is_loopback(settings.host):
            logger.warning("no read token configured (DISCOVERY_READ_TOKEN) and listening on {}: every read (the "
                           "catalog, runs and their errors, /metrics, the event stream) is open to whoever can "
                           "reach the port", settings.host)
        if not settings.demo:
            for warning in settings_warnings(settings):
                logger.warning("{}", warning)
        app = DiscoveryASGI(service)
        port = sock.getsockname()[1]
        logger.info("serving on http://{}:{} ({} providers; API and event stream on this one port)",
                    settings.host, port, len(settings.providers))
        print(f"serving on http://{settings.host}:{port}", flush=True)
        if not stop_event.is_set():
            serve_forever(app, sock, on_exit=service.begin_shutdown)
    except (_Stop, KeyboardInterrupt):
        pass
    except AnotherInstance as exc:
        logger.error("{}", exc)
        sock.close()
        return 2
    except (StoreUnusable, peewee.DatabaseError, peewee.InterfaceError, peewee.ImproperlyConfigured,
            sqlite3.Error) as exc:
        if service is not None:
            raise
        # The service could not start because its database cannot be opened or read: one line
        # that says why, as every other start-up error (anything else keeps its traceback).
        logger.error("cannot start: {}", start_failure(exc))
        return 1
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        sock.close()
        if service is not None:
            service.stop()
        else:
            # Stopped while starting: stop whatever actors had been started.
            import pykka

            pykka.ActorRegistry.stop_all(block=True, timeout=5)
        if simulator is not None:
            simulator.stop()
    if service is not None and service.deposed.is_set():
        logger.warning("stopped: this instance lost the leadership ({}); exit 75 so it restarts as a follower",
                       service.deposed_reason)
        return 75
    logger.info("stopped")
    return 0


# -- simulator and config -------------------------------------------------------------------------
@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=9090, show_default=True)
def simulator(host: str, port: int) -> None:
    """Run only the provider simulator (admin routes under /_admin/)."""
    from discovery.simulator import SimulatorServer

    sim = SimulatorServer(host=host, port=port)
    sim.start()
    print(f"simulator on {sim.url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()


@cli.group()
def config() -> None:
    """The settings file."""


@config.command("check")
@click.option("--config", "path", type=click.Path(dir_okay=False), help="TOML settings file (default: $DISCOVERY_CONFIG)")
@click.option("--json", "as_json", is_flag=True, help="print the effective settings as JSON")
def config_check(path: Optional[str], as_json: bool) -> None:
    """Validate the settings (file and environment) and print the effective ones, secrets redacted."""
    from discovery.effective_settings import effective, settings_warnings, to_toml

    try:
        settings = load_settings(path)
    except SettingsError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)
    redaction.REDACTOR.add_settings(settings)
    document = effective(settings)
    text = json.dumps(document, indent=2, default=list) if as_json else to_toml(document)
    click.echo(redaction.scrub(text))
    if settings.demo:
        click.echo("note: demo = true: serve replaces the providers with the built-in simulator's", err=True)
    else:
        for warning in settings_warnings(settings):
            click.echo(redaction.scrub(f"warning: {warning}"), err=True)
    source = path or os.environ.get("DISCOVERY_CONFIG")
    click.echo(f"settings are valid ({source or 'no settings file: defaults and environment'})", err=True)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the ``discovery`` console script."""
    # Until the settings are read (they refuse a level or format that is none, in one line).
    configure_logging(os.environ.get("DISCOVERY_LOG_LEVEL", "INFO"), os.environ.get("DISCOVERY_LOG_FORMAT", "text"),
                      warn_unknown=False)
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="discovery", standalone_mode=True)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
