"""/docs and /redoc in a real headless Chromium (Debian's, driven by Playwright) with no internet.

Every request the pages make to anything but loopback is aborted, as on a machine with no network,
so the pages can only render from what the gateway serves. Assertions are on the DOM after the UI's
JavaScript has rendered the OpenAPI document, not on the HTML source.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, Request, Route, expect, sync_playwright

from fixtures.stack import LocalStack

CHROMIUM = "/usr/bin/chromium"  # Debian's package; Playwright never downloads a browser here
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
PUBLIC_PATHS = (
    "/v1/models",
    "/v1/audio/transcriptions",
    "/v1/audio/translations",
    "/v1/audio/speech",
    "/v1/audio/voices",
)
# What a page cannot render without; a blocked web font only changes the typeface.
ESSENTIAL = frozenset({"document", "script", "stylesheet", "xhr", "fetch"})
RENDER_TIMEOUT_MS = 60_000


@dataclass
class OfflinePage:
    page: Page
    blocked: list[Request] = field(default_factory=list)

    def essential_blocked(self) -> list[str]:
        return [f"{r.resource_type} {r.url}" for r in self.blocked if r.resource_type in ESSENTIAL]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def offline(browser: Browser) -> Iterator[OfflinePage]:
    context = browser.new_context()
    context.set_default_timeout(RENDER_TIMEOUT_MS)
    page = OfflinePage(context.new_page())

    def only_loopback(route: Route) -> None:
        if urlsplit(route.request.url).hostname in LOOPBACK:
            route.continue_()
        else:
            page.blocked.append(route.request)
            route.abort("internetdisconnected")

    context.route("**/*", only_loopback)
    yield page
    context.close()


def test_swagger_ui_renders_the_routes_and_try_it_out_works(coqui_stack: LocalStack, offline: OfflinePage) -> None:
    page = offline.page
    page.goto(f"{coqui_stack.url}/docs")
    page.locator(".opblock").first.wait_for()
    rendered = {p.get_attribute("data-path") for p in page.locator(".opblock-summary-path").all()}
    assert set(PUBLIC_PATHS) <= rendered, rendered

    models = page.locator(".opblock-get", has=page.locator('.opblock-summary-path[data-path="/v1/models"]'))
    models.locator(".opblock-summary").click()
    models.get_by_role("button", name="Try it out").click()
    models.get_by_role("button", name="Execute").click()
    live = models.locator(".live-responses-table .response")
    expect(live.locator(".response-col_status")).to_have_text("200")
    expect(live.locator(".response-col_description")).to_contain_text("whisper-1")
    assert not offline.essential_blocked(), offline.essential_blocked()


def test_redoc_renders_the_routes(coqui_stack: LocalStack, offline: OfflinePage) -> None:
    page = offline.page
    page.goto(f"{coqui_stack.url}/redoc")
    operations = page.locator("[data-section-id^='operation/']")
    operations.first.wait_for()
    assert operations.count() >= len(PUBLIC_PATHS)
    text = page.locator("body").inner_text()
    for path in PUBLIC_PATHS:
        assert path in text, f"{path} not rendered by ReDoc"
    assert "response_format" in text  # request schemas are rendered, not just the route list
    assert not offline.essential_blocked(), offline.essential_blocked()
