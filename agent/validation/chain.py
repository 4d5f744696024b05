"""Trust, validity and revocation of a signing certificate at the best signature time.

Shared by the CAdES, PAdES and XAdES validators. It implements the X.509 certificate validation
building block of ETSI EN 319 102-1 (section 5.2.6) with pyhanko-certvalidator, and the time
decisions of the validation process with time (section 5.5.4) and of past signature validation
(section 5.6.2.4) in the simple form a signature verifier needs:

1. A path from the certificate to one of the trust anchors is first *built offline* from the
   certificates the file carries: no network request is ever made for a certificate that does not
   chain to an anchor the user trusts (a hostile file cannot make the agent fetch arbitrary URLs).
2. The path is validated at the current time, with revocation: OCSP/CRL embedded in the file
   (B-LT) plus, when fetching is allowed, fetched online (timeouts, bounded requests, a cache shared
   by the signatures of a file and reused for a few minutes, see :class:`FetcherPool`).
3. What went wrong is judged against the signature times (:class:`SigningTimes`): ``poe`` is a
   proof of existence (a validated signature time-stamp or document time-stamp), ``claimed`` the
   signer's own signed claim (signing-time, ``/M``, ``SigningTime``).

Mapping (Compagnon's reading of EN 319 102-1, tables 4 and 5):

* revoked, and the signer's own claimed time (or the POE) is at or after the revocation:
  TOTAL_FAILED/REVOKED — whoever made it (the holder after revocation, or someone holding the
  compromised key who still dated it after revocation), such a signature cannot be accepted;
* revoked, and a POE before the revocation: the path is validated again at the POE (revocation
  data used retroactively) and the signature passes if it holds there;
* revoked otherwise: INDETERMINATE/REVOKED_NO_POE (REVOKED_CA_NO_POE for a CA);
* expired now: with a POE before expiry, validated again at the POE; else INDETERMINATE/EXPIRED
  when the claimed time is itself after expiry, INDETERMINATE/OUT_OF_BOUNDS_NO_POE otherwise;
* claimed time or POE before the certificate's notBefore: NOT_YET_VALID (TOTAL_FAILED with a POE,
  INDETERMINATE with only a claim);
* no path to an anchor: INDETERMINATE/NO_CERTIFICATE_CHAIN_FOUND;
* revocation status unobtainable (no CRL distribution point nor OCSP address, offline, responder
  down, stale data): the "revocation" check is ``not_checked`` ("non vérifiée"), never "non
  révoqué", with the reason (which certificate, which URL failed and how, until when the file's
  data was usable), and the signature INDETERMINATE/TRY_LATER (EN 319 102-1 section 5.2.5: no
  acceptable revocation data; section 5.2.6: the status is unknown);
* weak algorithm in the chain: INDETERMINATE/CRYPTO_CONSTRAINTS_FAILURE; other constraint
  violations: CHAIN_CONSTRAINTS_FAILURE or CERTIFICATE_CHAIN_GENERAL_FAILURE.

The certificate category (qualified / RGS / other, with reasons) reuses the certificate facts of
``agent.pki.cert_facts`` (ETSI EN 319 412-5 QCStatements, EN 319 411-2 QCP policies, NCP+).

Kept as one module: the mapping above is one decision table (``_judge``) over the path validation
and the fetch records it keeps, and the reasons it gives for an unknown revocation status are built
from those same records.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from .. import asn1_names  # noqa: F401  (pyHanko's OID names, whatever the import order)
from asn1crypto import crl as asn1_crl, ocsp as asn1_ocsp, x509 as asn1_x509
from cryptography import x509
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.authority import Authority, TrustAnchor
from pyhanko_certvalidator.registry import SimpleTrustManager
from pyhanko_certvalidator.errors import (
    DisallowedAlgorithmError,
    ExpiredError,
    InsufficientRevinfoError,
    InvalidCertificateError,
    NotYetValidError,
    PathBuildingError,
    PathError,
    PathValidationError,
    RevokedError,
    StaleRevinfoError,
    ValidationError,
)
from pyhanko_certvalidator.fetchers.api import CertificateFetcher, CRLFetcher, Fetchers, FetchLimits, OCSPFetcher
from pyhanko_certvalidator.fetchers.common_utils import FetchBudget
from pyhanko_certvalidator.policy_decl import CertRevTrustPolicy, RevocationCheckingPolicy, RevocationCheckingRule

from ..i18n import Text
from ..pki.cert_facts import OID_ORGANIZATION_IDENTIFIER, QUALIFIED_POLICIES, qc_statements
from ..pki.key_usage import extended_key_usage_allows, extended_key_usage_names, key_usage_allows, key_usage_names
from .model import (
    Check,
    Indication,
    Signer,
    SubIndication,
    indeterminate,
    not_applicable,
    not_checked,
    passed,
    total_failed,
    warning,
)

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator

    from .trusted_lists import TrustedListSet

log = logging.getLogger(__name__)

__all__ = [
    "ChainResult", "Environment", "FetcherPool", "SigningTimes", "certificate_category", "crypto_cert",
    "anchor_certs", "key_usage_check", "warm_up_system_roots",
    "asn1_cert", "describe_time", "signer_identity", "tr", "validate_certificate",
]

#: Seconds for one OCSP/CRL/certificate request.
DEFAULT_TIMEOUT = 10.0
#: How long fetched revocation data and issuer certificates are reused by later verifications.
CACHE_SECONDS = 300
#: Bounds per verification, far above what a real PKI needs (pyhanko-certvalidator FetchLimits).
FETCH_LIMITS = FetchLimits(max_requests=100, max_cert_requests=10, max_aia_urls_per_object=3)
#: NCP+ (ETSI EN 319 411-1), the policy behind the RGS "**" level.
NCP_PLUS = "0.4.0.2042.1.2"
#: The French administration's OID arc (RGS certification policies live under it).
FRENCH_ARC = "1.2.250.1."


def tr(locale: str, fr: str, en: str, **fields: object) -> str:
    """A message in French (default) or English."""
    return Text(fr, en).render(locale, **fields)


def describe_time(moment: datetime | None, locale: str) -> str:
    if moment is None:
        return "?"
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC" if locale == "en" else "%d/%m/%Y %H:%M:%S UTC")


def asn1_cert(cert: x509.Certificate | asn1_x509.Certificate | bytes) -> asn1_x509.Certificate:
    """``cert`` as asn1crypto's certificate; given as DER bytes, its outer structure is checked now
    (ValueError), not at its first use deep in a path validation."""
    if isinstance(cert, asn1_x509.Certificate):
        return cert
    if isinstance(cert, bytes):
        return _PARSED_ANCHORS.get(cert) or asn1_x509.Certificate.load(cert, strict=True)
    from cryptography.hazmat.primitives.serialization import Encoding

    return asn1_x509.Certificate.load(cert.public_bytes(Encoding.DER))


def anchor_certs(certificates: Iterable[x509.Certificate | asn1_x509.Certificate | bytes]) -> list[asn1_x509.Certificate]:
    """Anchors or intermediates as the validators use them (:func:`asn1_cert`); one given as DER
    that does not parse is left out and logged, the others kept (a system bundle with one odd root
    must not make every verification fail)."""
    parsed = []
    for cert in certificates:
        try:
            parsed.append(asn1_cert(cert))
        except ValueError as exc:
            log.warning("a trust anchor or intermediate cannot be read and is left out: %s", exc)
    return parsed


def crypto_cert(cert: asn1_x509.Certificate) -> x509.Certificate:
    """The ``cryptography`` form of ``cert``; ``ValueError`` for any certificate it cannot load,
    including a version other than v1-v3 (RFC 5280 section 4.1.2.1), which it reports as
    ``InvalidVersion`` (not a ``ValueError``): callers treat every unreadable certificate alike."""
    try:
        return x509.load_der_x509_certificate(cert.dump())
    except x509.InvalidVersion as exc:
        raise ValueError(f"version de certificat invalide / invalid certificate version: {exc}") from None


def _name(cert: asn1_x509.Certificate) -> str:
    native = cert.subject.native
    return str(native.get("common_name") or cert.subject.human_friendly)


# -- fetchers -----------------------------------------------------------------------------------


def _requests_fetchers(timeout: float, budget: FetchBudget) -> Fetchers:
    """What ``RequestsFetcherBackend.get_fetchers`` builds, with OCSP and CRL fetchers that remember,
    per URL, why a request failed (for the report's reason). Imported here: ``requests`` costs about
    a tenth of a second, and most verifications fetch nothing (no revocation URL, data in the file)."""
    from pyhanko_certvalidator.fetchers.requests_fetchers.cert_fetch_client import RequestsCertificateFetcher
    from pyhanko_certvalidator.fetchers.requests_fetchers.crl_client import RequestsCRLFetcher
    from pyhanko_certvalidator.fetchers.requests_fetchers.ocsp_client import RequestsOCSPFetcher

    class RecordingOCSPFetcher(RequestsOCSPFetcher):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]
            self.failures: dict[str, BaseException] = {}

        async def _fetch_single(self, ocsp_url, ocsp_request):  # type: ignore[no-untyped-def]
            try:
                return await super()._fetch_single(ocsp_url, ocsp_request)
            except Exception as exc:
                self.failures[ocsp_url] = exc.__cause__ or exc
                raise

    class RecordingCRLFetcher(RequestsCRLFetcher):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)
            self.failures: dict[str, BaseException] = {}

        async def _fetch_single(self, url):  # type: ignore[no-untyped-def]
            try:
                return await super()._fetch_single(url)
            except Exception as exc:
                self.failures[url] = exc.__cause__ or exc
                raise

    return Fetchers(ocsp_fetcher=RecordingOCSPFetcher(per_request_timeout=timeout, budget=budget),
                    crl_fetcher=RecordingCRLFetcher(per_request_timeout=timeout, budget=budget),
                    cert_fetcher=RequestsCertificateFetcher(per_request_timeout=timeout, budget=budget))


class _FetcherSet:
    """The real fetchers of one :class:`Fetchers`, made on the first request: until then what they
    fetched is nothing, and no HTTP library is loaded."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.budget = FetchBudget(FETCH_LIMITS)
        self.made: Fetchers | None = None

    def real(self) -> Fetchers:
        if self.made is None:
            self.made = _requests_fetchers(self.timeout, self.budget)
        return self.made

    def renew_budget(self) -> None:
        """A fresh request budget (one per verification), for the fetchers made and to be made."""
        self.budget = FetchBudget(FETCH_LIMITS)
        if self.made is not None:
            for fetcher in (self.made.ocsp_fetcher, self.made.crl_fetcher, self.made.cert_fetcher):
                fetcher._budget = self.budget  # type: ignore[union-attr]  # noqa: SLF001

    def failures(self, kind: str) -> dict[str, BaseException]:
        return dict(getattr(getattr(self.made, kind), "failures", {})) if self.made is not None else {}


class _LazyOCSPFetcher(OCSPFetcher):
    def __init__(self, fetchers: _FetcherSet) -> None:
        self.set = fetchers

    @property
    def failures(self) -> dict[str, BaseException]:
        return self.set.failures("ocsp_fetcher")

    async def fetch(self, cert: Any, authority: Any) -> Any:
        return await self.set.real().ocsp_fetcher.fetch(cert, authority)

    def fetched_responses(self) -> Any:
        return self.set.made.ocsp_fetcher.fetched_responses() if self.set.made else []

    def fetched_responses_for_cert(self, cert: Any) -> Any:
        return self.set.made.ocsp_fetcher.fetched_responses_for_cert(cert) if self.set.made else []


class _LazyCRLFetcher(CRLFetcher):
    def __init__(self, fetchers: _FetcherSet) -> None:
        self.set = fetchers

    @property
    def failures(self) -> dict[str, BaseException]:
        return self.set.failures("crl_fetcher")

    async def fetch(self, cert: Any, *, use_deltas: Any = None) -> Any:
        return await self.set.real().crl_fetcher.fetch(cert, use_deltas=use_deltas)

    def fetched_crls(self) -> Any:
        return self.set.made.crl_fetcher.fetched_crls() if self.set.made else []

    def fetched_crls_for_cert(self, cert: Any) -> Any:
        if self.set.made is None:
            raise KeyError(cert)  # "not fetched yet", as pyhanko-certvalidator's CRL fetchers say it
        return self.set.made.crl_fetcher.fetched_crls_for_cert(cert)


class _LazyCertificateFetcher(CertificateFetcher):
    def __init__(self, fetchers: _FetcherSet) -> None:
        self.set = fetchers

    async def fetch_cert_issuers(self, cert: Any) -> AsyncGenerator[asn1_x509.Certificate, None]:
        async for issuer in self.set.real().cert_fetcher.fetch_cert_issuers(cert):
            yield issuer

    async def fetch_crl_issuers(self, certificate_list: Any) -> AsyncGenerator[asn1_x509.Certificate, None]:
        async for issuer in self.set.real().cert_fetcher.fetch_crl_issuers(certificate_list):
            yield issuer

    def fetched_certs(self) -> Any:
        return self.set.made.cert_fetcher.fetched_certs() if self.set.made else []


def _new_fetchers(timeout: float) -> Fetchers:
    """OCSP, CRL and certificate fetchers over ``requests`` with these timeouts, one request budget,
    made (and ``requests`` imported) on the first request."""
    fetchers = _FetcherSet(timeout)
    return Fetchers(ocsp_fetcher=_LazyOCSPFetcher(fetchers), crl_fetcher=_LazyCRLFetcher(fetchers),
                    cert_fetcher=_LazyCertificateFetcher(fetchers))


def fetch_failures(fetchers: Fetchers | None) -> dict[str, BaseException]:
    """Every OCSP/CRL URL these fetchers failed to get, with the error."""
    found: dict[str, BaseException] = {}
    if fetchers is not None:
        for fetcher in (fetchers.ocsp_fetcher, fetchers.crl_fetcher):
            found.update(getattr(fetcher, "failures", {}))
    return found


class FetcherPool:
    """OCSP/CRL/certificate fetchers with timeouts, whose cache is reused for ``CACHE_SECONDS``.

    One verification at a time borrows the idle set (its caches are bound to the verification's
    event loop while in use); a concurrent verification gets a fresh set. Each borrowing starts a
    fresh request budget; a set that met a fetch failure is not given back (pyhanko-certvalidator
    caches failures too, and a "try later" must really try again later).
    """

    def __init__(self, timeout: float = DEFAULT_TIMEOUT, ttl: float = CACHE_SECONDS) -> None:
        self._lock = threading.Lock()
        self._idle: tuple[float, Fetchers] | None = None
        self.timeout = timeout
        self.ttl = ttl

    def acquire(self) -> tuple[float, Fetchers]:
        with self._lock:
            idle, self._idle = self._idle, None
        if idle is not None and time.monotonic() - idle[0] < self.ttl:
            fetcher = idle[1].ocsp_fetcher
            if isinstance(fetcher, _LazyOCSPFetcher):
                fetcher.set.renew_budget()
            return idle
        return time.monotonic(), _new_fetchers(self.timeout)

    def release(self, item: tuple[float, Fetchers], reusable: bool = True) -> None:
        if reusable and time.monotonic() - item[0] < self.ttl:
            with self._lock:
                self._idle = item


DEFAULT_POOL = FetcherPool()


@dataclass
class Environment:
    """What every validator of one ``verify_file`` call shares."""

    trust_roots: list[asn1_x509.Certificate]
    allow_fetching: bool = True
    locale: str = "fr"
    fetchers: Fetchers | None = None
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    rgs_policies: frozenset[str] = frozenset()
    #: CA certificates known to the agent (not anchors): help build paths when a file omits them.
    intermediates: list[asn1_x509.Certificate] = field(default_factory=list)
    #: Verified EU trusted lists (``TrustedListStore.lists``): they decide the "qualified" category.
    trusted_lists: TrustedListSet | None = None

    def t(self, fr: str, en: str, **fields: object) -> str:
        return tr(self.locale, fr, en, **fields)

    def when(self, moment: datetime | None) -> str:
        return describe_time(moment, self.locale)


@dataclass(frozen=True)
class SigningTimes:
    """``claimed``: the signer's signed claim; ``poe``: a validated time-stamp proving existence."""

    claimed: datetime | None = None
    poe: datetime | None = None
    #: Who claims ``claimed``: "signer", or "tsa" for a time-stamp's own time.
    claimed_by: str = "signer"

    @property
    def best(self) -> datetime | None:
        return self.poe or self.claimed


@dataclass
class ChainResult:
    """The "chain", "validity" and "revocation" checks, and the validated path (leaf first)."""

    checks: list[Check]
    path: list[asn1_x509.Certificate] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.indication is None for c in self.checks)

    @property
    def problem(self) -> Check | None:
        return next((c for c in self.checks if c.indication is not None), None)


