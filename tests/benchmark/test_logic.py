"""The benchmark method as plain calls: summaries, the regression rule, budgets, the run plan, the framing."""
from __future__ import annotations

import pytest
from botocore.eventstream import EventStreamBuffer

from discovery.benchmark.budget import RunBudget, SpendLedger, amount, request_cost, usd, worst_case_cost
from discovery.benchmark.plan import plan_run
from discovery.benchmark.sample import Sample
from discovery.benchmark.summary import percentile, regressions, summarize
from discovery.model import Model, Pricing
from discovery.settings import BenchmarkSettings, BenchmarkTarget
from discovery.simulator import eventstream
from tests.conftest import wait_for


def test_p50_and_p90_interpolate_between_closest_ranks():
    assert percentile([300.0, 100.0, 200.0], 0.5) == 200.0
    assert percentile([100.0, 200.0, 300.0], 0.9) == pytest.approx(280.0)
    assert percentile([], 0.5) is None
    s = summarize([Sample(latency_ms=900, ttft_ms=t, output_tokens_per_s=v, input_tokens=20, output_tokens=64)
                   for t, v in ((310, 49), (300, 51), (320, 50))])
    assert (s.ttft_ms, s.output_tokens_per_s, s.samples, s.tokens_estimated) == (310, 50, 3, False)


def test_regression_needs_the_metric_worse_by_the_threshold_against_the_trailing_median():
    def summary(ttft, speed):
        return summarize([Sample(latency_ms=1, ttft_ms=ttft, output_tokens_per_s=speed)])
    history = [summary(100, 50), summary(300, 50), summary(110, 50)]  # median TTFT 110: one outlier does not count
    assert regressions(history, summary(160, 50), 0.5) == {}
    assert set(regressions(history, summary(170, 50), 0.5)) == {"ttft_ms"}
    assert set(regressions(history, summary(100, 33), 0.5)) == {"output_tokens_per_s"}
    assert regressions([], summary(999, 1), 0.5) == {}


def test_budgets_refuse_the_request_that_would_pass_them_and_settle_to_the_real_cost():
    ledger = SpendLedger({"openai": 0.0015})
    budget = RunBudget(ledger, "openai", per_run=1.0, provider_day=None, total_day=0.002)
    assert budget.reserve(0.0004) is None
    refused = budget.reserve(0.0004)
    assert refused.startswith("daily budget $0.002 reached") and "spent $0.0019" in refused
    budget.settle(0.0004, 0.0001)
    assert ledger.spent() == pytest.approx(0.0016) and budget.reserve(0.0004) is None
    run = RunBudget(SpendLedger(), "x", per_run=0.001, provider_day=None, total_day=1.0)
    assert run.reserve(0.0006) is None and run.reserve(0.0006).startswith("run budget $0.001 reached")
    assert worst_case_cost(Pricing(input=2.0, output=10.0), "x" * 40, 64) == pytest.approx((26 * 2 + 640) / 1e6)
    assert worst_case_cost(Pricing(), "x", 64) is None


def test_a_requests_cost_has_no_float_noise():
    assert request_cost(Pricing(input=0.15, output=0.6), 229, 16) == 4.395e-05  # not 4.3950000000000004e-05
    assert request_cost(Pricing(input=2.5, output=10.0), 1, 3) == 3.25e-05
    assert request_cost(Pricing(input=0.15), 229, 0) == 3.435e-05
    assert request_cost(Pricing(input=0.00001, output=0.00001), 60, 32) == 9.2e-10  # not rounded away


def test_a_sum_of_dollars_reads_to_the_millionth_and_a_smaller_one_does_not_read_zero():
    assert [amount(v) for v in (0, 2.0, 0.0015, 0.000001, 2.5e-09, 1.23456e-07)] == \
        ["0", "2", "0.0015", "0.000001", "2.5e-09", "1.23e-07"]
    assert usd(0.002) == "$0.002" and usd(0) == "$0"


def test_a_budget_of_zero_allows_no_spending_and_a_provider_budget_not_set_leaves_the_service_wide_one():
    for per_run, provider_day, total_day, reason in (
            (0.0, None, 1.0, "run budget is $0 (budget_per_run_usd = 0)"),
            (1.0, None, 0.0, "daily budget is $0 (benchmarks.budget_per_day_usd = 0)"),
            (1.0, 0.0, 1.0, "daily budget of openai is $0 (benchmarks.providers.openai.budget_per_day_usd = 0)")):
        ledger = SpendLedger()
        budget = RunBudget(ledger, "openai", per_run=per_run, provider_day=provider_day, total_day=total_day)
        assert budget.reserve(0.0001).startswith(reason)
        assert budget.reserve(None).startswith(reason)  # unpriced: it may cost anything
        assert budget.reserve(0.0) is None  # priced at $0 by the catalog
        assert ledger.spent() == 0.0
    unset = RunBudget(SpendLedger({"openai": 0.5}), "openai", per_run=1.0, provider_day=None, total_day=1.0)
    assert unset.reserve(0.4) is None and unset.reserve(None) is None
    assert unset.reserve(0.2).startswith("daily budget $1 reached")


