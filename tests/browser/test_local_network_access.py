"""The demo page as a real platform's users have it: a public https origin
(``https://marches.example.fr``) in Debian's Chromium, whose Local Network Access lets the page
reach the agent on 127.0.0.1 only with the "loopback-network" permission or the admin policy
(docs/BROWSERS.md). For each condition, the JS client's state and what the page tells the user.

Headless Chromium has no prompt to show: it answers the permission question it would ask the
user with a refusal, at once. A question asked therefore reads "denied" right after; one never
asked still reads "prompt".

One agent and one set of servers serve the whole module; each test has its own browser context
(its own permissions, storage and pairing key).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from playwright.async_api import Browser, Error, Page, async_playwright, expect

from agent import __version__
from agent.demo_platform.app import DemoState, create_demo_app
from tests.support.agent_process import AgentProcess, free_port, write_config
from tests.support.pairing import pair_page, policy_code
from tests.support.public_browser import (
    CHROMIUM,
    EMBEDDER_HOST,
    PLATFORM_HOST,
    loopback_permission,
    policy_chromium,
    public_args,
    self_signed_tls,
    set_loopback_permission,
)

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]
#: The URL the embedding site frames.
TARGET = web.AppKey("target", str)


@dataclass
class Site:
    """The module's platform (https and plain http), a site that frames it, and the agent."""

    https: str
    http: str
    embedder: str
    public_ports: list[int]
    agent: AgentProcess
    home: Path

    def page_url(self, path: str = "/", **query: str) -> str:
        params = "&".join(f"{k}={v}" for k, v in {"agent_ports": str(self.agent.port), **query}.items())
        return f"{self.https}{path}?{params}"


async def _frame_page(request: web.Request) -> web.Response:
    """The embedding site's page: the platform's home page in an iframe, with ``?allow=`` as its
    allow attribute (none when absent)."""
    target = request.app[TARGET]
    allow = request.query.get("allow")
    attribute = f' allow="{allow}"' if allow else ""
    body = (f'<!doctype html><html lang="fr"><head><meta charset="utf-8"><title>Acheteur</title></head>'
            f'<body><h1>Espace acheteur</h1><iframe id="plateforme" src="{target}"{attribute} '
            f'width="1000" height="800"></iframe></body></html>')
    return web.Response(text=body, content_type="text/html")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def site(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Site]:
    folder = tmp_path_factory.mktemp("lna")
    home = folder / "home"
    home.mkdir()
    https_port, http_port, embed_port = free_port(), free_port(), free_port()
    https = f"https://{PLATFORM_HOST}:{https_port}"
    http = f"http://{PLATFORM_HOST}:{http_port}"
    embedder = f"https://{EMBEDDER_HOST}:{embed_port}"
    write_config(home, allowed=[https, http], consent="approve-all-for-tests")
    agent = AgentProcess(home, free_port()).start()
    tls = self_signed_tls(folder / "tls")
    demo = web.AppRunner(create_demo_app(DemoState(frame_ancestors=[embedder])))
    await demo.setup()
    await web.TCPSite(demo, "127.0.0.1", https_port, ssl_context=tls).start()
    await web.TCPSite(demo, "127.0.0.1", http_port).start()
    framing = web.Application()
    framing[TARGET] = f"{https}/?agent_ports={agent.port}"
    framing.router.add_get("/cadre", _frame_page)
    embed = web.AppRunner(framing)
    await embed.setup()
    await web.TCPSite(embed, "127.0.0.1", embed_port, ssl_context=tls).start()
    try:
        yield Site(https, http, embedder, [https_port, http_port, embed_port], agent, home)
    finally:
        await embed.cleanup()
        await demo.cleanup()
        agent.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def chromium(site: Site) -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=public_args(site.public_ports))
        yield browser
        await browser.close()


def _sockets(page: Page) -> list[str]:
    """The WebSockets the page opens from now on (URLs)."""
    seen: list[str] = []
    page.on("websocket", lambda ws: seen.append(ws.url))
    return seen


async def _status(frame, state: str, reason: str | None = None) -> None:  # type: ignore[no-untyped-def]
    status = frame.locator("#agent")
    await expect(status).to_have_attribute("data-state", state, timeout=15_000)
    if reason is not None:
        await expect(status).to_have_attribute("data-reason", reason)


