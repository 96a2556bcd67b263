"""What an acceptance run of the dashboard found, each as an operator meets it in Chromium: a shared
catalog URL shows what the API returns for it, Back draws the page it goes back to, the controls
say what filters the rows, the Changes page follows Bedrock's regions and keeps the typist's focus,
a model's record follows its changes live, a compare link leaves the tab's own ticks alone, and a
service that needs no admin token offers its actions without one."""
from __future__ import annotations

import itertools

from playwright.sync_api import expect

from tests.browser.conftest import needs_chromium, ready

pytestmark = needs_chromium

_names = itertools.count(1)


def row_ids(page) -> list[str]:
    return page.locator("table.models tbody tr").evaluate_all("rows => rows.map(r => r.dataset.id)")


def test_a_catalog_url_shows_the_rows_the_api_returns_for_it(page, api, problems):
    # No limit named: the API's own page size (the page showed 50 where the API returns 100).
    ready(page, "/ui/catalog?sort=context_window")
    expected = api("/api/v1/models", sort="context_window")
    assert len(expected["data"]) == 100 and row_ids(page) == [m["id"] for m in expected["data"]]
    # An empty value is the API's 400, said on the page (it showed the rows of no limit).
    ready(page, "/ui/catalog?limit=")
    expect(page.locator(".table-scroll .notice.error")).to_contain_text("limit is given without a value")
    assert problems.clear() and row_ids(page) == []


def test_back_to_the_url_the_page_was_opened_with_draws_it_again(page, api):
    ready(page, "/ui/catalog")
    page.click("[data-key=sort-context_window]")
    page.wait_for_url("**/ui/catalog?sort=context_window")
    page.wait_for_selector(".table-scroll[aria-busy=false]")
    assert row_ids(page) == [m["id"] for m in api("/api/v1/models", sort="context_window")["data"]]
    page.go_back()
    page.wait_for_url("**/ui/catalog")
    page.wait_for_selector("main[data-ready]")
    expect(page.locator("th[aria-sort=ascending]")).to_have_count(0)
    assert row_ids(page) == [m["id"] for m in api("/api/v1/models")["data"]]


def test_the_controls_show_the_filters_the_url_holds(page):
    ready(page, "/ui/catalog?kind=CHAT&status=active,preview&limit=5")
    expect(page.locator("#f-kind")).to_have_value("chat")  # the API takes CHAT as chat
    expect(page.locator("#f-status")).to_have_value("active,preview")
    expect(page.locator("[data-key=limit]")).to_have_value("5")
    expect(page.locator("table.models tbody tr")).to_have_count(5)
    ready(page, "/ui/changes?kinds=added,updated")
    expect(page.locator("#f-kind")).to_have_value("added,updated")


def test_a_page_past_the_last_says_so_and_links_to_the_first(page, api):
    total = api("/api/v1/models", limit=1)["total"]
    ready(page, "/ui/catalog?offset=99999")
    expect(page.locator(".page-head .summary")).to_have_text(f"{total:,} models · none on this page")
    expect(page.locator(".pager .page-no")).to_contain_text("past the last page")
    page.click("text=Go to the first page")
    page.wait_for_url("**/ui/catalog")
    page.wait_for_selector(".table-scroll[aria-busy=false]")
    expect(page.locator("table.models tbody tr")).to_have_count(min(total, 100))


def test_the_changes_page_filtered_on_bedrock_shows_its_regions_events_live(page, service):
    ready(page, "/ui/changes?provider=bedrock")
    expect(page.locator("#live")).to_have_attribute("data-state", "live")
    (outcome,) = service.wait([service.refresh("bedrock@eu-west-1")], timeout=10)
    assert outcome.outcome == "succeeded", outcome
    fresh = page.locator(".feed li.fresh[data-kind=models_refreshed]", has_text="bedrock@eu-west-1")
    expect(fresh.first).to_be_visible()
    page.reload()
    page.wait_for_selector("main[data-ready]")
    expect(page.locator(".feed li[data-kind=models_refreshed]", has_text="bedrock@").first).to_be_visible()


