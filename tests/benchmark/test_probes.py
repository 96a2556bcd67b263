"""Probes against the simulator's streams: what does and does not count, failures, usage missing."""
from __future__ import annotations

import os

import pytest

from discovery.benchmark.formats.bedrock import BedrockProbe
from discovery.benchmark.sample import EmptyAnswer, StreamBroken, nonce_prompt
from discovery.providers.errors import ProviderAuthError, ProviderHTTPError, ProviderTimeout
from tests.benchmark.conftest import bedrock_probe, http_probe, on_demand_text_model
from tests.conftest import client_ports

CASES = [("openai", "openai", "gpt-4o"), ("anthropic", "anthropic", "claude-sonnet-4-5-20250929"),
         ("gemini", "gemini", "gemini-2.5-flash"), ("cohere", "cohere", "command-a-03-2025"),
         ("ollama", "ollama", "llama3.2:3b"), ("openrouter", "openrouter", "openai/gpt-4o-mini")]


def probe_of(simulator, name):
    if name == "bedrock":
        return "bedrock@us-east-1", bedrock_probe(simulator, "us-east-1"), on_demand_text_model(simulator, "us-east-1")
    fmt, model = next((f, m) for n, f, m in CASES if n == name)
    return name, http_probe(simulator, name, fmt), model


@pytest.mark.parametrize("name", [c[0] for c in CASES] + ["bedrock"])
def test_a_stream_broken_mid_way_raises_stream_broken_after_the_first_token(simulator, name):
    route, probe, model = probe_of(simulator, name)
    simulator.state.set_fault(route, "midstream", after_tokens=2)
    with pytest.raises(StreamBroken) as caught:
        probe.chat(probe.request(model, "chat", nonce_prompt(), 64))
    assert caught.value.after_first_token is True and caught.value.kind == "stream_error"


@pytest.mark.parametrize("name", ["openai", "anthropic", "gemini", "cohere", "ollama", "bedrock"])
def test_without_a_usage_report_tokens_are_estimated_and_flagged(simulator, name):
    route, probe, model = probe_of(simulator, name)
    simulator.state.set_stream(route, usage=False, output_tokens=12)
    sample = probe.chat(probe.request(model, "chat", nonce_prompt(), 64))
    assert sample.tokens_estimated and sample.output_tokens >= 12 and sample.ttft_ms > 0


@pytest.mark.alone  # a 50 ms stream's rate within 10%: the other worker's CPU put it at 174 of 200 once in CI
def test_thinking_is_timed_apart_and_the_answer_rate_leaves_counted_reasoning_out(simulator):
    simulator.state.set_stream("openai", ttft=0.02, tokens_per_second=200, output_tokens=10, thinking_tokens=10)
    probe = http_probe(simulator, "openai", "openai")
    sample = probe.chat(probe.request("gpt-4o", "chat", nonce_prompt(), 64))
    assert sample.thinking_ms < sample.ttft_ms and sample.reasoning_tokens == 10 and sample.output_tokens == 20
    assert sample.output_tokens_per_s == pytest.approx(200, rel=0.1)
    simulator.state.set_stream("openai", output_tokens=10, thinking_tokens=64)
    with pytest.raises(EmptyAnswer):  # the cap went to thinking: a length stop with no text fails
        probe.chat(probe.request("gpt-4o", "chat", nonce_prompt(), 64))


def test_reasoning_models_get_their_lowest_effort_and_the_parameters_they_accept(simulator):
    for model in ("o3-mini", "gpt-5-mini"):
        simulator.state.add_model("openai", {"id": model, "object": "model", "created": 0, "owned_by": "system"})
    probe = http_probe(simulator, "openai", "openai")
    request = probe.request("o3-mini", "chat", nonce_prompt(), 64)
    assert request.effort == {"reasoning_effort": "low"} and request.max_output_tokens > 64
    assert probe.chat(request).ttft_ms > 0  # the simulator refuses max_tokens and temperature for them
    assert probe.request("gpt-5-mini", "chat", "x", 64).effort == {"reasoning_effort": "minimal"}
    gemini = http_probe(simulator, "gemini", "gemini")
    assert gemini.request("gemini-2.5-pro", "chat", "x", 64).effort == {"thinkingConfig": {"thinkingBudget": 128}}
    assert gemini.chat(gemini.request("gemini-2.5-pro", "chat", nonce_prompt(), 64)).ttft_ms > 0


def test_errors_before_the_stream_are_the_providers_http_errors(simulator):
    simulator.state.set_fault("anthropic", "status", status=529, path="/messages")
    probe = http_probe(simulator, "anthropic", "anthropic")
    with pytest.raises(ProviderHTTPError) as caught:
        probe.chat(probe.request("claude-sonnet-4-5-20250929", "chat", nonce_prompt(), 64))
    assert caught.value.status == 529 and not getattr(caught.value, "after_first_token", False)


