"""``jobs.start`` refuses at once, with INVALID_PARAMS and ``data.path``, a member a page may not
set (a local path or folder: command line only, docs/SECURITY.md promise 5) or does not exist; no
job is created."""

from __future__ import annotations

import pytest

from bridge_protocol.client import BridgeClient, BridgeError
from tests.support.agent_process import AgentProcess
from tests.support.platform_server import PlatformServer

HANDLE = "0" * 32
CASES = [
    ("sign", {"files": [{"format": "cades", "handle": HANDLE}, {"format": "cades", "path": "/etc/passwd"}],
              "certificate": "c"}, "/params/files/1/path"),
    ("sign", {"files": [{"format": "cades", "handle": HANDLE, "content_path": "/etc/hosts"}], "certificate": "c",
              "mode": "cosign"}, "/params/files/0/content_path"),
    ("sign", {"files": [{"format": "cades", "handle": HANDLE}], "certificate": "c", "out_dir": "/tmp"}, "/params/out_dir"),
    ("verify", {"path": "/etc/passwd"}, "/params/path"),
    ("verify", {"files": [{"handle": HANDLE}, {"path": "/etc/passwd"}]}, "/params/files/1/path"),
    ("decrypt", {"files": [{"handle": HANDLE}], "out_dir": "/tmp"}, "/params/out_dir"),
    ("encrypt", {"files": [{"handle": HANDLE}], "recipients": ["x"], "out_dir": "/tmp"}, "/params/out_dir"),
    ("keygen", {"name": "Clé", "out": "/tmp/k.p12"}, "/params/out"),
    ("bids.download", {"url": "/c/1", "out_dir": "/tmp"}, "/params/out_dir"),
    ("bids.open", {"url": "/c/1", "out_dir": "/tmp"}, "/params/out_dir"),
    ("diagnose", {"bogus": 1}, "/params/bogus"),
]


@pytest.mark.parametrize(("kind", "params", "path"), CASES, ids=[f"{k}{p}" for k, _, p in CASES])
async def test_a_forbidden_or_unknown_member_is_refused_at_once(
        agent: AgentProcess, platform: PlatformServer, kind: str, params: dict, path: str) -> None:
    async with await BridgeClient.connect(platform.origin, ports=[agent.port]) as client:
        with pytest.raises(BridgeError) as err:
            await client.start_job(kind, params)
        assert err.value.code == "INVALID_PARAMS"
        assert err.value.data["path"] == path
        assert await client.call("jobs.list", {}) == []  # no job was created
