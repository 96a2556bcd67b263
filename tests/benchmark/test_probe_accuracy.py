"""Must-show 1: measured p50 TTFT and output speed match the simulator's settings for every wire format.

One model of each format (OpenAI-compatible, Anthropic, Gemini, Cohere, Ollama) and Bedrock
ConverseStream through real boto3 in two regions, over loopback HTTP, at two settings. The formats
run side by side (each at concurrency 1, as the method says), so the test takes a few seconds.
"""
from __future__ import annotations

import concurrent.futures

import pytest

from discovery.benchmark.sample import nonce_prompt
from discovery.benchmark.summary import summarize
from tests.benchmark.conftest import bedrock_probe, http_probe, idle_penalty_ms, on_demand_text_model

# TTFTs measured to within 10 ms: no other test runs meanwhile.
pytestmark = pytest.mark.alone

# (name, format, model): one model of each wire format.
FORMATS = [("openai", "openai", "gpt-4o"), ("anthropic", "anthropic", "claude-sonnet-4-5-20250929"),
           ("gemini", "gemini", "gemini-2.5-flash"), ("cohere", "cohere", "command-a-03-2025"),
           ("ollama", "ollama", "llama3.2:3b")]
REGIONS = ("us-east-1", "eu-west-1")


def probes(simulator):
    out = [(name, http_probe(simulator, name, fmt), model) for name, fmt, model in FORMATS]
    out += [(f"bedrock@{r}", bedrock_probe(simulator, r), on_demand_text_model(simulator, r)) for r in REGIONS]
    return out


def measure(simulator, ttft: float, rate: float, tokens: int, workers: int, samples: int):
    """Warm up, then ``samples`` streamed answers per format; the p50 summary of each."""
    cases = probes(simulator)
    for name, _, _ in cases:
        simulator.state.set_stream(name, ttft=ttft, tokens_per_second=rate, output_tokens=tokens)

    def run(case):
        name, probe, model = case
        taken = [probe.chat(probe.request(model, "chat", nonce_prompt(), 64)) for _ in range(samples + 1)][1:]
        return name, summarize(taken)

    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        return dict(pool.map(run, cases))


# The fast setting's 10 ms allowance is an eighth of its TTFT: fewer streams side by side (the
# in-process simulator's threads and the probes' share one interpreter); a p50 of nine at both settings
# (with five, two samples caught in one of the machine's stalls could move the median past the allowance).
@pytest.mark.parametrize("ttft,rate,tokens,workers,samples", [(0.3, 50.0, 16, 7, 9), (0.08, 200.0, 24, 2, 9)])
def test_measured_p50_ttft_and_speed_match_the_simulator_for_every_wire_format(simulator, switch_interval, ttft,
                                                                               rate, tokens, workers, samples):
    penalty = idle_penalty_ms(simulator)
    if penalty > 5.0:
        # Not the probe's error: this machine itself adds that much to a request after a pause,
        # and the 10 ms allowance cannot be checked here (bench/bench_probe_accuracy.py prints it).
        pytest.skip(f"this machine adds {penalty:.1f} ms to a loopback request after 0.3 s idle "
                    "(slow wake from idle, or delayed ACKs): TTFT within 10 ms cannot be measured here")
    found = measure(simulator, ttft, rate, tokens, workers, samples)
    assert set(found) == {name for name, _, _ in FORMATS} | {f"bedrock@{r}" for r in REGIONS}
    for name, summary in found.items():
        want_ms = ttft * 1000
        assert abs(summary.ttft_ms - want_ms) <= max(0.05 * want_ms, 10.0), (name, summary)
        assert abs(summary.output_tokens_per_s - rate) <= 0.05 * rate, (name, summary)
        assert summary.output_tokens == tokens and not summary.tokens_estimated, (name, summary)
