"""Test EU trusted lists (ETSI TS 119 612 v2 XML): a LOTL and French-like Member State lists.

Lists are built with lxml following the TS 119 612 schema order (SchemeInformation, then the
providers, then the signature), and signed with Compagnon's own engine: an enveloped XAdES B-B
(``agent.signing.xades.sign_enveloped``, ``URI=""`` + enveloped-signature + exclusive C14N) with a
key of the test PKI read from a PKCS#12 file (``Pkcs12FileStore`` → ``SigningKey.from_session``).

``ListServer`` serves lists over HTTP on 127.0.0.1 (a real loopback fetch), ``http_fetch`` is the
``fetch(url) -> bytes`` callable a store gets (urllib, timeout, no proxy), ``other_ca`` makes a CA
and a "qualified" certificate that no list knows.
"""

from __future__ import annotations

import base64
import io
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.request import ProxyHandler, build_opener

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from lxml import etree

from agent.consent import Secret
from agent.keystores.pkcs12_store import Pkcs12FileStore
from agent.signing.base import SigningKey
from agent.signing.xades import sign_enveloped
from agent.validation.trusted_lists.model import (
    ECC_NS,
    FOR_ESIGNATURES,
    GRANTED,
    SVCTYPE_CA_QC,
    TSL_MIME_TYPE,
    TSL_NS,
    TSL_TAG,
    TSLTYPE_EU_GENERIC,
    TSLTYPE_EU_LOTL,
    TSLX_NS,
    XADES_NS,
)
from tests.support.pki import TestPki, qc_statements_der

__all__ = [
    "History", "ListServer", "PointerSpec", "ProviderSpec", "QualificationSpec", "ServiceSpec", "http_fetch",
    "load_cert", "lotl_xml", "other_ca", "sign_list", "signing_key", "tsl_xml", "with_doctype",
]

P12_PASSWORD = "mot de passe"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
NSMAP = {"tsl": TSL_NS, "ecc": ECC_NS, "tslx": TSLX_NS, "xades": XADES_NS}


