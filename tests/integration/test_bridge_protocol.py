"""The fixed core of the bridge protocol (bridge_protocol/PROTOCOL.md) against a real agent process."""

from __future__ import annotations

import json

import aiohttp
import jsonschema
import pytest

from agent import __version__
from bridge_protocol.client import BridgeClient, BridgeError
from bridge_protocol.documents import json_schema_document
from tests.conftest import OTHER_ORIGIN
from tests.support.agent_process import AgentProcess
from tests.support.platform_server import PlatformServer

CHROME_UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.8078.73 Safari/537.36"
)


def _validator(definition: str) -> jsonschema.Draft202012Validator:
    schema = json_schema_document()
    return jsonschema.Draft202012Validator({"$ref": f"#/$defs/{definition}", "$defs": schema["$defs"]})


async def test_hello_answers_the_fixed_core(agent: AgentProcess, platform: PlatformServer) -> None:
    async with await BridgeClient.connect(platform.origin, ports=[agent.port]) as client:
        hello = await client.hello()
    assert hello["product"] == "compagnon"
    assert hello["version"] == __version__
    assert hello["protocol"] == 1
    assert "job:diagnose" in hello["capabilities"]
    _validator("HelloResult").validate(hello)


async def test_unsupported_protocol_version_is_refused(agent: AgentProcess, platform: PlatformServer) -> None:
    async with await BridgeClient.connect(platform.origin, ports=[agent.port]) as client:
        with pytest.raises(BridgeError) as err:
            await client.call("agent.hello", {"protocol": 99, "client": {"name": "x", "version": "1"}})
    assert err.value.code == "PROTOCOL_UNSUPPORTED"
    assert err.value.data["supported"] == [1]


async def test_diagnose_runs_to_completion_with_live_updates(agent: AgentProcess, platform: PlatformServer) -> None:
    async with await BridgeClient.connect(platform.origin, ports=[agent.port]) as client:
        started = await client.start_job("diagnose", {"user_agent": CHROME_UA})
        assert started["state"] in ("queued", "running")
        seen: list[dict] = []
        final = await client.wait_job(started["id"], on_update=seen.append)
    assert final["state"] == "succeeded"
    assert final["progress"] == 100
    assert [s["state"] for s in final["steps"]].count("pending") == 0
    checks = {c["id"]: c for c in final["result"]["checks"]}
    assert set(checks) == {"os", "agent", "runtime", "keystores", "browser", "platform", "clock", "port"}
    assert checks["browser"]["value"].startswith("Chrome 156")
    assert checks["browser"]["status"] == "pass"
    assert checks["platform"]["value"] == "Communication établie"
    assert checks["clock"]["status"] == "pass"
    assert checks["port"]["value"] == str(agent.port)
    assert platform.hits == 1
    validator = _validator("JobSnapshot")
    for snapshot in [started, *seen, final]:
        validator.validate(snapshot)
    _validator("DiagnoseResult").validate(final["result"])


async def test_diagnose_reports_a_platform_clock_hours_off(agent: AgentProcess, platform: PlatformServer) -> None:
    platform.date_header = "Mon, 01 Jan 2024 00:00:00 GMT"
    async with await BridgeClient.connect(platform.origin, ports=[agent.port]) as client:
        final = await client.run_job("diagnose", {"user_agent": CHROME_UA})
    checks = {c["id"]: c for c in final["result"]["checks"]}
    assert checks["clock"]["status"] == "fail"
    assert final["result"]["status"] == "fail"
    assert "ne respecte pas" in final["result"]["message"]


async def test_english_locale(agent: AgentProcess, platform: PlatformServer) -> None:
    async with await BridgeClient.connect(platform.origin, ports=[agent.port]) as client:
        await client.hello(locale="en")
        final = await client.run_job("diagnose", {})
        with pytest.raises(BridgeError) as err:
            await client.call("jobs.get", {"id": "0" * 32})
    assert final["steps"][0]["label"] == "Operating system"
    assert err.value.message == "Job not found."


@pytest.mark.parametrize(
    ("frame", "rpc_code", "code"),
    [
        ("{not json", -32700, "PARSE_ERROR"),
        ("[" * 100_000, -32700, "PARSE_ERROR"),
        ('{"jsonrpc": "1.0", "id": 1, "method": "agent.hello"}', -32600, "INVALID_REQUEST"),
        ('{"jsonrpc": "2.0", "id": 1}', -32600, "INVALID_REQUEST"),
        ('{"jsonrpc": "2.0", "id": {"x": 1}, "method": "agent.hello"}', -32600, "INVALID_REQUEST"),
        ("[]", -32600, "INVALID_REQUEST"),
        ('"hello"', -32600, "INVALID_REQUEST"),
        ('{"jsonrpc": "2.0", "id": 1, "method": "fs.read"}', -32601, "METHOD_NOT_FOUND"),
        ('{"jsonrpc": "2.0", "id": 1, "method": "jobs.get", "params": {}}', -32602, "INVALID_PARAMS"),
        ('{"jsonrpc": "2.0", "id": 1, "method": "jobs.get", "params": {"id": 5}}', -32602, "INVALID_PARAMS"),
        ('{"jsonrpc": "2.0", "id": 1, "method": "jobs.list", "params": {"limit": 0}}', -32602, "INVALID_PARAMS"),
        ('{"jsonrpc": "2.0", "id": 1, "method": "jobs.start", "params": {"kind": "diagnose", "x": 1}}', -32602, "INVALID_PARAMS"),
        ('{"jsonrpc": "2.0", "id": 1, "method": "jobs.start", "params": {"kind": "format-disk"}}', -32020, "UNKNOWN_JOB_KIND"),
        ('{"jsonrpc": "2.0", "id": 1, "method": "jobs.start", "params": {"kind": "diagnose", "params": {"user_agent": 3}}}',
         -32602, "INVALID_PARAMS"),
        ('{"jsonrpc": "2.0", "id": 1, "method": "jobs.cancel", "params": {"id": "nope"}}', -32021, "JOB_NOT_FOUND"),
    ],
)
async def test_malformed_frames_get_an_error_and_the_connection_lives_on(
    agent: AgentProcess, platform: PlatformServer, frame: str, rpc_code: int, code: str
) -> None:
    async with await BridgeClient.connect(platform.origin, ports=[agent.port]) as client:
        await client.secure()  # paired and authenticated: the frame's own fault answers
        await client.send_raw(frame)
        answer = await asyncio_wait_notification(client)
        assert answer["jsonrpc"] == "2.0"
        assert answer["error"]["code"] == rpc_code
        assert answer["error"]["data"]["code"] == code
        assert "Traceback" not in json.dumps(answer) and "/agent/" not in json.dumps(answer)
        assert (await client.hello())["product"] == "compagnon"


