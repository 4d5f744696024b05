"""Pairing (promise 3): a new site is approved once by the user or pre-approved by configuration."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pexpect
import pytest

from bridge_protocol.client import BridgeClient, BridgeError
from tests.support.agent_process import ROOT, AgentProcess, free_port, isolated_env, write_config
from tests.support.platform_server import PlatformServer


def _start(home: Path, platform: PlatformServer, consent: str, preapproved: list[str] | None = None) -> AgentProcess:
    write_config(home, allowed=[platform.origin], preapproved=preapproved, consent=consent)
    return AgentProcess(home, free_port()).start()


async def test_deny_policy_refuses_pairing(home: Path, platform: PlatformServer) -> None:
    agent = _start(home, platform, "deny")
    try:
        async with await BridgeClient.connect(platform.origin, ports=[agent.port]) as client:
            assert (await client.hello())["paired"] is False
            with pytest.raises(BridgeError) as err:
                await client.start_job("diagnose", {})
            assert err.value.code == "PAIRING_REFUSED"
            assert await client.call("jobs.list", {}) == []
    finally:
        agent.stop()


async def test_prompt_without_a_terminal_says_consent_is_unavailable(home: Path, platform: PlatformServer) -> None:
    agent = _start(home, platform, "prompt")
    try:
        async with await BridgeClient.connect(platform.origin, ports=[agent.port]) as client:
            with pytest.raises(BridgeError) as err:
                await client.call("agent.pair", {})
            assert err.value.code == "CONSENT_UNAVAILABLE"
    finally:
        agent.stop()


async def test_preapproved_origin_needs_no_prompt(home: Path, platform: PlatformServer) -> None:
    agent = _start(home, platform, "deny", preapproved=[platform.origin])
    try:
        async with await BridgeClient.connect(platform.origin, ports=[agent.port]) as client:
            assert (await client.hello())["paired"] is True
            assert (await client.run_job("diagnose", {}))["state"] == "succeeded"
    finally:
        agent.stop()


async def test_terminal_prompt_approves_with_the_code_and_remembers(home: Path, platform: PlatformServer) -> None:
    """``compagnon serve`` in a terminal asks; the right code approves, and the pairing persists."""
    write_config(home, allowed=[platform.origin], consent="prompt")
    port = free_port()
    child = pexpect.spawn(sys.executable, ["-m", "agent", "serve", "--port", str(port)], cwd=str(ROOT),
                          env=isolated_env(home), encoding="utf-8", timeout=15)
    try:
        child.expect("en écoute sur")
        async with await BridgeClient.connect(platform.origin, ports=[port]) as client:
            import asyncio

            pairing = asyncio.create_task(client.call("agent.pair", {}))
            await asyncio.to_thread(child.expect, r"tapez ([A-Z]{4}) puis")
            assert platform.origin in child.before
            code = child.match.group(1)
            child.sendline("NON!")  # a wrong answer refuses
            with pytest.raises(BridgeError) as err:
                await pairing
            assert err.value.code == "PAIRING_REFUSED"

            pairing = asyncio.create_task(client.call("agent.pair", {}))
            await asyncio.to_thread(child.expect, r"tapez ([A-Z]{4}) puis")
            new_code = child.match.group(1)
            child.sendline(new_code)
            assert (await pairing) == {"paired": True}
            assert code is not None
        pairings = json.loads((home / ".local/state/compagnon/pairings.json").read_text())
        assert platform.origin in pairings["approved"]
    finally:
        child.terminate(force=True)


async def test_pairings_are_listed_and_revocable_while_the_agent_runs(home: Path, platform: PlatformServer) -> None:
    import subprocess

    agent = _start(home, platform, "approve-all-for-tests")
    try:
        async with await BridgeClient.connect(platform.origin, ports=[agent.port]) as client:
            assert (await client.call("agent.pair", {})) == {"paired": True}

            def cli(*args: str) -> subprocess.CompletedProcess[str]:
                return subprocess.run([sys.executable, "-m", "agent", "pairings", *args], cwd=ROOT,
                                      env=isolated_env(home), capture_output=True, text=True, timeout=30)

            listed = cli()
            assert listed.returncode == 0 and platform.origin in listed.stdout
            assert cli("revoke", platform.origin).returncode == 0
            assert platform.origin not in cli().stdout
            # The running agent sees the revocation at once.
            assert (await client.hello())["paired"] is False
            assert cli("revoke", platform.origin).returncode == 1
    finally:
        agent.stop()
