"""Pairing (promise 3, PROTOCOL.md "Pairing"): a new site is approved once by the user, who types in
the page the code the agent shows; a pre-approved site pairs too, with the code and no question."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pexpect
import pytest

from bridge_protocol.client import BridgeClient, BridgeError, ClientPairing
from tests.support.agent_process import ROOT, AgentProcess, free_port, isolated_env, write_config
from tests.support.pairing import client_secrets
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
        async with await BridgeClient.connect(platform.origin, ports=[agent.port], authenticate=False) as raw:
            with pytest.raises(BridgeError) as err:
                await raw.call("jobs.list", {})
            assert err.value.code == "NOT_AUTHENTICATED"
        assert not client_secrets(home).get(platform.origin)
    finally:
        agent.stop()


async def test_prompt_without_a_terminal_says_consent_is_unavailable(home: Path, platform: PlatformServer) -> None:
    agent = _start(home, platform, "prompt")
    try:
        async with await BridgeClient.connect(platform.origin, ports=[agent.port]) as client:
            with pytest.raises(BridgeError) as err:
                await client.pair()
            assert err.value.code == "CONSENT_UNAVAILABLE"
    finally:
        agent.stop()


def _terminal_agent(home: Path, platform: PlatformServer, preapproved: list[str] | None = None):  # type: ignore[no-untyped-def]
    write_config(home, allowed=[platform.origin], consent="prompt", preapproved=preapproved)
    port = free_port()
    child = pexpect.spawn(sys.executable, ["-m", "agent", "serve", "--port", str(port)], cwd=str(ROOT),
                          env=isolated_env(home), encoding="utf-8", timeout=15)
    child.expect("en écoute sur")
    return child, port


def _screen_reader(child) -> ClientPairing:  # type: ignore[no-untyped-def]
    """The user: reads the code in the agent's terminal and types it in the page."""

    async def read(origin: str, nonce: bytes) -> str | None:
        await asyncio.to_thread(child.expect, r"taper dans la page : (\d{3} \d{3})")
        return child.match.group(1)

    return read


async def test_preapproved_origin_pairs_with_the_code_and_no_question(home: Path, platform: PlatformServer) -> None:
    child, port = _terminal_agent(home, platform, preapproved=[platform.origin])
    try:
        pairing = ClientPairing(client_secrets(home), _screen_reader(child))
        async with await BridgeClient.connect(platform.origin, ports=[port], pairing=pairing) as client:
            assert (await client.hello())["paired"] is False
            assert (await client.run_job("diagnose", {}))["state"] == "succeeded"
            assert "tapez" not in child.before  # no "allow this site?" question
            assert client.authenticated
        # A new connection proves the key without any code.
        async with await BridgeClient.connect(platform.origin, ports=[port], pairing=pairing) as client:
            assert client.authenticated and (await client.hello())["authenticated"] is True
            assert (await client.call("jobs.list", {}))[0]["kind"] == "diagnose"
    finally:
        child.terminate(force=True)


async def test_terminal_prompt_approves_with_the_code_and_remembers(home: Path, platform: PlatformServer) -> None:
    """``compagnon serve`` in a terminal asks; the right code approves, and the pairing persists."""
    child, port = _terminal_agent(home, platform)
    try:
        pairing = ClientPairing(client_secrets(home), _screen_reader(child))
        async with await BridgeClient.connect(platform.origin, ports=[port], pairing=pairing) as client:
            refused = asyncio.create_task(client.pair())
            await asyncio.to_thread(child.expect, r"tapez ([A-Z]{4}) puis")
            assert platform.origin in child.before
            code = child.match.group(1)
            child.sendline("NON!")  # a wrong answer refuses
            with pytest.raises(BridgeError) as err:
                await refused
            assert err.value.code == "PAIRING_REFUSED"

            child_output = []
            async def approve() -> None:
                await asyncio.to_thread(child.expect, r"page : (\d{3} \d{3})")
                child_output.append(child.match.group(1))
                await asyncio.to_thread(child.expect, r"tapez ([A-Z]{4}) puis")
                child.sendline(child.match.group(1))

            async def read(origin: str, nonce: bytes) -> str | None:
                return child_output[0]

            client.pairing = ClientPairing(client_secrets(home), read)
            approving = asyncio.create_task(approve())
            assert (await client.pair()) == {"paired": True}
            await approving
            assert code is not None and client.authenticated
        pairings = json.loads((home / ".local/state/compagnon/pairings.json").read_text())
        assert platform.origin in pairings["approved"]
        assert (home / ".local/state/compagnon/pairings.json").stat().st_mode & 0o777 == 0o600
        assert not (home / ".local/state/compagnon/test-pairing-codes").exists()  # no side channel here
    finally:
        child.terminate(force=True)


async def test_pairings_are_listed_and_revocable_while_the_agent_runs(home: Path, platform: PlatformServer) -> None:
    import subprocess

    agent = _start(home, platform, "approve-all-for-tests")
    try:
        async with await BridgeClient.connect(platform.origin, ports=[agent.port]) as client:
            assert (await client.pair()) == {"paired": True}
            assert await client.call("jobs.list", {}) == []

            def cli(*args: str) -> subprocess.CompletedProcess[str]:
                return subprocess.run([sys.executable, "-m", "agent", "pairings", *args], cwd=ROOT,
                                      env=isolated_env(home), capture_output=True, text=True, timeout=30)

            listed = cli()
            assert listed.returncode == 0 and platform.origin in listed.stdout
            assert cli("revoke", platform.origin).returncode == 0
            assert platform.origin not in cli().stdout
            # The running agent sees the revocation at once: the key is gone, this connection's
            # proof no longer counts.
            assert (await client.hello())["paired"] is False
            with pytest.raises(BridgeError) as err:
                await client._raw_call("jobs.list", {})
            assert err.value.code == "NOT_AUTHENTICATED"
            assert cli("revoke", platform.origin).returncode == 1
        # The page's old key is refused: it pairs again.
        async with await BridgeClient.connect(platform.origin, ports=[agent.port]) as client:
            assert not client.authenticated and client_secrets(home).get(platform.origin) is None
            assert await client.call("jobs.list", {}) == []
            assert client.authenticated
    finally:
        agent.stop()