async def asyncio_wait_notification(client: BridgeClient) -> dict:
    import asyncio

    return await asyncio.wait_for(client.notifications.get(), 10)


async def test_batch_is_answered_in_one_frame_without_the_notification(agent: AgentProcess, platform: PlatformServer) -> None:
    hello = {"protocol": 1, "client": {"name": "t", "version": "1"}}
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(f"ws://127.0.0.1:{agent.port}/bridge", origin=platform.origin) as ws:
            await ws.send_str(json.dumps([
                {"jsonrpc": "2.0", "id": "a", "method": "agent.hello", "params": hello},
                {"jsonrpc": "2.0", "method": "agent.hello", "params": hello},
                {"jsonrpc": "2.0", "id": "b", "method": "nope"},
            ]))
            answer = json.loads((await ws.receive(timeout=10)).data)
            # A lone notification gets no answer at all: the next frame answers the next request.
            await ws.send_str(json.dumps({"jsonrpc": "2.0", "method": "agent.hello", "params": hello}))
            await ws.send_str(json.dumps({"jsonrpc": "2.0", "id": 7, "method": "agent.hello", "params": hello}))
            after = json.loads((await ws.receive(timeout=10)).data)
    assert isinstance(answer, list) and [a["id"] for a in answer] == ["a", "b"]
    assert answer[0]["result"]["product"] == "compagnon"
    assert answer[1]["error"]["data"]["code"] == "METHOD_NOT_FOUND"
    assert after["id"] == 7


async def test_frame_over_the_limit_closes_with_1009(agent: AgentProcess, platform: PlatformServer) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(f"ws://127.0.0.1:{agent.port}/bridge", origin=platform.origin) as ws:
            await ws.send_str("x" * (1024 * 1024 + 1))
            message = await ws.receive(timeout=10)
            assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING)
            assert ws.close_code == 1009
    # The agent keeps serving others.
    async with await BridgeClient.connect(platform.origin, ports=[agent.port]) as client:
        assert (await client.hello())["protocol"] == 1


async def test_a_frame_just_under_the_limit_is_read(agent: AgentProcess, platform: PlatformServer) -> None:
    padding = "x" * (1024 * 1024 - 200)
    frame = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "agent.hello",
                        "params": {"protocol": 1, "client": {"name": padding, "version": "1"}}})
    async with await BridgeClient.connect(platform.origin, ports=[agent.port]) as client:
        await client.send_raw(frame)
        answer = await asyncio_wait_notification(client)
    assert answer["error"]["data"]["code"] == "INVALID_PARAMS"  # name is limited to 100 characters
    assert answer["error"]["data"]["path"] == "/params/client/name"


async def test_jobs_list_and_get(agent: AgentProcess, platform: PlatformServer) -> None:
    async with await BridgeClient.connect(platform.origin, ports=[agent.port]) as client:
        first = await client.run_job("diagnose", {})
        second = await client.run_job("diagnose", {})
        listed = await client.call("jobs.list", {})
        got = await client.call("jobs.get", {"id": first["id"]})
    assert [j["id"] for j in listed][:2] == [second["id"], first["id"]]
    assert got["id"] == first["id"] and got["state"] == "succeeded"


async def test_other_origin_neither_sees_nor_cancels_jobs(agent: AgentProcess, platform: PlatformServer) -> None:
    platform.gate.clear()
    async with await BridgeClient.connect(platform.origin, ports=[agent.port]) as owner, \
            await BridgeClient.connect(OTHER_ORIGIN, ports=[agent.port]) as other:
        job = await owner.start_job("diagnose", {})
        for method in ("jobs.get", "jobs.cancel"):
            with pytest.raises(BridgeError) as err:
                await other.call(method, {"id": job["id"]})
            assert err.value.code == "JOB_NOT_FOUND"
        assert all(j["id"] != job["id"] for j in await other.call("jobs.list", {}))
        platform.gate.set()
        final = await owner.wait_job(job["id"])
        assert final["state"] == "succeeded"
        # The other origin never received a jobs.updated about it.
        while not other.notifications.empty():
            note = other.notifications.get_nowait()
            assert note.get("params", {}).get("job", {}).get("id") != job["id"]
