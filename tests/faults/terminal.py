"""What the fault tests share: ``compagnon serve`` in a pseudo-terminal, as a user runs it.

The consent's four-letter code and the PIN are typed in that terminal (the ``prompt`` policy), as
tests/browser/test_demo_page.py does; a test may ``kill -9`` the agent and start it again on the
same HOME and port, to see what a crash leaves behind (docs/SECURITY.md promise 9, PROTOCOL.md section 4:
``interrupted``).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pexpect
from aiohttp import web

from bridge_protocol.client import BridgeClient

from tests.integration.test_certificates_bridge import keystore_config
from tests.integration.test_sign_job import upload
from tests.support.agent_process import ROOT, free_port, isolated_env, write_config
from tests.support.pairing import register_agent, seed_pairing
from tests.support.pki import TestPki
from tests.support.softhsm import ProvisionedToken
from tests.support.verifiers import openssl_cms_ok

CONSENT = r"tapez ([A-Z]{4}) puis"
TERMINAL = ("succeeded", "failed", "cancelled", "interrupted")


class TerminalAgent:
    """``python -m agent serve`` in a pseudo-terminal (pexpect)."""

    def __init__(self, home: Path, port: int | None = None, timeout: float = 60) -> None:
        self.home = home
        self.port = port or free_port()
        self.timeout = timeout
        self.child: pexpect.spawn | None = None

    @property
    def log_file(self) -> Path:
        return self.home / "log" / "compagnon.log"

    def start(self) -> TerminalAgent:
        register_agent(self.port, self.home)
        self.child = pexpect.spawn(sys.executable, ["-m", "agent", "serve", "--port", str(self.port)], cwd=str(ROOT),
                                   env=isolated_env(self.home), encoding="utf-8", timeout=self.timeout,
                                   maxread=65536, searchwindowsize=4096)
        # What the terminal showed, for the failure report (never a PIN: it is typed with echo off).
        self.child.logfile_read = (self.home / "terminal.log").open("a", encoding="utf-8")
        self.child.expect("en écoute sur")
        return self

    async def consent(self, secret: str | None = None) -> str:
        """Answer the next consent prompt as the user: type its code, then ``secret`` (the PIN or
        the PKCS#12 password) when given. Returns what the prompt showed."""
        child = self.child
        assert child is not None
        await asyncio.to_thread(child.expect, CONSENT)
        shown = child.before
        child.sendline(child.match.group(1))
        if secret is not None:
            await asyncio.to_thread(child.expect, "Code PIN")
            child.sendline(secret)
        return shown

    def kill9(self) -> None:
        """``kill -9``: no chance to clean up, as in a crash or a power cut of the session."""
        child = self.child
        assert child is not None
        child.kill(signal.SIGKILL)
        deadline = time.monotonic() + 10
        while child.isalive() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not child.isalive(), "the agent survived kill -9"
        self.stop()

    def stop(self) -> None:
        child = self.child
        if child is None:
            return
        if child.isalive():
            child.terminate(force=True)
        child.close(force=True)
        if child.logfile_read is not None:
            child.logfile_read.close()
            child.logfile_read = None


def configure(home: Path, origin: str, pki: TestPki, *, token: ProvisionedToken | None = None,
              p12_dir: Path | None = None, tsa_url: str | None = None) -> Path:
    """An agent config for ``origin`` (allowed, pre-approved, consent typed in the terminal) with
    the test PKI trusted; returns the output folder of the files the page uploads."""
    out_dir = home / "Signés"
    extra = keystore_config(pki, token) if token is not None else (
        f'\n[trust]\nroots = ["{pki.root_pem}"]\nsystem = false\n')
    signing = f'\n[signing]\noutput_dir = "{out_dir}"\n'
    if tsa_url:
        signing += f'tsa_url = "{tsa_url}"\n'
    extra += signing + f'\n[paths]\nlog_dir = "{home / "log"}"\n'
    if p12_dir is not None:
        # [keystores] is written by keystore_config when a token is given: add p12_dir to it.
        if "[keystores]" in extra:
            extra = extra.replace("[keystores]\n", f'[keystores]\np12_dir = "{p12_dir}"\n', 1)
        else:
            extra += f'\n[keystores]\np12_dir = "{p12_dir}"\n'
    write_config(home, allowed=[origin], preapproved=[origin], consent="prompt", extra=extra)
    seed_pairing(home, origin)  # paired earlier: the terminal's prompts here are the consents
    return out_dir


def final_files(folder: Path) -> list[Path]:
    """Files that carry a final name: anything but hidden (temporary) names."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))


def hidden_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob(".*") if p.is_file())


async def wait_until(predicate: Callable[[], bool], timeout: float = 60.0, what: str = "condition",
                     every: float = 0.005) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        await asyncio.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")


async def follow_until(client: BridgeClient, job_id: str, predicate: Callable[[dict[str, Any]], bool],
                       timeout: float = 120) -> dict[str, Any]:
    """Read ``jobs.updated`` notifications until ``predicate(snapshot)``; fails if the job ends first."""
    async def follow() -> dict[str, Any]:
        while True:
            item = await client.notifications.get()
            if item.get("method") != "jobs.updated" or item["params"]["job"]["id"] != job_id:
                continue
            snapshot = item["params"]["job"]
            if predicate(snapshot):
                return snapshot
            assert snapshot["state"] not in TERMINAL, f"the job ended before the fault: {snapshot}"

    return await asyncio.wait_for(follow(), timeout)


def step_states(snapshot: dict[str, Any]) -> dict[str, str]:
    return {s["id"]: s["state"] for s in snapshot["steps"]}


def step_progress(snapshot: dict[str, Any], step: str) -> int:
    """A step's own progress (0-100): ``current`` still names the last file hashed when ``sign`` starts."""
    return next(s["progress"] for s in snapshot["steps"] if s["id"] == step)


async def certificate_id(client: BridgeClient, agent: TerminalAgent, purpose: str, subject: str,
                         source: Callable[[dict[str, Any]], bool]) -> str:
    """The id of a certificate from ``certificates.list`` (its release needs the user's consent)."""
    call = asyncio.create_task(client.call("certificates.list", {"purpose": purpose}, timeout=120))
    await agent.consent()
    certificates = (await call)["certificates"]
    (found,) = [c for c in certificates if c["subject"] == subject and source(c["source"])]
    return found["id"]


class SlowTsa:
    """The test PKI's time-stamping service behind a link that takes ``delay`` seconds per request,
    as a real TSA on the Internet does (tens to hundreds of ms): a B-T batch then lasts long
    enough for a fault to strike in its middle. The timestamps are the real service's. It runs in
    a thread of its own, so it keeps answering while the test's event loop waits."""

    def __init__(self, upstream: str, delay: float = 0.05) -> None:
        self.upstream, self.delay = upstream, delay
        self.requests = 0
        self.url = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    async def _stamp(self, request: web.Request) -> web.Response:
        self.requests += 1
        body = await request.read()
        await asyncio.sleep(self.delay)
        async with aiohttp.ClientSession() as session, session.post(
                self.upstream, data=body, headers={"Content-Type": "application/timestamp-query"}) as answer:
            return web.Response(body=await answer.read(), status=answer.status,
                                content_type="application/timestamp-reply")

    def start(self) -> SlowTsa:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            app = web.Application()
            app.router.add_post("/tsa", self._stamp)
            runner = web.AppRunner(app, access_log=None, handle_signals=False)
            loop.run_until_complete(runner.setup())
            site = web.TCPSite(runner, "127.0.0.1", 0)
            loop.run_until_complete(site.start())
            self.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/tsa"  # type: ignore[union-attr]
            ready.set()
            loop.run_forever()
            loop.run_until_complete(runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=run, name="slow-tsa", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the slow TSA did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)


# -- a signing batch long enough for a fault to strike in its middle -------------------------------

#: 60 files of 4 MiB, signed attached (.p7m, as large as their content) at B-T with a time-stamping
#: service 50 ms away: the batch lasts seconds, and its outputs are group-committed every 64 MiB
#: (agent/fsutil.py OutputBatch), so some are final while others are being written. Not hundreds of
#: small files: the terminal consent loses the end of a prompt longer than the pseudo-terminal's
#: buffer (tests/faults/test_fault_long_consent.py), and its code with it.
BATCH = 60
FILE_SIZE = 4 * 1024 * 1024


def batch_sources() -> dict[str, bytes]:
    block = os.urandom(FILE_SIZE)
    return {f"piece {i:02d}.bin": block[:-2] + i.to_bytes(2, "big") for i in range(BATCH)}


async def sign_batch(client: BridgeClient, agent: TerminalAgent, sources: dict[str, bytes], cert: str,
                     pin: str) -> dict[str, Any]:
    handles = [await upload(client, name, data, chunk=480_000) for name, data in sources.items()]
    files = [{"handle": h, "format": "cades", "attached": True} for h in handles]
    job = await client.start_job("sign", {"files": files, "certificate": cert, "level": "B-T"})
    await agent.consent(pin)
    return job


def assert_only_complete_outputs(out_dir: Path, sources: dict[str, bytes], pki: TestPki) -> list[Path]:
    """Every file with a final name is a whole signature of its source (checked by openssl)."""
    finished = final_files(out_dir)
    for output in finished:
        source, _, rest = output.name.partition(" - ")
        assert source in sources and rest.endswith(" - Signature 1.p7m"), output.name
        assert openssl_cms_ok(output, None, pki), f"{output.name} has a final name but is not complete"
        content = subprocess.run(["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-noverify",
                                  "-in", str(output)], capture_output=True, check=True).stdout
        assert content == sources[source], output.name
    return finished
