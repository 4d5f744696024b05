"""Building a version folder from verified wheels: ``python -m venv`` then ``pip --no-index``.

The install step is injectable (``Installer``: any callable taking an InstallRequest): the tests
use a fake that only writes ``venv/bin/compagnon``. The default, ``VenvInstaller``:

1. ``python -m venv <version>/venv`` with the running interpreter's base Python;
2. when the manifest says the dependencies are unchanged, copies the running environment's
   site-packages into the new one, leaving out Compagnon's own files, and installs the new wheel
   with ``--no-deps``; otherwise installs it with its dependencies, which must all be wheels of
   the manifest (``--no-index --find-links <staging>``): nothing unverified is ever installed;
3. checks that ``venv/bin/compagnon --version`` prints ``compagnon <version>``, as the installers do;

pip runs with ``PIP_*`` (and ``PYTHON*``) variables removed and ``PIP_CONFIG_FILE`` set to the
null device, so that no user or site configuration adds an index or another find-links folder.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .manifest import UpdateRefused


@dataclass(frozen=True)
class InstallRequest:
    version: str
    #: ``app/versions/<version>`` (created, empty): the venv goes to ``version_dir / "venv"``.
    version_dir: Path
    #: The verified ``compagnon-<version>-….whl``.
    wheel: Path
    #: Every verified wheel of the manifest, all in ``find_links``.
    wheels: tuple[Path, ...]
    find_links: Path
    dependencies_unchanged: bool

    @property
    def venv_dir(self) -> Path:
        return self.version_dir / "venv"


Installer = Callable[[InstallRequest], None]


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(("PIP_", "PYTHON"))}
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def _run(cmd: list[str], timeout: float) -> None:
    try:
        done = subprocess.run(cmd, env=_clean_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UpdateRefused("install_failed", f"{Path(cmd[0]).name} : {exc}") from None
    if done.returncode != 0:
        tail = done.stdout.decode("utf-8", "replace").strip().splitlines()[-3:]
        raise UpdateRefused("install_failed", f"code {done.returncode} : {' / '.join(tail)[:400]}")


def own_top_level_entries(distribution: str = "compagnon") -> set[str]:
    """The top-level names in site-packages that belong to ``distribution`` (left out of a copy)."""
    from importlib import metadata

    try:
        dist = metadata.distribution(distribution)
    except metadata.PackageNotFoundError:
        return set()
    names = {Path(str(f)).parts[0] for f in (dist.files or []) if not str(f).startswith("..")}
    return {n for n in names if n not in ("", ".", "__pycache__")}


def copy_site_packages(source: Path, target: Path, exclude: set[str]) -> None:
    """Copy ``source``'s entries into ``target``, except ``exclude`` and what ``target`` already has.

    A distribution already in ``target`` (pip from ensurepip) keeps its own files: its other
    versions' ``.dist-info`` folders are not copied either.
    """
    target.mkdir(parents=True, exist_ok=True)
    present = {p.name for p in target.iterdir()}
    present_dists = {n.split("-")[0].lower().replace("_", "-") for n in present if n.endswith(".dist-info")}
    for entry in sorted(source.iterdir()):
        name = entry.name
        if name in exclude or name in present:
            continue
        if name.endswith(".dist-info") and name.split("-")[0].lower().replace("_", "-") in present_dists:
            continue
        destination = target / name
        if entry.is_dir() and not entry.is_symlink():
            shutil.copytree(entry, destination, symlinks=True)
        else:
            shutil.copy2(entry, destination, follow_symlinks=False)


class VenvInstaller:
    """The default installer (see the module docstring)."""

    def __init__(self, python: str | None = None, with_pip: bool = True, timeout: float = 900.0,
                 site_packages: Path | None = None) -> None:
        self.python = python or sys.executable
        #: Without pip in the new venv, pip runs from this environment with ``--python`` (faster;
        #: but that version could then not stage the next update itself).
        self.with_pip = with_pip
        self.timeout = timeout
        self.site_packages = site_packages or Path(sysconfig.get_paths()["purelib"])

    def __call__(self, request: InstallRequest) -> None:
        venv = request.venv_dir
        _run([self.python, "-m", "venv", *([] if self.with_pip else ["--without-pip"]), str(venv)], self.timeout)
        venv_python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
        if request.dependencies_unchanged:
            target = subprocess.run(
                [str(venv_python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                env=_clean_env(), capture_output=True, text=True, timeout=60, check=False,
            ).stdout.strip()
            if not target:
                raise UpdateRefused("install_failed", "site-packages du nouvel environnement introuvable")
            copy_site_packages(self.site_packages, Path(target), own_top_level_entries())
        pip = ([str(venv_python), "-m", "pip"] if self.with_pip
               else [sys.executable, "-m", "pip", "--python", str(venv_python)])
        _run([*pip, "install", "--no-index", "--find-links", str(request.find_links), "--no-cache-dir",
              "--no-input", "--disable-pip-version-check", *(["--no-deps"] if request.dependencies_unchanged else []),
              str(request.wheel)], self.timeout)
        # As the installers check a version folder (installers/README.md): it starts and says its version.
        command = venv / ("Scripts/compagnon.exe" if os.name == "nt" else "bin/compagnon")
        try:
            answer = subprocess.run([str(command), "--version"], env=_clean_env(), stdin=subprocess.DEVNULL,
                                    capture_output=True, text=True, timeout=120, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise UpdateRefused("install_failed", f"compagnon --version : {exc}") from None
        if answer.stdout.strip() != f"compagnon {request.version}":
            raise UpdateRefused("install_failed", f"compagnon --version : {(answer.stdout + answer.stderr).strip()[:200]!r}")
