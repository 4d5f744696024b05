"""The Windows build: ``installers/windows/compagnon.spec`` built by PyInstaller under Wine, and run.

PyInstaller's own Windows wheel (its Windows bootloader inside) runs on the Windows CPython of
tests/support/wine.py; the result is cached by a hash of the sources (tests/support/wine_build.py).
The ``compagnon.exe`` made that way must print its version and, as ``compagnon serve``, answer
``agent.hello`` from a Linux client over 127.0.0.1 (Wine shares the loopback).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from agent import __version__
from tests.support.wine import WinePython, wine_loader, winpath
from tests.support.wine_build import frozen_build, hello_when_listening, start_frozen

from .conftest import write_windows_config

ORIGIN = "https://plateforme.example"
#: The first test builds the program under Wine (tests/support/wine_build.py), about 10 minutes on a busy CI.
WINDOWS_TEST_TIMEOUT = 2400


@pytest.fixture(scope="module")
def program(wine: WinePython) -> Path:
    return frozen_build(wine)


def test_the_spec_builds_both_programs_for_windows(program: Path) -> None:
    for name in ("compagnon.exe", "compagnonw.exe"):
        head = (program / name).read_bytes()[:0x400]
        assert head[:2] == b"MZ", name
        pe = int.from_bytes(head[0x3C:0x40], "little")
        assert head[pe:pe + 4] == b"PE\0\0" and head[pe + 4:pe + 6] == b"\x64\x86", name  # AMD64
        subsystem = int.from_bytes(head[pe + 24 + 68:pe + 24 + 70], "little")
        assert subsystem == (3 if name == "compagnon.exe" else 2), name  # console / windows GUI
    internal = program / "_internal"
    assert (internal / "bridge_protocol" / "schema").is_dir() and (internal / "agent" / "desktop" / "static").is_dir()


def test_the_frozen_program_prints_its_version(wine: WinePython, program: Path) -> None:
    result = subprocess.run([wine_loader(), str(program / "compagnon.exe"), "--version"], env=wine.env(),
                            stdin=subprocess.DEVNULL, capture_output=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.decode().strip() == f"compagnon {__version__}"


async def test_the_frozen_serve_answers_hello_from_linux(wine: WinePython, program: Path, tmp_path: Path) -> None:
    config = write_windows_config(tmp_path / "agent", extra=f'\n[bridge]\nallowed_origins = ["{ORIGIN}"]\n')
    process, port = start_frozen(wine.env(), program / "compagnon.exe", "serve", "--config", winpath(config))
    try:
        hello = await hello_when_listening(process, ORIGIN, port)
        assert hello["product"] == "compagnon" and hello["version"] == __version__ and hello["protocol"] == 1
    finally:
        process.kill()
        process.wait(30)
