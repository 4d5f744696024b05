"""The signed update's version switch on Windows, under Wine (installers/common/launcher.py).

On Windows the launcher names the active version in ``app\\current.txt`` (no junction: Wine 8 makes
none, and no link is needed). Here, in one Windows CPython process under Wine (each start of Wine
costs seconds), with the manifest server on Linux's loopback:

* version 0.1.0 is installed as install.ps1 leaves it: ``versions\\0.1.0\\venv\\Scripts\\compagnon.exe``
  (a console script as pip writes it: distlib's launcher, a shebang, a zip) and ``current.txt``;
* 0.2.0 is staged by the agent's own updater (signature, hashes, download; the install step writes
  the console script from the verified wheel, as pip would), then ``launcher.py serve`` switches to
  it and health-checks it; ``launcher.py --version`` then runs 0.2.0;
* 0.3.0, which exits at once, is staged then rolled back by the launcher: 0.2.0 runs again;
* a manifest whose signature does not verify is refused: nothing staged, 0.2.0 still active.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from agent.audit import AuditLog
from tests.support.update import ManifestServer, Publisher, make_wheel
from tests.support.win_launchers import console_script, distlib_launcher, wheel_files
from tests.support.wine import ROOT, WinePython, winpath

#: The version's ``compagnon``: ``--version``; ``serve`` writes ready.json and runs until a ``stop``
#: file appears beside it (``exit1`` versions exit at once instead).
FAKE_AGENT = '''
import json, os, sys, time

MODE = "exit1" if VERSION.endswith(".3.0") else "healthy"


def main():
    args = sys.argv[1:]
    if args == ["--version"]:
        print("compagnon " + VERSION)
        return 0
    if args[:1] != ["serve"]:
        return 0
    if MODE == "exit1":
        return 1
    ready = os.environ["FAKE_READY_FILE"]
    with open(ready + ".tmp", "w") as stream:
        json.dump({"pid": os.getpid(), "version": VERSION}, stream)
    os.replace(ready + ".tmp", ready)
    stop = os.path.join(os.path.dirname(ready), "stop")
    deadline = time.monotonic() + 60
    while not os.path.exists(stop) and time.monotonic() < deadline:
        time.sleep(0.05)
    return 0
'''

#: Runs under Wine: argv = source tree, app folder, state folder, t64.exe, publisher key, then the
#: manifest URLs of 0.2.0, 0.3.0 and the badly signed one. Prints one JSON line of what it saw.
DRIVER = r'''
import json, os, subprocess, sys, time
from pathlib import Path

root, app, state, t64, key, url2, url3, url_bad = sys.argv[1:]
sys.path.insert(0, root)
from agent.config import Settings
from agent.update.manifest import UpdateRefused
from agent.update.updater import Updater
from tests.support.win_launchers import console_script, wheel_files

app, state = Path(app), Path(state)
launcher_py = str(Path(root) / "installers" / "common" / "launcher.py")
ready = state / "ready.json"
env = dict(os.environ, COMPAGNON_APP_DIR=str(app), FAKE_READY_FILE=str(ready))
launcher_bytes = Path(t64).read_bytes()
seen = {}


def install(request):
    """The install step: the version's console script from the verified wheel, as pip writes it."""
    script = request.venv_dir / "Scripts" / "compagnon.exe"
    script.parent.mkdir(parents=True)
    script.write_bytes(console_script(launcher_bytes, sys.executable, wheel_files(request.wheel, "fakecompagnon"),
                                      "fakecompagnon:main"))


def stage(url, running):
    settings = Settings(state_dir=state, log_dir=state / "log", update_url=url, update_public_keys=(key,),
                        update_health_timeout=30.0, update_app_dir=app)
    try:
        return Updater(settings, installer=install, running=running).stage().status
    except UpdateRefused as exc:
        return "refused:" + exc.code


def pointer():
    return (app / "current.txt").read_bytes().decode()


def update_state():
    return json.loads((app / "update-state.json").read_bytes())


def wait(condition, what, timeout=40):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {what}")


def ready_version():
    return json.loads(ready.read_bytes())["version"]


def run_launcher(*args):
    done = subprocess.run([sys.executable, launcher_py, *args], env=env, capture_output=True, timeout=60)
    return done.returncode, done.stdout.decode().strip(), done.stderr.decode("utf-8", "replace")


