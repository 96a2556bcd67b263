"""The measured performance readers see: the newest summary of every benchmarked model (per region).

A (model, region) whose newest result kept no sample (access denied since, the model gone from
the region...) keeps its last summary, marked with that failure (``failed_at``, ``last_error``):
it ranks after the regions whose newest run measured, on the leaderboard and in a Bedrock model's
best regions, until a run there measures again.

The board is immutable; the catalog writer makes the next one after each benchmark commit and
swaps it into the view, so a benchmark never makes a new model version: a record's
``performance`` is spliced into its pre-encoded bytes when it is served. For a Bedrock model the
top level is its best region's numbers (lowest TTFT), and ``regions`` has every region's.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any, Optional

from discovery.benchmark.records import BenchmarkResult
from discovery.model import dumps
from discovery.timestamps import iso

# Sort and filter names the API takes -> Measured attribute; for output speed higher is better.
METRICS = {"ttft": "ttft_ms", "output_speed": "output_tokens_per_s", "latency": "latency_ms"}


@dataclass(frozen=True)
class Measured:
    """One model's newest summary in one region (None outside Bedrock)."""

    model_id: str
    provider: str
    region: Optional[str]
    kind: str
    ttft_ms: Optional[float]
    ttft_p90_ms: Optional[float]
    output_tokens_per_s: Optional[float]
    latency_ms: Optional[float]
    latency_p90_ms: Optional[float]
    samples: int
    measured_at: float
    run_id: int
    cost_usd: Optional[float]
    # The speed is not exactly the provider's: token counts estimated from the text (no usage in
    # the stream), or reasoning tokens counted with the answer's. A ranking by speed shows both.
    tokens_estimated: bool = False
    speed_includes_reasoning: bool = False
    # The newest result here kept no sample: when it was measured and why (None: it measured).
    failed_at: Optional[float] = None
    last_error: Optional[str] = None

    @classmethod
    def of_result(cls, r: BenchmarkResult) -> Optional["Measured"]:
        s = r.summary
        if s is None:
            return None
        return cls(r.model_id, r.provider, r.region, r.kind, _r(s.ttft_ms), _r(s.ttft_p90_ms),
                   _r(s.output_tokens_per_s), _r(s.latency_ms), _r(s.latency_p90_ms), s.samples, r.measured_at,
                   r.run_id, r.cost_usd, bool(s.tokens_estimated),
                   any(x.speed_includes_reasoning for x in r.samples))

    @classmethod
    def of_row(cls, d: Mapping[str, Any]) -> "Measured":
        p90 = d.get("p90") or {}
        samples = d.get("samples") or []
        return cls(d["model_id"], d["provider"], d.get("region"), d.get("kind") or "chat", _r(d.get("ttft_ms")),
                   _r(p90.get("ttft_ms")), _r(d.get("output_tokens_per_s")), _r(d.get("latency_ms")),
                   _r(p90.get("latency_ms")), int(d.get("sample_count") or 0), float(d.get("measured_at") or 0.0),
                   int(d.get("run_id") or 0), d.get("cost_usd"), bool(d.get("tokens_estimated")),
                   any(isinstance(x, Mapping) and x.get("speed_includes_reasoning") for x in samples),
                   d.get("failed_at"), d.get("last_error"))

    def failed(self, result: BenchmarkResult) -> "Measured":
        """This summary, marked with a later ``result`` that kept no sample."""
        return replace(self, failed_at=result.measured_at, last_error=result.error)

    def key(self) -> Optional[float]:
        """What "best" means for the model's kind: lowest TTFT for chat, lowest latency for embeddings."""
        return self.ttft_ms if self.kind == "chat" else self.latency_ms

    def rank(self) -> tuple:
        """Best first: measured by its newest run, then failing since, then unknown; by :meth:`key`."""
        return (self.failed_at is not None, self.key() is None, self.key() or 0.0, self.region or "")

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        del out["model_id"], out["provider"], out["kind"]
        out["measured_at"] = iso(self.measured_at)
        out["failed_at"] = iso(self.failed_at) if self.failed_at is not None else None
        return out


def _r(value: Optional[float]) -> Optional[float]:
    return None if value is None else round(float(value), 2)


@dataclass(frozen=True)
class ModelPerformance:
    """A model's newest summaries by region, its best one, and the JSON served as ``performance``."""

    model_id: str
    regions: Mapping[Optional[str], Measured]
    best: Measured
    json: bytes

    @classmethod
    def of(cls, regions: Mapping[Optional[str], Measured]) -> "ModelPerformance":
        ranked = sorted(regions.values(), key=Measured.rank)
        best = ranked[0]
        body = best.to_dict()
        if any(r is not None for r in regions):
            body["regions"] = {m.region: m.to_dict() for m in sorted(regions.values(), key=lambda m: m.region or "")}
        return cls(best.model_id, dict(regions), best, dumps(body))


