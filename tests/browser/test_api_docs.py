"""The /docs page in a real browser: Swagger UI renders every operation of the OpenAPI 3.1
document, asks nothing of any other host, and logs no error."""
from __future__ import annotations

from urllib.parse import urlsplit

from tests.browser.conftest import needs_chromium
from web.openapi import documented_routes

pytestmark = needs_chromium


def test_the_docs_page_shows_every_operation_from_this_host_alone(page, server):
    hosts: set[str] = set()
    page.on("request", lambda r: hosts.add(urlsplit(r.url).netloc))
    page.goto("/docs")
    page.wait_for_selector(".opblock")
    page.wait_for_function(f"document.querySelectorAll('.opblock').length >= {len(documented_routes())}")
    assert page.locator(".opblock").count() == len(documented_routes())
    assert page.locator(".opblock-tag").count() >= 10  # grouped by tag
    assert "model discovery service" in page.locator(".info .title").inner_text()
    assert hosts == {urlsplit(server.url).netloc}
