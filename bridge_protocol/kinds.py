"""Parameters and results of each job kind: what a page puts in ``jobs.start.params`` and finds in
the snapshot's ``result`` once the job has succeeded."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

CheckStatus = Literal["pass", "warn", "fail"]


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


@dataclass(frozen=True)
class KindContract:
    """A job kind as the protocol documents it."""

    name: str
    params: type
    result: type
    summary: str


KINDS: dict[str, KindContract] = {
    k.name: k
    for k in (
        KindContract(
            "diagnose",
            DiagnoseParams,
            DiagnoseResult,
            "Test the workstation: system, agent, key stores, browser, platform link, clock, port.",
        ),
    )
}
