"""Folders the agent makes are 0700 and files 0600 (docs/SECURITY.md promise 11), checked with a
real second OS user: on a shared machine nobody else may even list what the agent keeps — job
records, logs, verification reports, or "Pli N - COMPANY" folders that tell who bid."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest

from agent.fsutil import ForeignFolderError, atomic_write_bytes, private_folder
from tests.support.agent_process import ROOT, AgentProcess, free_port, isolated_env, write_config
from tests.support.os_users import open_home, os_user  # noqa: F401  (fixture)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_agents_folders_are_closed_to_other_users(open_home: Path) -> None:
    write_config(open_home, allowed=["https://marches.example.fr"])
    agent = AgentProcess(open_home, free_port()).start()
    try:
        state = agent.state_dir
        folders = [state, state / "log", state / "uploads", state / "jobs"]
        for folder in folders:
            assert folder.is_dir(), folder
            assert _mode(folder) == 0o700, (folder, oct(_mode(folder)))
        assert _mode(agent.log_file) & 0o077 == 0
        other = os_user("compagnon-autre")
        for folder in folders:
            assert other.run(["ls", str(folder)]).returncode != 0, folder
    finally:
        agent.stop()


def test_a_state_folder_left_open_is_closed_at_start(open_home: Path) -> None:
    state = open_home / ".local/state/compagnon"
    (state / "log").mkdir(parents=True, mode=0o755)
    state.chmod(0o755)
    (state / "log").chmod(0o755)
    write_config(open_home, allowed=["https://marches.example.fr"])
    agent = AgentProcess(open_home, free_port()).start()
    try:
        assert _mode(state) == 0o700 and _mode(state / "log") == 0o700
    finally:
        agent.stop()


def test_outputs_create_private_folders_and_respect_the_users_own(tmp_path: Path) -> None:
    documents = tmp_path / "Documents"
    documents.mkdir(mode=0o755)
    documents.chmod(0o755)
    pli = documents / "Compagnon" / "Plis" / "marches.example.fr" / "Pli 1 - ACME"
    atomic_write_bytes(pli / "offre.pdf", b"%PDF-1.7\n", 0o600)
    for folder in (documents / "Compagnon", documents / "Compagnon" / "Plis", pli.parent, pli):
        assert _mode(folder) == 0o700, folder
    assert _mode(pli / "offre.pdf") == 0o600
    assert _mode(documents) == 0o755  # the user's own folder is left as the user set it
    private_folder(documents, own=False)
    assert _mode(documents) == 0o755


@pytest.mark.parametrize("command", [["verify", "{file}"], ["serve", "--port", "{port}"]])
def test_a_state_folder_of_another_user_is_refused_and_left_untouched(open_home: Path, command: list[str]) -> None:
    """``sudo`` keeping the caller's HOME, a ``state_dir`` in someone else's folder: whoever owns the
    folder could read the agent's pairings, jobs and logs, or link its next file away. The command
    says which folder and what to do, writes nothing there, and exits 2."""
    write_config(open_home, allowed=["https://marches.example.fr"])
    other = os_user("compagnon-autre")
    state = open_home / ".local/state/compagnon"
    state.mkdir(parents=True, mode=0o755)
    other.own(state)
    signed = open_home / "offre.p7m"
    signed.write_bytes(b"0\x80")
    argv = [word.format(file=signed, port=free_port()) for word in command]
    ran = subprocess.run([sys.executable, "-m", "agent", *argv], cwd=ROOT, env=isolated_env(open_home),
                         capture_output=True, text=True, timeout=120)
    assert ran.returncode == 2, ran.stdout + ran.stderr
    assert str(state) in ran.stderr and "appartient à un autre utilisateur" in ran.stderr, ran.stderr
    assert list(state.iterdir()) == [] and _mode(state) == 0o755 and state.stat().st_uid == other.uid


def test_own_folders_are_refused_in_another_users_folder_and_other_folders_are_not(open_home: Path) -> None:
    other = os_user("compagnon-autre")
    (open_home / "dossier-autre").mkdir(mode=0o755)
    theirs = other.own(open_home / "dossier-autre")
    with pytest.raises(ForeignFolderError) as refused:
        private_folder(theirs, own=True)
    assert refused.value.path == theirs and refused.value.owner == other.uid
    assert "belongs to another user" in refused.value.message("en")
    with pytest.raises(ForeignFolderError):
        private_folder(theirs / "compagnon" / "log", own=True)
    assert list(theirs.iterdir()) == []  # nothing made there
    assert private_folder(theirs, own=False) == theirs  # a folder the user chose (an output folder)
    mine = private_folder(open_home / "a" / "b", own=True)  # inside this user's (or root's) folders
    assert _mode(mine) == 0o700
