"""The verification report: one entry per signature, its checks and its ETSI EN 319 102-1 indication.

The indication of a signature is derived from its checks (EN 319 102-1 section 5.1.3 and the
"signature validation report" of ETSI TS 119 102-2): a check that fails may carry an indication and
a sub-indication; the signature takes the first TOTAL_FAILED one, else the first INDETERMINATE one,
else TOTAL_PASSED. Checks are appended in the order of the validation building blocks (format
checking, identification of the signing certificate, cryptographic verification, X.509 validation,
time and acceptance checks, section 5.2), so "first" means "first building block that failed" and a
FAILED cryptographic result wins over an INDETERMINATE chain, as section 5.3 step 4 wants.

``VerificationReport.to_json()`` gives exactly::

    {"file": ..., "signatures": [{"id", "format", "level", "signer": {"name", "organization",
      "certificate_sha256"}, "signing_time", "signing_time_source", "indication", "sub_indication",
      "checks": [{"name", "status", "message"}], "countersignatures": [...same shape...], "covers": [...]}],
     "contents": [{"file", "signatures": [...], ...same shape...}],
     "container": {"type", "files": [...], "uncovered": [...], "checks": [...same shape...]}}

``contents`` is present only when the file encapsulates a document whose own signatures were verified
too — an attached CAdES (``offre.pdf.p7m``) around a signed PDF, XML document or other CMS signature
(whose own ``contents`` go on, ``detect.MAX_NESTING`` levels at most): each entry is the report of that
document, under the name it had before it was wrapped. Its signatures count in ``exit_code``.
A check's ``status`` is one of ``passed``, ``failed``, ``warning``, ``not_checked``, ``not_applicable``.

``container`` is present only for a container (ASiC, ETSI EN 319 162-1): its type (``"ASiC-S"``,
``"ASiC-E"``, or ``"ZIP"`` for an archive that is no ASiC container), its data files (paths inside
it), those that no signature covers, and its own checks (``mimetype``, ``uncovered_files``,
``signatures``), which never change a signature's indication. ``covers``, present only for the
signatures of a container that cover files, lists those files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

__all__ = [
    "Check", "CheckStatus", "Container", "Indication", "SignatureReport", "Signer", "SubIndication",
    "VerificationReport", "iso_time",
]


class Indication(StrEnum):
    """Main status indications (EN 319 102-1 section 5.1.3, table 4)."""

    TOTAL_PASSED = "TOTAL_PASSED"
    TOTAL_FAILED = "TOTAL_FAILED"
    INDETERMINATE = "INDETERMINATE"


class SubIndication(StrEnum):
    """Sub-indications used by Compagnon (EN 319 102-1 section 5.1.3, table 5)."""

    # with TOTAL_FAILED
    FORMAT_FAILURE = "FORMAT_FAILURE"
    HASH_FAILURE = "HASH_FAILURE"
    SIG_CRYPTO_FAILURE = "SIG_CRYPTO_FAILURE"
    REVOKED = "REVOKED"
    NOT_YET_VALID = "NOT_YET_VALID"
    # with INDETERMINATE
    SIG_CONSTRAINTS_FAILURE = "SIG_CONSTRAINTS_FAILURE"
    CHAIN_CONSTRAINTS_FAILURE = "CHAIN_CONSTRAINTS_FAILURE"
    CERTIFICATE_CHAIN_GENERAL_FAILURE = "CERTIFICATE_CHAIN_GENERAL_FAILURE"
    CRYPTO_CONSTRAINTS_FAILURE = "CRYPTO_CONSTRAINTS_FAILURE"
    EXPIRED = "EXPIRED"
    NO_SIGNING_CERTIFICATE_FOUND = "NO_SIGNING_CERTIFICATE_FOUND"
    NO_CERTIFICATE_CHAIN_FOUND = "NO_CERTIFICATE_CHAIN_FOUND"
    REVOKED_NO_POE = "REVOKED_NO_POE"
    REVOKED_CA_NO_POE = "REVOKED_CA_NO_POE"
    OUT_OF_BOUNDS_NO_POE = "OUT_OF_BOUNDS_NO_POE"
    TRY_LATER = "TRY_LATER"
    SIGNED_DATA_NOT_FOUND = "SIGNED_DATA_NOT_FOUND"
    GENERIC = "GENERIC"


class CheckStatus(StrEnum):
    """What became of one check. ``not_checked`` ("non vérifié") is an honest third answer beside
    passed and failed: the check could not be made (no revocation source, a service out of reach,
    no trusted chain to judge by…) and its message says why; when EN 319 102-1 makes the missing
    answer decide the signature (revocation status unknown: INDETERMINATE/TRY_LATER, section
    5.2.5), the check carries that indication. ``not_applicable`` ("sans objet") is for a check
    that has nothing to judge (no time-stamp in a B-B signature)."""

    PASSED = "passed"
    FAILED = "failed"
    WARNING = "warning"
    NOT_CHECKED = "not_checked"
    NOT_APPLICABLE = "not_applicable"


def iso_time(moment: datetime | None) -> str | None:
    """``2024-03-11T09:15:02Z`` (UTC, whole seconds), or None."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