async def test_permission_not_yet_asked_the_page_waits_for_a_click(site: Site, chromium: Browser) -> None:
    context = await chromium.new_context()
    try:
        page = await context.new_page()
        sockets = _sockets(page)
        await page.goto(site.page_url())
        await _status(page, "blocked", "prompt")
        await expect(page.locator("#agent-state")).to_have_text("Accès bloqué par le navigateur")
        help_text = page.locator("#agent-help")
        await expect(help_text).to_contain_text("Cliquez sur « Autoriser l'accès à Compagnon »")
        await expect(help_text).to_contain_text("« Accéder à d'autres applis et services sur cet appareil »")
        allow = page.get_by_role("button", name="Autoriser l'accès à Compagnon")
        await expect(allow).to_be_visible()
        await expect(page.get_by_role("button", name="Lancer le test de configuration de mon poste")).to_be_disabled()
        await page.wait_for_timeout(1500)
        # Nothing probed on its own: the browser has not asked the user anything yet.
        assert sockets == [] and await loopback_permission(page) == "prompt"

        await page.get_by_role("button", name="English").click()
        await expect(page.locator("#agent-state")).to_have_text("Blocked by the browser")
        await expect(help_text).to_contain_text("Click “Allow access to Compagnon”")
        await page.get_by_role("button", name="Français").click()

        # The click raises the browser's question (headless Chromium answers it with a refusal).
        await allow.click()
        await _status(page, "blocked", "denied")
        assert sockets == [f"ws://127.0.0.1:{site.agent.port}/bridge"], sockets
        assert await loopback_permission(page) == "denied"
        await expect(help_text).to_contain_text("réglez « Applis sur l'appareil » sur « Autoriser »")
        await expect(help_text).to_contain_text("LoopbackNetworkAllowedForUrls")
        await expect(allow).to_be_hidden()
        await expect(page.get_by_role("button", name="Réessayer")).to_be_visible()

        # The user then allows the site in its settings: the page connects by itself.
        await set_loopback_permission(page, site.https, "granted")
        await _status(page, "unpaired")
        await expect(page.locator("#agent-state")).to_have_text("Non jumelé")
        await expect(page.locator("#agent-version")).to_contain_text(__version__)
    finally:
        await context.close()


async def test_permission_granted_the_page_pairs_and_runs_a_job(site: Site, chromium: Browser) -> None:
    context = await chromium.new_context()
    try:
        await context.grant_permissions(["local-network-access"], origin=site.https)
        page = await context.new_page()
        await page.goto(site.page_url())
        await _status(page, "unpaired")
        assert await loopback_permission(page) == "granted"
        await pair_page(page, lambda: policy_code(site.home))
        await expect(page.locator("#agent-state")).to_have_text("En ligne", timeout=10_000)
        await expect(page.locator("#agent-help")).to_have_text(
            "Compagnon est lancé sur votre poste, et est prêt à l'utilisation.")
        await page.get_by_role("button", name="Lancer le test de configuration de mon poste").click()
        await expect(page.locator("#diag-percent")).to_have_text("100 %", timeout=30_000)
        await expect(page.locator('td[data-check="browser"]')).to_contain_text("Chrome 156")
    finally:
        await context.close()


async def test_permission_granted_and_no_agent_is_offline_not_blocked(site: Site, chromium: Browser) -> None:
    context = await chromium.new_context()
    try:
        await context.grant_permissions(["local-network-access"], origin=site.https)
        page = await context.new_page()
        sockets = _sockets(page)
        await page.goto(f"{site.https}/?agent_ports={free_port()}")  # nothing listens there
        await page.wait_for_timeout(2500)
        await _status(page, "offline")
        await expect(page.locator("#agent-state")).to_have_text("Hors ligne")
        await expect(page.locator("#agent-help")).to_contain_text("vérifiez qu'il est installé et démarré")
        await expect(page.get_by_role("button", name="Autoriser l'accès à Compagnon")).to_be_hidden()
        assert len(sockets) >= 2, sockets  # it keeps looking, every second
    finally:
        await context.close()


async def test_permission_denied_the_page_says_how_to_allow_it(site: Site, chromium: Browser) -> None:
    context = await chromium.new_context()
    try:
        page = await context.new_page()
        await set_loopback_permission(page, site.https, "denied")
        sockets = _sockets(page)
        await page.goto(site.page_url())
        await _status(page, "blocked", "denied")
        await expect(page.locator("#agent-state")).to_have_text("Accès bloqué par le navigateur")
        await expect(page.locator("#agent-help")).to_contain_text("Votre navigateur empêche ce site de communiquer")
        await expect(page.locator("#agent-help")).to_contain_text("demandez à votre service informatique")
        await expect(page.get_by_role("button", name="Autoriser l'accès à Compagnon")).to_be_hidden()
        # A click cannot overturn a refusal: nothing is tried while the permission says no.
        await page.get_by_role("button", name="Réessayer").click()
        await page.wait_for_timeout(1000)
        await _status(page, "blocked", "denied")
        assert sockets == [], sockets
        outcome = await page.evaluate("""() => import('/static/common.js').then((m) =>
            m.client.call('jobs.list', {}).then(() => 'sent', (e) => e.code))""")
        assert outcome == "LOCAL_ACCESS_BLOCKED"
    finally:
        await context.close()


