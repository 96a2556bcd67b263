"""What a second acceptance run of the dashboard found, each as an operator meets it in Chromium:
"Older changes" keeps working past the first 500 events, a removed model's page shows its history,
a long history says so and pages back, the leaderboard's refusal leaves no stale summary, the
catalog's controls keep repeated parameters, and a model page says when the compare list is full."""
from __future__ import annotations

import itertools
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from playwright.sync_api import expect

from tests.browser.conftest import needs_chromium, ready, refresh, row_ids

pytestmark = needs_chromium

_names = itertools.count(1)


def add_acme(sim, service, name: str) -> None:
    sim.state.add_model("openai_compatible", {"id": name, "object": "model", "created": 1715367049, "owned_by": "acme"})
    refresh(service, "vllm")


def lowest_event(page) -> int:
    return int(page.locator(".feed li").last.get_attribute("data-id"))


def test_older_changes_keep_coming_past_the_first_500(page, sim, service, api):
    """The list kept 500 events by dropping the oldest: the older ones asked for went at once,
    while the button's marker moved back, so clicking showed nothing new."""
    for i in range(600):  # an "added" event each
        sim.state.add_model("openai_compatible", {"id": f"acme-bulk-{i}", "object": "model", "created": 1715367049,
                                                  "owned_by": "acme"})
    refresh(service, "vllm")
    head = api("/api/v1/events", limit=1)["last_event_id"]
    assert head > 700, head
    ready(page, "/ui/changes")
    expect(page.locator(".feed li").first).to_be_attached()
    for _ in range(3):
        before = lowest_event(page)
        page.click(".more button:text('Older changes')")
        page.wait_for_function("n => Number(document.querySelector('.feed li:last-child').dataset.id) < n",
                               arg=before, timeout=5000)
    shown = page.locator(".feed li").count()
    assert shown > 500, shown
    assert lowest_event(page) <= head - 500


def test_a_removed_models_page_shows_its_history(page, sim, service, problems):
    """It showed only "no model ... in the catalog (404)": the record's 404 stopped the page
    before the history, which the API keeps for a removed model, was asked for."""
    name = f"acme-gone-{next(_names)}"
    add_acme(sim, service, name)
    sim.state.remove_model("openai_compatible", name)
    refresh(service, "vllm")  # missing (missing_grace_refreshes = 1)
    refresh(service, "vllm")  # removed
    ready(page, f"/ui/models/vllm/{name}")
    expect(page.locator("main .notice.info")).to_contain_text("no longer in the catalog")
    expect(page.locator("main h1")).to_have_text(name)
    versions = page.locator(".timeline li")
    expect(versions).to_have_count(2)
    expect(versions.first.locator(".badge")).to_have_text("removed")
    expect(versions.last.locator(".badge")).to_have_text("added")
    assert [p for p in problems.clear() if "404" not in p] == []  # the record's own 404
    # An id with no history either is still not found.
    ready(page, "/ui/models/vllm/never-was-here")
    expect(page.locator("main .notice.error")).to_have_text("no model 'vllm/never-was-here' in the catalog (404)")
    assert [p for p in problems.clear() if "404" not in p] == []


def limited(url: str, limit: int) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.setdefault("limit", str(limit))
    return urlunsplit(parts._replace(query=urlencode(query)))


