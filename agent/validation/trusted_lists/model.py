"""The data of EU trusted lists (ETSI TS 119 612 v2.x), as read from a verified list.

A trusted list (``tsl:TrustServiceStatusList``, clause 5) has *scheme information* (clause 5.3:
version, sequence number, type, territory, issue date, next update, pointers to other lists) and a
list of *trust service providers* (clause 5.4), each with *services* (clause 5.5: type, digital
identity, current status and its starting time, extensions) and their *approval history*
(clause 5.6). The EU *list of trusted lists* (LOTL) is a trusted list whose ``PointersToOtherTSL``
(clause 5.3.13) give each Member State's list location and the certificates allowed to sign it.

Everything here is immutable and built only from lists whose signature was verified
(``signature``). Messages are French by default, English on request (``Message``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from cryptography import x509

from ...i18n import Text

# -- namespaces (TS 119 612 annex C, XML schemas) -------------------------------------------------

TSL_NS = "http://uri.etsi.org/02231/v2#"
TSLX_NS = "http://uri.etsi.org/02231/v2/additionaltypes#"
ECC_NS = "http://uri.etsi.org/TrstSvc/SvcInfoExt/eSigDir-1999-93-EC-TrustedList/#"
XADES_NS = "http://uri.etsi.org/01903/v1.3.2#"
DS_NS = "http://www.w3.org/2000/09/xmldsig#"

#: Clause 5.2.1: the TSLTag attribute of a TS 119 612 v2 list.
TSL_TAG = "http://uri.etsi.org/19612/TSLTag"
#: Clause 5.3.1: TLv5 (TS 119 612 v2.1.1 to v2.2.1) and TLv6 (v2.3.1).
SUPPORTED_VERSIONS = frozenset({5, 6})
TSL_MIME_TYPE = "application/vnd.etsi.tsl+xml"

# -- clause 5.3.3: TSL types ----------------------------------------------------------------------

TSLTYPE_PREFIX = "http://uri.etsi.org/TrstSvc/TrustedList/TSLType/"
TSLTYPE_EU_LOTL = TSLTYPE_PREFIX + "EUlistofthelists"
TSLTYPE_EU_GENERIC = TSLTYPE_PREFIX + "EUgeneric"

# -- clause 5.5.1: service type identifiers --------------------------------------------------------

SVCTYPE_PREFIX = "http://uri.etsi.org/TrstSvc/Svctype/"
SVCTYPE_CA_QC = SVCTYPE_PREFIX + "CA/QC"
SVCTYPE_CA_PKC = SVCTYPE_PREFIX + "CA/PKC"
SVCTYPE_NATIONAL_ROOT_CA_QC = SVCTYPE_PREFIX + "NationalRootCA-QC"
SVCTYPE_OCSP_QC = SVCTYPE_PREFIX + "Certstatus/OCSP/QC"
SVCTYPE_CRL_QC = SVCTYPE_PREFIX + "Certstatus/CRL/QC"
SVCTYPE_QTST = SVCTYPE_PREFIX + "TSA/QTST"
#: Services whose digital identities issue qualified certificates (chain anchors for QCs).
QC_CA_TYPES = frozenset({SVCTYPE_CA_QC, SVCTYPE_NATIONAL_ROOT_CA_QC})

# -- clauses 5.5.4 and 5.6.4: service status -----------------------------------------------------

STATUS_PREFIX = "http://uri.etsi.org/TrstSvc/TrustedList/Svcstatus/"
GRANTED = STATUS_PREFIX + "granted"
WITHDRAWN = STATUS_PREFIX + "withdrawn"
RECOGNISED_AT_NATIONAL_LEVEL = STATUS_PREFIX + "recognisedatnationallevel"
DEPRECATED_AT_NATIONAL_LEVEL = STATUS_PREFIX + "deprecatedatnationallevel"
SET_BY_NATIONAL_LAW = STATUS_PREFIX + "setbynationallaw"
DEPRECATED_BY_NATIONAL_LAW = STATUS_PREFIX + "deprecatedbynationallaw"
# Directive 1999/93/EC statuses, found in service histories (before 1 July 2016).
UNDER_SUPERVISION = STATUS_PREFIX + "undersupervision"
SUPERVISION_IN_CESSATION = STATUS_PREFIX + "supervisionincessation"
SUPERVISION_CEASED = STATUS_PREFIX + "supervisionceased"
SUPERVISION_REVOKED = STATUS_PREFIX + "supervisionrevoked"
ACCREDITED = STATUS_PREFIX + "accredited"
ACCREDITATION_CEASED = STATUS_PREFIX + "accreditationceased"
ACCREDITATION_REVOKED = STATUS_PREFIX + "accreditationrevoked"
#: A qualified service in good standing: "granted" (eIDAS), or the positive statuses of the Directive.
POSITIVE_STATUSES = frozenset({GRANTED, UNDER_SUPERVISION, SUPERVISION_IN_CESSATION, ACCREDITED})
#: The date eIDAS (Regulation (EU) No 910/2014) applies; statuses before it follow the Directive.
EIDAS_DATE = datetime(2016, 7, 1, tzinfo=UTC)

# -- clause 5.5.9.4: additional service information --------------------------------------------

ASI_PREFIX = "http://uri.etsi.org/TrstSvc/TrustedList/SvcInfoExt/"
FOR_ESIGNATURES = ASI_PREFIX + "ForeSignatures"
FOR_ESEALS = ASI_PREFIX + "ForeSeals"
FOR_WEB_SITE_AUTHENTICATION = ASI_PREFIX + "ForWebSiteAuthentication"
ASI_USAGES = {FOR_ESIGNATURES: "esign", FOR_ESEALS: "eseal", FOR_WEB_SITE_AUTHENTICATION: "web"}

# -- clause 5.5.9.2.3: qualifiers of the Qualifications extension ----------------------------------

QC_STATEMENT = ASI_PREFIX + "QCStatement"
NOT_QUALIFIED = ASI_PREFIX + "NotQualified"
QC_WITH_SSCD = ASI_PREFIX + "QCWithSSCD"
QC_NO_SSCD = ASI_PREFIX + "QCNoSSCD"
QC_SSCD_STATUS_AS_IN_CERT = ASI_PREFIX + "QCSSCDStatusAsInCert"
QC_WITH_QSCD = ASI_PREFIX + "QCWithQSCD"
QC_NO_QSCD = ASI_PREFIX + "QCNoQSCD"
QC_QSCD_STATUS_AS_IN_CERT = ASI_PREFIX + "QCQSCDStatusAsInCert"
QC_QSCD_MANAGED_ON_BEHALF = ASI_PREFIX + "QCQSCDManagedOnBehalf"
QC_FOR_LEGAL_PERSON = ASI_PREFIX + "QCForLegalPerson"
QC_FOR_ESIG = ASI_PREFIX + "QCForESig"
QC_FOR_ESEAL = ASI_PREFIX + "QCForESeal"
QC_FOR_WSA = ASI_PREFIX + "QCForWSA"
QUALIFIER_USAGES = {QC_FOR_ESIG: "esign", QC_FOR_ESEAL: "eseal", QC_FOR_WSA: "web"}

#: Service information extensions this module understands (clause 5.5.9); a *critical* extension
#: outside this set makes the status period unusable.
KNOWN_EXTENSIONS = frozenset({
    f"{{{ECC_NS}}}Qualifications", f"{{{TSL_NS}}}AdditionalServiceInformation",
    f"{{{TSLX_NS}}}TakenOverBy", f"{{{TSL_NS}}}ExpiredCertsRevocationInfo",
})


def short_uri(uri: str) -> str:
    """The last path segment of a TS 119 612 URI (``.../Svcstatus/granted`` -> ``granted``)."""
    return uri.rstrip("/").rsplit("/", 1)[-1] or uri


# -- messages -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    """A user message in French (default) or English; ``datetime`` fields are written in UTC,
    ``date`` fields as a day."""

    text: Text
    fields: tuple[tuple[str, object], ...] = ()

    def render(self, locale: str = "fr") -> str:
        values = {name: _format(value, locale) for name, value in self.fields}
        return self.text.render(locale, **values)

    def __str__(self) -> str:
        return self.render("fr")


def message(fr: str, en: str, **fields: object) -> Message:
    return Message(Text(fr, en), tuple(fields.items()))


def _format(value: object, locale: str) -> object:
    if isinstance(value, datetime):
        moment = value.astimezone(UTC)
        return moment.strftime("%Y-%m-%d %H:%M:%S UTC" if locale == "en" else "%d/%m/%Y %H:%M:%S UTC")
    if isinstance(value, date):
        return value.strftime("%Y-%m-%d" if locale == "en" else "%d/%m/%Y")
    if isinstance(value, Message):
        return value.render(locale)
    return value


class ListRefused(Exception):
    """A trusted list that must not be used at all (bad signature, unexpected signer, hostile XML…)."""

    def __init__(self, reason: Message) -> None:
        super().__init__(reason.render("fr"))
        self.reason = reason


# -- the list ---------------------------------------------------------------------------------------


def _pick(names: tuple[tuple[str, str], ...], locale: str) -> str:
    """A multilingual name (``InternationalNamesType``): the locale's, else English, else the first."""
    for wanted in (locale, "en"):
        for lang, value in names:
            if lang.lower() == wanted:
                return value
    return names[0][1] if names else "?"


