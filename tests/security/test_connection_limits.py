"""Who may connect to the bridge, and how many (agent.bridge.admission).

* Another OS user's process (a real second user, with a forged ``Origin`` of an allowed site) is
  turned away before any upgrade; the same bytes from this user's process are upgraded.
* With a desktop's usual 1024 open files, 1,100 half-sent upgrade requests or 1,011 held
  WebSockets no longer lock a new page out: the next page connects and is answered at once.
"""

from __future__ import annotations

import asyncio
import base64
import os
import resource
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge_protocol.client import BridgeClient
from tests.support.agent_process import AgentProcess, free_port, write_config
from tests.support.os_users import os_user
from tests.support.rawws import RawWebSocket

SITE = "https://marches.example.fr"


def _upgrade(port: int) -> str:
    key = base64.b64encode(os.urandom(16)).decode()
    return (f"GET /bridge HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nOrigin: {SITE}\r\nConnection: Upgrade\r\n"
            f"Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\n\r\n")


def _bash_handshake(port: int) -> list[str]:
    """A WebSocket upgrade sent with nothing but bash (/dev/tcp): what any local user can run."""
    request = _upgrade(port).replace("\r\n", "\\r\\n")
    script = (f"exec 3<>/dev/tcp/127.0.0.1/{port} || exit 9; printf '{request}' >&3; "
              "timeout 5 head -c 12 <&3")
    return ["bash", "-c", script]


def test_another_users_process_is_turned_away(home: Path) -> None:
    write_config(home, allowed=[SITE], preapproved=[SITE])
    agent = AgentProcess(home, free_port()).start()
    try:
        ours = subprocess.run(_bash_handshake(agent.port), capture_output=True, text=True, timeout=20)
        assert ours.stdout.startswith("HTTP/1.1 101"), ours
        other = os_user("compagnon-autre").run(_bash_handshake(agent.port), timeout=20)
        assert "101" not in other.stdout, other
        assert "refused a connection from another user's process" in agent.log_file.read_text()
    finally:
        agent.stop()


@pytest.fixture
def many_descriptors() -> Iterator[None]:
    """This test process may open a few thousand sockets."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def _desktop_agent(home: Path) -> AgentProcess:
    """An agent started as a desktop session starts programs: 1024 open files, soft and hard."""
    write_config(home, allowed=[SITE], preapproved=[SITE])
    return AgentProcess(home, free_port(), open_files=1024).start()


async def _hello(port: int) -> dict:
    async def run() -> dict:
        async with await BridgeClient.connect(SITE, ports=[port]) as client:
            return await client.hello()
    return await asyncio.wait_for(run(), 15)


async def test_half_sent_upgrades_do_not_lock_a_page_out(home: Path, many_descriptors: None) -> None:
    agent = _desktop_agent(home)
    sockets: list[socket.socket] = []
    try:
        partial = _upgrade(agent.port).encode()[:-2]  # never the final blank line
        for _ in range(1100):
            sock = socket.socket()
            sock.setblocking(False)
            try:
                sock.connect(("127.0.0.1", agent.port))
            except BlockingIOError:
                pass
            sockets.append(sock)
        await asyncio.sleep(0.5)
        for sock in sockets:
            try:
                sock.send(partial)
            except OSError:
                continue
        await asyncio.sleep(1.0)
        answer = await _hello(agent.port)
        assert answer["product"] == "compagnon"
    finally:
        for sock in sockets:
            sock.close()
        agent.stop()


async def test_held_websockets_leave_room_for_a_new_page(home: Path, many_descriptors: None) -> None:
    agent = _desktop_agent(home)
    held: list[RawWebSocket] = []
    try:
        for _ in range(1011):
            try:
                held.append(await asyncio.to_thread(RawWebSocket, agent.port, SITE, 5.0))
            except OSError:
                continue  # turned away or closed to make room: the attacker's problem
        answer = await _hello(agent.port)
        assert answer["product"] == "compagnon"
    finally:
        for ws in held:
            ws.sock.close()
        agent.stop()


def test_a_flood_of_refused_handshakes_writes_a_few_log_lines(home: Path) -> None:
    write_config(home, allowed=[SITE], preapproved=[SITE])
    agent = AgentProcess(home, free_port()).start()
    try:
        for _ in range(300):
            with socket.create_connection(("127.0.0.1", agent.port), timeout=5) as sock:
                sock.sendall(_upgrade(agent.port).replace(SITE, "https://evil.example").encode())
                assert sock.recv(64).startswith(b"HTTP/1.1 403")
        refused = [line for line in agent.log_file.read_text().splitlines() if "refused GET /bridge" in line]
        assert 1 <= len(refused) <= 25, len(refused)
    finally:
        agent.stop()