def test_typing_a_provider_on_the_changes_page_keeps_the_focus_until_the_name_is_complete(page):
    ready(page, "/ui/changes")
    box = page.locator("#f-provider")
    box.click()
    box.type("op")
    page.wait_for_timeout(800)  # longer than the half second after which "op" was sent, refused and the page redrawn
    assert page.evaluate("document.activeElement.id") == "f-provider" and "provider=" not in page.url
    box.type("enai")
    box.press("Enter")
    page.wait_for_url("**/ui/changes?provider=openai")
    page.wait_for_selector("main[data-ready]")
    assert page.evaluate("document.activeElement.id") == "f-provider"
    page.locator("#f-kind").focus()
    page.select_option("#f-kind", "added")
    page.wait_for_url("**kinds=added**")
    page.wait_for_selector("main[data-ready]")
    assert page.evaluate("document.activeElement.id") == "f-kind"


def test_the_stream_resumes_from_the_feed_it_opened_on_even_before_any_event(page, api):
    """A tab that had seen no event reconnected with no Last-Event-ID after a restart, losing what
    was committed meanwhile: it now keeps where the feed stood when it opened."""
    ready(page, "/ui/changes")
    expect(page.locator("#live")).to_have_attribute("data-state", "live")
    head = api("/api/v1/events", limit=1)["last_event_id"]
    kept = int(page.evaluate("sessionStorage.getItem('discovery.lastEventId')"))
    assert 0 < kept <= head


def test_a_models_record_follows_its_changes_without_a_reload(page, sim, service):
    owner = f"acme-live-{next(_names)}"
    ready(page, "/ui/models/vllm/acme-small-1")
    expect(page.locator("#live")).to_have_attribute("data-state", "live")
    sim.state.update_model("openai_compatible", "acme-small-1", {"owned_by": owner})
    (outcome,) = service.wait([service.refresh("vllm")], timeout=10)
    assert outcome.outcome == "succeeded", outcome
    expect(page.locator("section.record")).to_contain_text(owner)
    expect(page.locator(".timeline li").first.locator("ins")).to_have_text(owner)


def test_a_compare_link_leaves_the_tabs_own_ticks_alone(page, api, problems):
    ready(page, "/ui/catalog")
    mine = row_ids(page)[:2]
    for model_id in mine:
        page.check(f"[data-key='tick-{model_id}']")
    ready(page, "/ui/compare?ids=vllm/acme-large-1,vllm/not-a-model")
    expect(page.locator("main .summary")).to_have_text("1 of the 2 models named is in the catalog: nothing to compare")
    expect(page.locator("main .notice.error")).to_have_text("Not in the catalog: vllm/not-a-model")
    assert [p for p in problems.clear() if "404" not in p] == []  # the unknown model's 404 is the point
    assert page.evaluate("JSON.parse(sessionStorage.getItem('discovery.compare'))") == mine
    # The ids repeated, as the API takes them.
    ready(page, "/ui/compare?ids=vllm/acme-large-1&ids=vllm/acme-small-1")
    expect(page.locator("main .summary")).to_contain_text("2 models ·")


def test_the_providers_page_does_not_keep_its_old_counts_when_the_service_stops_answering(page, problems):
    ready(page, "/ui/providers")
    expect(page.locator(".page-head .summary")).to_contain_text("sources:")
    page.route("**/api/v1/providers", lambda route: route.abort())  # as a service that went away
    expect(page.locator(".page-head .summary")).to_have_text("The service did not answer the last redraw.",
                                                            timeout=15_000)  # the next 5-second redraw
    expect(page.locator("main .notice.error")).to_contain_text("The service did not answer")
    assert all("Failed to load resource" in p for p in problems.clear())  # the aborted requests
