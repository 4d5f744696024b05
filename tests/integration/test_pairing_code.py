"""The code the user types authenticates the pairing (PROTOCOL.md "Pairing", docs/SECURITY.md
promise 3): the agent checks that the page committed to the very code it showed before it revealed
what makes that code computable; a wrong code pairs nothing, each code is checked once, wrong codes
are limited per site, and a pre-approved site types the code all the same.

The pages here speak the protocol frame by frame (real agent, real ECDH, HKDF and HMAC), as a page
that reads the code from the agent's screen — or a program that cannot — would."""

from __future__ import annotations

import asyncio
import base64
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pexpect
import pytest

from agent.pairing import MAX_WRONG_CODES
from bridge_protocol import pairing as crypto
from bridge_protocol.client import BridgeClient, BridgeError, ClientPairing, NotYourAgent
from tests.conftest import OTHER_ORIGIN
from tests.support.agent_process import ROOT, AgentProcess, free_port, isolated_env, write_config
from tests.support.pairing import client_secrets, policy_code_reader, state_dir_of
from tests.support.platform_server import PlatformServer


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@dataclass
class PageSide:
    """One pairing as a page runs it: its key and nonce, and what the agent sent so far."""

    origin: str
    client: BridgeClient
    key: crypto.EphemeralKey
    nonce: bytes
    agent_commitment: bytes
    exchanged: dict[str, Any]

    @property
    def agent_key(self) -> bytes:
        return base64.b64decode(self.exchanged["public_key"])

    async def commit_code(self, code: str) -> tuple[bytes, bytes]:
        """Step 3: commit to ``code``; the opening and the agent's nonce."""
        opening = crypto.new_nonce()
        commitment = crypto.code_commitment(self.origin, self.key.public, self.agent_key, self.nonce, code, opening)
        revealed = await self.client.call("agent.pair", {"step": "code", "commitment": _b64(commitment)})
        agent_nonce = base64.b64decode(revealed["nonce"])
        assert crypto.commitment(self.agent_key, agent_nonce) == self.agent_commitment
        return opening, agent_nonce

    async def confirm(self, code: str, opening: bytes, agent_nonce: bytes) -> dict[str, Any]:
        """Step 4: open the commitment and prove K with ``code`` bound in."""
        transcript = crypto.transcript(self.origin, self.key.public, self.agent_key, self.nonce, agent_nonce)
        shared = crypto.derive_key(self.key.shared(self.agent_key), self.origin, self.nonce, agent_nonce)
        done = await self.client.call("agent.pair", {
            "step": "confirm", "opening": _b64(opening),
            "proof": _b64(crypto.page_confirmation(shared, transcript, code))})
        assert base64.b64decode(done["proof"]) == crypto.agent_confirmation(shared, transcript, code)
        return done


async def _exchange(client: BridgeClient, origin: str) -> PageSide:
    """Steps 1 and 2: after them the agent shows its code."""
    commit = await client.call("agent.pair", {"step": "commit"})
    key, nonce = crypto.EphemeralKey.generate(), crypto.new_nonce()
    exchanged = await client.call("agent.pair", {"step": "exchange", "public_key": _b64(key.public),
                                                 "nonce": _b64(nonce)})
    return PageSide(origin, client, key, nonce, base64.b64decode(commit["commitment"]), exchanged)