def test_a_long_history_says_so_and_pages_back(page, sim, service):
    """Only the newest page (100 versions) was shown, with no sign of the older ones. The page
    size is made 2 here (each history request gets limit=2) instead of making 101 versions."""
    name = f"acme-long-{next(_names)}"
    add_acme(sim, service, name)
    for owner in ("acme-a", "acme-b"):
        sim.state.update_model("openai_compatible", name, {"owned_by": owner})
        refresh(service, "vllm")
    page.route("**/history*", lambda route: route.continue_(url=limited(route.request.url, 2)))
    ready(page, f"/ui/models/vllm/{name}")
    versions = page.locator(".timeline li")
    expect(versions).to_have_count(2)
    expect(page.locator(".history-count")).to_have_text("The newest 2 of 3 versions.")
    page.click("button:text('Older versions')")
    expect(versions).to_have_count(3)
    expect(versions.last.locator(".badge")).to_have_text("added")
    expect(page.locator("button:text('Older versions')")).to_have_count(0)
    expect(page.locator(".history-count")).to_have_count(0)
    # A new version arriving live keeps the older ones read.
    expect(page.locator("#live")).to_have_attribute("data-state", "live")
    sim.state.update_model("openai_compatible", name, {"owned_by": "acme-c"})
    refresh(service, "vllm")
    expect(versions).to_have_count(4)
    expect(versions.first.locator("ins")).to_have_text("acme-c")


def test_a_refused_leaderboard_query_leaves_no_stale_summary(page, problems):
    """"Loading…" (or the count of an earlier answer) stayed above the API's refusal."""
    summary = page.locator("main > p.summary")
    ready(page, "/ui/benchmarks?region=nosuch")
    expect(page.locator(".table-scroll .notice.error")).to_contain_text("unknown region")
    expect(summary).to_have_text("")
    ready(page, "/ui/benchmarks")
    expect(summary).to_contain_text("measured model")
    page.fill("#b-provider", "nosuch")
    page.press("#b-provider", "Enter")
    expect(page.locator(".table-scroll .notice.error")).to_contain_text("nosuch")
    expect(summary).to_have_text("")
    assert [p for p in problems.clear() if "400" not in p] == []  # the refusals are the point


def test_the_catalog_controls_keep_repeated_parameters(page, api):
    """Only the first of a repeated parameter was read: the provider box said "openai" over rows of
    two providers, and a chip clicked dropped the second capability from the URL."""
    ready(page, "/ui/catalog?provider=openai&provider=vllm&limit=200")
    expect(page.locator("#f-provider")).to_have_value("openai,vllm")
    assert row_ids(page) == [m["id"] for m in api("/api/v1/models", provider="openai,vllm", limit=200)["data"]]
    ready(page, "/ui/catalog?capability=vision&capability=tool_calling&limit=200")
    for name in ("vision", "tool_calling"):
        expect(page.locator(f"[data-capability={name}]")).to_have_attribute("aria-pressed", "true")
    page.click("[data-capability=streaming]")
    page.wait_for_url("**capability=vision%2Ctool_calling%2Cstreaming*")
    page.wait_for_selector(".table-scroll[aria-busy=false]")
    assert row_ids(page) == [m["id"] for m in api("/api/v1/models", capability="vision,tool_calling,streaming",
                                                  limit=200)["data"]]


def test_ticking_a_model_for_compare_when_ten_are_ticked_says_so(page):
    ready(page, "/ui/models/vllm/acme-large-1")
    page.evaluate("ids => sessionStorage.setItem('discovery.compare', JSON.stringify(ids))",
                  [f"vllm/other-{i}" for i in range(10)])
    button = page.locator("button:text('Tick for compare')")
    button.click()
    expect(page.locator(".page-head [role=status]")).to_contain_text("At most 10 models can be compared.")
    expect(button).to_have_attribute("aria-pressed", "false")


def test_a_whole_number_box_sends_the_number_it_shows(page, api):
    """ "1e3" in "Context at least" was sent as typed, and the API refused it (a whole number only)."""
    ready(page, "/ui/catalog?limit=200")
    page.fill("#f-min_context_window", "1e3")
    page.wait_for_url("**min_context_window=1000*")
    page.wait_for_selector(".table-scroll[aria-busy=false]")
    expect(page.locator("main .notice.error")).to_have_count(0)
    assert row_ids(page) == [m["id"] for m in api("/api/v1/models", min_context_window=1000, limit=200)["data"]]
