"""Warm isolated workers (docs/SECURITY.md promise 12) on POSIX systems: a fork server.

A worker spawned for each job pays an interpreter and the import of the validation stack
(cryptography, asn1crypto, pyhanko-certvalidator: about 0.4 s) before it reads the first byte of a
file. The running agent therefore starts, beside itself, one process that imports those modules once
and then only waits: for each connection on its socket it forks a child, and that child is an
isolated worker like a spawned one, speaking the same frames (agent.isolation) over the connection.
A command line's ``verify`` finds the socket of this user's running agent and gets its worker from
there in a few milliseconds; without an agent (or on Windows, which has no ``fork``) it spawns one.

What keeps it as safe as a spawned worker:

* the server itself never reads a file or a request: it imports modules, accepts and forks. Each
  child serves exactly one connection and ends with it, so nothing one file did is seen by the
  next; the caller watches the child's memory and time as it watches a spawned worker, and kills it
  by a pidfd (Linux) so that a kill never reaches a process id the system has given to another;
  the worker's id must name, as the caller sees processes, a child of the server (a caller in
  another PID namespace, which could neither watch nor kill it, spawns its worker);
* the socket is in the agent's state folder (0700, promise 11), the socket itself is 0600, and the
  peer's user id is checked before any fork (``SO_PEERCRED``, ``getpeereid`` elsewhere): only the
  user's own processes get a worker, and a worker can do nothing those processes could not. The
  caller checks the server's user id the same way before it reads the hello (a pickle) or sends
  its environment: a state folder another user controls (a HOME kept by ``sudo``, a shared
  ``state_dir``) gives the caller a spawned worker, never that user's socket;
* the server is a child of the agent and ends when the agent does (its stdin, a pipe from the
  agent, closes), removing its socket; a socket left by a server that was killed is refused by
  the system (nothing listens) and the caller spawns its worker as before.

A worker serves only a caller of the same build (:func:`identity`, sent in its first frame): a
command line updated while an older agent still runs spawns its worker.

A socket's path is limited to about 100 bytes (``sockaddr_un``); a longer state folder is reached
through ``/proc/self/fd`` on Linux, and elsewhere the server is simply not used.
"""

from __future__ import annotations

import functools
import gc
import logging
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

log = logging.getLogger(__name__)

__all__ = ["ForkServer", "ForkedWorker", "available", "connect", "connector", "main", "socket_path"]

SOCKET_NAME = "workers.sock"
SERVER_FLAG = "--fork-server"
#: The validation stack, every format's validator included, imported once by the server (about
#: 60 MB, shared by its children until they write to it).
VALIDATION_MODULES = ("agent.validation.detect", "agent.validation.batch", "agent.validation.cades",
                      "agent.validation.xades", "agent.validation.pes", "agent.validation.asic",
                      "agent.validation.pades")
#: Run once after the imports: what every worker would otherwise compute first (the system's roots indexed).
VALIDATION_WARM_UP = "agent.validation.chain:warm_up_system_roots"
#: The handshake and frames between a caller and a forked worker: raised at any change of them.
HANDSHAKE = 1
_MAX_PATH = 100
_CONNECT_TIMEOUT = 5.0


def identity() -> tuple[int, str, str]:
    """What a caller and a worker must share to work together: the handshake, the version and the
    folder of the agent's code (an agent still running an older version after an update, or
    another installation, gives workers this command's code is not)."""
    from . import __version__

    return HANDSHAKE, __version__, str(Path(__file__).resolve().parent)


def available() -> bool:
    """Whether this system can fork workers from a server (POSIX: ``fork`` and Unix sockets)."""
    return hasattr(os, "fork") and hasattr(socket, "AF_UNIX") and os.name == "posix"


def socket_path(state_dir: Path) -> Path:
    """Where the agent whose state folder is ``state_dir`` listens for workers."""
    return state_dir / SOCKET_NAME


@contextmanager
def _short_address(path: Path) -> Iterator[str]:
    """``path`` as a socket address: itself when short enough, else through a descriptor of its
    folder (``/proc/self/fd/N/name``, Linux); raises OSError where neither fits."""
    text = os.fsdecode(path)
    if len(os.fsencode(text)) <= _MAX_PATH:
        yield text
        return
    if not Path("/proc/self/fd").is_dir():
        raise OSError(f"socket path too long: {text}")
    folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{folder}/{path.name}"
    finally:
        os.close(folder)


def _peer_credentials(conn: socket.socket) -> tuple[int, int] | None:
    """The process id and user id of the other end of a Unix socket (Linux ``SO_PEERCRED``; the
    process id is 0 when that process is in a PID namespace this one does not see), else None."""
    if not hasattr(socket, "SO_PEERCRED"):
        return None
    pid, uid, _gid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
    return pid, uid


def peer_uid(conn: socket.socket) -> int | None:
    """The user id of the process at the other end of a Unix socket, None if the system cannot say."""
    if (credentials := _peer_credentials(conn)) is not None:
        return credentials[1]
    try:  # BSD and macOS: getpeereid(3) through the C library
        import ctypes
        import ctypes.util

        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        uid, gid = ctypes.c_uint32(), ctypes.c_uint32()
        if libc.getpeereid(conn.fileno(), ctypes.byref(uid), ctypes.byref(gid)) == 0:
            return int(uid.value)
    except (OSError, AttributeError):
        pass
    return None


