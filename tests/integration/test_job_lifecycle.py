"""Job engine against the real agent: cancellation, concurrency limit, persistence across kill -9.

The long-running job is a real ``diagnose`` whose platform check waits on a platform server the
test holds back (``platform.gate``).
"""

from __future__ import annotations

import asyncio
import base64
import json
import time

from bridge_protocol.client import BridgeClient
from tests.support.agent_process import AgentProcess
from tests.support.pairing import authenticate_aiohttp, authenticate_raw, paired_key
from tests.support.platform_server import PlatformServer
from tests.support.rawws import TEXT, RawWebSocket


async def _wait_state(client: BridgeClient, job_id: str, state: str, timeout: float = 10) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        snapshot = await client.call("jobs.get", {"id": job_id})
        if snapshot["state"] == state:
            return snapshot
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {job_id} never reached {state}: {snapshot}")


async def _wait_platform_step(client: BridgeClient, job_id: str) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        snapshot = await client.call("jobs.get", {"id": job_id})
        if any(s["id"] == "platform" and s["state"] == "running" for s in snapshot["steps"]):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the platform step never started")


async def test_running_job_is_cancelled_within_a_second(agent: AgentProcess, platform: PlatformServer) -> None:
    platform.gate.clear()
    async with await BridgeClient.connect(platform.origin, ports=[agent.port]) as client:
        job = await client.start_job("diagnose", {})
        await _wait_platform_step(client, job["id"])
        started = time.monotonic()
        await client.call("jobs.cancel", {"id": job["id"]})
        final = await client.wait_job(job["id"], timeout=5)
        elapsed = time.monotonic() - started
        assert final["state"] == "cancelled"
        assert elapsed < 1.0
        steps = {s["id"]: s["state"] for s in final["steps"]}
        assert steps["platform"] == "cancelled"
        assert steps["os"] == "succeeded"
        assert steps["port"] == "pending"
        # Cancelling a finished job changes nothing.
        again = await client.call("jobs.cancel", {"id": job["id"]})
        assert again["state"] == "cancelled" and again["updated_at"] == final["updated_at"]


async def test_concurrency_limit_queues_the_rest(agent: AgentProcess, platform: PlatformServer) -> None:
    platform.gate.clear()  # the agent runs at most 2 jobs at once (fixture configuration)
    async with await BridgeClient.connect(platform.origin, ports=[agent.port]) as client:
        jobs = [await client.start_job("diagnose", {}) for _ in range(3)]
        await _wait_platform_step(client, jobs[0]["id"])
        await _wait_platform_step(client, jobs[1]["id"])
        third = await client.call("jobs.get", {"id": jobs[2]["id"]})
        assert third["state"] == "queued"
        # A queued job can be cancelled without ever running.
        await client.call("jobs.cancel", {"id": jobs[2]["id"]})
        assert (await _wait_state(client, jobs[2]["id"], "cancelled"))["steps"][0]["state"] == "pending"
        fourth = await client.start_job("diagnose", {})
        await asyncio.sleep(0.3)
        assert (await client.call("jobs.get", {"id": fourth["id"]}))["state"] == "queued"
        platform.gate.set()
        for job in (jobs[0], jobs[1], fourth):
            assert (await client.wait_job(job["id"]))["state"] == "succeeded"


async def test_final_state_reaches_every_connection_of_the_origin(agent: AgentProcess, platform: PlatformServer) -> None:
    async with await BridgeClient.connect(platform.origin, ports=[agent.port]) as a, \
            await BridgeClient.connect(platform.origin, ports=[agent.port]) as b:
        job = await a.start_job("diagnose", {})
        final_a = await a.wait_job(job["id"])
        final_b = await b.wait_job(job["id"])
    assert final_a["state"] == final_b["state"] == "succeeded"
    assert final_a["result"] == final_b["result"]


async def test_jobs_survive_kill_9_and_running_ones_become_interrupted(
    agent: AgentProcess, platform: PlatformServer
) -> None:
    async with await BridgeClient.connect(platform.origin, ports=[agent.port]) as client:
        done = await client.run_job("diagnose", {})
        platform.gate.clear()
        running = await client.start_job("diagnose", {})
        await _wait_platform_step(client, running["id"])
        # jobs.get shows the job in memory; a jobs.updated frame is sent only once its record is on
        # disk, which is what survives a kill -9.
        deadline = time.monotonic() + 10
        while not any(s["id"] == "platform" and s["state"] == "running"
                      for s in client._jobs.get(running["id"], {}).get("steps", [])):
            assert time.monotonic() < deadline, "no jobs.updated frame with the platform step running"
            await asyncio.sleep(0.02)
    agent.kill()
    # Nothing half-written is left in the state folder.
    job_files = list((agent.state_dir / "jobs").iterdir())
    assert all(p.suffix == ".json" for p in job_files)
    for path in job_files:
        json.loads(path.read_text())
    platform.gate.set()
    agent.start()
    async with await BridgeClient.connect(platform.origin, ports=[agent.port]) as client:
        listed = {j["id"]: j for j in await client.call("jobs.list", {})}
    assert listed[done["id"]]["state"] == "succeeded"
    assert listed[done["id"]]["result"] == done["result"]
    interrupted = listed[running["id"]]
    assert interrupted["state"] == "interrupted"
    assert interrupted["error"]["code"] == "JOB_INTERRUPTED"
    assert {s["id"]: s["state"] for s in interrupted["steps"]}["platform"] == "cancelled"


