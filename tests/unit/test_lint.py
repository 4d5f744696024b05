"""Style and types, run by the test command: ruff's lint rules on the whole tree and mypy on the
contract package and the engines ([tool.ruff.lint] and [tool.mypy] in pyproject.toml); no new
``type: ignore`` without its reason on the line."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

#: ``type: ignore`` comments without a reason (``# type: ignore[code]  # why``) still in the code:
#: this number may only go down.
BARE_IGNORES_AT_MOST = 92
_IGNORE = re.compile(r"#\s*type:\s*ignore(\[[^\]]*\])?(?P<rest>.*)$")


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=900)


def test_ruff_lint_rules_hold() -> None:
    run = _run("ruff", "check", "--no-cache", "--output-format", "concise", ".")
    assert run.returncode == 0, run.stdout + run.stderr


def test_mypy_holds_on_the_contract_package_and_the_engines() -> None:
    cache = Path(tempfile.gettempdir()) / f"compagnon-mypy-{os.getuid() if hasattr(os, 'getuid') else 0}"
    run = _run("mypy", "--cache-dir", str(cache))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Success: no issues found" in run.stdout


def is_bare(line: str) -> bool:
    """A line with a ``type: ignore`` comment and no ``# reason`` after it."""
    match = _IGNORE.search(line)
    return match is not None and not match.group("rest").strip().startswith("#")


def bare_ignores() -> list[str]:
    found = []
    for package in ("agent", "bridge_protocol"):
        for path in sorted((ROOT / package).rglob("*.py")):
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if is_bare(line):
                    found.append(f"{path.relative_to(ROOT)}:{number}")
    return found


def test_no_new_type_ignore_without_a_reason() -> None:
    assert is_bare("x = f()  # type: ignore[arg-type]") and is_bare("x = f()  # type: ignore")
    assert not is_bare("x = f()  # type: ignore[attr-defined]  # typeshed: Windows only")
    found = bare_ignores()
    assert len(found) <= BARE_IGNORES_AT_MOST, (
        f"{len(found)} 'type: ignore' without a reason (at most {BARE_IGNORES_AT_MOST}): give the reason on "
        "the line, '# type: ignore[code]  # why'\n" + "\n".join(found))
