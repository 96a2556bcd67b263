"""A real service for the contract tests: SQLite file, the provider simulator, an admin token.

It is started once for the module (schemathesis runs every operation against it), and the
schemathesis tests' counts are printed in pytest's summary.
"""
from __future__ import annotations

from collections import Counter

import pykka
import pytest

from discovery.settings import ProviderConfig, Settings
from tests.conftest import wait_for

ADMIN_TOKEN = "contract-admin-token-4f1e9a7c3b5d"
READ_TOKEN = "contract-read-token-8d2c6b0a4e9f"
# Examples sent per operation and phase: enough to cover every parameter, bounded so the run
# adds seconds, not minutes, to the suite.
MAX_EXAMPLES = 12
# operation -> examples sent, and the failures seen (the summary prints both).
SENT: Counter[str] = Counter()
FAILED: Counter[str] = Counter()
TIMED_OUT: Counter[str] = Counter()
# (operation, status) -> answers: which documented statuses the run reached.
STATUSES: Counter[tuple[str, int]] = Counter()
CATALOG_PROVIDERS = ("openai", "anthropic", "mistral")
KEY_ENV = "DISCOVERY_CONTRACT_TEST_KEY"
REGIONS = ("us-east-1", "eu-west-1")
# Dummy credentials for real boto3 against the simulator, and none of the developer's own AWS set-up.
AWS_ENV = {"AWS_ACCESS_KEY_ID": "AKIDCONTRACTTEST", "AWS_SECRET_ACCESS_KEY": "contract-secret-not-real",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": "/nonexistent/aws-config",
           "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials", "AWS_EC2_METADATA_DISABLED": "true"}


@pytest.fixture(scope="module")
def simulator_module():
    from discovery.simulator import SimulatorServer

    server = SimulatorServer()
    server.start()
    keep = {k: v for k, v in server.state.model_items("modelsdev") if k in CATALOG_PROVIDERS}
    server.state.set_models("modelsdev", keep)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def contract_env():
    """A key for the simulated providers and dummy AWS credentials (they go to the simulator only)."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv(KEY_ENV, "contract-key-for-the-simulator")
        for name, value in AWS_ENV.items():
            env.setenv(name, value)
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_BEARER_TOKEN_BEDROCK", "AWS_REGION"):
            env.delenv(name, raising=False)
        yield


@pytest.fixture(scope="module")
def contract_service(tmp_path_factory, simulator_module, contract_env):
    """openai, anthropic and openrouter live, models.dev as a catalog, Bedrock in two regions; every
    one refreshed once. Both tokens are set (an anonymous read is a 401); OpenAI's gpt-4o-mini may
    be benchmarked, against a simulator that streams fast."""
    from actors.service import start_service
    from discovery.settings import BedrockSettings, BenchmarkSettings, BenchmarkTarget

    sim = simulator_module
    common = dict(refresh_interval=3600.0, timeout=2.0, retries=0, health_check_interval=0,
                  manual_refresh_per_minute=10_000, api_key_env=KEY_ENV)
    providers = tuple(ProviderConfig(name=name, format=name, base_url=sim.base_url(name), **common)
                      for name in ("openai", "anthropic", "openrouter", "modelsdev"))
    bedrock = BedrockSettings(enabled=True, regions=REGIONS, refresh_interval=3600.0, timeout=3.0,
                              endpoint_url=sim.url + "/bedrock/{region}", ec2_endpoint_url=sim.url + "/ec2")
    sim.state.set_stream("openai", ttft=0.005, tokens_per_second=5000, output_tokens=8)
    benchmarks = BenchmarkSettings(samples=1, max_output_tokens=8, start_delay=3600.0, interval=86400.0,
                                   targets=(BenchmarkTarget("openai", enabled=True, models=("openai/gpt-4o-mini",)),))
    db = tmp_path_factory.mktemp("contract") / "catalog.db"
    settings = Settings(providers=providers, bedrock=bedrock, benchmarks=benchmarks, database_url=f"sqlite:///{db}",
                        admin_token=ADMIN_TOKEN, read_token=READ_TOKEN, batch_max_delay=0.01, restart_backoff=0.05,
                        # schemathesis registers subscriptions to a documentation address: give up fast.
                        webhook_timeout=1.0, webhook_max_attempts=1)
    service = start_service(settings)
    try:
        wait_for(lambda: all(p.get("last_success_at") for p in service.providers()), timeout=30,
                 what="every provider's and region's first refresh")
        yield service
    finally:
        service.stop()
        assert not pykka.ActorRegistry.get_all(), "actors left running after the contract tests"


@pytest.fixture(scope="module")
def contract_app(contract_service):
    from web import create_app

    return create_app(contract_service)


def pytest_collection_modifyitems(items) -> None:
    """Give each schemathesis operation's test an id of its own (``...[GET /api/v1/models]``).

    schemathesis names the items so but leaves every one the test function's node id: pytest-xdist
    schedules by node id, and ran one operation of the 46 in their stead."""
    for item in items:
        label = getattr(item, "operation_label", None)
        if not label or item.nodeid.endswith("]"):
            continue
        ident = getattr(item, "_id", None)
        if getattr(ident, "params", "") is None and hasattr(ident, "with_params"):
            item._id = ident.with_params(label)  # pytest 9.2 and later keep the id as an object
        else:
            item._nodeid = f"{item.nodeid}[{label}]"


def summary_lines() -> list[str]:
    """What the contract tests sent and got, for the session's terminal summary (see
    tests/conftest.py: the tests run in a worker process, the summary is the main one's)."""
    if not SENT:
        return []
    by_status: Counter[int] = Counter()
    for (_, status), n in STATUSES.items():
        by_status[status] += n
    return [f"schemathesis: {len(SENT)} operations, {sum(SENT.values())} examples, "
            f"{sum(FAILED.values())} failures, {sum(TIMED_OUT.values())} documented wait timeouts (504) "
            f"(at most {MAX_EXAMPLES} examples per operation and phase)",
            "schemathesis answers by status: " + ", ".join(f"{status}: {n}" for status, n in sorted(by_status.items()))]