async def test_graceful_stop_also_marks_running_jobs_interrupted(agent: AgentProcess, platform: PlatformServer) -> None:
    platform.gate.clear()
    async with await BridgeClient.connect(platform.origin, ports=[agent.port]) as client:
        job = await client.start_job("diagnose", {})
        await _wait_platform_step(client, job["id"])
    assert agent.stop() == 0
    agent.start()
    platform.gate.set()
    async with await BridgeClient.connect(platform.origin, ports=[agent.port]) as client:
        assert (await client.call("jobs.get", {"id": job["id"]}))["state"] == "interrupted"


async def test_a_slow_reader_does_not_slow_jobs_and_gets_the_final_state(
    agent: AgentProcess, platform: PlatformServer
) -> None:
    """Progress is coalesced per connection: a page that reads nothing still ends up with the last state."""
    key = await paired_key(agent.port, platform.origin)
    async with await BridgeClient.connect(platform.origin, ports=[agent.port]) as client:
        client._reader.cancel()  # stop reading frames: the agent's writer must not block the job
        import aiohttp

        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(f"ws://127.0.0.1:{agent.port}/bridge", origin=platform.origin) as ws:
                await authenticate_aiohttp(ws, platform.origin, key)
                await ws.send_str(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "jobs.start",
                                              "params": {"kind": "diagnose", "params": {}}}))
                job_id = None
                last = None
                while True:
                    msg = json.loads((await ws.receive(timeout=20)).data)
                    if msg.get("id") == 1:
                        job_id = msg["result"]["id"]
                    elif msg.get("method") == "jobs.updated" and msg["params"]["job"]["id"] == job_id:
                        last = msg["params"]["job"]
                        if last["state"] in ("succeeded", "failed"):
                            break
                        await asyncio.sleep(0.5)  # a slow page
    assert last is not None and last["state"] == "succeeded" and last["progress"] == 100


async def test_notifications_behind_unread_answers_keep_frames_whole_and_the_final_state(
    agent: AgentProcess, platform: PlatformServer
) -> None:
    """A page that keeps up gets a round's notifications in one write of prebuilt frames; a page
    whose socket is full gets them from its writer, behind its answers. Both paths on one socket:
    the page stops reading while ~14 MB of answers are due and its job ends, then reads it all.
    Every frame parses (by the test's own RFC 6455 reader), every answer comes, and the job's
    last notification is its final state."""
    platform.gate.clear()
    chunk = base64.b64encode(b"\x00" * 512 * 1024).decode()

    def request(request_id: object, method: str, params: object) -> bytes:
        return json.dumps({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}).encode()

    def answer_of(ws: RawWebSocket, request_id: object) -> dict:
        while True:
            message = json.loads(ws.receive(timeout=30).text)
            if message.get("id") == request_id:
                return message

    key = await paired_key(agent.port, platform.origin)
    with RawWebSocket(agent.port, platform.origin, timeout=60) as ws:
        await asyncio.to_thread(authenticate_raw, ws, platform.origin, key)
        ws.send_text(request("put", "files.put", {"name": "gros.bin", "data": chunk, "final": True}))
        handle = (await asyncio.to_thread(answer_of, ws, "put"))["result"]["handle"]
        ws.send_text(request("start", "jobs.start", {"kind": "diagnose", "params": {}}))
        job_id = (await asyncio.to_thread(answer_of, ws, "start"))["result"]["id"]
        async with await BridgeClient.connect(platform.origin, ports=[agent.port]) as client:
            await _wait_platform_step(client, job_id)
            # 20 answers of ~700 KB, unread: the agent's socket to this page fills up.
            await asyncio.to_thread(ws.sock.sendall, b"".join(
                RawWebSocket.frame(TEXT, request(n, "files.get", {"handle": handle})) for n in range(20)))
            await asyncio.sleep(1)
            platform.gate.set()  # the job ends while this page reads nothing
            await client.wait_job(job_id, timeout=20)

        def read_all() -> tuple[list[object], list[dict]]:
            answers: list[object] = []
            updates: list[dict] = []
            while len(answers) < 20 or not updates or updates[-1]["state"] != "succeeded":
                message = json.loads(ws.receive(timeout=30).text)
                if message.get("method") == "jobs.updated":
                    if message["params"]["job"]["id"] == job_id:
                        updates.append(message["params"]["job"])
                else:
                    assert message["result"]["eof"] is True
                    answers.append(message["id"])
            return answers, updates

        answers, updates = await asyncio.to_thread(read_all)
    assert sorted(answers) == list(range(20))  # each request runs in a task of its own: any order
    assert updates[-1]["state"] == "succeeded" and updates[-1]["progress"] == 100
    assert [u["state"] for u in updates].count("succeeded") == 1