async def test_permission_granted_by_the_admin_policy(site: Site, tmp_path: Path) -> None:
    executable = policy_chromium(tmp_path, {"LoopbackNetworkAllowedForUrls": [site.https],
                                            "LoopbackNetworkBlockedForUrls": [site.embedder]})
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(executable), args=public_args(site.public_ports))
        try:
            page = await browser.new_page()
            sockets = _sockets(page)
            await page.goto(site.page_url())
            # No question, no click: the policy allows the platform.
            await _status(page, "unpaired")
            assert await loopback_permission(page) == "granted"
            assert sockets and sockets[0] == f"ws://127.0.0.1:{site.agent.port}/bridge"
            await pair_page(page, lambda: policy_code(site.home))
            await expect(page.locator("#agent-state")).to_have_text("En ligne", timeout=10_000)
            # The site the policy blocks: refused without a question, the user told to ask IT.
            other = await browser.new_page()
            await other.goto(f"{site.embedder}/cadre?allow=loopback-network")
            assert await loopback_permission(other) == "denied"
            frame = other.frame_locator("#plateforme")
            await _status(frame, "blocked", "denied")
            await expect(frame.locator("#agent-help")).to_contain_text("demandez à votre service informatique")
        finally:
            await browser.close()


async def test_in_a_frame_allowed_by_the_embedder(site: Site, chromium: Browser) -> None:
    context = await chromium.new_context()
    try:
        page = await context.new_page()
        await page.goto(f"{site.embedder}/cadre?allow=loopback-network")
        frame = page.frame_locator("#plateforme")
        await _status(frame, "blocked", "prompt")
        await expect(frame.get_by_role("button", name="Autoriser l'accès à Compagnon")).to_be_visible()
        # The permission is the top-level site's: once the user allows it, the frame connects.
        await set_loopback_permission(page, site.embedder, "granted")
        await _status(frame, "unpaired")
        await expect(frame.locator("#agent-state")).to_have_text("Non jumelé")
    finally:
        await context.close()


async def test_in_a_frame_without_allow(site: Site, chromium: Browser) -> None:
    context = await chromium.new_context()
    try:
        page = await context.new_page()
        sockets = _sockets(page)
        await page.goto(f"{site.embedder}/cadre")
        frame = page.frame_locator("#plateforme")
        await _status(frame, "blocked", "frame")
        await expect(frame.locator("#agent-help")).to_contain_text("l'iframe doit porter allow=\"loopback-network\"")
        await expect(frame.get_by_role("button", name="Autoriser l'accès à Compagnon")).to_be_hidden()
        await page.wait_for_timeout(1000)
        assert sockets == [], sockets
        # The frame cannot even ask: the top-level page's own permission stays unasked.
        assert await loopback_permission(page) == "prompt"
    finally:
        await context.close()


async def test_http_page_is_refused_local_access(site: Site, chromium: Browser) -> None:
    context = await chromium.new_context()
    try:
        page = await context.new_page()
        await page.goto(f"{site.http}/?agent_ports={site.agent.port}")
        await _status(page, "blocked", "insecure")
        await expect(page.locator("#agent-help")).to_contain_text("Cette page n'est pas servie en HTTPS")
        await expect(page.get_by_role("button", name="Autoriser l'accès à Compagnon")).to_be_hidden()
        with pytest.raises(Error, match="can't be granted"):
            await context.grant_permissions(["local-network-access"], origin=site.http)
    finally:
        await context.close()


async def test_agent_older_than_the_page_needs(site: Site, chromium: Browser) -> None:
    context = await chromium.new_context()
    try:
        await context.grant_permissions(["local-network-access"], origin=site.https)
        page = await context.new_page()
        sockets = _sockets(page)
        await page.goto(site.page_url(min_version="99.0.0"))
        await _status(page, "update_required")
        await expect(page.locator("#agent-state")).to_have_text("Mise à jour requise")
        await expect(page.locator("#agent-help")).to_contain_text(
            f"La version de Compagnon installée sur votre poste ({__version__}) est trop ancienne pour ce site.")
        await page.wait_for_timeout(3000)
        assert len(sockets) == 1, sockets  # not offline, not retried every second
        await _status(page, "update_required")
    finally:
        await context.close()


class FutureAgent:
    """A program answering hello as an agent that speaks only protocol 2 would
    (``PROTOCOL_UNSUPPORTED`` with ``data.supported``, PROTOCOL.md)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.hellos = 0
        self._runner: web.AppRunner | None = None

    async def _bridge(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for message in ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            data = json.loads(message.data)
            self.hellos += data.get("method") == "agent.hello"
            await ws.send_str(json.dumps({"jsonrpc": "2.0", "id": data.get("id"), "error": {
                "code": -32001, "message": "Version du protocole non prise en charge par cette version de Compagnon.",
                "data": {"code": "PROTOCOL_UNSUPPORTED", "supported": [2]}}}))
        return ws

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_get("/bridge", self._bridge)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()


async def test_agent_speaking_another_protocol(site: Site, chromium: Browser) -> None:
    context = await chromium.new_context()
    async with FutureAgent() as future:
        try:
            await context.grant_permissions(["local-network-access"], origin=site.https)
            page = await context.new_page()
            await page.goto(f"{site.https}/?agent_ports={future.port}")
            await _status(page, "incompatible")
            await expect(page.locator("#agent-state")).to_have_text("Version incompatible")
            await expect(page.locator("#agent-help")).to_contain_text("Cette page ne parle pas la version du protocole")
            await page.wait_for_timeout(3000)
            assert future.hellos == 1  # not retried every second
        finally:
            await context.close()
