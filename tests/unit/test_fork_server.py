"""agent.fork_server: warm isolated workers forked by a server that imported the validation stack
once. A forked worker must behave as a spawned one (limits, errors, a fresh process for each
connection), serve only its own user, and leave nothing behind when the agent ends."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from agent.fork_channel import HANDSHAKE, ForkedWorker, connect, connector, identity
from agent.fork_server import ForkServer
from agent.isolation import IsolatedWorker, IsolationLimit, use_fork_server, write_frame
from tests.support.os_users import OsUser, open_home, os_user  # noqa: F401  (fixture)

MiB = 1024 * 1024
TARGETS = "tests.support.isolation_targets"


def _started(server: ForkServer, timeout: float = 60.0) -> ForkServer:
    assert server.start()
    deadline = time.monotonic() + timeout
    while not server.path.exists():
        assert time.monotonic() < deadline, "the fork server never listened"
        time.sleep(0.02)
    return server


@pytest.fixture(scope="module")
def warm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ForkServer]:
    """A fork server in a private folder, with the agent's validation stack and its warm-up (started
    once: every test gets fresh workers from it)."""
    folder = tmp_path_factory.mktemp("state")
    folder.chmod(0o700)
    started = _started(ForkServer(folder))
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
def server(warm_server: ForkServer) -> Iterator[ForkServer]:
    """The fork server new workers of this process come from during the test."""
    use_fork_server(connector(warm_server.path))
    try:
        yield warm_server
    finally:
        use_fork_server(None)


def _parent_of(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


def test_a_forked_worker_comes_warm_from_the_server(server: ForkServer) -> None:
    with IsolatedWorker(memory_bytes=1024 * MiB, timeout=60) as worker:
        assert worker.call(f"{TARGETS}:add", 2, 3) == 5
        proc = worker._proc
        assert isinstance(proc, ForkedWorker)
        assert _parent_of(proc.pid) == server.pid
        # every format's validator was imported by the server, before this worker existed
        assert worker.call(f"{TARGETS}:imported", "agent.validation.detect", "agent.validation.pades",
                           "agent.validation.xades") == ["agent.validation.detect", "agent.validation.pades",
                                                         "agent.validation.xades"]
        # and the system's roots were parsed and indexed (chain.warm_up_system_roots)
        assert worker.call(f"{TARGETS}:parsed_anchors") > 0


def test_a_forked_worker_answers_as_a_spawned_one(server: ForkServer) -> None:
    seen: list[tuple[int, int]] = []
    with IsolatedWorker(memory_bytes=1024 * MiB, timeout=60) as worker:
        assert worker.call(f"{TARGETS}:add", 2, 3, progress=lambda d, t: seen.append((d, t))) == 5
        assert seen == [(0, 3), (1, 3), (2, 3)]
        with pytest.raises(ValueError, match="bad file"):
            worker.call(f"{TARGETS}:fail", "bad file")
        assert worker.call(f"{TARGETS}:add", 1, 1) == 2


def test_a_forked_worker_runs_in_the_callers_directory_and_environment(
        server: ForkServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As a spawned worker inherits them: a relative path names the caller's file, a proxy variable
    is the caller's (the server started elsewhere, with the agent's)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COMPAGNON_TEST_MARK", "appelant")
    with IsolatedWorker(memory_bytes=1024 * MiB, timeout=60) as worker:
        assert worker.call(f"{TARGETS}:where", "COMPAGNON_TEST_MARK") == (str(tmp_path), "appelant")
        assert isinstance(worker._proc, ForkedWorker)


def test_memory_and_time_limits_stop_a_forked_worker_and_the_server_lives_on(server: ForkServer) -> None:
    with IsolatedWorker(memory_bytes=300 * MiB, timeout=60) as worker:
        with pytest.raises(IsolationLimit) as stopped:
            worker.call(f"{TARGETS}:hog", 900)
        assert stopped.value.reason == "memory"
        first = worker._proc
        assert worker.call(f"{TARGETS}:add", 1, 2) == 3  # a fresh worker, forked again
        assert isinstance(worker._proc, ForkedWorker) and worker._proc is not first
    with IsolatedWorker(memory_bytes=1024 * MiB, timeout=1.0) as worker:
        with pytest.raises(IsolationLimit) as stopped:
            worker.call(f"{TARGETS}:loop_for", 30)
        assert stopped.value.reason == "time"
    assert server._proc is not None and server._proc.poll() is None


def test_each_worker_is_a_fresh_process_that_sees_nothing_of_the_previous_one(server: ForkServer) -> None:
    with IsolatedWorker(memory_bytes=1024 * MiB, timeout=60) as first:
        first.call(f"{TARGETS}:remember", 42)
        assert first.call(f"{TARGETS}:recall") == 42
        pid = first._proc.pid  # type: ignore[union-attr]  # set by the call
    with IsolatedWorker(memory_bytes=1024 * MiB, timeout=60) as second:
        with pytest.raises(KeyError):
            second.call(f"{TARGETS}:recall")
        assert second._proc.pid != pid  # type: ignore[union-attr]
    assert not Path(f"/proc/{pid}").exists()  # the closed worker has ended


def test_the_server_ends_with_the_agent_and_removes_its_socket(tmp_path: Path) -> None:
    server = _started(ForkServer(tmp_path, modules=(), warm_up=""))
    proc = server._proc
    assert proc is not None
    assert (server.path.stat().st_mode & 0o777) == 0o600
    server.stop()
    assert proc.returncode == 0 and not server.path.exists()
    assert connect(server.path) is None


def test_a_terminal_closed_or_a_term_ends_the_server_with_its_socket_and_ctrl_c_is_the_agents(tmp_path: Path) -> None:
    """A TERM or a HUP sent to the agent's whole process group (``timeout``, a closed terminal)
    reaches the server too: it removes its socket as it ends. Ctrl-C is left to the agent, which
    closes the server's lifeline."""
    import signal

    for ending in (signal.SIGTERM, signal.SIGHUP):
        server = _started(ForkServer(tmp_path, modules=(), warm_up=""))
        proc = server._proc
        assert proc is not None
        proc.send_signal(signal.SIGINT)
        time.sleep(0.3)
        assert proc.poll() is None and connect(server.path) is not None
        proc.send_signal(ending)
        assert proc.wait(10) == 0
        assert not server.path.exists()
        server.stop()