# -- identity and category -----------------------------------------------------------------------


def signer_identity(cert: asn1_x509.Certificate | None) -> Signer:
    if cert is None:
        return Signer()
    native = cert.subject.native
    name = native.get("common_name")
    organization = native.get("organization_name")
    if isinstance(organization, list):
        organization = organization[0] if organization else None
    return Signer(name=str(name) if name else cert.subject.human_friendly,
                  organization=str(organization) if organization else None,
                  certificate_sha256=hashlib.sha256(cert.dump()).hexdigest())


def _policies(cert: x509.Certificate) -> list[str]:
    try:
        policies = cert.extensions.get_extension_for_class(x509.CertificatePolicies).value
    except (x509.ExtensionNotFound, ValueError):
        return []
    return [p.policy_identifier.dotted_string for p in policies]


def _non_repudiation(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.KeyUsage).value.content_commitment)
    except (x509.ExtensionNotFound, ValueError):
        return False


def certificate_category(cert: asn1_x509.Certificate | None, env: Environment,
                         path: Sequence[asn1_x509.Certificate] = (), at: datetime | None = None) -> Check:
    """Qualified (eIDAS), RGS (NCP+ or a configured RGS policy) or other, with the reasons.

    Categorising never changes the indication: the arrêté du 22 mars 2019 asks the buyer to see it.
    With trusted lists in ``env``, "qualified" is what the lists say at ``at`` (ETSI TS 119 615).
    """
    check = _category_from_certificate(cert, env)
    if cert is None or env.trusted_lists is None:
        return check
    chain = [crypto_cert(c) for c in (path or [cert])]
    from .trusted_lists import category_from_trusted_lists

    return category_from_trusted_lists(env.trusted_lists, chain, at or env.now, locale=env.locale, fallback=check)


