"""Benchmarking one model: a discarded warm-up, then N samples at concurrency 1, within the budgets.

Every request first asks the provider's gate (its breaker must be closed, its token bucket must
have a token), then reserves its worst-case cost; a closed gate or a spent budget stops the run
with the reason. Each outcome is reported back through the gate, so the provider's breaker counts
benchmark failures as it counts refresh failures. Plain calls: the actor adds the threads.
"""
from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Optional, Protocol

from loguru import logger

from discovery.benchmark.budget import RunBudget, dollars, request_cost, worst_case_cost
from discovery.benchmark.plan import ModelPlan
from discovery.benchmark.records import BenchmarkResult
from discovery.benchmark.sample import EMBED_TEXT, PROMPT, ProbeFailure, Sample, estimate_tokens, nonce_prompt
from discovery.benchmark.summary import summarize
from discovery.providers.errors import ProviderAuthError, ProviderError
from discovery.redaction import scrub
from discovery.settings import BenchmarkPolicy

# ModelOutcome.stopped when the service's stop ended a wait: not the run's own end (a budget, the
# breaker), so the run is left to be marked interrupted, as any run the stop cuts short.
SERVICE_STOPPED = "the service stopped"


class Gate(Protocol):
    """How a probe respects its provider: the breaker's state, the token bucket, outcome counting."""

    def closed_reason(self) -> Optional[str]:
        """Why no request may be sent now (the breaker is not closed), or None."""

    def wait_turn(self, timeout: float) -> bool:
        """Take a token from the provider's bucket, waiting up to ``timeout``; False if none came."""

    def record(self, error: Optional[BaseException]) -> None:
        """Count one request's outcome in the provider's breaker (None: it succeeded)."""


class OpenGate:
    """A gate with no breaker and no bucket (plain tests, the accuracy benchmark)."""

    def closed_reason(self) -> Optional[str]:
        return None

    def wait_turn(self, timeout: float) -> bool:
        return True

    def record(self, error: Optional[BaseException]) -> None:
        return None


@dataclass(frozen=True)
class ModelOutcome:
    """What benchmarking one model produced, and whether the run must stop (with the reason)."""

    result: Optional[BenchmarkResult]
    requests: int
    stopped: Optional[str] = None


# Error kinds that say a model cannot be called with this key here at all: a refused key
# (ProviderAuthError, "auth") and a Bedrock region without access or without the model
# (RegionUnavailable, "unavailable").
REFUSED_FOR_GOOD = frozenset({"auth", "unavailable"})


