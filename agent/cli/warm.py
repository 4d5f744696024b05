"""Commands run warm by this user's running agent: ``compagnon verify`` in a few tens of milliseconds.

A one-file ``verify`` does little work (about 0.04 s in its isolated worker), but its process first
pays an interpreter, the command line's modules, the settings, the log and the job runner: about
0.25 s of CPU. When this user's agent runs, its fork server (agent.fork_server) has all of those
imported already. The command's process then only connects to that server, sends its arguments,
its directory, its environment, its umask and its three standard streams (``SCM_RIGHTS``), and
waits for the exit code; the server forks a child that runs the same ``agent.cli.main`` on them.
The child reads the settings, writes the log and takes its own isolated worker from the server
exactly as the command would have, and prints straight to the command's terminal, pipe or file.

Only commands that ask nothing and hold no secret are run so (``RELAYED``): a PIN typed at a
terminal stays with a process of that terminal. The checks are those of a forked worker (the
server is this user's, of this build, its child a process this command sees: agent.fork_server)
and anything else (no agent, another build, a system without ``fork`` or ``SCM_RIGHTS``) runs the
command in its own process, as before. A command interrupted (Ctrl-C, its terminal closed, ``kill
-9``) hangs up, and the child ends then, its isolated worker with it.

What the child does not take from the command: its resource limits, supplementary groups, process
group and security context (those are the agent's, of the same user); the command line's language
comes from the environment and so is the caller's.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import IO, TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    import socket

__all__ = ["OPT_OUT", "RELAYED", "Command", "run_in_agent", "serve_command"]

#: The commands a running agent runs for the command line: none asks anything at the terminal.
RELAYED = frozenset({"verify"})
#: Set (to anything): every command runs in its own process (a comparison, a doubt).
OPT_OUT = "COMPAGNON_NO_WARM_COMMANDS"


class Command(NamedTuple):
    """What the child needs to be the command's process: sent with the three standard streams."""

    program: str
    args: list[str]
    cwd: str
    environ: dict[str, str]
    umask: int
    #: (encoding, errors) of stdin, stdout and stderr
    streams: list[tuple[str, str]]


def default_socket() -> Path:
    """The fork server's socket of an agent with the default state folder (agent.config); an agent
    configured with another folder is not found, and the command runs in its own process."""
    import platformdirs

    from ..fork_channel import socket_path

    return socket_path(Path(platformdirs.user_state_dir("compagnon", appauthor=False)))


def run_in_agent(args: list[str]) -> int | None:
    """Run ``compagnon ARGS`` in a child of this user's running agent; its exit code, or None when
    the command is not one of ``RELAYED`` or no agent can run it (it then runs in this process)."""
    if not args or args[0] not in RELAYED or os.environ.get(OPT_OUT):
        return None
    if None in (sys.stdin, sys.stdout, sys.stderr):
        # a standard stream closed at start: its number is the next descriptor opened, maybe the
        # connection itself, which the child would then hold open after this process ends
        return None
    import socket

    if not hasattr(socket, "send_fds"):  # Windows: no descriptor passing (nor a fork server)
        return None
    from ..fork_channel import open_child

    opened = open_child(default_socket())
    if opened is None:
        return None
    conn, replies, _pid = opened
    with conn, replies:
        if not _send_command(conn, args):
            return None
        return _exit_code(replies)


def _send_command(conn: socket.socket, args: list[str]) -> bool:
    """The request and this process's standard streams, in one message; False if it did not go
    (the child then ran nothing)."""
    import pickle
    import socket

    from ..frames import FRAME_HEADER

    mask = os.umask(0o077)
    os.umask(mask)
    streams = [(stream.encoding, stream.errors or "strict") for stream in (sys.stdin, sys.stdout, sys.stderr)]
    try:
        cwd = os.getcwd()
    except OSError:  # this folder removed: no child can be in it, this process runs the command
        return False
    command = Command(sys.argv[0], list(args), cwd, dict(os.environ), mask, streams)
    data = pickle.dumps(("command", command), protocol=pickle.HIGHEST_PROTOCOL)
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        socket.send_fds(conn, [FRAME_HEADER.pack(len(data)) + data], [0, 1, 2])
    except OSError:  # a closed standard stream, a child gone: this process runs the command
        return False
    return True


