"""The guide's minimal page (docs/kit/minimal-page.html, docs/INTEGRATION.md) in Debian chromium against a
real agent: served with nothing but the browser client beside it (no demo code), it connects from a
click, pairs with the code the agent shows in its terminal, lists the certificates (consent typed
in the terminal), signs a PDF (consent and PIN there), verifies the signed file and offers it for
download; pdfsig (poppler, NSS) then judges the downloaded file independently.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pexpect
import pytest
from aiohttp import web
from playwright.async_api import Browser, expect

from tests.browser.test_demo_page import browser  # noqa: F401  (fixture)
from tests.integration.test_certificates_bridge import keystore_config
from tests.support.agent_process import ROOT, free_port, isolated_env, write_config
from tests.support.pairing import terminal_code
from tests.support.pdf import make_pdf
from tests.support.verifiers import nss_database, pdfsig_ok

pytestmark = pytest.mark.browser

PAGE = ROOT / "docs" / "kit" / "minimal-page.html"
CLIENT = ROOT / "bridge_protocol" / "js" / "compagnon.js"


@pytest.fixture
async def site() -> AsyncIterator[str]:
    """A platform of its own: the minimal page and compagnon.js, nothing else."""
    async def page(_: web.Request) -> web.FileResponse:
        return web.FileResponse(PAGE, headers={"Content-Type": "text/html; charset=utf-8"})

    async def client(_: web.Request) -> web.FileResponse:
        return web.FileResponse(CLIENT, headers={"Content-Type": "text/javascript; charset=utf-8"})

    app = web.Application()
    app.router.add_get("/", page)
    app.router.add_get("/compagnon.js", client)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


def test_the_minimal_page_uses_no_demo_code() -> None:
    text = PAGE.read_text(encoding="utf-8")
    assert "/static/" not in text and "common.js" not in text and "demo" not in text.lower()
    assert 'import { CompagnonClient } from "./compagnon.js"' in text


async def test_minimal_page_signs_verifies_and_downloads(home: Path, tmp_path: Path, site: str,
                                                         browser: Browser, test_pki, token) -> None:  # noqa: F811
    write_config(home, allowed=[site], preapproved=[site], consent="prompt",
                 extra=keystore_config(test_pki, token) + f'\n[signing]\noutput_dir = "{home / "Signés"}"\n')
    port = free_port()
    agent = pexpect.spawn(sys.executable, ["-m", "agent", "serve", "--port", str(port)], cwd=str(ROOT),
                          env=isolated_env(home), encoding="utf-8", timeout=60)

    async def consent(with_pin: bool) -> str:
        await asyncio.to_thread(agent.expect, r"tapez ([A-Z]{4}) puis")
        shown = agent.before
        agent.sendline(agent.match.group(1))
        if with_pin:
            await asyncio.to_thread(agent.expect, "Code PIN")
            agent.sendline(token.pin)
        return shown

    pdf = tmp_path / "Acte d'engagement.pdf"
    pdf.write_bytes(make_pdf(pages=2, title="Acte d'engagement"))
    try:
        agent.expect("en écoute sur")
        page = await browser.new_page(accept_downloads=True)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await page.goto(f"{site}/?agent_ports={port}")
        state = page.locator("#state")
        await expect(state).to_have_text("hors ligne")
        await page.get_by_role("button", name="Se connecter à Compagnon").click()

        # Pairing: the code Compagnon shows in its terminal, typed in the page.
        await expect(page.locator("#pairing")).to_be_visible(timeout=15_000)
        code = await terminal_code(agent)
        await page.get_by_label("Code affiché par Compagnon").fill(code)
        await page.get_by_role("button", name="Jumeler").click()
        await expect(state).to_have_attribute("data-state", "paired", timeout=15_000)
        await expect(state).to_have_text("prêt")

        await page.get_by_role("button", name="Afficher mes certificats").click()
        await consent(with_pin=False)
        options = page.locator("#certificate option", has_text="adapté aux marchés publics")
        await expect(options.first).to_be_attached(timeout=15_000)
        await page.get_by_label("Certificat").select_option(await options.first.get_attribute("value"))
        await page.get_by_label("Fichier PDF").set_input_files(str(pdf))
        await page.get_by_role("button", name="Signer", exact=True).click()
        shown = await consent(with_pin=True)
        assert pdf.name in shown  # the consent names the file

        verdict = page.locator("#verdict")
        await expect(verdict).to_have_text("Signature valide.", timeout=90_000)
        await expect(verdict).to_have_attribute("data-indication", "TOTAL_PASSED")
        await expect(page.locator("#progress")).to_have_attribute("value", "100")
        link = page.get_by_role("link", name="Télécharger le fichier signé")
        async with page.expect_download() as waiting:
            await link.click()
        download = await waiting.value
        assert download.suggested_filename.startswith("Acte d'engagement - ")
        signed = tmp_path / "téléchargé.pdf"
        await download.save_as(signed)
        await expect(page.locator("#error")).to_have_text("")
        assert not errors, errors
    finally:
        agent.terminate(force=True)
    # Independently of Compagnon: the file the page handed the user is validly signed.
    assert pdfsig_ok(signed, nss_database(tmp_path / "nss", test_pki.root_pem))
    assert signed.read_bytes().startswith(b"%PDF") and signed.stat().st_size > pdf.stat().st_size
