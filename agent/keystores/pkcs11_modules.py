"""Where PKCS#11 middleware lives: the usual install paths of the smart-card and USB-token
middleware French users meet (OpenSC, SafeNet/Thales eToken and IDPrime, IDEMIA/Oberthur, the
modules shipped with ChamberSign, Certinomis or CertEurope tokens) and SoftHSM."""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

_LINUX = (
    "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so",
    "/usr/lib/aarch64-linux-gnu/opensc-pkcs11.so",
    "/usr/lib/opensc-pkcs11.so",
    "/usr/lib64/opensc-pkcs11.so",
    "/usr/lib/libeTPkcs11.so",  # SafeNet Authentication Client (eToken)
    "/usr/lib/libIDPrimePKCS11.so",  # Thales/Gemalto IDPrime
    "/usr/lib/pkcs11/libIDPrimePKCS11.so",
    "/usr/local/lib/libOcsCryptoki.so",  # Oberthur / IDEMIA AWP
    "/usr/lib/libiasecc.so",
    "/usr/local/lib/libidop11.so",  # IDEMIA PKCS#11
    "/usr/lib/libcvP11.so",  # Certinomis / Certigna cards
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
)
_WINDOWS = (
    r"C:\Windows\System32\opensc-pkcs11.dll",
    r"C:\Program Files\OpenSC Project\OpenSC\pkcs11\opensc-pkcs11.dll",
    r"C:\Windows\System32\eTPKCS11.dll",
    r"C:\Windows\System32\IDPrimePKCS11.dll",
    r"C:\Windows\System32\OcsCryptoki.dll",
    r"C:\Windows\System32\idoPKCS.dll",
    r"C:\Windows\System32\aetpkss1.dll",
    r"C:\SoftHSM2\lib\softhsm2-x64.dll",
)
_MACOS = (
    "/Library/OpenSC/lib/opensc-pkcs11.so",
    "/usr/local/lib/libeTPkcs11.dylib",
    "/Library/Frameworks/eToken.framework/Versions/A/libeToken.dylib",
    "/usr/local/lib/libIDPrimePKCS11.dylib",
    "/Library/Frameworks/xltCryptoki.framework/Versions/A/libxltCryptoki.dylib",
    "/usr/local/lib/softhsm/libsofthsm2.so",
    "/opt/homebrew/lib/softhsm/libsofthsm2.so",
)


def known_module_paths(platform: str = sys.platform) -> tuple[str, ...]:
    if platform.startswith("win"):
        return _WINDOWS
    if platform == "darwin":
        return _MACOS
    return _LINUX


def find_modules(extra: Iterable[str] = ()) -> list[Path]:
    """The configured modules, then the known ones, that exist on disk (real paths, no duplicate)."""
    found: dict[Path, None] = {}
    for candidate in (*extra, *known_module_paths()):
        path = Path(candidate)
        if path.is_file():
            found.setdefault(path.resolve(), None)
    return list(found)


@dataclass(frozen=True)
class ModuleCheck:
    path: Path
    loadable: bool
    error: str | None = None


def check_module(path: Path) -> ModuleCheck:
    """Load ``path`` and look for ``C_GetFunctionList`` (PKCS#11 v2.40 section 5.2).

    This loads vendor code into the process: call it from a worker thread.
    """
    try:
        library = ctypes.CDLL(str(path))
        getattr(library, "C_GetFunctionList")  # noqa: B009 (the lookup is the check: AttributeError if absent)
    except (OSError, AttributeError) as exc:
        return ModuleCheck(path, False, str(exc).splitlines()[0][:200])
    return ModuleCheck(path, True)
