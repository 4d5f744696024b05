"""Windows console-script executables as pip makes them (``venv\\Scripts\\compagnon.exe``).

pip writes a console script on Windows as distlib's launcher ``t64.exe``, then a shebang line
naming the interpreter, then a zip archive whose ``__main__.py`` calls the entry point: the
launcher starts ``python.exe <the .exe itself> ARGS``, waits for it and returns its exit status.
The same bytes are made here so that a test can install version folders without ``python -m venv``
(the embeddable CPython under Wine has none). Standard library only: this module is imported under
Wine too.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path


def distlib_launcher() -> bytes:
    """pip's own copy of distlib's 64-bit console launcher (shipped in every pip, for Windows)."""
    import pip._vendor.distlib as distlib

    return (Path(distlib.__file__).parent / "t64.exe").read_bytes()


def console_script(launcher: bytes, python: str, files: dict[str, bytes], entry: str) -> bytes:
    """``launcher`` + ``#!"python"`` + a zip of ``files`` and a ``__main__.py`` calling ``entry``
    (``module:function``), as ``pip install`` writes ``Scripts\\<name>.exe``."""
    module, function = entry.split(":")
    main = f"import sys\nfrom {module} import {function}\nsys.exit({function}())\n"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
        archive.writestr("__main__.py", main)
    return launcher + f'#!"{python}"\r\n'.encode() + buffer.getvalue()


def wheel_files(wheel: Path, package: str) -> dict[str, bytes]:
    """The files of ``package`` in ``wheel`` (what pip would put in site-packages)."""
    with zipfile.ZipFile(wheel) as archive:
        return {name: archive.read(name) for name in archive.namelist() if name.startswith(f"{package}/")}
