"""The demo platform's pages in real Chromium: a Content-Security-Policy the browser accepts
without a console message, a favicon, and the agent's verification report, opened from a page
as a ``blob:`` document (as "Ouvrir le rapport" does), shown with its own style applied."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from playwright.async_api import Browser, ConsoleMessage, Response, async_playwright, expect

from agent.validation.report_html import render_report
from agent.demo_platform.app import PAGES, DemoState, create_demo_app
from tests.browser.test_demo_page import CHROMIUM, CHROMIUM_ARGS
from tests.support.agent_process import free_port

pytestmark = pytest.mark.browser


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[str]:
    port = free_port()
    runner = web.AppRunner(create_demo_app(DemoState(data_dir=tmp_path / "plateforme")))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


def _policy_messages(messages: list[ConsoleMessage]) -> list[str]:
    return [m.text for m in messages if "Content Security Policy" in m.text or "Content-Security-Policy" in m.text]


async def test_pages_and_report_without_policy_violation_and_with_style(site: str, browser: Browser) -> None:
    context = await browser.new_context()
    messages: list[ConsoleMessage] = []
    failed: list[str] = []
    context.on("console", lambda message: messages.append(message))

    def seen(response: Response) -> None:
        if response.status >= 400:
            failed.append(f"{response.status} {response.url}")

    context.on("response", seen)
    page = await context.new_page()
    for path in PAGES:
        await page.goto(f"{site}{path}?agent_ports={free_port()}")
        await page.wait_for_load_state("networkidle")
    assert _policy_messages(messages) == []
    assert failed == []
    # The kit's job view (/js/job-view.js, imported by common.js) loaded under the policy: it drew its parts.
    await page.goto(f"{site}/signer?agent_ports={free_port()}")
    await expect(page.locator("#sign-job-steps")).to_have_count(1)
    await expect(page.locator("#sign-job-waiting")).to_have_count(1)
    assert _policy_messages(messages) == []
    icon = await page.evaluate("fetch('/favicon.ico').then((r) => [r.status, r.headers.get('content-type')])")
    assert icon == [200, "image/svg+xml"]

    # The report as the agent renders it, opened by the page's own origin as a blob: document.
    report = render_report({"file": "offre.pdf", "signatures": []}, "fr", "0.1.0")
    async with context.expect_page() as opened:
        await page.evaluate(
            "(html) => window.open(URL.createObjectURL(new Blob([html], {type: 'text/html'})), '_blank')",
            report)
    shown = await opened.value
    await shown.wait_for_load_state()
    assert shown.url.startswith("blob:")
    style = await shown.evaluate(
        "() => { const s = getComputedStyle(document.body); return [s.maxWidth, s.fontFamily]; }")
    assert style[0] == "960px", style  # 60rem: the report's style applied
    assert "system-ui" in style[1], style
    assert _policy_messages(messages) == [], json.dumps([m.text for m in messages])
    await context.close()
