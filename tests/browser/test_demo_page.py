"""End to end in a real browser: Debian chromium driven by Playwright (``executable_path``).

The demo page pairs with the agent (the code typed in the page), shows "En ligne", runs "Tester la configuration de mon poste" to 100 % with the
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

from agent.demo_platform.app import DemoState, create_demo_app
from tests.support.agent_process import AgentProcess, free_port, write_config
from tests.support.pairing import pair_page, policy_code, terminal_code

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
    write_config(home, allowed=[demo_site], preapproved=[demo_site], consent="approve-all-for-tests")
    agent = AgentProcess(home, free_port()).start()
    try:
        page = await browser.new_page()
        console: list[str] = []
        page.on("console", lambda m: console.append(m.text))
        await page.goto(f"{demo_site}/?agent_ports={agent.port}")
        state = page.locator("#agent-state")
        await expect(state).to_have_text("Non jumelé", timeout=10_000)
        await expect(page.get_by_role("button", name="Lancer le test de configuration de mon poste")).to_be_disabled()
        await pair_page(page, lambda: policy_code(home))
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

    # Not pre-approved: the page pairs (the test consent policy approves), then lists.
    write_config(home, allowed=[demo_site], consent="approve-all-for-tests", extra=keystore_config(test_pki, token))
    agent = AgentProcess(home, free_port()).start()
    try:
        page = await browser.new_page()
        await page.goto(f"{demo_site}/?agent_ports={agent.port}")
        await pair_page(page, lambda: policy_code(home))
        await expect(page.locator("#agent-state")).to_have_text("En ligne", timeout=10_000)
        await page.get_by_role("button", name="Afficher mes certificats").click()
        row = page.locator("#cert-rows tr", has_text="Jeanne TITULAIRE — ENTREPRISE EXEMPLE")
        await expect(row).to_contain_text("Adapté pour les marchés publics", timeout=20_000)
        await expect(row).to_contain_text("Émetteur : Compagnon Test Qualified CA · Date d'expiration : ")
        assert "EXEMPLE\nÉmetteur : " in await row.inner_text()  # its own line, not run into the name
        plain = page.locator("#cert-rows tr", has_text="Paul SIMPLE")
        await expect(plain).to_contain_text("Non adapté")
        await expect(plain).to_contain_text("pas de nonRepudiation")
        assert "pairing approved for " + demo_site in agent.log_file.read_text()
    finally:
        agent.stop()


async def test_bidder_signs_three_files_in_three_formats(
    home: Path, demo_site: str, browser: Browser, test_pki, token, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    import asyncio
    import subprocess
    import sys

    import pexpect

    from tests.integration.test_certificates_bridge import keystore_config
    from tests.support.agent_process import ROOT, isolated_env
    from tests.support.verifiers import nss_database, openssl_cms_ok, pdfsig_ok, xmlsec_ok

    out_dir = home / "Documents signés"
    write_config(home, allowed=[demo_site], preapproved=[demo_site], consent="prompt",
                 extra=keystore_config(test_pki, token) + f'\n[signing]\noutput_dir = "{out_dir}"\n')
    port = free_port()
    agent = pexpect.spawn(sys.executable, ["-m", "agent", "serve", "--port", str(port)], cwd=str(ROOT),
                          env=isolated_env(home), encoding="utf-8", timeout=60)
    try:
        agent.expect("en écoute sur")
        sources = {
            "Lettre de candidature.pdf": _minimal_pdf(),
            "COMPLEMENT.zip": b"PK\x05\x06" + b"\x00" * 18,
            "Offre_Lot3.txt": b"Offre du lot 3\n" * 100,
        }
        for name, data in sources.items():
            (tmp_path / name).write_bytes(data)
        page = await browser.new_page()
        await page.goto(f"{demo_site}/signer?agent_ports={port}")
        await pair_page(page, lambda: terminal_code(agent))  # pre-approved: the code, no question
        await expect(page.locator("#agent-state")).to_have_text("En ligne", timeout=10_000)
        await page.locator("#file-input").set_input_files([str(tmp_path / n) for n in sources])
        await expect(page.locator("#file-rows tr")).to_have_count(3)
        await page.get_by_label("Format de signature Offre_Lot3.txt").select_option("cades")

        async def answer_consent(with_pin: bool) -> str:
            await asyncio.to_thread(agent.expect, r"tapez ([A-Z]{4}) puis")
            shown = agent.before
            agent.sendline(agent.match.group(1))
            if with_pin:
                await asyncio.to_thread(agent.expect, "Code PIN")
                agent.sendline(token.pin)
            return shown

        await page.get_by_role("button", name="Afficher mes certificats").click()
        await answer_consent(with_pin=False)
        row = page.locator("#cert-rows tr", has_text="Jeanne TITULAIRE — ENTREPRISE EXEMPLE")
        await expect(row).to_contain_text("Adapté pour les marchés publics")
        await row.locator('input[type="radio"]').check()
        await page.evaluate(
            """() => { window.seen = []; const job = document.getElementById('sign-job');
                new MutationObserver(() => window.seen.push([job.dataset.state,
                    document.getElementById('sign-job-current').textContent,
                    document.getElementById('sign-job-waiting').textContent])).observe(
                job, {childList: true, characterData: true, subtree: true, attributes: true}); }"""
        )
        await page.get_by_role("button", name="Signer", exact=True).click()
        # While the job waits for the user, the page says so, naming where Compagnon asks.
        waiting = page.locator("#sign-job-waiting")
        await expect(waiting).to_have_text("Compagnon attend votre réponse.", timeout=30_000)
        await expect(page.locator("#sign-job-message")).to_have_text(
            "Répondez dans le terminal où Compagnon s'exécute.")
        await expect(page.locator("#sign-job")).to_have_attribute("data-state", "waiting-user")
        await expect(page.locator('#sign-job-steps li[data-step="consent"]')).to_have_attribute(
            "data-state", "waiting-user")
        shown = await answer_consent(with_pin=True)
        assert all(name in shown for name in sources)  # the consent names every file
        verdict = page.locator("#sign-verdict")
        await expect(verdict).to_have_text(
            "La signature électronique des fichiers sélectionnés s'est terminée avec succès.", timeout=60_000)
        await expect(page.locator("#count-signed")).to_have_text("3")
        # At the end: every step ticked, 100 %, and nothing left that was only true while it ran.
        await expect(page.locator("#sign-job")).to_have_attribute("data-state", "succeeded")
        states = await page.locator("#sign-job-steps li").evaluate_all("(items) => items.map((i) => i.dataset.state)")
        assert states and all(s == "succeeded" for s in states), states
        ticks = await page.locator("#sign-job-steps li .mark").all_text_contents()
        assert ticks == ["✓"] * len(states), ticks
        await expect(page.locator("#sign-job-progress")).to_contain_text("100 %")
        await expect(page.locator("#sign-job-current")).to_have_text("")
        await expect(waiting).to_be_hidden()
        body = await page.locator("body").inner_text()
        assert "sur 3" not in body and "attend votre réponse" not in body and "Répondez" not in body, body
        seen = await page.evaluate("window.seen")
        assert any(current.startswith("fichier") and "sur 3" in current for _, current, _ in seen), seen  # live
        # A refusal: the waiting state goes, the error is the verdict, shown once.
        await page.get_by_role("button", name="Signer", exact=True).click()
        await expect(waiting).to_be_visible(timeout=30_000)
        await asyncio.to_thread(agent.expect, r"tapez ([A-Z]{4}) puis")
        agent.sendline("non")
        await expect(page.locator("#sign-error")).to_be_visible(timeout=30_000)
        await expect(page.locator("#sign-job")).to_have_attribute("data-state", "failed")
        await expect(waiting).to_be_hidden()
        body = await page.locator("body").inner_text()
        assert "attend votre réponse" not in body and "Répondez" not in body and "Confirmez" not in body, body
        error = await page.locator("#sign-error").inner_text()
        assert body.count(error) == 1, body
        pdf_block = page.locator('.output[data-source="Lettre de candidature.pdf"]')
        await expect(pdf_block).to_contain_text("Fichier généré : Lettre de candidature - ")
        await expect(page.locator('.output[data-source="COMPLEMENT.zip"]')).to_contain_text(" - Signature 1.xml")
    finally:
        agent.terminate(force=True)
    outputs = {p.name: p for p in out_dir.iterdir()}
    pdf = next(p for n, p in outputs.items() if n.startswith("Lettre de candidature - ") and n.endswith(".pdf"))
    xml = next(p for n, p in outputs.items() if n.startswith("COMPLEMENT.zip - ") and n.endswith(".xml"))
    p7s = next(p for n, p in outputs.items() if n.startswith("Offre_Lot3.txt - ") and n.endswith(".p7s"))
    nss = nss_database(tmp_path / "nss", test_pki.root_pem)
    assert pdfsig_ok(pdf, nss)
    (xml.parent / "COMPLEMENT.zip").write_bytes(sources["COMPLEMENT.zip"])  # the token sits next to its file
    assert xmlsec_ok(xml, test_pki)
    assert openssl_cms_ok(p7s, tmp_path / "Offre_Lot3.txt", test_pki)
    del subprocess


def _minimal_pdf() -> bytes:
    from tests.support.pdf import make_pdf

    return make_pdf(pages=2, title="Lettre de candidature")


async def test_bidder_verifies_a_cosigned_file_and_opens_the_report(
    home: Path, demo_site: str, browser: Browser, test_pki, token, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    import io

    from agent.signing.cades import cosign, sign_cades
    from tests.integration.test_certificates_bridge import keystore_config
    from tests.integration.test_sign_cades import p12_key, token_key

    content = tmp_path / "offre.pdf"
    content.write_bytes(b"%PDF-1.4 offre " * 100)
    first = io.BytesIO()
    with p12_key(test_pki, "plain") as key, content.open("rb") as stream:
        sign_cades(stream, first, key)
    second = io.BytesIO()
    with token_key(token, "qualified") as key, content.open("rb") as stream:
        cosign(first.getvalue(), second, key, content=stream)
    signed = tmp_path / "offre.pdf - 20261123120000 - Signature 2.p7s"
    signed.write_bytes(second.getvalue())

    write_config(home, allowed=[demo_site], preapproved=[demo_site], consent="approve-all-for-tests",
                 extra=keystore_config(test_pki, token))
    agent = AgentProcess(home, free_port()).start()
    try:
        page = await browser.new_page()
        await page.goto(f"{demo_site}/signer?agent_ports={agent.port}")
        await pair_page(page, lambda: policy_code(home))
        await expect(page.locator("#agent-state")).to_have_text("En ligne", timeout=10_000)
        await page.locator("#verify-file").set_input_files(str(signed))
        await page.locator("#verify-content").set_input_files(str(content))
        await page.get_by_role("button", name="Vérifier la signature").click()
        items = page.locator("#verify-signatures li")
        await expect(items).to_have_count(2, timeout=60_000)
        await expect(page.locator('#verify-signatures li[data-indication="TOTAL_PASSED"]')).to_have_count(2)
        async with page.expect_popup() as popup_info:
            await page.get_by_role("button", name="Ouvrir le rapport").click()
        report = await popup_info.value
        await expect(report.locator("h1")).to_have_text("Rapport de vérification des signatures")
        await expect(report.locator("section.signature")).to_have_count(2)  # one block per signer
        await expect(report.locator("section.signature", has_text="Paul SIMPLE")).to_contain_text("Signature valide")
    finally:
        agent.stop()
