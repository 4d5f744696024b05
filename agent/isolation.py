"""Work on untrusted files in a child process with a memory cap and a time limit (docs/SECURITY.md
promise 12).

Parsing a hostile file can cost memory in proportion to its size (an XML tree, a PDF's object
table) or loop for a long time. The agent must stay up and within bounds whatever a page hands it,
so such work runs in a worker process: the parent watches the worker's resident memory (every
``POLL`` seconds) and its time, and kills it past ``memory_bytes`` or ``timeout``; the call then
raises :class:`IsolationLimit` and the next call starts a fresh worker. Calls are
``"module:function"`` names with picklable arguments; the worker may report progress, which the
parent hands to the caller's callback.

Frames on the worker's stdin/stdout are agent.frames' (a length, then a pickle). The worker trusts
its parent only (pickles come from the agent itself, never from a file or a page).
"""

from __future__ import annotations

import importlib
import logging
import os
import pickle
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from .frames import FRAME_HEADER, FrameSink, read_frame, write_frame

__all__ = ["FRAME_HEADER", "FrameSink", "IsolatedWorker", "IsolationLimit", "child_environment", "end_with_caller", "preload", "prestart", "python_command",
           "read_frame", "serve_calls", "take_prestarted", "use_fork_server", "worker_main", "write_frame"]

log = logging.getLogger(__name__)

POLL = 0.05
WORKER_FLAG = "--isolated-worker"


