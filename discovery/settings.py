"""Settings: a TOML file with environment overrides, and defaults that work with nothing set.

API keys are never read from the file: a provider names the environment variable that holds its
key (``api_key_env``), and only the environment is consulted. Here: what the settings are (the
service's, each provider's, Bedrock's, the benchmarks'); reading them from the file and the
environment, with every check, is :mod:`discovery.settings_reader`.
"""
from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Optional

from discovery.sources import region_of


class SettingsError(ValueError):
    """A settings file or environment override is malformed."""


@dataclass(frozen=True)
class ProviderConfig:
    """One configured source of models: a provider's live API or a public catalog."""

    name: str
    format: str
    base_url: Optional[str] = None
    api_key_env: Optional[str] = None
    refresh_interval: float = 3600.0
    jitter: float = 0.1
    timeout: float = 10.0
    fail_max: int = 5
    reset_timeout: float = 60.0
    enabled: bool = True
    # Refuse a snapshot that loses more than this share of the provider's models.
    max_removal_ratio: float = 0.5
    allow_empty: bool = False
    # Retries inside one refresh (urllib3 Retry: timeouts, connection errors, 429, 5xx).
    retries: int = 2
    retry_backoff: float = 0.5
    # Longest Retry-After waited inside a refresh; a longer one fails the refresh as rate_limited.
    max_retry_after: float = 10.0
    # Health probes (the cheapest list call); 0 disables them.
    health_check_interval: float = 60.0
    failure_threshold: int = 3
    recovery_threshold: int = 2
    health_window: float = 3600.0
    # Token bucket shared by refreshes, probes and benchmarks of this provider.
    rate_limit_rps: float = 5.0
    rate_limit_burst: int = 10
    # Manual refreshes (HTTP POST) allowed per minute; joining one in flight is free.
    manual_refresh_per_minute: int = 10
    # Largest answer accepted, in MiB.
    max_body_mb: float = 32.0
    # Longest one refresh's requests may take together (pages, per-model calls, retries, slow
    # bodies); past it the refresh fails as a timeout.
    refresh_timeout: float = 300.0
    options: Mapping[str, Any] = field(default_factory=dict)

    def api_key(self, environ: Optional[Mapping[str, str]] = None) -> Optional[str]:
        """The API key from the environment, or None; never logged or stored."""
        if not self.api_key_env:
            return None
        env = os.environ if environ is None else environ
        return env.get(self.api_key_env) or None


# Regions read when Bedrock is on and no list is configured (docs/bedrock.md).
DEFAULT_BEDROCK_REGIONS = ("us-east-1", "us-west-2", "eu-central-1", "eu-west-1", "ap-northeast-1", "ap-southeast-2")
# Variables of the standard AWS credential chain; any of them set turns Bedrock on by default.
AWS_CREDENTIAL_ENV = ("AWS_ACCESS_KEY_ID", "AWS_PROFILE", "AWS_BEARER_TOKEN_BEDROCK", "AWS_WEB_IDENTITY_TOKEN_FILE",
                      "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI")


@dataclass(frozen=True)
class BedrockSettings:
    """AWS Bedrock discovery: one region actor per region; credentials only from the AWS chain."""

    enabled: bool = False
    regions: tuple[str, ...] = DEFAULT_BEDROCK_REGIONS
    # Add every region EC2 DescribeRegions reports as enabled for the account.
    discover_regions: bool = False
    # Endpoint templates with {region} (tests and the demo point boto3 at the simulator).
    endpoint_url: str | None = None
    # Bedrock Runtime (benchmark probes): AWS's own endpoint unless a {region} template is given.
    runtime_endpoint_url: str | None = None
    ec2_endpoint_url: str | None = None
    ec2_region: str = "us-east-1"
    profile: str | None = None
    refresh_interval: float = 3600.0
    jitter: float = 0.1
    # A region that does not offer Bedrock (or denies access) is asked again only this often.
    unavailable_recheck_interval: float = 6 * 3600.0
    timeout: float = 10.0
    # One region refresh's calls together (every page of both, each attempt): past it, a timeout.
    refresh_timeout: float = 300.0
    fail_max: int = 3
    reset_timeout: float = 300.0
    # Between refreshes, each available region is checked this often by one small call through its
    # breaker (one inference profile); 0 turns the checks off.
    health_check_interval: float = 300.0
    # Weight of the newest call in each region's latency average.
    latency_alpha: float = 0.3
    max_removal_ratio: float = 0.5
    # Not a key: Bedrock is off only because the automatic choice found no AWS credential variable
    # (no [bedrock] table, no DISCOVERY_BEDROCK_ENABLED): the regions stored keep their models.
    off_without_credentials: bool = False


