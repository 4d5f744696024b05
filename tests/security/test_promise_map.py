"""docs/SECURITY.md names, for each of its twelve promises, the
tests that fail if it breaks. This keeps that map true: every promise names at least one test, and
every test it names exists (a renamed or deleted test would otherwise leave a promise unguarded
while the README still claims it)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = re.compile(r"`(tests/[\w/]+\.py)(?:::(\w+))?`")


def _promises() -> dict[int, str]:
    """Each numbered promise of docs/SECURITY.md, by number (its text, folded)."""
    text = (ROOT / "docs" / "SECURITY.md").read_text(encoding="utf-8")
    section = text.split("\n## ", 1)[0]
    items: dict[int, str] = {}
    current = None
    for line in section.splitlines():
        start = re.match(r"^(\d+)\. ", line)
        if start:
            current = int(start.group(1))
            items[current] = line
        elif current is not None and line.startswith("   "):
            items[current] += " " + line.strip()
        elif line.strip() == "":
            continue
        else:
            current = None
    return items


def _test_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {node.name for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test_")}


def test_every_promise_names_tests_that_exist() -> None:
    promises = _promises()
    assert sorted(promises) == list(range(1, 13)), sorted(promises)
    for number, text in promises.items():
        references = REFERENCE.findall(text)
        assert references, f"promise {number} names no test"
        for file, name in references:
            path = ROOT / file
            assert path.is_file(), f"promise {number}: {file} does not exist"
            names = _test_names(path)
            assert names, f"promise {number}: {file} holds no test"
            if name:
                assert name in names, f"promise {number}: {file}::{name} does not exist"
