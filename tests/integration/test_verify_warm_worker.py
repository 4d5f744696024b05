"""``compagnon verify`` with this user's agent running takes its isolated worker warm from the agent's
fork server (agent.fork_server), with the same verdicts as a spawned worker; the server lives and
dies with the agent, and leaves no socket behind, even when the agent is killed."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from tests.support.agent_process import ROOT, AgentProcess, free_port, isolated_env, write_config
from tests.support.pki import TestPki

FORKED = "forked by the fork server"


def _verify(home: Path, *args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agent", "verify", *args], cwd=cwd, env=isolated_env(home),
                          capture_output=True, text=True, timeout=180)


def _wait_for(condition, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _verdicts(report: dict) -> list[tuple[str, str]]:
    return [(s["indication"], s.get("signer", {}).get("name", "")) for s in report["signatures"]]


def test_verify_takes_a_warm_worker_from_the_running_agent(tmp_path: Path, test_pki: TestPki) -> None:
    content = tmp_path / "offre.txt"
    content.write_text("Offre pour le lot 1 : voir le mémoire technique.\n" * 40, encoding="utf-8")
    signed = test_pki.openssl_cms("qualified", content, tmp_path / "offre.txt.p7m")
    home = tmp_path / "home"
    write_config(home, allowed=["https://plateforme.example"])
    log = home / ".local/state/compagnon/log/compagnon.log"

    cold = _verify(home, str(signed), "--trust", str(test_pki.root_pem), "--json")
    assert cold.returncode == 0, cold.stdout + cold.stderr
    assert FORKED not in log.read_text(encoding="utf-8")

    agent = AgentProcess(home, free_port()).start()
    socket_file = agent.state_dir / "workers.sock"
    try:
        _wait_for(socket_file.exists)
        warm = _verify(home, str(signed), "--trust", str(test_pki.root_pem), "--json")
        assert warm.returncode == 0, warm.stdout + warm.stderr
        assert _verdicts(json.loads(warm.stdout)) == _verdicts(json.loads(cold.stdout))
        assert _verdicts(json.loads(warm.stdout))[0][0] == "TOTAL_PASSED"
        assert FORKED in log.read_text(encoding="utf-8")
        # a relative path is the command's, not the agent's (which runs from another folder)
        relative = _verify(home, signed.name, "--trust", str(test_pki.root_pem), "--json", cwd=tmp_path)
        assert relative.returncode == 0, relative.stdout + relative.stderr
        assert _verdicts(json.loads(relative.stdout)) == _verdicts(json.loads(cold.stdout))
        server = _server_pid(agent.proc.pid)  # type: ignore[union-attr]
    finally:
        agent.stop()
    assert not socket_file.exists()
    assert not Path(f"/proc/{server}").exists()

    agent = AgentProcess(home, free_port()).start()
    _wait_for(socket_file.exists)
    server = _server_pid(agent.proc.pid)  # type: ignore[union-attr]
    agent.kill()  # kill -9: the server sees its lifeline close
    _wait_for(lambda: not Path(f"/proc/{server}").exists(), timeout=10)
    assert not socket_file.exists()
    # and a command line without an agent spawns its worker again
    again = _verify(home, str(signed), "--trust", str(test_pki.root_pem), "--json")
    assert again.returncode == 0 and _verdicts(json.loads(again.stdout)) == _verdicts(json.loads(cold.stdout))


def _server_pid(agent_pid: int) -> int:
    """The agent's child that runs agent.fork_server."""
    children = Path(f"/proc/{agent_pid}/task/{agent_pid}/children").read_text().split()
    for child in map(int, children):
        if b"agent.fork_server" in Path(f"/proc/{child}/cmdline").read_bytes():
            return child
    raise AssertionError(f"no fork server among the agent's children {children}")


def test_an_administrator_can_turn_the_warm_workers_off(tmp_path: Path, test_pki: TestPki) -> None:
    """``[verify] warm_workers = false`` (a terminal server counting each session's memory): no fork
    server beside the agent, and ``compagnon verify`` spawns its worker."""
    (tmp_path / "note.txt").write_text("Offre.\n", encoding="utf-8")
    signed = test_pki.openssl_cms("qualified", tmp_path / "note.txt", tmp_path / "note.txt.p7m")
    home = tmp_path / "home"
    write_config(home, allowed=["https://plateforme.example"], extra="\n[verify]\nwarm_workers = false\n")
    agent = AgentProcess(home, free_port()).start()
    try:
        result = _verify(home, str(signed), "--trust", str(test_pki.root_pem), "--json")
        assert result.returncode == 0, result.stdout + result.stderr
        assert not (agent.state_dir / "workers.sock").exists()
        children = Path(f"/proc/{agent.proc.pid}/task/{agent.proc.pid}/children").read_text().split()  # type: ignore[union-attr]
        assert not any(b"agent.fork_server" in Path(f"/proc/{c}/cmdline").read_bytes() for c in children)
        assert FORKED not in (agent.state_dir / "log" / "compagnon.log").read_text(encoding="utf-8")
    finally:
        agent.stop()
