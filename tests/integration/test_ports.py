"""Default port 47230, then the next ones up to 47233 when taken, then this user's place in the
shared range 47234-47329."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
from pathlib import Path

from bridge_protocol.client import BridgeClient
from bridge_protocol.messages import ALL_PORTS, PORTS, user_port_order
from tests.support.agent_process import ROOT, AgentProcess, isolated_env, write_config
from tests.support.platform_server import PlatformServer


def _occupy(port: int) -> socket.socket | None:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the agent does: TIME_WAIT is no obstacle
    try:
        sock.bind(("127.0.0.1", port))
        sock.listen()
    except OSError:
        sock.close()
        return None  # already taken by something else: taken all the same
    return sock


async def test_next_port_is_used_when_the_default_is_taken(home: Path, platform: PlatformServer) -> None:
    write_config(home, allowed=[platform.origin], preapproved=[platform.origin])
    with contextlib.ExitStack() as stack:
        for port in PORTS[:2]:
            sock = _occupy(port)
            if sock:
                stack.callback(sock.close)
        proc = subprocess.Popen([sys.executable, "-m", "agent", "serve"], cwd=ROOT, env=isolated_env(home),
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            line = ""
            for line in proc.stdout:  # type: ignore[union-attr]
                if "en écoute sur" in line:
                    break
            port = int(line.rsplit(":", 1)[1].split("/")[0])
            assert port in PORTS[2:]
            async with await BridgeClient.connect(platform.origin) as client:  # probes 47230..47233
                assert client.port == port
                assert (await client.hello())["product"] == "compagnon"
        finally:
            proc.terminate()
            proc.wait(10)


def test_no_free_port_is_a_clear_failure(home: Path) -> None:
    write_config(home, allowed=["https://marches.example.fr"])
    with contextlib.ExitStack() as stack:
        for port in ALL_PORTS:  # the first four and the shared range
            sock = _occupy(port)
            if sock:
                stack.callback(sock.close)
        result = subprocess.run([sys.executable, "-m", "agent", "serve"], cwd=ROOT, env=isolated_env(home),
                                stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert "aucun port libre" in result.stderr


def test_past_the_first_four_an_agent_takes_its_users_place_in_the_shared_range(home: Path) -> None:
    write_config(home, allowed=["https://marches.example.fr"])
    with contextlib.ExitStack() as stack:
        held = []
        for port in PORTS:
            sock = _occupy(port)
            if sock:
                stack.callback(sock.close)
                held.append(port)
        free = []
        for port in user_port_order(os.getuid()):
            probe = _occupy(port)
            if probe:
                probe.close()
                free.append(port)
        agent = AgentProcess(home, PORTS[0]).start()
        try:
            took = int(agent.output().rsplit("ws://127.0.0.1:", 1)[1].split("/", 1)[0])
        finally:
            agent.stop()
    assert took not in held
    # Its own place in the shared range (unless a port another program held a moment ago freed up).
    assert took == free[0] or (took in PORTS and took not in held), (took, free[:3])
