"""The providers page on a service of its own whose breakers open and whose actors are given up
on for real: an open breaker says when it is tried again, a given-up source says so and why."""
from __future__ import annotations

import json
import re
import time

import pytest
from playwright.sync_api import expect

from discovery.settings import BedrockSettings, Settings
from tests.browser.conftest import needs_chromium, ready, screenshot
from tests.conftest import provider_config, wait_for

pytestmark = needs_chromium

# Long enough that no breaker opened here half-opens while the module runs; under 90 s, so the
# page counts it in seconds.
RESET = 85.0
REGIONS = ("us-east-1", "eu-west-1")
OPEN_REGION, GIVEN_UP_REGION = REGIONS
RETRY = re.compile(r"^retry in (\d+) s$")


@pytest.fixture(scope="module")
def service(sim, credentials, tmp_path_factory):
    """Two providers and two Bedrock regions whose breakers open at the first failure (``fail_max``
    1) and whose actors are given up on at their second crash within a minute."""
    import pykka

    from actors.service import start_service

    providers = (provider_config(sim, "flaky", "openai_compatible", fail_max=1, reset_timeout=RESET),
                 provider_config(sim, "crashy", "openai_compatible", route="openai"))
    bedrock = BedrockSettings(enabled=True, regions=REGIONS, endpoint_url=sim.url + "/bedrock/{region}",
                              ec2_endpoint_url=sim.url + "/ec2", runtime_endpoint_url=sim.url + "/bedrock/{region}",
                              refresh_interval=3600.0, timeout=3.0, fail_max=1, reset_timeout=RESET)
    settings = Settings(providers=providers, bedrock=bedrock, sse_heartbeat=1.0, batch_max_delay=0.01,
                        restart_backoff=0.01, max_restarts_per_minute=1,
                        database_url=f"sqlite:///{tmp_path_factory.mktemp('breakers') / 'catalog.db'}")
    svc = start_service(settings)
    try:
        wait_for(lambda: all(p.get("last_success_at") for p in svc.providers()), timeout=30, what="first refreshes")
        yield svc
    finally:
        svc.stop()
    assert not pykka.ActorRegistry.get_all(), "actors left running after the breaker tests"


@pytest.fixture(scope="module")
def opened(service, sim):
    """flaky's and us-east-1's breakers open: one refresh each on a simulator fault (fail_max 1)."""
    sim.state.set_fault("openai_compatible", "unavailable", times=1)
    sim.state.set_fault(f"bedrock@{OPEN_REGION}", "status", status=500, times=1)
    (outcome,) = service.wait([service.refresh("flaky")], timeout=10)
    assert outcome.outcome == "failed", outcome
    service.wait(service.refresh_bedrock([OPEN_REGION]), timeout=10)
    rows = {p["name"]: p for p in service.providers()}
    assert rows["flaky"]["breaker"]["state"] == "open" and rows["flaky"]["breaker"]["next_try_at"]
    assert rows[f"bedrock@{OPEN_REGION}"]["breaker"]["state"] == "open"
    return rows


def give_up(service, source: str) -> None:
    """Crash the source's actor with a message it does not take until its supervisor stops restarting it."""
    states = service.supervisor.child_states
    while states().get()[source]["state"] != "failed":
        ref = wait_for(lambda: service.supervisor.ref(source).get() or states().get()[source]["state"] == "failed",
                       what=f"{source} running or given up")
        if ref is not True:
            ref.tell("poison")
            wait_for(lambda ref=ref: not ref.is_alive(), what="the crash")


@pytest.fixture(scope="module")
def gave_up(service):
    """crashy's and eu-west-1's actors given up on by the supervisor."""
    give_up(service, "crashy")
    give_up(service, f"bedrock@{GIVEN_UP_REGION}")
    wait_for(lambda: {r["region"]: r for r in service.bedrock_regions()}[GIVEN_UP_REGION]["given_up"],
             what="the region given up")


