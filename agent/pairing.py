"""Paired sites (docs/SECURITY.md promise 3): a site allowed to connect is paired once by the user, or
pre-approved by configuration. Pairings are listed, persisted and revocable; each decision
(approved, denied, revoked) goes to the audit journal when one is given."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from bridge_protocol.errors import ErrorCode, ProtocolError

from .consent import ConsentProvider, ConsentRequest
from .fsutil import atomic_write_bytes
from .i18n import Text
from .jobs.model import utc_now

if TYPE_CHECKING:
    from .audit import AuditLog

log = logging.getLogger(__name__)

_SUMMARY = Text(
    fr="Ce site demande à utiliser Compagnon (signature, chiffrement, test du poste).",
    en="This site asks to use Compagnon (signing, encryption, workstation test).",
)


class Pairings:
    """The approved sites, in ``state_dir/pairings.json``."""

    def __init__(self, path: Path, preapproved: tuple[str, ...], consent: ConsentProvider,
                 audit: AuditLog | None = None) -> None:
        self.path = path
        self.preapproved = frozenset(preapproved)
        self.consent = consent
        self.audit = audit
        self._mtime: float | None = None
        self._approved: dict[str, str] = {}
        self._refresh()
        self._locks: dict[str, asyncio.Lock] = {}

    def _refresh(self) -> None:
        """Re-read the file when another process (``compagnon pairings revoke``) changed it."""
        try:
            mtime = self.path.stat().st_mtime
        except FileNotFoundError:
            self._approved, self._mtime = {}, None
            return
        if mtime == self._mtime:
            return
        self._mtime = mtime
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            self._approved = {str(k): str(v) for k, v in data.get("approved", {}).items()}
        except (OSError, ValueError, AttributeError) as exc:
            log.warning("pairings file unreadable, no site paired: %s", exc)
            self._approved = {}

    def _write(self) -> None:
        data = json.dumps({"approved": self._approved}, indent=2, ensure_ascii=False).encode()
        atomic_write_bytes(self.path, data)
        self._mtime = self.path.stat().st_mtime

    def is_paired(self, origin: str) -> bool:
        self._refresh()
        return origin in self.preapproved or origin in self._approved

    def list(self) -> list[dict[str, str | bool]]:
        """Every paired site, with when it was approved and whether configuration pre-approves it."""
        self._refresh()
        entries = [{"origin": o, "approved_at": t, "preapproved": False} for o, t in self._approved.items()]
        entries += [{"origin": o, "approved_at": "", "preapproved": True} for o in sorted(self.preapproved)]
        return entries

    def revoke(self, origin: str) -> bool:
        self._refresh()
        if self._approved.pop(origin, None) is None:
            return False
        self._write()
        log.info("pairing revoked for %s", origin)
        if self.audit is not None:
            self.audit.record_pairing("pairing.revoked", origin)
        return True

    async def ensure(self, origin: str, locale: str = "fr") -> None:
        """Return once ``origin`` is paired, asking the user if needed (one prompt per site)."""
        if self.is_paired(origin):
            return
        lock = self._locks.setdefault(origin, asyncio.Lock())
        async with lock:
            if self.is_paired(origin):
                return
            decision = await self.consent.ask(
                ConsentRequest(origin=origin, action="pair", summary=_SUMMARY.render(locale))
            )
            if not decision.approved:
                log.info("pairing refused for %s", origin)
                if self.audit is not None:
                    self.audit.record_pairing("pairing.denied", origin)
                raise ProtocolError(ErrorCode.PAIRING_REFUSED)
            self._refresh()
            self._approved[origin] = utc_now()
            self._write()
            log.info("pairing approved for %s", origin)
            if self.audit is not None:
                self.audit.record_pairing("pairing.approved", origin)
