#!/usr/bin/env python3
"""Compagnon launcher: applies a staged update at start, and rolls it back if it does not come up.

Standard library only (Python 3.8+): it must run whatever the state of the versions it switches
between. The installer copies it outside ``app/versions`` (an update never changes it under
itself), e.g. to ``<data>/compagnon/bin/launcher.py``, and the shell launcher ``bin/compagnon``
(installers/linux/install.sh) ends with::

    exec "$ROOT/app/current/venv/bin/python" "$ROOT/bin/launcher.py" "$@"

instead of ``exec "$ROOT/app/current/venv/bin/compagnon" "$@"`` (any Python 3.8+ will do; the
current version's interpreter is simply one known to be there, and the launcher keeps running on
it after the switch). Arguments pass through unchanged: ``launcher.py serve --port 47230`` runs
``compagnon serve --port 47230`` of the active version, in place of the launcher (``exec``) when
there is nothing to apply.

Install layout (the installers own it; see agent/update/layout.py)::

    <data>/compagnon/app/versions/<version>/venv/bin/compagnon   one venv per version
    <data>/compagnon/app/current  -> versions/<version>           the active version (POSIX)
    <data>/compagnon/app/previous -> versions/<version>           the one before (optional)
    <data>/compagnon/app/current.txt                              or both, in a pointer file (Windows)
    <data>/compagnon/app/update-state.json                        pending / trial / failed

Which version is active: on Linux and macOS, the relative symbolic links ``current`` and
``previous``; on Windows, the pointer file ``current.txt``: its first line names the active version
folder, its second line (optional) the previous one. Windows needs no link then (a junction needs
reparse points, which some file systems and Wine lack; a symbolic link needs a privilege), and one
file holds both names, so one ``os.replace`` switches both (see ``Layout.switch``). When
``current.txt`` exists it is what counts on any system (the links are then not read).

``<data>`` is ``$XDG_DATA_HOME`` (default ``~/.local/share``) on Linux,
``~/Library/Application Support`` on macOS, ``%LOCALAPPDATA%`` on Windows;
``COMPAGNON_APP_DIR`` names another ``app`` folder.

What it does:

- For the agent's long-running commands (``serve``, ``tray``), when ``update-state.json`` has a
  ``pending`` version (staged by ``compagnon update apply``: downloaded, signature and hashes
  verified, venv built), it records a ``trial``, then switches atomically — Windows: a new
  ``current.txt`` (new version, old version) renamed over the old one; POSIX: ``previous`` → the
  old version, then ``current`` → the new one, each a new symlink renamed over the old — and
  starts the new version. Interrupted at any point, the switch leaves the old or the new version
  active, never none (an unfinished trial is resumed at the next start).
- Health: the new agent writes ``ready.json`` in its state folder once it listens
  (agent/update/runtime.py; the path comes with the pending record). The version is healthy when
  that file names the new version and the started process's pid, within ``health_timeout``
  seconds (``[update] health_timeout_seconds``, default 30; ``COMPAGNON_HEALTH_TIMEOUT``
  overrides it).
- Healthy: the trial is cleared, ``update.applied`` is recorded, and the launcher stays the
  parent of the agent (signals forwarded, the agent's exit status returned) so that a service
  manager (systemd --user, launchd) keeps following the same process.
- Not healthy (the process exits, or no ``ready.json`` in time): the new process is stopped,
  ``current`` and ``previous`` are put back, the version is added to ``failed`` (never tried
  again: ``compagnon update apply`` refuses it too), ``update.rolled_back`` is recorded with the
  reason, and the previous version is started in place of the launcher (``exec``).
- Stopped by a signal during the trial: the new version is not judged; the trial is kept and
  re-run at the next start. A trial whose launcher crashed is re-run as well.
- An agent already running for the user (a live pid in ``ready.json``, ``agent.json`` or
  ``desktop.json`` of its state folder): the pending version waits for the next start (a second
  ``compagnon tray`` only hands over to the running one and exits: it could prove nothing).
- Any other command (``sign``, ``update status``, …) just runs the active version.

Update events go to the agent's audit journal (``state_dir/audit/audit.jsonl``): this file
appends them with the same hash chain and lock as agent/audit.py (format documented there;
tests/unit/test_update_manifest.py checks that both writers keep one valid chain).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, UTC
from pathlib import Path

#: Commands that start the agent: only these apply a pending version (and are health-checked).
APPLY_COMMANDS = ("serve", "tray")
STATE_FILE = "update-state.json"
LOCK_FILE = ".update.lock"
READY_FILE = "ready.json"
DEFAULT_HEALTH_TIMEOUT = 30.0
POLL_SECONDS = 0.1
STOP_GRACE_SECONDS = 10.0


def log(message: str) -> None:
    print(f"Compagnon (lanceur) : {message}", file=sys.stderr, flush=True)


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# -- folders (the same as platformdirs' user_data_dir / user_state_dir for "compagnon") -----------


def _home() -> Path:
    return Path(os.path.expanduser("~"))


def data_dir() -> Path:
    if os.name == "nt":
        return Path(os.environ.get("LOCALAPPDATA") or _home() / "AppData" / "Local") / "compagnon"
    if sys.platform == "darwin":
        return _home() / "Library" / "Application Support" / "compagnon"
    base = os.environ.get("XDG_DATA_HOME", "").strip()
    return (Path(base) if base else _home() / ".local" / "share") / "compagnon"


def state_dir() -> Path:
    if os.name == "nt" or sys.platform == "darwin":
        return data_dir()
    base = os.environ.get("XDG_STATE_HOME", "").strip()
    return (Path(base) if base else _home() / ".local" / "state") / "compagnon"


def app_dir() -> Path:
    explicit = os.environ.get("COMPAGNON_APP_DIR", "").strip()
    return Path(explicit) if explicit else data_dir() / "app"


# -- locks ----------------------------------------------------------------------------------------


class FileLock:
    """An exclusive advisory lock on ``path`` (flock; msvcrt on Windows)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd = -1

    def __enter__(self) -> FileLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(str(self.path), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            import fcntl

            fcntl.flock(self.fd, fcntl.LOCK_EX)
        except ImportError:
            import msvcrt

            os.lseek(self.fd, 0, os.SEEK_SET)
            msvcrt.locking(self.fd, msvcrt.LK_LOCK, 1)  # type: ignore[attr-defined]
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            try:
                import fcntl

                fcntl.flock(self.fd, fcntl.LOCK_UN)
            except ImportError:
                import msvcrt

                os.lseek(self.fd, 0, os.SEEK_SET)
                msvcrt.locking(self.fd, msvcrt.LK_UNLCK, 1)  # type: ignore[attr-defined]
        finally:
            os.close(self.fd)


def fsync_dir(folder: Path) -> None:
    if os.name != "posix":
        return
    fd = os.open(str(folder), os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


#: Windows refuses to replace or open a file while another process holds it without sharing
#: deletion (a reader of current.txt at that instant, an antivirus): a few tries, then the error.
SHARING_TRIES = 20
SHARING_PAUSE = 0.05


def _retry_sharing(action, *args):  # type: ignore[no-untyped-def]
    for attempt in range(SHARING_TRIES):
        try:
            return action(*args)
        except PermissionError:
            if os.name != "nt" or attempt == SHARING_TRIES - 1:
                raise
            time.sleep(SHARING_PAUSE)
    return None  # not reached


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, flush it to disk, rename it over ``path``.

    ``os.replace`` is a rename on POSIX and ``MoveFileEx(MOVEFILE_REPLACE_EXISTING)`` on Windows:
    a reader, or a crash, sees the old file or the new one whole, never a mix or no file.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    fd = os.open(str(tmp), os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0), 0o600)
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        _retry_sharing(os.replace, str(tmp), str(path))
    except BaseException:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise
    fsync_dir(path.parent)


# -- the layout -----------------------------------------------------------------------------------


POINTER_FILE = "current.txt"


class Layout:
    def __init__(self, app: Path) -> None:
        self.app = app
        self.versions = app / "versions"
        self.current_link = app / "current"
        self.previous_link = app / "previous"
        self.pointer_path = app / POINTER_FILE
        self.state_path = app / STATE_FILE

    def version_dir(self, version: str) -> Path:
        return self.versions / version

    def script(self, version: str) -> Path:
        relative = Path("venv/Scripts/compagnon.exe") if os.name == "nt" else Path("venv/bin/compagnon")
        return self.version_dir(version) / relative

    def version_named(self, name: object) -> str | None:
        """``name`` when it is a version folder of ``versions/`` (not a path, not a temporary)."""
        if not isinstance(name, str) or not name or name.startswith(".") or any(c in name for c in "/\\:"):
            return None
        return name if self.version_dir(name).is_dir() else None

    def linked(self, link: Path) -> str | None:
        """The version folder ``link`` points to (None when absent or not a version folder)."""
        try:
            text = os.readlink(str(link))
        except OSError:
            return None
        if text.startswith("\\\\?\\"):  # a Windows junction's target (installs before current.txt)
            text = text[4:]
        target = Path(text)
        if not target.is_absolute():
            target = link.parent / target
        if target.parent.resolve() != self.versions.resolve() or not target.is_dir():
            return None
        return target.name

    # -- which version is active: current.txt (Windows), else the links ----------------------------

    def uses_pointer(self) -> bool:
        """Whether ``current.txt`` names the versions: always on Windows, elsewhere once it exists."""
        return os.name == "nt" or os.path.lexists(str(self.pointer_path))

    def pointer(self) -> list | None:
        """The lines of ``current.txt`` (active, previous), or None when there is no such file."""
        try:
            data = _retry_sharing(self.pointer_path.read_bytes)
        except FileNotFoundError:
            return None
        except OSError:
            return []
        try:
            return [line.strip() for line in data.decode("utf-8").splitlines()]
        except UnicodeDecodeError:
            return []

    def _named(self, index: int, link: Path) -> str | None:
        lines = self.pointer()
        if lines is None:
            return self.linked(link)
        return self.version_named(lines[index]) if len(lines) > index else None

    def current(self) -> str | None:
        return self._named(0, self.current_link)

    def previous(self) -> str | None:
        return self._named(1, self.previous_link)

    def describe(self) -> str:
        return str(self.pointer_path if self.uses_pointer() else self.current_link)

    def switch(self, current: str, previous: str | None) -> None:
        """Make ``current`` the active version and ``previous`` the one before (None: none).

        Pointer (Windows): ``current.txt`` is written whole to a temporary file and renamed over the
        old one: one atomic step for both names. Links (POSIX): ``previous`` first, then ``current``,
        each atomic; interrupted in between, ``current`` still names the old version.
        """
        if self.uses_pointer():
            newline = "\r\n" if os.name == "nt" else "\n"  # CRLF: « set /p » in compagnon.cmd reads line 1
            text = newline.join([current, previous] if previous else [current]) + newline
            atomic_write(self.pointer_path, text.encode("utf-8"))
            return
        if previous:
            self.set_link(self.previous_link, previous)
        else:
            self.remove_link(self.previous_link)
        self.set_link(self.current_link, current)

    def set_link(self, link: Path, version: str) -> None:
        """POSIX: point ``link`` at ``versions/<version>``, a relative symbolic link renamed over the old one."""
        tmp = link.with_name(f".{link.name}.{os.getpid()}.tmp")
        self.remove_link(tmp)
        os.symlink(os.path.join("versions", version), str(tmp), target_is_directory=True)
        os.replace(str(tmp), str(link))
        fsync_dir(link.parent)

    def remove_link(self, link: Path) -> None:
        """Remove a link, never what it points to."""
        try:
            link.unlink()
        except OSError:
            pass

    def lock(self) -> FileLock:
        return FileLock(self.app / LOCK_FILE)

    def read_state(self) -> dict:
        try:
            data = json.loads(self.state_path.read_bytes())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def write_state(self, state: dict) -> None:
        state["format"] = 1
        atomic_write(self.state_path, json.dumps(state, indent=2, ensure_ascii=False).encode("utf-8") + b"\n")


# -- the audit journal (agent/audit.py's chain, re-implemented with the standard library) ----------

GENESIS = "0" * 64


def canonical(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def record_hash(record: dict) -> str:
    return hashlib.sha256(canonical({k: v for k, v in record.items() if k != "hash"})).hexdigest()


def _valid_record(line: bytes) -> dict | None:
    try:
        record = json.loads(line)
    except ValueError:
        return None
    if not isinstance(record, dict) or not isinstance(record.get("seq"), int) or isinstance(record.get("seq"), bool):
        return None
    if not isinstance(record.get("prev"), str) or not isinstance(record.get("hash"), str):
        return None
    if canonical(record) != line or record["hash"] != record_hash(record):
        return None
    return record


def _audit_tail(path: Path) -> tuple:
    """(last seq, digest of the last line, whether a newline must close a partial last line)."""
    try:
        stream = path.open("rb")
    except FileNotFoundError:
        return 0, GENESIS, False
    with stream:
        end = stream.seek(0, os.SEEK_END)
        if end == 0:
            return 0, GENESIS, False
        buffer, position = b"", end
        while position > 0:
            step = min(64 * 1024, position)
            position -= step
            stream.seek(position)
            buffer = stream.read(step) + buffer
            if buffer[:-1].rfind(b"\n") >= 0:
                break
        complete = buffer.endswith(b"\n")
        body = buffer[:-1] if complete else buffer
        last = body[body.rfind(b"\n") + 1:]
        record = _valid_record(last) if complete else None
        if record is not None:
            return int(record["seq"]), hashlib.sha256(last).hexdigest(), False
        stream.seek(0)
        lines = sum(1 for _ in stream)
        return lines, hashlib.sha256(last).hexdigest(), not complete


def audit_append(folder: Path, event: dict) -> None:
    """Append ``event`` to ``folder/audit.jsonl`` exactly as agent.audit.AuditLog.append does."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    if os.name == "posix":
        os.chmod(str(folder), 0o700)
    path = folder / "audit.jsonl"
    with FileLock(folder / ".audit.lock"):
        seq, prev, needs_newline = _audit_tail(path)
        record = {"v": 1, "time": now(), **event, "seq": seq + 1, "prev": prev}
        record.pop("hash", None)
        record["hash"] = record_hash(record)
        data = (b"\n" if needs_newline else b"") + canonical(record) + b"\n"
        created = not path.exists()
        # O_BINARY: on Windows a descriptor is in text mode otherwise, and os.write turns each LF into
        # CRLF (the record's digest, and so the chain, would break), as agent/audit.py says too.
        fd = os.open(str(path), os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o600)
        try:
            if os.name == "posix":
                os.fchmod(fd, 0o600)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        if created:
            fsync_dir(folder)


def record_event(record: dict, action: str, version: str | None, from_version: str | None,
                 result: str = "succeeded", error: str | None = None, reason: str | None = None) -> None:
    """An ``update.*`` event in the journal named by ``record["audit_dir"]`` (never fails the start)."""
    folder = Path(record.get("audit_dir") or state_dir() / "audit")
    try:
        audit_append(folder, {
            "action": action, "origin": "launcher", "job": None, "result": result, "error": error,
            "inputs": [], "outputs": [], "certificate": None,
            "version": version, "from_version": from_version, "reason": reason,
        })
    except OSError as exc:
        log(f"journal d'audit inaccessible ({exc})")


# -- starting versions ----------------------------------------------------------------------------


def wants_update(args: list) -> bool:
    """Whether ``args`` start the agent itself (the first positional is the command)."""
    if any(a in ("-h", "--help", "--version") for a in args):
        return False
    command = next((a for a in args if not a.startswith("-")), None)
    return command in APPLY_COMMANDS


def exec_version(layout: Layout, version: str | None, args: list) -> int:
    """Replace this process with ``compagnon args`` of ``version`` (a child on Windows)."""
    if version is None or not layout.script(version).exists():
        log(f"Compagnon n'est pas installé correctement ({layout.describe()} ne mène à aucune version)")
        return 127
    script = str(layout.script(version))
    sys.stdout.flush()
    sys.stderr.flush()
    if os.name == "nt":
        return subprocess.call([script, *args])
    os.execv(script, [script, *args])
    return 127  # not reached


def _pid_alive(pid: object) -> bool:
    """Whether process ``pid`` exists (one of another user counts: it is running, only not ours)."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    if os.name == "nt":
        return _windows_pid_alive(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _windows_pid_alive(pid: int) -> bool:
    """Windows: ``OpenProcess`` then ``GetExitCodeProcess`` is ``STILL_ACTIVE`` (an exited process's
    object lives on while a handle to it is open, so opening alone is not enough); a process the
    user may not open (``ERROR_ACCESS_DENIED``) exists."""
    import ctypes
    from ctypes import wintypes

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    kernel32.OpenProcess.argtypes = (wintypes.DWORD, wintypes.BOOL, wintypes.DWORD)
    kernel32.OpenProcess.restype = wintypes.HANDLE
    kernel32.GetExitCodeProcess.argtypes = (wintypes.HANDLE, ctypes.POINTER(wintypes.DWORD))
    kernel32.GetExitCodeProcess.restype = wintypes.BOOL
    kernel32.CloseHandle.argtypes = (wintypes.HANDLE,)
    process_query_limited_information, error_access_denied, still_active = 0x1000, 5, 259
    handle = kernel32.OpenProcess(process_query_limited_information, False, pid)
    if not handle:
        return ctypes.get_last_error() == error_access_denied
    try:
        code = wintypes.DWORD()
        if not kernel32.GetExitCodeProcess(handle, ctypes.byref(code)):
            return True
        return code.value == still_active
    finally:
        kernel32.CloseHandle(handle)


def agent_running(state: Path) -> int | None:
    """The pid of an agent already running for this user (its ready.json, agent.json or desktop.json)."""
    for name in (READY_FILE, "agent.json", "desktop.json"):
        try:
            pid = json.loads((state / name).read_bytes()).get("pid")
        except (OSError, ValueError, AttributeError):
            continue
        if pid != os.getpid() and _pid_alive(pid):
            return pid
    return None


def prepare_trial(layout: Layout) -> dict | None:
    """Under the lock: switch to the pending version (or resume an unfinished trial); the trial."""
    with layout.lock():
        state = layout.read_state()
        current = layout.current()
        trial = state.get("trial")
        if isinstance(trial, dict) and isinstance(trial.get("version"), str):
            if trial.get("launcher_pid") != os.getpid() and _pid_alive(trial.get("launcher_pid")):
                return None  # another launcher is watching this trial
            if agent_running(Path(trial.get("ready_file") or state_dir() / READY_FILE).parent) is not None:
                return None  # its agent outlived the launcher: judge it at the next start
            if current == trial.get("from") and current is not None and layout.script(trial["version"]).exists():
                # A crash between writing the trial and switching: switch now.
                layout.switch(trial["version"], current)
                current = trial["version"]
            if current != trial["version"]:
                state["trial"] = None
                layout.write_state(state)
                return None
            trial["launcher_pid"] = os.getpid()
            trial["started_at"] = now()
            layout.write_state(state)
            return trial
        pending = state.get("pending")
        if not isinstance(pending, dict):
            return None
        version = pending.get("version")
        failed = state.get("failed") if isinstance(state.get("failed"), dict) else {}
        reason = None
        if not isinstance(version, str) or not version:
            reason = "état de mise à jour illisible"
        elif version in failed:
            reason = "version déjà écartée après un échec"
        elif not layout.script(version).exists():
            reason = "version préparée introuvable"
        elif current is None:
            reason = "aucune version active (app/current, app/current.txt) à laquelle revenir"
        elif pending.get("from") and pending.get("from") != current and version != current:
            # A manual install changed the active version since the staging (installers/README.md).
            reason = f"la version active ({current}) n'est plus celle de la préparation ({pending.get('from')})"
        running = agent_running(Path(pending.get("ready_file") or state_dir() / READY_FILE).parent)
        if reason is None and version != current and running is not None:
            # Another agent runs (a second "compagnon tray" hands over to it and exits): the new
            # version could not prove itself now. It stays pending for the next start.
            log(f"mise à jour {version} en attente : un agent tourne déjà (pid {running})")
            return None
        if reason is not None or version == current:
            state["pending"] = None
            layout.write_state(state)
            if reason is not None:
                log(f"mise à jour {version} ignorée : {reason}")
                record_event(pending, "update.refused", version if isinstance(version, str) else None, current,
                             result="failed", error="not_applicable", reason=reason)
            return None
        trial = dict(pending)
        trial.update(version=version, **{"from": current}, previous_before=layout.previous(),
                     started_at=now(), launcher_pid=os.getpid())
        state["pending"] = None
        state["trial"] = trial
        layout.write_state(state)  # first the intent, then the switch (a crash in between is resumed)
        layout.switch(version, current)
        return trial


def healthy(ready_file: Path, version: str, pid: int) -> bool:
    try:
        info = json.loads(ready_file.read_bytes())
    except (OSError, ValueError):
        return False
    if not isinstance(info, dict) or info.get("version") != version:
        return False
    return os.name == "nt" or info.get("pid") == pid


def _stop(child: subprocess.Popen) -> None:
    if child.poll() is not None:
        return
    child.terminate()
    try:
        child.wait(STOP_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


def _exit_status(code: int) -> int:
    return 128 - code if code < 0 else code


def run_trial(layout: Layout, trial: dict, args: list) -> int:
    version, old = trial["version"], trial.get("from")
    ready_file = Path(trial.get("ready_file") or state_dir() / READY_FILE)
    try:
        timeout = float(os.environ.get("COMPAGNON_HEALTH_TIMEOUT") or trial.get("health_timeout")
                        or DEFAULT_HEALTH_TIMEOUT)
    except ValueError:
        timeout = DEFAULT_HEALTH_TIMEOUT
    try:
        ready_file.unlink()
    except OSError:
        pass
    log(f"passage à la version {version} (depuis {old})")
    child = subprocess.Popen([str(layout.script(version)), *args])
    stopping: list = []

    def forward(signum: int, _frame: object) -> None:
        stopping.append(signum)
        if child.poll() is None:
            child.send_signal(signum)

    for name in ("SIGTERM", "SIGINT", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), forward)

    deadline = time.monotonic() + timeout
    reason = None
    while True:
        code = child.poll()
        if healthy(ready_file, version, child.pid) and code is None:
            break
        if stopping:
            code = child.wait()
            with layout.lock():  # not judged: the trial is re-run at the next start
                state = layout.read_state()
                if isinstance(state.get("trial"), dict):
                    state["trial"]["launcher_pid"] = None
                    layout.write_state(state)
            return _exit_status(code)
        if code is not None:
            reason = f"arrêt avec le code {code} avant d'être prête"
            break
        if time.monotonic() >= deadline:
            reason = f"pas prête après {timeout:g} s"
            break
        time.sleep(POLL_SECONDS)

    if reason is None:
        with layout.lock():
            state = layout.read_state()
            state["trial"] = None
            layout.write_state(state)
        record_event(trial, "update.applied", version, old)
        log(f"version {version} démarrée")
        while True:
            try:
                return _exit_status(child.wait())
            except KeyboardInterrupt:  # pragma: no cover (SIGINT is forwarded by the handler)
                continue

    _stop(child)
    with layout.lock():
        state = layout.read_state()
        back = layout.version_named(old) or layout.current()
        if back is not None:
            layout.switch(back, layout.version_named(trial.get("previous_before")))
        failed = state.get("failed") if isinstance(state.get("failed"), dict) else {}
        failed[version] = {"time": now(), "reason": reason, "from": old}
        state["failed"] = failed
        state["trial"] = None
        layout.write_state(state)
    record_event(trial, "update.rolled_back", version, old, result="failed", error="not_healthy", reason=reason)
    log(f"la version {version} n'a pas démarré ({reason}) : retour à la version {old}")
    for name in ("SIGTERM", "SIGINT", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_DFL)
    return exec_version(layout, layout.current(), args)


def _utf8_stderr() -> None:
    """Windows: the launcher's messages to a pipe or a file are UTF-8, as the agent's are (agent/cli.py);
    Python would write them in the ANSI code page. A console keeps its wide-character output."""
    stream = sys.stderr
    if os.name == "nt" and stream is not None and not stream.isatty() and hasattr(stream, "reconfigure"):
        stream.reconfigure(encoding="utf-8", errors="replace")


def main(argv: list | None = None) -> int:
    _utf8_stderr()
    args = list(sys.argv[1:] if argv is None else argv)
    layout = Layout(app_dir())
    if wants_update(args):
        try:
            trial = prepare_trial(layout)
        except OSError as exc:
            log(f"mise à jour non appliquée ({exc})")
            trial = None
        if trial is not None:
            return run_trial(layout, trial, args)
    return exec_version(layout, layout.current(), args)


if __name__ == "__main__":
    sys.exit(main())
