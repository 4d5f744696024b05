"""bridge_protocol.kinds: one module per kind, every name exported by the package, and a kind of the
agent builds only its own classes (what a command line's start-up pays)."""

from __future__ import annotations

import importlib
import inspect
import re
import subprocess
import sys
from pathlib import Path

import bridge_protocol.kinds as kinds

ROOT = Path(__file__).resolve().parents[2]


def test_every_public_name_of_the_kind_modules_is_exported_from_its_home() -> None:
    found: dict[str, str] = {}
    for path in sorted((ROOT / "bridge_protocol" / "kinds").glob("*.py")):
        if path.stem == "__init__":
            continue
        module = importlib.import_module(f"bridge_protocol.kinds.{path.stem}")
        for name, value in vars(module).items():
            defined_here = inspect.isclass(value) and value.__module__ == module.__name__
            alias = name[:1].isupper() and not inspect.isclass(value) and \
                re.search(rf"^{name}\s*[:=]", path.read_text(encoding="utf-8"), re.M) is not None
            if not name.startswith("_") and (defined_here or alias):
                found[name] = path.stem
    assert found == kinds._HOMES
    assert sorted(kinds.__all__) == sorted(found)
    assert {k: (c.params.__name__, c.result.__name__) for k, c in kinds.KINDS.items()}["verify"] == \
        ("VerifyParams", "VerifyResult")


def test_the_verify_kind_builds_only_its_own_protocol_classes() -> None:
    script = ("import sys, agent.kinds.verify; "
              "print(sorted(m for m in sys.modules if m.startswith('bridge_protocol')))")
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    loaded = set(eval(result.stdout))  # noqa: S307 — a list of module names printed by our own script
    assert "bridge_protocol.kinds.verify" in loaded
    assert not loaded & {"bridge_protocol.messages", "bridge_protocol.kinds.catalogue", "bridge_protocol.kinds.sign",
                         "bridge_protocol.platform"}, loaded