def _exit_code(replies: IO[bytes]) -> int:
    """Wait for the child's exit code; Ctrl-C hangs up (the child ends) and exits as Python does."""
    from ..frames import read_frame

    try:
        reply = read_frame(replies)
    except KeyboardInterrupt:  # ended by the signal, as Python ends on Ctrl-C, not exit 130: a shell
        import signal  # then stops its loop over files too, rather than go on with the next one

        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
        return 130
    except (EOFError, OSError):
        reply = None
    if isinstance(reply, tuple) and len(reply) == 2 and reply[0] == "exit" and isinstance(reply[1], int):
        return reply[1]
    from ..i18n import Text
    from .lang import cli_locale

    print(Text("compagnon : la commande s'est interrompue dans l'agent ; relancez-la avec {var}=1 pour "
               "l'exécuter dans ce terminal.", "compagnon: the command stopped inside the agent; run it again "
               "with {var}=1 to run it in this terminal.").render(cli_locale(sys.argv[1:]), var=OPT_OUT),
          file=sys.stderr)
    return 1


# --- in the fork server's child ------------------------------------------------------------------


def serve_command(conn: socket.socket, command: object, fds: list[int]) -> None:
    """In a child of the fork server (its ``COMMAND_HANDLER``): run the command line ``command``
    names on the streams ``fds`` (stdin, stdout, stderr), then send its exit code. Ends the process."""
    import atexit
    import traceback

    from ..fork_server import take_context
    from ..frames import write_frame
    from ..isolation import end_with_caller

    if not isinstance(command, Command) or not command.args or command.args[0] not in RELAYED:
        os._exit(0)  # not a request this build sends: the caller sees the connection end
    for target, fd in enumerate(fds):
        os.dup2(fd, target)  # fd 0 was the agent's lifeline: the server's, not this command's
        os.close(fd)
    os.umask(command.umask)
    import signal

    for stopping in (signal.SIGTTOU, signal.SIGTTIN):  # the agent's process group is not the foreground
        signal.signal(stopping, signal.SIG_IGN)  # of the command's terminal: with tostop, its first line stopped it
    take_context(command.cwd, command.environ)
    _standard_streams(command.streams)
    sys.argv = [command.program, *command.args]
    end_with_caller(conn.fileno())  # the command interrupted: this child ends, and its worker
    code: object
    try:
        from . import main

        code = main(list(command.args))
    except SystemExit as exc:  # argparse's usage errors, --help
        code = exc.code
    except BaseException:  # noqa: BLE001 — shown as the command's own process would show it
        traceback.print_exc()
        code = 1
    if code is None:
        code = 0
    elif not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    try:  # the report buffered until now: a full disk, a pipe closed, fail the command as they
        sys.stdout.flush()  # fail its own process's last flush (agent.cli._end_now): shown, exit 1
    except Exception:  # noqa: BLE001 — shown as the command's own process would show it
        traceback.print_exc()
        code = 1
    import logging

    logging.getLogger(__name__).info("%s run by the agent's fork server (process %d): exit %d",
                                     command.args[0], os.getpid(), code)
    atexit._run_exitfuncs()  # the log flushed, as at a command's exit
    try:
        sys.stderr.flush()
    except OSError:
        pass
    write_frame(conn.makefile("wb"), ("exit", code))
    os._exit(0)


def _standard_streams(streams: list[tuple[str, str]]) -> None:
    """``sys.stdin``/``stdout``/``stderr`` on the command's descriptors, with its encodings; a
    terminal gets its lines as they are written, as Python gives them."""
    (in_encoding, in_errors), (out_encoding, out_errors), (err_encoding, err_errors) = streams
    sys.stdin = open(0, encoding=in_encoding, errors=in_errors, closefd=False)
    sys.stdout = open(1, "w", encoding=out_encoding, errors=out_errors, closefd=False,
                      buffering=1 if os.isatty(1) else -1)
    sys.stderr = open(2, "w", encoding=err_encoding, errors=err_errors, closefd=False, buffering=1)
