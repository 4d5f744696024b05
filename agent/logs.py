"""Logging: a rotating file under the platformdirs log folder, and a filter that masks secrets.

Code never logs a PIN, a password or a bearer token on purpose (they travel as ``Secret`` values
whose text is ``***``); the filter is the second line of defence for anything that slips through
an exception message or a third-party library.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import re
from collections.abc import Callable
import time
from pathlib import Path

from .fsutil import private_folder

LOG_FILE = "compagnon.log"
MAX_BYTES = 1024 * 1024
BACKUPS = 5

_SECRET_PATTERNS = (
    re.compile(r"(?i)([\"']?(?:pin|password|passphrase|mot_de_passe|token|secret)[\"']?\s*[:=]\s*[\"']?)[^\s\"',}]+"),
    re.compile(r"(?i)(authorization\s*[:=]\s*(?:bearer|basic)\s+)\S+"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"),
)


def redact(text: str) -> str:
    """``text`` with anything that looks like a credential replaced by ``***``."""
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(r"\1***", text)
    return text


class RedactingFilter(logging.Filter):
    """Rewrites each record's final text through ``redact``."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A rotating log whose files are created 0600 (and made so if an older one was wider)."""

    def _open(self):  # type: ignore[no-untyped-def]  # logging.FileHandler's own signature
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        if os.name == "posix":
            os.fchmod(fd, 0o600)
        return os.fdopen(fd, self.mode if "b" in self.mode else "a", encoding=self.encoding, errors=self.errors)


def setup_logging(log_dir: Path, *, verbose: bool = False, console: bool = True, prompts: bool = False) -> Path:
    """Log to ``log_dir/compagnon.log`` (rotated at 1 MiB, 5 backups) and, if asked, to stderr.

    Library warnings (``warnings.warn``: a deprecation inside a dependency) go to the log file,
    never to the terminal. With ``prompts`` the terminal is where the user answers consent and PIN
    prompts: only errors reach it, the rest goes to the file (``verbose`` shows everything)."""
    logging.captureWarnings(True)
    private_folder(log_dir, own=True)
    path = log_dir / LOG_FILE
    root = logging.getLogger()
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for handler in list(root.handlers):
        root.removeHandler(handler)
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    file_handler = PrivateRotatingFileHandler(
        path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8"
    )
    handlers: list[logging.Handler] = [file_handler]
    if console:
        stream = logging.StreamHandler()
        stream.setLevel(logging.DEBUG if verbose else logging.ERROR if prompts else logging.WARNING)
        if not verbose:
            stream.addFilter(lambda record: record.name != "py.warnings")
        handlers.append(stream)
    for handler in handlers:
        handler.setFormatter(formatter)
        handler.addFilter(RedactingFilter())
        root.addHandler(handler)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    return path


class ThrottledLog:
    """Warnings that an attacker can cause at will (refused handshakes, refused jobs), at most
    ``per_minute`` lines per kind and minute: a flood must not bury the log or fill the disk. The
    lines left out are counted in the next line written for that kind."""

    def __init__(self, logger: logging.Logger, per_minute: int = 20,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.logger = logger
        self.per_minute = per_minute
        self.clock = clock
        self._windows: dict[str, tuple[float, int, int]] = {}  # kind -> (start, written, left out)

    def warning(self, kind: str, message: str, *args: object) -> None:
        now = self.clock()
        start, written, left_out = self._windows.get(kind, (now, 0, 0))
        if now - start >= 60.0:
            start, written = now, 0
        if written >= self.per_minute:
            self._windows[kind] = (start, written, left_out + 1)
            return
        if left_out:
            message += " (%d similar lines left out)"
            args = (*args, left_out)
        self.logger.warning(message, *args)
        self._windows[kind] = (start, written + 1, 0)
