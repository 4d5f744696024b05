"""Fair limits per site (docs/SECURITY.md promise 7): one site can neither hold every job slot,
queue jobs without end, nor push another site's finished jobs out of its history.

Real agent processes; the long jobs are real ``diagnose`` jobs whose platform check waits on a
platform server whose gate the test keeps closed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agent.jobs.slots import FairSlots
from bridge_protocol.client import BridgeClient, BridgeError
from tests.integration.test_job_lifecycle import _wait_platform_step
from tests.support.agent_process import AgentProcess, free_port, write_config
from tests.support.platform_server import PlatformServer


@pytest.fixture
async def two_sites() -> AsyncIterator[tuple[PlatformServer, PlatformServer]]:
    busy, other = await PlatformServer().start(), await PlatformServer().start()
    yield busy, other
    await busy.stop()
    await other.stop()


def _agent(home: Path, sites: tuple[PlatformServer, PlatformServer], jobs: str = "",
           max_concurrent: int = 4) -> AgentProcess:
    origins = [s.origin for s in sites]
    write_config(home, allowed=origins, preapproved=origins, max_concurrent=max_concurrent, jobs=jobs)
    return AgentProcess(home, free_port()).start()


async def test_one_sites_long_jobs_leave_a_slot_for_another_site(home: Path, two_sites) -> None:  # type: ignore[no-untyped-def]
    busy, other = two_sites
    busy.gate.clear()
    agent = _agent(home, two_sites)
    try:
        async with await BridgeClient.connect(busy.origin, ports=[agent.port]) as a, \
                await BridgeClient.connect(other.origin, ports=[agent.port]) as b:
            long_jobs = [await a.start_job("diagnose", {}) for _ in range(4)]
            for job in long_jobs[:3]:
                await _wait_platform_step(a, job["id"])
            assert (await a.call("jobs.get", {"id": long_jobs[3]["id"]}))["state"] == "queued"
            quick = await b.start_job("diagnose", {})
            final = await b.wait_job(quick["id"], timeout=30)
            assert final["state"] == "succeeded"
            busy.gate.set()
            for job in long_jobs:
                assert (await a.wait_job(job["id"], timeout=30))["state"] == "succeeded"
    finally:
        agent.stop()


async def test_queued_jobs_are_capped_per_site(home: Path, two_sites) -> None:  # type: ignore[no-untyped-def]
    busy, other = two_sites
    busy.gate.clear()
    agent = _agent(home, two_sites, jobs="max_pending_per_site = 3\n")
    try:
        async with await BridgeClient.connect(busy.origin, ports=[agent.port]) as a, \
                await BridgeClient.connect(other.origin, ports=[agent.port]) as b:
            for _ in range(3):
                await a.start_job("diagnose", {})
            with pytest.raises(BridgeError) as refused:
                await a.start_job("diagnose", {})
            assert refused.value.code == "TOO_MANY_REQUESTS"
            assert (refused.value.data or {}).get("reason") == "jobs_pending"
            assert (await b.wait_job((await b.start_job("diagnose", {}))["id"], timeout=30))["state"] == "succeeded"
            busy.gate.set()
    finally:
        agent.stop()


async def test_finished_jobs_are_kept_per_site(home: Path, two_sites) -> None:  # type: ignore[no-untyped-def]
    busy, other = two_sites
    agent = _agent(home, two_sites, jobs="keep = 2\n")
    try:
        async with await BridgeClient.connect(busy.origin, ports=[agent.port]) as a, \
                await BridgeClient.connect(other.origin, ports=[agent.port]) as b:
            mine = await b.start_job("diagnose", {})
            await b.wait_job(mine["id"], timeout=30)
            for _ in range(5):
                await a.wait_job((await a.start_job("diagnose", {}))["id"], timeout=30)
            assert [j["id"] for j in await b.call("jobs.list", {})] == [mine["id"]]
            assert len(await a.call("jobs.list", {})) == 2
    finally:
        agent.stop()
    # And after a restart, from the records on disk.
    agent = AgentProcess(home, free_port()).start()
    try:
        async with await BridgeClient.connect(other.origin, ports=[agent.port]) as b:
            assert [j["id"] for j in await b.call("jobs.list", {})] == [mine["id"]]
    finally:
        agent.stop()


async def test_slots_go_to_the_site_with_fewest_running() -> None:
    slots = FairSlots(4)
    order: list[str] = []
    release = asyncio.Event()

    async def job(origin: str) -> None:
        async with slots.hold(origin):
            order.append(origin)
            await release.wait()

    tasks = [asyncio.create_task(job("a")) for _ in range(6)]
    await asyncio.sleep(0.05)
    assert order == ["a", "a", "a"]  # three of four: one is kept for another site
    tasks += [asyncio.create_task(job("b")), asyncio.create_task(job("c"))]
    await asyncio.sleep(0.05)
    assert order == ["a", "a", "a", "b"]
    release.set()
    await asyncio.gather(*tasks)
    assert order[4] == "c"  # c (none running) before a's queued jobs
    assert sorted(order) == ["a"] * 6 + ["b", "c"]
    assert slots.running("a") == slots.running("b") == 0
