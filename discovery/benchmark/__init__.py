"""Benchmarking discovered models: probes per wire format, the method, budgets, summaries, the board.

Plain code, no threads: :mod:`actors.benchmark` runs it on a timer, one actor per provider and per
Bedrock region. See docs/architecture.md ("Benchmarks") and the README's benchmark section.
"""
from discovery.benchmark.budget import RunBudget, SpendLedger, request_cost, worst_case_cost
from discovery.benchmark.plan import ModelPlan, RunPlan, plan_run
from discovery.benchmark.records import BenchmarkReport, BenchmarkResult, BenchmarkRun
from discovery.benchmark.runner import Gate, ModelOutcome, OpenGate, benchmark_model
from discovery.benchmark.sample import ProbeFailure, ProbeRequest, Sample, StreamBroken, nonce_prompt
from discovery.benchmark.summary import Summary, percentile, regressions, summarize

__all__ = ["BenchmarkReport", "BenchmarkResult", "BenchmarkRun", "Gate", "ModelOutcome", "ModelPlan",
           "OpenGate", "ProbeFailure", "ProbeRequest", "RunBudget", "RunPlan", "Sample", "SpendLedger",
           "StreamBroken", "Summary", "benchmark_model", "nonce_prompt", "percentile", "plan_run", "regressions",
           "request_cost", "summarize", "worst_case_cost"]
