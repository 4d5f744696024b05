"""Windows details under Wine: a console, a user folder with accents, paths longer than MAX_PATH.

``compagnon sign`` runs in a pseudo-terminal, which Wine turns into a Windows console (CPython
then writes with ``WriteConsoleW``, and ``getpass`` reads keys with ``getwch``): the French prompt
and progress read right, and a password with accents typed at the prompt opens the PKCS#12 file.
In the same command: a document in ``C:\\Users\\Jérôme\\Documents`` (the Wine prefix's own drive
C:) and one whose full path is longer than 260 characters (MAX_PATH). Both signatures are judged by
``openssl cms -verify``. (The piped case: test_cli_under_wine.py.)
"""

from __future__ import annotations

import re
from pathlib import Path, PureWindowsPath

import pexpect

from tests.support.pdf import make_pdf_file
from tests.support.pki import TestPki
from tests.support.verifiers import openssl_cms_ok
from tests.support.wine import ROOT, WinePython, unixpath, winpath

PASSWORD = "Sésame, ouvre-toi"
#: Terminal control sequences Wine's console writes around its output (cursor shown/hidden, erase);
#: it moves the cursor forward ("ESC [ n C") where the text has spaces.
CONTROL = re.compile(rb"\x1b\[([0-9;?]*)([A-Za-z])")


def screen(raw: bytes) -> bytes:
    """What the terminal shows of ``raw``: cursor moves forward as spaces, other sequences dropped."""
    return CONTROL.sub(lambda m: b" " * int(m.group(1) or 1) if m.group(2) == b"C" else b"", raw)


def _linux_path(wine: WinePython, printed: str) -> Path:
    """The Linux file behind a ``C:`` or ``Z:`` path printed by the agent (Wine's C: is the prefix's
    drive_c, its names matched without regard to case, as Windows does)."""
    windows = PureWindowsPath(printed)
    if windows.drive.upper() == "Z:":
        return unixpath(printed)
    assert windows.drive.upper() == "C:", printed
    current = wine.prefix / "drive_c"
    for part in windows.parts[1:]:
        matches = [p for p in current.iterdir() if p.name.lower() == part.lower()] if current.is_dir() else []
        current = matches[0] if matches else current / part
    return current


def test_console_accents_user_folder_and_long_path(wine: WinePython, win_config: Path, test_pki: TestPki,
                                                   tmp_path: Path) -> None:
    users = next(p for p in (wine.prefix / "drive_c").iterdir() if p.name.lower() == "users")
    documents = users / "Jérôme" / "Documents"
    documents.mkdir(parents=True, exist_ok=True)
    for old in documents.glob("Réponse AO*"):
        old.unlink()
    answer = make_pdf_file(documents / "Réponse AO.pdf", title="Réponse à l'appel d'offres")
    deep = tmp_path
    for n in range(4):
        deep = deep / f"Consultation n° 2026-00{n} — Réponse de l'entreprise Dupont & associés"
    deep.mkdir(parents=True)
    memoir = make_pdf_file(deep / "Mémoire technique détaillé.pdf", title="Mémoire technique")
    assert len(winpath(memoir)) > 300
    p12 = test_pki.p12("qualified", PASSWORD)

    command = wine.command("-c", _bootstrap(), "sign", r"C:\Users\Jérôme\Documents\Réponse AO.pdf", winpath(memoir),
                           "--format", "cades", "--p12", winpath(p12), "--config", winpath(win_config))
    env = wine.env({"LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"})
    # A wide terminal: the console wraps its lines at the terminal's width, and the long path is one line.
    console = pexpect.spawn(command[0], command[1:], cwd=str(ROOT), env=env, timeout=240, dimensions=(50, 2000))
    seen = b""
    try:
        seen += _read_until(console, f"Mot de passe de {p12.name} : ".encode())
        console.sendline(PASSWORD)
        seen += _read_until(console, None)
    finally:
        console.close(force=True)
    text = screen(seen).decode("utf-8").replace("\r", "")  # strict: UTF-8 on this terminal
    assert console.exitstatus == 0, text
    assert "Signature des fichiers…" in text and "100 % Terminé" in text  # the bar's end line
    printed = [line.strip() for line in text.splitlines() if line.strip().endswith(".p7s")]
    assert len(printed) == 2, text
    signatures = [_linux_path(wine, line) for line in printed]
    assert signatures[0].parent == documents and signatures[0].name.startswith("Réponse AO.pdf - ")
    assert signatures[1].parent == deep and signatures[1].name.startswith("Mémoire technique détaillé.pdf - ")
    assert openssl_cms_ok(signatures[0], answer, test_pki)
    assert openssl_cms_ok(signatures[1], memoir, test_pki)
    assert not openssl_cms_ok(signatures[0], memoir, test_pki)


def _read_until(console: pexpect.spawn, wanted: bytes | None, timeout: float = 240) -> bytes:
    """The console's output until ``wanted`` shows (control sequences aside: Wine's console writes
    them between characters), or until it ends when ``wanted`` is None."""
    import time

    data = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            data += console.read_nonblocking(4096, timeout=1)
        except pexpect.TIMEOUT:
            pass
        except pexpect.EOF:
            assert wanted is None, screen(data)
            console.wait()
            return data
        if wanted is not None and wanted in screen(data):
            return data
    raise AssertionError(f"not seen in time: {wanted!r}\n{screen(data)!r}")


def _bootstrap() -> str:
    """``python -m agent`` from this source tree (as ``WinePython.agent`` runs it)."""
    return (f"import runpy, sys; sys.path.insert(0, {winpath(ROOT)!r}); "
            "runpy.run_module('agent', run_name='__main__', alter_sys=True)")
