"""Summaries of samples (p50 and p90) and the regression rule against a trailing median."""
from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Optional

from discovery.benchmark.sample import Sample


def percentile(values: Sequence[float], q: float) -> Optional[float]:
    """The ``q`` quantile (0-1) by linear interpolation between closest ranks; None for no values."""
    ordered = sorted(values)
    if not ordered:
        return None
    at = (len(ordered) - 1) * q
    low = int(at)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (at - low)


def _known(values: Iterable[Optional[float]]) -> list[float]:
    return [v for v in values if v is not None]


def _round(value: Optional[float], digits: int = 2) -> Optional[float]:
    return None if value is None else round(value, digits)


@dataclass(frozen=True)
class Summary:
    """p50 and p90 of a result's samples; tokens are medians; the flag says if any count was estimated."""

    samples: int
    ttft_ms: Optional[float]
    ttft_p90_ms: Optional[float]
    output_tokens_per_s: Optional[float]
    output_tokens_per_s_p90: Optional[float]
    latency_ms: Optional[float]
    latency_p90_ms: Optional[float]
    input_tokens: Optional[int]
    output_tokens: Optional[int]
    tokens_estimated: bool
    # Some sample's speed counts reasoning tokens the stream did not tell apart from the answer's.
    speed_includes_reasoning: bool = False

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, float):
                out[key] = round(value, 2)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Summary":
        out = {name: data.get(name) for name in cls.__dataclass_fields__}
        out["tokens_estimated"] = bool(out["tokens_estimated"])
        out["speed_includes_reasoning"] = bool(out["speed_includes_reasoning"])  # stored before the flag: False
        return cls(**out)  # type: ignore[arg-type]


def summarize(samples: Sequence[Sample]) -> Optional[Summary]:
    """The summary of some samples; None when there are none."""
    if not samples:
        return None
    ttft = _known(s.ttft_ms for s in samples)
    speed = _known(s.output_tokens_per_s for s in samples)
    latency = _known(s.latency_ms for s in samples)
    inputs = _known(s.input_tokens for s in samples)
    outputs = _known(s.output_tokens for s in samples)
    # For output speed the slow tail is the low one: its "p90" is the 10th percentile.
    return Summary(samples=len(samples), ttft_ms=percentile(ttft, 0.5), ttft_p90_ms=percentile(ttft, 0.9),
                   output_tokens_per_s=percentile(speed, 0.5), output_tokens_per_s_p90=percentile(speed, 0.1),
                   latency_ms=percentile(latency, 0.5), latency_p90_ms=percentile(latency, 0.9),
                   input_tokens=int(statistics.median(inputs)) if inputs else None,
                   output_tokens=int(statistics.median(outputs)) if outputs else None,
                   tokens_estimated=any(s.tokens_estimated for s in samples),
                   speed_includes_reasoning=any(s.speed_includes_reasoning for s in samples))


# Metric name -> (Summary field, True when a higher value is worse).
REGRESSION_METRICS = {"ttft_ms": ("ttft_ms", True), "output_tokens_per_s": ("output_tokens_per_s", False)}


def regressions(previous: Sequence[Summary], current: Summary, threshold: float) -> dict[str, dict[str, Any]]:
    """The metrics on which ``current`` is worse than the median of ``previous`` by more than ``threshold``.

    Worse by ``threshold`` 0.5 means TTFT 1.5 times the trailing median, or output speed below the
    median divided by 1.5, so a doubled TTFT and a halved speed count alike. Empty when there is
    no history or nothing moved that far.
    """
    out: dict[str, dict[str, Any]] = {}
    for metric, (name, higher_is_worse) in REGRESSION_METRICS.items():
        now = getattr(current, name)
        history = _known(getattr(p, name) for p in previous)
        if now is None or not history:
            continue
        baseline = statistics.median(history)
        if baseline <= 0 or now <= 0:
            continue
        worse = now / baseline if higher_is_worse else baseline / now
        if worse >= 1 + threshold:
            out[metric] = {"baseline": _round(baseline), "now": _round(now), "worse_by": _round(worse - 1, 3)}
    return out
