"""A program on the agent's port that does not hold the site's key, seen from a real page in
Chromium (docs/SECURITY.md promise 3): the JS client detects it with ``agent.auth``, enters state
``not_yours``, the page says so in French, and nothing but the challenge reaches the program."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from tests.browser.test_demo_page import browser, demo_site  # noqa: F401  (fixtures)
from tests.security.test_shared_machine import RogueAgent
from tests.support.agent_process import AgentProcess, free_port, write_config
from tests.support.pairing import pair_page, policy_code

pytestmark = pytest.mark.browser


async def test_the_page_detects_a_rogue_agent_and_sends_it_nothing(
        home: Path, demo_site: str, browser: Browser) -> None:  # noqa: F811
    write_config(home, allowed=[demo_site], consent="approve-all-for-tests")
    agent = AgentProcess(home, free_port()).start()
    rogue: RogueAgent | None = None
    try:
        page = await browser.new_page()
        await page.goto(f"{demo_site}/?agent_ports={agent.port}")
        await pair_page(page, lambda: policy_code(home))
        await expect(page.locator("#agent-state")).to_have_text("En ligne", timeout=10_000)

        # The user's agent stops; another program takes its port and answers like Compagnon.
        agent.stop()
        rogue = await RogueAgent(agent.port).start()
        await expect(page.locator("#agent")).to_have_attribute("data-state", "not_yours", timeout=15_000)
        await expect(page.locator("#agent-state")).to_have_text("Ce n'est pas votre Compagnon")
        await expect(page.locator("#agent-help")).to_contain_text("n'est pas votre Compagnon")
        await expect(page.locator("#agent-help")).to_contain_text("rien ne lui a été envoyé")
        button = page.get_by_role("button", name="Lancer le test de configuration de mon poste")
        await expect(button).to_be_disabled()
        # Even a script of the page calling the client directly sends nothing.
        outcome = await page.evaluate("""() => import('/static/common.js').then((m) =>
            m.client.runJob('diagnose', {user_agent: 'x'}).then(() => 'sent', (e) => e.code))""")
        assert outcome == "NOT_YOURS"
        await page.wait_for_timeout(1500)  # a few reconnection rounds
        assert rogue.methods and set(rogue.methods) <= {"agent.hello", "agent.auth"}, rogue.methods
        steps = [json.loads(f)["params"].get("step") for f in rogue.frames if json.loads(f)["method"] == "agent.auth"]
        assert steps and set(steps) == {"challenge"}, steps  # never a proof of the page's key
    finally:
        if rogue is not None:
            await rogue.stop()
        agent.stop()