@dataclass(frozen=True)
class DigitalIdentity:
    """``ServiceDigitalIdentity`` (clause 5.5.3): certificates (all for one key), subject names, SKIs."""

    certificates: tuple[x509.Certificate, ...] = ()
    subject_names: tuple[str, ...] = ()
    skis: tuple[bytes, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.certificates or self.skis)


@dataclass(frozen=True)
class Criteria:
    """``ecc:CriteriaList`` (clause 5.5.9.2.2): which certificates a qualification applies to.

    ``assert_`` is ``all``, ``atLeastOne`` or ``none``. Each entry of ``key_usages`` maps key usage
    bit names (``nonRepudiation``…) to the required value; each ``policy_sets`` entry is a set of
    policy OIDs the certificate must all carry; ``extended_key_usages`` and ``subject_attributes``
    come from ``otherCriteriaList`` (TS 119 612 additional types). ``unsupported`` names criteria
    this module cannot evaluate (they never match).
    """

    assert_: str = "all"
    key_usages: tuple[tuple[tuple[str, bool], ...], ...] = ()
    policy_sets: tuple[tuple[str, ...], ...] = ()
    extended_key_usages: tuple[tuple[str, ...], ...] = ()
    subject_attributes: tuple[tuple[str, ...], ...] = ()
    nested: tuple[Criteria, ...] = ()
    unsupported: tuple[str, ...] = ()


