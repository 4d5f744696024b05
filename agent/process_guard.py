"""Process-wide protections set once at start-up (docs/SECURITY.md promise 11).

A core dump of the agent or of a CLI command could hold a PIN, a password or a decrypted bid, and
a process that can be traced can be read by another of the user's processes. At start:

* ``RLIMIT_CORE`` is set to 0, soft and hard (POSIX ``setrlimit``): no core file, even if the user's
  shell allows one, and the process cannot raise it again;
* on Linux, ``prctl(PR_SET_DUMPABLE, 0)`` (prctl(2)) also keeps systemd-coredump and ptrace by
  unprivileged processes away, and makes ``/proc/PID`` files of the process readable by root only.

Windows has neither: Windows Error Reporting dumps are a machine policy, documented for
administrators in installers/README.md.
"""

from __future__ import annotations

import ctypes
import logging
import sys

log = logging.getLogger(__name__)

_PR_SET_DUMPABLE = 4


def forbid_core_dumps() -> None:
    """No core dump for this process and its children; never raises."""
    try:
        import resource
    except ImportError:  # Windows
        return
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (OSError, ValueError) as exc:
        log.warning("core dumps could not be switched off: %s", exc)
    if sys.platform.startswith("linux"):
        try:
            libc = _libc()
            if libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
                log.warning("prctl(PR_SET_DUMPABLE) failed: errno %d", ctypes.get_errno())
        except OSError as exc:
            log.warning("prctl is not available: %s", exc)


def _libc() -> ctypes.CDLL:
    """The C library: glibc by its name, else as ``find_library`` finds it (it runs ``ldconfig``, which
    costs every command's start-up, so only when the name is not glibc's)."""
    try:
        return ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:
        from ctypes.util import find_library

        return ctypes.CDLL(find_library("c") or "libc.so", use_errno=True)
