"""The TypeScript compiler from the npm registry, installed once and cached.

``tsc()`` gives the path of ``tsc`` from the ``typescript`` package at ``TYPESCRIPT_VERSION``,
installed with npm (the ``nodejs`` and ``npm`` Debian packages of tests/run_all.sh) under the
suite's cache (``/var/cache/compagnon-tests``, else ``~/.cache/compagnon-tests``), shared by every
checkout and prepared under a lock.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.support.wine import _locked, cache_root

#: A release of the JavaScript compiler (5.x runs on Debian's Node.js 20 without native parts).
TYPESCRIPT_VERSION = "5.9.3"


def tsc() -> Path:
    """``tsc`` of ``typescript@TYPESCRIPT_VERSION``, installed from the npm registry if needed."""
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise RuntimeError("node and npm are needed (apt-get install nodejs npm: tests/run_all.sh does it)")
    root = cache_root()
    folder = root / f"typescript-{TYPESCRIPT_VERSION}"
    binary = folder / "node_modules" / "typescript" / "bin" / "tsc"
    with _locked(root / f"{folder.name}.lock"):
        if not (folder / "ready").is_file():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            try:
                subprocess.run([npm, "install", "--prefix", str(folder), "--no-audit", "--no-fund", "--no-save",
                                f"typescript@{TYPESCRIPT_VERSION}"], check=True, capture_output=True, timeout=600)
                if not binary.is_file():
                    raise RuntimeError(f"npm installed no {binary}")
            except BaseException:
                shutil.rmtree(folder, ignore_errors=True)
                raise
            (folder / "ready").write_text(TYPESCRIPT_VERSION + "\n", encoding="ascii")
    return binary


@dataclass(frozen=True)
class Compiled:
    """What ``tsc`` said: its exit code and its diagnostics (one per line, ``file(line,col): error TS…``)."""

    returncode: int
    output: str

    def errors_in(self, name: str) -> list[str]:
        return [line for line in self.output.splitlines() if line.startswith(name) and "error TS" in line]


def compile_strict(folder: Path, *files: str) -> Compiled:
    """``tsc --strict --noEmit`` of ``files`` (relative to ``folder``), as a browser ES module page."""
    result = subprocess.run(
        ["node", str(tsc()), "--strict", "--noEmit", "--target", "es2022", "--module", "es2022",
         "--moduleResolution", "bundler", "--lib", "es2022,dom,dom.iterable", "--pretty", "false", *files],
        check=False, cwd=folder, capture_output=True, text=True, timeout=300,
    )
    return Compiled(result.returncode, result.stdout + result.stderr)
