"""The per-user install layout (owned by the installers) and the update state kept beside it.

    <data>/compagnon/                     ($XDG_DATA_HOME/compagnon on Linux)
      bin/compagnon                       shell launcher (installers) → installers/common/launcher.py
      app/versions/<version>/venv/        one virtual environment per version
      app/current  -> versions/<version>  the active version (relative symlink; Linux, macOS)
      app/previous -> versions/<version>  the one before (optional)
      app/current.txt                     Windows: line 1 the active version, line 2 the previous
                                          one (written whole then renamed: no link needed)
      app/staging/<version>/              verified downloads while a version is being built
      app/update-state.json               the update state below (written atomically)
      app/.update.lock                    lock of update-state.json (agent and launcher)
      app/.lock                           one installer or stager at a time (install.sh too)

``update-state.json`` (shared with the launcher, which is standard-library only; unknown
members are kept by both sides)::

    {"format": 1,
     "pending": {"version": "0.2.0", "from": "0.1.0", "staged_at": ISO, "manifest_sha256": hex,
                 "ready_file": "<state_dir>/ready.json", "audit_dir": "<state_dir>/audit",
                 "health_timeout": 30.0} | null,
     "trial":   {"version", "from", "previous_before", "started_at", "launcher_pid", …} | null,
     "failed":  {"0.2.0": {"time": ISO, "reason": "…"}},
     "last_check": {"time": ISO, "url": "…", "running": "0.1.0", "available": "0.2.0" | null,
                    "error": null | "<code>", "notes": {"fr": "…"}}}

The agent writes ``pending`` (``compagnon update apply``) and ``last_check``; the launcher turns
``pending`` into ``trial`` when it switches the active version, then clears ``trial`` (healthy) or adds the
version to ``failed`` (rolled back). Every read-modify-write holds ``.update.lock``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..fsutil import atomic_write_bytes
from .manifest import UpdateRefused

STATE_FILE = "update-state.json"
#: The active and previous versions on Windows (installers/common/launcher.py writes it): when it
#: exists it is what counts, on any system; otherwise the links ``current`` and ``previous`` do.
POINTER_FILE = "current.txt"
LOCK_FILE = ".update.lock"
#: The same lock as installers/linux/install.sh: one installer or updater at a time.
STAGING_LOCK = ".lock"
STATE_FORMAT = 1


def script_relpath() -> Path:
    """The ``compagnon`` command inside a version folder."""
    return Path("venv/Scripts/compagnon.exe") if os.name == "nt" else Path("venv/bin/compagnon")


class InstallLayout:
    def __init__(self, app_dir: Path) -> None:
        self.app_dir = app_dir
        self.versions_dir = app_dir / "versions"
        self.staging_root = app_dir / "staging"
        self.current_link = app_dir / "current"
        self.previous_link = app_dir / "previous"
        self.pointer_path = app_dir / POINTER_FILE
        self.state_path = app_dir / STATE_FILE

    # -- versions ---------------------------------------------------------------------------------
    def version_dir(self, version: str) -> Path:
        return self.versions_dir / version

    def script(self, version: str) -> Path:
        return self.version_dir(version) / script_relpath()

    def staging_dir(self, version: str) -> Path:
        return self.staging_root / version

    def linked_version(self, link: Path) -> str | None:
        """The version folder name ``link`` points to (None when absent or not a version folder)."""
        try:
            text = os.readlink(link)
        except OSError:
            return None
        if text.startswith("\\\\?\\"):  # a Windows junction's target
            text = text[4:]
        target = Path(text)
        if not target.is_absolute():
            target = link.parent / target
        if target.parent.resolve() != self.versions_dir.resolve() or not target.is_dir():
            return None
        return target.name

    def version_named(self, name: str) -> str | None:
        """``name`` when it is a version folder of ``versions/`` (not a path, not a temporary)."""
        if not name or name.startswith(".") or any(c in name for c in "/\\:"):
            return None
        return name if self.version_dir(name).is_dir() else None

    def pointed_version(self, index: int) -> str | None:
        """Line ``index`` of ``current.txt`` (0: active, 1: previous) when it names a version folder."""
        try:
            lines = self.pointer_path.read_bytes().decode("utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            return None
        return self.version_named(lines[index].strip()) if len(lines) > index else None

    def _active(self, index: int, link: Path) -> str | None:
        if os.path.lexists(self.pointer_path):
            return self.pointed_version(index)
        return self.linked_version(link)

    def current_version(self) -> str | None:
        return self._active(0, self.current_link)

    def previous_version(self) -> str | None:
        return self._active(1, self.previous_link)

    def installed(self) -> bool:
        """Whether the installers' layout is here (``current.txt`` or ``app/current`` names a version folder)."""
        return self.current_version() is not None

    def installed_versions(self) -> list[str]:
        try:
            return sorted(p.name for p in self.versions_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
        except OSError:
            return []

    # -- state ----------------------------------------------------------------------------------
    def read_state(self) -> dict[str, Any]:
        """The update state ({} when absent or unreadable: nothing pending, nothing failed)."""
        try:
            data = json.loads(self.state_path.read_bytes())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def failed_versions(self, state: dict[str, Any] | None = None) -> set[str]:
        failed = (state if state is not None else self.read_state()).get("failed") or {}
        return set(failed) if isinstance(failed, dict) else set()

    def update_state(self, change: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
        """Apply ``change`` to the state under the lock and write it atomically; the new state."""
        with self._lock(LOCK_FILE, blocking=True):
            state = self.read_state()
            change(state)
            state["format"] = STATE_FORMAT
            atomic_write_bytes(self.state_path, json.dumps(state, indent=2, ensure_ascii=False).encode() + b"\n")
            return state

    @contextmanager
    def staging_lock(self) -> Iterator[None]:
        """Held while a version is downloaded and built; a second stager gets UpdateRefused("busy")."""
        with self._lock(STAGING_LOCK, blocking=False):
            yield

    @contextmanager
    def _lock(self, name: str, blocking: bool) -> Iterator[None]:
        self.app_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.app_dir / name, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if not _lock_fd(fd, blocking):
                raise UpdateRefused("busy")
            try:
                yield
            finally:
                _unlock_fd(fd)
        finally:
            os.close(fd)


def _lock_fd(fd: int, blocking: bool) -> bool:
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        os.lseek(fd, 0, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_LOCK if blocking else msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]
        except OSError:
            return False
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
    except BlockingIOError:
        return False
    return True


def _unlock_fd(fd: int) -> None:
    try:
        import fcntl
    except ImportError:
        import msvcrt

        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)  # type: ignore[attr-defined]
        return
    fcntl.flock(fd, fcntl.LOCK_UN)
