"""agent.cli.warm: ``compagnon verify`` run by a child of this user's agent's fork server. The
command must behave exactly as when it runs in its own process (output, errors, language, exit
code, the caller's directory and streams), and a command interrupted must leave nothing running."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from agent.fork_server import ForkServer
from agent.cli.warm import OPT_OUT, run_in_agent
from tests.support.agent_process import ROOT, isolated_env, write_config
from tests.support.pki import TestPki

WARM = "run by the agent's fork server"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("home")
    write_config(home, allowed=["https://plateforme.example"])
    return home


@pytest.fixture(scope="module")
def server(home: Path) -> Iterator[ForkServer]:
    """The fork server an agent of ``home`` starts (its default state folder), with its modules."""
    state = home / ".local/state/compagnon"
    state.mkdir(parents=True, exist_ok=True)
    state.chmod(0o700)
    started = ForkServer(state)
    assert started.start()
    deadline = time.monotonic() + 90
    while not started.path.exists():
        assert time.monotonic() < deadline, "the fork server never listened"
        time.sleep(0.05)
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory, test_pki: TestPki) -> Path:
    folder = tmp_path_factory.mktemp("files")
    content = folder / "offre.txt"
    content.write_text("Offre pour le lot 1 : voir le mémoire technique.\n" * 40, encoding="utf-8")
    return test_pki.openssl_cms("qualified", content, folder / "offre.txt.p7m")


def _compagnon(home: Path, *args: str, cwd: Path = ROOT, warm: bool = True, **env: str
               ) -> subprocess.CompletedProcess[str]:
    environ = {**isolated_env(home), **env}
    if not warm:
        environ[OPT_OUT] = "1"
    return subprocess.run([sys.executable, "-m", "agent", *args], cwd=cwd, env=environ, capture_output=True,
                          text=True, timeout=180)


def _steady(report: str) -> str:
    """A report without the moments of its revocation checks (two runs are a second apart)."""
    return re.sub(r"\d\d/\d\d/\d{4} \d\d:\d\d:\d\d", "JJ/MM/AAAA hh:mm:ss", report)


def _log(home: Path) -> str:
    path = home / ".local/state/compagnon/log/compagnon.log"
    return path.read_text(encoding="utf-8") if path.exists() else ""


def _children(server: ForkServer) -> list[int]:
    """The server's child processes still running (its workers and commands)."""
    assert server.pid is not None
    return _children_of(server.pid)


