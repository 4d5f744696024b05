"""``bids.download`` end to end: a real agent process downloads a consultation's sealed plis from a
platform on loopback that cuts connections, ignores Range, stalls, lies about a SHA-256 or a size.

Covered: descriptor parsed, every file checked against its SHA-256, progress / current / speed /
"pli 2 sur 2, enveloppe 1 sur 3, fichier 3 sur 3" seen; a cut connection resumed with Range; a
server ignoring Range; kill -9 mid-download, then a new job resuming from the ``.part``; no final
name before completion; a wrong SHA-256; not enough disk space; a disk full on the way (in
process, with an injected write error); cancel within a second; promises 5 and 6; the demo
platform's routes (agent/demo_platform/consultations.py) against the same job kind.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from agent.config import Settings
from agent.consent import PolicyConsent
from agent.jobs.context import JobServices
from agent.jobs.manager import JobManager
from agent.kinds.registry import KINDS, platform_client
from agent.platform_http import download
from bridge_protocol.client import BridgeClient, BridgeError
from bridge_protocol.platform import parse_consultation
from tests.support.agent_process import AgentProcess, free_port, write_config
from tests.support.flaky_server import FlakyEnvelope, FlakyFile, FlakyPli, FlakyServer

TOKEN = "jeton-court-" + os.urandom(8).hex()
KIND = "bids.download"


def data(size: int) -> bytes:
    return os.urandom(size)


@pytest.fixture(scope="module")
def flaky() -> Iterator[FlakyServer]:
    server = FlakyServer(token=TOKEN).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def bids_agent(tmp_path_factory: pytest.TempPathFactory, flaky: FlakyServer) -> Iterator[AgentProcess]:
    """One agent for the module, allowing (and pre-approving) the flaky platform's origin."""
    base = tmp_path_factory.mktemp("bids")
    home = base / "home"
    home.mkdir()
    write_config(home, allowed=[flaky.origin], preapproved=[flaky.origin],
                 extra=f'\n[signing]\noutput_dir = "{home / "Documents" / "Compagnon"}"\n')
    process = AgentProcess(home, free_port()).start()
    yield process
    process.stop()


def folder_of(process: AgentProcess, flaky: FlakyServer, cid: str) -> Path:
    return process.home / "Documents" / "Compagnon" / "Plis" / f"127.0.0.1_{flaky.port}" / cid