def test_a_socket_left_by_a_killed_server_gives_a_spawned_worker(tmp_path: Path) -> None:
    stale = tmp_path / "workers.sock"
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(stale))
    sock.close()  # the path stays, nothing listens
    use_fork_server(connector(stale))
    try:
        with IsolatedWorker(memory_bytes=512 * MiB, timeout=60) as worker:
            assert worker.call(f"{TARGETS}:add", 2, 2) == 4
            assert isinstance(worker._proc, subprocess.Popen)
    finally:
        use_fork_server(None)


def test_a_long_state_folder_is_reached_through_its_descriptor(tmp_path: Path) -> None:
    folder = tmp_path / ("d" * 60) / ("e" * 60)
    folder.mkdir(parents=True)
    assert len(str(folder / "workers.sock")) > 108
    server = _started(ForkServer(folder, modules=(), warm_up=""))
    try:
        worker = connect(server.path)
        assert worker is not None and _parent_of(worker.pid) == server.pid
        worker.stdin.close()
        worker.wait(5)
    finally:
        server.stop()


_RAW_CLIENT = """
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
print(len(s.recv(64)))
"""


def test_another_user_gets_no_worker_even_through_an_open_socket(open_home: Path) -> None:  # noqa: F811
    """The state folder (0700) and the socket (0600) already keep other users out; were both opened,
    the server still checks the peer's user id before forking (``SO_PEERCRED``)."""
    other = os_user("compagnon-fork-other")
    server = _started(ForkServer(open_home, modules=(), warm_up=""))
    try:
        os.chmod(server.path, 0o666)
        refused = other.run(["/usr/bin/python3", "-c", _RAW_CLIENT, str(server.path)], timeout=30)
        assert refused.returncode == 0, refused.stderr
        assert refused.stdout.strip() == "0"  # closed at once: no hello, no worker
        own = subprocess.run(["/usr/bin/python3", "-c", _RAW_CLIENT, str(server.path)], capture_output=True,
                             text=True, timeout=30)
        assert int(own.stdout.strip()) > 0  # the same client as the server's user gets its hello
    finally:
        server.stop()