def load_cert(path: Path | str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(Path(path).read_bytes())


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- specifications ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class History:
    """One ``ServiceHistoryInstance``: the status the service had from ``since``."""

    status: str
    since: datetime
    type: str = SVCTYPE_CA_QC


@dataclass(frozen=True)
class QualificationSpec:
    """One ``ecc:QualificationElement``; criteria: all of ``policies`` and/or the key usage bits."""

    qualifiers: tuple[str, ...]
    policies: tuple[str, ...] = ()
    key_usage: tuple[tuple[str, bool], ...] = ()
    assert_: str = "atLeastOne"


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    certificate: x509.Certificate
    status: str = GRANTED
    since: datetime = datetime(2016, 7, 1, tzinfo=UTC)
    type: str = SVCTYPE_CA_QC
    history: tuple[History, ...] = ()
    qualifications: tuple[QualificationSpec, ...] = ()
    additional_information: tuple[str, ...] = (FOR_ESIGNATURES,)


@dataclass(frozen=True)
class ProviderSpec:
    name: str
    services: tuple[ServiceSpec, ...]
    trade_name: str = ""


@dataclass(frozen=True)
class PointerSpec:
    """A LOTL pointer to a Member State list and the certificates allowed to sign it."""

    territory: str
    location: str
    certificates: tuple[x509.Certificate, ...]
    mime_type: str = TSL_MIME_TYPE
    tsl_type: str = TSLTYPE_EU_GENERIC


# -- XML ---------------------------------------------------------------------------------------------


def _sub(parent: etree._Element, name: str, text: str | None = None, ns: str = TSL_NS,
         **attributes: str) -> etree._Element:
    element = etree.SubElement(parent, f"{{{ns}}}{name}", attributes)
    if text is not None:
        element.text = text
    return element


def _names(parent: etree._Element, name: str, value: str) -> None:
    holder = _sub(parent, name)
    _sub(holder, "Name", value).set(XML_LANG, "fr")
    _sub(holder, "Name", value).set(XML_LANG, "en")


def _der_b64(cert: x509.Certificate) -> str:
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()


def _ski_b64(cert: x509.Certificate) -> str:
    try:
        ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except x509.ExtensionNotFound:
        ski = x509.SubjectKeyIdentifier.from_public_key(cert.public_key()).digest  # type: ignore[arg-type]
    return base64.b64encode(ski).decode()


def _scheme(root: etree._Element, *, territory: str, tsl_type: str, sequence: int, issued: datetime,
            next_update: datetime | None, version: int, operator: str) -> etree._Element:
    scheme = _sub(root, "SchemeInformation")
    _sub(scheme, "TSLVersionIdentifier", str(version))
    _sub(scheme, "TSLSequenceNumber", str(sequence))
    _sub(scheme, "TSLType", tsl_type)
    _names(scheme, "SchemeOperatorName", operator)
    address = _sub(scheme, "SchemeOperatorAddress")
    postal = _sub(_sub(address, "PostalAddresses"), "PostalAddress")
    postal.set(XML_LANG, "fr")
    _sub(postal, "StreetAddress", "1 rue de l'Essai")
    _sub(postal, "Locality", "Paris")
    _sub(postal, "PostalCode", "75000")
    _sub(postal, "CountryName", territory)
    _sub(_sub(address, "ElectronicAddress"), "URI", "mailto:liste@example.test").set(XML_LANG, "fr")
    _names(scheme, "SchemeName", f"{territory}: liste de confiance de test")
    _sub(_sub(scheme, "SchemeInformationURI"), "URI", "https://liste.example.test/").set(XML_LANG, "fr")
    _sub(scheme, "StatusDeterminationApproach", "http://uri.etsi.org/TrstSvc/TrustedList/StatusDetn/EUappropriate")
    _sub(_sub(scheme, "SchemeTypeCommunityRules"), "URI",
         "http://uri.etsi.org/TrstSvc/TrustedList/schemerules/EUcommon").set(XML_LANG, "en")
    _sub(scheme, "SchemeTerritory", territory)
    _sub(_sub(scheme, "PolicyOrLegalNotice"), "TSLLegalNotice", "Liste de test, sans valeur.").set(XML_LANG, "fr")
    _sub(scheme, "HistoricalInformationPeriod", "65535")
    return scheme


def _dates(scheme: etree._Element, issued: datetime, next_update: datetime | None) -> None:
    _sub(scheme, "ListIssueDateTime", _when(issued))
    holder = _sub(scheme, "NextUpdate")
    if next_update is not None:
        _sub(holder, "dateTime", _when(next_update))
    _sub(_sub(scheme, "DistributionPoints"), "URI", "https://liste.example.test/tl.xml")


def _new_root(list_id: str) -> etree._Element:
    return etree.Element(f"{{{TSL_NS}}}TrustServiceStatusList", {"Id": list_id, "TSLTag": TSL_TAG}, nsmap=NSMAP)


def _extensions(parent: etree._Element, service: ServiceSpec) -> None:
    if not service.qualifications and not service.additional_information:
        return
    extensions = _sub(parent, "ServiceInformationExtensions")
    if service.qualifications:
        qualifications = _sub(_sub(extensions, "Extension", Critical="true"), "Qualifications", ns=ECC_NS)
        for spec in service.qualifications:
            element = _sub(qualifications, "QualificationElement", ns=ECC_NS)
            qualifiers = _sub(element, "Qualifiers", ns=ECC_NS)
            for uri in spec.qualifiers:
                _sub(qualifiers, "Qualifier", ns=ECC_NS, uri=uri)
            criteria = _sub(element, "CriteriaList", ns=ECC_NS)
            criteria.set("assert", spec.assert_)
            if spec.key_usage:
                usage = _sub(criteria, "KeyUsage", ns=ECC_NS)
                for bit, value in spec.key_usage:
                    _sub(usage, "KeyUsageBit", "true" if value else "false", ns=ECC_NS).set("name", bit)
            if spec.policies:
                policy_set = _sub(criteria, "PolicySet", ns=ECC_NS)
                for oid in spec.policies:
                    _sub(_sub(policy_set, "PolicyIdentifier", ns=ECC_NS), "Identifier", f"urn:oid:{oid}",
                         ns=XADES_NS, Qualifier="OIDAsURN")
    for uri in service.additional_information:
        info = _sub(_sub(extensions, "Extension", Critical="true"), "AdditionalServiceInformation")
        _sub(info, "URI", uri).set(XML_LANG, "en")


def _identity(parent: etree._Element, cert: x509.Certificate, *, with_certificate: bool) -> None:
    identity = _sub(parent, "ServiceDigitalIdentity")
    if with_certificate:
        _sub(_sub(identity, "DigitalId"), "X509Certificate", _der_b64(cert))
    _sub(_sub(identity, "DigitalId"), "X509SubjectName", cert.subject.rfc4514_string())
    _sub(_sub(identity, "DigitalId"), "X509SKI", _ski_b64(cert))


def tsl_xml(territory: str, providers: Sequence[ProviderSpec], *, sequence: int = 1, issued: datetime | None = None,
            next_update: datetime | None | bool = True, version: int = 5, tsl_type: str = TSLTYPE_EU_GENERIC) -> bytes:
    """An unsigned Member State list. ``next_update=True``: six months after ``issued``; None: closed."""
    issued = issued or datetime.now(UTC) - timedelta(hours=1)
    if next_update is True:
        next_update = issued + timedelta(days=180)
    root = _new_root(f"TSL-{territory}-{sequence}")
    scheme = _scheme(root, territory=territory, tsl_type=tsl_type, sequence=sequence, issued=issued,
                     next_update=next_update or None, version=version, operator=f"Organe de contrôle {territory}")
    _dates(scheme, issued, next_update or None)
    provider_list = _sub(root, "TrustServiceProviderList")
    for provider in providers:
        tsp = _sub(provider_list, "TrustServiceProvider")
        information = _sub(tsp, "TSPInformation")
        _names(information, "TSPName", provider.name)
        if provider.trade_name:
            _names(information, "TSPTradeName", provider.trade_name)
        address = _sub(information, "TSPAddress")
        postal = _sub(_sub(address, "PostalAddresses"), "PostalAddress")
        postal.set(XML_LANG, "fr")
        _sub(postal, "StreetAddress", "2 avenue du Test")
        _sub(postal, "Locality", "Lyon")
        _sub(postal, "CountryName", territory)
        _sub(_sub(address, "ElectronicAddress"), "URI", "https://psco.example.test/").set(XML_LANG, "fr")
        _sub(_sub(information, "TSPInformationURI"), "URI", "https://psco.example.test/pc").set(XML_LANG, "fr")
        services = _sub(tsp, "TSPServices")
        for service in provider.services:
            tsp_service = _sub(services, "TSPService")
            info = _sub(tsp_service, "ServiceInformation")
            _sub(info, "ServiceTypeIdentifier", service.type)
            _names(info, "ServiceName", service.name)
            _identity(info, service.certificate, with_certificate=True)
            _sub(info, "ServiceStatus", service.status)
            _sub(info, "StatusStartingTime", _when(service.since))
            _extensions(info, service)
            if service.history:
                history = _sub(tsp_service, "ServiceHistory")
                for past in sorted(service.history, key=lambda h: h.since, reverse=True):
                    instance = _sub(history, "ServiceHistoryInstance")
                    _sub(instance, "ServiceTypeIdentifier", past.type)
                    _names(instance, "ServiceName", service.name)
                    _identity(instance, service.certificate, with_certificate=False)  # SKI + subject, as real lists
                    _sub(instance, "ServiceStatus", past.status)
                    _sub(instance, "StatusStartingTime", _when(past.since))
                    _extensions(instance, service)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def lotl_xml(pointers: Sequence[PointerSpec], *, self_location: str, self_certificates: Sequence[x509.Certificate],
             sequence: int = 1, issued: datetime | None = None, next_update: datetime | None | bool = True) -> bytes:
    """An unsigned LOTL: a pointer to itself (its signers, as the real one) and one per Member State list
    (XML, plus a PDF rendering pointer that must be skipped)."""
    issued = issued or datetime.now(UTC) - timedelta(hours=1)
    if next_update is True:
        next_update = issued + timedelta(days=180)
    root = _new_root(f"LOTL-{sequence}")
    scheme = _scheme(root, territory="EU", tsl_type=TSLTYPE_EU_LOTL, sequence=sequence, issued=issued,
                     next_update=next_update or None, version=5, operator="Commission européenne (test)")
    holder = _sub(scheme, "PointersToOtherTSL")
    entries = [PointerSpec("EU", self_location, tuple(self_certificates), tsl_type=TSLTYPE_EU_LOTL)]
    for pointer in pointers:
        entries.append(pointer)
        entries.append(PointerSpec(pointer.territory, pointer.location.rsplit(".", 1)[0] + ".pdf",
                                   pointer.certificates, mime_type="application/pdf"))
    for pointer in entries:
        element = _sub(holder, "OtherTSLPointer")
        identities = _sub(element, "ServiceDigitalIdentities")
        for cert in pointer.certificates:
            _sub(_sub(_sub(identities, "ServiceDigitalIdentity"), "DigitalId"), "X509Certificate", _der_b64(cert))
        _sub(element, "TSLLocation", pointer.location)
        additional = _sub(element, "AdditionalInformation")
        _sub(_sub(additional, "OtherInformation"), "TSLType", pointer.tsl_type)
        _names(_sub(additional, "OtherInformation"), "SchemeOperatorName", f"Organe de contrôle {pointer.territory}")
        _sub(_sub(additional, "OtherInformation"), "SchemeTerritory", pointer.territory)
        _sub(_sub(additional, "OtherInformation"), "MimeType", pointer.mime_type, ns=TSLX_NS)
    _dates(scheme, issued, next_update or None)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def with_doctype(xml: bytes, subset: str = '<!ENTITY x "granted">') -> bytes:
    """``xml`` with a DOCTYPE (internal subset) inserted after the XML declaration."""
    head, rest = xml.split(b"?>", 1)
    return head + b"?>\n<!DOCTYPE TrustServiceStatusList [" + subset.encode() + b"]>" + rest


# -- signing -----------------------------------------------------------------------------------------


@contextmanager
def signing_key(pki: TestPki, name: str) -> Iterator[SigningKey]:
    """A SigningKey over the test PKI's PKCS#12 file of ``name``."""
    store = Pkcs12FileStore(pki.p12(name, P12_PASSWORD))
    with store.open(Secret(P12_PASSWORD)) as session:
        yield SigningKey.from_session(session, store.keys()[0])


def sign_list(xml: bytes, pki: TestPki, signer: str) -> bytes:
    """``xml`` with an enveloped XAdES B-B signature by the test PKI key ``signer``."""
    output = io.BytesIO()
    with signing_key(pki, signer) as key:
        sign_enveloped(io.BytesIO(xml), output, key)
    return output.getvalue()


# -- serving and fetching ------------------------------------------------------------------------------


@dataclass
class ListServer:
    """Serves ``files`` (path -> bytes) over HTTP on 127.0.0.1, in a daemon thread."""

    files: dict[str, bytes] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    def start(self) -> ListServer:
        files, requests = self.files, self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server naming)
                requests.append(self.path)
                body = files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", TSL_MIME_TYPE)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="tl-server", daemon=True)
        self._thread.start()
        return self

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.server_address[1]

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None


_OPENER = build_opener(ProxyHandler({}))


def http_fetch(url: str, timeout: float = 5.0, limit: int = 64 * 1024 * 1024) -> bytes:
    """GET ``url`` (no proxy), with a timeout and a size limit: the store's ``fetch`` in tests."""
    with _OPENER.open(url, timeout=timeout) as response:
        data = response.read(limit + 1)
    if len(data) > limit:
        raise ValueError("response too large")
    return data


# -- a CA no list knows ------------------------------------------------------------------------------


def other_ca() -> tuple[x509.Certificate, x509.Certificate]:
    """A self-signed CA and an end-entity certificate it issued with QcCompliance/QcSSCD/QcType(esign)."""
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Autre PSCO"),
                         x509.NameAttribute(NameOID.COMMON_NAME, "Autre AC qualifiée (hors liste)")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=365))
          .not_valid_after(now + timedelta(days=3650))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
                                     x509.NameAttribute(NameOID.COMMON_NAME, "Marie AUTRE")]))
            .issuer_name(ca_name).public_key(leaf_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=30)).not_valid_after(now + timedelta(days=700))
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.5.5.7.1.3"),
                                                      qc_statements_der()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    return ca, leaf
