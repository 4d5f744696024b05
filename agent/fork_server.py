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
  user's own processes get a worker, and a worker can do nothing those processes could not; on
  Linux, the peer must also share the server's namespaces (``fork_channel.shares_namespaces``): a
  process of the user in a sandbox (a socket connects even on a read-only mount) gets nothing
  outside it, and the caller checks the server's the same way. The
  caller checks the server's user id the same way before it reads the hello (a pickle) or sends
  its environment: a state folder another user controls (a HOME kept by ``sudo``, a shared
  ``state_dir``) gives the caller a spawned worker, never that user's socket;
* the server is a child of the agent and ends when the agent does (its stdin, a pipe from the
  agent, closes), removing its socket; a socket left by a server that was killed is refused by
  the system (nothing listens) and the caller spawns its worker as before.

A worker serves only a caller of the same build (:func:`identity`, sent in its first frame): a
command line updated while an older agent still runs spawns its worker.

A child can also be a command line's command rather than a worker (agent.cli.warm: ``verify``,
which asks nothing at the terminal): the caller sends its arguments, directory, environment and
standard streams, and the child runs the command line's ``main`` on them, where the command's own
modules, both languages' parsers and the system roots' trust index are ready. Its verification still
runs in a worker of its own, forked by this server. The callers' side of the socket (checks
included) is agent.fork_channel.

A socket's path is limited to about 100 bytes (``sockaddr_un``); a longer state folder is reached
through ``/proc/self/fd`` on Linux, and elsewhere the server is simply not used.
"""

from __future__ import annotations

import gc
import importlib
import logging
import os
import pickle
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from .fork_channel import SendSide, available, identity, peer_uid, shares_namespaces, short_address, socket_path

log = logging.getLogger(__name__)

__all__ = ["ForkServer", "main", "serve", "take_context"]

SERVER_FLAG = "--fork-server"
#: The validation stack, every format's validator included, imported once by the server (about
#: 60 MB, shared by its children until they write to it).
VALIDATION_MODULES = ("agent.validation.detect", "agent.validation.batch", "agent.validation.cades",
                      "agent.validation.xades", "agent.validation.pes", "agent.validation.asic",
                      "agent.validation.pades")
#: What a command the server runs for the command line (agent.cli.warm: ``verify``) imports,
#: from its parser to its job and its printed report.
COMMAND_MODULES = ("asyncio", "concurrent.futures.thread", "agent.cli", "agent.cli.parser", "agent.cli.help",
                   "agent.cli.lang", "agent.cli.verify", "agent.settings_load", "agent.logs", "agent.audit",
                   "agent.jobs.manager", "agent.kinds.registry", "agent.kinds.verify", "agent.pki.pem",
                   "agent.validation.report_html", "agent.process_guard")
#: Run once after the imports (``"module:function"``, comma-separated): what every child would
#: otherwise compute first, the system's roots indexed and the command line's parsers built.
WARM_UP = "agent.validation.chain:warm_up_system_roots,agent.cli.parser:build_ahead"
#: What runs a command line's command in a child (``"command"`` request, with its three standard
#: streams): named, as a worker's calls are, the command line being a layer above this module.
COMMAND_HANDLER = "agent.cli.warm:serve_command"


# --- the server ----------------------------------------------------------------------------------


class ForkServer:
    """The agent's handle on its fork server: started with the agent, stopped with it."""

    def __init__(self, state_dir: Path, modules: tuple[str, ...] = VALIDATION_MODULES + COMMAND_MODULES,
                 warm_up: str = WARM_UP) -> None:
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
        with short_address(path) as address:
            listener.bind(address)
    finally:
        os.umask(old_mask)
    listener.listen(16)
    return listener


