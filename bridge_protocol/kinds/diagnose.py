"""``diagnose``: its parameters and result."""

from __future__ import annotations

from dataclasses import dataclass, field

from .common import CheckStatus


@dataclass
class DiagnoseParams:
    """``diagnose`` ("Tester la configuration de mon poste"). The page sends ``navigator.userAgent``."""

    user_agent: str | None = field(default=None, metadata={"maxLength": 512})


@dataclass
class DiagnoseCheck:
    """One prerequisite: ``label`` as shown in the "Prérequis" column, ``value`` in "Résultat"."""

    id: str
    label: str
    status: CheckStatus
    value: str
    message: str


@dataclass
class DiagnoseResult:
    """``diagnose`` result: every check and the overall verdict (the worst status)."""

    checks: list[DiagnoseCheck]
    status: CheckStatus
    message: str
