"""docs/SECURITY.md promise 11: no secret on a command line or in an environment; no core dumps.

An attacker here is another OS user of the same machine: every process's ``/proc/PID/cmdline`` is
world-readable, and a console code read there opens the user's console (pairings, files, keys).

* The console is opened through a redirect page in a 0700 folder: its code is in no process's
  arguments or environment, and another real OS user cannot read the page.
* The agent process has ``RLIMIT_CORE`` 0, soft and hard, even when started from a shell that
  allows core files (it is also made non-dumpable, prctl(2), which ptrace-capable root can ignore).
"""

from __future__ import annotations

import resource
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit


from agent.desktop.opener import redirect_target
from tests.support.agent_process import ROOT, AgentProcess, free_port, isolated_env, write_config
from tests.support.console import code_of
from tests.support.os_users import open_home, os_user  # noqa: F401  (fixture)


def _processes_holding(secret: bytes) -> list[str]:
    """``PID:file`` for each readable /proc/PID/{cmdline,environ} that contains ``secret``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        for name in ("cmdline", "environ"):
            try:
                if secret in (entry / name).read_bytes():
                    found.append(f"{entry.name}:{name}")
            except OSError:
                continue
    return found


def test_console_code_is_in_no_command_line_or_environment(open_home: Path, tmp_path: Path) -> None:
    home = open_home
    record = tmp_path / "browser.txt"
    browser = tmp_path / "browser.sh"
    # A "browser" that stays up a while, so that its command line can be read meanwhile.
    browser.write_text(f'#!/bin/sh\nprintf "%s\\n" "$1" >> "{record}"\nsleep 20\n', encoding="utf-8")
    browser.chmod(0o755)
    write_config(home, allowed=["https://marches.example.fr"], consent="console", consent_timeout=30)
    agent = AgentProcess(home, free_port(), extra_env={"COMPAGNON_BROWSER": str(browser)}).start()
    try:
        subprocess.run([sys.executable, "-m", "agent", "console"], cwd=ROOT, env=isolated_env(home),
                       check=True, timeout=30)
        deadline = time.monotonic() + 15
        while not (record.exists() and record.read_text().strip()) and time.monotonic() < deadline:
            time.sleep(0.05)
        address = record.read_text().strip()
        assert address.startswith("file://"), address
        page = Path(unquote(urlsplit(address).path))
        url = redirect_target(page)
        code = code_of(url)
        assert len(code) >= 20
        assert _processes_holding(code.encode()) == []
        assert page.stat().st_mode & 0o777 == 0o600
        assert page.parent.stat().st_mode & 0o777 == 0o700
        other = os_user("compagnon-autre")
        assert other.run(["cat", str(page)]).returncode != 0
        assert other.run(["ls", str(page.parent)]).returncode != 0
    finally:
        agent.stop()
    assert list(page.parent.glob("console-*.html")) == []  # removed when the agent stops


def _core_limit(pid: int) -> str:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max core file size"):
            return " ".join(line.split()[4:6])
    raise AssertionError("no core limit line")


def test_agent_process_cannot_dump_core(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    port = free_port()
    # The user's shell allows core files of any size: the agent must still leave none.
    unlimited = (resource.RLIM_INFINITY, resource.RLIM_INFINITY)
    proc = subprocess.Popen([sys.executable, "-m", "agent", "serve", "--port", str(port)], cwd=ROOT,
                            env=isolated_env(home), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True,
                            preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_CORE, unlimited))
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if "en écoute sur ws://" in line:
                break
        assert proc.poll() is None, "the agent did not start"
        assert _core_limit(proc.pid) == "0 0"
    finally:
        proc.terminate()
        proc.wait(10)