# --- the caller's side ---------------------------------------------------------------------------


class _SendSide:
    """The caller's sending direction of a connection: closing it ends the worker's input (the
    connection stays open for the worker's last frames), as closing a spawned worker's stdin does."""

    def __init__(self, conn: socket.socket) -> None:
        self._conn = conn

    def write(self, data: bytes, /) -> int:
        self._conn.sendall(data)
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        try:
            self._conn.shutdown(socket.SHUT_WR)
        except OSError:
            pass


class ForkedWorker:
    """A worker forked by the server, as :class:`agent.isolation.IsolatedWorker` uses a process:
    ``stdin``/``stdout`` (the connection's two directions), ``pid``, ``poll``, ``kill``, ``wait``."""

    def __init__(self, conn: socket.socket, pid: int, stdin: _SendSide, stdout: IO[bytes]) -> None:
        self._conn = conn
        self.pid = pid
        self.stdin = stdin
        self.stdout = stdout
        self._pidfd: int | None = None
        if hasattr(os, "pidfd_open"):
            try:
                self._pidfd = os.pidfd_open(pid)
            except OSError:  # already gone: poll says so
                self._pidfd = None

    def poll(self) -> int | None:
        """None while the worker runs; -1 once it has ended (its exit status is its server's to read)."""
        if self._pidfd is not None:
            ready, _, _ = select.select([self._pidfd], [], [], 0)
            return -1 if ready else None
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return -1
        except PermissionError:  # the id is another user's process now: ours has ended
            return -1
        return None

    def kill(self) -> None:
        if self.poll() is not None:
            return
        if self._pidfd is not None:
            signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)
        else:
            os.kill(self.pid, signal.SIGKILL)

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the worker's end (at most ``timeout`` seconds, then TimeoutExpired); -1."""
        if self._pidfd is not None:
            ready, _, _ = select.select([self._pidfd], [], [], timeout)
            if not ready:
                raise subprocess.TimeoutExpired(f"worker {self.pid}", timeout or 0)
        else:
            import time

            deadline = None if timeout is None else time.monotonic() + timeout
            while self.poll() is None:
                if deadline is not None and time.monotonic() > deadline:
                    raise subprocess.TimeoutExpired(f"worker {self.pid}", timeout or 0)
                time.sleep(0.01)
        self._release()
        return -1

    def _release(self) -> None:
        for stream in (self.stdin, self.stdout):
            try:
                stream.close()
            except OSError:
                pass
        self._conn.close()
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None


def connect(path: Path) -> ForkedWorker | None:
    """A worker forked by the server listening at ``path``, or None (no server, not ready, not
    answering, or this system has none): the caller then spawns its worker."""
    from .isolation import read_frame, write_frame

    if not available() or not path.exists():
        return None
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.settimeout(_CONNECT_TIMEOUT)
        with _short_address(path) as address:
            conn.connect(address)
        server_uid = peer_uid(conn)
        if server_uid != os.getuid():  # not a byte read from, nor sent to, another user's socket
            raise OSError(f"the socket belongs to user {server_uid}")
        stdout = conn.makefile("rb")
        hello = read_frame(stdout)
        conn.settimeout(None)
    except Exception as exc:  # noqa: BLE001 — whatever the socket says (garbage unpickles as anything): no worker
        log.debug("no worker from the fork server at %s: %s", path, exc)
        conn.close()
        return None
    if not (isinstance(hello, tuple) and len(hello) == 3 and hello[0] == "hello" and isinstance(hello[1], int)):
        log.info("the fork server at %s speaks another handshake: this worker is spawned", path)
        conn.close()
        return None
    if hello[2] != identity():
        # an agent started before an update, or from another installation: its validation code is
        # not this command's, nor are its frames
        log.info("the fork server at %s runs another build (%s): this worker is spawned", path, hello[2])
        conn.close()
        return None
    if not _child_seen_here(conn, hello[1]):
        # another PID namespace than the server's (a container sharing the user's home): the id
        # names no process here, or another one, and the worker could be neither watched nor killed
        log.info("the fork server's worker %s is not a process this command sees: this worker is spawned", hello[1])
        conn.close()
        return None
    worker = ForkedWorker(conn, hello[1], _SendSide(conn), stdout)
    try:  # the worker runs where this process runs, as a spawned one would: relative paths, proxies...
        write_frame(worker.stdin, ("context", os.getcwd(), dict(os.environ)))
    except OSError as exc:
        log.debug("the forked worker %d is gone: %s", hello[1], exc)
        worker.kill()
        worker._release()
        return None
    log.info("isolated worker %d forked by the fork server", hello[1])
    return worker


