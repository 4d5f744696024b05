"""installers/linux: a per-user install (no sudo) in a temporary HOME, the installed agent
answering a page, then the uninstall — the real home and the real systemd are never touched."""

from __future__ import annotations

import configparser
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from bridge_protocol.client import BridgeClient
from tests.support.agent_process import ROOT, free_port, isolated_env, write_config

INSTALL = ROOT / "installers" / "linux" / "install.sh"
UNINSTALL = ROOT / "installers" / "linux" / "uninstall.sh"
ORIGIN = "https://marches.example.fr"

pytestmark = pytest.mark.timeout(180)


def _env(home: Path, systemctl: Path) -> dict[str, str]:
    env = isolated_env(home)
    env.pop("PYTHONPATH", None)  # the installed copy must run, not this checkout
    env.update(COMPAGNON_SYSTEMCTL=str(systemctl), XDG_BIN_HOME=str(home / ".local/bin"))
    return env


def _run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=150)
    assert result.returncode == 0, f"{args[0]} failed:\n{result.stdout}\n{result.stderr}"
    return result


def _desktop_entry(path: Path) -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(path, encoding="utf-8")
    return dict(parser["Desktop Entry"])


async def test_linux_install_serve_and_uninstall(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    systemctl = tmp_path / "systemctl"   # records what the installers ask of systemd --user
    calls = tmp_path / "systemctl.log"
    systemctl.write_text(f'#!/bin/sh\necho "$*" >> "{calls}"\n', encoding="utf-8")
    systemctl.chmod(0o755)
    env = _env(home, systemctl)
    install = ["sh", str(INSTALL), "--system-site-packages", "--no-deps", "--from", str(ROOT),
               "--python", sys.executable]

    _run(install, env, tmp_path)
    _run(install, env, tmp_path)   # idempotent: the same result the second time

    data = home / ".local/share/compagnon"
    launcher = data / "bin/compagnon"
    app = data / "app"
    version = _run([str(home / ".local/bin/compagnon"), "--version"], env, tmp_path).stdout.split()[-1]
    assert os.readlink(app / "current") == f"versions/{version}"
    assert [p.name for p in (app / "versions").iterdir()] == [version]
    assert not (app / "previous").exists()
    assert (app / "current/venv/bin/compagnon").is_file()
    assert os.readlink(home / ".local/bin/compagnon") == str(launcher)
    assert (data / "bin/launcher.py").read_bytes() == (ROOT / "installers/common/launcher.py").read_bytes()
    # The installed copy runs, not this checkout.
    where = _run([str(app / "current/venv/bin/python"), "-c", "import agent; print(agent.__file__)"], env, tmp_path)
    assert Path(where.stdout.strip()).resolve().is_relative_to((app / "versions" / version / "venv").resolve())

    entry = _desktop_entry(home / ".config/autostart/compagnon.desktop")
    assert entry["Exec"] == f"{launcher} tray"
    assert entry["X-GNOME-Autostart-enabled"] == "true"
    assert entry["Type"] == "Application" and entry["Name"] and entry["Comment[en]"] != entry["Comment"]
    unit = (home / ".config/systemd/user/compagnon.service").read_text(encoding="utf-8")
    assert f"ExecStart={launcher} serve\n" in unit
    assert "Restart=on-failure\n" in unit and "WantedBy=default.target\n" in unit
    assert "User=" not in unit and "sudo" not in unit
    assert "--user enable compagnon.service" in calls.read_text()

    # The installed agent, started through the launcher, answers a page of an allowed origin.
    write_config(home, allowed=[ORIGIN])
    port = free_port()
    proc = subprocess.Popen([str(launcher), "serve", "--port", str(port)], env=env, cwd=tmp_path,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert proc.stdout
        for line in proc.stdout:
            lines.append(line)
            if "en écoute sur ws://" in line:
                ready.set()
        ready.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        assert ready.wait(30) and proc.poll() is None, "".join(lines)
        async with await BridgeClient.connect(origin=ORIGIN, ports=[port]) as client:
            hello = await client.hello()
        assert hello["product"] == "compagnon" and hello["version"] == version and hello["protocol"] == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0, "".join(lines)

    # Uninstall: the program, launchers, autostart and unit go; the user's settings and keys stay.
    (data / "keys").mkdir()
    (data / "keys/bi-cle.p12").write_bytes(b"not a real key")
    for _ in range(2):   # idempotent
        _run(["sh", str(UNINSTALL)], env, tmp_path)
    assert not (home / ".config/autostart/compagnon.desktop").exists()
    assert not (home / ".config/systemd/user/compagnon.service").exists()
    assert not os.path.lexists(home / ".local/bin/compagnon")
    assert not app.exists() and not launcher.exists()
    assert "--user disable --now compagnon.service" in calls.read_text()
    assert (home / ".config/compagnon/config.toml").exists()
    assert (data / "keys/bi-cle.p12").exists()

    _run(["sh", str(UNINSTALL), "--purge"], env, tmp_path)
    assert not (home / ".config/compagnon").exists() and not (home / ".local/state/compagnon").exists()
    assert (data / "keys/bi-cle.p12").exists()   # keys are never deleted by a script
    assert sorted(p.name for p in data.iterdir()) == ["keys"]


def test_install_without_systemd_user_writes_the_unit_and_says_so(tmp_path: Path) -> None:
    """No systemctl: the install goes on (unit written, not enabled) and prints a note."""
    home = tmp_path / "home"
    home.mkdir()
    env = _env(home, tmp_path / "no-systemctl")
    result = _run(["sh", str(INSTALL), "--system-site-packages", "--no-deps", "--no-service",
                   "--python", sys.executable], env, tmp_path)
    assert "systemd --user n'est pas disponible" in result.stdout
    assert (home / ".config/systemd/user/compagnon.service").is_file()
    assert not (home / ".config/systemd/user/default.target.wants").exists()
    _run(["sh", str(UNINSTALL), "--purge"], env, tmp_path)
    assert not (home / ".local/share/compagnon").exists()
    assert not (home / ".config/systemd/user/compagnon.service").exists()
