"""The TypeScript declarations a platform developer builds on: generated from bridge_protocol, complete,
and checked by the real compiler (``tsc --strict``, TypeScript from the npm registry).

``docs/kit/typed-page.ts`` is a page using every method and job kind; it must compile, and each of its
``@ts-expect-error`` calls must really be refused: without those markers the same file fails to
compile on exactly those lines.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
from pathlib import Path

import pytest

from bridge_protocol.errors import ErrorCode
from bridge_protocol.kinds import KINDS
from bridge_protocol.messages import METHODS, JobSnapshot
from bridge_protocol.typescript import typescript_declarations
from tests.support.typescript import compile_strict

ROOT = Path(__file__).resolve().parents[2]
JS = ROOT / "bridge_protocol" / "js"
SAMPLE = ROOT / "docs" / "kit" / "typed-page.ts"
#: Methods the sample reaches through a client helper rather than ``call``.
HELPERS = {"agent.pair": "client.pair(", "agent.auth": "client.connect(", "jobs.start": "client.runJob(",
           "jobs.cancel": "client.cancelJob(", "jobs.get": "client.followJob("}


def interface(text: str, name: str) -> str:
    """The body of ``export interface name`` (generic parameters allowed) in ``text``."""
    match = re.search(rf"^export interface {re.escape(name)}(<[^>]*>)? \{{\n(.*?)^\}}", text, re.DOTALL | re.MULTILINE)
    assert match, f"interface {name} missing"
    return match.group(2)


def members(body: str) -> dict[str, str]:
    """Member name -> ``?:`` or ``:`` of an interface body (top-level lines only)."""
    found = {}
    for line in body.splitlines():
        m = re.match(r"^  \"?([\w.]+)\"?(\??):", line)
        if m:
            found[m.group(1)] = m.group(2) + ":"
    return found


def test_protocol_dts_on_disk_is_the_generator_output() -> None:
    on_disk = (JS / "protocol.d.ts").read_text(encoding="utf-8")
    assert on_disk == typescript_declarations(), "protocol.d.ts is stale: run `python -m bridge_protocol.documents`"


def test_declarations_cover_every_method_kind_member_and_error_code() -> None:
    text = typescript_declarations()
    assert set(members(interface(text, "Methods"))) == set(METHODS)
    assert set(members(interface(text, "JobKinds"))) == set(KINDS)
    assert set(members(interface(text, "ErrorCodes"))) == {c.value for c in ErrorCode}
    snapshot = members(interface(text, "JobSnapshot"))
    # The agent sends every member of a snapshot: none is optional (subject and speed included).
    assert snapshot == {f.name: ":" for f in dataclasses.fields(JobSnapshot)}
    assert "subject" in snapshot and "speed" in snapshot
    for kind in KINDS.values():
        params = members(interface(text, kind.params.__name__))
        result = members(interface(text, kind.result.__name__))
        for f in dataclasses.fields(kind.params):
            required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
            assert params[f.name] == (":" if required else "?:"), (kind.name, f.name)
        assert result == {f.name: ":" for f in dataclasses.fields(kind.result)}, kind.name


def test_sample_page_uses_every_method_and_kind() -> None:
    sample = SAMPLE.read_text(encoding="utf-8")
    for kind in KINDS:
        assert f'client.runJob("{kind}"' in sample, f"the typed sample page does not run {kind}"
    for method in METHODS:
        assert f'client.call("{method}"' in sample or HELPERS.get(method, "\0") in sample, method


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("kit")
    for name in ("compagnon.d.ts", "protocol.d.ts", "job-view.d.ts"):
        shutil.copy(JS / name, folder / name)
    return folder


def test_declarations_and_typed_page_compile_under_strict(kit: Path) -> None:
    shutil.copy(SAMPLE, kit / "typed-page.ts")
    compiled = compile_strict(kit, "typed-page.ts")
    assert compiled.returncode == 0, compiled.output


def test_wrong_calls_fail_to_compile(kit: Path) -> None:
    sample = SAMPLE.read_text(encoding="utf-8").splitlines()
    expected = []
    for number, line in enumerate(sample, 1):
        if "// @ts-expect-error" in line:
            sample[number - 1] = ""
            expected.append(number + 1)
    assert len(expected) >= 6
    (kit / "wrong-page.ts").write_text("\n".join(sample) + "\n", encoding="utf-8")
    compiled = compile_strict(kit, "wrong-page.ts")
    assert compiled.returncode != 0
    lines = sorted({int(m.group(1)) for m in re.finditer(r"^wrong-page\.ts\((\d+),", compiled.output, re.MULTILINE)})
    assert lines == expected, compiled.output


def test_a_stale_declaration_is_caught(kit: Path) -> None:
    """What the drift test guards: a .d.ts that lacks a member the agent sends no longer types it."""
    stale = (kit / "protocol.d.ts").read_text(encoding="utf-8").replace("  subject: JobSubject | null;\n", "")
    (kit / "stale").mkdir(exist_ok=True)
    (kit / "stale" / "protocol.d.ts").write_text(stale, encoding="utf-8")
    for name in ("compagnon.d.ts", "job-view.d.ts"):
        shutil.copy(kit / name, kit / "stale" / name)
    shutil.copy(SAMPLE, kit / "stale" / "typed-page.ts")
    assert stale != typescript_declarations()
    compiled = compile_strict(kit / "stale", "typed-page.ts")
    assert compiled.returncode != 0 and "subject" in compiled.output
