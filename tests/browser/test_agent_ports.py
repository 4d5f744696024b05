"""Where a page looks for its agent (PROTOCOL.md section 1), in real Chromium: the JS client's
default ports reach an agent at the far end of the shared range (many users on one machine;
Chromium delays each WebSocket after a refused one, so the range is probed in parallel), and a
paired page tries first the port where its own agent last proved the pairing key."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from bridge_protocol.messages import SHARED_PORTS
from tests.browser.test_demo_page import browser, demo_site  # noqa: F401  (fixtures)
from tests.support.agent_process import AgentProcess, write_config
from tests.support.pairing import pair_page, policy_code

pytestmark = pytest.mark.browser


def _free_shared_port() -> int:
    """A port of the shared range nothing listens on (from its end: the least likely taken)."""
    for port in reversed(SHARED_PORTS):
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) != 0:
                return port
    raise AssertionError("every port of the shared range is taken")


async def test_default_ports_and_the_remembered_one(home: Path, demo_site: str, browser: Browser) -> None:  # noqa: F811
    write_config(home, allowed=[demo_site], consent="approve-all-for-tests")
    agent = AgentProcess(home, _free_shared_port()).start()
    try:
        page = await browser.new_page()
        await page.goto(f"{demo_site}/")
        # A client made with no ports at all finds the agent in the shared range.
        found = await page.evaluate("""() => import('/js/compagnon.js').then(async (m) => {
            const client = new m.CompagnonClient();
            const online = await client.connect();
            const port = client.port;
            client.disconnect();
            return {online, port, count: m.DEFAULT_PORTS.length};
        })""")
        assert found == {"online": True, "port": agent.port, "count": 100}, found

        await pair_page(page, lambda: policy_code(home))
        await expect(page.locator("#agent-state")).to_have_text("En ligne", timeout=15_000)
        assert await page.evaluate("() => localStorage.getItem('compagnon.port')") == str(agent.port)

        tried: list[str] = []
        page.on("websocket", lambda ws: tried.append(ws.url))
        await page.reload()
        await expect(page.locator("#agent")).to_have_attribute("data-state", "paired", timeout=15_000)
        assert tried and tried[0] == f"ws://127.0.0.1:{agent.port}/bridge", tried[:5]
    finally:
        agent.stop()