def test_a_gemini_probe_with_a_wrong_key_fails_as_auth_not_http(simulator):
    """Google answers a wrong key with 400 API_KEY_INVALID: the probe's failure was kind http."""
    simulator.state.set_expected_key("gemini", "g-right")
    probe = http_probe(simulator, "gemini", "gemini")
    with pytest.raises(ProviderAuthError) as caught:
        probe.chat(probe.request("gemini-2.5-flash", "chat", nonce_prompt(), 64))
    assert caught.value.status == 400 and caught.value.kind == "auth"


@pytest.mark.parametrize("name,fmt,model", [("openai", "openai", "text-embedding-3-small"),
                                            ("cohere", "cohere", "embed-v4.0"), ("ollama", "ollama",
                                                                                  "nomic-embed-text:latest"),
                                            ("gemini", "gemini", "text-embedding-004")])
def test_embedding_probes_time_one_small_call(simulator, name, fmt, model):
    simulator.state.set_stream(name, ttft=0.03)
    probe = http_probe(simulator, name, fmt)
    sample = probe.embed(probe.request(model, "embedding", "[n] hello", 64))
    assert sample.latency_ms >= 30 and sample.ttft_ms is None and sample.input_tokens


def test_bedrock_probe_calls_a_profile_only_model_through_its_inference_profile(simulator):
    from discovery.benchmark.formats import invocation_id
    from discovery.model import Model

    model = Model("bedrock", "anthropic.claude-x-v1:0", attributes={
        "regions_by_inference_type": {"inference_profile": ["eu-west-1"], "on_demand": ["us-east-1"]},
        "regions_by_profile": {"global.anthropic.claude-x-v1:0": ["eu-west-1"], "eu.anthropic.claude-x-v1:0":
                               ["eu-west-1"]}})
    assert invocation_id(model, "us-east-1") == "anthropic.claude-x-v1:0"
    assert invocation_id(model, "eu-west-1") == "eu.anthropic.claude-x-v1:0"
    assert invocation_id(model, "ap-south-1") is None
    profile = next(k for k, r in simulator.state.model_items("bedrock@us-east-1") if "inferenceProfileId" in r)
    probe = bedrock_probe(simulator, "us-east-1")
    assert probe.chat(probe.request(profile, "chat", nonce_prompt(), 64)).output_tokens == 32
    with pytest.raises(ProviderHTTPError):  # a profile-only model called by its bare id is refused, as on AWS
        probe.chat(probe.request(profile.split(".", 1)[1], "chat", nonce_prompt(), 64))