def _category_from_certificate(cert: asn1_x509.Certificate | None, env: Environment) -> Check:
    """The category from the certificate alone (QCStatements, policies)."""
    if cert is None:
        return not_applicable("certificate_category", env.t("Aucun certificat de signataire.",
                                                            "No signer certificate."))
    try:
        crypto = crypto_cert(cert)
        statements = qc_statements(crypto)
        policies = _policies(crypto)
        org_id = crypto.subject.get_attributes_for_oid(OID_ORGANIZATION_IDENTIFIER)
    except ValueError:
        return warning("certificate_category", env.t("Certificat illisible : catégorie inconnue.",
                                                     "Unreadable certificate: category unknown."))
    reasons: list[str] = []
    if "qc_compliance" in statements:
        reasons.append("QcCompliance")
    reasons += [QUALIFIED_POLICIES[p] for p in policies if p in QUALIFIED_POLICIES and p != NCP_PLUS]
    reasons += [s.replace("qc_type:", "QcType ") for s in statements if s.startswith("qc_type:")]
    if "qc_sscd" in statements:
        reasons.append("QcSSCD")
    rgs = [p for p in policies if p == NCP_PLUS or p in env.rgs_policies]
    identifier = ""
    if org_id:
        identifier = env.t(" ; identifiant d'organisation {v}", "; organisation identifier {v}", v=org_id[0].value)
    usage = "" if _non_repudiation(crypto) else env.t(" ; pas de nonRepudiation", "; no nonRepudiation")
    if reasons and ("QcCompliance" in reasons or any(p in QUALIFIED_POLICIES for p in policies)):
        return passed("certificate_category", env.t("Certificat qualifié ({r}){i}{u}.",
                                                    "Qualified certificate ({r}){i}{u}.",
                                                    r=", ".join(reasons), i=identifier, u=usage))
    if rgs:
        names = ["NCP+ (RGS**)" if p == NCP_PLUS else p for p in rgs]
        return passed("certificate_category", env.t("Certificat RGS ({r}){i}{u}.", "RGS certificate ({r}){i}{u}.",
                                                    r=", ".join(names), i=identifier, u=usage))
    french = [p for p in policies if p.startswith(FRENCH_ARC)]
    hint = env.t(" ; politiques {p} non reconnues comme RGS", "; policies {p} not known as RGS", p=", ".join(french)) \
        if french else ""
    return warning("certificate_category", env.t(
        "Certificat non qualifié (ni QcCompliance, ni politique eIDAS ou RGS**){h}{i}{u}.",
        "Not a qualified certificate (no QcCompliance, eIDAS or RGS** policy){h}{i}{u}.", h=hint, i=identifier,
        u=usage))


