"""Isolation between two allowed, paired origins (docs/SECURITY.md promises 5 and 7).

The agent of ``tests/conftest.py`` allows the platform's origin (A) and OTHER_ORIGIN (B), and the
test consent policy pairs both. Beyond ``test_other_origin_neither_sees_nor_cancels_jobs`` (B's
``jobs.get``/``jobs.cancel`` on A's running job), B must not:

* read, append to, or use in a job a file A uploaded with ``files.put`` (even half-uploaded);
* read or use the output handle of A's job (an ``encrypt`` result);
* cancel A's job through a JSON-RPC notification (which gets no answer, so an error would go
  unseen) or inside a batch, or name another origin in the parameters;
* see A's jobs after the agent restarted (jobs of earlier runs are listed from the job store);
* receive a single frame about A's job, while a second connection of A receives them (the
  positive control that notifications do flow).

Every refusal is also checked to leave A's work intact: A's file unchanged, A's job finished.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import hashlib
import json

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from bridge_protocol.client import BridgeClient, BridgeError
from tests.conftest import OTHER_ORIGIN
from tests.support.agent_process import AgentProcess
from tests.support.pairing import authenticate_aiohttp, paired_key
from tests.support.platform_server import PlatformServer


def recipient_pem() -> str:
    """A fresh RSA encryption certificate (self-signed) to seal test files to."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Destinataire TEST")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=True,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def read_all(client: BridgeClient, handle: str) -> bytes:
    data, offset = b"", 0
    while True:
        chunk = await client.call("files.get", {"handle": handle, "offset": offset})
        piece = base64.b64decode(chunk["data"])
        data += piece
        offset += len(piece)
        if chunk["eof"]:
            return data


async def expect_error(client: BridgeClient, code: str, method: str, params: dict) -> BridgeError:
    with pytest.raises(BridgeError) as err:
        await client.call(method, params)
    assert err.value.code == code, (method, params, err.value.code)
    return err.value


async def test_uploaded_files_belong_to_their_origin(agent: AgentProcess, platform: PlatformServer) -> None:
    first, second = b"offre de A, partie 1 " * 1000, b"partie 2 " * 1000
    async with await BridgeClient.connect(platform.origin, ports=[agent.port]) as a, \
            await BridgeClient.connect(OTHER_ORIGIN, ports=[agent.port]) as b:
        # A starts an upload and leaves it open: B can neither read, finish, nor append to it.
        started = await a.call("files.put", {"name": "offre.pdf", "data": b64(first)})
        handle = started["handle"]
        await expect_error(b, "FILE_NOT_FOUND", "files.get", {"handle": handle})
        await expect_error(b, "FILE_NOT_FOUND", "files.put",
                           {"handle": handle, "data": b64(b"INJECTED"), "final": True})
        await expect_error(b, "FILE_NOT_FOUND", "files.put", {"handle": handle, "data": b64(b"INJECTED")})
        done = await a.call("files.put", {"handle": handle, "data": b64(second), "final": True})
        assert done["complete"] and done["size"] == len(first + second)
        assert done["sha256"] == hashlib.sha256(first + second).hexdigest()  # nothing of B's got in

        # Complete: still A's only, whatever the offset, length or spelling of the handle.
        assert await read_all(a, handle) == first + second
        for params in ({"handle": handle}, {"handle": handle, "offset": 5, "length": 10},
                       {"handle": handle.upper()}, {"handle": f" {handle}"}, {"handle": handle[:-1]}):
            await expect_error(b, "FILE_NOT_FOUND", "files.get", params)
        await expect_error(b, "FILE_NOT_FOUND", "files.put", {"handle": handle, "data": b64(b"x"), "final": True})

        # B's jobs cannot take A's handle as their input.
        for kind, params in (
            ("encrypt", {"files": [{"handle": handle}], "recipients": [recipient_pem()]}),
            ("verify", {"handle": handle}),
            ("decrypt", {"files": [{"handle": handle}]}),
        ):
            final = await b.run_job(kind, params)
            assert final["state"] == "failed" and final["error"]["code"] == "FILE_NOT_FOUND", (kind, final)
        # And A's file is still whole.
        assert await read_all(a, handle) == first + second


async def test_job_outputs_belong_to_the_jobs_origin(agent: AgentProcess, platform: PlatformServer) -> None:
    content = b"%PDF-1.4 pli de A " * 500
    async with await BridgeClient.connect(platform.origin, ports=[agent.port]) as a, \
            await BridgeClient.connect(OTHER_ORIGIN, ports=[agent.port]) as b:
        source = (await a.call("files.put", {"name": "pli.pdf", "data": b64(content), "final": True}))["handle"]
        final = await a.run_job("encrypt", {"files": [{"handle": source}], "recipients": [recipient_pem()]})
        assert final["state"] == "succeeded", final
        (item,) = final["result"]["files"]
        output = item["output_handle"]
        sealed = await read_all(a, output)  # positive control: the owner reads it
        assert sealed[:1] == b"\x30" and content not in sealed

        await expect_error(b, "FILE_NOT_FOUND", "files.get", {"handle": output})
        await expect_error(b, "FILE_NOT_FOUND", "files.put", {"handle": output, "data": b64(b"x"), "final": True})
        for kind, params in (
            ("encrypt", {"files": [{"handle": output}], "recipients": [recipient_pem()]}),
            ("decrypt", {"files": [{"handle": output}]}),
            ("verify", {"handle": output}),
        ):
            refused = await b.run_job(kind, params)
            assert refused["state"] == "failed" and refused["error"]["code"] == "FILE_NOT_FOUND", (kind, refused)
        # B does not learn the handle from A's job either: the job itself is invisible to B.
        await expect_error(b, "JOB_NOT_FOUND", "jobs.get", {"id": final["id"]})
        assert final["id"] not in {j["id"] for j in await b.call("jobs.list", {"limit": 500})}
        assert output not in json.dumps(await b.call("jobs.list", {"limit": 500}))
        assert await read_all(a, output) == sealed


