"""What the running agent does for updates: the health signal and the hints of ``agent.hello``.

- ``write_ready``: once the bridge listens, the agent writes ``state_dir/ready.json``
  (``{"pid", "version", "port", "time"}``, atomically). The launcher
  (installers/common/launcher.py) waits for it to declare a freshly applied version healthy.
- ``hello_hints``: ``update_required`` when a page's ``min_version`` is above the running version,
  and ``update_available``, the newer version found by the last manifest check (from
  ``app/update-state.json``; re-read only when that file changes).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from .. import __version__
from ..audit import utc_timestamp
from ..fsutil import atomic_write_bytes
from .layout import STATE_FILE
from .semver import InvalidVersion, Version

log = logging.getLogger(__name__)

READY_FILE = "ready.json"


def write_ready(state_dir: Path, port: int) -> None:
    """``state_dir/ready.json``: this process listens and is healthy (never fails the agent)."""
    info = {"pid": os.getpid(), "version": __version__, "port": port, "time": utc_timestamp()}
    try:
        atomic_write_bytes(state_dir / READY_FILE, json.dumps(info).encode(), durable=False)
    except OSError:
        log.exception("cannot write %s", state_dir / READY_FILE)


def clear_ready(state_dir: Path) -> None:
    """Remove ``ready.json`` if this process wrote it."""
    path = state_dir / READY_FILE
    try:
        if json.loads(path.read_bytes()).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError, AttributeError):
        pass


_cache: dict[Path, tuple[tuple[int, int, str], str | None]] = {}


def available_version(app_dir: Path, running: str = __version__) -> str | None:
    """The newer version the last check found (None: none known, or it failed to start here)."""
    path = app_dir / STATE_FILE
    try:
        stat = path.stat()
    except OSError:
        return None
    key = (stat.st_mtime_ns, stat.st_size, running)
    cached = _cache.get(path)
    if cached is not None and cached[0] == key:
        return cached[1]
    available: str | None = None
    try:
        state: Any = json.loads(path.read_bytes())
        candidate = state["last_check"]["available"]
        failed = state.get("failed") or {}
        if isinstance(candidate, str) and candidate not in failed and Version.parse(candidate) > Version.parse(running):
            available = candidate
    except (OSError, ValueError, KeyError, TypeError, InvalidVersion):
        available = None
    _cache[path] = (key, available)
    return available


def hello_hints(app_dir: Path, min_version: str | None, running: str = __version__) -> tuple[bool, str | None]:
    """(``update_required``, ``update_available``) for an ``agent.hello`` answer."""
    required = False
    if min_version:
        try:
            required = Version.parse(running) < Version.parse(min_version)
        except InvalidVersion:
            required = False
    return required, available_version(app_dir, running)