def test_plan_probes_live_priced_chat_and_embedding_models_matched_by_the_globs_and_says_why_not_others():
    models = [Model("acme", "chat-a", kind="chat", pricing=Pricing(input=1, output=2)),
              Model("acme", "chat-unpriced", kind="chat"),
              Model("acme", "embed-a", kind="embedding", pricing=Pricing(input=0.1)),
              Model("acme", "image-a", kind="image", pricing=Pricing(input=1, output=2)),
              Model("acme", "chat-catalog", kind="chat", live=False, pricing=Pricing(input=1, output=2)),
              Model("acme", "other", kind="chat", pricing=Pricing(input=1, output=2))]
    policy = BenchmarkSettings(targets=(BenchmarkTarget("acme", enabled=True, models=("acme/chat-*", "embed-*",
                                                                                         "image-*")),)).policy("acme")
    plan = plan_run(models, policy)
    assert [p.model.id for p in plan.models] == ["acme/chat-a", "acme/embed-a"]
    reasons = dict(plan.skipped)
    assert reasons["acme/chat-unpriced"].startswith("no catalog price")
    assert reasons["acme/chat-catalog"].startswith("known only from a catalog")
    assert reasons["acme/image-a"].startswith("kind image is not benchmarked")
    assert "acme/other" not in reasons  # outside the globs: not a candidate at all
    assert [p.model.id for p in plan_run(models, policy, embeds=False).models] == ["acme/chat-a"]


def test_event_stream_frames_decode_with_botocores_own_parser():
    frames = eventstream.event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": " 1"}}) + \
        eventstream.exception("modelStreamErrorException", "broke")
    buffer = EventStreamBuffer()
    buffer.add_data(frames)
    first, second = list(buffer)
    assert first.headers == {":event-type": "contentBlockDelta", ":content-type": "application/json",
                             ":message-type": "event"}
    assert first.payload == b'{"contentBlockIndex":0,"delta":{"text":" 1"}}'
    assert second.headers[":exception-type"] == "modelStreamErrorException"
    # The documented example frame, byte for byte.
    assert eventstream.event("messageStart", {"role": "assistant"}).hex().startswith("000000760000005296d5fade")
    assert eventstream.event("messageStart", {"role": "assistant"}).hex().endswith("6fa8c599")


PROVIDERS = '[providers.openai]\nformat = "openai"\n[providers.anthropic]\nformat = "anthropic"\n'


def test_benchmark_settings_read_the_table_provider_tables_and_environment(tmp_path):
    from discovery.settings import SettingsError
    from discovery.settings_reader import load_settings

    cfg = tmp_path / "s.toml"
    cfg.write_text(PROVIDERS + '[benchmarks]\nbudget_per_day_usd = 0.5\nsamples = 5\n'
                   '[benchmarks.providers.openai]\nenabled = true\nmodels = ["gpt-4o*"]\nsamples = 2\n')
    bench = load_settings(cfg, environ={"DISCOVERY_BENCHMARKS_MAX_OUTPUT_TOKENS": "32"}).benchmarks
    policy = bench.policy("openai")
    assert (policy.enabled, policy.models, policy.samples, policy.max_output_tokens) == (True, ("gpt-4o*",), 2, 32)
    assert bench.budget_per_day_usd == 0.5 and not bench.policy("anthropic").enabled
    assert policy.budget_per_day_usd is None  # not set: only the service-wide budget applies
    cfg.write_text(PROVIDERS + '[benchmarks.providers.openai]\nbudget_per_day_usd = 0\n'
                   '[benchmarks.providers.anthropic]\n')
    zero = load_settings(cfg, environ={"DISCOVERY_BENCHMARKS_BUDGET_PER_DAY_USD": "0"}).benchmarks
    assert (zero.budget_per_day_usd, zero.policy("openai").budget_per_day_usd) == (0.0, 0.0)
    assert zero.policy("anthropic").budget_per_day_usd is None
    cfg.write_text(PROVIDERS + "[benchmarks.providers.openai]\nbudget = 3\n")
    with pytest.raises(SettingsError, match="benchmarks.providers.openai.budget: unknown setting"):
        load_settings(cfg, environ={})
    cfg.write_text("[benchmarks]\nsamples = 0\n")
    with pytest.raises(SettingsError, match="samples: must be at least 1"):
        load_settings(cfg, environ={})


