"""Browser fixtures: Debian's Chromium driven by Playwright against a real service on the simulator.

One simulator, one service on a loopback port and one browser per test module (start-up is most
of the cost); each test gets a fresh browser context and page whose console errors, page errors
and failed API answers are collected and fail the test.
"""
from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests

from discovery.settings import BedrockSettings, BenchmarkSettings, BenchmarkTarget, Settings
from tests.conftest import provider_config, wait_for

CHROMIUM = os.environ.get("DISCOVERY_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"
ADMIN_TOKEN = "browser-test-admin-token-0123456789"
KEY_ENV = "DISCOVERY_TEST_BROWSER_KEY"
LAPTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
REGIONS = ("us-east-1", "eu-west-1")
BEDROCK_MODEL = "bedrock/amazon.nova-pro-v1:0"
# Measured in the fixture: one Bedrock model in both regions (twice, for a line), two OpenAI models.
BENCHMARKED = ("openai/gpt-4o", "openai/gpt-4o-mini")
# The simulator's records of the provider the tests change ("vllm"), so its history is known.
ACME = [{"id": "acme-large-1", "object": "model", "created": 1715367049, "owned_by": "acme"},
        {"id": "acme-small-1", "object": "model", "created": 1715367049, "owned_by": "acme"}]

# Every browser test module carries this mark: without the binary they skip and say why.
needs_chromium = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"no Chromium binary at {CHROMIUM} "
                                    "(apt-get install chromium, or set DISCOVERY_CHROMIUM)")


@pytest.fixture(scope="module")
def credentials() -> Iterator[None]:
    """A key for the simulated OpenAI and dummy AWS credentials for boto3 (they go to the simulator
    only), none of the developer's own."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(KEY_ENV, "sk-browser-test")
        mp.setenv("AWS_ACCESS_KEY_ID", "AKIDTESTBROWSER")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "test-secret-not-real")
        mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
        mp.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")
        mp.setenv("AWS_EC2_METADATA_DISABLED", "true")
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_BEARER_TOKEN_BEDROCK", "AWS_REGION"):
            mp.delenv(name, raising=False)
        yield


@pytest.fixture(scope="module")
def sim():
    """The provider simulator for the module, with the tests' own vllm records."""
    from discovery.simulator import SimulatorServer

    with SimulatorServer() as server:
        server.state.set_models("openai_compatible", [dict(r) for r in ACME])
        server.state.set_models("modelsdev", {k: v for k, v in server.state.model_items("modelsdev")
                                              if k in ("openai", "anthropic")})
        yield server


@pytest.fixture(scope="module")
def service(sim, credentials, tmp_path_factory):
    """A running service: three providers, a catalog, Bedrock in two regions, every first refresh
    done, and benchmark results for a few models (the simulator streams their answers).

    ``ollama`` is probed every 0.3 s and turns unhealthy after two failures, for the health test.
    """
    import pykka

    from actors.service import start_service

    providers = (
        provider_config(sim, "openai", "openai", api_key_env=KEY_ENV),
        provider_config(sim, "vllm", "openai_compatible"),
        provider_config(sim, "ollama", "ollama", health_check_interval=0.3, failure_threshold=2, fail_max=50),
        provider_config(sim, "modelsdev", "modelsdev"),
    )
    bedrock = BedrockSettings(enabled=True, regions=REGIONS, endpoint_url=sim.url + "/bedrock/{region}",
                              ec2_endpoint_url=sim.url + "/ec2", runtime_endpoint_url=sim.url + "/bedrock/{region}",
                              refresh_interval=3600.0, timeout=3.0)
    benchmarks = BenchmarkSettings(start_delay=3600.0, samples=2, targets=(
        BenchmarkTarget("openai", enabled=True, models=BENCHMARKED, allow_unknown_prices=True),
        BenchmarkTarget("bedrock", enabled=True, models=(BEDROCK_MODEL,), allow_unknown_prices=True)))
    sim.state.set_stream("openai", ttft=0.02, tokens_per_second=800, output_tokens=16)
    for i, region in enumerate(REGIONS):
        sim.state.set_stream(f"bedrock@{region}", ttft=0.03 + 0.03 * i, tokens_per_second=600 - 200 * i, output_tokens=16)
    settings = Settings(providers=providers, bedrock=bedrock, benchmarks=benchmarks, admin_token=ADMIN_TOKEN,
                        sse_heartbeat=1.0,
                        database_url=f"sqlite:///{tmp_path_factory.mktemp('browser') / 'catalog.db'}",
                        batch_max_delay=0.01, restart_backoff=0.05)
    svc = start_service(settings)
    try:
        wait_for(lambda: all(p.get("last_success_at") for p in svc.providers()), timeout=30, what="first refreshes")
        wait_for(lambda: all(r.get("last_success_at") for r in svc.bedrock_regions()), timeout=30,
                 what="Bedrock regions")
        for model_id in (BEDROCK_MODEL, BEDROCK_MODEL, *BENCHMARKED):
            runs = svc.wait_benchmarks(svc.run_benchmark(model_id), timeout=30)
            assert all(run.outcome == "succeeded" for run in runs), runs
        yield svc
    finally:
        svc.stop()
    assert not pykka.ActorRegistry.get_all(), "actors left running after the browser tests"


