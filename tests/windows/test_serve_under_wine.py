"""``compagnon serve`` on Windows CPython under Wine, reached from Linux over 127.0.0.1 (Wine shares the loopback)."""

from __future__ import annotations

import asyncio
import subprocess
import threading
from pathlib import Path

from cryptography import x509
from playwright.async_api import Browser, expect

from agent import __version__
from bridge_protocol.client import BridgeClient
from agent.pairing import TEST_CODES_FOLDER
from tests.browser.test_demo_page import browser  # noqa: F401  (fixture)
from tests.browser.test_minimal_page import site  # noqa: F401  (fixture)
from tests.support.agent_process import free_port
from tests.support.pdf import make_pdf
from tests.support.pki import TestPki
from tests.support.verifiers import nss_database, pdfsig_ok
from tests.support.wine import WinePython, winpath
from tests.windows.test_windows_store import store_key  # noqa: F401  (fixture)

from .conftest import write_windows_config

ORIGIN = "https://plateforme.example"


def _read_lines(process: subprocess.Popen[bytes], lines: list[str], ready: threading.Event, port: int) -> None:
    """Collect the agent's output; ``ready`` once it listens (or has ended)."""
    assert process.stdout is not None
    for raw in process.stdout:
        lines.append(raw.decode("utf-8", errors="replace").rstrip())
        if f"en écoute sur ws://127.0.0.1:{port}/bridge" in lines[-1]:
            ready.set()
    ready.set()


async def test_serve_answers_hello_from_linux(wine: WinePython, tmp_path: Path) -> None:
    config = write_windows_config(tmp_path / "agent", extra=f'\n[bridge]\nallowed_origins = ["{ORIGIN}"]\n')
    port = free_port()
    process = wine.popen_agent("serve", "--port", str(port), "--config", winpath(config))
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for raw in process.stdout:
            lines.append(raw.decode("utf-8", errors="replace").rstrip())
            if f"en écoute sur ws://127.0.0.1:{port}/bridge" in lines[-1]:
                ready.set()
        ready.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        assert ready.wait(120) and process.poll() is None, "\n".join(lines)
        async with await BridgeClient.connect(ORIGIN, ports=[port]) as client:
            hello = await client.hello()
        assert hello["product"] == "compagnon" and hello["version"] == __version__ and hello["protocol"] == 1
    finally:
        process.kill()
        process.wait(30)


async def test_page_in_chromium_signs_with_a_store_key(wine: WinePython, store_key: x509.Certificate,  # noqa: F811
                                                       test_pki: TestPki, browser: Browser, site: str,  # noqa: F811
                                                       tmp_path: Path) -> None:
    """The guide's minimal page in Linux Chromium, the agent on Windows CPython under Wine: connect,
    pair (the code the test consent policy leaves in the agent's state folder, typed in the page),
    list the certificates — the imported store certificate is "adapté aux marchés publics" —, sign a
    PDF with its CryptoAPI key, verify, download; pdfsig judges the downloaded file."""
    agent_home = tmp_path / "agent"
    config = write_windows_config(agent_home, extra=(
        f'\n[bridge]\nallowed_origins = ["{site}"]\n\n[pairing]\npreapproved = ["{site}"]\n\n'
        f'[consent]\npolicy = "approve-all-for-tests"\n\n'
        f"[trust]\nroots = ['{winpath(test_pki.root_pem)}']\nsystem = false\n"))
    port = free_port()
    process = wine.popen_agent("serve", "--port", str(port), "--config", winpath(config))
    lines: list[str] = []
    ready = threading.Event()
    threading.Thread(target=_read_lines, args=(process, lines, ready, port), daemon=True).start()
    pdf = tmp_path / "Réponse AO.pdf"
    pdf.write_bytes(make_pdf(pages=2, title="Réponse à l'appel d'offres"))
    try:
        assert ready.wait(120) and process.poll() is None, "\n".join(lines)
        page = await browser.new_page(accept_downloads=True)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await page.goto(f"{site}/?agent_ports={port}")
        state = page.locator("#state")
        await page.get_by_role("button", name="Se connecter à Compagnon").click()
        await expect(page.locator("#pairing")).to_be_visible(timeout=60_000)
        codes = agent_home / "state" / TEST_CODES_FOLDER
        for _ in range(200):
            found = [p for p in codes.glob("*") if not p.name.startswith(".")] if codes.is_dir() else []
            if found:
                break
            await asyncio.sleep(0.1)
        (code_file,) = found
        await page.get_by_label("Code affiché par Compagnon").fill(code_file.read_text(encoding="utf-8"))
        await page.get_by_role("button", name="Jumeler").click()
        await expect(state).to_have_attribute("data-state", "paired", timeout=60_000)

        await page.get_by_role("button", name="Afficher mes certificats").click()
        subject = store_key.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value
        option = page.locator("#certificate option", has_text=str(subject))
        await expect(option).to_be_attached(timeout=120_000)
        assert "adapté aux marchés publics" in (await option.text_content() or "")
        await page.get_by_label("Certificat").select_option(await option.get_attribute("value"))
        await page.get_by_label("Fichier PDF").set_input_files(str(pdf))
        await page.get_by_role("button", name="Signer", exact=True).click()
        verdict = page.locator("#verdict")
        await expect(verdict).to_have_text("Signature valide.", timeout=240_000)
        await expect(verdict).to_have_attribute("data-indication", "TOTAL_PASSED")
        async with page.expect_download() as waiting:
            await page.get_by_role("link", name="Télécharger le fichier signé").click()
        download = await waiting.value
        signed = tmp_path / "téléchargé.pdf"
        await download.save_as(signed)
        assert download.suggested_filename.startswith("Réponse AO - ")
        await expect(page.locator("#error")).to_have_text("")
        assert not errors, errors
    finally:
        process.kill()
        process.wait(30)
    assert pdfsig_ok(signed, nss_database(tmp_path / "nss", test_pki.root_pem))