# -- validation ------------------------------------------------------------------------------------


def _policy(retroactive: bool) -> CertRevTrustPolicy:
    """Revocation data required for the end-entity certificate, checked when declared for CAs."""
    return CertRevTrustPolicy(
        RevocationCheckingPolicy(ee_certificate_rule=RevocationCheckingRule.CRL_OR_OCSP_REQUIRED,
                                 intermediate_ca_cert_rule=RevocationCheckingRule.CHECK_IF_DECLARED),
        retroactive_revinfo=retroactive,
    )


# -- names ---------------------------------------------------------------------------------------

#: asn1crypto's own ``RDNSequence.hashable``: a name normalised as RFC 5280 section 7.1 compares it.
_NAME_HASHABLE = asn1_x509.RDNSequence.hashable
_NORMALISED: dict[bytes, str] = {}


def _normalised_name(self: asn1_x509.RDNSequence) -> str:
    """``RDNSequence.hashable``, computed once per encoding. asn1crypto recomputes it (LDAP string
    preparation of every value) at each call, and pyhanko-certvalidator hashes each anchor's name
    several times while indexing them: most of a small file's verification went there. The value
    depends on the DER encoding alone, so it is kept by encoding (a bounded number of them)."""
    der = self.dump()
    value = _NORMALISED.get(der)
    if value is None:
        value = _NAME_HASHABLE.fget(self)
        if len(_NORMALISED) < 20_000:
            _NORMALISED[der] = value
    return value


asn1_x509.RDNSequence.hashable = property(_normalised_name)


#: Anchors parsed ahead by their DER (:func:`warm_up_system_roots`), shared by the workers forked after.
_PARSED_ANCHORS: dict[bytes, asn1_x509.Certificate] = {}

#: The trust manager last built, with the anchors it was built from (kept alive: the key is their ids).
_TRUST: tuple[tuple[int, ...], list[asn1_x509.Certificate], SimpleTrustManager] | None = None
#: The system roots' manager built by :func:`warm_up_system_roots`, with the ids of its anchors
#: (kept alive by ``_PARSED_ANCHORS``), extended rather than rebuilt when a job adds a few anchors.
_WARM: tuple[frozenset[int], SimpleTrustManager] | None = None
_TRUST_LOCK = threading.Lock()


def _trust_manager(env: Environment) -> SimpleTrustManager:
    """The anchors of ``env`` as pyhanko-certvalidator indexes them, built once for the same anchor
    objects: every validation context of a file, and every file of a batch (whose anchors are
    converted once), shares it. Indexing normalises each anchor's names (RFC 5280 section 7.1): for
    a system store of ~150 roots, that costs more than validating one signature."""
    global _TRUST
    key = tuple(map(id, env.trust_roots))
    with _TRUST_LOCK:
        if _TRUST is None or _TRUST[0] != key:
            roots = list(env.trust_roots)
            _TRUST = key, roots, _indexed(roots)
        return _TRUST[2]


def _indexed(roots: list[asn1_x509.Certificate]) -> SimpleTrustManager:
    """A trust manager of exactly ``roots``: the warm system roots' manager and the others indexed
    beside it when ``roots`` holds every warm root (a ``--trust`` file, the user's own roots added
    to the system's), else all of them indexed anew."""
    if _WARM is not None:
        warm_ids, warm = _WARM
        if warm_ids <= {id(root) for root in roots}:
            extra = [root for root in roots if id(root) not in warm_ids and not warm.is_root(root)]
            return _WithMoreRoots(warm, SimpleTrustManager.build(trust_roots=extra))
    return SimpleTrustManager.build(trust_roots=roots)


class _WithMoreRoots(SimpleTrustManager):
    """Two trust managers as one, through pyhanko-certvalidator's ``TrustManager`` interface: the
    anchors of either are anchors, the issuers found in either are candidates. A
    ``SimpleTrustManager`` still, so that a ``ValidationContext`` registers its roots for path
    building (``iter_certs``) as it does a plain one's."""

    def __init__(self, base: SimpleTrustManager, more: SimpleTrustManager) -> None:
        super().__init__()
        self._parts = (base, more)

    def is_root(self, cert: asn1_x509.Certificate) -> bool:
        return any(part.is_root(cert) for part in self._parts)

    def as_trust_anchor(self, authority: Authority) -> TrustAnchor | None:
        for part in self._parts:
            if (anchor := part.as_trust_anchor(authority)) is not None:
                return anchor
        return None

    def iter_certs(self) -> Iterator[asn1_x509.Certificate]:
        for part in self._parts:
            yield from part.iter_certs()

    def find_potential_issuers(self, cert: asn1_x509.Certificate) -> Iterator[TrustAnchor]:
        for part in self._parts:
            yield from part.find_potential_issuers(cert)