@pytest.fixture(scope="module")
def server(service):
    """The service's one HTTP port (uvicorn: the Flask app and the native event stream), as ``discovery serve`` runs it."""
    from web.server import ServerThread

    live = ServerThread(service).start()
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture(scope="module")
def api(server):
    """GET a JSON route of the running service, as the page does."""
    session = requests.Session()

    def get(path: str, **params: Any) -> Any:
        resp = session.get(server.url + path, params=params, timeout=10)
        resp.raise_for_status()
        return resp.json()

    yield get
    session.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM)
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass
class Problems:
    """What went wrong in a page: console errors, uncaught exceptions, API answers of 4xx/5xx."""

    console: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    responses: list[str] = field(default_factory=list)

    def all(self) -> list[str]:
        return self.console + self.errors + self.responses

    def clear(self) -> list[str]:
        """Forget what was collected (problems a test caused on purpose); returns it."""
        seen = self.all()
        for found in (self.console, self.errors, self.responses):
            found.clear()
        return seen


@pytest.fixture
def problems() -> Problems:
    return Problems()


@contextmanager
def new_tab(browser: Any, url: str, problems: Problems) -> Iterator[Any]:
    """A fresh tab at the laptop size on the service at ``url``, its console errors, uncaught
    exceptions and API answers of 4xx/5xx collected in ``problems``."""
    context = browser.new_context(viewport=LAPTOP, base_url=url)
    tab = context.new_page()
    tab.set_default_timeout(10_000)
    tab.on("console", lambda m: problems.console.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
    tab.on("pageerror", lambda exc: problems.errors.append(f"uncaught: {exc}"))
    tab.on("response", lambda r: problems.responses.append(f"{r.status} {r.request.method} {r.url}")
           if r.status >= 400 else None)
    try:
        yield tab
    finally:
        context.close()


@pytest.fixture
def page(browser, server, problems):
    """A fresh tab at the laptop size on the service; fails the test on any console error."""
    with new_tab(browser, server.url, problems) as tab:
        yield tab
    assert problems.all() == [], "the page reported problems"


@contextmanager
def token_service(sim: Any, directory: Path, what: str, **tokens: Any) -> Iterator[Any]:
    """A service of one provider (vllm) behind ``tokens`` (admin_token, read_token), on its own
    database in ``directory``, for a module of its own; stopped, with every actor, on leaving."""
    import pykka

    from actors.service import start_service

    settings = Settings(providers=(provider_config(sim, "vllm", "openai_compatible"),), sse_heartbeat=1.0,
                        batch_max_delay=0.01, database_url=f"sqlite:///{directory / 'catalog.db'}", **tokens)
    svc = start_service(settings)
    try:
        wait_for(lambda: all(p.get("last_success_at") for p in svc.providers()), what="the first refresh")
        yield svc
    finally:
        svc.stop()
    assert not pykka.ActorRegistry.get_all(), f"actors left running after {what}"


def row_ids(page: Any) -> list[str]:
    """The model ids of the catalog table's rows, in order."""
    return page.locator("table.models tbody tr").evaluate_all("rows => rows.map(r => r.dataset.id)")


def refresh(service: Any, provider: str) -> None:
    """Refresh one provider and wait for it to succeed."""
    (outcome,) = service.wait([service.refresh(provider)], timeout=10)
    assert outcome.outcome == "succeeded", outcome


def ready(page: Any, path: str) -> None:
    """Open a dashboard path and wait until its first view has every answer it asked for."""
    page.goto(path)
    page.wait_for_selector("main[data-ready]")


def enter_token(page: Any, token: str = ADMIN_TOKEN, note: str = "Token accepted: admin actions are shown.") -> None:
    """Type a token into the header's form, as an operator does, and wait for the page's answer."""
    from playwright.sync_api import expect

    if page.locator("#admin[open]").count() == 0:
        page.click("#admin summary")
    page.fill("#token", token)
    page.click("#token-form button[type=submit]")
    expect(page.locator("#token-note")).to_have_text(note)


def screenshot(page: Any, name: str) -> Path:
    """Save what the tab shows now as build/screenshots/<name>-<width>x<height>.png."""
    size = page.viewport_size
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}-{size['width']}x{size['height']}.png"
    page.screenshot(path=str(path))
    return path


__all__ = ["ACME", "ADMIN_TOKEN", "BEDROCK_MODEL", "BENCHMARKED", "LAPTOP", "PHONE", "REGIONS", "enter_token",
           "needs_chromium", "new_tab", "ready", "screenshot"]
