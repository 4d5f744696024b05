"""Paired sites and authenticated connections (docs/SECURITY.md promise 3, PROTOCOL.md "Pairing").

The ``Origin`` header proves nothing outside a browser: any local process can send it. A site is
therefore paired once by a key exchange the user confirms — the agent shows a six-digit code in its
own UI (terminal, console, native window), the user types it in the page, and the agent checks that
the page committed to that very code before it revealed what makes the code computable — and the
shared key K kept here, per origin, in ``state_dir/pairings.json`` (0600, in the 0700 state folder).
Every later connection proves both sides hold K (``agent.auth``) before anything privileged is
answered. Sites pre-approved by configuration pair too (the code, without the "allow this site?"
question): the typed code is what authenticates their pairing.

A code is checked once: a wrong one voids the pairing in progress (the page had the agent's nonce in
return, so it could compute that code now), and a site gets at most ``MAX_WRONG_CODES`` wrong codes
in any ``WRONG_CODES_WINDOW`` seconds, so that a program that does not see the agent's screen cannot
try the million codes one after the other.

Pairings are listed, persisted and revocable (revoking deletes K); each decision (approved, denied,
revoked) goes to the audit journal when one is given.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import logging
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bridge_protocol import pairing as crypto
from bridge_protocol.errors import ErrorCode, ProtocolError

from .consent import ConsentProvider, ConsentRequest
from .fsutil import atomic_write_bytes
from .i18n import Text
from .jobs.model import utc_now

if TYPE_CHECKING:
    from .audit import AuditLog

log = logging.getLogger(__name__)

_SUMMARY = Text(
    fr="Ce site demande à utiliser Compagnon (signature, chiffrement, test du poste).\n"
       "Code de jumelage à taper dans la page : {code}",
    en="This site asks to use Compagnon (signing, encryption, workstation test).\n"
       "Pairing code to type in the page: {code}",
)
_PREAPPROVED = Text(
    fr="Site pré-autorisé par votre administrateur : jumelage de ce navigateur.\n"
       "Code de jumelage à taper dans la page : {code}",
    en="Site pre-approved by your administrator: pairing this browser.\n"
       "Pairing code to type in the page: {code}",
)

#: Page nonces remembered to refuse a replayed ``agent.auth`` challenge.
SEEN_NONCES = 100_000
#: Wrong pairing codes accepted per site in any ``WRONG_CODES_WINDOW`` seconds; then the site's
#: pairings are refused (TOO_MANY_REQUESTS, ``data.retry_after``) until the oldest one expires.
MAX_WRONG_CODES = 5
WRONG_CODES_WINDOW = 600.0
#: Name of the folder, in the state folder, where the test policy drops pairing codes.
TEST_CODES_FOLDER = "test-pairing-codes"


def test_code_name(origin: str, page_nonce: bytes) -> str:
    """File name of one pairing's code under the test policy (the page's nonce makes it unique)."""
    return hashlib.sha256(origin.encode() + page_nonce).hexdigest()[:32]


def decode_b64(value: str | None, length: int, path: str) -> bytes:
    """A base64 member of exactly ``length`` bytes, or INVALID_PARAMS."""
    try:
        data = base64.b64decode(value or "", validate=True)
    except (binascii.Error, ValueError):
        data = b""
    if len(data) != length:
        raise ProtocolError(ErrorCode.INVALID_PARAMS, path=path, reason=Text("{n} octets en base64 attendus", "{n} bytes in base64 expected").filled(n=length))
    return data


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@dataclass
class PairingSession:
    """One pairing in progress on one connection."""

    key: crypto.EphemeralKey = field(default_factory=crypto.EphemeralKey.generate)
    nonce: bytes = field(default_factory=crypto.new_nonce)
    stage: str = "committed"
    page_key: bytes = b""
    page_nonce: bytes = b""
    transcript: bytes = b""
    code: str = ""
    code_commitment: bytes = b""
    shared_key: bytes = b""
    code_file: Path | None = None
    shown: asyncio.Task[Any] | None = None

    def end(self) -> None:
        """Take the code off the screen and out of the test folder."""
        if self.shown is not None and not self.shown.done():
            self.shown.cancel()
        if self.code_file is not None:
            with contextlib.suppress(OSError):
                self.code_file.unlink()


@dataclass
class ConnectionAuth:
    """What one connection proved: its origin's key, once ``agent.auth`` (or a pairing) succeeded."""

    key: bytes | None = None
    pairing: PairingSession | None = None
    challenge: tuple[bytes, bytes, bytes] | None = None  # (page nonce, agent nonce, key)

    def close(self) -> None:
        if self.pairing is not None:
            self.pairing.end()
            self.pairing = None