class PerformanceBoard:
    """Model id -> :class:`ModelPerformance`. Never changed once published: :meth:`with_results` makes the next."""

    def __init__(self, by_model: Optional[Mapping[str, ModelPerformance]] = None):
        self._by_model: Mapping[str, ModelPerformance] = dict(by_model or {})

    @classmethod
    def from_rows(cls, rows: Iterable[Mapping[str, Any]]) -> "PerformanceBoard":
        """From stored results (the newest with samples per model and region, each with the
        ``failed_at`` and ``last_error`` of a newer result without samples, if any)."""
        grouped: dict[str, dict[Optional[str], Measured]] = {}
        for row in rows:
            m = Measured.of_row(row)
            known = grouped.setdefault(m.model_id, {})
            if m.region not in known or known[m.region].measured_at <= m.measured_at:
                known[m.region] = m
        return cls({model_id: ModelPerformance.of(regions) for model_id, regions in grouped.items()})

    def with_results(self, results: Iterable[BenchmarkResult]) -> "PerformanceBoard":
        """The board with these results' summaries in; a result without samples marks the summary
        it follows as failing since (and adds nothing where nothing was measured)."""
        changed: dict[str, dict[Optional[str], Measured]] = {}
        for result in results:
            m = Measured.of_result(result)
            current = self._by_model.get(result.model_id)
            regions = changed.get(result.model_id)
            if regions is None:
                regions = dict(current.regions) if current else {}
            if m is None:
                before = regions.get(result.region)
                if before is None or before.measured_at > result.measured_at:
                    continue
                m = before.failed(result)
            regions[m.region] = m
            changed[result.model_id] = regions
        if not changed:
            return self
        merged = dict(self._by_model)
        merged.update({model_id: ModelPerformance.of(regions) for model_id, regions in changed.items()})
        return PerformanceBoard(merged)

    def __len__(self) -> int:
        return len(self._by_model)

    def __contains__(self, model_id: object) -> bool:
        return model_id in self._by_model

    def get(self, model_id: str) -> Optional[ModelPerformance]:
        return self._by_model.get(model_id)

    def ids(self) -> list[str]:
        """Every measured model id."""
        return list(self._by_model)

    def value(self, model_id: str, metric: str) -> Optional[float]:
        """A model's best-region value of ``metric`` (``ttft``, ``output_speed``, ``latency``), or None."""
        found = self._by_model.get(model_id)
        return getattr(found.best, METRICS[metric]) if found is not None else None

    def region_ttft(self, model_id: str) -> dict[str, float]:
        """Region -> measured p50 TTFT (ms) of a Bedrock model, in the regions whose newest run
        measured (one failing since ranks as unmeasured)."""
        found = self._by_model.get(model_id)
        if found is None:
            return {}
        return {r: m.ttft_ms for r, m in found.regions.items()
                if r is not None and m.ttft_ms is not None and m.failed_at is None}

    def region_failures(self, model_id: str) -> dict[str, Measured]:
        """Region -> the summary of a Bedrock model whose newest run there kept no sample."""
        found = self._by_model.get(model_id)
        if found is None:
            return {}
        return {r: m for r, m in found.regions.items() if r is not None and m.failed_at is not None}

    def measurements(self) -> list[Measured]:
        """Every (model, region) summary: the leaderboard's rows."""
        return [m for perf in self._by_model.values() for m in perf.regions.values()]

    def splice(self, model_id: str, body: bytes) -> bytes:
        """A record's list form with ``"performance"`` added (``null`` when the model was never measured)."""
        found = self._by_model.get(model_id)
        return body[:-1] + b',"performance":' + (found.json if found is not None else b"null") + b"}"


# Leaderboard orders the API takes -> Measured attribute; '-' reverses, unknown values sort last either way.
LEADERBOARD_SORTS = {"ttft": "ttft_ms", "ttft_p90": "ttft_p90_ms", "output_speed": "output_tokens_per_s",
                     "latency": "latency_ms", "latency_p90": "latency_p90_ms", "cost": "cost_usd",
                     "measured_at": "measured_at", "model": "model_id"}


def leaderboard(board: PerformanceBoard, allowed: set[str], sort: str = "ttft", region: Optional[str] = None,
                offset: int = 0, limit: int = 100,
                max_ttft_ms: Optional[float] = None) -> tuple[list[Measured], int]:
    """A page of every (model, region) summary of the ``allowed`` models, ordered by ``sort``
    (a LEADERBOARD_SORTS name, ``-`` for descending; those whose newest run failed after the
    others, unknown values last), and the total.
    ``max_ttft_ms`` holds for each row: a model's other regions may be slower than its best."""
    descending = sort.startswith("-")
    attr = LEADERBOARD_SORTS[sort.lstrip("-")]
    rows = [m for m in board.measurements() if m.model_id in allowed and (region is None or m.region == region)
            and (max_ttft_ms is None or (m.ttft_ms is not None and m.ttft_ms <= max_ttft_ms))]
    ordered = []
    for failing in (False, True):
        known = [m for m in rows if getattr(m, attr) is not None and (m.failed_at is not None) is failing]
        known.sort(key=lambda m: (getattr(m, attr), m.model_id, m.region or ""), reverse=descending)
        ordered += known
    ordered += sorted((m for m in rows if getattr(m, attr) is None), key=lambda m: (m.model_id, m.region or ""))
    return ordered[offset:offset + limit], len(ordered)