def final_files(folder: Path) -> list[Path]:
    """Files that carry a final name (anything but hidden parts and the resume record)."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))


def hidden_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob(".*") if p.is_file())


async def wait_for(predicate, timeout: float = 10.0, what: str = "condition") -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


async def run(client: BridgeClient, params: dict, timeout: float = 30) -> tuple[dict, list[dict]]:
    seen: list[dict] = []
    job = await client.start_job(KIND, params)
    final = await client.wait_job(job["id"], timeout=timeout, on_update=lambda s: seen.append(s))
    return final, seen


# -- the normal case -----------------------------------------------------------------------------


async def test_downloads_every_pli_with_checked_hashes_and_live_progress(bids_agent: AgentProcess,
                                                                          flaky: FlakyServer) -> None:
    cid = "C-2026-TOUT"
    files = {
        "f1": FlakyFile("f1", "EL1_Enveloppe_Candidature.zip", data(200_000)),
        "f2": FlakyFile("f2", "EL1_Enveloppe_Offre.zip", data(1_300_000), block_size=512 * 1024),
        "f3": FlakyFile("f3", "EL1_Anonymat.zip", data(5_000)),
        "f4": FlakyFile("f4", "EL2_DC1.pdf.p7m", data(150_000)),
        "f5": FlakyFile("f5", "EL2_DC2.pdf.p7m", data(100_000)),
        "f6": FlakyFile("f6", "EL2_Kbis.pdf.p7m", data(1_400_000)),
        "f7": FlakyFile("f7", "EL2_Offre.zip", data(300_000)),
        "f8": FlakyFile("f8", "EL2_Offre.zip", data(0)),  # same name in the same envelope, and empty
    }
    url = flaky.publish(cid, [
        FlakyPli("p1", "Pli 1", "LOCAL TRUST", [FlakyEnvelope("candidature", [files["f1"]]),
                                               FlakyEnvelope("offre", [files["f2"]]),
                                               FlakyEnvelope("anonymat", [files["f3"]])]),
        FlakyPli("p2", "Pli 2", "ATELIER DUPONT", [FlakyEnvelope("candidature",
                                                                 [files["f4"], files["f5"], files["f6"]]),
                                                  FlakyEnvelope("offre", [files["f7"], files["f8"]]),
                                                  FlakyEnvelope("anonymat", [])]),
    ], title="Travaux de voirie")
    flaky.rate = 3_000_000  # about 1.2 s in all: enough to see the job move
    try:
        async with await BridgeClient.connect(flaky.origin, ports=[bids_agent.port]) as client:
            final, seen = await run(client, {"url": url, "token": TOKEN})
    finally:
        flaky.rate = None
    assert final["state"] == "succeeded", final
    result = final["result"]
    assert result["consultation"] == cid and result["title"] == "Travaux de voirie" and result["plis"] == 2
    assert result["folder"] == f"~/Documents/Compagnon/Plis/127.0.0.1_{flaky.port}/{cid}"
    folder = folder_of(bids_agent, flaky, cid)
    by_id = {f["file"]: f for f in result["files"]}
    assert set(by_id) == set(files)
    for file_id, source in files.items():
        entry = by_id[file_id]
        assert entry["status"] == "downloaded" and entry["size"] == len(source.data)
        assert entry["sha256"] == source.sha256
        assert hashlib.sha256((folder / entry["name"]).read_bytes()).hexdigest() == source.sha256
    assert by_id["f6"]["name"] == "Pli 2 - ATELIER DUPONT/candidature/EL2_Kbis.pdf.p7m"
    assert by_id["f8"]["name"] == "Pli 2 - ATELIER DUPONT/offre/EL2_Offre (f8).zip"
    assert result["bytes"] == result["transferred"] == sum(len(f.data) for f in files.values())
    assert hidden_files(folder) == []  # no part, and the resume record is gone once all is there
    # Every request carried the token; the file in blocks was fetched block by block.
    hits = flaky.hits_for("f2", cid)
    assert [h.block for h in hits] == [0, 1, 2] and all(h.authorization == f"Bearer {TOKEN}" for h in hits)
    # Live progress as on the reference screen.
    running = [s for s in seen if s["state"] == "running"]
    assert any(s["speed"] for s in running), "no speed reported"
    assert any(0 < s["progress"] < 100 for s in running)
    # The consultation is named while the job runs (the console's "Traitements distants"), not
    # only in the result: the flaky platform's descriptor has no reference, so its id stands in.
    assert any(s["subject"] == {"reference": cid, "title": "Travaux de voirie"} and s["steps"][2]["state"] == "running"
               for s in running)
    assert final["subject"] == {"reference": cid, "title": "Travaux de voirie"}
    assert any(s["message"] == "pli 2 sur 2, enveloppe 1 sur 3, fichier 3 sur 3"
               and s["current"] == {"label": "pli", "index": 2, "total": 2} for s in running), \
        [s["message"] for s in running]
    assert [s["id"] for s in final["steps"]] == ["descriptor", "space", "download", "done"]
    assert final["progress"] == 100 and final["message"].startswith("8 fichier(s) de 2 pli(s)")
    # The token lives in memory only: not in the job store, the logs or anywhere under HOME.
    for path in bids_agent.home.rglob("*"):
        if path.is_file() and path.stat().st_size < 50_000_000:
            assert TOKEN.encode() not in path.read_bytes(), path


# -- resuming -------------------------------------------------------------------------------------


async def test_cut_connections_resume_with_range_and_restart_when_range_is_ignored(
    bids_agent: AgentProcess, flaky: FlakyServer
) -> None:
    cid = "C-2026-COUPURES"
    cut = FlakyFile("f1", "coupe.bin", data(3_000_000), cut_after=1_000_000, cuts=2)
    no_range = FlakyFile("f2", "sans-range.bin", data(1_500_000), cut_after=600_000, honour_range=False)
    blocks = FlakyFile("f3", "blocs.bin", data(2_500_000), block_size=1_000_000, cut_after=300_000, cut_block=1)
    url = flaky.publish(cid, [FlakyPli("p1", "Pli 1", None, [FlakyEnvelope("offre", [cut, no_range, blocks])])])
    async with await BridgeClient.connect(flaky.origin, ports=[bids_agent.port]) as client:
        final, _ = await run(client, {"url": url, "token": TOKEN})
    assert final["state"] == "succeeded", final
    folder = folder_of(bids_agent, flaky, cid)
    for source in (cut, no_range, blocks):
        assert hashlib.sha256((folder / "Pli 1" / "offre" / source.name).read_bytes()).hexdigest() == source.sha256

    # Cut twice: each new request asks for the rest with Range, from what had arrived.
    hits = flaky.hits_for("f1", cid)
    assert [h.cut for h in hits] == [True, True, False]
    assert hits[0].range is None
    assert hits[1].range == f"bytes={hits[0].sent}-" and hits[1].status == 206
    assert hits[2].range == f"bytes={hits[0].sent + hits[1].sent}-"
    assert sum(h.sent for h in hits) == len(cut.data)  # not a byte fetched twice

    # Range ignored (200 again): the file starts over and still ends right.
    hits = flaky.hits_for("f2", cid)
    assert hits[1].range == f"bytes={hits[0].sent}-" and hits[1].status == 200
    by_id = {f["file"]: f for f in final["result"]["files"]}
    assert by_id["f2"]["transferred"] == hits[0].sent + len(no_range.data)

    # A cut inside block 1 resumes that block's URL with Range.
    hits = flaky.hits_for("f3", cid)
    assert [(h.block, h.range) for h in hits] == [(0, None), (1, None), (1, f"bytes={hits[1].sent}-"), (2, None)]


async def test_kill_9_mid_download_then_a_new_job_resumes_from_the_part(bids_agent: AgentProcess,
                                                                         flaky: FlakyServer) -> None:
    cid = "C-2026-CRASH"
    big = FlakyFile("f1", "EL1_Offre.zip", data(6_000_000), stall_at=2_500_000)
    small = FlakyFile("f2", "EL1_Candidature.zip", data(50_000))
    url = flaky.publish(cid, [FlakyPli("p1", "Pli 1", None, [FlakyEnvelope("offre", [small, big])])])
    folder = folder_of(bids_agent, flaky, cid)
    part = folder / "Pli 1" / "offre" / ".EL1_Offre.zip.part"
    flaky.release.clear()
    try:
        async with await BridgeClient.connect(flaky.origin, ports=[bids_agent.port]) as client:
            first = await client.start_job(KIND, {"url": url, "token": TOKEN})
            await wait_for(lambda: part.exists() and part.stat().st_size >= 2_400_000, what="the part to grow")
            # Only the complete file carries its final name; the big one is still hidden.
            assert [p.name for p in final_files(folder)] == ["EL1_Candidature.zip"]
            assert (folder / ".compagnon-reprise.json").exists()
        bids_agent.kill()
    finally:
        big.stall_at = None
        flaky.release.set()
    kept = part.stat().st_size
    assert 2_400_000 <= kept <= 2_500_000
    assert [p.name for p in final_files(folder)] == ["EL1_Candidature.zip"]

    bids_agent.start()
    async with await BridgeClient.connect(flaky.origin, ports=[bids_agent.port]) as client:
        old = await client.call("jobs.get", {"id": first["id"]})
        assert old["state"] == "interrupted" and old["error"]["code"] == "JOB_INTERRUPTED"
        before = len(flaky.hits_for("f1", cid))
        final, _ = await run(client, {"url": url, "token": TOKEN})
    assert final["state"] == "succeeded", final
    by_id = {f["file"]: f for f in final["result"]["files"]}
    assert by_id["f2"]["status"] == "present" and by_id["f2"]["transferred"] == 0
    assert by_id["f1"]["status"] == "resumed"
    assert by_id["f1"]["transferred"] == len(big.data) - kept < len(big.data)
    resumed = flaky.hits_for("f1", cid)[before:]
    assert [h.range for h in resumed] == [f"bytes={kept}-"]
    assert final["result"]["transferred"] < final["result"]["bytes"]
    assert hashlib.sha256((folder / "Pli 1" / "offre" / "EL1_Offre.zip").read_bytes()).hexdigest() == big.sha256
    assert hidden_files(folder) == []


# -- failures -----------------------------------------------------------------------------------------


async def test_a_wrong_sha256_fails_that_file_and_leaves_no_final_file(bids_agent: AgentProcess,
                                                                       flaky: FlakyServer) -> None:
    cid = "C-2026-EMPREINTE"
    bad = FlakyFile("f1", "altere.zip", data(400_000), advertised_sha256="ab" * 32)
    good = FlakyFile("f2", "sain.zip", data(300_000))
    url = flaky.publish(cid, [FlakyPli("p1", "Pli 1", None, [FlakyEnvelope("offre", [bad, good])])])
    async with await BridgeClient.connect(flaky.origin, ports=[bids_agent.port]) as client:
        final, _ = await run(client, {"url": url, "token": TOKEN})
    assert final["state"] == "failed"
    assert final["error"]["code"] == "FILE_UNREADABLE"
    assert "altere.zip" in final["error"]["message"] and "SHA-256" in final["error"]["message"]
    folder = folder_of(bids_agent, flaky, cid)
    assert [p.name for p in final_files(folder)] == ["sain.zip"]  # the other file is complete and kept
    # The failed job keeps the per-file outcomes: the good file, where it is and checked; the bad one, why.
    result = final["result"]
    assert result is not None and result["consultation"] == cid
    assert [(f["file"], f["name"], f["status"], f["size"]) for f in result["files"]] == [
        ("f2", "Pli 1/offre/sain.zip", "downloaded", 300_000)]
    assert result["files"][0]["sha256"] == hashlib.sha256(good.data).hexdigest()
    assert [(f["file"], f["name"], f["error"]["code"]) for f in result["failed"]] == [
        ("f1", "Pli 1/offre/altere.zip", "FILE_UNREADABLE")]
    assert not (folder / "Pli 1" / "offre" / ".altere.zip.part").exists()
    assert len(flaky.hits_for("f1", cid)) == 1  # a fresh download is not retried


async def test_not_enough_disk_space_fails_before_any_download(bids_agent: AgentProcess, flaky: FlakyServer) -> None:
    cid = "C-2026-ESPACE"
    free = shutil.disk_usage(bids_agent.home).free
    if free + 2**30 > 2**40:
        pytest.skip("more than 1 TiB free: a descriptor cannot announce a larger file")
    huge = FlakyFile("f1", "enorme.zip", data(1000), advertised_size=free + 2**30)
    url = flaky.publish(cid, [FlakyPli("p1", "Pli 1", None, [FlakyEnvelope("offre", [huge])])])
    async with await BridgeClient.connect(flaky.origin, ports=[bids_agent.port]) as client:
        final, _ = await run(client, {"url": url, "token": TOKEN})
    assert final["state"] == "failed" and final["error"]["code"] == "FILE_TOO_LARGE"
    assert "Espace disque insuffisant" in final["error"]["message"]
    steps = {s["id"]: s["state"] for s in final["steps"]}
    assert steps == {"descriptor": "succeeded", "space": "failed", "download": "pending", "done": "pending"}
    assert flaky.hits_for("f1", cid) == []
    assert final_files(folder_of(bids_agent, flaky, cid)) == []


async def test_cancel_during_a_download_stops_within_a_second_and_removes_the_parts(
    bids_agent: AgentProcess, flaky: FlakyServer
) -> None:
    cid = "C-2026-ANNULE"
    big = FlakyFile("f1", "long.zip", data(4_000_000), stall_at=1_000_000)
    url = flaky.publish(cid, [FlakyPli("p1", "Pli 1", None, [FlakyEnvelope("offre", [big])])])
    folder = folder_of(bids_agent, flaky, cid)
    part = folder / "Pli 1" / "offre" / ".long.zip.part"
    flaky.release.clear()
    try:
        async with await BridgeClient.connect(flaky.origin, ports=[bids_agent.port]) as client:
            job = await client.start_job(KIND, {"url": url, "token": TOKEN})
            await wait_for(lambda: part.exists() and part.stat().st_size > 0, what="the download to start")
            started = time.monotonic()
            await client.call("jobs.cancel", {"id": job["id"]})
            final = await client.wait_job(job["id"], timeout=5)
            elapsed = time.monotonic() - started
    finally:
        big.stall_at = None
        flaky.release.set()
    assert final["state"] == "cancelled" and elapsed < 1.0, (final["state"], elapsed)
    assert {s["id"]: s["state"] for s in final["steps"]}["download"] == "cancelled"
    assert final_files(folder) == [] and hidden_files(folder) == []


async def test_pages_cannot_choose_a_folder_nor_send_the_agent_elsewhere(bids_agent: AgentProcess,
                                                                         flaky: FlakyServer) -> None:
    cid = "C-2026-SSRF"
    elsewhere = FlakyFile("f1", "intranet.bin", data(1000), url_override="http://127.0.0.2:9/secret")
    url = flaky.publish(cid, [FlakyPli("p1", "Pli 1", None, [FlakyEnvelope("offre", [elsewhere])])])
    ok = flaky.publish("C-2026-OK", [FlakyPli("p1", "Pli 1", None, [FlakyEnvelope("offre", [
        FlakyFile("f1", "a.bin", data(10))])])])
    async with await BridgeClient.connect(flaky.origin, ports=[bids_agent.port]) as client:
        # Promise 5: no local folder from a page.
        with pytest.raises(BridgeError) as err:
            await run(client, {"url": ok, "token": TOKEN, "out_dir": str(bids_agent.home / "ailleurs")})
        assert err.value.code == "INVALID_PARAMS" and err.value.data["path"] == "/params/out_dir"
        assert not (bids_agent.home / "ailleurs").exists()
        # Promise 6: neither the descriptor nor a file may be on another origin.
        final, _ = await run(client, {"url": f"http://127.0.0.2:{flaky.port}{ok}", "token": TOKEN})
        assert final["state"] == "failed" and final["error"]["code"] == "ORIGIN_NOT_ALLOWED"
        final, _ = await run(client, {"url": url, "token": TOKEN})
        assert final["state"] == "failed" and final["error"]["code"] == "ORIGIN_NOT_ALLOWED"
        assert {s["id"]: s["state"] for s in final["steps"]}["descriptor"] == "failed"
        # Without the token the platform says 401: a clear failure, no retry loop.
        final, _ = await run(client, {"url": ok})
        assert final["state"] == "failed" and final["error"]["code"] == "PLATFORM_UNREACHABLE"
        assert "401" in final["error"]["message"]
        # Unknown pli in the selection.
        final, _ = await run(client, {"url": ok, "token": TOKEN, "plis": ["p9"]})
        assert final["state"] == "failed" and final["error"]["code"] == "INVALID_PARAMS"


# -- in process: a disk that fills up, and the demo platform --------------------------------------


@pytest.fixture
def in_process(tmp_path: Path) -> JobManager:
    settings = Settings(output_dir=tmp_path / "Compagnon", state_dir=tmp_path / "state")
    return JobManager(JobServices(settings=settings, consent=PolicyConsent(approve=True)),
                      kinds=KINDS, platform_client=platform_client)


async def test_a_disk_that_fills_up_midway_ends_the_job_cleanly(in_process: JobManager, flaky: FlakyServer,
                                                                monkeypatch: pytest.MonkeyPatch,
                                                                tmp_path: Path) -> None:
    cid = "C-2026-DISQUE"
    url = flaky.publish(cid, [FlakyPli("p1", "Pli 1", None, [FlakyEnvelope("offre", [
        FlakyFile("f1", "premier.zip", data(200_000)), FlakyFile("f2", "second.zip", data(3_000_000)),
        FlakyFile("f3", "troisieme.zip", data(200_000))])])])
    real_write = download._write_all
    written = {"total": 0}

    def filling_disk(fd: int, chunks: list[bytes]) -> int:
        size = sum(len(c) for c in chunks)
        if written["total"] + size > 1_200_000:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        written["total"] += size
        return real_write(fd, chunks)

    monkeypatch.setattr(download, "_write_all", filling_disk)
    job = in_process.start(flaky.origin, KIND, {"url": url, "token": TOKEN})
    final = (await in_process.wait(job.id)).snapshot()
    assert final["state"] == "failed" and final["error"]["code"] == "FILE_TOO_LARGE", final["error"]
    assert "second.zip" in final["error"]["message"]
    folder = tmp_path / "Compagnon" / "Plis" / f"127.0.0.1_{flaky.port}" / cid
    assert [p.name for p in final_files(folder)] == ["premier.zip"]
    assert not (folder / "Pli 1" / "offre" / ".second.zip.part").exists()  # its space is given back
    assert flaky.hits_for("f3", cid) == []  # stopped there: the next files would not fit either


async def test_the_demo_platform_serves_the_contract(in_process: JobManager, tmp_path: Path) -> None:
    from agent.demo_platform.consultations import DEMO_CONSULTATION, add_consultation_routes

    app = web.Application()
    store = add_consultation_routes(app, tmp_path / "demo")
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    origin = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    url = f"/api/consultations/{DEMO_CONSULTATION}"
    try:
        async with aiohttp.ClientSession(origin) as http:
            async with http.get(url) as response:
                assert response.status == 401
            async with http.post(f"{url}/token") as response:
                token = (await response.json())["token"]
            auth = {"Authorization": f"Bearer {token}"}
            async with http.get(url, headers=auth) as response:
                consultation = parse_consultation(await response.json())
            sealed = consultation.plis[0].envelopes[0].files[0]
            async with http.get(sealed.url, headers={**auth, "Range": "bytes=1000-"}) as response:
                assert response.status == 206
                assert response.headers["Content-Range"] == f"bytes 1000-{sealed.size - 1}/{sealed.size}"
                assert len(await response.read()) == sealed.size - 1000
            assert any(f.blocks for p in consultation.plis for e in p.envelopes for f in e.files)
            # The opened-result endpoint (for bids.open) checks what it receives.
            opened = b"contenu ouvert"
            for digest, status in ((hashlib.sha256(opened).hexdigest(), 201), ("00" * 32, 422)):
                form = aiohttp.FormData()
                for key, value in {"pli_id": "p1", "envelope_id": "e1", "file_id": sealed.id, "name": "ouvert.pdf",
                                   "size": str(len(opened)), "sha256": digest, "sealed_sha256": sealed.sha256}.items():
                    form.add_field(key, value)
                form.add_field("file", opened, filename="ouvert.pdf")
                async with http.post(consultation.result_url, data=form, headers=auth) as response:
                    assert response.status == status
            assert len(store.results) == 1

        job = in_process.start(origin, KIND, {"url": url, "token": token})
        final = (await in_process.wait(job.id)).snapshot()
        assert final["state"] == "succeeded", final
        expected = {f.id: f.sha256 for p in consultation.plis for e in p.envelopes for f in e.files}
        assert {f["file"]: f["sha256"] for f in final["result"]["files"]} == expected
        folder = tmp_path / "Compagnon" / "Plis" / origin.split("//")[1].replace(":", "_") / DEMO_CONSULTATION
        for entry in final["result"]["files"]:
            assert hashlib.sha256((folder / entry["name"]).read_bytes()).hexdigest() == entry["sha256"]
    finally:
        await runner.cleanup()


async def test_a_platform_that_keeps_failing_ends_the_job_after_bounded_retries(
    in_process: JobManager, flaky: FlakyServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(download, "BACKOFF", 0.01)
    cid = "C-2026-PANNE"
    url = flaky.publish(cid, [FlakyPli("p1", "Pli 1", None, [FlakyEnvelope("offre", [
        FlakyFile("f1", "jamais.zip", data(100_000), cut_after=0, cuts=1000)])])])
    job = in_process.start(flaky.origin, KIND, {"url": url, "token": TOKEN})
    final = (await in_process.wait(job.id)).snapshot()
    assert final["state"] == "failed" and final["error"]["code"] == "PLATFORM_UNREACHABLE"
    assert "jamais.zip" in final["error"]["message"]
    assert len(flaky.hits_for("f1", cid)) == download.MAX_RETRIES + 1


async def test_a_part_of_another_version_of_a_file_is_not_resumed(in_process: JobManager, flaky: FlakyServer,
                                                                   tmp_path: Path) -> None:
    cid = "C-2026-VERSION"
    fresh = FlakyFile("f1", "offre.zip", data(500_000))
    url = flaky.publish(cid, [FlakyPli("p1", "Pli 1", None, [FlakyEnvelope("offre", [fresh])])])
    folder = tmp_path / "Compagnon" / "Plis" / f"127.0.0.1_{flaky.port}" / cid
    (folder / "Pli 1" / "offre").mkdir(parents=True)
    (folder / "Pli 1" / "offre" / ".offre.zip.part").write_bytes(data(200_000))  # an older version's bytes
    (folder / ".compagnon-reprise.json").write_text(
        '{"version": 1, "origin": "%s", "consultation": "%s", "files": {"Pli 1/offre/offre.zip": '
        '{"size": 500000, "sha256": "%s"}}}' % (flaky.origin, cid, "cd" * 32))
    job = in_process.start(flaky.origin, KIND, {"url": url, "token": TOKEN})
    final = (await in_process.wait(job.id)).snapshot()
    assert final["state"] == "succeeded", final["error"]
    assert [h.range for h in flaky.hits_for("f1", cid)] == [None]
    assert final["result"]["files"][0]["status"] == "downloaded"
    assert hashlib.sha256((folder / "Pli 1" / "offre" / "offre.zip").read_bytes()).hexdigest() == fresh.sha256


async def test_a_second_job_for_the_same_consultation_waits_then_only_checks(in_process: JobManager,
                                                                             flaky: FlakyServer) -> None:
    cid = "C-2026-DOUBLE"
    url = flaky.publish(cid, [FlakyPli("p1", "Pli 1", None, [FlakyEnvelope("offre", [
        FlakyFile("f1", "offre.zip", data(600_000))])])])
    flaky.rate = 2_000_000
    try:
        first = in_process.start(flaky.origin, KIND, {"url": url, "token": TOKEN})
        second = in_process.start(flaky.origin, KIND, {"url": url, "token": TOKEN})
        finals = [(await in_process.wait(job.id)).snapshot() for job in (first, second)]
    finally:
        flaky.rate = None
    assert [f["state"] for f in finals] == ["succeeded", "succeeded"]
    assert finals[0]["result"]["files"][0]["status"] == "downloaded"
    assert finals[1]["result"]["files"][0]["status"] == "present"
    assert len(flaky.hits_for("f1", cid)) == 1


async def _serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]


@pytest.mark.parametrize(("locale", "said"), [("fr", "Ouverture refusée : les plis ne peuvent pas être ouverts avant"),
                                              ("en", "Opening refused: bids cannot be opened before the deadline")])
async def test_a_download_before_the_deadline_says_the_platforms_reason_in_the_users_language(
    in_process: JobManager, tmp_path: Path, locale: str, said: str
) -> None:
    """Before the deadline the demo platform refuses the sealed files (403 with its reason): the job
    quotes that reason, in the job's language, instead of guessing "the token may have expired"."""
    from datetime import UTC, datetime, timedelta

    from agent.demo_platform.consultations import DEMO_CONSULTATION, add_consultation_routes

    app = web.Application()
    store = add_consultation_routes(app, tmp_path / "demo")
    store.set_deadline(DEMO_CONSULTATION, datetime.now(UTC) + timedelta(hours=2))
    runner, origin = await _serve(app)
    url = f"/api/consultations/{DEMO_CONSULTATION}"
    try:
        async with aiohttp.ClientSession(origin) as http, http.post(f"{url}/token") as response:
            token = (await response.json())["token"]
        job = in_process.start(origin, KIND, {"url": url, "token": token}, locale=locale)
        final = (await in_process.wait(job.id)).snapshot()
    finally:
        await runner.cleanup()
    assert final["state"] == "failed" and final["error"]["code"] == "PLATFORM_UNREACHABLE", final["error"]
    message = final["error"]["message"]
    assert said in message and "(HTTP 403)" in message, message
    assert "jeton" not in message and "token" not in message, message