@dataclass
class Check:
    """One verified requirement. ``indication``/``sub_indication`` are what this check imposes on the
    signature when it is not passed (not serialised: the signature's own fields carry the verdict)."""

    name: str
    status: CheckStatus
    message: str
    indication: Indication | None = None
    sub_indication: SubIndication | None = None

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "status": str(self.status), "message": self.message}


def passed(name: str, message: str) -> Check:
    return Check(name, CheckStatus.PASSED, message)


def warning(name: str, message: str) -> Check:
    return Check(name, CheckStatus.WARNING, message)


def not_applicable(name: str, message: str) -> Check:
    return Check(name, CheckStatus.NOT_APPLICABLE, message)


def not_checked(name: str, message: str, indication: Indication | None = None,
                sub_indication: SubIndication | None = None) -> Check:
    """A check that could not be made; ``message`` says why."""
    return Check(name, CheckStatus.NOT_CHECKED, message, indication, sub_indication)


def failed(name: str, message: str, indication: Indication | None = None,
           sub_indication: SubIndication | None = None) -> Check:
    return Check(name, CheckStatus.FAILED, message, indication, sub_indication)


def total_failed(name: str, message: str, sub: SubIndication) -> Check:
    return failed(name, message, Indication.TOTAL_FAILED, sub)


def indeterminate(name: str, message: str, sub: SubIndication) -> Check:
    return failed(name, message, Indication.INDETERMINATE, sub)


@dataclass
class Signer:
    name: str | None = None
    organization: str | None = None
    certificate_sha256: str | None = None

    def to_json(self) -> dict[str, str | None]:
        return {"name": self.name, "organization": self.organization, "certificate_sha256": self.certificate_sha256}


