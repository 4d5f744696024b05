"""The update launcher's Windows parts under Wine (installers/common/launcher.py)."""

from __future__ import annotations

import json

from tests.support.wine import ROOT, WinePython, winpath

_PROBE = r"""
import importlib.util, json, os, subprocess, sys
spec = importlib.util.spec_from_file_location("launcher", sys.argv[1])
launcher = importlib.util.module_from_spec(spec)
spec.loader.exec_module(launcher)
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
running = launcher._pid_alive(child.pid)
child.kill()
child.wait()
print(json.dumps({
    "self": launcher._pid_alive(os.getpid()),
    "running_child": running,
    "exited_child_handle_open": launcher._pid_alive(child.pid),
    "none": launcher._pid_alive(None),
}))
"""


def test_launcher_sees_which_processes_run_on_windows(wine: WinePython) -> None:
    """A pending version must wait while an agent runs, and a trial's launcher is watched by pid:
    both need ``_pid_alive`` to be true of a running Windows process and false once it exits."""
    result = wine.script(_PROBE, winpath(ROOT / "installers" / "common" / "launcher.py"), timeout=180)
    assert result.returncode == 0, result.stderr.decode("utf-8", "replace")
    seen = json.loads(result.stdout.decode("utf-8").strip().splitlines()[-1])
    assert seen == {"self": True, "running_child": True, "exited_child_handle_open": False, "none": False}
