"""Real OS users for tests where users matter (the suite runs as root and creates them)."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass(frozen=True)
class OsUser:
    name: str
    uid: int
    gid: int

    def run(self, argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` as this user (``runuser``), with a clean environment."""
        return subprocess.run(["runuser", "-u", self.name, "--", *argv], capture_output=True, text=True,
                              **kwargs)  # type: ignore[call-overload]  # kwargs are subprocess.run's

    def own(self, path: Path) -> Path:
        os.chown(path, self.uid, self.gid)
        return path


def os_user(name: str) -> OsUser:
    """The local user ``name``, created (no home, no login shell) if it does not exist yet."""
    if os.geteuid() != 0:
        raise RuntimeError("creating OS users needs root: the suite runs as root")
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
                       check=True, capture_output=True)
        entry = pwd.getpwnam(name)
    return OsUser(name, entry.pw_uid, entry.pw_gid)


@pytest.fixture
def open_home() -> Iterator[Path]:
    """A HOME that other users can traverse (0755, under /tmp), as real homes often are, so that
    only the agent's own permissions stand between another user and its files."""
    base = Path(tempfile.mkdtemp(prefix="compagnon-home-", dir="/tmp"))
    base.chmod(0o755)
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)
