"""Run a child process under a memory cap and a time limit, and measure what it really used.

``run_bounded`` starts the command with ``RLIMIT_AS`` (virtual memory: a parser that tries to build
a gigantic tree gets ``MemoryError`` / ``ENOMEM`` instead of swapping the machine) and kills it
after ``timeout`` seconds. The child is reaped with ``os.wait4``, so the peak resident size
reported is the child's own (``ru_maxrss``), not the maximum of every child the test run started.
Outputs go to files, so a chatty child cannot block on a full pipe.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.support.agent_process import ROOT, isolated_env

#: Address-space cap of hostile-input children. A normal ``compagnon decrypt`` or ``verify`` needs
#: about 250 MiB of address space on this machine (a test checks it runs within 512 MiB): 1.5 GiB
#: leaves room, and is far below what an entity bomb or a tree of millions of nodes would take.
MEMORY_LIMIT = 1536 * 1024 * 1024
#: Wall-clock limit of one child.
TIME_LIMIT = 60.0


@dataclass
class Bounded:
    """How a bounded child ended."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    #: Peak resident set size of the child, in MiB.
    max_rss_mib: float
    timed_out: bool

    def describe(self) -> str:
        return (f"exit {self.returncode} after {self.seconds:.1f} s, peak RSS {self.max_rss_mib:.0f} MiB"
                f"{' (killed: time limit)' if self.timed_out else ''}\n--- stdout\n{self.stdout[-3000:]}"
                f"\n--- stderr\n{self.stderr[-3000:]}")


def run_bounded(args: Sequence[str], *, stdin: str = "", env: dict[str, str] | None = None,
                cwd: Path | None = None, timeout: float = TIME_LIMIT, memory: int = MEMORY_LIMIT) -> Bounded:
    """Run ``args`` with ``RLIMIT_AS = memory`` and a ``timeout``; never raises for the child's fate."""

    def limits() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, tempfile.TemporaryFile() as given:
        given.write(stdin.encode())
        given.seek(0)
        started = time.monotonic()
        process = subprocess.Popen(list(args), stdin=given, stdout=out, stderr=err, env=env, cwd=cwd,
                                   preexec_fn=limits, start_new_session=True)
        timed_out = False
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() - started > timeout:
                timed_out = True
                os.killpg(process.pid, signal.SIGKILL)
                pid, status, usage = os.wait4(process.pid, 0)
                break
            time.sleep(0.02)
        seconds = time.monotonic() - started
        process.returncode = os.waitstatus_to_exitcode(status)  # already reaped: keep Popen quiet
        out.seek(0)
        err.seek(0)
        return Bounded(list(args), process.returncode, out.read().decode("utf-8", "replace"),
                       err.read().decode("utf-8", "replace"), seconds, usage.ru_maxrss / 1024, timed_out)


def compagnon(home: Path, *args: str, stdin: str = "", timeout: float = TIME_LIMIT,
              memory: int = MEMORY_LIMIT) -> Bounded:
    """``python -m agent ARGS`` (the ``compagnon`` command) in an isolated HOME, bounded."""
    return run_bounded([sys.executable, "-m", "agent", *args], stdin=stdin, env=isolated_env(home), cwd=ROOT,
                       timeout=timeout, memory=memory)


def python_code(home: Path, code: str, *args: str, stdin: str = "", timeout: float = TIME_LIMIT,
                memory: int = MEMORY_LIMIT) -> Bounded:
    """``python -c CODE ARGS`` with the repository importable, in an isolated HOME, bounded."""
    return run_bounded([sys.executable, "-c", code, *args], stdin=stdin, env=isolated_env(home), cwd=ROOT,
                       timeout=timeout, memory=memory)