@dataclass(frozen=True)
class BenchmarkTarget:
    """``[benchmarks.providers.<name>]``: benchmarking of one provider (``bedrock`` for every region).

    Unset keys (None) take the ``[benchmarks]`` value. ``models`` are globs matched against the
    canonical id (``openai/gpt-4o*``) and the provider's own id (``gpt-4o*``).
    """

    name: str
    enabled: bool = False
    models: tuple[str, ...] = ("*",)
    regions: tuple[str, ...] = ()  # Bedrock: the watched regions to benchmark in (empty: all)
    samples: Optional[int] = None
    max_output_tokens: Optional[int] = None
    budget_per_run_usd: Optional[float] = None
    budget_per_day_usd: Optional[float] = None  # this provider's own daily cap (None: none; 0: spend nothing)
    allow_unknown_prices: Optional[bool] = None
    interval: Optional[float] = None
    max_models: Optional[int] = None


@dataclass(frozen=True)
class BenchmarkPolicy:
    """The settings one benchmark actor runs by: a target with every default filled in."""

    name: str
    enabled: bool
    models: tuple[str, ...]
    regions: tuple[str, ...]
    samples: int
    max_output_tokens: int
    budget_per_run_usd: float
    budget_per_day_usd: Optional[float]  # this provider's own daily cap; None: only the service-wide one applies
    allow_unknown_prices: bool
    interval: float
    max_models: int
    timeout: float


@dataclass(frozen=True)
class BenchmarkSettings:
    """``[benchmarks]``: measured TTFT, output speed and latency, off unless a provider is enabled."""

    # Master switch: false stops all benchmarking whatever the provider tables say.
    enabled: bool = True
    samples: int = 3
    max_output_tokens: int = 64
    # A budget of 0 allows no spending (only requests priced at $0 are sent).
    budget_per_run_usd: float = 0.05
    # Every provider's benchmarks together, per UTC day.
    budget_per_day_usd: float = 1.0
    allow_unknown_prices: bool = False
    interval: float = 6 * 3600.0
    jitter: float = 0.1
    # The first run after a start, unless the stored history makes one due later.
    start_delay: float = 60.0
    # A result whose p50 TTFT (or output speed) is this much worse than the trailing median regresses.
    regression_threshold: float = 0.5
    regression_window: int = 5
    # Longest wait for the answer's first byte and between reads; a whole answer gets three times as long.
    timeout: float = 30.0
    max_models: int = 20
    targets: tuple[BenchmarkTarget, ...] = ()

    def target(self, name: str) -> Optional[BenchmarkTarget]:
        """The target configured for ``name``, or None."""
        return next((t for t in self.targets if t.name == name), None)

    def policy(self, name: str) -> BenchmarkPolicy:
        """The effective settings of provider ``name`` (disabled when it has no enabled target)."""
        t = self.target(name) or BenchmarkTarget(name)

        def pick(value: Any, default: Any) -> Any:
            return default if value is None else value

        return BenchmarkPolicy(
            name=name, enabled=self.enabled and t.enabled, models=t.models, regions=t.regions,
            samples=pick(t.samples, self.samples), max_output_tokens=pick(t.max_output_tokens, self.max_output_tokens),
            budget_per_run_usd=pick(t.budget_per_run_usd, self.budget_per_run_usd),
            budget_per_day_usd=t.budget_per_day_usd,
            allow_unknown_prices=pick(t.allow_unknown_prices, self.allow_unknown_prices),
            interval=pick(t.interval, self.interval), max_models=pick(t.max_models, self.max_models),
            timeout=self.timeout)


