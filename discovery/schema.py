"""Every table of the store, on one peewee ``db``: the catalog's, the benchmarks', leadership's
and the webhooks'. :mod:`discovery.store` reads and writes them (and re-exports these names);
:mod:`discovery.subscriptions_store` holds the webhooks' own queries.

``db`` is a :class:`peewee.DatabaseProxy` that :func:`discovery.store.open_database` initializes.
"""
from __future__ import annotations

from typing import Any, Optional

import peewee

from discovery.model import dumps, loads

db = peewee.DatabaseProxy()

# A refresh or benchmark run's outcome.
RUNNING, SUCCEEDED, FAILED, INTERRUPTED = "running", "succeeded", "failed", "interrupted"


class JSONText(str):
    """Already-serialized JSON: written as it is (models serialize themselves once)."""


class JSONField(peewee.TextField):
    """JSON stored as text: portable across SQLite and PostgreSQL. Bytes are taken as encoded JSON."""

    def db_value(self, value: Any) -> Optional[str]:
        if value is None:
            return None
        if isinstance(value, JSONText):
            return str(value)
        if isinstance(value, (bytes, bytearray)):
            return value.decode()
        return dumps(value, sort_keys=True).decode()

    def python_value(self, value: Optional[str]) -> Any:
        return None if value is None else loads(value)


class EncodedJSONField(peewee.TextField):
    """JSON stored as text and handed back as the stored text's bytes, never decoded here."""

    def db_value(self, value: Any) -> Optional[str]:
        if value is None:
            return None
        if isinstance(value, (bytes, bytearray)):
            return value.decode()
        return str(value)

    def python_value(self, value: Any) -> Optional[bytes]:
        if value is None:
            return None
        return value.encode() if isinstance(value, str) else bytes(value)


class BaseModel(peewee.Model):
    class Meta:
        database = db
        legacy_table_names = False


class ProviderRow(BaseModel):
    """One configured source and how it last went."""

    name = peewee.CharField(primary_key=True)
    format = peewee.CharField()
    is_catalog = peewee.BooleanField(default=False)
    status = peewee.CharField(default="unknown")
    status_reason = peewee.TextField(null=True)
    last_refresh_at = peewee.FloatField(null=True)
    last_success_at = peewee.FloatField(null=True)
    last_error = peewee.TextField(null=True)
    model_count = peewee.IntegerField(default=0)
    # Hash of the last accepted answer's body (with the normalizer's salt): an equal body costs nothing.
    body_hash = peewee.CharField(null=True, max_length=64)
    # A live provider's name in the catalogs (its catalog_provider option, else its format's), kept
    # so that its models, kept when the settings no longer name it, still merge as they did.
    catalog_name = peewee.TextField(null=True)
    # The provider asked not to be called before this time (a 429's or 503's wait), and the answer
    # that asked: kept so that a restart, or a crashed actor's, does not call it again sooner.
    asked_until = peewee.FloatField(null=True)
    asked_by = peewee.TextField(null=True)

    class Meta:
        table_name = "providers"


class ModelRow(BaseModel):
    """The current version of each published model: its list form and provenance, as served.

    The raw answer is not repeated here: it is the ``raw`` of the source row the model's record
    came from (``source``, ``id``), read on demand.
    """

    id = peewee.CharField(primary_key=True, max_length=512)
    provider = peewee.CharField(index=True)
    source = peewee.CharField(null=True)
    live = peewee.BooleanField(default=True)
    content_hash = peewee.CharField(max_length=64)
    version = peewee.IntegerField(default=1)
    body = EncodedJSONField()
    provenance = EncodedJSONField()
    # ``body`` deflated as the catalog keeps it in memory, behind a check of the body it was made
    # from (discovery.entry.stored_pack): a restart takes it as it is instead of packing again.
    packed = peewee.BlobField(null=True)
    first_seen = peewee.FloatField()
    updated_at = peewee.FloatField()

    class Meta:
        table_name = "models"


class SourceModelRow(BaseModel):
    """Each source's own last good answer, so the merged catalog can be rebuilt after a restart.

    ``data`` is the normalized record (without the raw answer), ``raw`` the provider's own JSON
    for it, ``fingerprint`` the hash of what it was normalized from (an equal item next time is
    not normalized again).
    """

    source = peewee.CharField()
    model_id = peewee.CharField(max_length=512)
    content_hash = peewee.CharField(max_length=64)
    fingerprint = peewee.CharField(null=True, max_length=64)
    data = EncodedJSONField()
    raw = EncodedJSONField(null=True)
    # The record's list form deflated as kept in memory, checked against ``data`` as in ModelRow.
    packed = peewee.BlobField(null=True)

    class Meta:
        table_name = "source_models"
        primary_key = peewee.CompositeKey("source", "model_id")


