"""The browser suite's core flows in a second engine: Debian's firefox-esr, driven over WebDriver
BiDi (tests/support/bidi.py says why with our own small client): the demo page says hello and
shows the agent online, pairs (the code typed in the page), and signs a PDF whose PAdES signature
pdfsig accepts.

Firefox ESR 153 knows the "loopback-network" permission but, by default, does not enforce it
(``network.lna.blocking`` is off): on a public page the client waits for one click, sees the agent
answer while the permission still reads "prompt", and from then on connects by itself.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pexpect
import pytest
import pytest_asyncio
from aiohttp import web

from agent import __version__
from agent.demo_platform.app import DemoState, create_demo_app
from tests.support.agent_process import ROOT, AgentProcess, free_port, isolated_env, write_config
from tests.support.bidi import Firefox
from tests.support.pairing import policy_code, terminal_code
from tests.support.public_browser import PLATFORM_HOST, self_signed_tls

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]


@dataclass
class Sites:
    """The demo platform on the loopback address, and the same over https as a public site."""

    loopback: str
    public: str


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def sites(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Sites]:
    loopback_port, public_port = free_port(), free_port()
    runner = web.AppRunner(create_demo_app(DemoState()))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", loopback_port).start()
    tls = self_signed_tls(tmp_path_factory.mktemp("tls"))
    await web.TCPSite(runner, "127.0.0.1", public_port, ssl_context=tls).start()
    try:
        yield Sites(f"http://127.0.0.1:{loopback_port}", f"https://{PLATFORM_HOST}:{public_port}")
    finally:
        await runner.cleanup()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser(sites: Sites, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Firefox]:
    # The platform's name resolves to 127.0.0.1 and its https server counts as a public address
    # (Firefox's own switches, as Chromium's in test_local_network_access.py); Firefox's LNA
    # blocking stays as shipped.
    public_port = sites.public.rsplit(":", 1)[1]
    browser = await Firefox(tmp_path_factory.mktemp("firefox"), {
        "network.dns.localDomains": PLATFORM_HOST,
        "network.lna.address_space.public.override": f"127.0.0.1:{public_port}",
    }).start()
    try:
        yield browser
    finally:
        await browser.close()


@pytest_asyncio.fixture(loop_scope="module")
async def firefox(browser: Firefox) -> Firefox:
    """The module's Firefox in a fresh user context (no storage or pairing key of another test)."""
    await browser.fresh_tab()
    return browser


@pytest.fixture
def demo_site(sites: Sites) -> str:
    return sites.loopback


async def _pair(firefox: Firefox, read_code) -> None:  # type: ignore[no-untyped-def]
    """The user clicks "Jumeler", then types the code Compagnon shows."""
    await firefox.wait_for("!document.getElementById('pairing').hidden")
    await firefox.click("#pair-start")
    code = await read_code()
    await firefox.wait_for("!document.getElementById('pair-code-row').hidden")
    await firefox.type("#pair-code", code)
    await firefox.click("#pair-confirm")
    await firefox.wait_for("document.getElementById('agent').dataset.state === 'paired'")


async def test_hello_and_pairing_in_firefox(home: Path, demo_site: str, firefox: Firefox) -> None:
    write_config(home, allowed=[demo_site], consent="approve-all-for-tests")
    agent = AgentProcess(home, free_port()).start()
    try:
        await firefox.goto(f"{demo_site}/?agent_ports={agent.port}")
        assert "Firefox/153" in await firefox.evaluate("navigator.userAgent")
        await firefox.wait_text("#agent-state", "Non jumelé")
        await firefox.wait_text("#agent-version", __version__)
        # A page on the loopback address is never gated, whatever the permission reads.
        assert await firefox.evaluate("import('/static/common.js').then((m) => m.client.permission)") == "prompt"
        await _pair(firefox, lambda: policy_code(home))
        await firefox.wait_text("#agent-state", "En ligne")
        assert await firefox.text("#agent-help") == "Compagnon est lancé sur votre poste, et est prêt à l'utilisation."
        # The agent stops: the page says so, and comes back online with it.
        agent.stop()
        await firefox.wait_text("#agent-state", "Hors ligne", timeout=5)
        agent.start()
        await firefox.wait_text("#agent-state", "En ligne", timeout=15)
        assert "pairing approved for " + demo_site in agent.log_file.read_text()
        assert not [line for line in firefox.console if "Uncaught" in line], firefox.console
    finally:
        agent.stop()


async def test_sign_a_pdf_in_firefox(home: Path, demo_site: str, firefox: Firefox, test_pki, token,  # type: ignore[no-untyped-def]
                                     tmp_path: Path) -> None:
    from tests.integration.test_certificates_bridge import keystore_config
    from tests.support.pdf import make_pdf
    from tests.support.verifiers import nss_database, pdfsig_ok

    out_dir = home / "Documents signés"
    write_config(home, allowed=[demo_site], preapproved=[demo_site], consent="prompt",
                 extra=keystore_config(test_pki, token) + f'\n[signing]\noutput_dir = "{out_dir}"\n')
    source = tmp_path / "Acte d'engagement.pdf"
    source.write_bytes(make_pdf(pages=2, title="Acte d'engagement"))
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
        return str(shown)

    try:
        agent.expect("en écoute sur")
        await firefox.goto(f"{demo_site}/signer?agent_ports={port}")
        await _pair(firefox, lambda: terminal_code(agent))
        await firefox.wait_text("#agent-state", "En ligne")
        await firefox.set_files("#file-input", [source])
        await firefox.wait_for("document.querySelectorAll('#file-rows tr').length === 1")
        await firefox.wait_for("!document.getElementById('load-certificates').disabled")
        await firefox.click("#load-certificates")
        await consent(with_pin=False)
        await firefox.wait_text("#cert-rows", "Jeanne TITULAIRE")
        checked = await firefox.evaluate("document.querySelector('#cert-rows input:checked')?.closest('tr').textContent")
        assert "Jeanne TITULAIRE" in checked and "Adapté pour les marchés publics" in checked
        await firefox.click("#sign-run")
        shown = await consent(with_pin=True)
        assert source.name in shown
        await firefox.wait_text(
            "#sign-verdict", "La signature électronique des fichiers sélectionnés s'est terminée avec succès.", timeout=60)
        assert await firefox.text("#count-signed") == "1"
    finally:
        agent.terminate(force=True)
    signed = [p for p in out_dir.iterdir() if p.name.startswith("Acte d'engagement - ") and p.suffix == ".pdf"]
    assert len(signed) == 1, list(out_dir.iterdir())
    assert pdfsig_ok(signed[0], nss_database(tmp_path / "nss", test_pki.root_pem))


async def test_public_page_in_firefox_one_click_then_by_itself(home: Path, sites: Sites, firefox: Firefox) -> None:
    write_config(home, allowed=[sites.public], consent="approve-all-for-tests")
    agent = AgentProcess(home, free_port()).start()
    try:
        await firefox.goto(f"{sites.public}/?agent_ports={agent.port}")
        await firefox.wait_for("document.getElementById('agent').dataset.reason === 'prompt'")
        await firefox.wait_text("#agent-state", "Accès bloqué par le navigateur")
        await firefox.click("#agent-allow")
        await firefox.wait_text("#agent-state", "Non jumelé")
        assert await firefox.evaluate("localStorage.getItem('compagnon.loopback-ungated')") == "1"
        await firefox.goto(f"{sites.public}/?agent_ports={agent.port}")
        await firefox.wait_text("#agent-state", "Non jumelé")  # no click needed any more
    finally:
        agent.stop()
