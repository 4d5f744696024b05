"""Documented error codes of job kinds that no other test produced at the job's level
(bridge_protocol/kind_errors.py; tests/unit/test_error_coverage.py names a producing test for each).

* ``decrypt``: an envelope sealed by openssl with an algorithm the agent does not open (Triple-DES)
  ends that file with ``UNSUPPORTED_ALGORITHM``, and nothing is written.
* ``bids.download``: a file the platform answers 404 (and another 410) fails alone with
  ``FILE_NOT_FOUND``; the other files are downloaded and checked; the job fails naming them.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from tests.support.agent_process import ROOT, isolated_env
from tests.support.pki import TestPki


def test_decrypt_refuses_an_algorithm_it_does_not_open(tmp_path: Path, test_pki: TestPki) -> None:
    bid = tmp_path / "offre.txt"
    bid.write_bytes(b"offre " * 1000)
    envelope = tmp_path / "offre.txt.p7m"
    subprocess.run(["openssl", "cms", "-encrypt", "-binary", "-outform", "DER", "-des3", "-in", str(bid),
                    "-out", str(envelope), "-recip", str(test_pki.cert_pem("encryption"))],
                   check=True, capture_output=True)
    before = sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("."))
    result = subprocess.run([sys.executable, "-m", "agent", "decrypt", str(envelope), "--p12",
                             str(test_pki.p12("encryption", "pw")), "--pin-stdin"], cwd=ROOT,
                            env=isolated_env(tmp_path), input="pw\n", capture_output=True, text=True, timeout=180,
                            check=False)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "UNSUPPORTED_ALGORITHM" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == before  # nothing written


FILES = {"f1": b"premier pli chiffre " * 3000, "f2": b"absent", "f3": b"retire", "f4": b"dernier " * 100}


@pytest.fixture
async def platform() -> AsyncIterator[str]:
    """A consultation of four files, the second answered 404 and the third 410."""

    async def descriptor(request: web.Request) -> web.Response:
        files = [{"id": fid, "name": f"{fid}.p7m", "size": len(body), "sha256": hashlib.sha256(body).hexdigest(),
                  "url": f"/files/{fid}"} for fid, body in FILES.items()]
        return web.json_response({"id": "C-404", "title": "Fichiers manquants", "plis": [
            {"id": "p1", "label": "Pli 1", "envelopes": [{"id": "e1", "label": "offre", "files": files}]}]})

    async def file(request: web.Request) -> web.Response:
        fid = request.match_info["fid"]
        if fid == "f2":
            raise web.HTTPNotFound()
        if fid == "f3":
            raise web.HTTPGone()
        return web.Response(body=FILES[fid], content_type="application/octet-stream")

    app = web.Application()
    app.router.add_get("/consultation", descriptor)
    app.router.add_get("/files/{fid}", file)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def test_a_missing_file_fails_alone_with_file_not_found(platform: str, tmp_path: Path) -> None:
    from agent.config import Settings
    from agent.consent import PolicyConsent
    from agent.jobs.context import JobServices
    from agent.jobs.manager import JobManager
    from agent.kinds.registry import KINDS, platform_client

    manager = JobManager(JobServices(settings=Settings(output_dir=tmp_path / "Compagnon", state_dir=tmp_path / "state"),
                                     consent=PolicyConsent(approve=True)), kinds=KINDS, platform_client=platform_client)
    job = manager.start(platform, "bids.download", {"url": "/consultation"})
    final = (await manager.wait(job.id)).snapshot()
    assert final["state"] == "failed"
    assert final["error"]["code"] == "FILE_NOT_FOUND"
    assert "f2.p7m" in final["error"]["message"] and "f3.p7m" in final["error"]["message"]
    done = {p.name: p.read_bytes() for p in (tmp_path / "Compagnon").rglob("*.p7m")}
    assert done == {"f1.p7m": FILES["f1"], "f4.p7m": FILES["f4"]}  # the others were downloaded whole
