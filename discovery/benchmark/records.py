"""Immutable messages a benchmark actor hands the catalog writer: results and the run they belong to."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Optional

from discovery.benchmark.sample import ProbeFailure, Sample
from discovery.benchmark.summary import Summary

RUNNING, SUCCEEDED, STOPPED, FAILED, INTERRUPTED = "running", "succeeded", "stopped", "failed", "interrupted"


@dataclass(frozen=True)
class BenchmarkResult:
    """One model measured in one run (in one region for Bedrock): its samples, failures and summary.

    ``cost_usd`` is what every request for it cost (the warm-up too); None when the model has no
    catalog price. ``error`` is set when no sample could be kept.
    """

    run_id: int
    model_id: str
    provider: str
    region: Optional[str]
    kind: str
    invoked_id: str
    measured_at: float
    samples: tuple[Sample, ...]
    failures: tuple[ProbeFailure, ...]
    summary: Optional[Summary]
    cost_usd: Optional[float]
    settings: Mapping[str, Any] = field(default_factory=dict)
    capabilities: tuple[str, ...] = ()

    @property
    def error(self) -> Optional[str]:
        """``class: message`` of the first failure when no sample was kept, else None."""
        if self.samples:
            return None
        failure = next((f for f in self.failures if not f.warmup), None) or (self.failures[0] if self.failures else None)
        return f"{failure.error_class}: {failure.message}" if failure else "no sample"

    def detail(self) -> dict[str, Any]:
        """What the store keeps beside the summary columns."""
        return {"samples": [s.to_dict() for s in self.samples], "failures": [f.to_dict() for f in self.failures],
                "settings": dict(self.settings), "invoked_id": self.invoked_id,
                "p90": ({"ttft_ms": self.summary.ttft_p90_ms, "latency_ms": self.summary.latency_p90_ms,
                         "output_tokens_per_s": self.summary.output_tokens_per_s_p90} if self.summary else None)}


@dataclass(frozen=True)
class BenchmarkRun:
    """A run's row: who, why, how far it got, what it spent, why it stopped early."""

    id: int
    provider: str
    region: Optional[str]
    trigger: str
    started_at: float
    outcome: str = RUNNING
    finished_at: Optional[float] = None
    planned: int = 0
    probed: int = 0
    requests: int = 0
    spend_usd: float = 0.0
    skipped: tuple[tuple[str, str], ...] = ()
    stopped_reason: Optional[str] = None
    error: Optional[str] = None


@dataclass(frozen=True)
class BenchmarkReport:
    """What one hand-over to the writer commits: the run's row as it now stands and new results."""

    run: BenchmarkRun
    results: tuple[BenchmarkResult, ...] = ()
