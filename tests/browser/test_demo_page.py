"""End to end in a real browser: Debian chromium driven by Playwright (``executable_path``).

The demo page shows "En ligne", runs "Tester la configuration de mon poste" to 100 % with the
result table, shows "Hors ligne" within 3 s when the agent stops, and "En ligne" again when it
comes back.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from playwright.async_api import Browser, async_playwright, expect

from bridge_protocol.demo.app import DemoState, create_demo_app
from tests.support.agent_process import AgentProcess, free_port, write_config

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


@pytest.fixture
async def demo_site() -> AsyncIterator[str]:
    port = free_port()
    runner = web.AppRunner(create_demo_app(DemoState()))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def test_status_and_workstation_test_in_chromium(home: Path, demo_site: str, browser: Browser) -> None:
    write_config(home, allowed=[demo_site], preapproved=[demo_site], consent="deny")
    agent = AgentProcess(home, free_port()).start()
    try:
        page = await browser.new_page()
        console: list[str] = []
        page.on("console", lambda m: console.append(m.text))
        await page.goto(f"{demo_site}/?agent_ports={agent.port}")
        state = page.locator("#agent-state")
        await expect(state).to_have_text("En ligne", timeout=10_000)
        await expect(page.locator("#agent-version")).to_contain_text("0.1.0")

        # Live progress: record every percentage the page shows while the job runs.
        await page.evaluate(
            """() => { window.seen = []; new MutationObserver(() => window.seen.push(
                document.getElementById('diag-percent').textContent)).observe(
                document.getElementById('diag-percent'), {childList: true, characterData: true, subtree: true}); }"""
        )
        await page.get_by_role("button", name="Lancer le test de configuration de mon poste").click()
        await expect(page.locator("#diag-percent")).to_have_text("100 %", timeout=20_000)
        await expect(page.locator("#diag-result")).to_be_visible()
        rows = page.locator("#diag-rows tr")
        await expect(rows).to_have_count(8)
        await expect(page.locator('td[data-check="browser"]')).to_contain_text("Chrome 156")
        await expect(page.locator('td[data-check="platform"]')).to_have_text("Communication établie")
        await expect(page.locator('td[data-check="os"]')).to_contain_text("Debian")
        await expect(page.locator("#diag-verdict")).to_contain_text("prérequis")
        seen = await page.evaluate("window.seen")
        assert "100 %" in seen and len(seen) >= 2, seen  # the percentage moved in front of the user

        # Agent stops: "Hors ligne" within 3 s.
        agent.stop()
        stopped = time.monotonic()
        await expect(state).to_have_text("Hors ligne", timeout=3_000)
        assert time.monotonic() - stopped <= 3.0
        await expect(page.get_by_role("button", name="Lancer le test de configuration de mon poste")).to_be_disabled()

        # And back.
        agent.start()
        await expect(state).to_have_text("En ligne", timeout=10_000)
        assert not [line for line in console if "Uncaught" in line], console
    finally:
        agent.stop()


async def test_page_in_english_and_a_foreign_origin_stays_offline(home: Path, demo_site: str, browser: Browser) -> None:
    # The agent allows another origin only: the demo page's handshake is refused (403).
    write_config(home, allowed=["https://marches.example.fr"], consent="deny")
    agent = AgentProcess(home, free_port()).start()
    try:
        page = await browser.new_page()
        await page.goto(f"{demo_site}/?agent_ports={agent.port}")
        await page.get_by_role("button", name="English").click()
        await expect(page.locator("#diagnose h2")).to_have_text("Test my workstation")
        await page.wait_for_timeout(2500)
        await expect(page.locator("#agent-state")).to_have_text("Offline")
        assert "Origin not allowed" in agent.log_file.read_text()
    finally:
        agent.stop()


async def test_certificates_listed_with_their_label_after_pairing(
    home: Path, demo_site: str, browser: Browser, test_pki, token  # type: ignore[no-untyped-def]
) -> None:
    from tests.integration.test_certificates_bridge import keystore_config

    # Not pre-approved: the first call pairs (the test consent policy approves), then lists.
    write_config(home, allowed=[demo_site], consent="approve-all-for-tests", extra=keystore_config(test_pki, token))
    agent = AgentProcess(home, free_port()).start()
    try:
        page = await browser.new_page()
        await page.goto(f"{demo_site}/?agent_ports={agent.port}")
        await expect(page.locator("#agent-state")).to_have_text("En ligne", timeout=10_000)
        await page.get_by_role("button", name="Afficher mes certificats").click()
        row = page.locator("#cert-rows tr", has_text="Jeanne TITULAIRE — ENTREPRISE EXEMPLE")
        await expect(row).to_contain_text("Adapté pour les marchés publics", timeout=20_000)
        await expect(row).to_contain_text("Emetteur : Compagnon Test Qualified CA")
        plain = page.locator("#cert-rows tr", has_text="Paul SIMPLE")
        await expect(plain).to_contain_text("Non adapté")
        await expect(plain).to_contain_text("pas de nonRepudiation")
        assert "pairing approved for " + demo_site in agent.log_file.read_text()
    finally:
        agent.stop()