def warm_up_system_roots() -> None:
    """For a process that forks verification workers (agent.fork_server): parse and index the
    system's roots once, as every verification's trust manager does, so that each worker it forks
    finds them parsed (:func:`asn1_cert` of their DER), their names normalised, and, for the same
    anchors, the trust manager built, or extended with a job's own anchors: a fresh worker spent
    most of a small file's verification there."""
    global _TRUST, _WARM
    from ..pki.pem import system_root_ders

    ders = system_root_ders()
    roots = [asn1_x509.Certificate.load(der, strict=True) for der in ders]
    _PARSED_ANCHORS.update(zip(ders, roots, strict=True))
    roots = list(dict.fromkeys(_PARSED_ANCHORS[der] for der in ders))  # one object for a root listed twice
    with _TRUST_LOCK:
        _TRUST = tuple(map(id, roots)), roots, SimpleTrustManager.build(trust_roots=roots)
        _WARM = frozenset(map(id, roots)), _TRUST[2]
    ValidationContext(trust_manager=_TRUST[2])  # its registry reads each root's extensions, kept on the objects


def _context(env: Environment, others: Sequence[asn1_x509.Certificate], crls: Sequence[asn1_crl.CertificateList],
             ocsps: Sequence[asn1_ocsp.OCSPResponse], moment: datetime | None, fetch: bool) -> ValidationContext:
    fetchers = env.fetchers if fetch else None
    return ValidationContext(
        trust_manager=_trust_manager(env), other_certs=list(others), moment=moment,
        allow_fetching=fetchers is not None, fetchers=fetchers,
        crls=list(crls), ocsps=list(ocsps), revinfo_policy=_policy(retroactive=moment is not None),
        time_tolerance=timedelta(seconds=1),
    )


async def _path_exists(env: Environment, cert: asn1_x509.Certificate, others: Sequence[asn1_x509.Certificate]) -> bool:
    """Offline path building (no fetching): is there any path to an anchor at all?"""
    context = ValidationContext(trust_manager=_trust_manager(env), other_certs=list(others), allow_fetching=False,
                                revocation_mode="soft-fail")
    try:
        paths = await context.path_builder.async_build_paths(cert)
    except (PathBuildingError, PathError, ValueError):
        return False
    return bool(paths)


async def _attempt(env: Environment, cert: asn1_x509.Certificate, others: Sequence[asn1_x509.Certificate],
                   crls: Sequence[asn1_crl.CertificateList], ocsps: Sequence[asn1_ocsp.OCSPResponse],
                   moment: datetime | None) -> tuple[list[asn1_x509.Certificate], Exception | None]:
    context = _context(env, others, crls, ocsps, moment, fetch=env.allow_fetching)
    try:
        path = await CertificateValidator(cert, list(others), context).async_validate_usage(set())
    except (ValidationError, PathError) as exc:
        return [], exc
    except (ValueError, TypeError, KeyError) as exc:  # malformed certificate or revocation data
        return [], exc
    return list(reversed(list(path.iter_certs(include_root=True)))), None


def _dates(cert: asn1_x509.Certificate, env: Environment) -> str:
    validity = cert["tbs_certificate"]["validity"]
    return env.t("valide du {a} au {b}", "valid from {a} to {b}", a=env.when(validity["not_before"].native),
                 b=env.when(validity["not_after"].native))


def _time_label(times: SigningTimes, env: Environment) -> str:
    if times.poe is not None:
        return env.t("{t} (horodatage)", "{t} (time-stamp)", t=env.when(times.poe))
    if times.claimed is not None and times.claimed_by == "tsa":
        return env.t("{t} (heure de l'horodatage)", "{t} (time-stamp time)", t=env.when(times.claimed))
    if times.claimed is not None:
        return env.t("{t} (heure déclarée par le signataire)", "{t} (claimed by the signer)", t=env.when(times.claimed))
    return env.t("maintenant", "now")


def _sources(env: Environment, crls: Sequence[object], ocsps: Sequence[object]) -> str:
    parts = []
    if crls or ocsps:
        parts.append(env.t("données de révocation du fichier ({n})", "revocation data in the file ({n})",
                           n=len(crls) + len(ocsps)))
    if env.allow_fetching:
        parts.append(env.t("OCSP/CRL en ligne", "online OCSP/CRL"))
    return ", ".join(parts) or env.t("aucune source", "no source")


async def validate_certificate(env: Environment, cert: asn1_x509.Certificate,
                               others: Iterable[asn1_x509.Certificate], times: SigningTimes, *,
                               crls: Sequence[asn1_crl.CertificateList] = (),
                               ocsps: Sequence[asn1_ocsp.OCSPResponse] = ()) -> ChainResult:
    """The "chain", "key_usage", "validity" and "revocation" checks of ``cert`` (see the module
    docstring and :func:`key_usage_check`)."""
    result = await _validate(env, cert, others, times, crls, ocsps)
    result.checks.insert(1, key_usage_check(env, cert, times))
    return result


