"""Counters of what happened in one running service, for ``GET /metrics``.

Only what no state already holds is counted here: refresh outcomes and durations, change
events, webhook deliveries. Everything that is state (models, breakers, health, streams, the
record cache, benchmark summaries) is read at scrape time by :mod:`web.metrics` instead.
The metric objects belong to no registry: each app's registry yields them through its own
collector, so many services (and apps) can live in one process (tests).
"""
from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import Counter, Histogram
from prometheus_client.metrics_core import Metric

from discovery.diff import EVENT_KINDS

# A refresh is one list call (or a few pages) and a commit: tens of milliseconds to a minute.
REFRESH_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


class Telemetry:
    """The service's own counters; thread-safe (prometheus_client locks each child)."""

    def __init__(self) -> None:
        self.refresh_duration = Histogram(
            "discovery_refresh_duration_seconds", "Time from a refresh's start to its outcome (fetch and commit).",
            ["provider"], buckets=REFRESH_BUCKETS, registry=None)
        self.refreshes = Counter(
            "discovery_refreshes", "Refresh runs that ended, by provider (or Bedrock region) and outcome.",
            ["provider", "outcome"], registry=None)
        self.change_events = Counter(
            "discovery_change_events", "Change events committed to the feed, by kind.", ["kind"], registry=None)
        self.webhook_deliveries = Counter(
            "discovery_webhook_deliveries", "Webhook POSTs that ended, by outcome (delivered, failed).",
            ["outcome"], registry=None)
        self.webhook_retries = Counter(
            "discovery_webhook_retries", "Webhook POSTs that were a retry of a failed delivery.", registry=None)
        self.webhook_dead_letters = Counter(
            "discovery_webhook_dead_letters", "Webhook subscriptions moved to dead letter.", registry=None)
        self.store_write_failures = Counter(
            "discovery_store_write_failures", "Commits of providers' answers the database refused (disk full, "
            "connection lost, ...): the providers answered, the store did not take it.", registry=None)
        # Known label values start at 0, so a rate is defined from the first scrape on.
        for kind in EVENT_KINDS:
            self.change_events.labels(kind)
        for outcome in ("delivered", "failed"):
            self.webhook_deliveries.labels(outcome)

    def refresh_finished(self, provider: str, outcome: str, seconds: float) -> None:
        """One refresh run ended (``outcome``: succeeded, failed, interrupted)."""
        self.refreshes.labels(provider, outcome).inc()
        self.refresh_duration.labels(provider).observe(max(0.0, seconds))

    def events_committed(self, kinds: Iterator[str]) -> None:
        """Change events were committed (one kind per event)."""
        counts: dict[str, int] = {}
        for kind in kinds:
            counts[kind] = counts.get(kind, 0) + 1
        for kind, n in counts.items():
            self.change_events.labels(kind).inc(n)

    def delivery_finished(self, ok: bool, attempt: int, dead_lettered: bool) -> None:
        """A webhook POST ended: its outcome, whether it was a retry, and whether it dead-lettered."""
        self.webhook_deliveries.labels("delivered" if ok else "failed").inc()
        if attempt > 1:
            self.webhook_retries.inc()
        if dead_lettered:
            self.webhook_dead_letters.inc()

    def collect(self) -> Iterator[Metric]:
        """Every counter's current family (called by a registry's collector at scrape time)."""
        for metric in (self.refresh_duration, self.refreshes, self.change_events, self.webhook_deliveries,
                       self.webhook_retries, self.webhook_dead_letters, self.store_write_failures):
            yield from metric.collect()
