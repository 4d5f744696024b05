"""tests/support/wine.py's cache: keyed by the dependency list, old environments pruned."""

from __future__ import annotations

import os
import time
from pathlib import Path

from tests.support.wine import UNUSED_DAYS, _prune, cache_key, windows_requirements


def test_cache_key_follows_the_windows_dependency_list() -> None:
    requirements = windows_requirements()
    assert not any(r.startswith("python-xlib") for r in requirements)  # Linux-only by marker
    assert any(r.startswith("cryptography") for r in requirements)
    assert cache_key(requirements) == cache_key(list(requirements))
    assert cache_key(requirements) != cache_key([*requirements, "tzdata"])


def test_environments_unused_for_days_are_pruned(tmp_path: Path) -> None:
    old, recent, preparing, current = (tmp_path / f"wine-{n}" for n in ("old", "recent", "preparing", "current"))
    for folder in (old, recent, preparing, current):
        folder.mkdir()
    for folder in (old, recent, current):
        (folder / "ready").write_text("prepared\n")
    past = time.time() - (UNUSED_DAYS + 1) * 86400
    os.utime(old / "ready", (past, past))
    os.utime(current / "ready", (past, past))
    _prune(tmp_path, keep=current)
    assert not old.exists()
    assert recent.is_dir() and preparing.is_dir() and current.is_dir()
