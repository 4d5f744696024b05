"""The per-user Windows setup: ``installers/windows/compagnon.iss`` compiled and run under Wine.

The compiler is Inno Setup's own ``ISCC.exe`` from the npm registry (package ``innosetup``); the
package is made from the frozen build of test_frozen_build_under_wine.py. In a Wine user of the
test's own (a fresh prefix, no administrator), the silent setup (``/VERYSILENT /CURRENTUSER``) must
put the program in the user's ``%LOCALAPPDATA%\\Compagnon``, write the ``HKCU`` Run value, start
the agent (which answers ``agent.hello`` from Linux), and its uninstaller must remove the program,
the Run value and the shortcut, stop the agent and leave the user's settings.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent import __version__
from tests.support.agent_process import free_port
from tests.support.display import xvfb_display
from tests.support.wine import WinePython, wine_loader, winpath
from tests.support.wine_build import fresh_prefix, frozen_build, poll_hello, reg_query, setup_package, user_profile

ORIGIN = "https://plateforme.example"
#: The first test builds the program under Wine (tests/support/wine_build.py), about 10 minutes on a busy CI.
WINDOWS_TEST_TIMEOUT = 2400
RUN_KEY = r"HKCU\Software\Microsoft\Windows\CurrentVersion\Run"


@pytest.fixture
def windows_user(tmp_path: Path) -> Iterator[dict[str, str]]:
    """Wine's environment for a new Windows user, with a screen (Inno Setup's windows, the tray's icon)."""
    with xvfb_display() as display, fresh_prefix(tmp_path, {"DISPLAY": display}) as env:
        yield env


def _run_setup(env: dict[str, str], program: Path, *args: str, log: Path) -> int:
    """``program /VERYSILENT … ARGS`` under Wine; its exit status (its log in ``log``).

    Its output goes nowhere: the agent it starts would inherit a pipe and keep it open after it ends.
    """
    return subprocess.run([wine_loader(), str(program), "/VERYSILENT", "/SUPPRESSMSGBOXES", "/NORESTART", *args,
                           f"/LOG={winpath(log)}"], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL, timeout=600).returncode


def _wait_for(check, timeout: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(1)
    return bool(check())


async def test_the_setup_installs_for_the_user_starts_the_agent_and_uninstalls(
        wine: WinePython, windows_user: dict[str, str], tmp_path: Path) -> None:
    env = windows_user
    setup = setup_package(env, frozen_build(wine), __version__)
    local = user_profile(env) / "AppData" / "Local"
    # The user's own settings (kept by the uninstaller): a port of this test's, the platform allowed.
    port = free_port()
    settings = local / "Compagnon" / "config.toml"
    settings.parent.mkdir(parents=True)
    settings.write_text(f'[bridge]\nport = {port}\nport_fallback = false\nallowed_origins = ["{ORIGIN}"]\n',
                        encoding="utf-8")

    log = tmp_path / "setup.log"
    installed = _run_setup(env, setup, "/CURRENTUSER", log=log)
    log_text = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
    assert installed == 0, log_text[-3000:]

    program = local / "Compagnon" / "program"
    assert (program / "compagnonw.exe").is_file() and (program / "compagnon.exe").is_file(), log_text[-3000:]
    assert not (Path(env["WINEPREFIX"]) / "drive_c" / "Program Files" / "Compagnon").exists()
    run_value = reg_query(env, RUN_KEY, "Compagnon")
    expected = '"' + r"C:\users" + "\\" + user_profile(env).name + r'\AppData\Local\Compagnon\program\compagnonw.exe" tray'
    assert run_value is not None and run_value.lower() == expected.lower(), run_value
    shortcut = user_profile(env) / "AppData" / "Roaming" / "Microsoft" / "Windows" / "Start Menu" / "Programs"
    assert (shortcut / "Compagnon.lnk").is_file()

    hello = await poll_hello(ORIGIN, port, timeout=180)
    assert hello["product"] == "compagnon" and hello["version"] == __version__

    (uninstaller,) = (local / "Compagnon").glob("unins*.exe")
    assert _run_setup(env, uninstaller, log=tmp_path / "uninstall.log") == 0
    # The uninstaller goes on from a copy of itself in the temporary folder: wait for its end.
    assert _wait_for(lambda: not program.exists() and not list((local / "Compagnon").glob("unins*")), 180), \
        sorted(str(p.relative_to(local)) for p in (local / "Compagnon").rglob("*"))[:20]
    assert reg_query(env, RUN_KEY, "Compagnon") is None
    assert not (shortcut / "Compagnon.lnk").exists()
    assert settings.read_text(encoding="utf-8").startswith("[bridge]")  # the user's settings stay
    with pytest.raises(AssertionError, match="no agent.hello"):
        await poll_hello(ORIGIN, port, timeout=5)  # the agent was stopped