@dataclass(frozen=True)
class Qualification:
    """One ``ecc:QualificationElement``: qualifier URIs and the criteria selecting certificates."""

    qualifiers: tuple[str, ...]
    criteria: Criteria


@dataclass(frozen=True)
class ServiceInformation:
    """A service as it stood during one status period: the current ``ServiceInformation``
    (clause 5.5) or one ``ServiceHistoryInstance`` (clause 5.6)."""

    type_identifier: str
    names: tuple[tuple[str, str], ...]
    identity: DigitalIdentity
    status: str
    status_start: datetime
    qualifications: tuple[Qualification, ...] = ()
    additional_information: tuple[str, ...] = ()
    expired_certs_revocation_info: datetime | None = None
    #: Critical extensions (``Critical="true"``) not understood here: the period cannot be used.
    unsupported_critical: tuple[str, ...] = ()

    def name(self, locale: str = "fr") -> str:
        return _pick(self.names, locale)


@dataclass(frozen=True)
class StatusPeriod:
    """``info`` applied from ``start`` (included) to ``end`` (excluded; None: still applies)."""

    start: datetime
    end: datetime | None
    info: ServiceInformation

    def covers(self, moment: datetime) -> bool:
        return self.start <= moment and (self.end is None or moment < self.end)


@dataclass(frozen=True)
class TrustService:
    """``TSPService``: the current information and the approval history (clauses 5.5 and 5.6)."""

    current: ServiceInformation
    history: tuple[ServiceInformation, ...] = ()

    def periods(self) -> list[StatusPeriod]:
        """Status periods in time order; each lasts until the next one starts (clause 5.6)."""
        infos = sorted([self.current, *self.history], key=lambda i: i.status_start)
        return [StatusPeriod(info.status_start, infos[i + 1].status_start if i + 1 < len(infos) else None, info)
                for i, info in enumerate(infos)]

    def at(self, moment: datetime) -> StatusPeriod | None:
        """The status period covering ``moment`` (None before the service was first listed)."""
        return next((p for p in self.periods() if p.covers(moment)), None)

    def identities(self) -> Iterator[DigitalIdentity]:
        yield self.current.identity
        for info in self.history:
            yield info.identity


