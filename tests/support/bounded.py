"""Run a child process under a memory cap and a time limit, and measure what it really used.

``run_bounded`` starts the command with ``RLIMIT_AS`` (virtual memory: a parser that tries to build
a gigantic tree gets ``MemoryError`` / ``ENOMEM`` instead of swapping the machine) and kills it
after ``timeout`` seconds. The peak resident size reported is the highest ``VmHWM`` (proc(5)) seen
for the child and its own children (the agent's verification worker), sampled while they run: a
child's ``ru_maxrss`` would also count the test process it was forked from, whose resident size at
the fork Linux keeps across ``execve`` (a 250 MB pytest process made every child look that big).
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
        peak_kib = 0
        while True:
            peak_kib = max(peak_kib, _group_peak_kib(process.pid))
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() - started > timeout:
                timed_out = True
                os.killpg(process.pid, signal.SIGKILL)
                pid, status, usage = os.wait4(process.pid, 0)
                break
            time.sleep(0.01)
        seconds = time.monotonic() - started
        process.returncode = os.waitstatus_to_exitcode(status)  # already reaped: keep Popen quiet
        out.seek(0)
        err.seek(0)
        return Bounded(list(args), process.returncode, out.read().decode("utf-8", "replace"),
                       err.read().decode("utf-8", "replace"), seconds,
                       (peak_kib or usage.ru_maxrss) / 1024, timed_out)


def _group_peak_kib(group: int) -> int:
    """The highest ``VmHWM`` (KiB) among the live processes of process group ``group``."""
    peak = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as stream:
                fields = stream.read().rsplit(b")", 1)[1].split()
            if int(fields[2]) != group:  # pgrp, the fifth field of proc(5)'s stat
                continue
            with open(f"/proc/{entry.name}/status", "rb") as stream:
                for line in stream:
                    if line.startswith(b"VmHWM:"):
                        peak = max(peak, int(line.split()[1]))
                        break
        except (OSError, ValueError, IndexError):
            continue
    return peak


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
