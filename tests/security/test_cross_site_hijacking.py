"""Cross-site WebSocket hijacking (docs/SECURITY.md promise 2) in a real browser.

Two sites serve the same page, whose script opens ``ws://127.0.0.1:PORT/bridge`` (and the
``localhost`` and ``[::1]`` spellings), sends ``agent.hello`` once open, and records every event.
The agent allows only the first site. In Debian chromium driven by Playwright:

* the allowed site's page opens the socket and gets the hello answer (the positive control: the
  page really reaches the agent, so a refusal is the agent's doing);
* the foreign site's page gets ``error`` then ``close`` (code 1006), never ``open``, never a message,
  and the agent's log records the refused handshake with the foreign origin.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiohttp import web
from playwright.async_api import Browser, async_playwright

from tests.support.agent_process import AgentProcess, free_port, write_config

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Site</title></head><body>
<script>
window.attempt = (url) => new Promise((resolve) => {
  const seen = {url, events: [], messages: [], closeCode: null};
  let ws;
  try { ws = new WebSocket(url); } catch (e) { seen.events.push("throw:" + e.name); resolve(seen); return; }
  const done = () => setTimeout(() => resolve(seen), 300);
  ws.onopen = () => {
    seen.events.push("open");
    ws.send(JSON.stringify({jsonrpc: "2.0", id: 1, method: "agent.hello",
                            params: {protocol: 1, client: {name: "page", version: "1"}}}));
  };
  ws.onmessage = (e) => { seen.events.push("message"); seen.messages.push(String(e.data)); ws.close(); };
  ws.onerror = () => seen.events.push("error");
  ws.onclose = (e) => { seen.events.push("close"); seen.closeCode = e.code; done(); };
  setTimeout(() => { seen.events.push("timeout"); resolve(seen); }, 8000);
});
</script></body></html>"""


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


async def _site() -> tuple[web.AppRunner, str]:
    async def page(request: web.Request) -> web.Response:
        return web.Response(text=PAGE, content_type="text/html")

    app = web.Application()
    app.router.add_get("/", page)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}"


@pytest.fixture
async def sites() -> AsyncIterator[tuple[str, str]]:
    """(allowed site, foreign site): two origins on loopback serving the same page."""
    allowed_runner, allowed = await _site()
    foreign_runner, foreign = await _site()
    yield allowed, foreign
    await allowed_runner.cleanup()
    await foreign_runner.cleanup()


@pytest.fixture
def site_agent(home: Path, sites: tuple[str, str]) -> Iterator[AgentProcess]:
    allowed, _ = sites
    write_config(home, allowed=[allowed], preapproved=[allowed], consent="deny",
                 extra='\n[paths]\nlog_dir = "' + str(home / ".local/state/compagnon/log") + '"\n')
    agent = AgentProcess(home, free_port()).start()
    yield agent
    agent.stop()


def _urls(port: int) -> list[str]:
    return [f"ws://127.0.0.1:{port}/bridge", f"ws://localhost:{port}/bridge", f"ws://[::1]:{port}/bridge"]


async def test_foreign_page_cannot_open_the_bridge(browser: Browser, sites: tuple[str, str],
                                                   site_agent: AgentProcess) -> None:
    allowed, foreign = sites

    # Positive control: the allowed site's page opens the bridge and reads an answer.
    page = await browser.new_page()
    await page.goto(allowed + "/")
    control = await page.evaluate("(url) => window.attempt(url)", _urls(site_agent.port)[0])
    assert control["events"][:2] == ["open", "message"], control
    assert '"product":"compagnon"' in control["messages"][0]
    await page.close()

    # The foreign site, with every loopback spelling of the agent's address.
    page = await browser.new_page()
    await page.goto(foreign + "/")
    for url in _urls(site_agent.port):
        seen = await page.evaluate("(url) => window.attempt(url)", url)
        assert "open" not in seen["events"] and not seen["messages"], seen
        assert "message" not in seen["events"], seen
        assert seen["events"][:2] == ["error", "close"], seen
        assert seen["closeCode"] == 1006, seen  # abnormal closure: the handshake never completed
    await page.close()

    log = site_agent.log_file.read_text(encoding="utf-8")
    refused = [line for line in log.splitlines() if "refused GET /bridge" in line and f"Origin='{foreign}'" in line]
    assert len(refused) >= 2, log[-3000:]  # at least the IPv4 and "localhost" attempts (IPv6 if the host has ::1)
    assert all("Origin not allowed" in line for line in refused)
    assert not [line for line in log.splitlines() if f"hello from {foreign}" in line]