@pytest.mark.parametrize("table,message", [
    ("[benchmarks.providers.opneai]\nenabled = true\n",
     "benchmarks.providers.opneai: no provider opneai is configured (configured: anthropic, bedrock, openai)"),
    # With provider tables no key turns groq on: a table of it was taken and never ran.
    ("[benchmarks.providers.groq]\nenabled = true\n",
     "benchmarks.providers.groq: no provider groq is configured (configured: anthropic, bedrock, openai)"),
    ("[benchmarks]\njitter = 2\n", "benchmarks.jitter: must be at most 1 (a fraction of the interval), got 2.0"),
    ("[benchmarks]\nmax_models = 0\n", "benchmarks.max_models: must be at least 1"),
    ("[benchmarks.providers.openai]\nmax_models = 0\n", "benchmarks.providers.openai.max_models: must be at least 1"),
])
def test_benchmark_settings_refuse_an_unconfigured_provider_a_jitter_past_one_and_no_models(tmp_path, table, message):
    from discovery.settings import SettingsError
    from discovery.settings_reader import load_settings

    cfg = tmp_path / "s.toml"
    cfg.write_text(PROVIDERS + '[benchmarks.providers.bedrock]\nenabled = true\n' + table)
    with pytest.raises(SettingsError) as caught:
        load_settings(cfg, environ={})
    assert str(caught.value) == message


def test_benchmark_settings_name_the_environment_variable_and_the_key_hint_without_provider_tables(tmp_path):
    from discovery.settings import SettingsError
    from discovery.settings_reader import load_settings

    cfg = tmp_path / "s.toml"
    cfg.write_text(PROVIDERS)
    with pytest.raises(SettingsError, match="^DISCOVERY_BENCHMARKS_JITTER: must be at most 1"):
        load_settings(cfg, environ={"DISCOVERY_BENCHMARKS_JITTER": "1.5"})
    # With no provider tables, a provider its key would turn on is no typo: without the key (removed,
    # rotated away) the settings still load and the service starts without it.
    cfg.write_text("[benchmarks.providers.openai]\nenabled = true\n")
    without = load_settings(cfg, environ={})
    assert "openai" not in {p.name for p in without.providers} and without.benchmarks.policy("openai").enabled
    assert load_settings(cfg, environ={"OPENAI_API_KEY": "sk-x"}).benchmarks.policy("openai").enabled
    cfg.write_text("[benchmarks.providers.opneai]\nenabled = true\n")
    with pytest.raises(SettingsError, match="a provider is configured when its API key is set"):
        load_settings(cfg, environ={})


def test_benchmark_run_ids_stay_inside_the_reserved_block_and_a_start_never_waits_for_the_next_one():
    import threading

    import pykka

    from actors.benchmark import RUN_ID_BLOCK, BenchmarkBook

    writer_free = threading.Event()
    asked: list[tuple[int, float]] = []

    def reserve(upto: int, timeout: float) -> None:  # the writer: free at start, then held up
        asked.append((upto, timeout))
        if len(asked) > 1 and not writer_free.wait(timeout):
            raise TimeoutError("the writer is busy")

    book = BenchmarkBook({"last_run_id": 40}, reserve)
    wait_for(lambda: book.reserved == 40 + RUN_ID_BLOCK, what="the first block, reserved on its own thread")
    assert [upto for upto, _ in asked] == [40 + RUN_ID_BLOCK]
    # Past half the block the next one is asked for on a thread of its own: no start waits for it.
    ids = [book.next_run_id() for _ in range(RUN_ID_BLOCK)]
    assert ids == list(range(41, 41 + RUN_ID_BLOCK)) and len(asked) == 2
    # The block is used up and the writer still held up: the next start waits ROW_WAIT at most and
    # is refused (a 503), and no id past the reserved bound is ever handed out.
    with pytest.raises(pykka.Timeout, match="could not be reserved"):
        book.next_run_id()
    assert book.reserved == 40 + RUN_ID_BLOCK
    writer_free.set()
    assert book.next_run_id() == 41 + RUN_ID_BLOCK and book.reserved >= 41 + 2 * RUN_ID_BLOCK - 1