def key_usage_check(env: Environment, cert: asn1_x509.Certificate, times: SigningTimes) -> Check:
    """The signing certificate's key usage, a constraint of the X.509 certificate validation
    building block (EN 319 102-1 section 5.2.6: X.509 validation constraints).

    RFC 5280 section 4.2.1.3: a key that signs needs digitalSignature or nonRepudiation when the
    extension is present; section 4.2.1.12: an extendedKeyUsage, when present, must name a signing
    purpose (the rule of ``agent.pki.key_usage``; a time-stamping unit's timeStamping purpose is
    checked by the time-stamp's own validation, RFC 3161 section 2.3). A violation is
    INDETERMINATE/CHAIN_CONSTRAINTS_FAILURE, not TOTAL_FAILED: the signature value may be sound and
    only this validation policy refuses the certificate for signing (section 5.2.6 maps a failed
    constraint of the building block so; EU DSS's key-usage constraint on a signing certificate
    answers the same).
    """
    try:
        crypto = crypto_cert(cert)
        usage = key_usage_names(crypto)
        allows = key_usage_allows(crypto, "signing")
        eku_ok = times.claimed_by == "tsa" or extended_key_usage_allows(crypto, "signing")
        eku = extended_key_usage_names(crypto)
    except ValueError:
        return not_checked("key_usage", env.t("Non vérifié : certificat illisible.",
                                              "Not checked: unreadable certificate."))
    if not allows:
        return indeterminate("key_usage", env.t(
            "Usage de la clé incompatible avec la signature : {u} (ni digitalSignature ni nonRepudiation, "
            "RFC 5280 §4.2.1.3).",
            "Key usage does not allow signing: {u} (neither digitalSignature nor nonRepudiation, "
            "RFC 5280 §4.2.1.3).", u=", ".join(usage)), SubIndication.CHAIN_CONSTRAINTS_FAILURE)
    if not eku_ok:
        return indeterminate("key_usage", env.t(
            "Usage étendu de la clé incompatible avec la signature : {u} (RFC 5280 §4.2.1.12).",
            "Extended key usage does not allow signing: {u} (RFC 5280 §4.2.1.12).", u=", ".join(eku)),
            SubIndication.CHAIN_CONSTRAINTS_FAILURE)
    if not usage:
        return passed("key_usage", env.t("Aucune restriction d'usage de la clé (extension keyUsage absente).",
                                         "No key usage restriction (no keyUsage extension)."))
    return passed("key_usage", env.t("Usage de la clé compatible avec la signature ({u}).",
                                     "Key usage allows signing ({u}).", u=", ".join(usage)))


async def _validate(env: Environment, cert: asn1_x509.Certificate, others: Iterable[asn1_x509.Certificate],
                    times: SigningTimes, crls: Sequence[asn1_crl.CertificateList],
                    ocsps: Sequence[asn1_ocsp.OCSPResponse]) -> ChainResult:
    others = [c for c in [*others, *env.intermediates] if c.dump() != cert.dump()]
    crls, ocsps = list(crls), list(ocsps)
    dates = _dates(cert, env)
    if not env.trust_roots:
        return _no_chain(env, dates, env.t("aucune autorité de confiance n'est configurée",
                                           "no trust anchor is configured"))
    if not await _path_exists(env, cert, others):
        return _no_chain(env, dates, env.t("le certificat ne remonte à aucune autorité de confiance",
                                           "the certificate does not chain to any trusted authority"))
    path, error = await _attempt(env, cert, others, crls, ocsps, None)
    if error is None:
        return _success(env, cert, path, times, dates, _sources(env, crls, ocsps), at=None)
    return await _judge(env, cert, others, crls, ocsps, times, dates, error, allow_past=True)


def _no_chain(env: Environment, dates: str, reason: str) -> ChainResult:
    return ChainResult([
        indeterminate("chain", env.t("Chaîne de confiance introuvable : {r}.", "No certificate chain found: {r}.",
                                     r=reason),
                      SubIndication.NO_CERTIFICATE_CHAIN_FOUND),
        not_checked("validity", env.t("Non vérifiée : certificat {d}, non évalué sans chaîne de confiance.",
                                      "Not checked: certificate {d}, not assessed without a trusted chain.",
                                      d=dates)),
        not_checked("revocation", env.t("Non vérifiée : sans chaîne de confiance, aucune donnée de révocation ne "
                                        "peut être authentifiée.",
                                        "Not checked: without a trusted chain no revocation data can be "
                                        "authenticated.")),
    ])


def _chain_ok(env: Environment, path: list[asn1_x509.Certificate]) -> Check:
    names = " → ".join(_name(c) for c in path)
    return passed("chain", env.t("Chaîne de confiance : {p}.", "Certificate chain: {p}.", p=names))


def _success(env: Environment, cert: asn1_x509.Certificate, path: list[asn1_x509.Certificate], times: SigningTimes,
             dates: str, sources: str, at: datetime | None, note: str = "") -> ChainResult:
    checks = [_chain_ok(env, path)]
    not_before = cert["tbs_certificate"]["validity"]["not_before"].native
    when = _time_label(times, env)
    if times.poe is not None and times.poe < not_before:
        checks.append(total_failed("validity", env.t(
            "Certificat {d} : l'horodatage {t} précède sa date de début de validité.",
            "Certificate {d}: the time-stamp {t} precedes its start of validity.", d=dates, t=when),
            SubIndication.NOT_YET_VALID))
    elif times.poe is None and times.claimed is not None and times.claimed < not_before - timedelta(minutes=5):
        checks.append(indeterminate("validity", env.t(
            "Certificat {d} : l'heure déclarée {t} précède sa date de début de validité.",
            "Certificate {d}: the claimed time {t} precedes its start of validity.", d=dates, t=when),
            SubIndication.NOT_YET_VALID))
    else:
        checks.append(passed("validity", env.t("Certificat {d} ; valide à l'heure de signature {t}.",
                                               "Certificate {d}; valid at signing time {t}.", d=dates, t=when)))
    unchecked = [_name(c) for c in path[1:-1] if not revocation_urls(c)]
    if unchecked:  # RFC 5280 leaves a CA without CRL/OCSP unchecked: say so, never imply it was
        note += env.t(" ; révocation non vérifiée pour l'autorité {a} (ni CRL ni OCSP déclaré)",
                      "; revocation not checked for the authority {a} (no CRL nor OCSP declared)",
                      a=", ".join(f"« {n} »" if env.locale != "en" else f"“{n}”" for n in unchecked))
    if at is None:
        checks.append(passed("revocation", env.t("Non révoqué (vérifié le {n} ; {s}){x}.",
                                                 "Not revoked (checked on {n}; {s}){x}.", n=env.when(env.now),
                                                 s=sources,
                                                 x=note)))
    else:
        checks.append(passed("revocation", env.t("Non révoqué au {t} ({s}){x}.", "Not revoked at {t} ({s}){x}.",
                                                 t=env.when(at), s=sources, x=note)))
    return ChainResult(checks, path)