class RefreshRunRow(BaseModel):
    """One refresh attempt of one source."""

    id = peewee.AutoField()
    provider = peewee.CharField(index=True)
    trigger = peewee.CharField(default="timer")
    started_at = peewee.FloatField()
    finished_at = peewee.FloatField(null=True)
    outcome = peewee.CharField(default=RUNNING, index=True)
    total = peewee.IntegerField(null=True)
    added = peewee.IntegerField(default=0)
    updated = peewee.IntegerField(default=0)
    removed = peewee.IntegerField(default=0)
    error = peewee.TextField(null=True)
    duration_ms = peewee.FloatField(null=True)
    # The request and body read, and everything after the body was read until the commit ended.
    fetch_ms = peewee.FloatField(null=True)
    work_ms = peewee.FloatField(null=True)
    # Records left out for breaking a limit (discovery/limits.py), and the first reasons.
    rejected = peewee.IntegerField(default=0)
    rejections = JSONField(null=True)
    # The leadership epoch of the instance that started the run (docs/replicas.md).
    epoch = peewee.IntegerField(null=True)

    class Meta:
        table_name = "refresh_runs"
        # A source's last successful run before a time is one seek (discovery/history.py
        # last_answers, read by every past record): runs are kept for the retention age, a
        # quarter of a million rows at 80 sources refreshed every 15 minutes for 30 days.
        indexes = ((("provider", "outcome", "finished_at"), False),)


class ModelVersionRow(BaseModel):
    """Append-only: every version of every model, with its diff."""

    id = peewee.AutoField()
    model_id = peewee.CharField(index=True, max_length=512)
    version = peewee.IntegerField()
    change = peewee.CharField()
    content_hash = peewee.CharField(max_length=64)
    data = JSONField()
    diff = JSONField(null=True)
    run = peewee.ForeignKeyField(RefreshRunRow, null=True, on_delete="SET NULL", backref="versions")
    created_at = peewee.FloatField()
    # Why the version was made when its run alone does not say (a source the settings no longer name).
    reason = peewee.TextField(null=True)

    class Meta:
        table_name = "model_versions"
        # (created_at, id): a time resolves to its point in history with one index seek.
        indexes = ((("model_id", "version"), True), (("created_at", "id"), False))


class EventRow(BaseModel):
    """The outbox: every change event, ids monotonically increasing."""

    id = peewee.AutoField()
    kind = peewee.CharField(index=True)
    provider = peewee.CharField(null=True, index=True)
    model_id = peewee.CharField(null=True, max_length=512)
    run_id = peewee.IntegerField(null=True)
    created_at = peewee.FloatField()
    data = JSONField()
    # The leadership epoch of the instance that wrote the event.
    epoch = peewee.IntegerField(null=True)

    class Meta:
        table_name = "events"


class MetaRow(BaseModel):
    """Small facts about the store itself (the settings the stored catalog was merged under)."""

    key = peewee.CharField(primary_key=True, max_length=64)
    value = peewee.TextField(null=True)

    class Meta:
        table_name = "meta"


class BenchmarkRunRow(BaseModel):
    """One benchmark run of one provider (of one region for Bedrock): what it probed and spent."""

    id = peewee.AutoField()
    provider = peewee.CharField(index=True)
    region = peewee.CharField(null=True)
    trigger = peewee.CharField(default="timer")
    started_at = peewee.FloatField()
    finished_at = peewee.FloatField(null=True)
    outcome = peewee.CharField(default=RUNNING, index=True)
    planned = peewee.IntegerField(default=0)
    probed = peewee.IntegerField(default=0)
    requests = peewee.IntegerField(default=0)
    spend_usd = peewee.FloatField(default=0.0)
    skipped = JSONField(null=True)
    stopped_reason = peewee.TextField(null=True)
    error = peewee.TextField(null=True)

    class Meta:
        table_name = "benchmark_runs"


