"""The buyer's sealed-bid flow end to end in Debian chromium, against a real agent process:

1. "Clés de chiffrement": "Ajouter un bi-clé" runs ``keygen`` (consent, then the new file's password
   typed twice in the agent's terminal prompt, its rule told before; two entries that differ are
   asked again), and the platform lists the registered certificate;
2. "Déposer une offre": a bidder's files are sealed by the agent (``encrypt``) to the registered
   key and uploaded to the consultation, and the page shows the platform's receipt;
3. "Ouverture et analyse": "Télécharger les plis chiffrés" (``bids.download``) then "Ouvrir en
   ligne" (``bids.open``, consent and password again — a wrong one first, asked again in the same
   job while the page waits without an error), with the live progress in the page ("Déchiffrement
   de l'enveloppe 1 sur 1", percentages); the envelope ends "Ouverte en ligne", and the opened files
   are listed with their signature verdicts (a PAdES made by pyHanko's own signer: valid, its
   report opens; a spreadsheet: "Non signé").

Then, independently of Compagnon: ``openssl cms -decrypt`` opens the sealed file with the key of
the PKCS#12 file the agent created, and what the platform received is byte-exact.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pexpect
import pytest
from aiohttp import web
from playwright.async_api import Browser, Page, expect

from agent.demo_platform.app import DemoState, create_demo_app
from agent.demo_platform.consultations import CONSULTATIONS_KEY, DemoConsultations
from tests.browser.test_demo_page import browser  # noqa: F401  (fixture)
from tests.support.agent_process import ROOT, free_port, isolated_env, write_config
from tests.support.pairing import pair_page, terminal_code
from tests.support.pdf import make_pdf_file
from tests.support.pki import TestPki

pytestmark = pytest.mark.browser

CONSULTATION = "DEMO-2026-002"
PASSWORD = "Bi-cle de test 7351"


@pytest.fixture
async def demo() -> AsyncIterator[tuple[str, DemoConsultations]]:
    port = free_port()
    app = create_demo_app(DemoState())
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}", app[CONSULTATIONS_KEY]
    await runner.cleanup()


async def record(page: Page, *ids: str) -> None:
    """Keep every text the elements ``ids`` show, to check the progress moved in front of the user."""
    await page.evaluate("""(ids) => { window.seen = window.seen || {}; for (const id of ids) {
        const el = document.getElementById(id); window.seen[id] = [];
        new MutationObserver(() => window.seen[id].push(el.textContent)).observe(
            el, {childList: true, characterData: true, subtree: true}); } }""", list(ids))


def pades(folder: Path, pki: TestPki) -> bytes:
    """A PDF signed in PAdES by the pyhanko command line (an independent producer)."""
    source = make_pdf_file(folder / "memoire-source.pdf", pages=1)
    target = folder / "memoire-signe.pdf"
    made = subprocess.run(["pyhanko", "sign", "addsig", "--field", "Sig1", "--use-pades", "pemder",
                           "--key", str(pki.key_pem("qualified")), "--cert", str(pki.cert_pem("qualified")),
                           "--chain", str(pki.intermediate_pem), "--no-pass", str(source), str(target)],
                          capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    return target.read_bytes()


async def test_bicle_sealed_bid_download_and_online_opening(home: Path, tmp_path: Path, browser: Browser,  # noqa: F811
                                                            demo: tuple[str, DemoConsultations],
                                                            test_pki: TestPki) -> None:
    site, platform = demo
    write_config(home, allowed=[site], preapproved=[site], consent="prompt",
                 extra=f'\n[signing]\noutput_dir = "{home / "Documents" / "Compagnon"}"\n'
                       f'\n[trust]\nroots = ["{test_pki.root_pem}"]\nsystem = false\n')
    port = free_port()
    agent = pexpect.spawn(sys.executable, ["-m", "agent", "serve", "--port", str(port)], cwd=str(ROOT),
                          env=isolated_env(home), encoding="utf-8", timeout=60)

    async def consent_with_password(password: str = PASSWORD) -> str:
        await asyncio.to_thread(agent.expect, r"tapez ([A-Z]{4}) puis")
        shown = agent.before
        agent.sendline(agent.match.group(1))
        await asyncio.to_thread(agent.expect, "Code PIN")
        agent.sendline(password)
        return shown

    async def consent_with_new_password() -> str:
        """The consent, then the new password twice: first two entries that differ, asked again."""
        await asyncio.to_thread(agent.expect, r"tapez ([A-Z]{4}) puis")
        shown = agent.before
        agent.sendline(agent.match.group(1))
        for second in (PASSWORD + "?", PASSWORD):
            await asyncio.to_thread(agent.expect, "Nouveau mot de passe")
            agent.sendline(PASSWORD)
            await asyncio.to_thread(agent.expect, "Confirmez le mot de passe")
            agent.sendline(second)
            if second != PASSWORD:
                await asyncio.to_thread(agent.expect, "Les deux saisies diffèrent : recommencez.")
        return shown

    bid = {"Memoire technique.pdf": pades(tmp_path, test_pki),
           "Bordereau des prix.xlsx": bytes(range(256)) * 2_000}
    for name, data in bid.items():
        (tmp_path / name).write_bytes(data)
    try:
        agent.expect("en écoute sur")
        page = await browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))

        # 1. A bi-clé, created by the agent and registered with the platform.
        await page.goto(f"{site}/cles?agent_ports={port}")
        await pair_page(page, lambda: terminal_code(agent))  # pre-approved: the code, no question
        await expect(page.locator("#agent-state")).to_have_text("En ligne", timeout=10_000)
        await page.locator("#key-name").fill("Marie ACHETEUSE")
        await page.locator("#key-add").click()
        shown = await consent_with_new_password()
        assert "Marie ACHETEUSE" in shown
        assert "mot de passe : 8 caractères au moins, à taper deux fois" in shown  # told before typing
        await expect(page.locator("#key-rows tr", has_text="Marie ACHETEUSE")).to_have_count(1, timeout=60_000)
        p12_files = list(home.rglob("*.p12"))
        assert len(p12_files) == 1 and p12_files[0].stat().st_mode & 0o077 == 0

        # 2. A bidder seals two files to it and deposits them.
        await page.goto(f"{site}/depot?agent_ports={port}")
        await expect(page.locator("#agent-state")).to_have_text("En ligne", timeout=10_000)
        await page.locator("#depot-company").fill("ENTREPRISE TEST")
        await page.locator("#depot-files").set_input_files([str(tmp_path / n) for n in bid])
        await page.locator("#depot-send").click()
        await expect(page.locator("#depot-verdict")).to_have_text("Votre pli a été chiffré et déposé.",
                                                                   timeout=60_000)
        (pli,) = platform.consultations[CONSULTATION].plis
        sealed = [f for e in pli.envelopes for f in e.files]
        assert sorted(f.name for f in sealed) == sorted(f"{n}.p7m" for n in bid)
        # The platform's receipt, kept by the agent with the job: the pli's files, sizes and SHA-256.
        await expect(page.locator("#depot-receipt")).to_be_visible()
        await expect(page.locator("#depot-receipt-line")).to_contain_text("— Pli 1, reçu par la plateforme le ")
        for f in sealed:
            await expect(page.locator("#depot-receipt-rows tr", has_text=f.name)).to_contain_text(f.sha256)
        await expect(page.locator("#depot-outputs li.pass", has_text="déposé (attesté)")).to_have_count(2)

        # 3. The buyer downloads, then opens online, following the progress live.
        await page.goto(f"{site}/ouverture?agent_ports={port}")
        await expect(page.locator("#agent-state")).to_have_text("En ligne", timeout=10_000)
        row = page.locator("#pli-rows tr", has_text="ENTREPRISE TEST")
        await expect(row).to_contain_text("Fermée")
        await expect(row).to_contain_text("- chiffré -")
        await record(page, "job-message", "job-progress")
        # Nothing opens before the consultation's deadline: the buyer sets a short one and waits.
        await expect(page.locator("#deadline")).to_have_text("non fixée")
        await expect(page.locator("#open-online")).to_be_disabled()
        await expect(page.locator("#download-sealed")).to_be_disabled()
        await page.locator("#deadline-seconds").fill("3")
        await page.locator("#deadline-set").click()
        await expect(page.locator("#deadline-state")).to_contain_text("ouverture possible dans")
        await expect(page.locator("#open-online")).to_be_disabled()
        await expect(page.locator("#deadline-state")).to_have_text(
            "— passée : les plis peuvent être ouverts", timeout=10_000)
        await expect(page.locator("#download-sealed")).to_be_enabled()
        await page.locator("#download-sealed").click()
        await expect(page.locator("#job-verdict")).to_contain_text("Plis téléchargés", timeout=60_000)
        await record(page, "job-message", "job-progress", "job-steps")
        await page.locator("#open-online").click()
        shown = await consent_with_password("Pas le bon mot de passe")
        assert all(f.name in shown and f.sha256 in shown for f in sealed)  # promise 4: names and SHA-256
        # A second chance in the same job: the terminal says why; the page waits, without an error.
        await asyncio.to_thread(agent.expect, "nouvel essai du code PIN")
        await asyncio.to_thread(agent.expect, r"Entrée seule pour abandonner\) : ")
        assert "Code PIN ou mot de passe incorrect." in agent.before
        await expect(page.locator("#job-message")).to_have_text(
            "Code PIN incorrect : saisissez-le à nouveau dans Compagnon.", timeout=10_000)
        await expect(page.locator("#job")).to_have_attribute("data-state", "running")
        await expect(page.locator("#job-verdict")).to_be_hidden()
        agent.sendline(PASSWORD)
        await expect(page.locator("#job-verdict")).to_contain_text(
            "Ouverture terminée : 2 fichier(s) déchiffré(s) et transmis à la plateforme.", timeout=90_000)
        await expect(row).to_contain_text("Ouverte en ligne", timeout=10_000)
        await expect(row).to_contain_text("- déchiffré -")
        # The analyse: each opened file with its verdict, to open, download, and read the report of.
        memoire = page.locator('#opened-rows tr[data-file="Memoire technique.pdf"]')
        await expect(memoire).to_contain_text("Signature valide")
        await expect(memoire).to_contain_text("Jeanne TITULAIRE")
        bordereau = page.locator('#opened-rows tr[data-file="Bordereau des prix.xlsx"]')
        await expect(bordereau).to_contain_text("Non signé")
        await expect(bordereau.locator(".open-report")).to_have_count(0)
        await expect(row).to_contain_text("Memoire technique.pdf : Signature valide")  # as the platform got it
        async with page.expect_download() as download_info:
            await bordereau.get_by_role("button", name="Télécharger").click()
        downloaded = await (await download_info.value).path()
        assert Path(downloaded).read_bytes() == bid["Bordereau des prix.xlsx"]
        async with page.context.expect_page() as report_info:
            await memoire.locator(".open-report").click()
        report = await report_info.value
        await report.wait_for_load_state()
        report_text = await report.locator("body").inner_text()
        assert "Memoire technique.pdf" in report_text and "Jeanne TITULAIRE" in report_text, report_text

        # Opened again, a wrong password and then Enter alone at the second chance: the page says
        # the error once (the verdict), not a second time in the job's display.
        await page.locator("#open-online").click()
        await consent_with_password("Encore un mauvais mot de passe")
        await asyncio.to_thread(agent.expect, r"Entrée seule pour abandonner\) : ")
        agent.sendline("")
        await expect(page.locator("#job-verdict")).to_have_text("Code PIN ou mot de passe incorrect.", timeout=30_000)
        await expect(page.locator("#job-message")).to_have_text("")
        assert (await page.locator("#job-section").inner_text()).count("Code PIN ou mot de passe incorrect.") == 1
        seen = await page.evaluate("window.seen")
        assert any("Déchiffrement de l'enveloppe 1 sur 1" in text for text in seen["job-steps"] + seen["job-message"]), seen
        assert len(set(seen["job-progress"])) >= 2, seen  # the percentage moved
        assert not errors, errors
    finally:
        agent.terminate(force=True)

    # What the platform received is what the bidder had, with the verdicts.
    received = {r["name"]: r["path"].read_bytes() for r in platform.results}
    assert received == bid
    verdicts = {r["name"]: (r["signature_status"], r.get("signature_indication")) for r in platform.results}
    assert verdicts == {"Memoire technique.pdf": ("signed", "TOTAL_PASSED"), "Bordereau des prix.xlsx": ("unsigned", None)}
    # Independently: openssl opens the sealed file with the key the agent created.
    key_pem = tmp_path / "cle.pem"
    subprocess.run(["openssl", "pkcs12", "-in", str(p12_files[0]), "-nocerts", "-nodes", "-out", str(key_pem),
                    "-passin", f"pass:{PASSWORD}"], check=True, capture_output=True)
    folder = home / "Documents" / "Compagnon" / "Plis"
    sealed_path = next(folder.rglob("Memoire technique.pdf.p7m"))
    opened = subprocess.run(["openssl", "cms", "-decrypt", "-binary", "-inform", "DER", "-in", str(sealed_path),
                             "-inkey", str(key_pem)], check=True, capture_output=True).stdout
    assert opened == bid["Memoire technique.pdf"]
