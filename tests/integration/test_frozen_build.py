"""The PyInstaller spec of the Windows build (installers/windows/compagnon.spec), built here for
Linux: it proves what the spec controls on every system — the entry script runs frozen (absolute
imports), the data files are in (the bridge schema, the console's and the demo's pages), the job
kinds and tkinter are bundled — with the program a user would run: ``compagnon --version``,
``compagnon --native-dialog`` (the native windows' child) and ``compagnon demo`` answering a page.

What only Windows can show (the Win32 tray back end, HKCU Run, Inno Setup) is not tested here.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge_protocol.client import BridgeClient
from tests.support.agent_process import ROOT, free_port, isolated_env, write_config
from tests.support.pairing import register_agent
from tests.support.display import xvfb_display

SPEC = ROOT / "installers" / "windows" / "compagnon.spec"

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def frozen(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``pyinstaller installers/windows/compagnon.spec``: the one-folder program."""
    work = tmp_path_factory.mktemp("pyinstaller")
    result = subprocess.run([sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN",
                             "--distpath", str(work / "dist"), "--workpath", str(work / "build"), str(SPEC)],
                            cwd=ROOT, capture_output=True, text=True, timeout=540)
    assert result.returncode == 0, result.stderr[-3000:]
    program = work / "dist" / "compagnon" / "compagnon"
    assert program.is_file() and (work / "dist" / "compagnon" / "compagnonw").is_file()
    return program


@pytest.fixture(scope="module")
def display() -> Iterator[str]:
    with xvfb_display() as name:
        yield name


def _env(home: Path) -> dict[str, str]:
    env = isolated_env(home)
    env.pop("PYTHONPATH", None)  # the frozen program only: nothing from this checkout
    return env


def test_the_frozen_program_runs_its_commands_and_its_native_windows(frozen: Path, tmp_path: Path,
                                                                      display: str) -> None:
    env = _env(tmp_path)
    version = subprocess.run([str(frozen), "--version"], env=env, capture_output=True, text=True, timeout=60)
    assert version.returncode == 0 and version.stdout.strip() == "compagnon 0.1.0", version.stderr
    view = {"type": "menu", "title": "Compagnon", "items": [["open", "Ouvrir la console"]], "timeout": 1}
    window = subprocess.run([str(frozen), "--native-dialog"], env=env | {"DISPLAY": display},
                            input=json.dumps(view), capture_output=True, text=True, timeout=60)
    assert window.returncode == 0, window.stderr  # tkinter is in the bundle
    assert json.loads(window.stdout) == {"action": None}  # nobody chose: the popup went by itself


async def test_the_frozen_demo_serves_its_pages_and_the_agent_answers(frozen: Path, tmp_path: Path) -> None:
    port = free_port()
    # The test consent policy: the demo site pairs with the code the agent drops for the test client.
    write_config(tmp_path, allowed=[])
    register_agent(port, tmp_path)
    proc = subprocess.Popen([str(frozen), "demo", "--port", str(port)], env=_env(tmp_path),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines: list[str] = []
        deadline = time.monotonic() + 60
        assert proc.stdout is not None
        while not any("Plateforme de démonstration" in line for line in lines):
            assert time.monotonic() < deadline and proc.poll() is None, "\n".join(lines)
            lines.append(proc.stdout.readline())
        demo = re.search(r"http://127\.0\.0\.1:\d+", "".join(lines))
        assert demo is not None
        async with await BridgeClient.connect(demo.group(0), ports=[port]) as client:
            hello = await client.hello()
            assert hello["product"] == "compagnon" and "job:sign" in hello["capabilities"]
            job = await client.run_job("diagnose", {}, timeout=60)
            assert job["state"] == "succeeded" and len(job["result"]["checks"]) == 8
        import urllib.request

        for page in ("/", "/signer", "/ouverture", "/js/compagnon.js", "/js/job-view.js", "/static/common.js"):
            with urllib.request.urlopen(demo.group(0) + page, timeout=10) as response:
                assert response.status == 200, page
    finally:
        proc.terminate()
        proc.wait(20)
