"""The layers of docs/ARCHITECTURE.md section 1 as import-linter contracts ([tool.importlinter] in
pyproject.toml): the test command runs them, and a copy of the code with one forbidden import fails."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    script = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"
    return subprocess.run([sys.executable, "-c", script, "--no-cache"], cwd=root, env=env,
                          capture_output=True, text=True, timeout=300)


def test_the_import_contracts_hold() -> None:
    run = _lint_imports(ROOT)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 broken" in run.stdout


@pytest.mark.parametrize(("module", "line", "contract"), [
    ("agent/signing/cades.py", "from ..bridge import rpc", "Engines and key stores never import the shells"),
    ("agent/envelopes/decrypt.py", "from bridge_protocol.errors import ProtocolError",
     "Engines and key stores never import the wire"),
    ("bridge_protocol/messages.py", "from agent import errors", "imports nothing from the"),
    ("agent/keystores/base.py", "from ..kinds import sign", "Arrows point down"),
    ("agent/cli/common.py", "from . import printers", "No import cycle"),
    ("agent/kinds/sign.py", "from agent.demo_platform import app", "Nothing below the shells imports the demo"),
    ("agent/demo_platform/keys.py", "from agent import config", "The demo platform imports bridge_protocol, never"),
    ("agent/validation/cades.py", "from ..signing import base", "The engines never import one another"),
    ("agent/envelopes/decrypt.py", "from ..validation import model", "The engines never import one another"),
    ("agent/pki/cms.py", "from ..keystores import base", "Arrows point down"),
    ("agent/pki/streams.py", "from .. import trust", "agent.pki imports nothing from the agent"),
    # A kind reaches what another kind does through a shared workflow module (agent/kinds/consultation.py...).
    ("agent/kinds/bids_open.py", "from . import bids_download", "A job kind never imports another"),
    # The job layer is given its kinds (agent/kinds/registry.py), it does not load them.
    ("agent/jobs/manager.py", "from ..kinds import StepSpec", "No import cycle"),
    # The shell gives the service its native consent windows (agent.desktop.runtime).
    ("agent/service.py", "from .desktop.dialogs import NativeConsent", "Arrows point down"),
    # The policy and the [update] table are applied by agent/settings_load.py, over Settings.
    ("agent/config.py", "from .policy import with_admin_policy", "No import cycle"),
    ("agent/config.py", "from .update.config import parse_update_table", "No import cycle"),
    # The console (a shell) reaches the bridge through the service; the guards both use are a leaf.
    ("agent/desktop/console/server.py", "from ...bridge import server", "never import the bridge itself"),
    ("agent/loopback_guards.py", "from . import config", "agent.loopback_guards imports nothing from the agent"),
])
def test_one_forbidden_import_breaks_a_contract(tmp_path: Path, module: str, line: str, contract: str) -> None:
    for package in ("agent", "bridge_protocol"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__", "static"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / module
    target.write_text(target.read_text(encoding="utf-8") + f"\n{line}  # noqa\n", encoding="utf-8")
    run = _lint_imports(tmp_path)
    assert run.returncode != 0, run.stdout
    broken = run.stdout[run.stdout.index("Broken contracts"):]
    assert contract in " ".join(broken.split()), run.stdout
