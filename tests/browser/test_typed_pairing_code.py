"""The user types the pairing code in the page, in Chromium (PROTOCOL.md "Pairing"): the page commits
to what was typed before the agent reveals its nonce, never opens that commitment when the code
differs, and the agent keeps the key only once the opening shows the code it displayed — for a site
the administrator pre-approved too."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from playwright.async_api import Browser, async_playwright, expect

from agent.demo_platform.app import DemoState, create_demo_app
from tests.support.agent_process import AgentProcess, free_port, write_config
from tests.support.pairing import policy_code, state_dir_of

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


def _pair_frames(frames: list[str]) -> list[dict]:
    """The agent.pair requests and answers, in order."""
    out, ids = [], set()
    for text in frames:
        message = json.loads(text)
        if message.get("method") == "agent.pair":
            ids.add(message["id"])
            out.append(message)
        elif message.get("id") in ids:
            out.append(message)
    return out


async def _code_gone(home: Path, code: str) -> None:
    """Wait until the agent took ``code`` off its screen (the page started a new pairing)."""
    folder = state_dir_of(home) / "test-pairing-codes"
    for _ in range(200):
        if code not in [p.read_text() for p in folder.glob("[!.]*") if p.exists()]:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the old code is still shown")


async def test_the_code_typed_in_the_page_is_what_pairs_it(home: Path, demo_site: str, browser: Browser) -> None:
    write_config(home, allowed=[demo_site], preapproved=[demo_site], consent="approve-all-for-tests")
    agent = AgentProcess(home, free_port()).start()
    try:
        page = await browser.new_page()
        frames: list[str] = []

        def record(ws) -> None:  # type: ignore[no-untyped-def]
            ws.on("framesent", lambda payload: frames.append(payload))
            ws.on("framereceived", lambda payload: frames.append(payload))

        page.on("websocket", record)
        await page.goto(f"{demo_site}/?agent_ports={agent.port}")
        await expect(page.locator("#agent-state")).to_have_text("Non jumelé", timeout=10_000)

        # The user mistypes the code Compagnon shows.
        await page.locator("#pair-start").click()
        shown = await policy_code(home)
        await expect(page.locator("#pair-code")).to_be_visible(timeout=15_000)
        await page.locator("#pair-code").fill(f"{(int(shown) + 1) % 1_000_000:06d}")
        await page.locator("#pair-confirm").click()
        await expect(page.locator("#pair-error")).to_be_visible(timeout=15_000)
        await expect(page.locator("#pair-error")).to_have_attribute("data-code", "CODE_MISMATCH")
        await expect(page.locator("#pair-error")).to_contain_text("Ce code ne correspond pas")
        await expect(page.locator("#agent-state")).to_have_text("Non jumelé")
        steps = [m["params"]["step"] for m in _pair_frames(frames) if "method" in m]
        assert steps == ["commit", "exchange", "code"], steps  # committed, never opened
        assert not (state_dir_of(home) / "pairings.json").exists()

        # Again: a new code, typed right.
        frames.clear()
        await page.locator("#pair-start").click()
        await _code_gone(home, shown)
        code = await policy_code(home)
        await expect(page.locator("#pair-code")).to_be_visible(timeout=15_000)
        await page.locator("#pair-code").fill(f"{code[:3]} {code[3:]}")  # as Compagnon shows it
        await page.locator("#pair-confirm").click()
        await expect(page.locator("#agent")).to_have_attribute("data-state", "paired", timeout=15_000)
        assert demo_site in json.loads((state_dir_of(home) / "pairings.json").read_text())["approved"]

        # What went on the wire: the agent's nonce came only after the page's commitment, and the
        # opening shows the page committed to the very code the user typed.
        pair = _pair_frames(frames)
        requests = [m for m in pair if "method" in m]
        results = {m["id"]: m.get("result") for m in pair if "method" not in m}
        assert [m["params"]["step"] for m in requests] == ["commit", "exchange", "code", "confirm"]
        exchange, code_step, confirm = requests[1], requests[2], requests[3]
        assert not results[exchange["id"]].get("nonce")
        assert results[code_step["id"]]["nonce"] and results[confirm["id"]]["paired"] is True
        b = base64.b64decode
        opened = hashlib.sha256(b"compagnon-code-v1" + demo_site.encode() + b(exchange["params"]["public_key"])
                                + b(results[exchange["id"]]["public_key"]) + b(exchange["params"]["nonce"])
                                + code.encode() + b(confirm["params"]["opening"])).digest()
        assert opened == b(code_step["params"]["commitment"])
    finally:
        agent.stop()
