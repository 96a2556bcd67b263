"""The dashboard in a real Chromium against a real service on the simulator: what an operator sees."""
from __future__ import annotations

import itertools
import time

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import (
    ADMIN_TOKEN,
    BEDROCK_MODEL,
    LAPTOP,
    PHONE,
    REGIONS,
    enter_token,
    needs_chromium,
    ready,
    refresh,
    row_ids,
    screenshot,
)

pytestmark = needs_chromium

_names = itertools.count(1)


def test_catalog_lists_the_models_the_api_lists(page, api):
    ready(page, "/")
    expected = api("/api/v1/models")  # the API's own page size: the page shows what it returns
    assert row_ids(page) == [m["id"] for m in expected["data"]]
    expect(page.locator(".summary").first).to_have_text(f"{expected['total']:,} models · showing 1–{len(expected['data'])}")
    screenshot(page, "catalog")


def test_a_capability_filter_narrows_the_rows_to_what_the_api_returns_for_it(page, api):
    ready(page, "/ui/catalog?limit=200")
    everything = api("/api/v1/models", limit=200)["total"]
    page.click("[data-capability=vision]")
    page.wait_for_url("**/ui/catalog?*capability=vision*")
    page.wait_for_selector(".table-scroll[aria-busy=false]")
    vision = api("/api/v1/models", capability="vision", limit=200)
    assert 0 < vision["total"] < everything
    assert row_ids(page) == [m["id"] for m in vision["data"]]
    # Two chips: all of them must hold, as the API's comma list means.
    page.click("[data-capability=tool_calling]")
    page.wait_for_url("**capability=vision%2Ctool_calling*")
    page.wait_for_selector(".table-scroll[aria-busy=false]")
    both = api("/api/v1/models", capability="vision,tool_calling", limit=200)
    assert row_ids(page) == [m["id"] for m in both["data"]]
    # The URL holds the filters: opened afresh it shows the same rows.
    page.reload()
    page.wait_for_selector("main[data-ready]")
    assert row_ids(page) == [m["id"] for m in both["data"]]
    expect(page.locator("[data-capability=vision]")).to_have_attribute("aria-pressed", "true")


def test_filters_without_a_control_are_listed_and_a_past_catalog_is_marked(page, api):
    """as_of, id and attr.<key> filtered the rows with nothing on the page saying so: a shared link
    to a past catalog read as the live one."""
    ready(page, "/ui/catalog?attr.owned_by=acme&id=vllm/*")
    owned = api("/api/v1/models", **{"attr.owned_by": "acme", "id": "vllm/*"})
    assert owned["total"] >= 1 and row_ids(page) == [m["id"] for m in owned["data"]]
    expect(page.locator(".as-of .notice")).to_have_count(0)
    listed = page.locator(".other-filters .chip")
    expect(listed).to_have_text(["attr.owned_by = acme ×", "id = vllm/* ×"])
    page.click("[data-key='drop-attr.owned_by']")
    page.wait_for_url(lambda url: "owned_by" not in url and "id=vllm" in url)
    page.wait_for_selector(".table-scroll[aria-busy=false]")
    assert row_ids(page) == [m["id"] for m in api("/api/v1/models", id="vllm/*")["data"]]
    expect(listed).to_have_text(["id = vllm/* ×"])

    past = "2020-01-01T00:00:00Z"  # before anything was stored: an empty catalog
    ready(page, f"/ui/catalog?as_of={past}")
    assert api("/api/v1/models", as_of=past)["total"] == 0
    expect(page.locator(".as-of .notice.past")).to_contain_text(f"the models as they stood at {past}, not the live catalog")
    expect(page.locator(".table-scroll")).to_contain_text("No model matches these filters.")
    expect(page.locator(".other-filters")).to_be_hidden()
    page.click("[data-key=drop-as_of]")
    page.wait_for_url("**/ui/catalog")
    page.wait_for_selector(".table-scroll[aria-busy=false]")
    expect(page.locator(".as-of .notice")).to_have_count(0)
    assert row_ids(page) == [m["id"] for m in api("/api/v1/models")["data"]]


def test_models_ticked_in_the_catalog_are_compared_side_by_side_with_differences_marked(page, api):
    ready(page, "/ui/catalog?provider=vllm")
    boxes = page.locator("table.models tbody input[type=checkbox]")
    expect(boxes).to_have_count(len(api("/api/v1/models", provider="vllm")["data"]))
    boxes.nth(0).check()
    boxes.nth(1).check()
    expect(page.locator(".compare-bar")).to_contain_text("2 ticked")
    page.click(".compare-bar a:text('Compare')")
    page.wait_for_selector("main[data-ready=compare]")
    ticked = page.locator("table.compare thead th .id").all_text_contents()
    assert ticked == [m["id"] for m in api("/api/v1/models", provider="vllm", limit=2)["data"]]
    # Opened from the navigation too, the address names the models, so the link can be shared.
    page.click("nav a[data-page=compare]")
    page.wait_for_selector("main[data-ready=compare]")
    assert page.evaluate("new URL(location.href).searchParams.get('ids')") == ",".join(ticked)
    differing = page.locator("table.compare tr.differs th")
    expect(differing.filter(has_text="provider model id")).to_have_count(1)
    same = page.locator("table.compare tr.same").first
    expect(same).to_be_visible()
    page.check("#only-diff")
    expect(same).to_be_hidden()
    expect(differing.first).to_be_visible()