@dataclass
class SignatureReport:
    """One signature, counter-signature or document time-stamp."""

    id: str
    format: str
    level: str | None = None
    signer: Signer = field(default_factory=Signer)
    signing_time: datetime | None = None
    signing_time_source: str | None = None  # "timestamp" | "claimed" | None
    checks: list[Check] = field(default_factory=list)
    countersignatures: list[SignatureReport] = field(default_factory=list)
    #: What the signer declared in signed properties (role, place, policy…) and where the signature
    #: sits (``location``): facts for the reader, judged by no check.
    properties: dict[str, str] = field(default_factory=dict)
    #: A profile's own rules beside the ETSI indication (e.g. "PES V2 (DGFiP)"): OK/NOK each, never
    #: part of the verdict.
    conformance_profile: str | None = None
    conformance: list[Check] = field(default_factory=list)
    #: The files of its container (ASiC) the signature covers, by their path inside it.
    covers: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        # A plain str: a PDF field name comes as pyHanko's string object, which keeps its reader.
        self.id = "".join(self.id) if type(self.id) is not str else self.id

    def add(self, *checks: Check) -> None:
        self.checks.extend(checks)

    def check(self, name: str) -> Check | None:
        """The first check called ``name``."""
        return next((c for c in self.checks if c.name == name), None)

    @property
    def verdict(self) -> tuple[Indication, SubIndication | None]:
        """FAILED beats INDETERMINATE beats PASSED; within a rank, the first building block wins."""
        for rank in (Indication.TOTAL_FAILED, Indication.INDETERMINATE):
            for check in self.checks:
                if check.indication is rank and check.status is not CheckStatus.PASSED:
                    return rank, check.sub_indication
        return Indication.TOTAL_PASSED, None

    @property
    def indication(self) -> Indication:
        return self.verdict[0]

    @property
    def sub_indication(self) -> SubIndication | None:
        return self.verdict[1]

    def to_json(self) -> dict[str, Any]:
        indication, sub = self.verdict
        return {
            "id": self.id,
            "format": self.format,
            "level": self.level,
            "signer": self.signer.to_json(),
            "signing_time": iso_time(self.signing_time),
            "signing_time_source": self.signing_time_source,
            "indication": str(indication),
            "sub_indication": str(sub) if sub is not None else None,
            "checks": [c.to_json() for c in self.checks],
            "countersignatures": [c.to_json() for c in self.countersignatures],
            **({"properties": dict(self.properties)} if self.properties else {}),
            **({"conformance": self.conformance_json()} if self.conformance_profile else {}),
            **({"covers": list(self.covers)} if self.covers else {}),
        }

    def conformance_json(self) -> dict[str, Any]:
        """``{"profile", "result": "OK"|"NOK", "rules": [{"name", "result", "status", "message"}]}``:
        a rule is NOK when it failed, OK otherwise (a warning is an OK with a recommendation)."""
        def result(check: Check) -> str:
            return "NOK" if check.status is CheckStatus.FAILED else (
                "NOT_CHECKED" if check.status is CheckStatus.NOT_CHECKED else "OK")

        rules = [{"name": c.name, "result": result(c), "status": str(c.status), "message": c.message}
                 for c in self.conformance]
        return {"profile": self.conformance_profile,
                "result": "NOK" if any(r["result"] == "NOK" for r in rules) else "OK", "rules": rules}


@dataclass
class Container:
    """The container the signatures came from (ETSI EN 319 162-1): ``type`` ``"ASiC-S"``/``"ASiC-E"``
    (``"ZIP"`` when it is no ASiC container), ``files`` its data files (paths inside it, ``mimetype``
    and ``META-INF/`` excluded), ``uncovered`` those no signature covers, ``checks`` its own."""

    type: str
    files: list[str] = field(default_factory=list)
    uncovered: list[str] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)

    def check(self, name: str) -> Check | None:
        return next((c for c in self.checks if c.name == name), None)

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "files": list(self.files), "uncovered": list(self.uncovered),
                "checks": [c.to_json() for c in self.checks]}


@dataclass
class VerificationReport:
    """Every signature of one file. ``exit_code``: 0 when all are TOTAL_PASSED, 1 when one is
    TOTAL_FAILED (counter-signatures included), 2 otherwise (INDETERMINATE, or no signature at all)."""

    file: str
    signatures: list[SignatureReport] = field(default_factory=list)
    #: Reports of the documents this file encapsulates (the PDF, XML or CMS signature inside an attached CAdES).
    contents: list[VerificationReport] = field(default_factory=list)
    #: The container the signatures came from (ASiC), None for any other file.
    container: Container | None = None

    def all_signatures(self) -> list[SignatureReport]:
        """Signatures and, depth first, their counter-signatures, then those of the encapsulated documents."""
        out: list[SignatureReport] = []

        def walk(items: list[SignatureReport]) -> None:
            for item in items:
                out.append(item)
                walk(item.countersignatures)

        walk(self.signatures)
        for inner in self.contents:
            out.extend(inner.all_signatures())
        return out

    @property
    def exit_code(self) -> int:
        every = self.all_signatures()
        if not every:
            return 2
        indications = {s.indication for s in every}
        if Indication.TOTAL_FAILED in indications:
            return 1
        if indications == {Indication.TOTAL_PASSED}:
            return 0
        return 2

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {"file": self.file, "signatures": [s.to_json() for s in self.signatures]}
        if self.contents:
            document["contents"] = [c.to_json() for c in self.contents]
        if self.container is not None:
            document["container"] = self.container.to_json()
        return document