async def _judge(env: Environment, cert: asn1_x509.Certificate, others: list[asn1_x509.Certificate],
                 crls: list[asn1_crl.CertificateList], ocsps: list[asn1_ocsp.OCSPResponse], times: SigningTimes,
                 dates: str, error: Exception, allow_past: bool) -> ChainResult:
    """Map a certvalidator error to checks, re-validating at the POE where EN 319 102-1 allows."""
    path = [cert]
    chain_found = passed("chain", env.t("Chaîne de confiance trouvée jusqu'à une autorité de confiance.",
                                        "A chain to a trusted authority was found."))
    sources = _sources(env, crls, ocsps)

    async def at_poe(note: str) -> ChainResult:
        assert times.poe is not None
        past_path, past_error = await _attempt(env, cert, others, crls, ocsps, times.poe)
        if past_error is None:
            return _success(env, cert, past_path, times, dates, sources, at=times.poe, note=note)
        return await _judge(env, cert, others, crls, ocsps, times, dates, past_error, allow_past=False)

    if isinstance(error, RevokedError):
        revoked_at = error.revocation_dt
        who = env.t("le certificat du signataire", "the signer's certificate") if error.is_ee_cert and \
            not error.is_side_validation else env.t("un certificat d'autorité de la chaîne",
                                                    "a CA certificate of the chain")
        if allow_past and times.poe is not None and times.poe < revoked_at:
            # A proof of existence before the revocation beats any claim: validate again at the POE.
            return await at_poe(env.t(" ; révoqué le {r}, après l'horodatage de la signature",
                                      "; revoked on {r}, after the signature's time-stamp", r=env.when(revoked_at)))
        if times.claimed is not None and times.claimed >= revoked_at and error.is_ee_cert:
            check = total_failed("revocation", env.t(
                "Révoqué : {w} a été révoqué le {r}, avant l'heure de signature {t}.",
                "Revoked: {w} was revoked on {r}, before the signing time {t}.", w=who, r=env.when(revoked_at),
                t=_time_label(SigningTimes(claimed=times.claimed, claimed_by=times.claimed_by), env)),
                SubIndication.REVOKED)
        else:
            sub = SubIndication.REVOKED_NO_POE if error.is_ee_cert else SubIndication.REVOKED_CA_NO_POE
            check = indeterminate("revocation", env.t(
                "Révoqué le {r} ({w}) ; aucune preuve que la signature existait avant cette date.",
                "Revoked on {r} ({w}); no proof that the signature existed before that date.",
                w=who, r=env.when(revoked_at)), sub)
        return ChainResult([chain_found, passed("validity", env.t("Certificat {d}.", "Certificate {d}.", d=dates)),
                            check], path)

    if isinstance(error, ExpiredError):
        expired_at = error.expired_dt
        ee = error.is_ee_cert and not error.is_side_validation
        if allow_past and times.poe is not None and times.poe <= expired_at:
            return await at_poe(env.t(" ; certificat expiré depuis, signature horodatée avant l'expiration",
                                      "; certificate expired since, signature time-stamped before expiry"))
        if ee and times.best is not None and times.best > expired_at:
            check = indeterminate("validity", env.t(
                "Expiré : certificat {d}, expiré avant l'heure de signature {t}.",
                "Expired: certificate {d}, expired before the signing time {t}.", d=dates, t=_time_label(times, env)),
                SubIndication.EXPIRED)
        else:
            what = dates if ee else env.t("un certificat d'autorité de la chaîne a expiré le {x}",
                                          "a CA certificate of the chain expired on {x}", x=env.when(expired_at))
            check = indeterminate("validity", env.t(
                "Hors période de validité ({w}) et aucune preuve (horodatage) que la signature existait avant.",
                "Out of its validity period ({w}) and no proof (time-stamp) that the signature existed before.",
                w=what),
                SubIndication.OUT_OF_BOUNDS_NO_POE)
        return ChainResult([chain_found, check, not_checked("revocation", env.t(
            "Non vérifiée : le certificat est hors de sa période de validité.",
            "Not checked: the certificate is out of its validity period."))],
            path)

    if isinstance(error, NotYetValidError):
        check = indeterminate("validity", env.t("Pas encore valide : certificat {d}.",
                                                "Not yet valid: certificate {d}.",
                                                d=dates), SubIndication.NOT_YET_VALID)
        return ChainResult([chain_found, check, not_checked("revocation", env.t(
            "Non vérifiée : le certificat n'est pas encore valide.", "Not checked: the certificate is not valid yet."))],
                           path)

    if isinstance(error, InsufficientRevinfoError):
        if allow_past and times.poe is not None and (crls or ocsps):
            return await at_poe(env.t(" ; données de révocation du fichier, à la date de l'horodatage",
                                      "; revocation data from the file, at the time-stamp's date"))
        return ChainResult([chain_found, passed("validity", env.t("Certificat {d}.", "Certificate {d}.", d=dates)),
                            _revocation_unknown(env, error, crls, ocsps)],
                           path)

    detail = error.failure_msg if isinstance(error, ValidationError) else str(error)
    if isinstance(error, DisallowedAlgorithmError):
        sub = SubIndication.CRYPTO_CONSTRAINTS_FAILURE
    elif isinstance(error, InvalidCertificateError):
        sub = SubIndication.CHAIN_CONSTRAINTS_FAILURE
    elif isinstance(error, PathBuildingError):
        sub = SubIndication.NO_CERTIFICATE_CHAIN_FOUND
    elif isinstance(error, PathValidationError):
        sub = SubIndication.CERTIFICATE_CHAIN_GENERAL_FAILURE
    else:
        sub = SubIndication.CERTIFICATE_CHAIN_GENERAL_FAILURE
    return ChainResult([
        indeterminate("chain", env.t("Chaîne de confiance invalide : {e}", "Invalid certificate chain: {e}", e=detail),
                      sub),
        not_checked("validity", env.t("Non vérifiée : certificat {d}, chaîne de confiance invalide.",
                                      "Not checked: certificate {d}, invalid certificate chain.", d=dates)),
        not_checked("revocation", env.t("Non vérifiée : chaîne de confiance invalide.",
                                        "Not checked: invalid certificate chain.")),
    ], path)


# -- revocation not established ---------------------------------------------------------------------


def revocation_urls(cert: asn1_x509.Certificate) -> list[str]:
    """The OCSP addresses (RFC 5280 section 4.2.2.1) then the CRL distribution points (section
    4.2.1.13) a certificate declares."""
    urls: list[str] = []
    try:
        urls += [str(u) for u in cert.ocsp_urls]
        urls += [str(p.url) for p in cert.crl_distribution_points if p.url]
    except (ValueError, TypeError, KeyError):
        pass
    return list(dict.fromkeys(urls))


