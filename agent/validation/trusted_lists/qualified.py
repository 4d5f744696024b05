"""Queries over verified trusted lists: trust anchors, and "was this certificate qualified at that time?".

The procedure follows the reading of EU Member States' trusted lists that ETSI TS 119 615 describes,
on the data of ETSI TS 119 612:

1. *Service identification* — the CA/QC service (clause 5.5.1) whose ``ServiceDigitalIdentity``
   (clause 5.5.3) is the certificate's issuer or one of the issuer's ancestors: the listed
   certificate has the same public key as a certificate of the supplied chain (or the same subject
   key identifier, as history instances give, clause 5.6.3), or the listed certificate directly
   signed a certificate of the chain. Every link from the end-entity certificate up to the listed
   one is checked by signature. The nearest listed CA wins.
2. *Status at the time* — the status period (current status, clause 5.5.4/5.5.5, or a
   ``ServiceHistoryInstance``, clause 5.6) covering ``at`` must be a CA/QC one with a positive status
   (``granted``, or ``undersupervision``/``supervisionincessation``/``accredited`` under Directive
   1999/93/EC), and so must the period covering the certificate's issuance (notBefore).
3. *Qualification* — the certificate's own QCStatements (EN 319 412-5: QcCompliance, QcType,
   QcSSCD), overridden by the qualifiers of the ``Qualifications`` extension (clause 5.5.9.2) whose
   criteria the certificate meets: ``NotQualified``/``QCStatement`` decide qualified or not,
   ``QCForESig``/``QCForESeal``/``QCForWSA`` the usage, ``QCWithQSCD``/``QCNoQSCD`` (and the SSCD
   forms) the QSCD status. After eIDAS, a service whose additional service information (clause
   5.5.9.4) names usages must name ``ForeSignatures`` for an e-signature certificate.

The answer is qualified *for electronic signatures*; a qualified e-seal or web certificate is
reported as not qualified for signatures, with the reason.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ...pki.cert_facts import qc_statements
from .model import (
    ASI_USAGES,
    EIDAS_DATE,
    FOR_ESIGNATURES,
    NOT_QUALIFIED,
    POSITIVE_STATUSES,
    QC_CA_TYPES,
    QC_NO_QSCD,
    QC_NO_SSCD,
    QC_QSCD_MANAGED_ON_BEHALF,
    QC_STATEMENT,
    QC_WITH_QSCD,
    QC_WITH_SSCD,
    QUALIFIER_USAGES,
    RECOGNISED_AT_NATIONAL_LEVEL,
    SVCTYPE_CA_PKC,
    Criteria,
    Message,
    ServiceInformation,
    TrustedList,
    TrustService,
    TrustServiceProvider,
    message,
    short_uri,
)

__all__ = ["QualifiedStatus", "TrustedListSet"]

MAX_DEPTH = 8
_USAGE_NAMES = {"esign": ("signature électronique", "electronic signature"),
                "eseal": ("cachet électronique", "electronic seal"),
                "web": ("authentification de site web", "website authentication")}
_KEY_USAGE_BITS = {
    "digitalSignature": "digital_signature", "nonRepudiation": "content_commitment",
    "contentCommitment": "content_commitment", "keyEncipherment": "key_encipherment",
    "dataEncipherment": "data_encipherment", "keyAgreement": "key_agreement", "keyCertSign": "key_cert_sign",
    "crlSign": "crl_sign", "encipherOnly": "encipher_only", "decipherOnly": "decipher_only",
}


@dataclass(frozen=True)
class QualifiedStatus:
    """Whether a certificate was qualified for electronic signatures at ``at``, per the trusted lists.

    ``country``, ``tsp``, ``service``, ``status`` and ``status_since`` name the service that decided
    (None when no service matched); ``reason`` says why, in French or English (``describe``).
    """

    qualified: bool
    at: datetime
    reason: Message
    country: str | None = None
    tsp: str | None = None
    service: str | None = None
    service_type: str | None = None
    status: str | None = None
    status_since: datetime | None = None
    usage: str | None = None
    qscd: bool | None = None
    trusted_list: TrustedList | None = field(default=None, repr=False)

    def describe(self, locale: str = "fr") -> str:
        return self.reason.render(locale)

    def __str__(self) -> str:
        return self.describe("fr")


# -- certificate facts -------------------------------------------------------------------------------


def _spki(cert: x509.Certificate) -> bytes:
    return cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


def _ski(cert: x509.Certificate) -> bytes:
    try:
        return cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except (x509.ExtensionNotFound, ValueError):
        return x509.SubjectKeyIdentifier.from_public_key(cert.public_key()).digest


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    if cert.issuer != issuer.subject:
        return False
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _policies(cert: x509.Certificate) -> set[str]:
    try:
        return {p.policy_identifier.dotted_string
                for p in cert.extensions.get_extension_for_class(x509.CertificatePolicies).value}
    except (x509.ExtensionNotFound, ValueError):
        return set()


def _ekus(cert: x509.Certificate) -> set[str]:
    try:
        return {u.dotted_string for u in cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value}
    except (x509.ExtensionNotFound, ValueError):
        return set()


def _key_usage_bit(cert: x509.Certificate, name: str) -> bool:
    attribute = _KEY_USAGE_BITS.get(name)
    if attribute is None:
        return False
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        return bool(getattr(usage, attribute))
    except (x509.ExtensionNotFound, ValueError):  # ValueError: encipher/decipher_only without keyAgreement
        return False


def criteria_match(criteria: Criteria, cert: x509.Certificate) -> bool:
    """Whether ``cert`` meets a ``CriteriaList`` (clause 5.5.9.2.2); an empty list matches nothing."""
    results: list[bool] = []
    results += [all(_key_usage_bit(cert, bit) == value for bit, value in usage) for usage in criteria.key_usages]
    policies = _policies(cert)
    results += [set(policy_set) <= policies for policy_set in criteria.policy_sets]
    ekus = _ekus(cert)
    results += [set(purposes) <= ekus for purposes in criteria.extended_key_usages]
    results += [all(cert.subject.get_attributes_for_oid(x509.ObjectIdentifier(oid)) for oid in attributes)
                for attributes in criteria.subject_attributes if all(_is_oid(o) for o in attributes)]
    results += [criteria_match(nested, cert) for nested in criteria.nested]
    results += [False for _ in criteria.unsupported]
    if not results:
        return False
    if criteria.assert_ == "atLeastOne":
        return any(results)
    if criteria.assert_ == "none":
        return not any(results)
    return all(results)


def _is_oid(value: str) -> bool:
    parts = value.split(".")
    return len(parts) >= 2 and all(p.isdigit() for p in parts)


# -- the set of lists ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Entry:
    trusted_list: TrustedList
    provider: TrustServiceProvider
    service: TrustService
    certificate: x509.Certificate | None = None


@dataclass(frozen=True)
class _Failure:
    rank: int
    status: QualifiedStatus


@dataclass(frozen=True)
class TrustedListSet:
    """The verified LOTL and Member State lists, and the questions a verifier asks them."""

    lotl: TrustedList | None = None
    lists: tuple[TrustedList, ...] = ()
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC), compare=False, repr=False)

    # -- indexes (built once) -----------------------------------------------------------------------

    @cached_property
    def _index(self) -> tuple[dict[bytes, list[_Entry]], dict[bytes, list[_Entry]], dict[bytes, list[_Entry]]]:
        """Services by listed subject name (DER), public key (SPKI DER) and subject key identifier."""
        by_subject: dict[bytes, list[_Entry]] = {}
        by_spki: dict[bytes, list[_Entry]] = {}
        by_ski: dict[bytes, list[_Entry]] = {}
        for trusted_list in self.usable_lists():
            for provider, service in trusted_list.services():
                seen: set[bytes] = set()
                for identity in service.identities():
                    for cert in identity.certificates:
                        spki = _spki(cert)
                        if spki in seen:
                            continue
                        seen.add(spki)
                        entry = _Entry(trusted_list, provider, service, cert)
                        by_subject.setdefault(cert.subject.public_bytes(), []).append(entry)
                        by_spki.setdefault(spki, []).append(entry)
                        by_ski.setdefault(_ski(cert), []).append(entry)
                    for ski in identity.skis:
                        by_ski.setdefault(ski, []).append(_Entry(trusted_list, provider, service))
        return by_subject, by_spki, by_ski

    def usable_lists(self) -> list[TrustedList]:
        """Verified Member State lists, closed ones (no next update, clause 5.3.15) left out."""
        return [tl for tl in self.lists if not tl.closed]

    def territories(self) -> list[str]:
        return sorted({tl.territory for tl in self.lists})

    # -- trust anchors ------------------------------------------------------------------------------

    def trust_anchors(self, at: datetime | None = None, *, qualified_only: bool = True) -> list[x509.Certificate]:
        """Certificates of CA services in good standing at ``at`` (default now), for chain building.

        ``qualified_only``: CA/QC and NationalRootCA-QC services with a positive status; otherwise
        CA/PKC services recognised at national level are added.
        """
        moment = at or self.clock()
        types = set(QC_CA_TYPES) if qualified_only else {*QC_CA_TYPES, SVCTYPE_CA_PKC}
        statuses = set(POSITIVE_STATUSES) if qualified_only else {*POSITIVE_STATUSES, RECOGNISED_AT_NATIONAL_LEVEL}
        anchors: dict[bytes, x509.Certificate] = {}
        for trusted_list in self.usable_lists():
            for _, service in trusted_list.services():
                period = service.at(moment)
                if period is None or period.info.type_identifier not in types or period.info.status not in statuses:
                    continue
                for cert in (*period.info.identity.certificates, *service.current.identity.certificates):
                    anchors.setdefault(cert.fingerprint(hashes.SHA256()), cert)
        return list(anchors.values())

    # -- qualified status -----------------------------------------------------------------------------

    def services_for(self, chain: Sequence[x509.Certificate]) -> list[_Entry]:
        """Listed services whose identity issued ``chain[0]`` or one of its ancestors, nearest first."""
        by_subject, by_spki, by_ski = self._index
        leaf, issuers = chain[0], list(chain[1:])
        found: list[_Entry] = []
        current = leaf
        for _ in range(MAX_DEPTH):
            for entry in by_subject.get(current.issuer.public_bytes(), []):
                if entry.certificate is not None and _issued_by(current, entry.certificate):
                    found.append(entry)
            issuer = next((c for c in issuers if _issued_by(current, c)), None)
            if issuer is None:
                break
            found += by_spki.get(_spki(issuer), []) + by_ski.get(_ski(issuer), [])
            if issuer.subject == issuer.issuer:
                break
            current = issuer
        unique: list[_Entry] = []
        for entry in found:
            if not any(e.service is entry.service for e in unique):
                unique.append(entry)
        return unique

    def qualified_at(self, cert_chain: Sequence[x509.Certificate], at: datetime) -> QualifiedStatus:
        """Was ``cert_chain[0]`` a qualified certificate for electronic signatures at ``at``?

        ``cert_chain`` is the certificate then, optionally, its issuers (leaf first); the issuer may
        also be taken from the lists themselves. See the module docstring for the procedure.
        """
        if not cert_chain:
            raise ValueError("cert_chain is empty")
        if at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
        leaf = cert_chain[0]
        if not self.lists:
            return QualifiedStatus(False, at, message(
                "Aucune liste de confiance vérifiée n'est disponible : statut qualifié non établi.",
                "No verified trusted list is available: qualified status not established."))
        entries = self.services_for(cert_chain)
        if not entries:
            return QualifiedStatus(False, at, message(
                "L'autorité émettrice « {i} » ne figure dans aucune liste de confiance vérifiée ({t}) : certificat "
                "non reconnu qualifié.",
                "The issuing authority \"{i}\" is in no verified trusted list ({t}): certificate not recognised as "
                "qualified.", i=_issuer_label(leaf), t=", ".join(self.territories())))
        failures: list[_Failure] = []
        for entry in entries:
            outcome = self._evaluate(entry, leaf, at)
            if isinstance(outcome, QualifiedStatus):
                return outcome
            failures.append(outcome)
        return max(failures, key=lambda f: f.rank).status

    def _evaluate(self, entry: _Entry, leaf: x509.Certificate, at: datetime) -> QualifiedStatus | _Failure:
        service, trusted_list = entry.service, entry.trusted_list
        names = {"c": trusted_list.territory, "p": entry.provider.name("fr"), "s": service.current.name("fr")}

        def status(qualified: bool, reason: Message, info: ServiceInformation | None = None, **extra: object
                   ) -> QualifiedStatus:
            return QualifiedStatus(
                qualified, at, reason, country=trusted_list.territory, tsp=entry.provider.name("fr"),
                service=(info or service.current).name("fr"), service_type=(info or service.current).type_identifier,
                status=info.status if info else None, status_since=info.status_start if info else None,
                trusted_list=trusted_list, **extra)  # type: ignore[arg-type]

        def fail(rank: int, reason: Message, info: ServiceInformation | None = None, **extra: object) -> _Failure:
            return _Failure(rank, status(False, reason, info, **extra))

        where = message("service « {s} » du prestataire « {p} » (liste {c})",
                        "service \"{s}\" of provider \"{p}\" ({c} list)", **names)
        period = service.at(at)
        if period is None:
            first = service.periods()[0].start
            return fail(1, message("Le {w} n'était pas encore listé au {a} (listé depuis le {f}).",
                                   "The {w} was not listed yet on {a} (listed since {f}).", w=where, a=at, f=first))
        info = period.info
        if info.unsupported_critical:
            return fail(2, message("Le {w} porte une extension critique non prise en charge ({x}) : statut non établi.",
                                   "The {w} carries an unsupported critical extension ({x}): status not established.",
                                   w=where, x=", ".join(info.unsupported_critical)), info)
        if info.type_identifier not in QC_CA_TYPES:
            return fail(3, message("Le {w} était de type {t} au {a}, pas une autorité délivrant des certificats "
                                   "qualifiés (CA/QC).", "The {w} was of type {t} on {a}, not an authority issuing "
                                   "qualified certificates (CA/QC).", w=where, t=short_uri(info.type_identifier), a=at),
                        info)
        if info.status not in POSITIVE_STATUSES:
            return fail(5, message("Le {w} avait le statut « {st} » depuis le {d} : pas de certificat qualifié au {a}.",
                                   "The {w} had status \"{st}\" since {d}: no qualified certificate on {a}.", w=where,
                                   st=short_uri(info.status), d=info.status_start, a=at), info)
        issued = leaf.not_valid_before_utc
        at_issuance = service.at(issued)
        if at_issuance is None or at_issuance.info.status not in POSITIVE_STATUSES or \
                at_issuance.info.type_identifier not in QC_CA_TYPES:
            return fail(4, message("À l'émission du certificat ({d}), le {w} n'avait pas de statut qualifié.",
                                   "When the certificate was issued ({d}), the {w} had no qualified status.",
                                   d=issued, w=where), info)
        if not issued <= at <= leaf.not_valid_after_utc:
            return fail(6, message("Le certificat n'était pas dans sa période de validité au {a}.",
                                   "The certificate was not within its validity period on {a}.", a=at), info)
        qualifiers = {q for qualification in info.qualifications if criteria_match(qualification.criteria, leaf)
                      for q in qualification.qualifiers}
        statements = qc_statements(leaf)
        if NOT_QUALIFIED in qualifiers:
            return fail(7, message("Le {w} déclare ce certificat non qualifié (qualificatif NotQualified).",
                                   "The {w} declares this certificate not qualified (NotQualified qualifier).",
                                   w=where), info)
        if "qc_compliance" not in statements and QC_STATEMENT not in qualifiers:
            return fail(7, message("Le certificat ne se déclare pas qualifié (pas de QcCompliance) et le {w} ne le "
                                   "qualifie pas (qualificatif QCStatement).", "The certificate does not claim to be "
                                   "qualified (no QcCompliance) and the {w} does not qualify it (QCStatement "
                                   "qualifier).", w=where), info)
        usage, usage_source = _usage(qualifiers, statements, info)
        if usage != "esign":
            what = message(*_USAGE_NAMES[usage]) if usage in _USAGE_NAMES else \
                message("usage ambigu", "ambiguous usage")
            return fail(8, message("Certificat qualifié pour : {u} ({src}), pas pour la signature électronique.",
                                   "Qualified certificate for: {u} ({src}), not for electronic signatures.",
                                   u=what, src=usage_source), info, usage=usage)
        named = [u for u in info.additional_information if u in ASI_USAGES]
        if at >= EIDAS_DATE and named and FOR_ESIGNATURES not in named:
            return fail(8, message("Le {w} n'est pas listé pour les signatures électroniques (ForeSignatures).",
                                   "The {w} is not listed for electronic signatures (ForeSignatures).", w=where),
                        info, usage=usage)
        qscd = _qscd(qualifiers, statements)
        qscd_text = message("oui", "yes") if qscd else message("non", "no")
        return status(True, message(
            "Certificat qualifié pour la signature électronique selon la liste de confiance {c} au {a} "
            "(prestataire « {p} », service « {s} », statut {st} depuis le {d} ; QSCD : {q}){l}.",
            "Qualified certificate for electronic signatures according to the {c} trusted list on {a} "
            "(provider \"{p}\", service \"{s}\", status {st} since {d}; QSCD: {q}){l}.",
            c=trusted_list.territory, a=at, p=entry.provider.name("fr"), s=info.name("fr"),
            st=short_uri(info.status), d=info.status_start, q=qscd_text, l=list_note(trusted_list, self.clock())),
            info, usage=usage, qscd=qscd)


def _issuer_label(cert: x509.Certificate) -> str:
    values = cert.issuer.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(values[0].value) if values else cert.issuer.rfc4514_string()


def _usage(qualifiers: set[str], statements: list[str], info: ServiceInformation) -> tuple[str | None, Message]:
    """The certificate's usage: the list's qualifiers, else its QcType, else the service's information."""
    by_list = {QUALIFIER_USAGES[q] for q in qualifiers if q in QUALIFIER_USAGES}
    if by_list:
        return (by_list.pop() if len(by_list) == 1 else None), message("selon la liste", "per the list")
    by_cert = {s.split(":", 1)[1] for s in statements if s.startswith("qc_type:")}
    if by_cert:
        return (by_cert.pop() if len(by_cert) == 1 else None), message("QcType du certificat",
                                                                        "certificate's QcType")
    by_service = {ASI_USAGES[u] for u in info.additional_information if u in ASI_USAGES}
    if len(by_service) == 1:
        return by_service.pop(), message("information du service", "service information")
    return "esign", message("par défaut", "by default")


