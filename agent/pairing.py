"""Paired sites and authenticated connections (docs/SECURITY.md promise 3, PROTOCOL.md "Pairing").

The ``Origin`` header proves nothing outside a browser: any local process can send it. A site is
therefore paired once by a key exchange the user confirms — the agent shows a six-digit code in its
own UI (terminal, console, native window), the user types it in the page — and the shared key K
kept here, per origin, in ``state_dir/pairings.json`` (0600, in the 0700 state folder). Every later
connection proves both sides hold K (``agent.auth``) before anything privileged is answered.
Sites pre-approved by configuration pair too (the code, without the "allow this site?" question).

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
from collections import OrderedDict
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
        raise ProtocolError(ErrorCode.INVALID_PARAMS, path=path, reason=f"{length} octets en base64 attendus")
    return data


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@dataclass
class PairingSession:
    """One pairing in progress on one connection."""

    key: crypto.EphemeralKey = field(default_factory=crypto.EphemeralKey.generate)
    nonce: bytes = field(default_factory=crypto.new_nonce)
    stage: str = "committed"
    transcript: bytes = b""
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
        """Delete ``origin``'s key: its pages must pair again."""
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
                       locale: str) -> tuple[bytes, bytes]:
        """Step 2: show the code in the agent's own UI (and ask the user, unless the site is
        pre-approved); then reveal the key and nonce committed to in step 1."""
        session = auth.pairing
        if session is None or session.stage != "committed":
            raise ProtocolError(ErrorCode.PAIRING_FAILED, reason="step")
        if not crypto.valid_public_key(page_key):
            raise ProtocolError(ErrorCode.INVALID_PARAMS, path="/params/public_key", reason="clé P-256 attendue")
        session.stage = "exchanging"
        session.transcript = crypto.transcript(origin, page_key, session.key.public, page_nonce, session.nonce)
        code = crypto.sas(session.transcript)
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
        return session.key.public, session.nonce

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

    def confirm(self, auth: ConnectionAuth, origin: str, proof: bytes) -> bytes:
        """Step 3: the page proves it derived the same K (so the user typed the right code in
        it); K is kept for the site and the agent's confirmation returned. The connection is then
        authenticated."""
        session = auth.pairing
        if session is None or session.stage != "exchanged":
            raise ProtocolError(ErrorCode.PAIRING_FAILED, reason="step")
        auth.close()
        if not hmac.compare_digest(proof, crypto.page_confirmation(session.shared_key, session.transcript)):
            log.warning("pairing of %s failed: wrong confirmation", origin)
            raise ProtocolError(ErrorCode.PAIRING_FAILED, reason="proof")
        self._refresh()
        self._approved[origin] = {"approved_at": utc_now(), "key": b64(session.shared_key)}
        self._write()
        log.info("pairing approved for %s", origin)
        if self.audit is not None:
            self.audit.record_pairing("pairing.approved", origin)
        auth.key = session.shared_key
        return crypto.agent_confirmation(session.shared_key, session.transcript)

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


__all__ = ["ConnectionAuth", "Pairings", "b64", "decode_b64", "test_code_name", "test_codes_folder"]
