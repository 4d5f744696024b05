"""The hello answer tells the agent's consent timeout, and the Python client gives the calls that
wait for the user that long (PROTOCOL.md "Calls that wait for the user")."""

from __future__ import annotations

from pathlib import Path

from bridge_protocol.client import BridgeClient
from bridge_protocol.messages import WAITS_FOR_USER
from tests.support.agent_process import AgentProcess, free_port, write_config
from tests.support.platform_server import PlatformServer


async def test_hello_tells_the_consent_timeout_and_the_client_uses_it(home: Path, platform: PlatformServer) -> None:
    write_config(home, allowed=[platform.origin], consent_timeout=42)
    agent = AgentProcess(home, free_port()).start()
    try:
        async with await BridgeClient.connect(platform.origin, ports=[agent.port], authenticate=False) as client:
            assert (await client.hello())["consent_timeout"] == 42
            assert set(WAITS_FOR_USER) == {"agent.pair", "certificates.list", "files.pick"}
            assert [client.timeout_for(m) for m in WAITS_FOR_USER] == [52.0, 52.0, 52.0]
            assert client.timeout_for("jobs.list") == 30.0
    finally:
        agent.stop()