def _qscd(qualifiers: set[str], statements: list[str]) -> bool:
    if qualifiers & {QC_WITH_QSCD, QC_WITH_SSCD, QC_QSCD_MANAGED_ON_BEHALF}:
        return True
    if qualifiers & {QC_NO_QSCD, QC_NO_SSCD}:
        return False
    return "qc_sscd" in statements


def list_note(trusted_list: TrustedList, now: datetime) -> Message:
    """`` ; liste du <date>, prochaine mise à jour <date>`` with "from the cache" / "expired" notes."""
    cached = message(", en cache (mise à jour impossible)", ", cached (update failed)") \
        if trusted_list.origin == "cache" else message("", "")
    if trusted_list.next_update is None:
        return message(" ; liste close émise le {i}{c}", "; closed list issued on {i}{c}",
                       i=trusted_list.issued.date(), c=cached)
    if trusted_list.expired(now):
        return message(" ; liste émise le {i}{c}, périmée depuis le {n}", "; list issued on {i}{c}, expired since {n}",
                       i=trusted_list.issued.date(), c=cached, n=trusted_list.next_update.date())
    return message(" ; liste émise le {i}{c}, prochaine mise à jour le {n}",
                   "; list issued on {i}{c}, next update on {n}", i=trusted_list.issued.date(), c=cached,
                   n=trusted_list.next_update.date())


def certificates_of(lists: Iterable[TrustedList]) -> list[x509.Certificate]:
    """Every certificate listed in services' digital identities (for path building, not trust)."""
    found: dict[bytes, x509.Certificate] = {}
    for trusted_list in lists:
        for _, service in trusted_list.services():
            for identity in service.identities():
                for cert in identity.certificates:
                    found.setdefault(cert.fingerprint(hashes.SHA256()), cert)
    return list(found.values())
