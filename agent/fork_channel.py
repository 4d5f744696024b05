"""The channel between the agent's fork server (agent.fork_server) and its callers: the socket's
address, the credentials of the process at the other end, the handshake, and the caller's side (a
forked worker as ``agent.isolation`` uses a process; a child opened for a command line's command,
agent.cli.warm).

Light on purpose: a command line imports it in its first milliseconds, to find out whether this
user's agent can run the command warm. Every check of docs/SECURITY.md promise 12 a caller makes
is here (agent.fork_server's docstring says why each is needed): the server's user id and
namespaces before a byte is read or sent, its build, and its child a process this caller sees.
"""

from __future__ import annotations

import functools
import os
import select
import signal
import socket
import struct
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    import logging

__all__ = ["HANDSHAKE", "ForkedWorker", "SendSide", "available", "connect", "connector", "identity",
           "open_child", "peer_credentials", "peer_uid", "shares_namespaces", "short_address", "socket_path"]

SOCKET_NAME = "workers.sock"
#: The handshake and frames between a caller and a forked child: raised at any change of them.
HANDSHAKE = 2
_MAX_PATH = 100
_CONNECT_TIMEOUT = 5.0


def identity() -> tuple[int, str, str, str]:
    """What a caller and a worker must share to work together: the handshake, the version and the
    folder of the agent's code (an agent still running an older version after an update, or
    another installation, gives workers this command's code is not), and the encoding of file
    names, fixed at a process's start by its locale (a caller in ISO-8859-1 names ``é`` with one
    byte, a server started in UTF-8 would open another file)."""
    from . import __version__

    return HANDSHAKE, __version__, str(Path(__file__).resolve().parent), sys.getfilesystemencoding()


def available() -> bool:
    """Whether this system can fork workers from a server (POSIX: ``fork`` and Unix sockets)."""
    return hasattr(os, "fork") and hasattr(socket, "AF_UNIX") and os.name == "posix"


def socket_path(state_dir: Path) -> Path:
    """Where the agent whose state folder is ``state_dir`` listens for workers."""
    return state_dir / SOCKET_NAME


@contextmanager
def short_address(path: Path) -> Iterator[str]:
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


def peer_credentials(conn: socket.socket) -> tuple[int, int] | None:
    """The process id and user id of the other end of a Unix socket (Linux ``SO_PEERCRED``; the
    process id is 0 when that process is in a PID namespace this one does not see), else None."""
    if not hasattr(socket, "SO_PEERCRED"):
        return None
    pid, uid, _gid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
    return pid, uid


def peer_uid(conn: socket.socket) -> int | None:
    """The user id of the process at the other end of a Unix socket, None if the system cannot say."""
    if (credentials := peer_credentials(conn)) is not None:
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


def shares_namespaces(conn: socket.socket) -> bool:
    """Whether the process at the other end of ``conn`` is in this process's user, mount, network
    and process namespaces (True where the system has none); False when it cannot be told (a
    process gone, or not seen from here). A process of the user shut in a sandbox (its own mounts,
    no network: Flatpak, a browser's) would otherwise get a child outside of it, whose calls name
    any function to run; or, listening at the socket's path, hand the caller a hello to unpickle
    outside of it."""
    if not Path("/proc/self/ns").is_dir():
        return True
    credentials = peer_credentials(conn)
    if credentials is None or credentials[0] <= 0:
        return False
    theirs, ours = _namespaces(str(credentials[0])), _namespaces("self")
    return theirs is not None and theirs == ours


def _namespaces(pid: str) -> tuple[object, ...] | None:
    """What tells a process's namespaces apart, as another process of the user can read it:
    ``/proc/PID/ns`` is closed to it when the process is not dumpable (the agent, its fork server,
    a command line: agent.process_guard), not these. The network namespace's own entries, the user
    namespace's id maps, the mount table (its mount ids are the namespace's), and the depth of
    the process namespace (one process id per level)."""
    proc = f"/proc/{pid}"
    try:
        texts = []
        for name in ("uid_map", "gid_map", "mountinfo", "status"):
            with open(f"{proc}/{name}", encoding="utf-8", errors="replace") as stream:
                texts.append(stream.read())
        network = os.stat(f"{proc}/net/unix").st_ino
    except OSError:
        return None
    *maps, status = texts
    depth = next((len(line.split()) for line in status.splitlines() if line.startswith("NSpid:")), 0)
    return network, *maps, depth