_FOREIGN_SERVER = """
import os, pickle, socket, struct, sys
path, marker, seen = sys.argv[1:4]

class Run:  # what a pickle can make its reader do: here, create the marker as the reader's user
    def __reduce__(self):
        return os.system, ("mkdir " + marker,)

listener = socket.socket(socket.AF_UNIX)
listener.bind(path)
os.chmod(path, 0o777)
listener.listen(1)
conn, _ = listener.accept()
hello = pickle.dumps(("hello", Run()), protocol=2)
conn.sendall(struct.pack(">I", len(hello)) + hello)
conn.settimeout(10)
received = b""
try:
    while True:
        chunk = conn.recv(65536)
        if not chunk:
            break
        received += chunk
except OSError:
    pass
with open(seen, "wb") as out:
    out.write(received)
"""


def _connect_through(prefix: list[str], path: Path, marker: Path, seen: Path) -> ForkedWorker | None:
    """What :func:`connect` makes of the foreign server ``_FOREIGN_SERVER`` started through ``prefix``
    (another user, a sandbox) at ``path``; the server has ended when this returns."""
    foreign = subprocess.Popen([*prefix, "/usr/bin/python3", "-c", _FOREIGN_SERVER, str(path), str(marker), str(seen)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while not path.exists():
            assert foreign.poll() is None and time.monotonic() < deadline, foreign.stderr.read()  # type: ignore[union-attr]  # stderr is a pipe
            time.sleep(0.02)
        worker = connect(path)
        if worker is not None:
            worker.stdin.close()
        foreign.wait(30)
    finally:
        if foreign.poll() is None:
            foreign.kill()
            foreign.wait(5)
    return worker


def test_a_socket_of_another_user_at_the_path_gets_nothing_from_the_caller(
        open_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    """The caller checks the server's user id too (``SO_PEERCRED``) before it reads a byte: a state
    folder that another user controls (a HOME kept by ``sudo``, a shared ``state_dir``) must not let
    that user's socket hand the caller a pickle to run, nor receive the caller's environment."""
    other = os_user("compagnon-fork-other")
    folder = open_home / "state"
    folder.mkdir(mode=0o700)
    other.own(folder)
    path, marker, seen = folder / "workers.sock", open_home / "ran-as-caller", folder / "seen"
    monkeypatch.setenv("COMPAGNON_TEST_SECRET", "caller-secret")
    worker = _connect_through(["runuser", "-u", other.name, "--"], path, marker, seen)
    assert worker is None
    assert not marker.exists()  # the foreign pickle was never read
    assert b"caller-secret" not in (seen.read_bytes() if seen.exists() else b"")


def test_a_server_of_another_build_gives_no_worker(tmp_path: Path) -> None:
    """An agent still running the version before an update (or another installation) forks workers
    with its own validation code and frames: the command spawns its own worker instead of talking to
    it (an older server once took the new handshake for a call and crashed the verification)."""
    path = tmp_path / "workers.sock"
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(path))
    listener.listen(4)

    def serve(hello: object) -> None:
        conn, _ = listener.accept()
        if isinstance(hello, bytes):  # a frame that is no pickle
            conn.sendall(len(hello).to_bytes(4, "big") + hello)
        else:
            write_frame(conn.makefile("wb"), hello)
        conn.recv(1)  # held open until the caller closes it
        conn.close()

    import threading

    for hello in (b"\x80\x04\x95garbage",  # no pickle at all
                  ("hello", os.getpid()),  # the first handshake, without a build
                  ("hello", os.getpid(), (HANDSHAKE, "0.0.1", identity()[2])),
                  ("hello", os.getpid(), (HANDSHAKE + 1, *identity()[1:]))):
        thread = threading.Thread(target=serve, args=(hello,))
        thread.start()
        assert connect(path) is None
        thread.join(10)
    use_fork_server(connector(path))
    try:
        thread = threading.Thread(target=serve, args=(("hello", os.getpid(), ("other",)),))
        thread.start()
        with IsolatedWorker(memory_bytes=512 * MiB, timeout=60) as worker:
            assert worker.call(f"{TARGETS}:add", 2, 2) == 4
            assert isinstance(worker._proc, subprocess.Popen)
        thread.join(10)
    finally:
        use_fork_server(None)
        listener.close()


_DYING_CALLER = """
import os, sys
from pathlib import Path
sys.path.insert(0, os.getcwd())
from agent.fork_channel import connector
from agent.isolation import IsolatedWorker, use_fork_server
use_fork_server(connector(Path(sys.argv[1])) if sys.argv[1] else None)
worker = IsolatedWorker(1 << 30, 600)
worker.call("tests.support.isolation_targets:add", 1, 1)
print(worker._proc.pid, type(worker._proc).__name__, flush=True)
worker.call("tests.support.isolation_targets:loop_for", 600)
"""


@pytest.mark.parametrize("source", ["forked", "spawned"])
def test_a_worker_whose_caller_is_killed_mid_call_ends(server: ForkServer, source: str) -> None:
    """Only the caller enforces the limits: a worker that outlived it (``kill -9`` of a command
    line mid-file; or its terminal closed, whose SIGHUP reaches a spawned worker, not a forked one)
    would run on unwatched, as long and as large as the file makes it. It ends when its caller's
    end of the connection (or its stdin) is gone."""
    caller = subprocess.Popen([sys.executable, "-c", _DYING_CALLER, str(server.path) if source == "forked" else ""],
                              stdout=subprocess.PIPE, text=True)
    assert caller.stdout is not None
    pid, kind = caller.stdout.readline().split()
    assert kind == ("ForkedWorker" if source == "forked" else "Popen")
    time.sleep(0.5)  # in its long call now
    caller.kill()
    caller.wait(10)
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}").exists() and _state(int(pid)) != "Z":
        assert time.monotonic() < deadline, f"the {source} worker runs on without its caller"
        time.sleep(0.05)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"


_CALLER_IN_ITS_OWN_PIDS = """
import os, sys
from pathlib import Path
sys.path.insert(0, os.getcwd())
from agent.fork_channel import connector
from agent.isolation import IsolatedWorker, IsolationLimit, use_fork_server
use_fork_server(connector(Path(sys.argv[1])))
with IsolatedWorker(300 << 20, 60) as worker:
    try:
        worker.call("tests.support.isolation_targets:hog", 900)
        print("not stopped", type(worker._proc).__name__)
    except IsolationLimit as stopped:
        print(stopped.reason)
"""


def test_a_caller_that_cannot_see_the_servers_processes_spawns_its_worker(server: ForkServer) -> None:
    """The caller watches and kills its worker by the process id the worker gives: a command in
    another PID namespace than the agent (a toolbox or distrobox container sharing the user's home)
    cannot see that process, so it would watch nothing and kill nothing: a file past the memory
    cap ran on. The worker's id must be a child of the server as this caller sees them, else the
    caller spawns its own worker."""
    ran = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", sys.executable, "-c", _CALLER_IN_ITS_OWN_PIDS,
                          str(server.path)], capture_output=True, text=True, timeout=120)
    assert ran.stdout.strip() == "memory", ran.stdout + ran.stderr[-2000:]


