"""The README's quick start, followed as written by a new user, in Debian chromium.

``compagnon demo`` (a fresh home: no card, no certificate, no configuration) prints the demo
identity's password and the page to open; from there, with every consent and password answered in
the agent's terminal as the README says:

1. the home page pairs (the code Compagnon prints, typed in the page) and shows "En ligne";
   "Tester la configuration de mon poste" ends at 100 %;
2. "Signer": three files signed with the demo identity "Jeanne DÉMO", one per format (PAdES,
   XAdES, CAdES), each judged afterwards by an independent tool (pdfsig, xmlsec1, openssl);
3. "Clés de chiffrement": a bi-clé added, its password typed twice;
4. "Déposer une offre": the signed PDF and a spreadsheet sealed and deposited; the platform's
   receipt is shown, and again after the page is reloaded;
5. "Ouverture et analyse": a deadline a few seconds away, waited for; "Ouvrir en ligne" with a
   wrong password first, then the right one in the same job; the opened files listed with their
   verdicts (the PDF "Signature valide" by Jeanne DÉMO, the spreadsheet "Non signé");
6. the PDF's verification report opens with its own style applied.

At each step the page is photographed (``screens/NN-step.png`` under the test's folder, copied to
``$COMPAGNON_SCREENSHOTS`` when set) and the text it shows at that moment is checked: what the step
must show is there, and nothing only true earlier (a file counter, "waiting for you", a wrong
password's message) is left.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pexpect
import pytest
from playwright.async_api import Page, expect

from tests.browser.test_demo_page import browser  # noqa: F401  (fixture)
from tests.support.agent_process import ROOT, free_port, isolated_env
from tests.support.pairing import pair_page, terminal_code
from tests.support.pdf import make_pdf
from tests.support.verifiers import nss_database, pdfsig_ok

pytestmark = pytest.mark.browser

BICLE_PASSWORD = "Bi-cle de demarrage 2046"
PNG = b"\x89PNG\r\n\x1a\n"


class Screens:
    """Numbered screenshots of a page, each with the text the page shows at that moment checked."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True)
        self.taken: list[Path] = []

    async def take(self, page: Page, step: str, *, shows: list[str], never: list[str] = ()) -> str:  # type: ignore[assignment]
        path = self.folder / f"{len(self.taken) + 1:02d}-{step}.png"
        await page.screenshot(path=str(path), full_page=True)
        text = await page.locator("body").inner_text()
        missing = [s for s in shows if s not in text]
        stale = [s for s in never if s in text]
        assert not missing and not stale, f"{path.name}: missing {missing}, stale {stale}\n{text}"
        image = path.read_bytes()
        assert image.startswith(PNG) and len(image) > 5_000, path
        assert all(image != earlier.read_bytes() for earlier in self.taken), f"{path.name}: the screen did not change"
        self.taken.append(path)
        if target := os.environ.get("COMPAGNON_SCREENSHOTS"):
            Path(target).mkdir(parents=True, exist_ok=True)
            shutil.copy(path, Path(target) / path.name)
        return text


