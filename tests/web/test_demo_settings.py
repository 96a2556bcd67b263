"""--demo replaces the providers and Bedrock with the simulator's; the benchmark keys the settings
file or the environment set still hold (they were replaced too, silently)."""
from __future__ import annotations

from discovery.settings import BenchmarkSettings, BenchmarkTarget
from web.demo import demo_benchmarks


def test_the_demos_benchmarks_keep_what_the_settings_set(simulator):
    demo = demo_benchmarks(simulator)
    assert demo.start_delay == 3.0 and demo.targets and demo.budget_per_day_usd == BenchmarkSettings().budget_per_day_usd
    given = BenchmarkSettings(budget_per_day_usd=0.0, samples=1)
    merged = demo_benchmarks(simulator, given)
    assert (merged.budget_per_day_usd, merged.samples) == (0.0, 1)
    assert merged.start_delay == 3.0 and merged.targets == demo.targets  # the demo's own where nothing was set
    assert demo_benchmarks(simulator, BenchmarkSettings()) == demo
    tables = (BenchmarkTarget("openai", enabled=True, models=("gpt-4o",)),)
    assert demo_benchmarks(simulator, BenchmarkSettings(targets=tables)).targets == tables