@dataclass(frozen=True)
class Settings:
    """Everything the service reads at start-up."""

    database_url: str = "sqlite:///discovery.db"
    host: str = "127.0.0.1"
    port: int = 8080
    # Notifier batching.
    batch_max_size: int = 100
    batch_max_delay: float = 0.05
    # Raw answers of published models read on demand, kept in memory: at most this many, this many
    # MiB; 0 s: no expiry (a change invalidates the record at once).
    model_cache_size: int = 100_000
    model_cache_mb: float = 16.0
    model_cache_ttl: float = 0.0
    # Supervision: restart backoff (seconds, doubled per restart) and restarts allowed per minute.
    restart_backoff: float = 0.5
    restart_backoff_max: float = 30.0
    max_restarts_per_minute: int = 5
    # How long a view waits for an actor to answer.
    ask_timeout: float = 5.0
    # The interpreter's thread switch interval (seconds): how long a busy thread may hold the GIL
    # before a waiting one (the notifier, an HTTP thread) gets it. 0 keeps Python's 5 ms.
    switch_interval: float = 0.001
    # glibc malloc arenas (each allocating thread gets one by default; freed memory stays in them).
    malloc_arenas: int = 2
    # The cyclic collector's threshold for full collections (the third of gc.set_threshold): how
    # many collections of the middle generation come before one of the whole heap. Python's 10
    # meant two or three full walks of the growing heap per cold start of 80 sources (50-140 ms
    # of GIL); long-lived records are frozen after large writes anyway. 0 keeps Python's.
    gc_full_threshold: int = 100
    # Refresh every provider once at start-up, before its first timer tick.
    refresh_on_start: bool = True
    # Take out of the catalog, at start, the models of a source the settings no longer name; false
    # keeps them as they were (for settings edited in steps). enabled = false takes out either way.
    retire_unconfigured: bool = True
    # Event feed, SSE and webhooks (docs/events.md). The admin token of /api/v1/subscriptions
    # comes only from DISCOVERY_ADMIN_TOKEN; repr=False keeps it out of any logged settings.
    admin_token: Optional[str] = field(default=None, repr=False)
    webhook_allow_private: bool = False
    webhook_timeout: float = 5.0
    webhook_max_attempts: int = 10
    webhook_backoff: float = 1.0
    webhook_backoff_max: float = 300.0
    webhook_workers: int = 32
    sse_heartbeat: float = 15.0
    # Event streams open at once (each a coroutine and a socket); past it a client gets 503.
    sse_max_streams: int = 5000
    # HTTP: worker threads of the Flask app (streams use none), and the largest request body (bytes).
    http_threads: int = 16
    # Worker threads of the model lists' own pool (web/server.py); 0: lists share http_threads.
    list_threads: int = 2
    max_request_body: int = 1024 * 1024
    # Reverse proxies (addresses or networks, "*" for any) whose X-Forwarded-For and
    # X-Forwarded-Proto are believed: the client they name is the one logged and checked. Empty:
    # the socket's peer is the client, and forwarding headers are only a sign of a proxy.
    trusted_proxies: tuple[str, ...] = ()
    # With it set, every read but /healthz and /readyz needs it (or the admin token). Only from
    # DISCOVERY_READ_TOKEN, never from the file.
    read_token: Optional[str] = field(default=None, repr=False)
    # Events older than this many seconds, or past the newest N, are pruned (0: keep).
    event_retention_age: float = 30 * 86400.0
    event_retention_count: int = 1_000_000
    event_retention_interval: float = 3600.0
    demo: bool = False
    # Logs on stderr: "text" (one line each) or "json" (one object a line: time, level, message,
    # logger, request_id, provider, run_id); level as DISCOVERY_LOG_LEVEL; one access line per request.
    log_format: str = "text"
    log_level: str = "INFO"
    access_log: bool = True
    # Order in which catalogs fill what a live list leaves unknown (source names, then
    # "heuristic"); empty: models.dev-format sources, then LiteLLM-format ones, then the id heuristic.
    enrichment_precedence: tuple[str, ...] = ()
    # Publish models that only a catalog lists (marked live=false).
    include_catalog_only: bool = True
    # A model a live list leaves out is "missing", not removed, until it has been left out of more
    # than this many answers in a row (0: removed at once), or, when missing_grace_seconds is set,
    # until it has been missing that long. Back within the grace: nothing is announced.
    missing_grace_refreshes: int = 1
    missing_grace_seconds: float = 0.0
    # Reconciliation: numeric values (prices, limits) whose sources differ by more than this
    # fraction are conflicts; capability flags conflict whenever they differ.
    reconciliation_tolerance: float = 0.05
    # retiring_soon: announced once per model and horizon (days before its retirement or
    # deprecation date); lifecycle_check_interval: how often dates are checked (seconds).
    retiring_horizons: tuple[int, ...] = (90, 30, 7)
    lifecycle_check_interval: float = 3600.0
    # Several instances on one PostgreSQL database (docs/replicas.md): this instance's name in the
    # leadership row and logs (empty: "<hostname>:<pid>"); a follower takes over within
    # leader_takeover_seconds of the leader's death; every leader_check_interval seconds a follower
    # tries the lock and the leader checks its lock connection and its epoch.
    instance_id: str = ""
    leader_takeover_seconds: float = 5.0
    leader_check_interval: float = 1.0
    bedrock: BedrockSettings = field(default_factory=BedrockSettings)
    benchmarks: BenchmarkSettings = field(default_factory=BenchmarkSettings)
    providers: tuple[ProviderConfig, ...] = ()
    # With no [providers.*] table: the providers the automatic choice left out only because their
    # key's variable is unset, as (name, variable). Not a setting: what load_settings found.
    providers_without_key: tuple[tuple[str, str], ...] = ()

    def provider(self, name: str) -> ProviderConfig:
        """The provider configured under ``name``; KeyError if none is."""
        for p in self.providers:
            if p.name == name:
                return p
        raise KeyError(name)

    def unconfigured(self, source: str, regions: Optional[Iterable[str]] = None) -> Optional[str]:
        """Why this service does not refresh ``source`` (said in the history of its models), or None
        when it does: an enabled provider, or a watched Bedrock region. ``regions``: the regions
        watched besides the configured ones; None with ``discover_regions`` keeps every region
        (EC2 names the watched ones after start)."""
        region = region_of(source)
        if region is None:
            found = [p for p in self.providers if p.name == source]
            if not found:
                return f"source {source} is no longer configured"
            return None if found[0].enabled else f"source {source} is disabled in the settings (enabled = false)"
        bedrock = self.bedrock
        if not bedrock.enabled:
            return f"source {source} is no longer configured (Bedrock is off)"
        if region in bedrock.regions or region in (regions or ()) or (regions is None and bedrock.discover_regions):
            return None
        return f"source {source} is no longer configured (region {region} is not watched)"

    def keeps(self, source: str, why: str) -> Optional[tuple[str, str]]:
        """For a stored source this service does not refresh (``why``: :meth:`unconfigured`), why its
        models stay as they were and how to take them out on purpose; None when they leave. A
        provider the settings turn off (``enabled = false``) always leaves."""
        if any(p.name == source for p in self.providers):
            return None
        variable = dict(self.providers_without_key).get(source)
        if variable:
            # A secret not mounted at a deploy must not empty the provider for its subscribers.
            return (f"{variable} is not set",
                    f"to take it out on purpose set {provider_env_prefix(source)}ENABLED=false; "
                    f"to refresh it again set {variable}")
        if self.bedrock.off_without_credentials and region_of(source) is not None:
            # The same for AWS credentials not mounted: Bedrock chosen by them must not empty its regions.
            return (f"no AWS credentials are in the environment ({', '.join(AWS_CREDENTIAL_ENV[:2])}, ...), "
                    "so Bedrock is off",
                    "to take Bedrock's regions out on purpose set DISCOVERY_BEDROCK_ENABLED=false; to refresh "
                    "them again set the AWS credentials")
        if not self.retire_unconfigured:
            return (f"{why}, and retire_unconfigured is false",
                    "to take it out, start once with retire_unconfigured = true (DISCOVERY_RETIRE_UNCONFIGURED=true)")
        return None


def provider_env_prefix(name: str) -> str:
    """The prefix of a provider's keys in the environment: ``DISCOVERY_PROVIDER_<NAME>_``."""
    return f"DISCOVERY_PROVIDER_{name.upper().replace('-', '_')}_"
