"""Per-site quotas on what a site uploads and has encrypted without the user's consent (agent.files),
through a real agent: past the quota, FILE_TOO_LARGE with its reason, no file written, and the
next site is served."""

from __future__ import annotations

from pathlib import Path

from bridge_protocol.client import BridgeClient, BridgeError
from tests.conftest import OTHER_ORIGIN
from tests.integration.test_sign_job import upload
from tests.support.agent_process import AgentProcess, free_port, write_config
from tests.support.pki import TestPki
from tests.support.platform_server import PlatformServer


async def test_encrypt_outputs_count_towards_the_sites_quota(home: Path, platform: PlatformServer,
                                                             test_pki: TestPki) -> None:
    write_config(home, allowed=[platform.origin, OTHER_ORIGIN], preapproved=[platform.origin, OTHER_ORIGIN],
                 extra=f'\n[files]\nsite_total_mb = 1\n\n[signing]\noutput_dir = "{home / "Sorties"}"\n')
    agent = AgentProcess(home, free_port()).start()
    recipient = test_pki.cert_pem("encryption").read_text()
    try:
        async with await BridgeClient.connect(platform.origin, ports=[agent.port]) as client:
            handle = await upload(client, "offre.zip", b"PK\x03\x04" + b"o" * 600_000)
            job = await client.run_job("encrypt", {"files": [{"handle": handle}], "recipients": [recipient]})
            [refused] = job["result"]["files"]
            assert refused["status"] == "failed" and refused["error"]["code"] == "FILE_TOO_LARGE"
            assert not list(home.rglob("*.p7m"))
            try:
                await upload(client, "annexe.zip", b"a" * 500_000)
                raise AssertionError("an upload past the site's quota was accepted")
            except BridgeError as exc:
                assert exc.code == "FILE_TOO_LARGE" and exc.data.get("reason") == "site_bytes"
        async with await BridgeClient.connect(OTHER_ORIGIN, ports=[agent.port]) as other:
            handle = await upload(other, "offre.zip", b"PK\x03\x04" + b"p" * 300_000)
            job = await other.run_job("encrypt", {"files": [{"handle": handle}], "recipients": [recipient]})
            assert job["result"]["files"][0]["status"] == "encrypted", job
    finally:
        agent.stop()