def test_a_page_the_dashboard_does_not_have_shows_not_found_with_the_navigation(page, problems, server):
    answer = page.goto("/ui/no-such-page")
    assert answer is not None and answer.status == 404
    page.wait_for_selector("main[data-ready=missing]")
    expect(page.locator("main h1")).to_have_text("Not found")
    expect(page.locator("nav a[data-page=catalog]")).to_be_visible()  # it used to be the API's JSON alone
    # The 404 itself is the point (the browser logs it as a failed load, too); nothing else failed.
    assert [p for p in problems.clear() if "no-such-page" not in p and "status of 404" not in p] == []
    # Asked by anything but a browser, it is still the JSON error.
    import requests

    resp = requests.get(server.url + "/ui/no-such-page", timeout=5)
    assert resp.status_code == 404 and resp.json()["error"]["code"] == "not_found"


def test_the_skip_link_moves_to_the_content_without_a_new_view(page):
    ready(page, "/ui/catalog?provider=vllm")
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url))
    page.keyboard.press("Tab")
    expect(page.locator("a.skip")).to_be_focused()
    page.keyboard.press("Enter")
    page.wait_for_function("location.hash === '#view'")
    assert not [url for url in asked if "/api/v1/" in url], asked  # it used to draw the catalog again


def test_a_model_page_shows_its_history_as_a_diff(page, sim, service):
    owner = f"acme-labs-{next(_names)}"
    sim.state.update_model("openai_compatible", "acme-large-1", {"owned_by": owner})
    refresh(service, "vllm")
    ready(page, "/ui/models/vllm/acme-large-1")
    newest = page.locator(".timeline li").first
    expect(newest.locator(".badge")).to_have_text("updated")
    row = newest.locator("table.diff tr", has_text="attributes.owned_by")
    expect(row.locator("del")).to_have_text("acme")
    expect(row.locator("ins")).to_have_text(owner)
    expect(page.locator(".timeline li").last.locator(".badge")).to_have_text("added")
    # Each value names its source on hover or focus.
    value = page.locator(".group tr", has_text="release date").locator(".prov")
    value.focus()
    expect(value.locator("xpath=following-sibling::span[@role='tooltip']")).to_contain_text("vllm")
    screenshot(page, "model-history")


def test_a_change_at_the_simulator_appears_in_the_live_feed_within_two_seconds(page, sim, service):
    ready(page, "/ui/changes")
    expect(page.locator("#live")).to_have_attribute("data-state", "live")
    page.evaluate("window.__notReloaded = true")
    model = f"acme-new-{next(_names)}"
    sim.state.add_model("openai_compatible", {"id": model, "object": "model", "created": 1715367049,
                                              "owned_by": "acme"})
    refresh(service, "vllm")
    committed = time.monotonic()
    item = page.locator(".feed li[data-kind=added]", has=page.locator(f"a:text-is('vllm/{model}')"))
    expect(item).to_be_visible(timeout=2000)
    assert time.monotonic() - committed < 2.0
    assert page.evaluate("window.__notReloaded") is True
    screenshot(page, "changes")


def test_the_feed_resumes_after_a_reload_from_the_last_event_it_saw(page, sim, service):
    ready(page, "/ui/changes?kinds=added")
    expect(page.locator("#live")).to_have_attribute("data-state", "live")
    model = f"acme-seen-{next(_names)}"
    sim.state.add_model("openai_compatible", {"id": model, "object": "model", "created": 1, "owned_by": "acme"})
    refresh(service, "vllm")
    expect(page.locator(".feed li", has_text=f"vllm/{model}")).to_be_visible()
    assert set(page.locator(".feed li").evaluate_all("items => items.map(i => i.dataset.kind)")) == {"added"}
    last_seen = page.evaluate("sessionStorage.getItem('discovery.lastEventId')")
    assert int(last_seen) >= int(page.locator(".feed li").first.get_attribute("data-id"))
    with page.expect_request(lambda r: r.url.endswith("/api/v1/events/stream")) as stream:
        page.reload()
    assert stream.value.headers.get("last-event-id") == last_seen
    expect(page.locator("#live")).to_have_attribute("data-state", "live")


def test_provider_status_turns_unhealthy_when_the_simulator_fails(page, sim):
    ready(page, "/ui/providers")
    status = page.locator("tr[data-provider=ollama] [data-role=status]")
    expect(status).to_have_text("healthy")
    sim.state.set_fault("ollama", "status", status=500)
    try:
        expect(status).to_have_text("unhealthy", timeout=10_000)
        expect(page.locator("tr[data-provider=ollama] .spark .fail").first).to_be_attached()
        screenshot(page, "providers-unhealthy")
    finally:
        sim.state.clear_faults("ollama")
    expect(status).not_to_have_text("unhealthy", timeout=10_000)