class IsolationLimit(Exception):
    """The worker was stopped: ``reason`` is ``"memory"``, ``"time"`` or ``"crash"``."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


def python_command(flag: str, module: str, *args: str) -> list[str]:
    """The command line of one of the agent's helper processes that runs ``module`` as a script with
    ``args``: the frozen program with its ``flag``, or this interpreter running the module from the
    folder the parent imported it from (put first on ``sys.path`` by the command itself: an
    interpreter whose ``._pth`` file fixes the path, as Windows' embeddable distribution does,
    ignores ``PYTHONPATH``). ``-c`` also puts ``''``, the current folder, on the path, before the
    standard library: it is taken off, since a worker or the fork server's child runs in the caller's
    folder (a folder of downloaded files may hold a ``csv.py``), where a module imported late
    would otherwise be looked for first."""
    if getattr(sys, "frozen", False):  # a PyInstaller build: the program itself, with the flag
        return [sys.executable, flag, *args]
    root = str(Path(__file__).resolve().parents[1])
    return [sys.executable, "-c", f"import runpy, sys; sys.path[:] = [{root!r}, *filter(None, sys.path)]; "
            f"runpy.run_module({module!r}, run_name='__main__', alter_sys=True)", *args]


def child_environment() -> dict[str, str]:
    """The environment of a helper process: this one's, with the agent's folder on ``PYTHONPATH``."""
    root = str(Path(__file__).resolve().parents[1])
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)}


def resident_bytes(pid: int) -> int | None:
    """The resident memory of process ``pid`` (Linux /proc), or None where it cannot be read."""
    try:
        with open(f"/proc/{pid}/statm", encoding="ascii") as stream:
            pages = int(stream.read().split()[1])
    except (OSError, ValueError, IndexError):
        return _resident_psutil(pid)
    return pages * os.sysconf("SC_PAGE_SIZE")


def _resident_psutil(pid: int) -> int | None:
    try:
        import psutil  # type: ignore[import-untyped]  # optional: other systems than Linux
    except ImportError:
        return None
    try:
        return int(psutil.Process(pid).memory_info().rss)
    except psutil.Error:
        return None


class IsolatedWorker:
    """One worker process at a time, started on first use, replaced after a limit stopped it."""

    def __init__(self, memory_bytes: int, timeout: float) -> None:
        self.memory_bytes = memory_bytes
        self.timeout = timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self.peak = 0
        #: A call every new worker runs first (state the calls share: trust anchors...).
        self._setup: tuple[str, tuple[Any, ...], dict[str, Any]] | None = None
        self._ready = False
        #: A preload sent by ``start`` whose outcome was not read yet.
        self._pending = False
        #: A call is in flight (``close`` from another thread then kills the worker at once).
        self._busy = False

    def start(self, modules: tuple[str, ...] = ()) -> None:
        """Start the worker now, importing ``modules`` (the agent's own): its start-up overlaps
        what the caller does before its first call, which waits for the import to end (within the
        worker's memory and time limits, as any call)."""
        self._start()
        if modules and not self._pending:
            assert self._proc is not None and self._proc.stdin is not None
            try:
                write_frame(self._proc.stdin, ("agent.isolation:preload", modules, {}, False))
            except OSError:
                self._kill()
                return
            self._pending = True

    def setup(self, target: str, *args: Any, **kwargs: Any) -> None:
        """Run ``target(*args, **kwargs)`` in each worker before its first call (sent once per
        worker, not with every call)."""
        self._setup = (target, args, kwargs)
        self._ready = False

    def __enter__(self) -> IsolatedWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start(self) -> subprocess.Popen[bytes]:
        if self._proc is None or self._proc.poll() is not None:
            forked = _fork_server_worker()
            self._proc = forked if forked is not None else subprocess.Popen(
                python_command(WORKER_FLAG, "agent.isolation"), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL, env=child_environment())
            self._ready = self._pending = False
        return self._proc

    def call(self, target: str, *args: Any, progress: Callable[..., None] | None = None, **kwargs: Any) -> Any:
        """Run ``target(*args, progress=..., **kwargs)`` in the worker and return its result; an
        exception the function raised is raised here again. Raises IsolationLimit."""
        self._start()
        if self._pending:
            self._pending = False
            try:
                self._exchange(None, (), {}, None)
            except Exception:  # noqa: BLE001 — the call itself says what is wrong (a stopped worker is replaced)
                log.debug("the worker's preload failed", exc_info=True)
        if self._setup is not None and not self._ready:
            target_setup, setup_args, setup_kwargs = self._setup
            self._ready = True
            self._exchange(target_setup, setup_args, setup_kwargs, None)
        return self._exchange(target, args, kwargs, progress)

    def _exchange(self, target: str | None, args: tuple[Any, ...], kwargs: dict[str, Any],
                  progress: Callable[..., None] | None) -> Any:
        """Send the call ``target`` and wait for its outcome; ``target=None``: the outcome of the
        call sent already (a preload)."""
        proc = self._start()
        assert proc.stdin is not None and proc.stdout is not None
        outcome: list[Any] = []

        def reader() -> None:
            try:
                while True:
                    message = read_frame(proc.stdout)  # type: ignore[arg-type]
                    if message[0] == "progress":
                        if progress is not None:
                            progress(*message[1])
                        continue
                    outcome.append(message)
                    return
            except (EOFError, OSError, pickle.UnpicklingError):
                return

        try:
            if target is not None:
                write_frame(proc.stdin, (target, args, kwargs, progress is not None))
        except OSError as exc:
            self._kill()
            raise IsolationLimit("crash", str(exc)) from None
        thread = threading.Thread(target=reader, name="isolated-reader", daemon=True)
        thread.start()
        deadline = time.monotonic() + self.timeout
        self._busy = True
        try:
            return self._outcome(proc, thread, outcome, deadline)
        finally:
            self._busy = False

    def _outcome(self, proc: Any, thread: threading.Thread, outcome: list[Any], deadline: float) -> Any:
        """Watch the worker's memory and time until the reader has its outcome; return or raise it."""
        stop_reason: list[str] = []
        while thread.is_alive():
            thread.join(POLL)
            rss = resident_bytes(proc.pid)
            if rss is not None:
                self.peak = max(self.peak, rss)
                if rss > self.memory_bytes:
                    stop_reason.append("memory")
            if time.monotonic() > deadline:
                stop_reason.append("time")
            if stop_reason:
                self._kill()
                thread.join(5)
                raise IsolationLimit(stop_reason[0], f"{self.peak // (1024 * 1024)} MiB")
        if not outcome:
            code = proc.wait(5)
            self._proc = None
            raise IsolationLimit("crash", f"exit {code}")
        kind, value = outcome[0]
        if kind == "error":
            raise value
        return value

    def _kill(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait(10)
        self._proc = None

    def close(self) -> None:
        """End the worker: at once if a call is in flight (a job cancelled, a command interrupted:
        its outcome is no one's now), else by closing its input, killed if it does not end."""
        if self._busy:
            self._kill()
        if self._proc is not None and self._proc.poll() is None:
            try:
                if hasattr(self._proc, "hang_up"):  # a forked worker ends on its own, its server reaps it
                    self._proc.hang_up()
                else:
                    assert self._proc.stdin is not None
                    self._proc.stdin.close()
                    self._proc.wait(5)
            except (OSError, subprocess.TimeoutExpired):
                self._kill()
        self._proc = None


def preload(*modules: str) -> None:
    """In the worker: import ``modules`` ahead of the calls that need them (``IsolatedWorker.start``)."""
    for module in modules:
        importlib.import_module(module)


#: Where new workers come from before they are spawned: a fork server's connector, when one is known.
_FORKED_SOURCE: list[Callable[[], Any]] = []


def use_fork_server(connect: Callable[[], Any] | None) -> None:
    """Take new workers from ``connect`` (``agent.fork_channel.connector``: a warm worker, or None
    when the server does not answer), else spawn them; None: always spawn. The agent names its own
    server, a command line the running agent's."""
    _FORKED_SOURCE[:] = [connect] if connect is not None else []


def _fork_server_worker() -> Any:
    """A worker forked by the known fork server, or None (none known, or it does not answer)."""
    return _FORKED_SOURCE[0]() if _FORKED_SOURCE else None


#: A worker started ahead of the job that will use it (``prestart``), at most one.
_PRESTARTED: list[IsolatedWorker] = []


def prestart(memory_bytes: int, timeout: float, modules: tuple[str, ...] = ()) -> None:
    """Start a worker now, for a job this process runs next (a command line's ``verify``): the
    worker's interpreter and imports overlap the command's own. The job takes it with
    :func:`take_prestarted`; one not taken ends with this process (its stdin closes)."""
    worker = IsolatedWorker(memory_bytes, timeout)
    worker.start(modules)
    _PRESTARTED[:] = [worker]


def take_prestarted(memory_bytes: int, timeout: float) -> IsolatedWorker | None:
    """The worker :func:`prestart` started with these limits, once; else None."""
    if _PRESTARTED and (_PRESTARTED[0].memory_bytes, _PRESTARTED[0].timeout) == (memory_bytes, timeout):
        return _PRESTARTED.pop()
    return None


def worker_main() -> int:
    """The worker's loop: read a call, run it, write its outcome, until stdin closes."""
    from .process_guard import forbid_core_dumps

    forbid_core_dumps()
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing a library prints may corrupt the frames
    return serve_calls(stdin, stdout)


def serve_calls(stdin: IO[bytes], stdout: FrameSink) -> int:
    """Read a call, run it, write its outcome, until ``stdin`` ends (a spawned worker's pipes, or
    the connection of a worker forked by agent.fork_server)."""
    end_with_caller(stdin.fileno())
    while True:
        try:
            target, args, kwargs, wants_progress = read_frame(stdin)
        except EOFError:
            # Every outcome was sent (each frame is flushed) and the calls closed what they opened:
            # end without the interpreter's teardown of the validation stack (about 0.75 s), which
            # the command that closed our stdin waits for.
            sys.stderr.flush()
            os._exit(0)
        module, _, name = target.partition(":")
        if wants_progress:
            kwargs["progress"] = lambda *values: write_frame(stdout, ("progress", values))
        try:
            result = getattr(importlib.import_module(module), name)(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 — handed back to the caller, as it was raised
            try:
                write_frame(stdout, ("error", exc))
            except (pickle.PicklingError, TypeError, AttributeError):
                write_frame(stdout, ("error", RuntimeError(f"{type(exc).__name__}: {exc}")))
            continue
        try:
            write_frame(stdout, ("ok", result))
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            write_frame(stdout, ("error", RuntimeError(f"result cannot be sent back: {exc}")))


def end_with_caller(fd: int) -> None:
    """End this worker as soon as its caller is gone (``fd``, its input, hung up), even in the
    middle of a call: only the caller watches the worker's memory and time, so a worker that
    outlived it (a command line killed, or its terminal closed: the SIGHUP or SIGTERM sent to the
    command's process group reaches a spawned worker, not a forked one) would otherwise run on
    unwatched. A caller that only closed its sending side
    of a connection (the end of its calls) has not hung up."""
    import select

    if not hasattr(select, "poll"):  # Windows: not watched, the worker ends at its next read
        return

    def watch() -> None:
        poller = select.poll()
        poller.register(fd, 0)  # hang-ups and errors only: they are always reported
        while True:
            if poller.poll():
                os._exit(0)

    threading.Thread(target=watch, name="caller-watch", daemon=True).start()


if __name__ == "__main__":
    sys.exit(worker_main())
