"""The ``discovery`` command: ``discovery serve`` runs the service on one HTTP port (uvicorn).

The actor system lives in this one process; uvicorn serves the API (the Flask app on a pool of
threads) and the event stream (coroutines) from the same process and port. Do not run it under
a forking multi-process server.
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from dataclasses import replace
from typing import Any, Optional, Sequence

from loguru import logger

from discovery import redaction
from discovery.settings import ProviderConfig, SettingsError, load_settings

DEMO_KEY_ENV = "DISCOVERY_DEMO_API_KEY"
# (name in the catalog, wire format, simulator route) for --demo.
DEMO_SOURCES: tuple[tuple[str, str, str], ...] = (
    ("openai", "openai", "openai"),
    ("anthropic", "anthropic", "anthropic"),
    ("gemini", "gemini", "gemini"),
    ("mistral", "mistral", "mistral"),
    ("groq", "groq", "groq"),
    ("together", "together", "together"),
    ("cohere", "cohere", "cohere"),
    ("openrouter", "openrouter", "openrouter"),
    ("ollama", "ollama", "ollama"),
    ("vllm", "openai_compatible", "openai_compatible"),
    ("modelsdev", "modelsdev", "modelsdev"),
    ("litellm", "litellm", "litellm"),
)


# The demo reads the catalogs only for the providers an operator of these APIs would care about;
# the whole models.dev document (5k models) also works, it just takes seconds longer to load.
DEMO_CATALOG_PROVIDERS = ("openai", "anthropic", "google", "gemini", "mistral", "groq", "togetherai", "together",
                          "together_ai", "cohere", "deepseek", "xai", "amazon-bedrock", "bedrock", "azure",
                          "ollama-cloud", "ollama", "fireworks-ai", "fireworks_ai")


# What --demo benchmarks at start, per provider: model globs, and the simulator's pace for it
# (seconds to the first token, tokens per second), so the leaderboard shows differences.
DEMO_BENCHMARKS: dict[str, tuple[tuple[str, ...], float, float]] = {
    "openai": (("openai/gpt-4o-mini", "openai/gpt-4.1-mini", "openai/text-embedding-3-small"), 0.35, 90.0),
    "anthropic": (("anthropic/claude-haiku-4-5*", "anthropic/claude-sonnet-4-5*"), 0.6, 70.0),
    "gemini": (("gemini/gemini-2.5-flash", "gemini/gemini-2.5-flash-lite"), 0.4, 160.0),
    "mistral": (("mistral/mistral-large-2512", "mistral/ministral-8b-latest"), 0.3, 110.0),
    "groq": (("groq/llama-3.1-8b-instant", "groq/llama-3.3-70b-versatile"), 0.12, 450.0),
    "together": (("together/*Llama*",), 0.3, 120.0),
    "cohere": (("cohere/command-a-03-2025", "cohere/command-r*"), 0.45, 80.0),
    "openrouter": (("openrouter/openai/gpt-4o-mini", "openrouter/anthropic/claude-*haiku*"), 0.55, 75.0),
    "ollama": (("ollama/llama3.2:3b", "ollama/qwen3:8b"), 0.08, 45.0),
    "bedrock": (("bedrock/amazon.nova-lite-v1:0", "bedrock/anthropic.claude-haiku-4-5*"), 0.4, 80.0),
}
# Bedrock's time to first token per demo region (the model's, not the control plane's latency).
DEMO_REGION_TTFT = {"us-east-1": 0.45, "us-west-2": 0.5, "eu-central-1": 0.36, "eu-west-1": 0.4,
                    "ap-northeast-1": 0.6, "ap-southeast-2": 0.7}


class _Stop(SystemExit):
    """Raised in the main thread by SIGTERM/SIGINT while the service starts, to stop at once."""


def demo_providers(simulator: Any, refresh_interval: float = 60.0) -> tuple[ProviderConfig, ...]:
    """Providers pointed at a running simulator, for every format both sides know."""
    from discovery.providers import FORMATS
    from discovery.simulator.formats import FORMATS_BY_PROVIDER

    os.environ.setdefault(DEMO_KEY_ENV, "demo-key-for-the-simulator")
    out = []
    for name, fmt, route in DEMO_SOURCES:
        if fmt not in FORMATS or route not in FORMATS_BY_PROVIDER:
            continue
        try:
            base = simulator.base_url(route)
        except (KeyError, ValueError):
            continue
        cls = FORMATS[fmt]
        options = {"providers": list(DEMO_CATALOG_PROVIDERS)} if cls.is_catalog else {}
        out.append(ProviderConfig(name=name, format=fmt, base_url=base,
                                  api_key_env=DEMO_KEY_ENV if cls.requires_key else None,
                                  refresh_interval=refresh_interval, timeout=5.0, fail_max=3, reset_timeout=15.0,
                                  options=options))
    return tuple(out)


def demo_bedrock(simulator: Any) -> Any:
    """Bedrock regions pointed at the simulator (af-south-1 does not offer Bedrock there).

    boto3 signs every request, so without AWS credentials in the environment dummy ones are set
    for this process only; they go nowhere but the simulator and are never logged.
    """
    from discovery.settings import AWS_CREDENTIAL_ENV, BedrockSettings
    from discovery.simulator.formats.bedrock import DEMO_LATENCIES

    if not any(os.environ.get(name) for name in AWS_CREDENTIAL_ENV):
        os.environ["AWS_ACCESS_KEY_ID"] = "AKIDDEMOSIMULATOR"
        os.environ["AWS_SECRET_ACCESS_KEY"] = "demo-secret-for-the-simulator"
    for region, seconds in DEMO_LATENCIES.items():
        simulator.state.set_latency(f"bedrock@{region}", seconds)
    return BedrockSettings(enabled=True, regions=tuple(DEMO_LATENCIES),
                           endpoint_url=simulator.url + "/bedrock/{region}", ec2_endpoint_url=simulator.url + "/ec2",
                           runtime_endpoint_url=simulator.url + "/bedrock/{region}",
                           refresh_interval=60.0, timeout=5.0, unavailable_recheck_interval=600.0)


def demo_benchmarks(simulator: Any) -> Any:
    """Benchmarks of two models per demo provider (and Bedrock region) a few seconds after start.

    Prices are the catalogs' (the simulator bills nothing); local servers have none, so they are
    allowed to go unpriced. The simulator is set to a different pace per provider and region.
    """
    from discovery.settings import BenchmarkSettings, BenchmarkTarget

    targets = []
    for name, (globs, ttft, rate) in DEMO_BENCHMARKS.items():
        if name == "bedrock":
            for region, region_ttft in DEMO_REGION_TTFT.items():
                simulator.state.set_stream(f"bedrock@{region}", ttft=region_ttft, tokens_per_second=rate, output_tokens=64)
        else:
            route = dict((n, r) for n, _, r in DEMO_SOURCES).get(name, name)
            simulator.state.set_stream(route, ttft=ttft, tokens_per_second=rate, output_tokens=64)
        targets.append(BenchmarkTarget(name, enabled=True, models=globs, max_models=2,
                                       allow_unknown_prices=name in ("ollama", "vllm")))
    return BenchmarkSettings(start_delay=3.0, interval=900.0, samples=3, targets=tuple(targets))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="discovery", description="The model discovery service.")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the service (HTTP API and discovery)")
    serve.add_argument("--config", help="TOML settings file (default: $DISCOVERY_CONFIG)")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default 8080; 0 picks a free one)")
    serve.add_argument("--database", help="database URL (default sqlite:///discovery.db)")
    serve.add_argument("--demo", action="store_true",
                       help="start the built-in provider simulator and discover from it (no keys, no network)")
    serve.add_argument("--threads", type=int,
                       help="worker threads of the API (default 16; event streams use none)")
    sim = sub.add_parser("simulator", help="run only the provider simulator")
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int, default=9090)
    return parser


def serve(args: argparse.Namespace) -> int:
    from actors.service import start_service
    from web.auth import startup_notice
    from web.server import DiscoveryASGI, bind_socket, raise_open_file_limit, serve_forever

    overrides: dict[str, Any] = {}
    if args.host:
        overrides["host"] = args.host
    if args.port is not None:
        overrides["port"] = args.port
    if args.database:
        overrides["database_url"] = args.database
    if args.threads is not None:
        overrides["http_threads"] = args.threads
    try:
        settings = load_settings(args.config, **overrides)
    except SettingsError as exc:
        logger.error("{}", exc)
        return 2
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
        if args.demo:
            from discovery.simulator import SimulatorServer

            simulator = SimulatorServer()
            simulator.start()
            logger.info("demo: provider simulator on {}", simulator.url)
            settings = replace(settings, demo=True, providers=demo_providers(simulator),
                               bedrock=demo_bedrock(simulator), benchmarks=demo_benchmarks(simulator))
            redaction.REDACTOR.add_settings(settings)
        service = start_service(settings)
        notice = startup_notice(settings.admin_token)
        if notice:
            logger.warning("{}", notice)
        app = DiscoveryASGI(service)
        port = sock.getsockname()[1]
        logger.info("serving on http://{}:{} ({} providers; API and event stream on this one port)",
                    settings.host, port, len(settings.providers))
        print(f"serving on http://{settings.host}:{port}", flush=True)
        if not stop_event.is_set():
            serve_forever(app, sock, on_exit=service.begin_shutdown)
    except (_Stop, KeyboardInterrupt):
        pass
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
    logger.info("stopped")
    return 0


def run_simulator(args: argparse.Namespace) -> int:
    from discovery.simulator import SimulatorServer

    sim = SimulatorServer(host=args.host, port=args.port)
    sim.start()
    print(f"simulator on {sim.url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
    return 0


LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL")


class _InterceptHandler(logging.Handler):
    """Routes stdlib logging (pykka, uvicorn, urllib3...) into loguru, keeping the caller's level."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        # The record's own logger name (pykka, uvicorn.error...) is what the log line shows.
        logger.patch(lambda r: r.update(name=record.name)).opt(exception=record.exc_info).log(
            level, "{}", record.getMessage())


def configure_logging() -> None:
    """loguru on stderr at ``DISCOVERY_LOG_LEVEL`` (any case), every line redacted; stdlib logging routed in."""
    logger.remove()
    raw = os.environ.get("DISCOVERY_LOG_LEVEL", "INFO")
    level = raw.strip().upper() or "INFO"
    if level == "WARN":
        level = "WARNING"
    bad = level not in LOG_LEVELS
    if bad:
        level = "INFO"
    redaction.install(logger)
    logger.add(redaction.redacting_sink(sys.stderr), level=level, colorize=False,
               format="{time:YYYY-MM-DD HH:mm:ss.SSS} {level:<7} {name}: {message}\n{exception}")
    if bad:
        logger.warning("DISCOVERY_LOG_LEVEL={!r} is not a level ({}); logging at INFO", raw, ", ".join(LOG_LEVELS))
    logging.basicConfig(handlers=[_InterceptHandler()], level=logging.INFO if level != "DEBUG" else logging.DEBUG,
                        force=True)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the ``discovery`` console script."""
    configure_logging()
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        return serve(args)
    return run_simulator(args)


if __name__ == "__main__":
    sys.exit(main())
