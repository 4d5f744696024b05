"""Consent in the terminal that runs ``compagnon serve``.

Each prompt shows a fresh four-letter code that the user types to approve; anything else refuses.
A late answer to an earlier prompt can therefore never approve a later one.
"""

from __future__ import annotations

import asyncio
import os
import contextlib
import secrets
import string
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from bridge_protocol.errors import ErrorCode, ProtocolError

from ..i18n import Text
from . import ConsentDecision, ConsentProvider, ConsentRequest, Secret, accepted_file

_PROMPT = Text(
    fr="\n=== Compagnon : demande d'autorisation ===\nSite : {origin}\n{summary}\n{details}"
    "Pour autoriser, tapez {code} puis Entrée (autre réponse : refus) : ",
    en="\n=== Compagnon: authorisation request ===\nSite: {origin}\n{summary}\n{details}"
    "To allow, type {code} then Enter (any other answer refuses): ",
)
_SHOW = Text(
    fr="\n=== Compagnon : jumelage ===\nSite : {origin}\n{summary}\n",
    en="\n=== Compagnon: pairing ===\nSite: {origin}\n{summary}\n",
)
_FILE = Text(fr="  fichier : {name} ({size} octets, SHA-256 {sha})\n", en="  file: {name} ({size} bytes, SHA-256 {sha})\n")
_CERT = Text(fr="  certificat : {cert}\n", en="  certificate: {cert}\n")
_PICK = Text(
    fr="\n=== Compagnon : choix de fichiers ===\nSite : {origin}\nChemin du fichier{plural} ({accept}), une ligne par fichier, ligne vide pour terminer :\n",
    en="\n=== Compagnon: choose files ===\nSite: {origin}\nPath of the file{plural} ({accept}), one per line, empty line to finish:\n",
)
_NOT_FOUND = Text(fr="  introuvable : {path}\n", en="  not found: {path}\n")
_PIN = Text(fr="Code PIN (non affiché) : ", en="PIN (not shown): ")
_TIMEOUT = Text(fr="\n(délai dépassé : refusé)\n", en="\n(timed out: refused)\n")


class TerminalConsent(ConsentProvider):
    """Prompts on ``output`` and reads one line from ``input``, one request at a time."""

    def __init__(self, timeout: float, locale: str = "fr", input: TextIO | None = None, output: TextIO | None = None) -> None:
        self.timeout = timeout
        self.locale = locale
        self.input = input or sys.stdin
        self.output = output or sys.stdout
        self._lock = asyncio.Lock()
        self._reader: asyncio.StreamReader | None = None

    async def _say(self, text: str) -> None:
        """Write ``text`` whole. Once stdin is read through asyncio, the terminal is non-blocking
        (stdin and stdout share it): a long prompt (a batch of 1000 files) would be cut short by
        a plain ``write``, and the user would never see the code."""
        try:
            fd = self.output.fileno()
        except (AttributeError, OSError, ValueError):  # not a file (tests' StringIO)
            self.output.write(text)
            self.output.flush()
            return
        self.output.flush()
        encoding = getattr(self.output, "encoding", None) or "utf-8"
        data = memoryview(text.encode(encoding, errors="replace"))
        while data:
            try:
                data = data[os.write(fd, data):]
            except BlockingIOError:
                await asyncio.sleep(0.005)

    async def _line_reader(self) -> asyncio.StreamReader:
        if self._reader is None:
            loop = asyncio.get_running_loop()
            reader = asyncio.StreamReader()
            await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), self.input)
            self._reader = reader
        return self._reader

    async def ask(self, request: ConsentRequest) -> ConsentDecision:
        async with self._lock:
            code = "".join(secrets.choice(string.ascii_uppercase) for _ in range(4))
            details = "".join(
                _FILE.render(self.locale, name=f.name, size=f.size, sha=f.sha256) for f in request.files
            )
            if request.certificate:
                details += _CERT.render(self.locale, cert=request.certificate)
            await self._say(
                _PROMPT.render(self.locale, origin=request.origin, summary=request.summary, details=details, code=code)
            )
            try:
                reader = await self._line_reader()
            except (OSError, ValueError) as exc:
                raise ProtocolError(ErrorCode.CONSENT_UNAVAILABLE) from exc
            try:
                line = await asyncio.wait_for(reader.readline(), self.timeout)
            except TimeoutError:
                await self._say(_TIMEOUT.render(self.locale))
                raise ProtocolError(ErrorCode.USER_TIMEOUT) from None
            if not line:
                raise ProtocolError(ErrorCode.CONSENT_UNAVAILABLE)
            if line.decode(errors="replace").strip().upper() != code:
                return ConsentDecision(approved=False)
            pin = await self._read_pin(reader) if request.needs_pin else None
            return ConsentDecision(approved=True, pin=pin)

    async def show(self, request: ConsentRequest) -> None:
        """A pre-approved site's pairing code: printed, nothing to answer."""
        async with self._lock:
            await self._say(_SHOW.render(self.locale, origin=request.origin, summary=request.summary))

    async def pick_files(self, origin: str, multiple: bool, accept: tuple[str, ...]) -> list[Path]:
        """The terminal's picker: paths typed by the user (the page never sees them)."""
        async with self._lock:
            accepted = ", ".join(accept) or "*"
            await self._say(_PICK.render(self.locale, origin=origin, plural="s" if multiple else "", accept=accepted))
            reader = await self._line_reader()
            chosen: list[Path] = []
            while True:
                try:
                    line = await asyncio.wait_for(reader.readline(), self.timeout)
                except TimeoutError:
                    raise ProtocolError(ErrorCode.USER_TIMEOUT) from None
                text = line.decode(errors="replace").strip()
                if not text:
                    return chosen
                path = Path(text).expanduser()
                if not accepted_file(path, accept):
                    await self._say(_NOT_FOUND.render(self.locale, path=text))
                    continue
                chosen.append(path.resolve())
                if not multiple:
                    return chosen

    async def _read_pin(self, reader: asyncio.StreamReader) -> Secret:
        """One line typed with the terminal's echo off; it never reaches a log or the screen."""
        await self._say(_PIN.render(self.locale))
        with _echo_off(self.input):
            try:
                line = await asyncio.wait_for(reader.readline(), self.timeout)
            except TimeoutError:
                raise ProtocolError(ErrorCode.USER_TIMEOUT) from None
        await self._say("\n")
        return Secret(line.decode(errors="replace").rstrip("\r\n"))


@contextlib.contextmanager
def _echo_off(stream: TextIO) -> Iterator[None]:
    try:
        import termios

        fd = stream.fileno()
        saved = termios.tcgetattr(fd)
    except (ImportError, OSError, ValueError, AttributeError):
        yield
        return
    quiet = list(saved)
    quiet[3] &= ~termios.ECHO
    termios.tcsetattr(fd, termios.TCSANOW, quiet)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSANOW, saved)