def _child_seen_here(conn: socket.socket, pid: int) -> bool:
    """Whether ``pid`` (a forked worker's own word) is, as this process sees processes, a child of
    the server at the other end of ``conn``, whose id the system gives (``SO_PEERCRED``: 0 when the
    server is in a PID namespace this process does not see). Where the system says neither (no
    ``SO_PEERCRED`` or no ``/proc``), the word is taken."""
    credentials = _peer_credentials(conn)
    if credentials is None or not Path("/proc/self/stat").exists():
        return True
    server = credentials[0]
    if server <= 0 or pid <= 0:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return False
    return int(stat.rsplit(")", 1)[1].split()[1]) == server


def connector(path: Path) -> Callable[[], ForkedWorker | None]:
    """What ``agent.isolation.use_fork_server`` takes: workers from the server at ``path``."""
    return functools.partial(connect, path)


# --- the server ----------------------------------------------------------------------------------


class ForkServer:
    """The agent's handle on its fork server: started with the agent, stopped with it."""

    def __init__(self, state_dir: Path, modules: tuple[str, ...] = VALIDATION_MODULES,
                 warm_up: str = VALIDATION_WARM_UP) -> None:
        self.path = socket_path(state_dir)
        self.modules = modules
        self.warm_up = warm_up
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> bool:
        """Start the server in the background (it listens once its imports are done); False where
        this system has no fork server."""
        if not available():
            return False
        from .isolation import child_environment, python_command

        command = python_command(SERVER_FLAG, "agent.fork_server", str(self.path), self.warm_up, *self.modules)
        self._proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL, env=child_environment())
        return True

    def stop(self) -> None:
        """Close the server's lifeline and wait for it (it removes its socket)."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            assert proc.stdin is not None
            proc.stdin.close()
            proc.wait(5)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait(5)
            self.path.unlink(missing_ok=True)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None


def _listen(path: Path) -> socket.socket:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    path.unlink(missing_ok=True)  # a socket left by a server that was killed
    old_mask = os.umask(0o177)  # the socket is created 0600, never wider for an instant
    try:
        with _short_address(path) as address:
            listener.bind(address)
    finally:
        os.umask(old_mask)
    listener.listen(16)
    return listener


def _serve_child(conn: socket.socket, listener: socket.socket) -> None:
    """In a forked child: be one isolated worker for this connection, then end."""
    from .isolation import read_frame, serve_calls, write_frame

    try:
        listener.close()
        for inherited in (signal.SIGCHLD, signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(inherited, signal.SIG_DFL)
        os.close(0)  # the agent's lifeline is the server's, not this worker's
        sys.stdout = sys.stderr  # nothing a library prints may corrupt the frames
        reader, writer = conn.makefile("rb"), _SendSide(conn)
        write_frame(writer, ("hello", os.getpid(), identity()))
        kind, cwd, environ = read_frame(reader)
        if kind != "context":
            return
        try:
            os.chdir(cwd)  # the caller's directory and environment, as a spawned worker inherits them
        except OSError:  # a directory removed since: relative paths then fail as they would there
            pass
        os.environ.clear()
        os.environ.update(environ)
        serve_calls(reader, writer)
    finally:
        os._exit(0)


def serve(path: Path, modules: tuple[str, ...], warm_up: str = "") -> int:
    """The server's loop: import ``modules``, run ``warm_up`` (``"module:function"``, or empty),
    listen at ``path``, fork a worker for each connection of this user, until stdin closes."""
    import importlib

    from .isolation import preload
    from .process_guard import forbid_core_dumps

    forbid_core_dumps()
    preload(*modules)
    if warm_up:
        module, _, function = warm_up.partition(":")
        try:
            getattr(importlib.import_module(module), function)()
        except Exception:  # noqa: BLE001 — a warm-up that fails leaves the workers as fast as spawned ones
            log.warning("fork server: warm-up %s failed", warm_up, exc_info=True)
    if threading.active_count() > 1:  # a fork would copy no thread but their locks, maybe held
        log.warning("fork server: a preloaded module started a thread; no warm workers")
        return 1
    gc.collect()
    gc.freeze()  # what the imports built stays out of the children's collections: their pages stay shared
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the system
    listener = _listen(path)
    server = os.getpid()
    # Ctrl-C in the agent's terminal is the agent's to handle (it closes the lifeline); a TERM or a
    # HUP (the terminal closed) reaching the whole process group ends the server with its socket.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for ending in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(ending, _end_server)
    try:
        while True:
            readable, _, _ = select.select([listener, 0], [], [])
            if 0 in readable and not os.read(0, 512):
                return 0
            if listener not in readable:
                continue
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            uid = peer_uid(conn)
            if uid != os.getuid():
                log.warning("fork server: connection from user %s refused", uid)
                conn.close()
                continue
            if os.fork() == 0:
                _serve_child(conn, listener)
            conn.close()
    finally:
        if os.getpid() == server:  # not a child that a signal reached before it was a worker
            listener.close()
            path.unlink(missing_ok=True)


def _end_server(signum: int, frame: object) -> None:
    raise SystemExit(0)


def main(argv: list[str]) -> int:
    """``--fork-server PATH WARM_UP MODULE...`` (a frozen build) or ``python -m agent.fork_server
    PATH WARM_UP MODULE...`` (WARM_UP may be empty)."""
    path, warm_up, *modules = argv
    return serve(Path(path), tuple(modules), warm_up)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