class BenchmarkResultRow(BaseModel):
    """Append-only: one model measured in one run (per region for Bedrock); p50 columns, p90 and samples in data."""

    id = peewee.AutoField()
    run_id = peewee.IntegerField(index=True)
    model_id = peewee.CharField(max_length=512)
    provider = peewee.CharField()
    region = peewee.CharField(null=True)
    kind = peewee.CharField()
    measured_at = peewee.FloatField()
    samples = peewee.IntegerField(default=0)
    failures = peewee.IntegerField(default=0)
    ttft_ms = peewee.FloatField(null=True)
    output_tokens_per_s = peewee.FloatField(null=True)
    latency_ms = peewee.FloatField(null=True)
    input_tokens = peewee.IntegerField(null=True)
    output_tokens = peewee.IntegerField(null=True)
    tokens_estimated = peewee.BooleanField(default=False)
    cost_usd = peewee.FloatField(null=True)
    error = peewee.TextField(null=True)
    data = JSONField()

    class Meta:
        table_name = "benchmark_results"
        indexes = ((("model_id", "region", "id"), False),)


class LifecycleNoticeRow(BaseModel):
    """A retiring_soon notice given: one per model, kind of date and horizon (see discovery.lifecycle)."""

    model_id = peewee.CharField(max_length=512)
    kind = peewee.CharField(max_length=16)  # retirement | deprecation
    horizon = peewee.IntegerField()
    date = peewee.CharField(max_length=32)
    created_at = peewee.FloatField()

    class Meta:
        table_name = "lifecycle_notices"
        indexes = ((("model_id", "kind", "horizon"), True),)


class LeadershipRow(BaseModel):
    """The one row (id 1) naming the leader and its epoch, the fencing token every write checks."""

    id = peewee.IntegerField(primary_key=True)
    epoch = peewee.IntegerField(default=0)
    instance = peewee.CharField(null=True, max_length=200)
    acquired_at = peewee.FloatField(null=True)

    class Meta:
        table_name = "leadership"


class LeaderRequestRow(BaseModel):
    """A mutation a follower hands to the leader (refresh, webhook admin, benchmark run...).

    ``state`` goes pending → accepted → done (or failed); ``reply`` holds the answer of each step.
    """

    id = peewee.AutoField()
    op = peewee.CharField(max_length=64)
    args = JSONField()
    state = peewee.CharField(default="pending", max_length=16, index=True)
    reply = JSONField(null=True)
    instance = peewee.CharField(max_length=200)
    created_at = peewee.FloatField()
    updated_at = peewee.FloatField(null=True)

    class Meta:
        table_name = "leader_requests"


TABLES = [ProviderRow, ModelRow, SourceModelRow, RefreshRunRow, ModelVersionRow, EventRow, MetaRow,
          BenchmarkRunRow, BenchmarkResultRow, LifecycleNoticeRow, LeadershipRow, LeaderRequestRow]


# -- webhooks -----------------------------------------------------------------------------------
ACTIVE, PAUSED, DEAD_LETTER = "active", "paused", "dead_letter"
STATES = (ACTIVE, PAUSED, DEAD_LETTER)


class WebhookRow(BaseModel):
    """One webhook subscription: where to POST, what to send, and how far it has got."""

    id = peewee.CharField(primary_key=True, max_length=40)
    url = peewee.TextField()
    secret = peewee.TextField()
    filter = JSONField()
    max_batch = peewee.IntegerField(default=100)
    max_delay = peewee.FloatField(default=0.0)
    description = peewee.TextField(null=True)
    state = peewee.CharField(default=ACTIVE, index=True)
    cursor = peewee.BigIntegerField(default=0)
    # Consecutive failed attempts of the batch after the cursor (0 after a success).
    attempts = peewee.IntegerField(default=0)
    last_error = peewee.TextField(null=True)
    last_attempt_at = peewee.FloatField(null=True)
    last_success_at = peewee.FloatField(null=True)
    next_attempt_at = peewee.FloatField(null=True)
    dead_lettered_at = peewee.FloatField(null=True)
    delivered_events = peewee.BigIntegerField(default=0)
    created_at = peewee.FloatField()

    class Meta:
        table_name = "webhooks"


class DeliveryRow(BaseModel):
    """One delivery attempt (a batch POST) and how it ended; the newest are shown by the API."""

    id = peewee.AutoField()
    webhook = peewee.ForeignKeyField(WebhookRow, on_delete="CASCADE", backref="deliveries")
    delivery_id = peewee.CharField(max_length=64)
    attempt = peewee.IntegerField()
    first_event_id = peewee.BigIntegerField(null=True)
    last_event_id = peewee.BigIntegerField(null=True)
    event_count = peewee.IntegerField(default=0)
    outcome = peewee.CharField()  # delivered | failed
    status_code = peewee.IntegerField(null=True)
    error = peewee.TextField(null=True)
    duration_ms = peewee.FloatField(null=True)
    created_at = peewee.FloatField(index=True)

    class Meta:
        table_name = "webhook_deliveries"


WEBHOOK_TABLES = [WebhookRow, DeliveryRow]