async def test_the_quick_start_as_written(home: Path, tmp_path: Path, browser) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    screens = Screens(tmp_path / "screens")
    agent_port, demo_port = free_port(), free_port()
    demo = pexpect.spawn(sys.executable, ["-m", "agent", "demo", "--port", str(agent_port), "--demo-port",
                                          str(demo_port)], cwd=str(ROOT), env=isolated_env(home, suite_tokens=False),
                         encoding="utf-8", timeout=90)

    async def terminal(pattern: str) -> str:
        await asyncio.to_thread(demo.expect, pattern)
        return str(demo.before) + str(demo.after)

    async def consent() -> str:
        """The agent's question in its terminal, answered with the code it shows."""
        shown = await terminal(r"tapez ([A-Z]{4}) puis")
        demo.sendline(demo.match.group(1))
        return shown

    sources = {
        "Lettre de candidature.pdf": make_pdf(pages=2, title="Lettre de candidature"),
        "Annexe financiere.xml": b"<?xml version='1.0' encoding='UTF-8'?><annexe><lot>3</lot><total>1250.00</total></annexe>",
        "Offre_Lot3.txt": "Offre du lot 3 — SARL EXEMPLE\n".encode() * 50,
    }
    for name, data in sources.items():
        (tmp_path / name).write_bytes(data)
    spreadsheet = tmp_path / "Bordereau des prix.xlsx"
    spreadsheet.write_bytes(bytes(range(256)) * 400)
    try:
        said = await terminal(r"mot de passe : (\w+) \(")
        demo_password = demo.match.group(1)
        assert "Jeanne DÉMO" in said
        await terminal(r"Plateforme de démonstration : (http://127\.0\.0\.1:\d+)/")
        site = demo.match.group(1)
        page = await browser.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))

        # 1. The page the agent printed: pairing, "En ligne", the workstation test.
        await page.goto(f"{site}/")  # as printed: the demo tells its page where the agent listens
        await pair_page(page, lambda: terminal_code(demo))
        await expect(page.locator("#agent-state")).to_have_text("En ligne", timeout=10_000)
        await screens.take(page, "jumele", shows=["État de Compagnon", "En ligne"], never=["Non jumelé", "Hors ligne"])
        await page.get_by_role("button", name="Lancer le test de configuration de mon poste").click()
        await expect(page.locator("#diag-percent")).to_have_text("100 %", timeout=30_000)
        await expect(page.locator("#diag-result")).to_be_visible()
        await screens.take(page, "test-du-poste", shows=["100 %", "Communication établie"])

        # 2. "Signer": one file per format, with the demo identity.
        await page.goto(f"{site}/signer")
        await expect(page.locator("#agent-state")).to_have_text("En ligne", timeout=10_000)
        await page.locator("#file-input").set_input_files([str(tmp_path / n) for n in sources])
        await expect(page.locator("#file-rows tr")).to_have_count(3)
        await page.get_by_label("Format de signature Annexe financiere.xml").select_option("xades")
        await page.get_by_label("Format de signature Offre_Lot3.txt").select_option("cades")
        await page.get_by_role("button", name="Afficher mes certificats").click()
        await consent()
        jeanne = page.locator("#cert-rows tr", has_text="Jeanne DÉMO")
        await expect(jeanne).to_contain_text("Adapté pour les marchés publics", timeout=30_000)
        await jeanne.locator('input[type="radio"]').check()
        await page.get_by_role("button", name="Signer", exact=True).click()
        await expect(page.locator("#sign-job-waiting")).to_have_text("Compagnon attend votre réponse.", timeout=30_000)
        await screens.take(page, "signature-attend", shows=["Compagnon attend votre réponse.",
                                                            "Répondez dans le terminal où Compagnon s'exécute."])
        shown = await consent()
        assert all(name in shown for name in sources), shown
        await terminal("(?i)mot de passe|code PIN")
        demo.sendline(demo_password)
        await expect(page.locator("#sign-verdict")).to_have_text(
            "La signature électronique des fichiers sélectionnés s'est terminée avec succès.", timeout=90_000)
        await screens.take(page, "signe", shows=["100 %", "Fichier généré : Lettre de candidature - "],
                           never=["sur 3", "attend votre réponse", "Répondez", "Confirmez"])

        # The generated PDF, downloaded from the page, is the file the agent wrote.
        async with page.expect_download() as download_info:
            await page.locator('.output[data-source="Lettre de candidature.pdf"] button').click()
        downloaded = await download_info.value
        assert Path(await downloaded.path()).read_bytes() == next(home.rglob("Lettre de candidature - *.pdf")).read_bytes()
        assert downloaded.suggested_filename.startswith("Lettre de candidature - ")

        # 3. "Clés de chiffrement": a bi-clé, its password typed twice.
        await page.goto(f"{site}/cles")
        await expect(page.locator("#agent-state")).to_have_text("En ligne", timeout=10_000)
        await page.locator("#key-name").fill("Marie ACHETEUSE")
        await page.locator("#key-add").click()
        shown = await consent()
        assert "8 caractères au moins, à taper deux fois" in shown, shown  # the rule, told before typing
        await terminal("Nouveau mot de passe")
        demo.sendline(BICLE_PASSWORD)
        await terminal("Confirmez le mot de passe")
        demo.sendline(BICLE_PASSWORD)
        await expect(page.locator("#key-rows tr", has_text="Marie ACHETEUSE")).to_have_count(1, timeout=60_000)
        await screens.take(page, "bi-cle", shows=["Marie ACHETEUSE"], never=["attend votre réponse"])

        # 4. "Déposer une offre": the signed PDF and a spreadsheet, sealed and deposited; the receipt.
        signed_pdf = next(home.rglob("Lettre de candidature - *.pdf"))
        await page.goto(f"{site}/depot")
        await expect(page.locator("#agent-state")).to_have_text("En ligne", timeout=10_000)
        await page.locator("#depot-company").fill("SARL EXEMPLE")
        await page.locator("#depot-files").set_input_files([str(signed_pdf), str(spreadsheet)])
        await page.locator("#depot-send").click()
        await expect(page.locator("#depot-verdict")).to_have_text("Votre pli a été chiffré et déposé.", timeout=90_000)
        await expect(page.locator("#depot-receipt")).to_be_visible()
        await screens.take(page, "depose", shows=["reçu par la plateforme le", spreadsheet.name],
                           never=["attend votre réponse", "Chiffrement du fichier"])
        await page.reload()
        await expect(page.locator("#depot-receipt")).to_be_visible(timeout=15_000)
        await screens.take(page, "recu-apres-rechargement", shows=["reçu par la plateforme le", spreadsheet.name,
                                                                  f"{signed_pdf.name}.p7m"])

        # 5. "Ouverture et analyse": the deadline passes, then the opening, a wrong password first.
        await page.goto(f"{site}/ouverture")
        await expect(page.locator("#agent-state")).to_have_text("En ligne", timeout=10_000)
        row = page.locator("#pli-rows tr", has_text="SARL EXEMPLE")
        await expect(row).to_contain_text("Fermée")
        await page.locator("#deadline-seconds").fill("3")
        await page.locator("#deadline-set").click()
        await expect(page.locator("#deadline-state")).to_have_text("— passée : les plis peuvent être ouverts",
                                                                   timeout=15_000)
        await screens.take(page, "date-limite-passee", shows=["passée : les plis peuvent être ouverts", "SARL EXEMPLE"])
        await page.locator("#open-online").click()
        await consent()
        await terminal("Code PIN")
        demo.sendline("Pas le bon mot de passe")
        await terminal(r"Entrée seule pour abandonner\) : ")
        await expect(page.locator("#job-message")).to_have_text(
            "Code PIN incorrect : saisissez-le à nouveau dans Compagnon.", timeout=15_000)
        await screens.take(page, "second-essai", shows=["Code PIN incorrect : saisissez-le à nouveau dans Compagnon."])
        demo.sendline(BICLE_PASSWORD)
        await expect(page.locator("#job-verdict")).to_contain_text("Ouverture terminée : 2 fichier(s) déchiffré(s)",
                                                                   timeout=90_000)
        memoire = page.locator(f'#opened-rows tr[data-file="{signed_pdf.name}"]')
        await expect(memoire).to_contain_text("Signature valide")
        await expect(memoire).to_contain_text("Jeanne DÉMO")
        await expect(page.locator(f'#opened-rows tr[data-file="{spreadsheet.name}"]')).to_contain_text("Non signé")
        await screens.take(page, "ouvert-et-analyse", shows=["Ouverte en ligne", "Signature valide", "Non signé"],
                           never=["Code PIN incorrect", "attend votre réponse", "Répondez", "fichier 2 sur 2"])
        await expect(page.locator("#job-current")).to_have_text("")  # the file worked on: only while it runs

        # 6. The PDF's report, with its style.
        async with page.context.expect_page() as report_info:
            await memoire.locator(".open-report").click()
        report = await report_info.value
        await report.wait_for_load_state()
        assert await report.evaluate("getComputedStyle(document.body).maxWidth") == "960px"  # the report's own CSS
        await screens.take(report, "rapport", shows=["Rapport de vérification des signatures", signed_pdf.name,
                                                    "Jeanne DÉMO"])
        assert not errors, errors
    finally:
        demo.terminate(force=True)

    # Independently of Compagnon, the three signatures, trusting the demo authority only.
    authority = home / ".local/state/compagnon/demo/autorite-demo.pem"
    outputs = {p.name: p for p in home.rglob("* - *") if p.is_file() and p.suffix in (".pdf", ".xml", ".p7s")}
    xml = next(p for n, p in outputs.items() if n.startswith("Annexe financiere.xml - "))
    p7s = next(p for n, p in outputs.items() if n.startswith("Offre_Lot3.txt - "))
    assert pdfsig_ok(signed_pdf, nss_database(tmp_path / "nss", authority))
    shutil.copy(tmp_path / "Annexe financiere.xml", xml.parent)  # a detached signature: its file beside it
    xmlsec = subprocess.run(["xmlsec1", "--verify", "--enabled-key-data", "x509", "--trusted-pem", str(authority),
                             xml.name], cwd=xml.parent, capture_output=True, text=True)
    assert xmlsec.returncode == 0 and "OK" in xmlsec.stderr, xmlsec.stderr
    cms = subprocess.run(["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", str(p7s), "-content",
                          str(tmp_path / "Offre_Lot3.txt"), "-CAfile", str(authority), "-purpose", "any",
                          "-out", "/dev/null"], capture_output=True, text=True)
    assert "Verification successful" in cms.stderr, cms.stderr