def _other(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def _paired_sites(home: Path) -> dict[str, Any]:
    path = state_dir_of(home) / "pairings.json"
    return json.loads(path.read_text())["approved"] if path.exists() else {}


def _start(home: Path, allowed: list[str], preapproved: list[str] | None = None) -> AgentProcess:
    write_config(home, allowed=allowed, preapproved=preapproved)
    return AgentProcess(home, free_port()).start()


async def test_a_wrong_code_is_refused_and_nothing_is_kept(home: Path, platform: PlatformServer) -> None:
    agent = _start(home, [platform.origin])
    try:
        async with await BridgeClient.connect(platform.origin, ports=[agent.port], authenticate=False) as client:
            page = await _exchange(client, platform.origin)
            assert "nonce" not in page.exchanged or page.exchanged["nonce"] is None  # the code cannot be computed yet
            code = await policy_code_reader(home)(platform.origin, page.nonce)  # the user reads the agent's screen
            assert code is not None
            wrong = _other(code)
            opening, agent_nonce = await page.commit_code(wrong)
            with pytest.raises(BridgeError) as err:
                await page.confirm(wrong, opening, agent_nonce)
            assert err.value.code == "PAIRING_CODE_INCORRECT"
            assert err.value.data["attempts_left"] == MAX_WRONG_CODES - 1
            assert "Code de jumelage incorrect" in err.value.message

            # The attempt is void: even the right code, now computable, is not accepted on it.
            with pytest.raises(BridgeError) as err:
                await page.confirm(code, opening, agent_nonce)
            assert err.value.code == "PAIRING_FAILED" and err.value.data["reason"] == "step"
            assert (await client.call("agent.hello", {"protocol": 1, "client": {"name": "t", "version": "1"}}))["paired"] is False
            with pytest.raises(BridgeError) as err:
                await client.call("jobs.list", {})
            assert err.value.code == "NOT_AUTHENTICATED"
        assert platform.origin not in _paired_sites(home)
        assert not list((state_dir_of(home) / "test-pairing-codes").glob("[!.]*"))  # the code is off the screen
        journal = [json.loads(line) for line in (state_dir_of(home) / "audit" / "audit.jsonl").read_text().splitlines()]
        assert [(e["action"], e["result"]) for e in journal] == [("pairing.code_incorrect", "failed")]
    finally:
        agent.stop()


async def test_the_right_code_pairs_and_a_new_code_follows_a_wrong_one(home: Path, platform: PlatformServer) -> None:
    agent = _start(home, [platform.origin])
    try:
        async with await BridgeClient.connect(platform.origin, ports=[agent.port], authenticate=False) as client:
            first = await _exchange(client, platform.origin)
            first_code = await policy_code_reader(home)(platform.origin, first.nonce)
            assert first_code is not None
            opening, agent_nonce = await first.commit_code(_other(first_code))
            with pytest.raises(BridgeError):
                await first.confirm(_other(first_code), opening, agent_nonce)

            # Pairing again: a new code, and the right one pairs this connection.
            page = await _exchange(client, platform.origin)
            code = await policy_code_reader(home)(platform.origin, page.nonce)
            assert code is not None
            opening, agent_nonce = await page.commit_code(code)
            assert crypto.sas(crypto.transcript(platform.origin, page.key.public, page.agent_key, page.nonce,
                                                agent_nonce)) == code
            assert (await page.confirm(code, opening, agent_nonce))["paired"] is True
            assert await client.call("jobs.list", {}) == []
        assert platform.origin in _paired_sites(home)
    finally:
        agent.stop()


async def test_wrong_codes_are_limited_per_site(home: Path, platform: PlatformServer) -> None:
    """Each code is checked once; after MAX_WRONG_CODES wrong codes a site pairs no more for a
    while, whatever the connection, and another site is not affected."""
    agent = _start(home, [platform.origin, OTHER_ORIGIN])
    try:
        for attempt in range(MAX_WRONG_CODES):
            async with await BridgeClient.connect(platform.origin, ports=[agent.port], authenticate=False) as client:
                page = await _exchange(client, platform.origin)
                code = await policy_code_reader(home)(platform.origin, page.nonce)
                assert code is not None
                opening, agent_nonce = await page.commit_code(_other(code))
                with pytest.raises(BridgeError) as err:
                    await page.confirm(_other(code), opening, agent_nonce)
                assert err.value.code == "PAIRING_CODE_INCORRECT"
                assert err.value.data["attempts_left"] == MAX_WRONG_CODES - 1 - attempt
        async with await BridgeClient.connect(platform.origin, ports=[agent.port], authenticate=False) as client:
            with pytest.raises(BridgeError) as err:
                await _exchange(client, platform.origin)
            assert err.value.code == "TOO_MANY_REQUESTS"
            assert err.value.data["reason"] == "pairing_codes" and 0 < err.value.data["retry_after"] <= 600
            assert not list((state_dir_of(home) / "test-pairing-codes").glob("[!.]*"))  # no code shown
        # Another site pairs as usual.
        async with await BridgeClient.connect(OTHER_ORIGIN, ports=[agent.port], authenticate=False) as client:
            page = await _exchange(client, OTHER_ORIGIN)
            code = await policy_code_reader(home)(OTHER_ORIGIN, page.nonce)
            assert code is not None
            opening, agent_nonce = await page.commit_code(code)
            assert (await page.confirm(code, opening, agent_nonce))["paired"] is True
        assert list(_paired_sites(home)) == [OTHER_ORIGIN]
    finally:
        agent.stop()


def _terminal_agent(home: Path, origin: str):  # type: ignore[no-untyped-def]
    """``compagnon serve`` in a terminal, the site pre-approved by the administrator."""
    write_config(home, allowed=[origin], consent="prompt", preapproved=[origin])
    port = free_port()
    child = pexpect.spawn(sys.executable, ["-m", "agent", "serve", "--port", str(port)], cwd=str(ROOT),
                          env=isolated_env(home), encoding="utf-8", timeout=15)
    child.expect("en écoute sur")
    return child, port


async def _terminal_code(child) -> str:  # type: ignore[no-untyped-def]
    await asyncio.to_thread(child.expect, r"taper dans la page : (\d{3} \d{3})")
    return str(child.match.group(1)).replace(" ", "")


async def test_a_preapproved_site_must_type_the_code(home: Path, platform: PlatformServer) -> None:
    """A program that does not see the agent's terminal (a forged Origin of the pre-approved site)
    is refused: everything the agent sent it before the check leaves the code unknown to it. The
    user, who reads the terminal, pairs."""
    child, port = _terminal_agent(home, platform.origin)
    try:
        async with await BridgeClient.connect(platform.origin, ports=[port], authenticate=False) as intruder:
            page = await _exchange(intruder, platform.origin)
            shown = await _terminal_code(child)  # on the user's screen only
            assert shown.encode() not in json.dumps(page.exchanged).encode()
            guess = "123456" if shown != "123456" else "654321"
            opening, agent_nonce = await page.commit_code(guess)
            with pytest.raises(BridgeError) as err:
                await page.confirm(guess, opening, agent_nonce)
            assert err.value.code == "PAIRING_CODE_INCORRECT"
            with pytest.raises(BridgeError) as err:
                await intruder.call("jobs.list", {})
            assert err.value.code == "NOT_AUTHENTICATED"
        assert platform.origin not in _paired_sites(home)

        async def read(origin: str, nonce: bytes) -> str | None:
            return await _terminal_code(child)

        pairing = ClientPairing(client_secrets(home), read)
        async with await BridgeClient.connect(platform.origin, ports=[port], pairing=pairing) as client:
            assert (await client.run_job("diagnose", {}))["state"] == "succeeded"
        assert platform.origin in _paired_sites(home)
    finally:
        child.terminate(force=True)


async def test_the_client_never_opens_its_commitment_when_the_codes_differ(home: Path, platform: PlatformServer) -> None:
    """The Python client, given a code other than the agent's, stops before it opens its
    commitment (a program in the middle would learn the typed code): not paired, and the agent
    counted no wrong code of this site."""

    async def mistyped(origin: str, nonce: bytes) -> str | None:
        code = await policy_code_reader(home)(origin, nonce)
        return _other(code or "000000")

    agent = _start(home, [platform.origin])
    try:
        pairing = ClientPairing(client_secrets(home), mistyped)
        async with await BridgeClient.connect(platform.origin, ports=[agent.port], pairing=pairing) as client:
            with pytest.raises(NotYourAgent) as err:
                await client.pair()
            assert err.value.data["reason"] == "code"
        assert platform.origin not in _paired_sites(home) and client_secrets(home).get(platform.origin) is None
        journal = state_dir_of(home) / "audit" / "audit.jsonl"
        assert not journal.exists() or "pairing.code_incorrect" not in journal.read_text()
        async with await BridgeClient.connect(platform.origin, ports=[agent.port]) as client:  # the right code
            assert (await client.run_job("diagnose", {}))["state"] == "succeeded"
    finally:
        agent.stop()
