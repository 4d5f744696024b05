"""Hostile files cannot take the agent's memory (docs/SECURITY.md promise 12): the verify job parses
files in a worker process that is stopped past ``[verify] max_memory_mb``; the job says so in
French, the agent stays up and small, and the next verification gets a fresh worker."""

from __future__ import annotations

import asyncio
from pathlib import Path

import psutil

from bridge_protocol.client import BridgeClient
from tests.integration.test_sign_job import upload
from tests.support.agent_process import AgentProcess, free_port, write_config
from tests.support.platform_server import PlatformServer

SIGNATURE = ('<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo>'
             '<ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>'
             '<ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/>'
             '<ds:Reference URI=""><ds:Transforms><ds:Transform '
             'Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/></ds:Transforms>'
             '<ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue>AAAA'
             '</ds:DigestValue></ds:Reference></ds:SignedInfo><ds:SignatureValue>AAAA</ds:SignatureValue>'
             '</ds:Signature>')


def _heavy_xml(lines: int) -> bytes:
    """An XML signature over a document of many elements: cheap on disk, costly as a tree."""
    body = ('<Ligne a="1" b="2">' + "x" * 60 + "</Ligne>\n") * lines
    return f'<?xml version="1.0"?><Document xmlns="urn:exemple">{body}{SIGNATURE}</Document>'.encode()


async def test_a_file_past_the_memory_cap_stops_its_worker_not_the_agent(home: Path, platform: PlatformServer) -> None:
    write_config(home, allowed=[platform.origin], preapproved=[platform.origin],
                 extra="\n[verify]\nmax_memory_mb = 400\n")
    agent = AgentProcess(home, free_port()).start()
    assert agent.proc is not None
    process = psutil.Process(agent.proc.pid)
    peak = 0
    try:
        async with await BridgeClient.connect(platform.origin, ports=[agent.port]) as client:
            handle = await upload(client, "flux.xml", _heavy_xml(600_000), chunk=380_000)
            job = await client.start_job("verify", {"handle": handle})
            while (snapshot := await client.call("jobs.get", {"id": job["id"]}))["state"] not in (
                    "succeeded", "failed"):
                peak = max(peak, process.memory_info().rss)
                await asyncio.sleep(0.1)
            assert snapshot["state"] == "failed", snapshot
            assert snapshot["error"]["code"] == "FILE_TOO_LARGE"
            assert "mémoire permise (400 Mo)" in snapshot["error"]["message"]
            assert (await client.hello())["product"] == "compagnon"
            small = await upload(client, "petit.xml", _heavy_xml(10))
            again = await client.run_job("verify", {"handle": small}, timeout=120)
            assert again["state"] == "succeeded" and again["result"]["report"]["signatures"], again
    finally:
        agent.stop()
    assert peak < 250 * 1024 * 1024, peak  # the agent itself never held the tree