def serve_until(condition, what):
    """launcher.py serve until ``condition``; then the agent is told to stop; its exit status."""
    (state / "stop").unlink(missing_ok=True)
    process = subprocess.Popen([sys.executable, launcher_py, "serve"], env=env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait(condition, what)
    finally:
        (state / "stop").write_bytes(b"")
        output = process.communicate(timeout=30)[0].decode("utf-8", "replace")
    return process.returncode, output


state.mkdir(parents=True, exist_ok=True)
seen["before"] = {"pointer": pointer(), "version": run_launcher("--version")[1]}

# 0.2.0: staged by the updater, switched to by the launcher, healthy.
seen["stage2"] = stage(url2, "0.1.0")
seen["pending2"] = update_state()["pending"]["version"], pointer()
code, output = serve_until(lambda: ready_version() == "0.2.0" and not update_state().get("trial"), "0.2.0 healthy")
seen["applied"] = {"code": code, "pointer": pointer(), "state": update_state(), "output": output}
seen["after_apply"] = run_launcher("--version")[:2]

# 0.3.0: exits at once; the launcher puts 0.2.0 back and starts it.
seen["stage3"] = stage(url3, "0.2.0")
ready.unlink(missing_ok=True)
code, output = serve_until(lambda: ready_version() == "0.2.0" and "0.3.0" in update_state().get("failed", {}),
                           "the rollback to 0.2.0")
seen["rolled_back"] = {"code": code, "pointer": pointer(), "state": update_state(), "output": output}

# A manifest whose signature does not verify.
seen["stage_bad"] = stage(url_bad, "0.2.0")
seen["after_bad"] = {"pointer": pointer(), "pending": update_state().get("pending"),
                     "versions": sorted(p.name for p in (app / "versions").iterdir()),
                     "version": run_launcher("--version")[:2]}
print(json.dumps(seen))
'''


def _publish_at(server: ManifestServer, prefix: str, publisher: Publisher, version: str,
                tamper: bool = False) -> str:
    """Publish ``version`` under ``/<prefix>/compagnon/``; its manifest URL (``tamper``: changed after signing)."""
    name, wheel = make_wheel(version, main=FAKE_AGENT)
    data = server.publish(publisher, version, {name: wheel})
    if tamper:
        server.routes["/compagnon/manifest.json"] = data.replace(version.encode(), b"9.9.9", 1)
    for path in [p for p in server.routes if p.startswith("/compagnon/")]:
        server.routes[f"/{prefix}{path}"] = server.routes.pop(path)
    return f"{server.base}/{prefix}/compagnon/manifest.json"


def _actions(state: Path) -> list[dict[str, Any]]:
    return [e for e in AuditLog.in_state_dir(state).entries() if str(e.get("action", "")).startswith("update.")]


def test_the_launcher_switches_and_rolls_back_versions_on_windows(wine: WinePython, tmp_path: Path) -> None:
    app, state = tmp_path / "Compagnon" / "app", tmp_path / "Compagnon" / "state"
    launcher = tmp_path / "t64.exe"
    launcher.write_bytes(distlib_launcher())
    # 0.1.0 as install.ps1 leaves it.
    name, wheel = make_wheel("0.1.0", main=FAKE_AGENT)
    (tmp_path / name).write_bytes(wheel)
    script = app / "versions" / "0.1.0" / "venv" / "Scripts" / "compagnon.exe"
    script.parent.mkdir(parents=True)
    script.write_bytes(console_script(launcher.read_bytes(), winpath(wine.python_exe),
                                      wheel_files(tmp_path / name, "fakecompagnon"), "fakecompagnon:main"))
    (app / "current.txt").write_bytes(b"0.1.0\r\n")

    publisher = Publisher()
    server = ManifestServer().start()
    try:
        urls = [_publish_at(server, "v2", publisher, "0.2.0"), _publish_at(server, "v3", publisher, "0.3.0"),
                _publish_at(server, "bad", publisher, "0.4.0", tamper=True)]
        driver = tmp_path / "driver.py"
        driver.write_text(DRIVER, encoding="utf-8")
        result = wine.run(winpath(driver), winpath(ROOT), winpath(app), winpath(state), winpath(launcher),
                          publisher.public_b64, *urls, timeout=120)
    finally:
        server.stop()
    assert result.returncode == 0, result.stderr.decode("utf-8", "replace")[-3000:]
    seen = json.loads(result.stdout.decode("utf-8").strip().splitlines()[-1])

    assert seen["before"] == {"pointer": "0.1.0\r\n", "version": "compagnon 0.1.0"}
    # Staged: 0.2.0 built beside, still 0.1.0 active until the launcher switches.
    assert seen["stage2"] == "staged" and seen["pending2"] == ["0.2.0", "0.1.0\r\n"]
    applied = seen["applied"]
    assert applied["pointer"] == "0.2.0\r\n0.1.0\r\n", applied["output"]
    assert applied["state"].get("trial") is None and applied["state"].get("pending") is None
    assert not applied["state"].get("failed") and applied["code"] == 0
    assert "passage à la version 0.2.0 (depuis 0.1.0)" in applied["output"]
    assert seen["after_apply"] == [0, "compagnon 0.2.0"]  # the launcher now runs 0.2.0
    assert not (app / "current").exists() and not (app / "previous").exists()  # no link of any kind

    assert seen["stage3"] == "staged"
    rolled_back = seen["rolled_back"]
    assert rolled_back["pointer"] == "0.2.0\r\n0.1.0\r\n", rolled_back["output"]  # as before the attempt
    assert "arrêt avec le code 1" in rolled_back["state"]["failed"]["0.3.0"]["reason"]
    assert "retour à la version 0.2.0" in rolled_back["output"] and rolled_back["code"] == 0

    after_bad = seen["after_bad"]
    assert seen["stage_bad"] == "refused:signature_invalid"
    assert after_bad["pointer"] == "0.2.0\r\n0.1.0\r\n" and after_bad["pending"] is None
    assert "0.4.0" not in after_bad["versions"] and after_bad["version"] == [0, "compagnon 0.2.0"]
    assert not list(app.glob(".current.txt.*"))  # no temporary left

    actions = [(a["action"], a["version"], a.get("error")) for a in _actions(state)]
    assert actions == [("update.staged", "0.2.0", None), ("update.applied", "0.2.0", None),
                       ("update.staged", "0.3.0", None), ("update.rolled_back", "0.3.0", "not_healthy"),
                       ("update.refused", None, "signature_invalid")]  # unread: no version
    assert AuditLog.in_state_dir(state).verify().intact  # the launcher's and the agent's records: one chain