def test_admin_actions_appear_only_with_a_token_and_carry_it(page, api):
    ready(page, "/ui/providers")
    refresh_button = page.locator("[data-key=refresh-vllm]")
    expect(refresh_button).to_have_count(0)
    enter_token(page)
    expect(refresh_button).to_be_visible()
    with page.expect_request(lambda r: r.method == "POST") as sent:
        refresh_button.click()
    assert sent.value.url.endswith("/api/v1/providers/vllm/refresh")
    assert sent.value.headers["authorization"] == f"Bearer {ADMIN_TOKEN}"
    expect(page.locator("tr[data-provider=vllm]")).to_contain_text("started run")
    assert page.evaluate("sessionStorage.getItem('discovery.token')") == ADMIN_TOKEN
    page.click("#admin summary")
    page.click("#token-forget")
    expect(refresh_button).to_have_count(0)


def board_ids(page) -> list[str]:
    return page.locator("table.board tbody tr").evaluate_all("rows => rows.map(r => r.dataset.id)")


def test_the_leaderboard_sorts_by_any_metric_as_the_api_does(page, api):
    ready(page, "/ui/benchmarks")
    default = api("/api/v1/benchmarks")
    assert default["total"] >= 4
    assert board_ids(page) == [f"{r['model_id']}@{r['region'] or ''}" for r in default["data"]]
    screenshot(page, "benchmarks")
    for button, sort in (("sort-output_speed", "-output_speed"), ("sort-latency", "latency"),
                         ("sort-latency", "-latency"), ("sort-model", "model")):
        page.click(f"[data-key={button}]")
        page.wait_for_url(f"**sort={sort}*")
        page.wait_for_selector(".table-scroll[aria-busy=false]")
        expected = api("/api/v1/benchmarks", sort=sort)["data"]
        assert board_ids(page) == [f"{r['model_id']}@{r['region'] or ''}" for r in expected], sort


def test_a_bedrock_models_page_charts_its_benchmarks_per_region(page):
    ready(page, f"/ui/models/{BEDROCK_MODEL}")
    charts = page.locator(".charts svg.chart")
    expect(charts).to_have_count(2)
    assert sorted(page.locator("ul.legend li").all_text_contents()) == sorted(REGIONS)
    # Two runs in each region: a line of two points per region in each chart.
    for chart in charts.all():
        assert chart.locator("circle").count() == 2 * len(REGIONS)
        assert chart.locator("polyline").count() == len(REGIONS)
    expect(page.locator("#regions-h")).to_be_visible()
    page.locator("#bench-h").scroll_into_view_if_needed()
    screenshot(page, "model-benchmarks")


def test_running_a_benchmark_from_a_model_page_sends_the_token_and_shows_the_result_live(page, api):
    ready(page, "/ui/models/openai/gpt-4o")
    expect(page.locator("[data-key=run-benchmark]")).to_have_count(0)
    before = page.locator("table.results tbody tr").count()
    enter_token(page)
    page.wait_for_selector("main[data-ready=models]")
    with page.expect_request(lambda r: r.method == "POST") as sent:
        page.click("[data-key=run-benchmark]")
    assert sent.value.url.endswith("/api/v1/models/openai/gpt-4o/benchmarks")
    assert sent.value.headers["authorization"] == f"Bearer {ADMIN_TOKEN}"
    # The result arrives with its benchmark_completed event, without a reload.
    expect(page.locator("table.results tbody tr")).to_have_count(before + 1, timeout=10_000)


def test_keyboard_alone_filters_the_catalog_and_opens_a_model(page):
    ready(page, "/")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.focus("[data-capability=reasoning]")
    page.keyboard.press("Enter")
    page.wait_for_url("**capability=reasoning*")
    page.wait_for_selector(".table-scroll[aria-busy=false]")
    first = page.locator("table.models tbody tr a").first
    name = first.text_content()
    first.focus()
    page.keyboard.press("Enter")
    page.wait_for_selector("main[data-ready=models]")
    # The new page's heading takes the focus, so reading starts there.
    assert page.evaluate("document.activeElement.tagName") == "H1"
    assert page.evaluate("document.activeElement.textContent") == name


PAGES = {
    "catalog": "/ui/catalog",
    "compare": "/ui/compare?ids=openai/gpt-4o,vllm/acme-large-1,bedrock/amazon.nova-pro-v1:0",
    "model": "/ui/models/bedrock/amazon.nova-pro-v1:0",
    "changes": "/ui/changes",
    "providers": "/ui/providers",
    "benchmarks": "/ui/benchmarks",
}


@pytest.mark.parametrize("size", [LAPTOP, PHONE], ids=["laptop", "phone"])
def test_every_page_renders_without_console_errors(page, size):
    page.set_viewport_size(size)
    for name, path in PAGES.items():
        ready(page, path)
        assert page.locator("main h1").count() == 1, f"{name}: no heading"
        assert not page.locator(".notice.error").count(), f"{name}: {page.locator('.notice.error').all_text_contents()}"
        # Nothing wider than the screen but the tables that scroll inside their own box.
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"{name}: the page is {overflow}px wider than the screen"
        screenshot(page, name)
