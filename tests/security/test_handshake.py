"""docs/SECURITY.md promises 1 and 2: loopback only; Origin and Host checked before any upgrade."""

from __future__ import annotations

import base64
import os
import socket

import aiohttp
import psutil
import pytest

from tests.support.agent_process import AgentProcess
from tests.support.platform_server import PlatformServer


def _upgrade_headers() -> dict[str, str]:
    return {
        "Connection": "Upgrade",
        "Upgrade": "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(),
    }


async def _handshake(port: int, headers: dict[str, str], skip_auto: tuple[str, ...] = ("Host",)) -> aiohttp.ClientResponse:
    async with aiohttp.ClientSession(skip_auto_headers=skip_auto) as session:
        async with session.get(f"http://127.0.0.1:{port}/bridge", headers=headers) as response:
            await response.read()
            return response


def _origins_refused(allowed: str) -> list[str | None]:
    port = allowed.rsplit(":", 1)[1]
    return [
        None,  # missing
        "null",
        "https://evil.example",
        f"http://127.0.0.1:{port}.evil.example",
        f"http://127.0.0.1:{int(port) + 1}",  # other port
        f"https://127.0.0.1:{port}",  # other scheme
        f"http://localhost:{port}",  # other host spelling
        f"HTTP://127.0.0.1:{port}",  # case
        f"{allowed}/",  # trailing slash
        f"http://evil.example/{allowed}",
        f"http://127.0.0.1.evil.example:{port}",
        f"http://user@127.0.0.1:{port}",
        f"{allowed}, https://evil.example",
    ]


async def test_each_refused_origin_gets_403_and_no_upgrade(agent: AgentProcess, platform: PlatformServer) -> None:
    for origin in _origins_refused(platform.origin):
        headers = {**_upgrade_headers(), "Host": f"127.0.0.1:{agent.port}"}
        if origin is not None:
            headers["Origin"] = origin
        response = await _handshake(agent.port, headers)
        assert response.status == 403, origin
        assert "Upgrade" not in response.headers.get("Connection", ""), origin
        assert "Sec-WebSocket-Accept" not in response.headers, origin


@pytest.mark.parametrize(
    "host",
    [
        "evil.example:{port}",
        "evil.example",
        "127.0.0.1",  # no port
        "127.0.0.1:1",  # other port
        "127.0.0.2:{port}",
        "0.0.0.0:{port}",
        "localhost.evil.example:{port}",
        "2130706433:{port}",  # 127.0.0.1 as an integer
        "[::ffff:127.0.0.1]:{port}",
        "",
    ],
)
async def test_non_loopback_host_is_refused(agent: AgentProcess, platform: PlatformServer, host: str) -> None:
    headers = {**_upgrade_headers(), "Origin": platform.origin, "Host": host.format(port=agent.port)}
    response = await _handshake(agent.port, headers)
    assert response.status == 403
    assert "Sec-WebSocket-Accept" not in response.headers


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "LOCALHOST:{port}", "[::1]:{port}"])
async def test_loopback_hosts_with_the_right_origin_upgrade(agent: AgentProcess, platform: PlatformServer, host: str) -> None:
    headers = {**_upgrade_headers(), "Origin": platform.origin, "Host": host.format(port=agent.port)}
    response = await _handshake(agent.port, headers)
    assert response.status == 101
    assert "Sec-WebSocket-Accept" in response.headers


async def test_missing_host_is_refused(agent: AgentProcess, platform: PlatformServer) -> None:
    # HTTP/1.0 without Host, written by hand: no client library omits it otherwise.
    with socket.create_connection(("127.0.0.1", agent.port), timeout=5) as sock:
        sock.sendall(f"GET /bridge HTTP/1.0\r\nOrigin: {platform.origin}\r\n\r\n".encode())
        status_line = sock.recv(1024).split(b"\r\n", 1)[0]
    assert b" 403 " in status_line


async def test_plain_http_requests_are_guarded_too(agent: AgentProcess, platform: PlatformServer) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{agent.port}/bridge", headers={"Host": "evil.example"}) as r:
            assert r.status == 403
        async with session.get(f"http://127.0.0.1:{agent.port}/anything") as r:
            assert r.status == 404


def test_listens_on_loopback_only(agent: AgentProcess) -> None:
    assert agent.proc is not None
    listening = [
        c.laddr for c in psutil.Process(agent.proc.pid).net_connections(kind="inet") if c.status == psutil.CONN_LISTEN
    ]
    assert listening, "the agent listens"
    assert {addr.ip for addr in listening} <= {"127.0.0.1", "::1"}
    assert "127.0.0.1" in {addr.ip for addr in listening}
    for addr in listening:
        assert addr.port == agent.port
    # Nothing answers on another address of this machine.
    for ip in {a.address for nic in psutil.net_if_addrs().values() for a in nic if a.family == socket.AF_INET} - {"127.0.0.1"}:
        with pytest.raises(OSError):
            socket.create_connection((ip, agent.port), timeout=1).close()