def _children_of(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == parent and stat[0] != "Z":
                found.append(int(entry.name))
    return found


def test_verify_runs_in_the_agent_with_the_output_and_exit_code_of_its_own_process(
        server: ForkServer, home: Path, signed: Path, test_pki: TestPki) -> None:
    before = _log(home).count(WARM)
    alone = _compagnon(home, "verify", str(signed), "--trust", str(test_pki.root_pem), "--json", warm=False)
    assert _log(home).count(WARM) == before
    warm = _compagnon(home, "verify", str(signed), "--trust", str(test_pki.root_pem), "--json")
    assert _log(home).count(WARM) == before + 1, _log(home)[-2000:]
    assert (warm.returncode, warm.stderr) == (alone.returncode, alone.stderr) == (0, "")
    report, expected = json.loads(_steady(warm.stdout)), json.loads(_steady(alone.stdout))
    assert [s["indication"] for s in report["signatures"]] == ["TOTAL_PASSED"]
    assert report["signatures"] == expected["signatures"]

    # the text report, in each language, byte for byte (the child writes to this command's stdout)
    for lang in ("fr", "en"):
        args = ("verify", str(signed), "--trust", str(test_pki.root_pem), "--lang", lang)
        assert _steady(_compagnon(home, *args).stdout) == _steady(_compagnon(home, *args, warm=False).stdout)
    english = _compagnon(home, "verify", LANG="en_US.UTF-8")  # the caller's environment says the language
    assert english.returncode == 2 and "the following arguments are required" in english.stderr


def test_errors_usage_and_exit_codes_are_the_commands(server: ForkServer, home: Path, signed: Path,
                                                       test_pki: TestPki, tmp_path: Path) -> None:
    tampered = tmp_path / "falsifiee.p7m"
    data = bytearray(signed.read_bytes())
    data[data.index(b"Offre pour le lot 1")] ^= 0x01
    tampered.write_bytes(bytes(data))
    cases = [
        ("verify", str(tampered), "--trust", str(test_pki.root_pem)),  # a signature that fails: exit 1
        ("verify", str(tmp_path / "absent.p7m")),  # an unreadable file: exit 2, its error on stderr
        ("verify",),  # argparse's usage error, in French: exit 2
        ("verify", "--lang", "en"),  # and in English
        ("verify", "--help"),  # exit 0, the help on stdout
    ]
    before = _log(home).count(WARM)
    for args in cases:
        warm, alone = _compagnon(home, *args), _compagnon(home, *args, warm=False)
        assert (warm.returncode, warm.stdout, warm.stderr) == (alone.returncode, alone.stdout, alone.stderr), args
    assert _log(home).count(WARM) == before + 2  # the usage errors and the help end before the log is open
    assert _compagnon(home, *cases[0]).returncode == 1
    usage = _compagnon(home, "verify")
    assert usage.returncode == 2 and "arguments obligatoires manquants" in usage.stderr


def test_the_command_runs_in_the_callers_folder_environment_and_umask(
        server: ForkServer, home: Path, signed: Path, test_pki: TestPki, tmp_path: Path) -> None:
    """A relative path is the caller's, the report file is written where the caller said; the
    agent's folder and environment are not the command's."""
    work = tmp_path / "dossier"
    work.mkdir()
    (work / signed.name).write_bytes(signed.read_bytes())
    ran = subprocess.run(["sh", "-c", f"umask 027 && exec {sys.executable} -m agent verify {signed.name} "
                          f"--trust {test_pki.root_pem} --report rapport.html"],
                         cwd=work, env={**isolated_env(home), "PYTHONPATH": str(ROOT)}, capture_output=True,
                         text=True, timeout=180)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert WARM in _log(home).splitlines()[-1]
    assert (work / "rapport.html").read_text(encoding="utf-8").count("TOTAL_PASSED") >= 1
    assert (work / "rapport.html").stat().st_mode & 0o777 == 0o644 & ~0o027


def test_the_report_is_dated_in_the_callers_time_zone(server: ForkServer, home: Path, signed: Path,
                                                       test_pki: TestPki, tmp_path: Path) -> None:
    """The report says when it was made in local time: the caller's ``TZ``, not the agent's."""
    moments = []
    for warm in (True, False):
        report = tmp_path / f"rapport-{warm}.html"
        ran = _compagnon(home, "verify", str(signed), "--trust", str(test_pki.root_pem), "--report", str(report),
                         warm=warm, TZ="UTC-14")
        assert ran.returncode == 0, ran.stdout + ran.stderr
        made = re.search(r"\d\d/\d\d/\d{4} \d\d:\d\d(?!:)", report.read_text(encoding="utf-8"))
        assert made is not None
        moments.append(datetime.strptime(made.group(0), "%d/%m/%Y %H:%M"))
    assert abs(moments[0] - moments[1]) <= timedelta(minutes=2), moments


def test_a_command_interrupted_leaves_nothing_running(server: ForkServer, home: Path, signed: Path,
                                                      test_pki: TestPki, tmp_path: Path) -> None:
    """Ctrl-C on the command (or its end by any signal) hangs up: the child that ran it ends, and
    the isolated worker it was waiting for ends with it. A detached signature checked against a
    content of 64 GiB (sparse: no disk) keeps the worker hashing until then."""
    signature = test_pki.openssl_cms("qualified", signed, tmp_path / "offre.p7s", attached=False)
    content = tmp_path / "offre.bin"
    with content.open("wb") as stream:
        stream.truncate(64 << 30)
    _until(lambda: not _children(server), "the previous tests' children are still running")
    environ = {**isolated_env(home), "PYTHONPATH": str(ROOT)}
    command = subprocess.Popen([sys.executable, "-m", "agent", "verify", str(signature), "--content", str(content)],
                               env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while len(_children(server)) < 2:  # the command's child and its worker
        assert command.poll() is None, command.communicate()
        assert time.monotonic() < deadline, "the command never reached its worker"
        time.sleep(0.05)
    time.sleep(0.5)  # hashing now
    command.send_signal(signal.SIGINT)
    # ended by the signal, as Python ends its own process on Ctrl-C (not exit 130): a shell's loop
    # over files (for f in *.p7m; do compagnon verify "$f"; done) stops at Ctrl-C, not at the next file
    assert command.wait(30) == -signal.SIGINT
    _until(lambda: not _children(server), "the command's child or its worker runs on without the command")


def _until(condition: Callable[[], bool], message: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, message
        time.sleep(0.05)


def test_only_commands_that_ask_nothing_are_run_by_the_agent(server: ForkServer, home: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A command that may read a PIN or a password at its terminal (sign, decrypt, keygen…) runs in
    its own process, whatever runs beside it."""
    monkeypatch.setenv("XDG_STATE_HOME", str(home / ".local/state"))
    for command in ("sign", "decrypt", "keygen", "certs", "serve", "bids", "audit"):
        assert run_in_agent([command, "--help"]) is None
    monkeypatch.setenv(OPT_OUT, "1")
    assert run_in_agent(["verify", "--help"]) is None


def test_no_module_is_imported_from_the_folder_the_command_runs_in(
        server: ForkServer, home: Path, signed: Path, test_pki: TestPki, tmp_path: Path) -> None:
    """A folder of downloaded files (a bid's documents) may hold ``csv.py`` or any module's name:
    the command's own process (a console script) never imports from its current folder, nor may the
    agent's child that runs it there, nor the isolated worker, forked or spawned."""
    work, markers = tmp_path / "telechargements", tmp_path / "importes"
    work.mkdir()
    markers.mkdir()
    for name in sys.stdlib_module_names:
        (work / f"{name}.py").write_text(f"open({str(markers / name)!r}, 'w').close()\n"
                                         "raise ImportError('planted')\n", encoding="utf-8")
    (work / signed.name).write_bytes(signed.read_bytes())
    # -P: the command line itself, as a console script, does not look in its folder
    environ = {**isolated_env(home), "PYTHONPATH": str(ROOT)}
    for warm in (True, False):
        ran = subprocess.run([sys.executable, "-P", "-m", "agent", "verify", signed.name, "--trust",
                              str(test_pki.root_pem), "--report", "rapport.html"], cwd=work,
                             env=environ if warm else {**environ, OPT_OUT: "1"}, capture_output=True, text=True,
                             timeout=180)
        assert sorted(path.name for path in markers.iterdir()) == [], (warm, ran.stderr)
        assert ran.returncode == 0, ran.stdout + ran.stderr


def test_a_report_that_could_not_be_written_fails_the_command(server: ForkServer, home: Path, signed: Path,
                                                              test_pki: TestPki) -> None:
    """Standard output on a full disk (or a pipe closed early): the command's own process fails
    with the error and exit 1, never exits as if its report had been written; nor may the agent's
    child, whose output is buffered until its end."""
    args = ("verify", str(signed), "--trust", str(test_pki.root_pem))
    for warm in (True, False):
        with open("/dev/full", "w", encoding="utf-8") as full:
            environ = {**isolated_env(home), **({} if warm else {OPT_OUT: "1"})}
            ran = subprocess.run([sys.executable, "-m", "agent", *args], cwd=ROOT, env=environ, stdout=full,
                                 stderr=subprocess.PIPE, text=True, timeout=180)
        assert ran.returncode == 1, (warm, ran.stderr)
        assert "No space left on device" in ran.stderr, (warm, ran.stderr)


def test_a_command_started_with_a_standard_stream_closed_leaves_nothing_running_when_killed(
        server: ForkServer, home: Path, signed: Path, test_pki: TestPki, tmp_path: Path) -> None:
    """A command started with its stdin closed (a service, cron, ``<&-``): the first descriptor it
    opens takes number 0, and the connection to the agent would be sent as the child's own stdin,
    keeping the connection open after a ``kill -9`` of the command: the child and its worker must
    still end with it."""
    signature = tmp_path / "offre.p7s"
    made = subprocess.run(["openssl", "cms", "-sign", "-binary", "-outform", "DER", "-in", str(signed),
                           "-out", str(signature), "-signer", str(test_pki.cert_pem("qualified")),
                           "-inkey", str(test_pki.key_pem("qualified")), "-md", "sha256"], capture_output=True)
    assert made.returncode == 0, made.stderr
    content = tmp_path / "offre.bin"
    with content.open("wb") as stream:
        stream.truncate(64 << 30)
    _until(lambda: not _children(server), "the previous tests' children are still running")
    environ = {**isolated_env(home), "PYTHONPATH": str(ROOT)}
    command = subprocess.Popen(["sh", "-c", 'exec "$0" -m agent verify "$1" --content "$2" <&-', sys.executable,
                                str(signature), str(content)], env=environ, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not _children(server):  # its child in the agent, or the worker its own process forked there
            assert command.poll() is None, command.communicate()
            assert time.monotonic() < deadline, "the command never reached the agent"
            time.sleep(0.05)
        time.sleep(1.5)  # hashing now
    finally:
        command.kill()
        command.wait(30)
    _until(lambda: not _children(server), "the command's child or its worker runs on without the command")


def test_a_file_name_in_the_callers_legacy_encoding_is_the_callers_file(
        server: ForkServer, home: Path, signed: Path, test_pki: TestPki, tmp_path: Path) -> None:
    """A terminal in ISO-8859-1 (``fr_FR.ISO-8859-1``) names ``offre-é.p7m`` with the byte 0xE9: the
    command's own process decodes and re-encodes its arguments in that encoding, so must whatever
    opens the file for it (the agent's child, a forked worker: the agent runs in UTF-8)."""
    locales = tmp_path / "locales"
    locales.mkdir()
    made = subprocess.run(["localedef", "-i", "fr_FR", "-f", "ISO-8859-1", str(locales / "fr_FR.ISO-8859-1")],
                          capture_output=True, text=True)
    assert (locales / "fr_FR.ISO-8859-1").is_dir(), made.stderr
    name = os.fsencode(tmp_path) + b"/offre-\xe9.p7m"
    with open(name, "wb") as out:
        out.write(signed.read_bytes())
    environ = {**isolated_env(home), "LOCPATH": str(locales), "LC_ALL": "fr_FR.ISO-8859-1"}
    runs = []
    for warm in (True, False):
        ran = subprocess.run([sys.executable.encode(), b"-m", b"agent", b"verify", name, b"--trust",
                              os.fsencode(test_pki.root_pem)], cwd=ROOT, capture_output=True, timeout=180,
                             env=environ if warm else {**environ, OPT_OUT: "1"})
        runs.append((ran.returncode, _steady(ran.stdout.decode("latin-1")), ran.stderr.decode("latin-1")))
    assert runs[0] == runs[1]
    assert runs[1][0] == 0, runs[1]


def test_a_command_in_a_removed_folder_runs_as_in_its_own_process(
        server: ForkServer, home: Path, signed: Path, test_pki: TestPki, tmp_path: Path) -> None:
    """The terminal's folder removed under it: an absolute path is still verified, a relative one
    is not found (never a file of the agent's folder of that name)."""
    gone = tmp_path / "supprime"
    runs = []
    for warm in (True, False):
        for name in (str(signed), signed.name):
            gone.mkdir()
            script = 'cd "$1" && rmdir "$1" && exec "$0" -m agent verify "$2" --trust "$3"'
            environ = {**isolated_env(home), "PYTHONPATH": str(ROOT), **({} if warm else {OPT_OUT: "1"})}
            ran = subprocess.run(["sh", "-c", script, sys.executable, str(gone), name, str(test_pki.root_pem)],
                                 env=environ, capture_output=True, text=True, timeout=180)
            runs.append((ran.returncode, _steady(ran.stdout), ran.stderr))
    assert runs[:2] == runs[2:]
    assert runs[2][0] == 0 and runs[3][0] == 2, runs


_IN_A_TERMINAL = """
import os, signal, subprocess, sys, termios, time
from pathlib import Path
sys.path.insert(0, os.getcwd())
from agent.fork_server import ForkServer
state, tty, *command = sys.argv[1:]
terminal = os.open(tty, os.O_RDWR)  # this session's terminal, opened as a login shell's is
attrs = termios.tcgetattr(terminal)
attrs[3] |= termios.TOSTOP  # stty tostop: only the foreground writes
termios.tcsetattr(terminal, termios.TCSANOW, attrs)
server = ForkServer(Path(state))  # the agent started from this terminal: compagnon serve &
server.start()
while not server.path.exists():
    time.sleep(0.05)
signal.signal(signal.SIGTTOU, signal.SIG_IGN)
command = subprocess.Popen(command, stdin=terminal, stdout=terminal, stderr=terminal, process_group=0)
os.tcsetpgrp(terminal, command.pid)  # the command in the foreground, the agent in the background
try:
    print(command.wait(60), flush=True)
except subprocess.TimeoutExpired:
    command.kill()
server.stop()
"""


def test_a_command_in_the_terminal_the_agent_was_started_from_writes_as_its_own_process(
        tmp_path: Path, signed: Path, test_pki: TestPki) -> None:
    """The agent started in the background of a terminal (``compagnon serve &``) with ``stty
    tostop``: the child that runs the command is in the agent's process group, not the foreground
    one, and a terminal with ``tostop`` stops such a writer; the command must print its report
    there as its own process (in the foreground) does."""
    import pty
    import select

    home = tmp_path / "home"
    write_config(home, allowed=["https://plateforme.example"])
    state = home / ".local/state/compagnon"
    state.mkdir(parents=True)
    state.chmod(0o700)
    master, slave = pty.openpty()

    def session() -> None:
        import fcntl
        import termios

        os.setsid()
        fcntl.ioctl(slave, termios.TIOCSCTTY, 0)

    outcomes = []
    for warm in (True, False):
        environ = {**isolated_env(home), "PYTHONPATH": str(ROOT), **({} if warm else {OPT_OUT: "1"})}
        helper = subprocess.Popen([sys.executable, "-c", _IN_A_TERMINAL, str(state), os.ttyname(slave), sys.executable,
                                   "-m", "agent", "verify", str(signed), "--trust", str(test_pki.root_pem)],
                                  env=environ, preexec_fn=session, stdout=subprocess.PIPE, text=True, cwd=ROOT)
        shown = b""
        while helper.poll() is None:
            if select.select([master], [], [], 0.2)[0]:
                shown += os.read(master, 65536)
        assert helper.stdout is not None
        outcomes.append((helper.stdout.read().strip(), _steady(shown.decode("utf-8"))))
    os.close(master)
    os.close(slave)
    assert outcomes[0] == outcomes[1]
    assert outcomes[1][0] == "0" and "TOTAL_PASSED" in outcomes[1][1], outcomes