@dataclass(frozen=True)
class TrustServiceProvider:
    """``TrustServiceProvider`` (clause 5.4): names and services."""

    names: tuple[tuple[str, str], ...]
    trade_names: tuple[tuple[str, str], ...]
    services: tuple[TrustService, ...]

    def name(self, locale: str = "fr") -> str:
        return _pick(self.names, locale)


@dataclass(frozen=True)
class OtherTslPointer:
    """``OtherTSLPointer`` (clause 5.3.13): where another list is and who may sign it."""

    location: str
    certificates: tuple[x509.Certificate, ...]
    territory: str | None = None
    tsl_type: str | None = None
    mime_type: str | None = None
    operator_names: tuple[tuple[str, str], ...] = ()

    @property
    def is_xml_member_list(self) -> bool:
        """A Member State's machine-readable list (not the LOTL itself, not a PDF rendering)."""
        if self.tsl_type is not None and self.tsl_type == TSLTYPE_EU_LOTL:
            return False
        if self.mime_type is not None:
            return self.mime_type.strip().lower() == TSL_MIME_TYPE
        return not self.location.lower().endswith(".pdf")


@dataclass(frozen=True)
class TrustedList:
    """One verified trusted list (or LOTL)."""

    version: int
    sequence_number: int
    tsl_type: str
    territory: str
    operator_names: tuple[tuple[str, str], ...]
    issued: datetime
    next_update: datetime | None
    pointers: tuple[OtherTslPointer, ...]
    providers: tuple[TrustServiceProvider, ...]
    #: The certificate (from the LOTL or the pinned set) whose key verified the list's signature.
    signer: x509.Certificate
    sha256: str
    signing_time: datetime | None = None
    source: str = ""
    #: Where this copy came from: "downloaded" or "cache".
    origin: str = "downloaded"
    #: When this copy was downloaded (for a cached copy: when it entered the cache).
    downloaded_at: datetime | None = field(default=None, compare=False)
    #: What was skipped while reading the list (e.g. an unreadable certificate).
    warnings: tuple[Message, ...] = ()

    @property
    def is_lotl(self) -> bool:
        return self.tsl_type == TSLTYPE_EU_LOTL

    @property
    def closed(self) -> bool:
        """A closed list (clause 5.3.15: no next update) is no longer maintained."""
        return self.next_update is None

    def expired(self, now: datetime) -> bool:
        return self.next_update is not None and now > self.next_update

    def operator(self, locale: str = "fr") -> str:
        return _pick(self.operator_names, locale)

    def services(self) -> Iterator[tuple[TrustServiceProvider, TrustService]]:
        for provider in self.providers:
            for service in provider.services:
                yield provider, service
