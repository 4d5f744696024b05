"""Run the real agent (``python -m agent serve``) in a temporary HOME."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def isolated_env(home: Path, *, suite_tokens: bool = True) -> dict[str, str]:
    """Environment of a process whose platformdirs folders all live under ``home``.

    ``suite_tokens=False`` leaves out the suite's SoftHSM configuration (``SOFTHSM2_CONF``, set in
    this process once any token test ran): a process that must see only the stores its test names
    (a listing, a count) takes that, or its result depends on which tests ran before it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "COMPAGNON_"))}
    if not suite_tokens:
        env.pop("SOFTHSM2_CONF", None)
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_STATE_HOME=str(home / ".local/state"),
        XDG_DATA_HOME=str(home / ".local/share"),
        XDG_CACHE_HOME=str(home / ".cache"),
        PYTHONUNBUFFERED="1",
    )
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def write_config(home: Path, *, allowed: list[str], preapproved: list[str] | None = None,
                 consent: str = "approve-all-for-tests", max_concurrent: int = 4, extra: str = "",
                 consent_timeout: float = 5, jobs: str = "") -> Path:
    path = home / ".config" / "compagnon" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    quoted = lambda items: "[" + ", ".join(f'"{i}"' for i in items) + "]"  # noqa: E731
    path.write_text(
        f"[bridge]\nallowed_origins = {quoted(allowed)}\n\n"
        f"[pairing]\npreapproved = {quoted(preapproved or [])}\n\n"
        f"[jobs]\nmax_concurrent = {max_concurrent}\n{jobs}\n"
        f'[consent]\npolicy = "{consent}"\ntimeout_seconds = {consent_timeout}\n{extra}',
        encoding="utf-8",
    )
    return path


@dataclass
class AgentProcess:
    home: Path
    port: int
    args: list[str] = field(default_factory=list)
    #: More environment variables for the agent (e.g. COMPAGNON_BROWSER for the console's tests).
    extra_env: dict[str, str] = field(default_factory=dict)
    #: The open-file limit (soft and hard) the agent starts with, as a session would set it.
    open_files: int | None = None
    proc: subprocess.Popen[str] | None = None
    lines: list[str] = field(default_factory=list)
    started_at: float = 0.0

    @property
    def state_dir(self) -> Path:
        return self.home / ".local/state/compagnon"

    @property
    def log_file(self) -> Path:
        return self.state_dir / "log" / "compagnon.log"

    def start(self, timeout: float = 15.0) -> AgentProcess:
        from .pairing import register_agent

        register_agent(self.port, self.home)
        self.lines = []
        cmd = [sys.executable, "-m", "agent", "serve", "--port", str(self.port), *self.args]
        self.started_at = time.monotonic()
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, env={**isolated_env(self.home), **self.extra_env}, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, encoding="utf-8",
            preexec_fn=self._limit if self.open_files else None,
        )
        ready = threading.Event()

        def read() -> None:
            assert self.proc and self.proc.stdout
            for line in self.proc.stdout:
                self.lines.append(line.rstrip("\n"))
                if "en écoute sur ws://" in line:
                    ready.set()
            ready.set()

        threading.Thread(target=read, daemon=True).start()
        if not ready.wait(timeout) or self.proc.poll() is not None:
            output = "\n".join(self.lines)
            self.kill()
            raise RuntimeError(f"agent did not start:\n{output}")
        return self

    def _limit(self) -> None:
        import resource

        assert self.open_files is not None
        resource.setrlimit(resource.RLIMIT_NOFILE, (self.open_files, self.open_files))

    def output(self) -> str:
        return "\n".join(self.lines)

    def stop(self) -> int | None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.wait() if self.proc else None

    def kill(self) -> None:
        """``kill -9``: no chance to clean up, as in a crash."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
