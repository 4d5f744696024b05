"""Folders the agent makes are 0700 and files 0600 (docs/SECURITY.md promise 11), checked with a
real second OS user: on a shared machine nobody else may even list what the agent keeps — job
records, logs, verification reports, or "Pli N - COMPANY" folders that tell who bid."""

from __future__ import annotations

import stat
from pathlib import Path

from agent.fsutil import atomic_write_bytes, private_folder
from tests.support.agent_process import AgentProcess, free_port, write_config
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
