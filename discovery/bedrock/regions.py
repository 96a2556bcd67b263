"""Bedrock's regions as sources: their names, the region errors, the latency average and the
status board."""
from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from discovery.providers.errors import ProviderError
from discovery.sources import (  # noqa: F401 (source_name and region_of are re-exported)
    AWS_REGION_NAME,
    BEDROCK_PROVIDER,
    BEDROCK_SOURCE_PREFIX,
    region_of,
    source_name,
)

PROVIDER = BEDROCK_PROVIDER
SOURCE_PREFIX = BEDROCK_SOURCE_PREFIX
REGION_NAME = AWS_REGION_NAME


def canonical_id(model_id: str) -> str:
    """``bedrock/<modelId>`` for a bare Bedrock model id; a canonical id is returned as it is."""
    return model_id if model_id.startswith(f"{PROVIDER}/") else f"{PROVIDER}/{model_id}"


def endpoint_for(template: str | None, region: str) -> str | None:
    """The endpoint URL for ``region`` from a ``{region}`` template; None means AWS's own endpoint."""
    return template.format(region=region) if template else None


class RegionUnavailable(ProviderError):
    """Bedrock is not offered in the region, or the account has no access there: rechecked slowly."""

    kind = "unavailable"


class UnknownBedrockModel(KeyError):
    """No Bedrock model (or inference profile) with that id is in the catalog."""

    def __str__(self) -> str:
        return f"no Bedrock model {self.args[0]!r} in the catalog"


# -- latency -------------------------------------------------------------------------------------
class Ewma:
    """An exponentially weighted moving average of call latencies (seconds); thread-safe."""

    def __init__(self, alpha: float = 0.3):
        if not 0 < alpha <= 1:
            raise ValueError("alpha must be in (0, 1]")
        self.alpha = alpha
        self.value: float | None = None
        self.samples = 0
        self._lock = threading.Lock()

    def add(self, seconds: float) -> float:
        """Fold one measurement in; returns the new average."""
        with self._lock:
            self.value = seconds if self.value is None else self.alpha * seconds + (1 - self.alpha) * self.value
            self.samples += 1
            return self.value


# -- region status -------------------------------------------------------------------------------
@dataclass(frozen=True)
class RegionStatus:
    """How one region is doing, as ``GET /api/v1/bedrock/regions`` shows it."""

    region: str
    status: str = "starting"  # starting | available | failing | circuit_open | unavailable
    reason: str | None = None
    latency: float | None = None  # EWMA, seconds
    latency_samples: int = 0
    model_count: int | None = None
    profile_count: int | None = None
    last_error: str | None = None
    last_refresh_at: float | None = None
    last_success_at: float | None = None
    next_refresh_at: float | None = None
    # The last health check between refreshes (BedrockSettings.health_check_interval).
    last_check_at: float | None = None
    breaker_state: str | None = "closed"  # None once given up: the breaker went with the actor
    refreshing: bool = False
    # As a provider's row has them (GET /api/v1/providers): the run under way, the breaker's count,
    # failed refreshes in a row, and the last run's outcome (RefreshOutcome.to_dict; never changed).
    refreshing_run: int | None = None
    fail_counter: int = 0
    breaker_next_try_at: float | None = None  # while the breaker is open: when it lets a call through
    # The supervisor stopped restarting the region's actor (it kept crashing): never refreshed again.
    given_up: bool = False
    consecutive_failures: int = 0
    last_outcome: Mapping[str, Any] | None = None

    @property
    def healthy(self) -> bool:
        """Whether the region's last refresh succeeded."""
        return self.status == "available"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "RegionStatus":
        """A status from its JSON form (:meth:`to_dict`; a follower's, relayed from the leader)."""
        known = {k: data[k] for k in _STATUS_FIELDS if k in data and k != "latency"}
        latency_ms = data.get("latency_ms")
        return cls(**known, latency=latency_ms / 1000 if isinstance(latency_ms, (int, float)) else None)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form, latency in milliseconds."""
        # Every field but last_outcome (a dict no one changes) is a scalar: a plain dict of them, not
        # asdict's deep copy (the board is read whole by GET /api/v1/bedrock/regions and by each
        # poll of the region list).
        out = {name: getattr(self, name) for name in _STATUS_FIELDS}
        out["source"] = source_name(self.region)
        out["latency_ms"] = round(self.latency * 1000, 1) if self.latency is not None else None
        del out["latency"]
        return out


_STATUS_FIELDS = tuple(f.name for f in fields(RegionStatus))


class RegionBoard:
    """The newest status of every region, swapped as a whole so readers never wait on writers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._statuses: Mapping[str, RegionStatus] = {}

    def publish(self, status: RegionStatus) -> None:
        """Replace one region's status."""
        with self._lock:
            statuses = dict(self._statuses)
            statuses[status.region] = status
            self._statuses = statuses

    def snapshot(self) -> Mapping[str, RegionStatus]:
        """Every region's status (a reference read; never changed after it is published)."""
        return self._statuses

    def get(self, region: str) -> RegionStatus | None:
        """One region's status, or None if it is not watched."""
        return self._statuses.get(region)