async def test_a_refusal_is_quoted_only_as_short_clean_text(in_process: JobManager, flaky: FlakyServer) -> None:
    """A platform's refusal text is untrusted: control and bidirectional characters go, it is cut
    short, and a body that is not a JSON object with a text in its first 4 KiB gets the generic message."""
    url = flaky.publish("C-2026-REFUS", [FlakyPli("p1", "Pli 1", None, [FlakyEnvelope("offre", [
        FlakyFile("f1", "offre.zip", data(10_000))])])])
    descriptor = flaky.descriptor("C-2026-REFUS")
    bodies = {
        "hostile": (lambda: web.json_response({"error": "Refusé\x1b[31m\u202e" + "x" * 1000}, status=403), True),
        "huge": (lambda: web.json_response({"error": "Refusé" + "x" * 5000}, status=403), False),
        "html": (lambda: web.Response(text="<h1>Forbidden</h1>", content_type="text/html", status=403), False),
        "list": (lambda: web.json_response(["Refusé"], status=403), False),
    }
    for name, (answer, quoted) in bodies.items():
        async def described(_request: web.Request) -> web.Response:
            return web.json_response(descriptor)

        async def refused(_request: web.Request, answer=answer) -> web.Response:  # type: ignore[no-untyped-def]
            return answer()

        app = web.Application()
        app.router.add_get(url, described)
        app.router.add_get("/{tail:.*}", refused)
        runner, origin = await _serve(app)
        try:
            job = in_process.start(origin, KIND, {"url": url, "token": TOKEN})
            final = (await in_process.wait(job.id)).snapshot()
        finally:
            await runner.cleanup()
        message = final["error"]["message"]
        assert final["error"]["code"] == "PLATFORM_UNREACHABLE" and "(HTTP 403)" in message, (name, final["error"])
        if quoted:
            assert "« " in message, message
            reason = message[message.index("« ") + 2:message.rindex(" »")]
            assert reason.startswith("Refusé") and reason.endswith("…") and len(reason) <= download.MAX_REASON_CHARS
            assert not any(ord(c) < 0x20 or 0x202A <= ord(c) <= 0x202E for c in reason), repr(reason)
        else:
            assert "le jeton a peut-être expiré" in message, (name, message)

