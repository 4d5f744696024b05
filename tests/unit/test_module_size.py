"""No module of agent/ or bridge_protocol/ over 500 lines without its reason (docs/ARCHITECTURE.md
section 1): a module that long is split where a clean seam exists, or its docstring says why it
stays whole in a paragraph starting with the marker ``Kept as one module:``."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("agent", "bridge_protocol")
MAX_LINES = 500
MARKER = "Kept as one module:"
#: A reason is a sentence, not a word: "Kept as one module: yes." says nothing.
MIN_REASON_WORDS = 8


def unexplained(paths: list[Path]) -> list[str]:
    """The modules among ``paths`` longer than MAX_LINES whose docstring gives no reason to be."""
    found = []
    for path in paths:
        text = path.read_text(encoding="utf-8")
        lines = len(text.splitlines())
        if lines <= MAX_LINES:
            continue
        docstring = ast.get_docstring(ast.parse(text)) or ""
        _, marker, after = docstring.partition(MARKER)
        reason = after.split("\n\n")[0].split()
        if not marker or len(reason) < MIN_REASON_WORDS:
            name = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name
            found.append(f"{name}: {lines} lines")
    return found


def _modules() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


def test_every_module_over_500_lines_says_why_it_stays_whole() -> None:
    missing = unexplained(_modules())
    assert not missing, (f"over {MAX_LINES} lines: split it, or say why not in its docstring "
                         f"({MARKER!r} and a sentence):\n" + "\n".join(missing))


def test_the_rule_sees_a_long_module_without_a_reason(tmp_path: Path) -> None:
    body = "".join(f"x{i} = {i}\n" for i in range(MAX_LINES))
    bare = tmp_path / "bare.py"
    bare.write_text('"""A module."""\n' + body, encoding="utf-8")
    empty = tmp_path / "empty.py"
    empty.write_text(f'"""A module.\n\n{MARKER} because.\n"""\n' + body, encoding="utf-8")
    reasoned = tmp_path / "reasoned.py"
    reasoned.write_text(f'"""A module.\n\n{MARKER} it follows one standard section by section, in order.\n"""\n'
                        + body, encoding="utf-8")
    short = tmp_path / "short.py"
    short.write_text('"""A module."""\n' + body[: body.index(f"x{MAX_LINES - 2} ")], encoding="utf-8")
    flagged = unexplained([bare, empty, reasoned, short])
    assert [entry.split(":")[0] for entry in flagged] == ["bare.py", "empty.py"]
