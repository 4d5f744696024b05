"""Shared machines (docs/SECURITY.md promise 3, PROTOCOL.md "Pairing"): the Origin header proves
nothing outside a browser. Another OS user with the paired site's forged Origin gets nothing
privileged; a program on the port that does not hold the site's key is detected before anything
is sent to it; a relaying program that substitutes its keys is caught by the code; replayed
authentication answers are refused."""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from bridge_protocol import pairing as crypto
from bridge_protocol.client import BridgeClient, BridgeError, ClientPairing, NotYourAgent
from tests.support.agent_process import AgentProcess, free_port, write_config
from tests.support.os_users import os_user
from tests.support.pairing import client_secrets, policy_code

GOOD = "http://good.test"
ROOT = Path(__file__).resolve().parents[2]

#: Run as another OS user with Debian's own Python (stdlib only: the raw client of tests/support).
_INTRUDER = r"""
import json, sys
from rawws import TEXT, Closed, RawWebSocket
port, origin, handle = int(sys.argv[1]), sys.argv[2], sys.argv[3]
out = {}
try:
    ws = RawWebSocket(port, origin, timeout=20)
except (Closed, OSError) as exc:
    print(json.dumps({"handshake": type(exc).__name__ + " " + str(exc).split("\r\n", 1)[0]}))
    sys.exit(0)
def call(i, method, params):
    ws.send_text(json.dumps({"jsonrpc": "2.0", "id": i, "method": method, "params": params}))
    while True:
        frame = ws.receive(timeout=20)
        if frame.opcode == TEXT:
            message = json.loads(frame.text)
            if message.get("id") == i:
                return message
out["hello"] = call(1, "agent.hello", {"protocol": 1, "client": {"name": "x", "version": "1"}})
out["jobs.list"] = call(2, "jobs.list", {})
out["files.get"] = call(3, "files.get", {"handle": handle})
out["jobs.start"] = call(4, "jobs.start", {"kind": "diagnose", "params": {}})
out["prove_without_challenge"] = call(5, "agent.auth", {"step": "prove", "proof": "A" * 43 + "="})
out["challenge"] = call(6, "agent.auth", {"step": "challenge", "nonce": "B" * 43 + "="})
out["prove_guess"] = call(7, "agent.auth", {"step": "prove", "proof": "C" * 43 + "="})
out["jobs.list_after"] = call(8, "jobs.list", {})
print(json.dumps(out))
"""


@pytest.fixture
def intruder_script() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="compagnon-intruder-", dir="/tmp"))
    folder.chmod(0o755)
    shutil.copy(ROOT / "tests/support/rawws.py", folder / "rawws.py")
    (folder / "intrude.py").write_text(_INTRUDER, encoding="utf-8")
    for path in folder.iterdir():
        path.chmod(0o644)
    yield folder / "intrude.py"
    shutil.rmtree(folder, ignore_errors=True)


def _code(answer: dict) -> str:
    return answer.get("error", {}).get("data", {}).get("code", "")


async def _victim_with_a_job_and_a_file(agent: AgentProcess) -> tuple[str, str]:
    async with await BridgeClient.connect(GOOD, ports=[agent.port]) as victim:
        job = await victim.run_job("diagnose", {})
        assert job["state"] == "succeeded" and victim.authenticated
        data = base64.b64encode(b"offre confidentielle").decode()
        handle = (await victim.call("files.put", {"name": "offre.txt", "data": data, "final": True}))["handle"]
    return job["id"], handle


@pytest.mark.parametrize("same_user_only", [True, False], ids=["admission-on", "admission-off"])
async def test_another_os_user_with_the_paired_sites_origin_gets_nothing_privileged(
        home: Path, intruder_script: Path, same_user_only: bool) -> None:
    """With ``[bridge] same_user_only`` (Linux) the intruder's connection is closed before its
    first byte; without it, pairing alone holds: hello, and NOT_AUTHENTICATED for everything else."""
    config = write_config(home, allowed=[GOOD])
    config.write_text(config.read_text(encoding="utf-8").replace(
        "[bridge]\n", f"[bridge]\nsame_user_only = {str(same_user_only).lower()}\n", 1), encoding="utf-8")
    agent = AgentProcess(home, free_port()).start()
    try:
        job_id, handle = await _victim_with_a_job_and_a_file(agent)
        intruder = os_user("compagnon-intrus")
        run = await asyncio.to_thread(intruder.run, ["/usr/bin/python3", str(intruder_script), str(agent.port), GOOD,
                                                     handle], timeout=60, cwd="/tmp")
        assert run.returncode == 0, run.stderr
        out = json.loads(run.stdout)
        assert job_id not in run.stdout and "offre confidentielle" not in run.stdout
        if same_user_only:
            assert "handshake" in out, out  # turned away before any frame
        else:
            assert out["hello"]["result"]["paired"] is True and out["hello"]["result"]["authenticated"] is False
            for method in ("jobs.list", "files.get", "jobs.start", "jobs.list_after"):
                assert _code(out[method]) == "NOT_AUTHENTICATED", out[method]
                assert "result" not in out[method]
            assert _code(out["prove_without_challenge"]) == "AUTH_FAILED"
            assert _code(out["prove_guess"]) == "AUTH_FAILED"
        # The victim's site still has exactly its own job: nothing was started in its name.
        async with await BridgeClient.connect(GOOD, ports=[agent.port]) as victim:
            assert [job["id"] for job in await victim.call("jobs.list", {})] == [job_id]
    finally:
        agent.stop()