@pytest.mark.parametrize("name,model", [("anthropic", "claude-sonnet-4-5-20250929"), ("gemini", "gemini-2.5-flash")])
def test_a_redirect_is_refused_so_the_key_header_never_travels_to_where_it_points(simulator, name, model):
    # requests drops Authorization on a redirect to another host, but not x-api-key or x-goog-api-key.
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    received: list[dict[str, str]] = []

    class Elsewhere(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - the http.server API
            received.append(dict(self.headers))
            self.send_response(500)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    elsewhere = ThreadingHTTPServer(("127.0.0.1", 0), Elsewhere)
    elsewhere.daemon_threads = True
    threading.Thread(target=elsewhere.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        simulator.state.set_fault(name, "redirect", status=307, location=f"http://127.0.0.1:{elsewhere.server_port}/x")
        probe = http_probe(simulator, name, name)
        with pytest.raises(ProviderHTTPError) as caught:
            probe.chat(probe.request(model, "chat", nonce_prompt(), 64))
    finally:
        elsewhere.shutdown()
        elsewhere.server_close()
    assert received == []
    assert caught.value.status == 307 and "redirects are not followed" in str(caught.value)


def test_a_probes_own_failure_is_recorded_with_every_known_secret_masked(simulator):
    """A bug in a probe (not a provider's answer) is recorded as an internal failure; its text, which
    can quote what the request carried, is scrubbed like every other error before it is kept."""
    from discovery.benchmark.plan import ModelPlan
    from discovery.benchmark.runner import OpenGate, benchmark_model
    from discovery.model import Model
    from discovery.redaction import REDACTOR
    from discovery.settings import BenchmarkSettings

    secret = "sk-probe-bug-secret-0123456789abcdef"
    REDACTOR.add(secret)
    probe = http_probe(simulator, "openai", "openai")

    def broken(request):
        raise KeyError(f"no 'choices' in an answer to a request sent with Bearer {secret}")

    probe.chat = broken
    policy = BenchmarkSettings(samples=1).policy("openai")
    plan = ModelPlan(Model(provider="openai", provider_model_id="gpt-4o"), "chat", "gpt-4o")
    outcome = benchmark_model(probe, plan, policy, run_id=1, gate=OpenGate())
    failures = outcome.result.failures
    assert failures and all(f.error_class == "internal" for f in failures)
    assert all(secret not in f.message and "[REDACTED]" in f.message for f in failures)


@pytest.mark.parametrize("status,stops", [(401, True), (400, True), (403, False)])
def test_a_refused_key_stops_the_run_whatever_status_the_provider_refuses_it_with(simulator, status, stops):
    """Gemini refuses a bad key with 400 API_KEY_INVALID (a ProviderAuthError of status 400): only
    a 401 stopped the run, so each other model sent one request more, refused alike. A 403 may be
    the model's alone: that model's samples end, the run goes on."""
    from discovery.benchmark.plan import ModelPlan
    from discovery.benchmark.runner import OpenGate, benchmark_model
    from discovery.model import Model
    from discovery.providers.errors import ProviderAuthError
    from discovery.settings import BenchmarkSettings

    probe = http_probe(simulator, "openai", "openai")
    sent = []

    def refused(request):
        sent.append(request)
        raise ProviderAuthError(f"gemini answered HTTP {status}: API key not valid", status=status)

    probe.chat = refused
    policy = BenchmarkSettings(samples=3).policy("openai")
    plan = ModelPlan(Model(provider="openai", provider_model_id="gpt-4o"), "chat", "gpt-4o")
    outcome = benchmark_model(probe, plan, policy, run_id=1, gate=OpenGate())
    assert len(sent) == 1 and outcome.requests == 1
    assert (outcome.stopped is not None) is stops, outcome.stopped


def _connections_to(port: int) -> int:
    """This process's open sockets connected to ``port``, in any state (one the server has
    closed stays open here, CLOSE_WAIT, until this side closes it)."""
    return len(client_ports(os.getpid(), port))


def test_a_bedrock_stream_cut_short_closes_its_connection_at_once(simulator):
    """A stream cut short (an error event in it, the whole-answer deadline, a read timeout) closes
    its connection then, not when the collector finds the stream: the error's traceback, kept
    here as a caller that logs or stores it would, still holds the stream."""
    from discovery.bedrock import make_client
    from discovery.settings import BedrockSettings

    region = "us-east-1"
    model = on_demand_text_model(simulator, region)
    port = int(simulator.url.rsplit(":", 1)[1])
    client = make_client("bedrock-runtime", region, BedrockSettings(timeout=0.3), f"{simulator.url}/bedrock/{region}")
    probe = BedrockProbe(client, region, 0.3)
    simulator.state.set_stream(f"bedrock@{region}", ttft=0.01, tokens_per_second=400, output_tokens=4)
    probe.chat(probe.request(model, "chat", "Say hi.", 8))  # the pool's connection, kept for the next call
    before = _connections_to(port)
    simulator.state.set_stream(f"bedrock@{region}", ttft=1.0, tokens_per_second=400)
    with pytest.raises(ProviderTimeout, match="read timeout") as caught:
        probe.chat(probe.request(model, "chat", "Say hi.", 8))
    assert caught.value is not None and _connections_to(port) < before + 1
    simulator.state.set_stream(f"bedrock@{region}", ttft=0.01, tokens_per_second=400, output_tokens=8)
    simulator.state.set_fault(f"bedrock@{region}", "midstream", after_tokens=2, times=1)
    with pytest.raises(StreamBroken, match="broke off the stream") as caught:
        probe.chat(probe.request(model, "chat", "Say hi.", 8))
    assert caught.value is not None and _connections_to(port) < before + 1
    simulator.state.set_stream(f"bedrock@{region}", ttft=0.05, tokens_per_second=5, output_tokens=20)
    with pytest.raises(ProviderTimeout, match="did not finish its answer") as caught:
        probe.chat(probe.request(model, "chat", "Say hi.", 32))
    assert caught.value is not None and _connections_to(port) < before + 1


@pytest.mark.parametrize("name", [c[0] for c in CASES])
def test_an_http_stream_cut_short_by_an_error_event_closes_its_connection_at_once(simulator, name):
    """The answer is closed as the error leaves the probe, though its reader (a suspended
    generator) lives on in the error's traceback, kept here as a caller that logs it would."""
    source, probe, model = probe_of(simulator, name)
    port = int(simulator.url.rsplit(":", 1)[1])
    simulator.state.set_stream(source, ttft=0.01, tokens_per_second=400, output_tokens=8)
    before = _connections_to(port)
    simulator.state.set_fault(source, "midstream", after_tokens=2, times=1)
    with pytest.raises(StreamBroken) as caught:
        probe.chat(probe.request(model, "chat", "Say hi.", 8))
    assert caught.value is not None and _connections_to(port) <= before