def test_an_agent_that_finds_no_port_starts_no_fork_server(settings) -> None:  # type: ignore[no-untyped-def]
    """The fork server starts once the agent listens: an agent that found no free port (and whose
    process may live on, as the tray's does to say so) leaves no idle server behind."""
    import asyncio
    from dataclasses import replace

    from agent.consent import PolicyConsent
    from agent.service import AgentService, PortsUnavailable

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        service = AgentService(replace(settings, port=taken.getsockname()[1], port_fallback=False),
                               PolicyConsent(False))
        with pytest.raises(PortsUnavailable):
            asyncio.run(service.start())
    assert service.fork_server.pid is None
    assert not service.fork_server.path.exists()


_LIMITED_SERVER = """
import resource, sys
sys.path.insert(0, sys.argv[2])
from pathlib import Path
from agent.fork_server import serve
resource.setrlimit(resource.RLIMIT_NPROC, (3, 3))  # this server, its client, one child
sys.exit(serve(Path(sys.argv[1]), ()))
"""

_THREE_CLIENTS = """
import socket, sys, time
def hello(path):
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    s.settimeout(10)
    return s, len(s.recv(64))
first, got = hello(sys.argv[1])
print(got)
second, got = hello(sys.argv[1])  # no process left for its child
print(got)
second.close()
first.close()  # its child ends: room for another
deadline, got = time.monotonic() + 20, -1
while got <= 0 and time.monotonic() < deadline:
    try:
        third, got = hello(sys.argv[1])
    except OSError:  # nothing listens any more
        got = -1
    time.sleep(0.1)
print(got)
"""


