"""``GET /metrics``: the service in Prometheus text format, from a registry private to each app.

Most of it is state read at scrape time (:class:`ServiceCollector`): models per provider and
kind, each provider's health status and breaker state, open event streams, the model-record
cache, benchmark summaries, build info. What no state holds is counted by
:class:`actors.telemetry.Telemetry` (refreshes, change events, webhook deliveries) and by the
HTTP layer (:attr:`AppMetrics.http_duration`, observed by :mod:`web.access` for every request).
Names carry the ``discovery_`` prefix and base units; labels stay low-cardinality (providers,
kinds, URL rules, benchmarked models).
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import prometheus_client
from flask import Blueprint, Flask, Response, current_app
from loguru import logger
from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from discovery.build import metric_labels
from discovery.entry import facet_kind, facet_provider
from discovery.health import DEGRADED, HEALTHY, MISCONFIGURED, RATE_LIMITED, UNAVAILABLE, UNHEALTHY, UNKNOWN
from discovery.model import KINDS

# One sample per series is enough: the *_created series would double the output for nothing.
prometheus_client.disable_created_metrics()

bp = Blueprint("metrics", __name__)
EXTENSION = "discovery.metrics"
# Every status a provider (or Bedrock region) reports, so each series exists from the first scrape.
STATUSES = (HEALTHY, DEGRADED, UNHEALTHY, RATE_LIMITED, UNAVAILABLE, MISCONFIGURED, UNKNOWN, "failed",
            "restarting", "unresponsive")
BREAKER_STATES = ("closed", "open", "half-open")


class ServiceCollector(Collector):
    """Reads the running service's state when Prometheus scrapes."""

    def __init__(self, service: Any):
        self.service = service

    def collect(self) -> Iterator[Metric]:
        svc = self.service
        yield InfoMetricFamily("discovery_build", "The running service's version.", value=metric_labels())
        yield from self._catalog(svc)
        yield from self._providers(svc)
        streams = GaugeMetricFamily("discovery_sse_streams_open", "Event streams (SSE) open now.")
        streams.add_metric([], svc.open_streams() if hasattr(svc, "open_streams") else 0)
        yield streams
        yield from self._cache(svc)
        yield from self._benchmarks(svc)
        if hasattr(svc, "replication_status"):
            yield from self._role(svc)
        view = getattr(svc, "view", None)
        if view is not None and hasattr(view, "telemetry"):
            yield from view.telemetry.collect()

    @staticmethod
    def _role(svc: Any) -> Iterator[Metric]:
        """This instance's role (docs/replicas.md): leader or not, the epoch, a follower's lag."""
        status = svc.replication_status()
        leader = GaugeMetricFamily("discovery_leader", "1 on the leader instance, 0 on a follower.",
                                   labels=["instance"])
        leader.add_metric([status["instance"]], 1 if status["role"] == "leader" else 0)
        yield leader
        epoch = (status.get("leader") or {}).get("epoch")
        if epoch is not None:
            yield GaugeMetricFamily("discovery_leader_epoch", "The leadership epoch the store names.", value=epoch)
        yield GaugeMetricFamily("discovery_follower_lag_events",
                                "Committed events this follower has not applied yet (0 on the leader).",
                                value=status["lag"]["events"])
        yield GaugeMetricFamily("discovery_follower_lag_seconds",
                                "How long the oldest unapplied commit has waited (0 on the leader).",
                                value=status["lag"]["seconds"])

    @staticmethod
    def _catalog(svc: Any) -> Iterator[Metric]:
        index = svc.index
        total = GaugeMetricFamily("discovery_catalog_models", "Models in the published catalog.")
        total.add_metric([], len(index))
        yield total
        version = GaugeMetricFamily("discovery_catalog_version", "Version of the published catalog.")
        version.add_metric([], index.version)
        yield version
        published = GaugeMetricFamily("discovery_catalog_published_timestamp_seconds",
                                      "When the published catalog was built (Unix time).")
        published.add_metric([], index.built_at)
        yield published
        models = GaugeMetricFamily("discovery_models", "Published models by provider and kind.",
                                   labels=["provider", "kind"])
        for provider in index.providers():
            of_provider = index.facet(facet_provider(provider))
            counted = 0
            for kind in KINDS:
                n = (of_provider & index.facet(facet_kind(kind))).bit_count()
                if n:
                    models.add_metric([provider, kind], n)
                    counted += n
            if of_provider.bit_count() > counted:
                models.add_metric([provider, "unknown"], of_provider.bit_count() - counted)
        yield models

    @staticmethod
    def _providers(svc: Any) -> Iterator[Metric]:
        status = GaugeMetricFamily("discovery_provider_status",
                                   "1 for each provider's (or Bedrock region's) current health status, else 0.",
                                   labels=["provider", "status"])
        breaker = GaugeMetricFamily("discovery_provider_breaker_state",
                                    "1 for each running provider's current circuit breaker state, else 0.",
                                    labels=["provider", "state"])
        failures = GaugeMetricFamily("discovery_provider_consecutive_failures",
                                     "Refreshes in a row that failed, per provider.", labels=["provider"])
        # For staleness alerts ("time() - this > 2 * interval"): the catalog-wide publish time says
        # nothing of one provider whose refreshes have been failing for hours.
        succeeded = GaugeMetricFamily("discovery_provider_last_success_timestamp_seconds",
                                      "When each provider's (or Bedrock region's) last refresh succeeded (Unix "
                                      "time); no series before its first success.", labels=["provider"])
        try:
            rows = svc.providers()
        except Exception as exc:  # a scrape never fails for one slow actor; the families stay empty
            logger.warning("metrics: provider states unavailable: {}: {}", type(exc).__name__, exc)
            rows = []
        for row in rows:
            name = row["name"]
            current = row.get("status") or UNKNOWN
            for value in dict.fromkeys((*STATUSES, current)):
                status.add_metric([name, value], 1.0 if value == current else 0.0)
            # Only a running actor has a breaker: one restarting, given up on or not answering has
            # none to report (its row carries no "breaker"), so it has no series rather than "closed".
            if (row.get("breaker") or {}).get("state"):
                state = row["breaker"]["state"].replace("_", "-")
                for value in dict.fromkeys((*BREAKER_STATES, state)):
                    breaker.add_metric([name, value], 1.0 if value == state else 0.0)
            if row.get("consecutive_failures") is not None:
                failures.add_metric([name], row["consecutive_failures"])
            if isinstance(row.get("last_success_at"), (int, float)):
                succeeded.add_metric([name], row["last_success_at"])
        yield status
        yield breaker
        yield failures
        yield succeeded

    @staticmethod
    def _cache(svc: Any) -> Iterator[Metric]:
        stats = svc.cache_stats()
        for name, key, doc in (("hits", "hits", "Model detail reads served from the record cache."),
                               ("misses", "misses", "Model detail reads that went to the store."),
                               ("evictions", "evictions", "Records pushed out of the cache by its bounds.")):
            family = CounterMetricFamily(f"discovery_model_cache_{name}", doc)
            family.add_metric([], stats.get(key) or 0)
            yield family
        entries = GaugeMetricFamily("discovery_model_cache_entries", "Records held in the model-record cache.")
        entries.add_metric([], stats.get("entries") or 0)
        yield entries
        size = GaugeMetricFamily("discovery_model_cache_bytes", "Bytes held in the model-record cache (entries deflated).")
        size.add_metric([], stats.get("bytes") or 0)
        yield size
        pages = svc.view.pages.stats()
        for name, doc in (("hits", "Model list queries answered with a page kept from an earlier identical query."),
                          ("misses", "Model list queries whose page was made anew.")):
            family = CounterMetricFamily(f"discovery_page_cache_{name}", doc)
            family.add_metric([], pages[name])
            yield family
        held = GaugeMetricFamily("discovery_page_cache_bytes", "Bytes of finished list pages held.")
        held.add_metric([], pages["bytes"])
        yield held
        past = svc.history_cache_stats()
        for name, doc in (("hits", "Past catalogs (as_of, /changes) answered from the cache of built ones."),
                          ("misses", "Past catalogs built from the store.")):
            family = CounterMetricFamily(f"discovery_history_cache_{name}", doc)
            family.add_metric([], past[name])
            yield family
        for name, doc in (("catalogs", "Past catalogs held in the cache."),
                          ("models", "Model entries held by the cached past catalogs (the cache's bound counts these).")):
            family = GaugeMetricFamily(f"discovery_history_cache_{name}", doc)
            family.add_metric([], past[name])
            yield family

    @staticmethod
    def _benchmarks(svc: Any) -> Iterator[Metric]:
        ttft = GaugeMetricFamily("discovery_benchmark_ttft_seconds",
                                 "Newest measured p50 time to first token, per benchmarked model and region.",
                                 labels=["model", "region"])
        speed = GaugeMetricFamily("discovery_benchmark_output_tokens_per_second",
                                  "Newest measured p50 output speed, per benchmarked model and region.",
                                  labels=["model", "region"])
        latency = GaugeMetricFamily("discovery_benchmark_latency_seconds",
                                    "Newest measured p50 end-to-end latency, per benchmarked model and region.",
                                    labels=["model", "region"])
        view = getattr(svc, "view", None)
        board = getattr(view, "performance", None)
        for m in board.measurements() if board is not None else ():
            labels = [m.model_id, m.region or ""]
            if m.ttft_ms is not None:
                ttft.add_metric(labels, round(m.ttft_ms / 1000, 6))
            if m.output_tokens_per_s is not None:
                speed.add_metric(labels, m.output_tokens_per_s)
            if m.latency_ms is not None:
                latency.add_metric(labels, round(m.latency_ms / 1000, 6))
        yield ttft
        yield speed
        yield latency


class AppMetrics:
    """One app's registry: the service collector, the HTTP request histogram and the process's own."""

    def __init__(self, service: Any):
        self.registry = CollectorRegistry()
        self.registry.register(ServiceCollector(service))
        self.http_duration = Histogram(
            "discovery_http_request_duration_seconds",
            "Time to answer an HTTP request (the event stream aside), by URL rule, method and status.",
            ["route", "method", "status"], registry=self.registry)
        prometheus_client.ProcessCollector(registry=self.registry)

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        """One answered request (called by the HTTP layer after the last byte)."""
        self.http_duration.labels(route, method, str(status)).observe(seconds)

    def render(self) -> bytes:
        return prometheus_client.generate_latest(self.registry)


def install(app: Flask, service: Any) -> AppMetrics:
    """Give ``app`` its own registry and ``GET /metrics``."""
    metrics = app.extensions[EXTENSION] = AppMetrics(service)
    app.register_blueprint(bp)
    return metrics


@bp.get("/metrics")
def metrics():
    """Every metric in Prometheus text format (version 0.0.4)."""
    body = current_app.extensions[EXTENSION].render()
    return Response(body, content_type=prometheus_client.CONTENT_TYPE_LATEST)
