"""Which of a provider's models a run probes, and why each other candidate is left out.

A candidate matches one of the target's globs (canonical id or the provider's own id). It is
probed only if the provider lists it live (catalog-only models never are), it is a chat or
embedding model that is not retired, its wire format can probe its kind, it has catalog prices
(unless ``allow_unknown_prices``), for Bedrock the region can call it, and the run's
``max_models`` is not yet reached. Everything else matched is listed as skipped with the reason.
"""
from __future__ import annotations

import fnmatch
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from typing import Optional

from discovery.benchmark.budget import has_prices
from discovery.model import Model
from discovery.settings import BenchmarkPolicy

KINDS = ("chat", "embedding")
MAX_SKIPPED_LISTED = 100


@dataclass(frozen=True)
class ModelPlan:
    """One model to probe: as what kind, by which id (a Bedrock profile, say), in which region."""

    model: Model
    kind: str
    invoked_id: str
    region: Optional[str] = None


@dataclass(frozen=True)
class RunPlan:
    """The models a run probes, in order, and the candidates it leaves out with the reason."""

    models: tuple[ModelPlan, ...]
    skipped: tuple[tuple[str, str], ...]


def matches(policy: BenchmarkPolicy, model_id: str, own_id: str) -> bool:
    """Whether a model is one of the target's globs."""
    return any(fnmatch.fnmatchcase(model_id, g) or fnmatch.fnmatchcase(own_id, g) for g in policy.models)


def plan_run(models: Iterable[Model], policy: BenchmarkPolicy, *, region: Optional[str] = None,
             only: Optional[Collection[str]] = None, embeds: bool = True,
             invoke_as: Optional[Callable[[Model], Optional[str]]] = None) -> RunPlan:
    """The run's plan over ``models`` (one provider's, or Bedrock's in ``region``).

    ``only`` limits it to those ids (a manual run); ``embeds`` says whether the format can probe
    embedding models; ``invoke_as`` gives the id to call a model by (None: not callable here).
    """
    chosen: list[ModelPlan] = []
    skipped: list[tuple[str, str]] = []
    for m in sorted(models, key=lambda m: m.id):
        if only is not None and m.id not in only:
            continue
        if region is not None and region not in (m.regions or ()):
            if only is not None:
                skipped.append((m.id, f"not available in {region}"))
            continue
        if not matches(policy, m.id, m.provider_model_id):
            if only is not None:
                skipped.append((m.id, f"not matched by benchmarks.providers.{policy.name}.models"))
            continue
        reason = refusal(m, policy, embeds)
        invoked = m.provider_model_id
        if reason is None and invoke_as is not None:
            found = invoke_as(m)
            if found is None:
                reason = f"no way to call it in {region} (neither on demand nor through an inference profile)"
            else:
                invoked = found
        if reason is None and len(chosen) >= policy.max_models:
            reason = f"max_models ({policy.max_models}) reached"
        if reason is None:
            chosen.append(ModelPlan(m, m.kind or "chat", invoked, region))
        else:
            skipped.append((m.id, reason))
    return RunPlan(tuple(chosen), tuple(skipped[:MAX_SKIPPED_LISTED]))


def refusal(m: Model, policy: BenchmarkPolicy, embeds: bool = True) -> Optional[str]:
    """Why the model can never be probed (catalog-only, its kind, retired, unpriced), or None.

    Globs, regions and ``max_models`` are not its business; a manual run asks it up front.
    """
    if not m.live:
        return "known only from a catalog: catalog-only models are never probed"
    if m.kind not in KINDS:
        return f"kind {m.kind or 'unknown'} is not benchmarked (chat and embedding only)"
    if m.lifecycle.status == "retired":
        return "retired"
    if m.kind == "embedding" and not embeds:
        return "this wire format has no embedding API"
    if not has_prices(m.pricing, m.kind) and not policy.allow_unknown_prices:
        return "no catalog price (allow_unknown_prices is off)"
    return None
