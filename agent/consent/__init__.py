"""Consent and pairing prompts (docs/SECURITY.md promises 3 and 4).

The bridge and the job kinds ask a ``ConsentProvider``; which one answers is the agent's choice:
the desktop UI (a later addition), a terminal prompt when ``compagnon serve`` runs in a terminal,
or a fixed policy. A page can never answer for the user: no bridge message reaches a provider.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..secret import Secret

__all__ = ["Action", "ConsentDecision", "ConsentProvider", "ConsentRequest", "FileSummary", "PolicyConsent", "Secret",
           "accepted_file"]

Action = Literal["pair", "certificates", "sign", "decrypt", "keygen"]


@dataclass(frozen=True)
class FileSummary:
    """A file as the consent shows it."""

    name: str
    size: int
    sha256: str


@dataclass(frozen=True)
class ConsentRequest:
    """What the user is asked to approve, with everything promise 4 requires on screen."""

    origin: str
    action: Action
    summary: str
    files: tuple[FileSummary, ...] = ()
    certificate: str | None = None
    needs_pin: bool = False
    #: The six-digit pairing code (action ``pair``) the user types in the page; also in ``summary``.
    pairing_code: str | None = None
    #: A second chance at the PIN within the same job: the consent stands, only the PIN is asked
    #: again; ``notice`` says why (a wrong PIN, the tries left as the token reports them).
    pin_retry: bool = False
    notice: str | None = None
    #: The PIN field is a new password (a new PKCS#12 file): typed twice, ``password_rule`` told
    #: before it is typed, asked again while the two entries differ or it breaks the rule.
    new_password: bool = False
    password_rule: str | None = None
    password_min_length: int = 0


@dataclass(frozen=True)
class ConsentDecision:
    approved: bool
    pin: Secret | None = None


class ConsentProvider(ABC):
    """Asks the user. Raises ProtocolError USER_TIMEOUT or CONSENT_UNAVAILABLE when it cannot."""

    @abstractmethod
    async def ask(self, request: ConsentRequest) -> ConsentDecision: ...

    def place(self, locale: str) -> str | None:
        """Where this provider asks the user ("le terminal où Compagnon s'exécute", "la fenêtre de
        Compagnon"), for the job that waits on it to say so; None when nobody is asked."""
        return None

    async def show(self, request: ConsentRequest) -> None:
        """Show ``request`` without asking anything (a pre-approved site's pairing code): the agent
        cancels this once the page confirmed. By default the request is shown as a prompt whose
        answer is ignored."""
        await self.ask(request)

    async def pick_files(self, origin: str, multiple: bool, accept: tuple[str, ...]) -> list[Path]:
        """The user's own choice of files (a native picker); empty when they cancel."""
        from bridge_protocol.errors import ErrorCode, ProtocolError

        raise ProtocolError(ErrorCode.CONSENT_UNAVAILABLE)


def accepted_file(path: Path, accept: tuple[str, ...]) -> bool:
    """Whether a file the user chose may be handed to the page: an existing regular file whose
    suffix is among ``accept`` (lower-case, with the dot; empty: any)."""
    return path.is_file() and (not accept or path.suffix.lower() in accept)


class PolicyConsent(ConsentProvider):
    """A fixed answer: ``deny`` for unattended agents, approval only for test runs."""

    def __init__(self, approve: bool) -> None:
        self.approve = approve

    async def ask(self, request: ConsentRequest) -> ConsentDecision:
        return ConsentDecision(approved=self.approve)

    async def show(self, request: ConsentRequest) -> None:
        """Nobody to show anything to."""
