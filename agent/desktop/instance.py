"""One desktop agent per user: a lock file, and a handover to the running one.

``state_dir/desktop.lock`` is held (``flock``, or ``msvcrt.locking`` on Windows) for as long as
the desktop agent runs; the system releases it when the process ends, even after a crash.
``state_dir/desktop.json`` (0600, in the 0700 state folder) tells the next launch how to reach it:
its pid, the console's loopback port and a per-launch *control token*. A second ``compagnon tray``
posts ``{"action": "open"}`` with that token to ``/console/control`` and exits 0; the running
agent opens its console (agent.desktop.console.server explains what the control token can and cannot do).
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO, Any

from ..fsutil import atomic_write_bytes, private_folder

LOCK_FILE = "desktop.lock"
INFO_FILE = "desktop.json"


class InstanceLock:
    """An exclusive, non-blocking lock on ``path``, held until ``release`` or the process ends."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stream: IO[bytes] | None = None

    def acquire(self) -> bool:
        """True when this process now holds the lock; False when another one does."""
        private_folder(self.path.parent, own=True)
        stream = open(self.path, "a+b")  # noqa: SIM115 - held open for the process's life
        try:
            if os.name == "nt":
                import msvcrt

                stream.seek(0)
                msvcrt.locking(stream.fileno(), msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]
            else:
                import fcntl

                fcntl.flock(stream.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            stream.close()
            return False
        if os.name == "posix":
            os.fchmod(stream.fileno(), 0o600)
        self._stream = stream
        return True

    def release(self) -> None:
        if self._stream is not None:
            self._stream.close()  # closing the descriptor releases the lock
            self._stream = None


def write_info(state_dir: Path, console_port: int, control_token: str) -> None:
    info = {"pid": os.getpid(), "console_port": console_port, "control": control_token}
    atomic_write_bytes(state_dir / INFO_FILE, json.dumps(info).encode(), 0o600)


def remove_info(state_dir: Path) -> None:
    try:
        info = json.loads((state_dir / INFO_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if info.get("pid") == os.getpid():
        (state_dir / INFO_FILE).unlink(missing_ok=True)


def read_info(state_dir: Path) -> dict[str, Any] | None:
    try:
        info = json.loads((state_dir / INFO_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(info, dict) or not isinstance(info.get("console_port"), int) or not isinstance(info.get("control"), str):
        return None
    return info


def send(state_dir: Path, action: str, wait: float = 10.0, **fields: Any) -> dict[str, Any] | None:
    """Ask the running desktop agent to do ``action``; its answer, or None when none answers.

    Waits up to ``wait`` seconds for an agent that is still starting (lock held, no info yet).
    Goes straight to 127.0.0.1, never through a proxy, and sends no ``Origin`` (the control path
    refuses any request that has one).
    """
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    body = json.dumps({"action": action, **fields}).encode()
    deadline = time.monotonic() + wait
    while True:
        info = read_info(state_dir)
        if info is not None:
            request = urllib.request.Request(
                f"http://127.0.0.1:{info['console_port']}/console/control", data=body, method="POST",
                headers={"Content-Type": "application/json", "X-Compagnon-Control": info["control"]},
            )
            try:
                with opener.open(request, timeout=10) as response:
                    answer = json.loads(response.read().decode("utf-8"))
                    return answer if isinstance(answer, dict) else {}
            except (urllib.error.URLError, OSError, ValueError):
                pass
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.2)
