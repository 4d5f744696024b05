"""Twenty users' agents on one host (a terminal server): each finds a port, and each user's client
reaches its own agent, never another's (bridge_protocol.messages.SHARED_PORTS; on Linux another
user's agent closes the connection before reading it).

Real OS users (the suite runs as root and creates them), each agent and each client run as its
user with a Python every user can run (tests.support.shared_python). tests/bench/bench_many_users.py
measures the time to find the agent.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge_protocol.messages import ALL_PORTS
from tests.support.many_users import find_own_agent, running_agents
from tests.support.shared_python import shared_python

USERS = 20


@pytest.fixture(scope="module")
def python() -> Path:
    return shared_python()


@pytest.fixture
def homes() -> Iterator[Path]:
    base = Path(tempfile.mkdtemp(prefix="compagnon-users-", dir="/tmp"))
    base.chmod(0o755)
    yield base
    shutil.rmtree(base, ignore_errors=True)


@pytest.mark.timeout(600)
def test_twenty_users_each_reach_their_own_agent(python: Path, homes: Path) -> None:
    with running_agents(USERS, python, homes) as agents:
        ports = [port for _, port in agents]
        assert len(set(ports)) == USERS and set(ports) <= set(ALL_PORTS)
        for user, port in agents:
            assert find_own_agent(user, python, homes)["port"] == port, user.name


@pytest.mark.timeout(600)
async def test_each_users_browser_page_finds_its_own_agent(python: Path, homes: Path) -> None:
    """Real Chromium, one profile per user, each run as its user: the demo page probes the ports
    and comes online with its own user's agent, past the other user's agent that holds 47230."""
    from aiohttp import web
    from playwright.async_api import async_playwright, expect

    from agent.demo_platform.app import DemoState, create_demo_app
    from tests.browser.test_demo_page import CHROMIUM, CHROMIUM_ARGS
    from tests.support.agent_process import free_port

    demo_port = free_port()
    runner = web.AppRunner(create_demo_app(DemoState()))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", demo_port).start()
    site = f"http://127.0.0.1:{demo_port}"
    browsers: list[subprocess.Popen[bytes]] = []
    try:
        with running_agents(2, python, homes, site=site) as agents:
            async with async_playwright() as playwright:
                for user, port in agents:
                    profile = homes / user.name / "chromium"
                    profile.mkdir()
                    user.own(profile)
                    debug = free_port()
                    browsers.append(subprocess.Popen(
                        ["runuser", "-u", user.name, "--", "env", f"HOME={homes / user.name}", CHROMIUM,
                         *CHROMIUM_ARGS, f"--user-data-dir={profile}", f"--remote-debugging-port={debug}",
                         "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
                    browser = await _connect(playwright, debug)
                    page = await browser.contexts[0].new_page()
                    await page.goto(f"{site}/")
                    # Online with an agent that answered (not paired yet: pairing is the next step).
                    await expect(page.locator("#agent")).to_have_attribute("data-state", "unpaired", timeout=60_000)
                    reached = await page.evaluate("() => import('/static/common.js').then((m) => m.client.port)")
                    assert reached == port, (user.name, reached, port)
                    await browser.close()
    finally:
        for process in browsers:
            process.terminate()
            process.wait(10)
        await runner.cleanup()


async def _connect(playwright, debug_port: int):  # type: ignore[no-untyped-def]
    """Playwright attached to a Chromium started as another user (its DevTools port on loopback)."""
    deadline = time.monotonic() + 30
    while True:
        try:
            return await playwright.chromium.connect_over_cdp(f"http://127.0.0.1:{debug_port}")
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.3)
