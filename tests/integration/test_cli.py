"""The ``compagnon`` command: diagnose offline, the demo platform, logging, bad configuration."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from pathlib import Path

import aiohttp
import pexpect
import pytest

from bridge_protocol.client import BridgeClient, ClientPairing
from tests.support.agent_process import ROOT, AgentProcess, free_port, isolated_env, write_config
from tests.support.pairing import client_secrets, terminal_code
from tests.support.platform_server import PlatformServer


def _run(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agent", *args], cwd=ROOT, env=isolated_env(home),
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)


def test_diagnose_json_runs_the_same_job_kind(home: Path) -> None:
    result = _run(home, "diagnose", "--json")
    assert result.returncode == 0, result.stderr
    snapshot = json.loads(result.stdout)
    assert snapshot["kind"] == "diagnose" and snapshot["state"] == "succeeded"
    checks = {c["id"]: c for c in snapshot["result"]["checks"]}
    assert checks["os"]["status"] == "pass"
    assert checks["platform"]["value"] == "Non testé"


async def test_diagnose_against_a_platform_prints_the_table(home: Path, platform: PlatformServer) -> None:
    import asyncio

    result = await asyncio.to_thread(_run, home, "diagnose", "--platform", platform.origin)
    assert result.returncode == 0, result.stderr
    assert re.search(r"OK\s+Communication avec le serveur distant\s+Communication établie", result.stdout)
    assert "Accès au magasin de certificats" in result.stdout
    assert "[ 50 %]" in result.stderr or "%]" in result.stderr


def test_invalid_configuration_is_a_usage_error(home: Path) -> None:
    path = home / "bad.toml"
    path.write_text("[bridge]\nallowed_origins = ['pas une origine']\n")
    result = _run(home, "serve", "--config", str(path))
    assert result.returncode == 2
    assert "configuration invalide" in result.stderr and "origine invalide" in result.stderr


async def test_demo_serves_the_page_and_its_origin_is_allowed(home: Path) -> None:
    demo_port, agent_port = free_port(), free_port()
    child = pexpect.spawn(sys.executable, ["-m", "agent", "demo", "--port", str(agent_port), "--demo-port", str(demo_port)],
                          cwd=str(ROOT), env=isolated_env(home), encoding="utf-8", timeout=20)
    try:
        import asyncio

        await asyncio.to_thread(child.expect, r"Plateforme de démonstration : (http://127\.0\.0\.1:\d+/)")
        url = child.match.group(1)
        async with aiohttp.ClientSession() as session:
            async with session.get(url) as response:
                page = await response.text()
                assert response.status == 200
                assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
            assert "Tester la configuration de mon poste" in page
            assert f"[{agent_port}]" in page.replace("&quot;", '"')
            async with session.get(url + "js/compagnon.js") as response:
                assert response.status == 200 and "CompagnonClient" in await response.text()
        origin = url.rstrip("/")
        async def user_reads_the_terminal(origin: str, nonce: bytes) -> str:
            return await terminal_code(child)

        pairing = ClientPairing(client_secrets(home), user_reads_the_terminal)
        async with await BridgeClient.connect(origin, ports=[agent_port], pairing=pairing) as client:
            hello = await client.hello()
            assert hello["paired"] is False  # pre-approved, but this browser has not paired yet
            final = await client.run_job("diagnose", {})  # pairs: the code, without a question
            assert final["state"] == "succeeded"
            assert (await client.hello())["authenticated"] is True
    finally:
        child.terminate(force=True)


async def test_agent_logs_to_the_platformdirs_log_folder(home: Path, platform: PlatformServer) -> None:
    write_config(home, allowed=[platform.origin])
    agent = AgentProcess(home, free_port()).start()
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{agent.port}/bridge",
                                   headers={"Origin": "https://evil.example"}) as response:
                assert response.status == 403
    finally:
        agent.stop()
    log_file = home / ".local/state/compagnon/log/compagnon.log"
    text = log_file.read_text()
    assert "listening on ws://127.0.0.1" in text
    assert "refused GET /bridge" in text and "https://evil.example" in text


async def test_the_prompt_terminal_stays_calm(home: Path, platform: PlatformServer, tmp_path: Path) -> None:
    """Where the user answers prompts, no log line and no library warning reaches the terminal:
    they go to the log file (a refused handshake, pyHanko importing a deprecated algorithm)."""
    write_config(home, allowed=[platform.origin], consent="prompt")
    port = free_port()
    child = pexpect.spawn(sys.executable, ["-m", "agent", "serve", "--port", str(port)], cwd=str(ROOT),
                          env=isolated_env(home), encoding="utf-8", timeout=30)
    try:
        child.expect("en écoute sur")
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port}/bridge",
                                   headers={"Origin": "https://evil.example"}) as response:
                assert response.status == 403
        await asyncio.sleep(1.0)
        with pytest.raises(pexpect.TIMEOUT):
            child.expect(r"WARNING|Warning|refused", timeout=2)
    finally:
        child.terminate(force=True)
    assert "refused GET /bridge" in (home / ".local/state/compagnon/log/compagnon.log").read_text()
    # A PAdES verification imports pyHanko, whose import warns about DSA: not on the terminal.
    pdf = tmp_path / "offre.pdf"
    pdf.write_bytes(b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")
    result = subprocess.run([sys.executable, "-m", "agent", "verify", str(pdf)], cwd=ROOT, env=isolated_env(home),
                            capture_output=True, text=True, timeout=120)
    assert "Warning" not in result.stderr and "Warning" not in result.stdout, result.stderr


def test_diagnose_from_the_command_line_sees_the_running_agent(home: Path) -> None:
    stopped = {c["id"]: c for c in json.loads(_run(home, "diagnose", "--json").stdout)["result"]["checks"]}
    assert stopped["agent"]["status"] == "warn" and "pas lancé" in stopped["agent"]["message"]
    assert stopped["port"]["status"] == "warn" and "compagnon tray" in stopped["port"]["message"]
    assert stopped["browser"]["status"] == "pass" and "ligne de commande" in stopped["browser"]["value"]
    write_config(home, allowed=["https://marches.example.fr"])
    agent = AgentProcess(home, free_port()).start()
    try:
        running = {c["id"]: c for c in json.loads(_run(home, "diagnose", "--json").stdout)["result"]["checks"]}
    finally:
        agent.stop()
    assert running["agent"]["status"] == "pass" and running["agent"]["message"] == "Compagnon est lancé."
    assert running["port"]["value"] == str(agent.port)
    assert "n'a pas indiqué le navigateur" not in json.dumps(running, ensure_ascii=False)
