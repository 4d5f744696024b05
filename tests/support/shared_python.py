"""A Python with the project installed that every OS user can run (tests with real other users).

The suite's own interpreter may live where other users cannot read it (a pyenv under /root), so
processes run as another user get a virtual environment made from Debian's ``/usr/bin/python3``
under /opt, world-readable: the dependencies are installed once (kept while ``pyproject.toml``
keeps the same dependencies), the project itself on every test session.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

from tests.support.agent_process import ROOT

BASE = Path("/opt/compagnon-tests")
SYSTEM_PYTHON = Path("/usr/bin/python3")


def shared_python() -> Path:
    """The interpreter of the shared environment, the project freshly installed in it."""
    if not SYSTEM_PYTHON.exists():
        raise RuntimeError("Debian's python3 (/usr/bin/python3, with python3-venv) is needed: tests/run_all.sh installs it")
    stamp = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()[:16]
    venv = BASE / f"venv-{stamp}"
    python = venv / "bin" / "python"
    marker = venv / ".dependencies-installed"
    BASE.mkdir(parents=True, exist_ok=True)
    os.chmod(BASE, 0o755)
    if not marker.exists():
        subprocess.run([str(SYSTEM_PYTHON), "-m", "venv", "--clear", str(venv)], check=True, capture_output=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(ROOT)],
                       check=True, capture_output=True, timeout=900)
        marker.write_text(stamp)
    else:
        subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-deps",
                        "--force-reinstall", str(ROOT)], check=True, capture_output=True, timeout=600)
    subprocess.run(["chmod", "-R", "a+rX", str(venv)], check=True)
    return python