def test_a_fork_that_fails_refuses_one_connection_and_the_server_lives_on(open_home: Path) -> None:  # noqa: F811
    """The user's process limit reached (``RLIMIT_NPROC``, a cgroup's ``pids.max``) or the memory
    short: that connection gets nothing, and the server still serves the next ones instead of
    ending, and every command after it running cold until the agent restarts."""
    other = os_user("compagnon-fork-nproc")
    with _server_of(other, _LIMITED_SERVER, open_home) as (server, path, _root):
        clients = subprocess.run(["/usr/bin/python3", "-c", _THREE_CLIENTS, str(path)], capture_output=True,
                                 text=True, user=other.uid, group=other.gid, cwd="/", timeout=60)
        first, refused, third = (int(line) for line in clients.stdout.split())
        assert first > 0 and refused == 0, clients.stderr
        assert third > 0, "the server ended at the failed fork"
        assert server.poll() is None and path.exists()


@contextmanager
def _server_of(user: OsUser, source: str, home: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path, str]]:
    """A fork server run by ``user`` (``source``: its script, given the socket's path and this
    checkout's folder) in a state folder of theirs under ``home``, until its lifeline closes."""
    folder = home / "state"
    folder.mkdir(mode=0o700)
    user.own(folder)
    path = folder / "workers.sock"
    root = str(Path(__file__).resolve().parents[2])
    server = subprocess.Popen(["/usr/bin/python3", "-c", source, str(path), root], stdin=subprocess.PIPE,
                              stderr=subprocess.PIPE, user=user.uid, group=user.gid, cwd="/")
    try:
        deadline = time.monotonic() + 30
        while not path.exists():
            assert server.poll() is None and time.monotonic() < deadline, server.stderr.read()  # type: ignore[union-attr]  # stderr is a pipe
            time.sleep(0.02)
        yield server, path, root
    finally:
        assert server.stdin is not None
        server.stdin.close()
        server.wait(10)


@pytest.mark.parametrize("sandbox", [["--net"], ["--mount"], ["--user", "--map-root-user"], ["--pid", "--fork"]])
def test_a_sandboxed_process_of_the_user_gets_no_child(tmp_path: Path, sandbox: list[str]) -> None:
    """A process of the same user shut in a sandbox (no network, its own mounts: a Flatpak or a
    browser's, with the home read-only, where a socket still connects) would get, through the
    socket, a child outside of it: its calls name any function to run, with the network and the
    files the sandbox denies. A peer in other namespaces than the server's gets no hello."""
    server = _started(ForkServer(tmp_path, modules=(), warm_up=""))
    try:
        shut = subprocess.run(["unshare", *sandbox, "/usr/bin/python3", "-c", _RAW_CLIENT, str(server.path)],
                              capture_output=True, text=True, timeout=30)
        assert shut.returncode == 0, shut.stderr
        assert shut.stdout.strip() == "0"  # closed at once: no hello, no child
        own = subprocess.run(["/usr/bin/python3", "-c", _RAW_CLIENT, str(server.path)], capture_output=True,
                             text=True, timeout=30)
        assert int(own.stdout.strip()) > 0
        assert server._proc is not None and server._proc.poll() is None
    finally:
        server.stop()


