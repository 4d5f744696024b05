"""The test side of pairing (PROTOCOL.md "Pairing"): which agent home listens on which port, the
client's key file per agent home, and the code reader of the test consent policy.

Under ``approve-all-for-tests`` (and only there) the agent writes each pairing's code to
``state_dir/test-pairing-codes/<name>`` (0600); the test client reads it as a user reads the agent's
screen. Agents under other policies are paired by their UI (terminal, console) in the tests that
exercise it, or seeded with a key (``seed_pairing``) where pairing is not what is tested.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
from pathlib import Path

from agent.pairing import TEST_CODES_FOLDER, test_code_name
from bridge_protocol.client import ClientPairing, PairingSecrets

#: Agent homes by port, recorded when an agent is started for a test.
HOMES: dict[int, Path] = {}
#: The agent home last seeded with a key per origin (for agents started without registering
#: their port, e.g. ``compagnon serve`` in a pseudo-terminal).
SEEDED: dict[str, Path] = {}


def register_agent(port: int, home: Path) -> None:
    HOMES[port] = home


def state_dir_of(home: Path) -> Path:
    return home / ".local/state/compagnon"


def client_secrets(home: Path) -> PairingSecrets:
    """The test client's keys for the agent of ``home`` (outside the agent's own folders)."""
    return PairingSecrets(home / ".test-client" / "pairing-secrets.json")


def policy_code_reader(home: Path, wait: float = 5.0):  # type: ignore[no-untyped-def]
    """Reads the code the test policy dropped for this pairing (None when there is none)."""

    async def read(origin: str, page_nonce: bytes) -> str | None:
        path = state_dir_of(home) / TEST_CODES_FOLDER / test_code_name(origin, page_nonce)
        for _ in range(int(wait / 0.05)):
            try:
                return path.read_text(encoding="utf-8")
            except FileNotFoundError:
                await asyncio.sleep(0.05)
        return None

    return read


def pairing_for(home: Path) -> ClientPairing:
    return ClientPairing(client_secrets(home), policy_code_reader(home))


def default_pairing(origin: str, port: int) -> ClientPairing | None:
    """What ``BridgeClient.connect`` uses in the tests when no pairing is given."""
    home = HOMES.get(port) or SEEDED.get(origin)
    return pairing_for(home) if home is not None else None


def seed_pairing(home: Path, origin: str) -> bytes:
    """A key for ``origin`` on both sides, as if the site had been paired earlier (for the tests
    of other subjects whose consent policy has no code side channel)."""
    key = secrets.token_bytes(32)
    path = state_dir_of(home) / "pairings.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {"approved": {}}
    data["approved"][origin] = {"approved_at": "2026-01-01T00:00:00Z", "key": base64.b64encode(key).decode()}
    path.write_text(json.dumps(data), encoding="utf-8")
    path.chmod(0o600)
    client_secrets(home).set(origin, key)
    SEEDED[origin] = home
    return key


def authenticate_raw(ws, origin: str, key: bytes) -> None:  # type: ignore[no-untyped-def]
    """``agent.auth`` over a tests.support.rawws socket, checking the agent's proof first."""
    from bridge_protocol import pairing

    def call(request_id: str, params: dict) -> dict:
        ws.send_text(json.dumps({"jsonrpc": "2.0", "id": request_id, "method": "agent.auth", "params": params}))
        while True:
            answer = json.loads(ws.receive(timeout=30).text)
            if answer.get("id") == request_id:
                return answer

    page_nonce = pairing.new_nonce()
    result = call("auth-1", {"step": "challenge", "nonce": base64.b64encode(page_nonce).decode()})["result"]
    agent_nonce = base64.b64decode(result["nonce"])
    assert base64.b64decode(result["proof"]) == pairing.agent_proof(key, origin, page_nonce, agent_nonce)
    proof = pairing.page_proof(key, origin, page_nonce, agent_nonce)
    assert call("auth-2", {"step": "prove", "proof": base64.b64encode(proof).decode()})["result"]["authenticated"]


async def policy_code(home: Path, wait: float = 15.0) -> str:
    """The one code the test policy dropped for a pairing in progress (a browser page's, whose
    nonce the test does not know)."""
    folder = state_dir_of(home) / TEST_CODES_FOLDER
    for _ in range(int(wait / 0.05)):
        # Final names only (the agent writes a hidden temporary file, then renames it).
        files = sorted(p for p in folder.iterdir() if not p.name.startswith(".")) if folder.is_dir() else []
        if len(files) == 1:
            try:
                code = files[0].read_text(encoding="utf-8")
            except FileNotFoundError:
                code = ""
            if len(code) == 6 and code.isdigit():
                return code
        await asyncio.sleep(0.05)
    raise AssertionError(f"no single pairing code in {folder}")


async def terminal_code(child) -> str:  # type: ignore[no-untyped-def]
    """The code ``compagnon serve`` prints in its terminal (pexpect child)."""
    await asyncio.to_thread(child.expect, r"(?:taper dans la page|type in the page) ?: (\d{3} \d{3})")
    return str(child.match.group(1))


async def pair_page(page, read_code) -> None:  # type: ignore[no-untyped-def]
    """The user pairs a demo page: "Jumeler", then types the code Compagnon shows (``read_code()``)."""
    from playwright.async_api import expect

    await expect(page.locator("#pair-start")).to_be_visible(timeout=15_000)
    await page.locator("#pair-start").click()
    code = await read_code()
    await expect(page.locator("#pair-code")).to_be_visible(timeout=15_000)
    await page.locator("#pair-code").fill(code)
    await page.locator("#pair-confirm").click()
    await expect(page.locator("#agent")).to_have_attribute("data-state", "paired", timeout=15_000)


async def paired_key(port: int, origin: str) -> bytes:
    """Pair ``origin`` with the test agent on ``port`` if needed; its key (test client's side)."""
    from bridge_protocol.client import BridgeClient

    async with await BridgeClient.connect(origin, ports=[port]) as client:
        await client.secure()
    home = HOMES[port]
    key = client_secrets(home).get(origin)
    assert key is not None
    return key


async def authenticate_aiohttp(ws, origin: str, key: bytes) -> None:  # type: ignore[no-untyped-def]
    """``agent.auth`` over an aiohttp WebSocket, checking the agent's proof first."""
    from bridge_protocol import pairing

    async def call(request_id: str, params: dict) -> dict:
        await ws.send_str(json.dumps({"jsonrpc": "2.0", "id": request_id, "method": "agent.auth", "params": params}))
        while True:
            answer = json.loads((await ws.receive(timeout=30)).data)
            if answer.get("id") == request_id:
                return answer

    page_nonce = pairing.new_nonce()
    result = (await call("auth-1", {"step": "challenge", "nonce": base64.b64encode(page_nonce).decode()}))["result"]
    agent_nonce = base64.b64decode(result["nonce"])
    assert base64.b64decode(result["proof"]) == pairing.agent_proof(key, origin, page_nonce, agent_nonce)
    proof = pairing.page_proof(key, origin, page_nonce, agent_nonce)
    assert (await call("auth-2", {"step": "prove", "proof": base64.b64encode(proof).decode()}))["result"]["authenticated"]