def _serve_child(conn: socket.socket, listener: socket.socket) -> None:
    """In a forked child: serve this one connection (an isolated worker, or a command line's
    command: agent.cli.warm), then end."""
    from .frames import write_frame
    from .isolation import serve_calls

    try:
        listener.close()
        for inherited in (signal.SIGCHLD, signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(inherited, signal.SIG_DFL)
        writer = SendSide(conn)
        write_frame(writer, ("hello", os.getpid(), identity()))
        request, fds = _read_request(conn)
        if isinstance(request, tuple) and len(request) == 2 and request[0] == "command" and len(fds) == 3:
            module, _, function = COMMAND_HANDLER.partition(":")
            getattr(importlib.import_module(module), function)(conn, request[1], fds)
            return
        for fd in fds:  # a worker takes no descriptor
            os.close(fd)
        if not (isinstance(request, tuple) and len(request) == 3 and request[0] == "context"):
            return
        _, cwd, environ = request
        os.close(0)  # the agent's lifeline is the server's, not this worker's
        sys.stdout = sys.stderr  # nothing a library prints may corrupt the frames
        take_context(cwd, environ)
        serve_calls(conn.makefile("rb"), writer)
    finally:
        os._exit(0)


def _read_request(conn: socket.socket) -> tuple[object, list[int]]:
    """The caller's first frame and the descriptors sent with it (``SCM_RIGHTS``, a command's
    standard streams: agent.cli.warm), read without a buffer so that the next frames are
    read whole from the connection."""
    from .frames import FRAME_HEADER

    header, fds, _flags, _address = socket.recv_fds(conn, FRAME_HEADER.size, 3)
    try:
        header += _received(conn, FRAME_HEADER.size - len(header)) if header else b""
        if len(header) < FRAME_HEADER.size:
            raise EOFError
        (size,) = FRAME_HEADER.unpack(header)
        request = pickle.loads(_received(conn, size))  # noqa: S301 — from a process of this user, checked at accept
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise
    return request, fds


def _received(conn: socket.socket, size: int) -> bytes:
    """Exactly ``size`` bytes from ``conn``; EOFError if it ends before."""
    data = bytearray()
    while len(data) < size:
        chunk = conn.recv(min(size - len(data), 1 << 20))
        if not chunk:
            raise EOFError
        data += chunk
    return bytes(data)


def take_context(cwd: str, environ: dict[str, str]) -> None:
    """Run in the caller's directory and environment, as a process it spawned would."""
    try:
        os.chdir(cwd)
    except OSError:  # removed since, or not searchable: relative paths fail as they would there,
        import tempfile  # in a folder removed, rather than name the server's files

        gone = tempfile.mkdtemp()
        os.chdir(gone)
        os.rmdir(gone)
    os.environ.clear()
    os.environ.update(environ)
    if (temporary := sys.modules.get("tempfile")) is not None:
        temporary.tempdir = None  # found from this server's environment once: the caller's TMPDIR next
    if hasattr(time, "tzset"):  # local times in the caller's zone (TZ), as its own process would give them
        time.tzset()


def serve(path: Path, modules: tuple[str, ...], warm_up: str = "") -> int:
    """The server's loop: import ``modules``, run ``warm_up`` (``"module:function"``, comma-separated, or empty),
    listen at ``path``, fork a child for each connection of this user (a worker, or a command line's
    command), until stdin closes."""
    from .isolation import preload
    from .process_guard import forbid_core_dumps

    forbid_core_dumps()
    preload(*modules)
    for step in filter(None, warm_up.split(",")):
        module, _, function = step.partition(":")
        try:
            getattr(importlib.import_module(module), function)()
        except Exception:  # noqa: BLE001 — a warm-up that fails leaves the children as fast as spawned ones
            log.warning("fork server: warm-up %s failed", step, exc_info=True)
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
            if not shares_namespaces(conn):
                log.warning("fork server: connection from a process in other namespaces (a sandbox) refused")
                conn.close()
                continue
            try:
                child = os.fork()
            except OSError as exc:  # the user's process limit, the memory: this caller runs cold
                log.warning("fork server: no child for a connection: %s", exc)
                child = -1
            if child == 0:
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
