"""The command line's progress (agent.cli.progress) as a user sees it: on a terminal (a real
pseudo-terminal) one bar redrawn in place that ends at 100 %; on a pipe plain lines, none saying
what the line above it said, the last one at 100 %. Each run signs real files with the test
PKI's certificate; ``openssl cms -verify`` judges what was made, so the progress is that of real work."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pexpect

from tests.support.agent_process import ROOT, isolated_env
from tests.support.pki import TestPki
from tests.support.verifiers import openssl_cms_ok

PASSWORD = "Progres-Secret-5521"
LINE = re.compile(r"^\[\s*(\d+) %\] (.+)$")


def _documents(home: Path, count: int = 4) -> list[Path]:
    paths = []
    for n in range(1, count + 1):
        path = home / f"piece {n}.txt"
        path.write_bytes(f"Pièce {n} du marché\n".encode() * 20_000)
        paths.append(path)
    return paths


def _check_signed(pki: TestPki, documents: list[Path]) -> None:
    for document in documents:
        (signature,) = document.parent.glob(f"{document.name} - * - Signature 1.p7s")
        assert openssl_cms_ok(signature, document, pki), signature


def test_a_pipe_gets_plain_lines_without_repeats_ending_at_100(home: Path, test_pki: TestPki) -> None:
    documents = _documents(home)
    result = subprocess.run(
        [sys.executable, "-m", "agent", "sign", *map(str, documents), "--format", "cades", "--p12",
         str(test_pki.p12("qualified", PASSWORD)), "--pin-stdin"],
        cwd=ROOT, env=isolated_env(home), input=PASSWORD + "\n", capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    _check_signed(test_pki, documents)
    assert "\r" not in result.stderr and "\x1b[" not in result.stderr
    lines = [m for m in (LINE.match(line) for line in result.stderr.splitlines()) if m]
    assert len(lines) >= 3, result.stderr
    texts = [m.group(2) for m in lines]
    assert all(a != b for a, b in zip(texts, texts[1:], strict=False)), result.stderr
    percents = [int(m.group(1)) for m in lines]
    assert percents == sorted(percents), result.stderr
    assert (percents[-1], texts[-1]) == (100, "Terminé"), result.stderr
    assert sum(1 for t in texts if t == "Terminé") == 1


def test_a_terminal_gets_one_bar_redrawn_in_place_up_to_100(home: Path, test_pki: TestPki) -> None:
    documents = _documents(home)
    child = pexpect.spawn(sys.executable, ["-m", "agent", "sign", *map(str, documents), "--format", "cades",
                                           "--p12", str(test_pki.p12("qualified", PASSWORD)), "--pin-stdin"],
                          cwd=str(ROOT), env=isolated_env(home), encoding="utf-8", timeout=180,
                          dimensions=(24, 120))
    child.sendline(PASSWORD)
    child.expect(pexpect.EOF)
    child.close()
    output = child.before
    assert child.exitstatus == 0, output
    _check_signed(test_pki, documents)
    # Every state of the bar is drawn over the previous one (carriage return, erase to the end of
    # the line); the line it ends on says 100 % and "Terminé", and it is the only bar line kept.
    assert output.count("\r[") >= 2, repr(output)
    kept = [line.rstrip("\r").rsplit("\r", 1)[-1].replace("\x1b[K", "") for line in output.split("\n")]
    bars = [line for line in kept if line.startswith(("[#", "[-"))]
    assert bars[-1] == "[########################] 100 % Terminé", repr(output)
    # The password came on stdin (--pin-stdin): nothing waits for the user at the terminal, so no
    # "waiting for your answer" line; the bar is the only progress line kept.
    assert not [line for line in kept if "En attente de votre réponse" in line], repr(output)
    assert len(bars) == 1, repr(output)
    drawn = re.findall(r"\r\[([#-]{24})\]\s+(\d+) %", output)
    percents = [int(p) for _, p in drawn]
    assert percents == sorted(percents) and percents[-1] == 100, drawn
    assert all(bar.count("#") == 24 * p // 100 for bar, p in ((b, int(p)) for b, p in drawn)), drawn
