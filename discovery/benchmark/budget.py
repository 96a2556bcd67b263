"""Money: what a request costs at catalog prices, and the run and daily budgets checked before each one.

Before every request its most expensive outcome (the prompt plus the whole output cap, at the
model's catalog prices) is reserved against the run's budget, the provider's daily budget and
the service-wide daily budget; if any would be passed, nothing is sent and the run stops, saying
which. After the answer the reservation is settled to its cost from the provider's usage report
(a failed request keeps its full reservation: it may have been billed). A model without a catalog
price is probed only with ``allow_unknown_prices``, and then counts against no budget, unless a
budget is 0: a budget of 0 allows no spending, so only requests the catalog prices at $0 are sent.
A provider's daily budget of None (not set) leaves only the service-wide one.
"""
from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Optional

from discovery.benchmark.sample import estimate_tokens
from discovery.model import Pricing

# Tokens a chat template adds around a prompt (role markers and the like), for the estimate.
TEMPLATE_TOKENS = 16


def request_cost(pricing: Pricing, input_tokens: Optional[int], output_tokens: Optional[int]) -> Optional[float]:
    """USD for one request's tokens at the catalog's per-million prices, to 10 significant digits
    (no float noise such as 3.4349999999999995e-05); None without prices."""
    if pricing.input is None or (output_tokens and pricing.output is None):
        return None
    return dollars(((input_tokens or 0) * pricing.input + (output_tokens or 0) * (pricing.output or 0.0)) / 1e6)


def dollars(amount: float) -> float:
    """A sum of USD to 10 significant digits: no float noise, and a cost of a fraction of a cent's
    millionth (a cheap model's few tokens) is not rounded away to 0."""
    return float(f"{amount:.10g}")


def worst_case_cost(pricing: Pricing, prompt: str, cap: int) -> Optional[float]:
    """The most one request can cost: its prompt plus every token of the output cap."""
    return request_cost(pricing, estimate_tokens(prompt) + TEMPLATE_TOKENS, cap)


def has_prices(pricing: Pricing, kind: str) -> bool:
    """Whether the catalog prices every token a request of ``kind`` is billed for."""
    return pricing.input is not None and (kind == "embedding" or pricing.output is not None)


def utc_day(now: Optional[float] = None) -> str:
    """The UTC date budgets are kept for."""
    moment = datetime.now(timezone.utc) if now is None else datetime.fromtimestamp(now, timezone.utc)
    return moment.date().isoformat()


def amount(value: float) -> str:
    """A sum of USD as text: to the millionth (0.0015), or to 3 significant digits below that
    (2.5e-09), so that a cheap request's cost does not read 0."""
    if not value:
        return "0"
    if abs(value) < 1e-6:
        return f"{value:.3g}"
    return f"{value:.6f}".rstrip("0").rstrip(".")


def usd(value: float) -> str:
    return f"${amount(value)}"


def zero_budget(budget: str, key: str) -> str:
    """Why a request is refused by a budget of 0."""
    return f"{budget} is $0 ({key} = 0): no request that may cost anything is sent"


class SpendLedger:
    """Today's benchmark spend per provider, shared by every benchmark actor (thread-safe).

    Seeded from the store at start (what runs recorded since UTC midnight); starts again at zero
    when the UTC day changes.
    """

    def __init__(self, seed: Mapping[str, float] | None = None, day: Optional[str] = None):
        self._lock = threading.Lock()
        self._day = day or utc_day()
        self._spent: dict[str, float] = dict(seed or {})

    def _roll(self) -> None:
        today = utc_day()
        if today != self._day:
            self._day, self._spent = today, {}

    def spent(self, provider: Optional[str] = None) -> float:
        """Spent today by one provider, or by all."""
        with self._lock:
            self._roll()
            return self._spent.get(provider, 0.0) if provider else sum(self._spent.values())

    def reserve(self, provider: str, amount: float, provider_cap: Optional[float], total_cap: float) -> Optional[str]:
        """Add ``amount`` to today's spend unless a daily cap would be passed (a provider's None: not
        set); else say why."""
        with self._lock:
            self._roll()
            mine, total = self._spent.get(provider, 0.0), sum(self._spent.values())
            if total + amount > total_cap + 1e-12:
                return (zero_budget("daily budget", "benchmarks.budget_per_day_usd") if not total_cap else
                        f"daily budget {usd(total_cap)} reached: spent {usd(total)} today, "
                        f"next request up to {usd(amount)}")
            if provider_cap is not None and mine + amount > provider_cap + 1e-12:
                return (zero_budget(f"daily budget of {provider}", f"benchmarks.providers.{provider}.budget_per_day_usd")
                        if not provider_cap else
                        f"daily budget of {provider} {usd(provider_cap)} reached: spent {usd(mine)} today, "
                        f"next request up to {usd(amount)}")
            self._spent[provider] = mine + amount
            return None

    def adjust(self, provider: str, delta: float) -> None:
        """Correct today's spend by ``delta`` (a reservation settled to its real cost)."""
        with self._lock:
            self._roll()
            self._spent[provider] = max(0.0, self._spent.get(provider, 0.0) + delta)


class RunBudget:
    """One run's spend, checked against its own cap and the ledger's daily caps before each request."""

    def __init__(self, ledger: SpendLedger, provider: str, per_run: float, provider_day: Optional[float],
                 total_day: float):
        self.ledger = ledger
        self.provider = provider
        self.per_run = per_run
        self.provider_day = provider_day
        self.total_day = total_day
        self.spent = 0.0
        self.requests = 0

    def reserve(self, amount: Optional[float]) -> Optional[str]:
        """Reserve one request's worst case (None: unpriced, counted against no budget, but refused by a
        budget of 0); returns why not, or None."""
        if amount is None:
            return self._zero_budget()
        if self.spent + amount > self.per_run + 1e-12:
            return (zero_budget("run budget", "budget_per_run_usd") if not self.per_run else
                    f"run budget {usd(self.per_run)} reached: spent {usd(self.spent)}, "
                    f"next request up to {usd(amount)}")
        refused = self.ledger.reserve(self.provider, amount, self.provider_day, self.total_day)
        if refused is None:
            self.spent += amount
        return refused

    def _zero_budget(self) -> Optional[str]:
        """Why no request that may cost anything is sent: one of the budgets is 0; else None."""
        if not self.per_run:
            return zero_budget("run budget", "budget_per_run_usd")
        if not self.total_day:
            return zero_budget("daily budget", "benchmarks.budget_per_day_usd")
        if self.provider_day == 0:
            return zero_budget(f"daily budget of {self.provider}", f"benchmarks.providers.{self.provider}.budget_per_day_usd")
        return None

    def settle(self, reserved: Optional[float], actual: Optional[float]) -> None:
        """Replace a reservation by what the request really cost (a failed one keeps its reservation)."""
        if reserved is None or actual is None:
            return
        delta = actual - reserved
        self.spent = max(0.0, self.spent + delta)
        self.ledger.adjust(self.provider, delta)