class PreapprovedSite(Exception):
    """A site the configuration pre-approves (``[pairing] preapproved``, or the administrator's
    policy) cannot be revoked: its pages would pair again at once, without asking."""

    def __init__(self, origin: str) -> None:
        super().__init__(origin)
        self.origin = origin


class Pairings:
    """The paired sites and their keys, in ``state_dir/pairings.json``."""

    def __init__(self, path: Path, preapproved: tuple[str, ...], consent: ConsentProvider,
                 audit: AuditLog | None = None, test_codes: Path | None = None) -> None:
        self.path = path
        self.preapproved = frozenset(preapproved)
        self.consent = consent
        self.audit = audit
        #: Only under the consent policy ``approve-all-for-tests``: where each pairing's code is
        #: written (0600) for the test client to read, as a user would read the agent's screen.
        self.test_codes = test_codes
        self._mtime: float | None = None
        self._approved: dict[str, dict[str, str]] = {}
        self._seen: OrderedDict[bytes, None] = OrderedDict()
        self._wrong_codes: dict[str, deque[float]] = {}
        self._refresh()

    # -- the file ---------------------------------------------------------------------------------
    def _refresh(self) -> None:
        """Re-read the file when another process (``compagnon pairings revoke``) changed it."""
        try:
            mtime = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            self._approved, self._mtime = {}, None
            return
        if mtime == self._mtime:
            return
        self._mtime = mtime
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            approved = data.get("approved", {})
            # An entry without a key (an older file) is no pairing: the site pairs again.
            self._approved = {str(o): {"approved_at": str(e["approved_at"]), "key": str(e["key"])}
                              for o, e in approved.items() if isinstance(e, dict) and "key" in e}
        except (OSError, ValueError, AttributeError, KeyError, TypeError) as exc:
            log.warning("pairings file unreadable, no site paired: %s", exc)
            self._approved = {}

    def _write(self) -> None:
        data = json.dumps({"approved": self._approved}, indent=2, ensure_ascii=False).encode()
        atomic_write_bytes(self.path, data, mode=0o600)
        self._mtime = self.path.stat().st_mtime_ns

    def key_of(self, origin: str) -> bytes | None:
        """K of ``origin``, or None when the site is not paired (or was revoked)."""
        self._refresh()
        entry = self._approved.get(origin)
        if entry is None:
            return None
        try:
            return base64.b64decode(entry["key"], validate=True)
        except (binascii.Error, ValueError):
            return None

    def is_paired(self, origin: str) -> bool:
        return self.key_of(origin) is not None

    def list(self) -> list[dict[str, str | bool]]:
        """Every paired site, with when it was paired and whether configuration pre-approves it;
        pre-approved sites not yet paired are listed with an empty date. Keys are never listed."""
        self._refresh()
        entries: list[dict[str, str | bool]] = [
            {"origin": o, "approved_at": e["approved_at"], "preapproved": o in self.preapproved}
            for o, e in self._approved.items()
        ]
        entries += [{"origin": o, "approved_at": "", "preapproved": True}
                    for o in sorted(self.preapproved) if o not in self._approved]
        return entries

    def revoke(self, origin: str) -> bool:
        """Delete ``origin``'s key: its pages must pair again. False when it was not paired;
        :class:`PreapprovedSite` when the configuration pre-approves it (the console and the
        command line both say so, neither deletes its key)."""
        if origin in self.preapproved:
            raise PreapprovedSite(origin)
        self._refresh()
        if self._approved.pop(origin, None) is None:
            return False
        self._write()
        log.info("pairing revoked for %s", origin)
        if self.audit is not None:
            self.audit.record_pairing("pairing.revoked", origin)
        return True

    # -- pairing (agent.pair) ---------------------------------------------------------------------
    def commit(self, auth: ConnectionAuth) -> bytes:
        """Step 1: a fresh key and nonce for this connection; the page gets only the commitment."""
        auth.close()
        auth.pairing = PairingSession()
        return crypto.commitment(auth.pairing.key.public, auth.pairing.nonce)

    async def exchange(self, auth: ConnectionAuth, origin: str, page_key: bytes, page_nonce: bytes,
                       locale: str) -> bytes:
        """Step 2: show the code in the agent's own UI (and ask the user, unless the site is
        pre-approved); then reveal the key committed to in step 1. The nonce stays secret until the
        page commits to the code the user typed (``reveal``): without it the code cannot be computed."""
        session = auth.pairing
        if session is None or session.stage != "committed":
            raise ProtocolError(ErrorCode.PAIRING_FAILED, reason="step")
        if not crypto.valid_public_key(page_key):
            raise ProtocolError(ErrorCode.INVALID_PARAMS, path="/params/public_key", reason=Text("clé P-256 attendue", "P-256 key expected"))
        self._check_wrong_codes(origin)
        session.stage = "exchanging"
        session.page_key, session.page_nonce = page_key, page_nonce
        session.transcript = crypto.transcript(origin, page_key, session.key.public, page_nonce, session.nonce)
        code = session.code = crypto.sas(session.transcript)
        shown = f"{code[:3]} {code[3:]}"
        if self.test_codes is not None:
            session.code_file = self._drop_test_code(origin, page_nonce, code)
        preapproved = origin in self.preapproved
        text = (_PREAPPROVED if preapproved else _SUMMARY).render(locale, code=shown)
        request = ConsentRequest(origin=origin, action="pair", summary=text, pairing_code=code)
        if preapproved:
            session.shown = asyncio.create_task(self._show(request), name=f"pairing-code-{origin}")
        else:
            try:
                decision = await self.consent.ask(request)
            except BaseException:
                auth.close()
                raise
            if not decision.approved:
                log.info("pairing refused for %s", origin)
                if self.audit is not None:
                    self.audit.record_pairing("pairing.denied", origin)
                auth.close()
                raise ProtocolError(ErrorCode.PAIRING_REFUSED)
        if auth.pairing is not session:
            raise ProtocolError(ErrorCode.PAIRING_FAILED, reason="step")
        shared = session.key.shared(page_key)
        session.shared_key = crypto.derive_key(shared, origin, page_nonce, session.nonce)
        session.stage = "exchanged"
        return session.key.public

    def reveal(self, auth: ConnectionAuth, code_commitment: bytes) -> bytes:
        """Step 3: the page committed to the code the user typed; the agent's nonce in return (the
        page can now check its code, and the agent's commitment of step 1)."""
        session = auth.pairing
        if session is None or session.stage != "exchanged":
            raise ProtocolError(ErrorCode.PAIRING_FAILED, reason="step")
        session.code_commitment = code_commitment
        session.stage = "revealed"
        return session.nonce

    def _check_wrong_codes(self, origin: str) -> None:
        """Refuse a new pairing of a site that spent its wrong codes for the moment."""
        wrong = self._wrong_codes.get(origin)
        if wrong is None:
            return
        now = time.monotonic()
        while wrong and now - wrong[0] >= WRONG_CODES_WINDOW:
            wrong.popleft()
        if len(wrong) >= MAX_WRONG_CODES:
            retry_after = max(1, int(WRONG_CODES_WINDOW - (now - wrong[0])) + 1)
            log.warning("pairing of %s refused: %d wrong codes in %d s", origin, len(wrong), int(WRONG_CODES_WINDOW))
            raise ProtocolError(ErrorCode.TOO_MANY_REQUESTS, reason="pairing_codes", retry_after=retry_after)

    def _wrong_code(self, origin: str) -> int:
        """Count a wrong code of ``origin``; how many it may still try in the window."""
        wrong = self._wrong_codes.setdefault(origin, deque())
        now = time.monotonic()
        while wrong and now - wrong[0] >= WRONG_CODES_WINDOW:
            wrong.popleft()
        wrong.append(now)
        return max(0, MAX_WRONG_CODES - len(wrong))

    async def _show(self, request: ConsentRequest) -> None:
        """Show a pre-approved site's code until the page confirms (the task is then cancelled)."""
        try:
            await self.consent.show(request)
        except ProtocolError as exc:
            log.info("pairing code for %s not shown: %s", request.origin, exc.code.value)

    def _drop_test_code(self, origin: str, page_nonce: bytes, code: str) -> Path:
        assert self.test_codes is not None
        self.test_codes.mkdir(mode=0o700, exist_ok=True)
        path = self.test_codes / test_code_name(origin, page_nonce)
        atomic_write_bytes(path, code.encode(), mode=0o600, durable=False)
        return path

    def confirm(self, auth: ConnectionAuth, origin: str, opening: bytes, proof: bytes) -> bytes:
        """Step 4: the page opens its commitment, which must hold the code this agent showed (the
        code the user typed is what authenticates the pairing), and proves it derived the same K
        with that code bound in. Right or wrong, the pairing in progress ends here: a code is
        checked once. On success K is kept for the site and the agent's confirmation returned; the
        connection is then authenticated. Nothing is kept on failure."""
        session = auth.pairing
        if session is None or session.stage != "revealed":
            raise ProtocolError(ErrorCode.PAIRING_FAILED, reason="step")
        auth.close()
        expected = crypto.code_commitment(origin, session.page_key, session.key.public, session.page_nonce,
                                          session.code, opening)
        if not hmac.compare_digest(session.code_commitment, expected):
            left = self._wrong_code(origin)
            log.warning("pairing of %s refused: wrong code (%d more allowed for now)", origin, left)
            if self.audit is not None:
                self.audit.record_pairing("pairing.code_incorrect", origin)
            raise ProtocolError(ErrorCode.PAIRING_CODE_INCORRECT, attempts_left=left)
        if not hmac.compare_digest(proof, crypto.page_confirmation(session.shared_key, session.transcript,
                                                                   session.code)):
            log.warning("pairing of %s failed: wrong confirmation", origin)
            raise ProtocolError(ErrorCode.PAIRING_FAILED, reason="proof")
        self._refresh()
        self._approved[origin] = {"approved_at": utc_now(), "key": b64(session.shared_key)}
        self._write()
        log.info("pairing approved for %s", origin)
        if self.audit is not None:
            self.audit.record_pairing("pairing.approved", origin)
        auth.key = session.shared_key
        return crypto.agent_confirmation(session.shared_key, session.transcript, session.code)

    # -- every connection (agent.auth) ------------------------------------------------------------
    def challenge(self, auth: ConnectionAuth, origin: str, page_nonce: bytes) -> tuple[bytes, bytes]:
        """The agent's fresh nonce and its proof of K for this connection; a page nonce is
        accepted once only (a replayed challenge gets nothing)."""
        key = self.key_of(origin)
        if key is None:
            raise ProtocolError(ErrorCode.NOT_PAIRED)
        seen = hashlib.sha256(origin.encode() + page_nonce).digest()
        if seen in self._seen:
            raise ProtocolError(ErrorCode.AUTH_FAILED, reason="replay")
        self._seen[seen] = None
        while len(self._seen) > SEEN_NONCES:
            self._seen.popitem(last=False)
        agent_nonce = crypto.new_nonce()
        auth.challenge = (page_nonce, agent_nonce, key)
        return agent_nonce, crypto.agent_proof(key, origin, page_nonce, agent_nonce)

    def prove(self, auth: ConnectionAuth, origin: str, proof: bytes) -> None:
        """The page's proof for this connection's challenge (used once, right or wrong)."""
        challenge, auth.challenge = auth.challenge, None
        if challenge is None:
            raise ProtocolError(ErrorCode.AUTH_FAILED, reason="step")
        page_nonce, agent_nonce, key = challenge
        if not hmac.compare_digest(proof, crypto.page_proof(key, origin, page_nonce, agent_nonce)):
            log.warning("authentication of a connection of %s refused: wrong proof", origin)
            raise ProtocolError(ErrorCode.AUTH_FAILED, reason="proof")
        auth.key = key

    def authenticated(self, auth: ConnectionAuth, origin: str) -> bool:
        """Whether the connection proved the site's current key (a revoked key no longer counts)."""
        if auth.key is None:
            return False
        current = self.key_of(origin)
        return current is not None and hmac.compare_digest(current, auth.key)


def test_codes_folder(state_dir: Path, policy: str) -> Path | None:
    """The test policy's code folder; None (no side channel at all) under every other policy."""
    return state_dir / TEST_CODES_FOLDER if policy == "approve-all-for-tests" else None


__all__ = ["ConnectionAuth", "Pairings", "PreapprovedSite", "b64", "decode_b64", "test_code_name", "test_codes_folder"]