def _stale_in_file(env: Environment, cert: asn1_x509.Certificate, crls: Sequence[object],
                   ocsps: Sequence[object]) -> datetime | None:
    """The latest ``nextUpdate`` already past among the file's CRLs from ``cert``'s issuer and OCSP
    answers about ``cert`` (RFC 5280 section 5.1.2.5, RFC 6960 section 4.2.1), else None."""
    found: list[datetime] = []
    for item in crls:
        try:
            tbs = item["tbs_cert_list"]  # type: ignore[index]
            if tbs["issuer"] == cert.issuer and tbs["next_update"].native is not None:
                found.append(tbs["next_update"].native)
        except (KeyError, ValueError, TypeError, AttributeError):
            continue
    for item in ocsps:
        try:
            basic = item["response_bytes"]["response"].parsed  # type: ignore[index]
            for single in basic["tbs_response_data"]["responses"]:
                if single["cert_id"]["serial_number"].native == cert.serial_number and \
                        single["next_update"].native is not None:
                    found.append(single["next_update"].native)
        except (KeyError, ValueError, TypeError, AttributeError):
            continue
    if not found or max(found) >= env.now:
        return None
    return max(found)


def _transport_reason(env: Environment, url: str, exc: BaseException) -> str:
    """Why ``url`` gave nothing, as a reader can act on it."""
    import requests

    text = str(exc)
    lowered = text.lower()
    if isinstance(exc, requests.Timeout):
        why = env.t("pas de réponse dans le délai", "no answer in time")
    elif isinstance(exc, requests.ConnectionError):
        if "refused" in lowered:
            why = env.t("connexion refusée", "connection refused")
        elif any(k in lowered for k in ("name or service not known", "nameresolution", "getaddrinfo", "nodename")):
            why = env.t("nom de serveur inconnu", "unknown server name")
        else:
            why = env.t("connexion impossible", "cannot connect")
        return env.t("{u} injoignable ({w})", "{u} unreachable ({w})", u=url, w=why)
    elif isinstance(exc, requests.RequestException) and lowered.startswith("status code"):
        why = env.t("réponse HTTP {c}", "HTTP answer {c}", c=text.split()[-1])
    elif isinstance(exc, ValueError):
        why = env.t("réponse illisible", "unreadable answer")
    else:
        why = f"{type(exc).__name__}: {text[:200]}"
    return env.t("{u} : {w}", "{u}: {w}", u=url, w=why)


def _revocation_unknown(env: Environment, error: InsufficientRevinfoError,
                        crls: Sequence[object], ocsps: Sequence[object]) -> Check:
    """The "revocation" check when no acceptable revocation data was found: ``not_checked`` with
    the reason, INDETERMINATE/TRY_LATER (EN 319 102-1 sections 5.2.5 and 5.2.6)."""
    try:
        path = error.current_path
        certs = list(path.iter_certs(include_root=False))
        leaf = path.leaf
    except (AttributeError, ValueError, TypeError):
        certs, leaf = [], None
    leaf = leaf if isinstance(leaf, asn1_x509.Certificate) else None
    if error.is_ee_cert and leaf is not None:
        subjects = [leaf]
    else:
        cas = [c for c in certs if isinstance(c, asn1_x509.Certificate) and c is not leaf]
        subjects = [c for c in cas if revocation_urls(c)] or cas
    failures = fetch_failures(env.fetchers) if env.allow_fetching else {}
    in_file = bool(crls or ocsps)
    stale = error.time_cutoff if isinstance(error, StaleRevinfoError) else None
    later = False
    pieces: list[str] = []
    for cert in subjects:
        name = _name(cert)
        urls = revocation_urls(cert)
        old = _stale_in_file(env, cert, crls, ocsps)
        if old is not None and (stale is None or old > stale):
            stale = old
        if not urls:
            piece = env.t("le certificat « {n} » n'indique ni point de distribution de CRL ni service OCSP",
                          "the certificate “{n}” names neither a CRL distribution point nor an OCSP service", n=name)
            if in_file:
                piece += env.t(", et les données de révocation du fichier ne le couvrent pas",
                               ", and the revocation data in the file does not cover it")
        elif not env.allow_fetching:
            later = True
            piece = env.t("vérification hors ligne : {u} non interrogé(s) pour « {n} »",
                          "offline check: {u} not queried for “{n}”", u=", ".join(urls), n=name)
        else:
            reasons = [_transport_reason(env, url, failures[url]) for url in urls if url in failures]
            later = later or bool(reasons)
            if not reasons:
                reasons.append(env.t("aucune réponse exploitable de {u}", "no usable answer from {u}",
                                     u=", ".join(urls)))
            piece = env.t("pour « {n} », {r}", "for “{n}”, {r}", n=name, r=", ".join(reasons))
        pieces.append(piece)
    if stale is not None:
        if in_file:
            pieces.append(env.t("les données de révocation du fichier sont trop anciennes (utilisables jusqu'au {t})",
                                "the revocation data in the file is too old (usable until {t})", t=env.when(stale)))
        else:
            pieces.append(env.t("les données de révocation obtenues sont trop anciennes (utilisables jusqu'au {t})",
                                "the revocation data obtained is too old (usable until {t})", t=env.when(stale)))
        later = True
    if not pieces:
        pieces.append(env.t("aucune donnée de révocation acceptable", "no acceptable revocation data"))
    if env.allow_fetching is False and not any("hors ligne" in p or "offline" in p for p in pieces):
        pieces.append(env.t("vérification hors ligne", "offline check"))
    message = env.t("Non vérifiée : {p}.", "Not checked: {p}.", p=" ; ".join(pieces) if env.locale != "en"
                    else "; ".join(pieces))
    if later:
        message += env.t(" Réessayer plus tard.", " Try again later.")
    return not_checked("revocation", message, Indication.INDETERMINATE, SubIndication.TRY_LATER)


def is_weak_digest(name: str) -> bool:
    return name.lower() in {"md2", "md5", "sha1"}


def has_oid(cert: x509.Certificate, oid: str) -> bool:
    """Whether ``cert`` has the extended key usage ``oid`` (RFC 3161 wants timeStamping for a TSA)."""
    try:
        usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except (x509.ExtensionNotFound, ValueError):
        return False
    return any(u.dotted_string == oid for u in usages)


def common_name(cert: asn1_x509.Certificate | None) -> str:
    return _name(cert) if cert is not None else "?"