def test_an_open_breaker_says_when_it_is_tried_again_and_counts_down_as_the_view_redraws(page, opened):
    start = time.time()
    page.clock.install(time=start)  # the page's clock, moved on below: a redraw without waiting 5 s
    ready(page, "/ui/providers")
    provider = page.locator("tr[data-provider=flaky] [data-role=retry]")
    region = page.locator(f"tr[data-region={OPEN_REGION}] [data-role=retry]")
    for retry in (provider, region):
        expect(retry).to_have_text(RETRY)
        left = int(RETRY.match(retry.inner_text()).group(1))
        assert 0 < left <= RESET
    next_try_at = opened["flaky"]["breaker"]["next_try_at"]
    expect(provider).to_have_attribute("datetime", re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"))
    assert abs(page.evaluate("t => new Date(t).getTime() / 1000", provider.get_attribute("datetime")) - next_try_at) < 1
    expect(provider).to_have_attribute("title", re.compile(r"^next try at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d$"))
    expect(page.locator("tr[data-provider=flaky] .badge.breaker-open")).to_have_text("open")
    expect(page.locator(f"tr[data-region={OPEN_REGION}] .badge.breaker-open")).to_have_text("open")
    # A closed breaker says nothing of a retry.
    expect(page.locator("tr[data-provider=crashy] [data-role=retry], "
                        f"tr[data-region={GIVEN_UP_REGION}] [data-role=retry]")).to_have_count(0)
    screenshot(page, "providers-breaker-open")

    shown = int(RETRY.match(provider.inner_text()).group(1))
    page.clock.run_for(30_000)  # the page polls every 5 s
    expect(provider).to_have_text(RETRY)
    wait_for(lambda: int(RETRY.match(provider.inner_text()).group(1)) <= shown - 25, timeout=5,
             what="the retry counted down with the page's clock")


def test_a_source_the_supervisor_gave_up_on_has_a_given_up_badge_with_the_reason(page, gave_up):
    ready(page, "/ui/providers")
    crashy = page.locator("tr[data-provider=crashy]")
    expect(crashy.locator("[data-role=status]")).to_have_text("failed")
    expect(crashy.locator(".badge.given-up")).to_have_text("given up")
    expect(crashy.locator(".badge.given-up + .reason")).to_contain_text("unexpected message 'poison'")
    source = page.locator(f"tr[data-provider='bedrock@{GIVEN_UP_REGION}']")
    expect(source.locator(".badge.given-up")).to_have_text("given up")
    expect(source.locator(".reason")).to_contain_text("given up: its actor kept crashing")

    region = page.locator(f"tr[data-region={GIVEN_UP_REGION}]")
    expect(region.locator("[data-role=status]")).to_have_text("unavailable")
    expect(region.locator(".badge.given-up")).to_have_text("given up")
    expect(region.locator(".reason")).to_contain_text("given up: its actor kept crashing")
    # Distinct from an open breaker's soft red, not by colour alone: its own words, its own fill.
    colours = region.locator(".badge").evaluate_all("els => els.map(e => getComputedStyle(e).backgroundColor)")
    assert len(set(colours)) == len(colours), colours
    # Only the given-up sources have one.
    expect(page.locator(".badge.given-up")).to_have_count(3)
    screenshot(page, "providers-given-up")


def test_rows_of_a_server_without_next_try_at_or_given_up_show_no_retry_nor_badge(page, opened, gave_up):
    def older(route):  # a server from before the two fields: the same answer without them
        body = route.fetch().json()
        for row in body["data"]:
            row.pop("given_up", None)
            row.pop("breaker_next_try_at", None)
            if isinstance(row.get("breaker"), dict):
                row["breaker"].pop("next_try_at", None)
        route.fulfill(status=200, content_type="application/json", body=json.dumps(body))

    page.route(re.compile(r"/api/v1/(providers|bedrock/regions)$"), older)
    ready(page, "/ui/providers")
    expect(page.locator("tr[data-provider=flaky] .badge.breaker-open")).to_have_text("open")
    expect(page.locator(f"tr[data-region={OPEN_REGION}] .badge.breaker-open")).to_have_text("open")
    expect(page.locator("[data-role=retry]")).to_have_count(0)
    # A region's row has only given_up to say so; a provider's row says it by its actor's state, as before.
    expect(page.locator("table.regions .badge.given-up")).to_have_count(0)
    expect(page.locator(f"tr[data-region={GIVEN_UP_REGION}] [data-role=status]")).to_have_text("unavailable")
    expect(page.locator("tr[data-provider=crashy] .badge.given-up")).to_have_text("given up")