_CONTEXT_TAKEN = """
import os, sys
sys.path.insert(0, sys.argv[3])
from pathlib import Path
from agent.fork_server import take_context
os.chdir(sys.argv[1])  # the server's folder, which holds an offre.p7m
take_context(sys.argv[2], {**os.environ, "TMPDIR": sys.argv[4]})
import tempfile
print(Path("offre.p7m").exists(), tempfile.gettempdir() == sys.argv[4])
"""


def test_a_callers_folder_that_cannot_be_entered_names_no_file_of_the_servers_folder(tmp_path: Path) -> None:
    """The caller's folder removed since (or not searchable): a relative path must fail there as it
    would for the caller, never name a file of the server's own folder; the temporary files are
    still the caller's (its ``TMPDIR``)."""
    servers, callers = tmp_path / "agent", tmp_path / "tmp-appelant"
    servers.mkdir()
    callers.mkdir()
    (servers / "offre.p7m").write_bytes(b"un autre fichier")
    taken = subprocess.run([sys.executable, "-c", _CONTEXT_TAKEN, str(servers), str(tmp_path / "supprime"),
                            str(Path(__file__).resolve().parents[2]), str(callers)], capture_output=True, text=True,
                           timeout=30)
    assert taken.stdout.strip() == "False True", taken.stderr


@pytest.mark.parametrize("sandbox", [["--net"], ["--mount"], ["--user", "--map-root-user"]])
def test_a_socket_of_a_sandboxed_process_of_the_user_gets_nothing_from_the_caller(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sandbox: list[str]) -> None:
    """A process of the same user shut in a sandbox that can write the state folder, listening at
    the socket's path: the caller must neither read its hello (a pickle: code run outside the
    sandbox, as the caller) nor send it its environment."""
    path, marker, seen = tmp_path / "workers.sock", tmp_path / "ran-as-caller", tmp_path / "seen"
    monkeypatch.setenv("COMPAGNON_TEST_SECRET", "caller-secret")
    worker = _connect_through(["unshare", *sandbox], path, marker, seen)
    assert worker is None
    assert not marker.exists()  # the sandbox's pickle was never read
    assert b"caller-secret" not in (seen.read_bytes() if seen.exists() else b"")


_USERS_SERVER = """
import sys
sys.path.insert(0, sys.argv[2])
from pathlib import Path
from agent.fork_server import serve
sys.exit(serve(Path(sys.argv[1]), ()))  # not dumpable, as any agent's: agent.process_guard
"""

_GUARDED_CALLER = """
import sys
sys.path.insert(0, sys.argv[2])
from pathlib import Path
from agent.fork_channel import open_child
from agent.process_guard import forbid_core_dumps
forbid_core_dumps()  # as the agent and a command line are: not dumpable, their /proc/PID/ns closed
print(open_child(Path(sys.argv[1])) is not None)
"""


def test_a_user_who_is_not_root_gets_children_of_the_server(open_home: Path) -> None:  # noqa: F811
    """The checks of each other's namespaces hold between two processes of a user who is not root,
    neither of them dumpable (``/proc/PID/ns`` is closed to the other then): the caller gets its
    child, as the agent and the command line do."""
    user = os_user("compagnon-fork-own")
    with _server_of(user, _USERS_SERVER, open_home) as (_server, path, root):
        caller = subprocess.run(["/usr/bin/python3", "-c", _GUARDED_CALLER, str(path), root], capture_output=True,
                                text=True, user=user.uid, group=user.gid, cwd="/", timeout=60)
        assert caller.stdout.strip() == "True", caller.stderr