class SendSide:
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

    def __init__(self, conn: socket.socket, pid: int, stdin: SendSide, stdout: IO[bytes]) -> None:
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
        import subprocess

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

    def hang_up(self) -> None:
        """End the worker without waiting for it (its teardown takes milliseconds a command would
        wait for): it ends when the connection closes (agent.isolation.end_with_caller), and its
        server, not this process, reaps it."""
        self._release()

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
    from .frames import write_frame

    opened = open_child(path)
    if opened is None:
        return None
    conn, stdout, pid = opened
    worker = ForkedWorker(conn, pid, SendSide(conn), stdout)
    try:  # the worker runs where this process runs, as a spawned one would: relative paths, proxies...
        write_frame(worker.stdin, ("context", os.getcwd(), dict(os.environ)))
    except OSError as exc:
        _log().debug("the forked worker %d is gone: %s", pid, exc)
        worker.kill()
        worker._release()
        return None
    _log().info("isolated worker %d forked by the fork server", pid)
    return worker


def open_child(path: Path) -> tuple[socket.socket, IO[bytes], int] | None:
    """A connection to a child just forked by the server at ``path`` (the connection, its reading
    side, the child's process id), once every check passed: the server is this user's, speaks this
    build's frames, and its child is a process this one sees. None otherwise; nothing was sent."""
    from .frames import read_frame

    if not available() or not path.exists():
        return None
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.settimeout(_CONNECT_TIMEOUT)
        with short_address(path) as address:
            conn.connect(address)
        server_uid = peer_uid(conn)
        if server_uid != os.getuid():  # not a byte read from, nor sent to, another user's socket
            raise OSError(f"the socket belongs to user {server_uid}")
        if not shares_namespaces(conn):  # nor to a sandbox's
            raise OSError("the socket belongs to a process in other namespaces")
        stdout = conn.makefile("rb")
        hello = read_frame(stdout)
        conn.settimeout(None)
    except Exception as exc:  # noqa: BLE001 — whatever the socket says (garbage unpickles as anything): no child
        _log().debug("nothing from the fork server at %s: %s", path, exc)
        conn.close()
        return None
    if not (isinstance(hello, tuple) and len(hello) == 3 and hello[0] == "hello" and isinstance(hello[1], int)):
        _log().info("the fork server at %s speaks another handshake: not used", path)
        conn.close()
        return None
    if hello[2] != identity():
        # an agent started before an update, or from another installation: its code is not this
        # command's, nor are its frames
        _log().info("the fork server at %s runs another build (%s): not used", path, hello[2])
        conn.close()
        return None
    if not _child_seen_here(conn, hello[1]):
        # another PID namespace than the server's (a container sharing the user's home): the id
        # names no process here, or another one, and the child could be neither watched nor killed
        _log().info("the fork server's child %s is not a process this command sees: not used", hello[1])
        conn.close()
        return None
    return conn, stdout, hello[1]


def _child_seen_here(conn: socket.socket, pid: int) -> bool:
    """Whether ``pid`` (a forked worker's own word) is, as this process sees processes, a child of
    the server at the other end of ``conn``, whose id the system gives (``SO_PEERCRED``: 0 when the
    server is in a PID namespace this process does not see). Where the system says neither (no
    ``SO_PEERCRED`` or no ``/proc``), the word is taken."""
    credentials = peer_credentials(conn)
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


def _log() -> logging.Logger:
    """This module's logger, imported only when there is something to say: a command line that
    finds no agent runs without ``logging`` until its own set-up."""
    import logging

    return logging.getLogger(__name__)