async def test_a_forged_origin_without_the_key_gets_not_authenticated(home: Path) -> None:
    """Where the peer's user cannot be checked, pairing still holds: a client with the site's
    Origin but not its key (here of the same user) gets NOT_AUTHENTICATED for everything."""
    write_config(home, allowed=[GOOD])
    agent = AgentProcess(home, free_port()).start()
    try:
        _, handle = await _victim_with_a_job_and_a_file(agent)
        async with await BridgeClient.connect(GOOD, ports=[agent.port], authenticate=False) as forged:
            assert (await forged.hello())["paired"] is True
            for method, params in (("jobs.list", {}), ("files.get", {"handle": handle}),
                                   ("jobs.start", {"kind": "diagnose", "params": {}}),
                                   ("certificates.list", {}), ("files.put", {"name": "x", "data": "", "final": True})):
                with pytest.raises(BridgeError) as err:
                    await forged.call(method, params)
                assert err.value.code == "NOT_AUTHENTICATED", method
    finally:
        agent.stop()


class RogueAgent:
    """A program on the agent's port: it answers hello like Compagnon, tries authentication and
    pairing without the site's key, and records every method it is sent."""

    def __init__(self, port: int, auth_answer: dict | None = None) -> None:
        self.port = port
        self.methods: list[str] = []
        self.frames: list[str] = []
        self.auth_answer = auth_answer
        self._runner: web.AppRunner | None = None
        self._commit_key = crypto.EphemeralKey.generate()
        self._commit_nonce = crypto.new_nonce()

    def _answer(self, method: str, params: dict) -> dict:
        if method == "agent.hello":
            return {"product": "compagnon", "version": "0.1.0", "protocol": 1, "capabilities": [], "paired": True,
                    "authenticated": False, "update_required": False, "update_available": None}
        if method == "agent.auth" and params.get("step") == "challenge":
            return self.auth_answer or {"nonce": base64.b64encode(crypto.new_nonce()).decode(),
                                        "proof": base64.b64encode(crypto.new_nonce()).decode()}
        if method == "agent.auth":
            return {"authenticated": True}
        if method == "agent.pair" and params.get("step") == "commit":
            digest = crypto.commitment(self._commit_key.public, self._commit_nonce)
            return {"commitment": base64.b64encode(digest).decode(), "paired": False}
        if method == "agent.pair" and params.get("step") == "exchange":
            return {"public_key": base64.b64encode(self._commit_key.public).decode(), "paired": False}
        if method == "agent.pair" and params.get("step") == "code":
            return {"nonce": base64.b64encode(self._commit_nonce).decode(), "paired": False}
        return {"id": "job-1", "kind": "diagnose", "state": "queued"}

    async def _bridge(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for message in ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            self.frames.append(message.data)
            data = json.loads(message.data)
            self.methods.append(data.get("method", ""))
            await ws.send_str(json.dumps({"jsonrpc": "2.0", "id": data.get("id"),
                                          "result": self._answer(data.get("method", ""), data.get("params") or {})}))
        return ws

    async def start(self) -> RogueAgent:
        app = web.Application()
        app.router.add_get("/bridge", self._bridge)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


async def test_a_rogue_agent_on_the_port_is_detected_and_sent_nothing(home: Path) -> None:
    write_config(home, allowed=[GOOD])
    agent = AgentProcess(home, free_port()).start()
    try:
        await _victim_with_a_job_and_a_file(agent)
    finally:
        agent.stop()
    rogue = await RogueAgent(agent.port).start()  # the port is taken by another program
    try:
        with pytest.raises(NotYourAgent) as err:
            await BridgeClient.connect(GOOD, ports=[agent.port])
        assert err.value.code == "NOT_YOURS"
        assert rogue.methods == ["agent.auth"]  # the challenge only: no proof, no request, no token
    finally:
        await rogue.stop()


async def test_a_replayed_authentication_answer_is_refused_on_both_sides(home: Path) -> None:
    write_config(home, allowed=[GOOD])
    agent = AgentProcess(home, free_port()).start()
    try:
        await _victim_with_a_job_and_a_file(agent)
        key = client_secrets(home).get(GOOD)
        assert key is not None
        # A recorded exchange of the real agent: its challenge answer and the page's proof.
        async with await BridgeClient.connect(GOOD, ports=[agent.port], authenticate=False) as page:
            page_nonce = crypto.new_nonce()
            answer = await page.call("agent.auth", {"step": "challenge", "nonce": base64.b64encode(page_nonce).decode()})
            agent_nonce = base64.b64decode(answer["nonce"])
            assert base64.b64decode(answer["proof"]) == crypto.agent_proof(key, GOOD, page_nonce, agent_nonce)
            page_proof = crypto.page_proof(key, GOOD, page_nonce, agent_nonce)
            await page.call("agent.auth", {"step": "prove", "proof": base64.b64encode(page_proof).decode()})
            assert (await page.call("jobs.list", {}))  # this connection is authenticated
        async with await BridgeClient.connect(GOOD, ports=[agent.port], authenticate=False) as replay:
            # The page's nonce again: refused (a nonce is accepted once).
            with pytest.raises(BridgeError) as err:
                await replay.call("agent.auth", {"step": "challenge", "nonce": base64.b64encode(page_nonce).decode()})
            assert err.value.code == "AUTH_FAILED" and err.value.data["reason"] == "replay"
            # A fresh challenge, the recorded proof: refused, and the proof is used up.
            await replay.call("agent.auth", {"step": "challenge", "nonce": base64.b64encode(crypto.new_nonce()).decode()})
            with pytest.raises(BridgeError) as err:
                await replay.call("agent.auth", {"step": "prove", "proof": base64.b64encode(page_proof).decode()})
            assert err.value.code == "AUTH_FAILED"
            with pytest.raises(BridgeError) as err:
                await replay.call("jobs.list", {})
            assert err.value.code == "NOT_AUTHENTICATED"
    finally:
        agent.stop()
    # A rogue that replays the real agent's recorded answer to the page: the page's fresh nonce
    # makes it wrong.
    rogue = await RogueAgent(agent.port, auth_answer=answer).start()
    try:
        with pytest.raises(NotYourAgent):
            await BridgeClient.connect(GOOD, ports=[agent.port])
        assert rogue.methods == ["agent.auth"]
    finally:
        await rogue.stop()


class KeySubstitutingRelay:
    """A program on the port the page uses that relays to the real agent with the forged Origin,
    pairing each side with a key of its own (to learn the key the agent will keep). It gets the
    page's commitment to the code the user typed, and tries its best toward the agent with it."""

    def __init__(self, port: int, agent_port: int) -> None:
        self.port = port
        self.agent_port = agent_port
        self.upstream: BridgeClient | None = None
        self.page_steps: list[str] = []
        self.upstream_error: str | None = None
        self._runner: web.AppRunner | None = None
        self._key = crypto.EphemeralKey.generate()
        self._nonce = crypto.new_nonce()
        self._own = crypto.EphemeralKey.generate()
        self._own_nonce = crypto.new_nonce()
        self._agent_key = b""

    async def _toward_the_agent(self, page_commitment: bytes) -> None:
        """The relay's own pairing with the agent: it must commit to a code before the agent's
        nonce makes the code computable, and all it has is the page's commitment (which hides the
        typed code); it commits to a guess and opens it."""
        assert self.upstream is not None
        guess, opening = "000000", crypto.new_nonce()
        commitment = crypto.code_commitment(GOOD, self._own.public, self._agent_key, self._own_nonce, guess, opening)
        assert commitment != page_commitment
        revealed = await self.upstream.call("agent.pair", {"step": "code", "commitment": base64.b64encode(commitment).decode()})
        agent_nonce = base64.b64decode(revealed["nonce"])
        transcript = crypto.transcript(GOOD, self._own.public, self._agent_key, self._own_nonce, agent_nonce)
        shared = crypto.derive_key(self._own.shared(self._agent_key), GOOD, self._own_nonce, agent_nonce)
        try:
            await self.upstream.call("agent.pair", {
                "step": "confirm", "opening": base64.b64encode(opening).decode(),
                "proof": base64.b64encode(crypto.page_confirmation(shared, transcript, guess)).decode()})
        except BridgeError as exc:
            self.upstream_error = exc.code

    async def _bridge(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for message in ws:
            data = json.loads(message.data)
            method, params = data.get("method"), data.get("params") or {}
            result: object = {}
            if method == "agent.pair":
                self.page_steps.append(params.get("step", ""))
            if method == "agent.hello":
                result = {"product": "compagnon", "version": "0.1.0", "protocol": 1, "capabilities": [],
                          "paired": False, "authenticated": False, "update_required": False, "update_available": None}
            elif method == "agent.pair" and params.get("step") == "commit":
                # Committed before the page's key is known: no grinding toward the page's code.
                result = {"commitment": base64.b64encode(crypto.commitment(self._key.public, self._nonce)).decode()}
            elif method == "agent.pair" and params.get("step") == "exchange":
                # Toward the agent: a pairing of the relay's own (the agent shows its code).
                self.upstream = await BridgeClient.connect(GOOD, ports=[self.agent_port], authenticate=False)
                await self.upstream.call("agent.pair", {"step": "commit"})
                exchanged = await self.upstream.call("agent.pair", {
                    "step": "exchange", "public_key": base64.b64encode(self._own.public).decode(),
                    "nonce": base64.b64encode(self._own_nonce).decode()})
                self._agent_key = base64.b64decode(exchanged["public_key"])
                result = {"public_key": base64.b64encode(self._key.public).decode()}
            elif method == "agent.pair" and params.get("step") == "code":
                await self._toward_the_agent(base64.b64decode(params["commitment"]))
                result = {"nonce": base64.b64encode(self._nonce).decode()}
            await ws.send_str(json.dumps({"jsonrpc": "2.0", "id": data.get("id"), "result": result}))
        return ws

    async def start(self) -> KeySubstitutingRelay:
        app = web.Application()
        app.router.add_get("/bridge", self._bridge)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def stop(self) -> None:
        if self.upstream is not None:
            await self.upstream.close()
        if self._runner is not None:
            await self._runner.cleanup()


async def test_a_relay_that_substitutes_its_keys_is_caught_by_the_code(home: Path) -> None:
    write_config(home, allowed=[GOOD])
    agent = AgentProcess(home, free_port()).start()
    relay = await KeySubstitutingRelay(free_port(), agent.port).start()
    try:
        async def user_reads_compagnon(origin: str, nonce: bytes) -> str:
            return await policy_code(home)  # the code the real agent shows (for the relay's pairing)

        pairing = ClientPairing(client_secrets(home), user_reads_compagnon)
        async with await BridgeClient.connect(GOOD, ports=[relay.port], pairing=pairing) as page:
            with pytest.raises(NotYourAgent) as err:
                await page.pair()
            assert err.value.data["reason"] == "code"
        assert client_secrets(home).get(GOOD) is None  # the page keeps no key and sends nothing more
        assert relay.page_steps == ["commit", "exchange", "code"]  # never opened its commitment to the relay
        # Nor does the agent keep a key of the relay's: the code the user read was not the relay's to type.
        assert relay.upstream_error == "PAIRING_CODE_INCORRECT"
        pairings = agent.state_dir / "pairings.json"
        assert not pairings.exists() or GOOD not in json.loads(pairings.read_text())["approved"]
    finally:
        await relay.stop()
        agent.stop()


def test_the_code_is_six_digits_from_the_first_twenty_bits() -> None:
    transcript = crypto.transcript(GOOD, b"\x04" + b"\x01" * 64, b"\x04" + b"\x02" * 64, b"\x03" * 32, b"\x05" * 32)
    import hashlib

    digest = hashlib.sha256(b"compagnon-sas-v1" + transcript).digest()
    assert crypto.sas(transcript) == f"{(int.from_bytes(digest[:3], 'big') >> 4) % 10**6:06d}"
    assert len(crypto.sas(transcript)) == 6


def test_no_code_side_channel_outside_the_test_policy(tmp_path: Path) -> None:
    from agent.pairing import test_codes_folder

    for policy in ("prompt", "console", "native", "deny"):
        assert test_codes_folder(tmp_path, policy) is None
    assert test_codes_folder(tmp_path, "approve-all-for-tests") == tmp_path / "test-pairing-codes"