async def test_other_origin_cannot_cancel_by_notification_or_batch(agent: AgentProcess,
                                                                   platform: PlatformServer) -> None:
    platform.gate.clear()  # A's diagnose job waits for the platform: it stays running
    async with await BridgeClient.connect(platform.origin, ports=[agent.port]) as a, \
            await BridgeClient.connect(platform.origin, ports=[agent.port]) as a2, \
            await BridgeClient.connect(OTHER_ORIGIN, ports=[agent.port]) as b:
        await a2.secure()  # a paired page of A (authenticated: it hears A's jobs)
        await b.secure()  # B paired too: what stops it is the origin, not the missing key
        job = await a.start_job("diagnose", {})
        job_id = job["id"]
        # A notification has no answer: the cancel must fail silently, not succeed silently.
        await b.send_raw(json.dumps({"jsonrpc": "2.0", "method": "jobs.cancel", "params": {"id": job_id}}))
        await b.send_raw(json.dumps([
            {"jsonrpc": "2.0", "id": "c1", "method": "jobs.cancel", "params": {"id": job_id}},
            {"jsonrpc": "2.0", "id": "g1", "method": "jobs.get", "params": {"id": job_id}},
            {"jsonrpc": "2.0", "method": "jobs.cancel", "params": {"id": job_id}},
        ]))
        # (The client hands out a batch answer item by item; the notification got nothing.)
        answers = [await asyncio.wait_for(b.notifications.get(), 10) for _ in range(2)]
        assert {x["id"]: x["error"]["data"]["code"] for x in answers} == {"c1": "JOB_NOT_FOUND", "g1": "JOB_NOT_FOUND"}
        # Naming an origin in the parameters is no way around it.
        for params in ({"id": job_id, "origin": platform.origin}, {"id": job_id, "site": platform.origin}):
            await expect_error(b, "INVALID_PARAMS", "jobs.cancel", params)
        assert (await a.call("jobs.get", {"id": job_id}))["state"] in ("queued", "running")
        platform.gate.set()
        final = await a.wait_job(job_id)
        assert final["state"] == "succeeded", final
        await asyncio.sleep(0.3)  # let any last notification arrive
        # A's second connection saw the job's notifications (they do flow) ...
        seen_by_a2 = []
        while not a2.notifications.empty():
            seen_by_a2.append(a2.notifications.get_nowait())
        assert any(n.get("params", {}).get("job", {}).get("id") == job_id for n in seen_by_a2)
        # ... B saw nothing about it, in any frame.
        while not b.notifications.empty():
            assert job_id not in json.dumps(b.notifications.get_nowait())


async def test_no_frame_about_another_origins_job_reaches_a_raw_socket(agent: AgentProcess,
                                                                      platform: PlatformServer) -> None:
    """Everything B's socket receives while A's job runs, read frame by frame (no client filtering)."""
    platform.gate.clear()
    key = await paired_key(agent.port, OTHER_ORIGIN)  # B is a paired site: its own key opens only its own
    async with aiohttp.ClientSession() as session, \
            await BridgeClient.connect(platform.origin, ports=[agent.port]) as a:
        async with session.ws_connect(f"ws://127.0.0.1:{agent.port}/bridge", origin=OTHER_ORIGIN) as ws:
            await authenticate_aiohttp(ws, OTHER_ORIGIN, key)
            await ws.send_str(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "jobs.list", "params": {}}))
            job = await a.start_job("diagnose", {})
            platform.gate.set()
            await a.wait_job(job["id"])
            frames = []
            while True:
                try:
                    message = await ws.receive(timeout=1.0)
                except TimeoutError:
                    break
                if message.type != aiohttp.WSMsgType.TEXT:
                    break
                frames.append(message.data)
    assert len(frames) == 1 and json.loads(frames[0])["id"] == 1  # only the answer to its own request
    assert all(job["id"] not in frame for frame in frames)


async def test_jobs_of_earlier_runs_stay_with_their_origin(agent: AgentProcess, platform: PlatformServer) -> None:
    async with await BridgeClient.connect(platform.origin, ports=[agent.port]) as a:
        mine = await a.run_job("diagnose", {})
    agent.stop()
    agent.start()  # the same HOME: jobs come back from the job store
    async with await BridgeClient.connect(platform.origin, ports=[agent.port]) as a, \
            await BridgeClient.connect(OTHER_ORIGIN, ports=[agent.port]) as b:
        assert mine["id"] in {j["id"] for j in await a.call("jobs.list", {"limit": 500})}
        assert (await a.call("jobs.get", {"id": mine["id"]}))["state"] == "succeeded"
        assert mine["id"] not in {j["id"] for j in await b.call("jobs.list", {"limit": 500})}
        await expect_error(b, "JOB_NOT_FOUND", "jobs.get", {"id": mine["id"]})
        await expect_error(b, "JOB_NOT_FOUND", "jobs.cancel", {"id": mine["id"]})