def benchmark_model(probe: Any, plan: ModelPlan, policy: BenchmarkPolicy, run_id: int, gate: Gate,
                    budget: Optional[RunBudget] = None, stopping: Optional[threading.Event] = None,
                    sending: Optional[Callable[[int], None]] = None) -> ModelOutcome:
    """Warm up, then take ``policy.samples`` samples of one model; the result has its summary.

    A 429 that says how long to wait (Retry-After, the rate-limit reset headers, Gemini's
    RetryInfo) is waited out before the next request, up to ``policy.timeout``; one asking for
    longer ends this model's samples (the next model is asked as planned). ``stopping``, once
    set (the service stopping), ends such a wait and the run. ``sending(n)`` is called before each
    request is sent, its worst case reserved (``n``: this model's requests so far, that one
    included), for the caller to store the run's spend as it goes.
    """
    model = plan.model
    chat = plan.kind == "chat"
    samples: list[Sample] = []
    failures: list[ProbeFailure] = []
    cost: Optional[float] = 0.0
    requests = 0
    stopped: Optional[str] = None
    effort: Any = {}
    cap = policy.max_output_tokens
    for attempt in range(policy.samples + 1):
        warmup = attempt == 0
        closed = gate.closed_reason()
        if closed is not None:
            stopped = closed
            break
        prompt = nonce_prompt(PROMPT) if chat else f"[{secrets.token_hex(6)}] {EMBED_TEXT}"
        req = probe.request(plan.invoked_id, plan.kind, prompt, policy.max_output_tokens, model.capabilities.reasoning)
        effort, cap = req.effort, req.max_output_tokens
        reserved = (worst_case_cost(model.pricing, prompt, req.max_output_tokens) if chat
                    else request_cost(model.pricing, estimate_tokens(prompt), 0))
        refused = budget.reserve(reserved) if budget is not None else None
        if refused is not None:
            stopped = refused
            break
        if not gate.wait_turn(policy.timeout):
            failures.append(ProbeFailure("rate_limited", "the provider's request budget (token bucket) had no "
                                                         "token in time", warmup, False, time.time()))
            if budget is not None:
                budget.settle(reserved, 0.0)
            continue
        requests += 1
        if sending is not None:
            sending(requests)
        try:
            sample = probe.chat(req) if chat else probe.embed(req)
        except ProviderError as exc:
            if isinstance(exc, ProviderAuthError) and exc.status is None:
                # No key to send (its variable is not set): refused before any request, so nothing
                # was sent or billed, and no other model of the run can be asked either.
                requests -= 1
                if budget is not None:
                    budget.settle(reserved, 0.0)
                stopped = str(exc)
                break
            gate.record(exc)
            streamed = bool(getattr(exc, "after_first_token", False))
            failures.append(ProbeFailure(exc.kind, str(exc), warmup, streamed, time.time()))
            if exc.status is not None and not streamed:
                # An error answer (a 429, a 5xx, a 404) generated nothing, and providers do not bill
                # it: it was charged at the worst case, so rate limits used up the daily budget.
                if budget is not None:
                    budget.settle(reserved, 0.0)
            else:
                # Cut off mid-answer, or no answer in time: it may have been billed, the reservation stands.
                cost = None if cost is None or reserved is None else cost + reserved
            if isinstance(exc, ProviderAuthError) and exc.status != 403:
                # The key itself refused (a 401; Gemini's 400 API_KEY_INVALID): every other model
                # of the run would be refused alike. A 403 may be this model's alone.
                failures[-1] = replace(failures[-1], message=f"{failures[-1].message}; the run stops: the key "
                                                             "was refused, no other model can be asked with it")
                stopped = f"the key was refused ({exc})"
                break
            if exc.kind in REFUSED_FOR_GOOD or (exc.status in (403, 404) and not streamed):
                # The key refused, the model denied to this account or not found, the region not
                # offering it: the next sample would be answered the same (and count in the breaker).
                failures[-1] = replace(failures[-1], message=f"{failures[-1].message}; no more samples of this model "
                                                             "in this run: another request would be refused alike")
                break
            wait = exc.retry_after if exc.status == 429 else None
            if wait:
                if wait > policy.timeout:
                    failures[-1] = replace(failures[-1], message=f"{failures[-1].message}; asked to wait {wait:g} s, "
                                                                 f"longer than the probe timeout ({policy.timeout:g} "
                                                                 "s): no more samples of this model in this run")
                    break
                if (stopping or threading.Event()).wait(wait):
                    stopped = SERVICE_STOPPED
                    break
            continue
        except Exception as exc:  # a bug in a probe: recorded, not counted against the provider
            logger.opt(exception=exc).error("benchmark probe of {} failed unexpectedly", model.id)
            # Whatever produced the text, no secret is stored or returned.
            failures.append(ProbeFailure("internal", scrub(f"{type(exc).__name__}: {exc}"), warmup, False, time.time()))
            cost = None if cost is None or reserved is None else cost + reserved
            continue
        gate.record(None)
        spent = request_cost(model.pricing, sample.input_tokens, sample.output_tokens)
        if budget is not None:
            budget.settle(reserved, spent)
        cost = None if cost is None or spent is None else cost + spent
        if sample.cold_start and not warmup:
            failures.append(ProbeFailure("cold_start", "the server loaded the model for this request; "
                                                       "its timings are not kept", False, False, time.time()))
        elif not warmup:
            samples.append(sample.costing(spent))
    if not samples and not failures:
        # Nothing measured (the run stopped before the first sample): the spend is the run's to report.
        return ModelOutcome(None, requests, stopped)
    result = BenchmarkResult(
        run_id=run_id, model_id=model.id, provider=model.provider, region=plan.region, kind=plan.kind,
        invoked_id=plan.invoked_id, measured_at=time.time(), samples=tuple(samples), failures=tuple(failures),
        summary=summarize(samples), cost_usd=dollars(cost) if cost is not None else None,
        settings={"samples": policy.samples, "max_output_tokens": cap, "warmup": 1, "effort": dict(effort),
                  "prompt": PROMPT if chat else EMBED_TEXT},
        capabilities=tuple(model.capabilities.supported()))
    return ModelOutcome(result, requests, stopped)
