"""Calls that wait for the user get the agent's consent timeout, in Chromium (PROTOCOL.md "Calls
that wait for the user"): ``certificates.list`` answered by the user after 17 s — past the client's
15 s default — still reaches the page."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import pexpect
import pytest
from playwright.async_api import Browser

from tests.browser.test_demo_page import browser, demo_site  # noqa: F401  (fixtures)
from tests.support.agent_process import ROOT, free_port, isolated_env, write_config
from tests.support.pairing import pair_page, terminal_code

pytestmark = pytest.mark.browser

LIST = """() => import('/static/common.js').then((m) => m.client.call('certificates.list', {purpose: 'signing'})
    .then((r) => 'ok:' + r.certificates.length, (e) => e.code))"""


async def test_a_consent_answered_after_the_default_timeout_reaches_the_page(
        home: Path, demo_site: str, browser: Browser) -> None:  # noqa: F811
    write_config(home, allowed=[demo_site], preapproved=[demo_site], consent="prompt", consent_timeout=60)
    port = free_port()
    child = pexpect.spawn(sys.executable, ["-m", "agent", "serve", "--port", str(port)], cwd=str(ROOT),
                          env=isolated_env(home), encoding="utf-8", timeout=30)
    try:
        child.expect("en écoute sur")
        page = await browser.new_page()
        await page.goto(f"{demo_site}/?agent_ports={port}")
        await pair_page(page, lambda: terminal_code(child))  # pre-approved: the code, no question
        info = await page.evaluate("() => import('/static/common.js').then((m) => m.client.info.consent_timeout)")
        assert info == 60
        assert await page.evaluate("() => import('/static/common.js').then((m) => m.client.timeoutFor('certificates.list'))") == 70_000
        assert await page.evaluate("() => import('/static/common.js').then((m) => m.client.timeoutFor('jobs.list'))") == 15_000

        asked = time.monotonic()
        listing = asyncio.create_task(page.evaluate(LIST))
        await asyncio.to_thread(child.expect, r"tapez ([A-Z]{4}) puis")
        word = child.match.group(1)
        await asyncio.sleep(max(0.0, 17.0 - (time.monotonic() - asked)))  # the user takes their time
        child.sendline(word)
        outcome = await listing
        assert outcome.startswith("ok:"), outcome
        assert time.monotonic() - asked >= 17.0
    finally:
        child.terminate(force=True)
