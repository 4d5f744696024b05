"""The launcher's pointer file ``app/current.txt`` (Windows' switch, tested here on Linux).

On Windows the active and previous versions are named by ``current.txt`` (no junction, no symbolic
link): installers/common/launcher.py writes it, agent/update/layout.py reads it. Here the pointer
mode is chosen by the file's presence, as on any system where it exists.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest

from agent.update.layout import InstallLayout
from tests.support.agent_process import isolated_env
from tests.support.update import LAUNCHER, make_layout, read_json, write_fake_version


def _launcher() -> ModuleType:
    spec = importlib.util.spec_from_file_location("compagnon_launcher_pointer", LAUNCHER)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _versions(app: Path, *names: str) -> None:
    for name in names:
        (app / "versions" / name).mkdir(parents=True)


def test_switch_writes_both_names_in_one_file_that_both_sides_read(tmp_path: Path) -> None:
    launcher = _launcher()
    _versions(tmp_path, "0.1.0", "0.2.0")
    (tmp_path / "current.txt").write_text("0.1.0\n")
    layout, agent_side = launcher.Layout(tmp_path), InstallLayout(tmp_path)
    assert layout.uses_pointer() and layout.current() == "0.1.0" and layout.previous() is None
    assert agent_side.current_version() == "0.1.0" and agent_side.installed()

    layout.switch("0.2.0", "0.1.0")

    assert (tmp_path / "current.txt").read_text() == "0.2.0\n0.1.0\n"
    assert (layout.current(), layout.previous()) == ("0.2.0", "0.1.0")
    assert (agent_side.current_version(), agent_side.previous_version()) == ("0.2.0", "0.1.0")
    # No link made, no temporary left.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["current.txt", "versions"]
    layout.switch("0.1.0", None)
    assert (tmp_path / "current.txt").read_text() == "0.1.0\n" and layout.previous() is None


def test_the_pointer_wins_over_links_and_links_remain_without_it(tmp_path: Path) -> None:
    launcher = _launcher()
    _versions(tmp_path, "0.1.0", "0.2.0")
    os.symlink("versions/0.1.0", tmp_path / "current")
    layout, agent_side = launcher.Layout(tmp_path), InstallLayout(tmp_path)
    assert not layout.uses_pointer() and layout.current() == agent_side.current_version() == "0.1.0"
    layout.switch("0.2.0", "0.1.0")  # links on POSIX while no pointer file exists
    assert os.readlink(tmp_path / "current") == "versions/0.2.0" and not (tmp_path / "current.txt").exists()
    (tmp_path / "current.txt").write_text("0.1.0\n")
    assert layout.current() == agent_side.current_version() == "0.1.0"
    assert layout.previous() is None and agent_side.previous_version() is None  # the links are not read


@pytest.mark.parametrize("text", ["../outside\n", ".install-old-0.1.0-12\n", "0.9.9\n", "\n", "",
                                  "versions/0.1.0\n", "C:\\Windows\n", "\xff\xfe"])
def test_a_pointer_naming_no_version_folder_names_nothing(tmp_path: Path, text: str) -> None:
    launcher = _launcher()
    _versions(tmp_path, "0.1.0", ".install-old-0.1.0-12")
    (tmp_path / "outside").mkdir()
    (tmp_path / "current.txt").write_bytes(text.encode("latin-1"))
    assert launcher.Layout(tmp_path).current() is None
    assert InstallLayout(tmp_path).current_version() is None and not InstallLayout(tmp_path).installed()


def test_crlf_pointer_as_windows_writes_it(tmp_path: Path) -> None:
    _versions(tmp_path, "0.1.0", "0.2.0")
    (tmp_path / "current.txt").write_bytes(b"0.2.0\r\n0.1.0\r\n")
    layout = _launcher().Layout(tmp_path)
    assert (layout.current(), layout.previous()) == ("0.2.0", "0.1.0")
    assert InstallLayout(tmp_path).previous_version() == "0.1.0"


def test_a_switch_interrupted_before_the_rename_leaves_the_old_version(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    launcher = _launcher()
    _versions(tmp_path, "0.1.0", "0.2.0")
    (tmp_path / "current.txt").write_text("0.1.0\n")
    layout = launcher.Layout(tmp_path)

    def crash(*_args: object) -> None:
        raise OSError("power cut")

    monkeypatch.setattr(launcher.os, "replace", crash)
    with pytest.raises(OSError, match="power cut"):
        layout.switch("0.2.0", "0.1.0")
    monkeypatch.undo()
    assert layout.current() == "0.1.0"
    # A process killed after writing its temporary leaves it behind: it counts for nothing.
    (tmp_path / ".current.txt.4242.part").write_text("0.2.0\n0.1.0\n")
    assert layout.current() == "0.1.0" and InstallLayout(tmp_path).current_version() == "0.1.0"


def test_a_switch_killed_at_any_point_leaves_one_version_active(tmp_path: Path) -> None:
    """A child process switches back and forth and is killed at random moments: every reading in
    between, and the state it leaves, names one of the two versions, never none."""
    _versions(tmp_path, "0.1.0", "0.2.0")
    (tmp_path / "current.txt").write_text("0.1.0\n")
    script = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('l', {str(LAUNCHER)!r})\n"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
        f"layout = m.Layout(__import__('pathlib').Path({str(tmp_path)!r}))\n"
        "print('go', flush=True)\n"
        "while True:\n"
        "    layout.switch('0.2.0', '0.1.0'); layout.switch('0.1.0', '0.2.0')\n"
    )
    layout, agent_side = _launcher().Layout(tmp_path), InstallLayout(tmp_path)
    for delay in (0.0, 0.003, 0.011, 0.025, 0.05):
        child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
        assert child.stdout is not None and child.stdout.readline() == "go\n"
        deadline = time.monotonic() + delay
        while time.monotonic() < deadline:
            assert layout.current() in ("0.1.0", "0.2.0")
        child.kill()
        child.wait()
        assert layout.current() in ("0.1.0", "0.2.0")
        assert agent_side.current_version() == layout.current()
        assert layout.previous() in (None, {"0.1.0": "0.2.0", "0.2.0": "0.1.0"}[layout.current()])


# -- the launcher's trial with the pointer (fake versions: shell scripts) ----------------------------


def _install(tmp_path: Path) -> tuple[Path, Path, Path]:
    home = tmp_path / "home"
    app = home / ".local/share/compagnon/app"
    ready = home / ".local/state/compagnon/ready.json"
    make_layout(app, "0.1.0", ready, pointer=True)
    return home, app, ready


def _pending(app: Path, ready: Path, version: str, health_timeout: float = 10.0) -> None:
    state = {"format": 1, "pending": {"version": version, "from": "0.1.0", "ready_file": str(ready),
                                      "audit_dir": str(ready.parent / "audit"), "health_timeout": health_timeout}}
    (app / "update-state.json").write_text(json.dumps(state))


def _serve(home: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, str(LAUNCHER), "serve"], env=isolated_env(home),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait_ready(ready: Path, version: str) -> dict:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        info = read_json(ready)
        if info and info.get("version") == version:
            return info
        time.sleep(0.05)
    raise AssertionError(read_json(ready))


def _stop(process: subprocess.Popen[str]) -> str:
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
    assert process.stdout is not None
    return process.stdout.read()


def test_the_launcher_applies_and_rolls_back_through_the_pointer(tmp_path: Path) -> None:
    home, app, ready = _install(tmp_path)
    write_fake_version(app, "0.2.0", ready)
    _pending(app, ready, "0.2.0")
    process = _serve(home)
    try:
        _wait_ready(ready, "0.2.0")
        deadline = time.monotonic() + 10
        while read_json(app / "update-state.json").get("trial") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert (app / "current.txt").read_text() == "0.2.0\n0.1.0\n"
        assert not (app / "current").exists() and not (app / "previous").exists()
    finally:
        _stop(process)

    write_fake_version(app, "0.3.0", ready, mode="exit1")
    state = read_json(app / "update-state.json")
    state["pending"] = {"version": "0.3.0", "from": "0.2.0", "ready_file": str(ready),
                        "audit_dir": str(ready.parent / "audit"), "health_timeout": 10.0}
    (app / "update-state.json").write_text(json.dumps(state))
    ready.unlink()
    process = _serve(home)
    try:
        info = _wait_ready(ready, "0.2.0")
        assert info["pid"] == process.pid  # the version before, exec'd in the launcher's place
        assert (app / "current.txt").read_text() == "0.2.0\n0.1.0\n"  # as it was before the attempt
        assert list(read_json(app / "update-state.json")["failed"]) == ["0.3.0"]
    finally:
        output = _stop(process)
    assert "retour à la version 0.2.0" in output


def test_a_crash_between_the_trial_and_the_switch_is_resumed(tmp_path: Path) -> None:
    """The launcher writes the trial first, then the pointer: killed in between, the old version is
    still active, and the next start switches and runs the trial."""
    home, app, ready = _install(tmp_path)
    write_fake_version(app, "0.2.0", ready)
    trial = {"version": "0.2.0", "from": "0.1.0", "previous_before": None, "launcher_pid": None,
             "ready_file": str(ready), "audit_dir": str(ready.parent / "audit"), "health_timeout": 10.0}
    (app / "update-state.json").write_text(json.dumps({"format": 1, "pending": None, "trial": trial}))
    assert _launcher().Layout(app).current() == "0.1.0"
    process = _serve(home)
    try:
        _wait_ready(ready, "0.2.0")
        assert (app / "current.txt").read_text() == "0.2.0\n0.1.0\n"
    finally:
        _stop(process)
