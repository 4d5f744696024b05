"""Consent in the terminal that runs ``compagnon serve``.

Each prompt shows a fresh four-letter code that the user types to approve; anything else refuses.
A late answer to an earlier prompt can therefore never approve a later one.

A wrong PIN is asked again in the same job (``pin_retry``: only the PIN, the token's word on the
tries left above it; Enter alone gives up). A new password is typed twice, its rule told before.
A prompt whose job is cancelled says it was withdrawn; a line typed while no prompt is up is
answered "no request waiting", never kept as the answer to the next prompt.
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
_RETRY = Text(
    fr="\n=== Compagnon : nouvel essai du code PIN ===\nSite : {origin}\n{notice}\n{details}",
    en="\n=== Compagnon: try the PIN again ===\nSite: {origin}\n{notice}\n{details}",
)
_PIN_AGAIN = Text(fr="Code PIN (non affiché ; Entrée seule pour abandonner) : ",
                  en="PIN (not shown; Enter alone to give up): ")
_RULE = Text(fr="  mot de passe : {rule}\n", en="  password: {rule}\n")
_NEW_PASSWORD = Text(fr="Nouveau mot de passe (non affiché ; Entrée seule pour abandonner) : ",
                     en="New password (not shown; Enter alone to give up): ")
_CONFIRM = Text(fr="Confirmez le mot de passe (non affiché) : ", en="Confirm the password (not shown): ")
_MISMATCH = Text(fr="Les deux saisies diffèrent : recommencez.\n", en="The two entries differ: start again.\n")
_TOO_SHORT = Text(fr="Mot de passe trop court ({n} caractères au moins) : recommencez.\n",
                  en="Password too short (at least {n} characters): start again.\n")
_GAVE_UP = Text(fr="(abandonné : refusé)\n", en="(given up: refused)\n")
_WITHDRAWN = Text(fr="\n(demande retirée : la tâche a été annulée ou n'attend plus de réponse)\n",
                  en="\n(request withdrawn: the task was cancelled or no longer waits for an answer)\n")
_NO_PROMPT = Text(fr="(aucune demande en attente : ce qui a été tapé n'a été transmis à personne)\n",
                  en="(no request waiting: what was typed went nowhere)\n")
#: Entries of a new password before the prompt gives up (a refusal).
_NEW_PASSWORD_TRIES = 5


PLACE = Text("le terminal où Compagnon s'exécute", "the terminal where Compagnon runs")


class TerminalConsent(ConsentProvider):
    """Prompts on ``output`` and reads one line from ``input``, one request at a time."""

    def __init__(self, timeout: float, locale: str = "fr", input: TextIO | None = None, output: TextIO | None = None) -> None:
        self.timeout = timeout
        self.locale = locale
        self.input = input or sys.stdin
        self.output = output or sys.stdout
        self._lock = asyncio.Lock()
        self._reader: asyncio.StreamReader | None = None
        self._drain: asyncio.Task[None] | None = None

    def place(self, locale: str) -> str | None:
        return PLACE.render(locale)

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
            await self._stop_draining()
            try:
                return await self._ask(request)
            except asyncio.CancelledError:
                await asyncio.shield(self._say(_WITHDRAWN.render(self.locale)))
                raise
            finally:
                self._start_draining()

    def _details(self, request: ConsentRequest) -> str:
        details = "".join(
            _FILE.render(self.locale, name=f.name, size=f.size, sha=f.sha256) for f in request.files
        )
        if request.certificate:
            details += _CERT.render(self.locale, cert=request.certificate)
        if request.new_password and request.password_rule:
            details += _RULE.render(self.locale, rule=request.password_rule)
        return details

    async def _ask(self, request: ConsentRequest) -> ConsentDecision:
        if request.pin_retry:
            return await self._ask_again(request)
        code = "".join(secrets.choice(string.ascii_uppercase) for _ in range(4))
        await self._say(_PROMPT.render(self.locale, origin=request.origin, summary=request.summary,
                                       details=self._details(request), code=code))
        reader = await self._reader_or_unavailable()
        line = await self._readline(reader)
        if line.decode(errors="replace").strip().upper() != code:
            return ConsentDecision(approved=False)
        if not request.needs_pin:
            return ConsentDecision(approved=True)
        pin = await self._new_password(reader, request) if request.new_password else await self._read_pin(reader)
        return ConsentDecision(approved=pin is not None, pin=pin)

    async def _ask_again(self, request: ConsentRequest) -> ConsentDecision:
        """A second chance within the same job: the consent stands; only the PIN (or the new
        password, twice) is typed again; Enter alone gives up."""
        await self._say(_RETRY.render(self.locale, origin=request.origin, notice=request.notice or "",
                                      details=self._details(request)))
        reader = await self._reader_or_unavailable()
        if request.new_password:
            pin = await self._new_password(reader, request)
        else:
            pin = await self._read_pin(reader, _PIN_AGAIN)
            if pin is not None and not pin.reveal():
                pin = None
        if pin is None:
            await self._say(_GAVE_UP.render(self.locale))
        return ConsentDecision(approved=pin is not None, pin=pin)

    async def _reader_or_unavailable(self) -> asyncio.StreamReader:
        try:
            return await self._line_reader()
        except (OSError, ValueError) as exc:
            raise ProtocolError(ErrorCode.CONSENT_UNAVAILABLE) from exc

    async def _readline(self, reader: asyncio.StreamReader) -> bytes:
        try:
            line = await asyncio.wait_for(reader.readline(), self.timeout)
        except TimeoutError:
            await self._say(_TIMEOUT.render(self.locale))
            raise ProtocolError(ErrorCode.USER_TIMEOUT) from None
        if not line:
            raise ProtocolError(ErrorCode.CONSENT_UNAVAILABLE)
        return line

    async def _new_password(self, reader: asyncio.StreamReader, request: ConsentRequest) -> Secret | None:
        """A new password typed twice, the rule already told; asked again while the entries differ
        or it is too short; None when the user gives up (Enter alone)."""
        for _ in range(_NEW_PASSWORD_TRIES):
            first = await self._read_pin(reader, _NEW_PASSWORD)
            if first is None or not first.reveal():
                return None
            if len(first.reveal()) < request.password_min_length:
                await self._say(_TOO_SHORT.render(self.locale, n=request.password_min_length))
                continue
            again = await self._read_pin(reader, _CONFIRM)
            if again is not None and again.reveal() == first.reveal():
                return first
            await self._say(_MISMATCH.render(self.locale))
        return None

    def _start_draining(self) -> None:
        """While no prompt is up, a line typed is answered "no request waiting" (never kept for
        the next prompt, where it would count as an answer)."""
        if self._reader is not None and self._drain is None:
            self._drain = asyncio.get_running_loop().create_task(self._drain_lines(self._reader))

    async def _stop_draining(self) -> None:
        task, self._drain = self._drain, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _drain_lines(self, reader: asyncio.StreamReader) -> None:
        while True:
            line = await reader.readline()
            if not line:
                return
            await self._say(_NO_PROMPT.render(self.locale))

    async def show(self, request: ConsentRequest) -> None:
        """A pre-approved site's pairing code: printed, nothing to answer."""
        async with self._lock:
            await self._say(_SHOW.render(self.locale, origin=request.origin, summary=request.summary))

    async def pick_files(self, origin: str, multiple: bool, accept: tuple[str, ...]) -> list[Path]:
        """The terminal's picker: paths typed by the user (the page never sees them)."""
        async with self._lock:
            await self._stop_draining()
            try:
                return await self._pick(origin, multiple, accept)
            finally:
                self._start_draining()

    async def _pick(self, origin: str, multiple: bool, accept: tuple[str, ...]) -> list[Path]:
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

    async def _read_pin(self, reader: asyncio.StreamReader, prompt: Text = _PIN) -> Secret:
        """One line typed with the terminal's echo off; it never reaches a log or the screen."""
        await self._say(prompt.render(self.locale))
        with _echo_off(self.input):
            try:
                line = await asyncio.wait_for(reader.readline(), self.timeout)
            except TimeoutError:
                await self._say(_TIMEOUT.render(self.locale))
                raise ProtocolError(ErrorCode.USER_TIMEOUT) from None
        await self._say("\n")
        return Secret(line.decode(errors="replace").rstrip("\r\n"))


@contextlib.contextmanager
def _echo_off(stream: TextIO) -> Iterator[None]:
    """The terminal's echo off while the block runs; nothing to do when the input is no terminal
    (a pipe: ``termios.error``, which is no OSError)."""
    try:
        import termios

        fd = stream.fileno()
        saved = termios.tcgetattr(fd)
    except ImportError:
        yield
        return
    except (OSError, ValueError, AttributeError, termios.error):
        yield
        return
    quiet = list(saved)
    quiet[3] &= ~termios.ECHO
    termios.tcsetattr(fd, termios.TCSANOW, quiet)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSANOW, saved)
