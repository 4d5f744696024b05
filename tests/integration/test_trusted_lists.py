"""EU trusted lists (agent.validation.trusted_lists): LOTL and a French-like list built per ETSI TS 119 612,
signed with our XAdES engine and keys of the test PKI, fetched over loopback HTTP or from a dict.

Signers: the LOTL by the test PKI's "plain" key (RSA, pinned), the FR list by "qualified_ec"
(EC P-256, the certificate the LOTL gives for FR); "tsa" plays a key the LOTL does not list.
The FR list has one CA/QC service whose digital identity is the test PKI's intermediate CA.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from lxml import etree
from signxml import CanonicalizationMethod, DigestAlgorithm, SignatureMethod, XMLSigner, methods

from agent.validation.model import CheckStatus, passed
from agent.validation.trusted_lists import (
    ListRefused,
    TrustedListStore,
    category_from_trusted_lists,
    read_list,
)
from agent.validation.trusted_lists.model import (
    ACCREDITED,
    FOR_ESIGNATURES,
    GRANTED,
    NOT_QUALIFIED,
    QC_FOR_ESEAL,
    QC_FOR_ESIG,
    QC_NO_QSCD,
    QC_STATEMENT,
    QC_WITH_QSCD,
    SVCTYPE_CA_QC,
    TSLTYPE_EU_LOTL,
    WITHDRAWN,
)
from tests.support.pki import TestPki
from tests.support.trusted_list import (
    History,
    ListServer,
    PointerSpec,
    ProviderSpec,
    QualificationSpec,
    ServiceSpec,
    http_fetch,
    load_cert,
    lotl_xml,
    other_ca,
    sign_list,
    tsl_xml,
    with_doctype,
)

BASE = "https://listes.example.test"
QCP_N_QSCD = "0.4.0.194112.1.2"
NOW = datetime.now(UTC).replace(microsecond=0)
WITHDRAWN_SINCE = NOW - timedelta(days=10)


@dataclass(frozen=True)
class Certs:
    lotl_signer: x509.Certificate
    fr_signer: x509.Certificate
    stranger: x509.Certificate
    intermediate: x509.Certificate
    root: x509.Certificate
    qualified: x509.Certificate
    plain: x509.Certificate


@pytest.fixture(scope="module")
def certs(test_pki: TestPki) -> Certs:
    return Certs(lotl_signer=load_cert(test_pki.cert_pem("plain")),
                 fr_signer=load_cert(test_pki.cert_pem("qualified_ec")), stranger=load_cert(test_pki.cert_pem("tsa")), intermediate=load_cert(test_pki.intermediate_pem),
                 root=load_cert(test_pki.root_pem), qualified=load_cert(test_pki.cert_pem("qualified")),
                 plain=load_cert(test_pki.cert_pem("plain")))


def fr_service(certs: Certs, **changes: object) -> ServiceSpec:
    """The FR CA/QC service: granted since eIDAS, accredited before; QCForESig + QCWithQSCD for QCP-n-qscd."""
    spec = ServiceSpec(
        name="AC Compagnon Qualifiée", certificate=certs.intermediate, status=GRANTED,
        since=datetime(2016, 7, 1, tzinfo=UTC), history=(History(ACCREDITED, datetime(2012, 1, 1, tzinfo=UTC)),),
        qualifications=(QualificationSpec((QC_FOR_ESIG, QC_WITH_QSCD), policies=(QCP_N_QSCD,)),),
        additional_information=(FOR_ESIGNATURES,))
    return replace(spec, **changes)  # type: ignore[arg-type]


def fr_list(test_pki: TestPki, certs: Certs, *services: ServiceSpec, signer: str = "qualified_ec",
            **options: object) -> bytes:
    return sign_list(tsl_xml("FR", [ProviderSpec("PSCO Compagnon", services or (fr_service(certs),))],
                             **options), test_pki, signer)  # type: ignore[arg-type]


def lotl(test_pki: TestPki, certs: Certs, base: str, *, signer: str = "plain", **options: object) -> bytes:
    return sign_list(lotl_xml([PointerSpec("FR", f"{base}/tl-fr.xml", (certs.fr_signer,))],
                              self_location=f"{base}/lotl.xml", self_certificates=[certs.lotl_signer],
                              **options), test_pki, signer)  # type: ignore[arg-type]


def dict_store(tmp_path: Path, certs: Certs, files: dict[str, bytes], **kwargs: object) -> TrustedListStore:
    """A store fetching from ``files`` (URL -> bytes); a missing URL is a download failure."""
    def fetch(url: str) -> bytes:
        if url not in files:
            raise ConnectionError(f"connexion refusée : {url}")
        return files[url]

    return TrustedListStore(tmp_path / "tl-cache", f"{BASE}/lotl.xml", [certs.lotl_signer], fetch=fetch,
                            **kwargs)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def good(test_pki: TestPki, certs: Certs) -> dict[str, bytes]:
    return {f"{BASE}/lotl.xml": lotl(test_pki, certs, BASE), f"{BASE}/tl-fr.xml": fr_list(test_pki, certs)}


@pytest.fixture
def server() -> Iterator[ListServer]:
    running = ListServer().start()
    yield running
    running.stop()


# -- parsing and signatures ------------------------------------------------------------------------------


def test_parse_and_verify_lotl_and_tsl(certs: Certs, good: dict[str, bytes]) -> None:
    lotl_list = read_list(good[f"{BASE}/lotl.xml"], [certs.lotl_signer], expected_type=TSLTYPE_EU_LOTL)
    assert lotl_list.is_lotl and lotl_list.territory == "EU" and lotl_list.version == 5
    assert lotl_list.signer == certs.lotl_signer and lotl_list.signing_time is not None
    members = [p for p in lotl_list.pointers if p.is_xml_member_list]
    assert [(p.territory, p.location) for p in members] == [("FR", f"{BASE}/tl-fr.xml")]
    assert members[0].certificates == (certs.fr_signer,)
    assert {p.mime_type for p in lotl_list.pointers} == {"application/vnd.etsi.tsl+xml", "application/pdf"}

    fr = read_list(good[f"{BASE}/tl-fr.xml"], members[0].certificates, expected_territory="FR")
    assert fr.territory == "FR" and fr.sequence_number == 1 and fr.signer == certs.fr_signer
    assert fr.next_update is not None and fr.issued < fr.next_update
    ((provider, service),) = list(fr.services())
    assert provider.name() == "PSCO Compagnon"
    assert service.current.type_identifier == SVCTYPE_CA_QC and service.current.status == GRANTED
    assert service.current.status_start == datetime(2016, 7, 1, tzinfo=UTC)
    assert service.current.identity.certificates == (certs.intermediate,)
    assert service.current.additional_information == (FOR_ESIGNATURES,)
    (qualification,) = service.current.qualifications
    assert qualification.qualifiers == (QC_FOR_ESIG, QC_WITH_QSCD)
    assert qualification.criteria.assert_ == "atLeastOne" and qualification.criteria.policy_sets == ((QCP_N_QSCD,),)
    (past,) = service.history
    assert past.status == ACCREDITED and not past.identity.certificates and past.identity.skis
    assert [p.info.status for p in service.periods()] == [ACCREDITED, GRANTED]


def test_our_list_signature_passes_xmlsec1(test_pki: TestPki, good: dict[str, bytes], tmp_path: Path) -> None:
    """The lists are signed by our engine: an independent verifier (xmlsec1, X.509 only) agrees."""
    path = tmp_path / "tl-fr.xml"
    path.write_bytes(good[f"{BASE}/tl-fr.xml"])
    result = subprocess.run(["xmlsec1", "--verify", "--enabled-key-data", "x509", "--trusted-pem",
                             str(test_pki.root_pem), "--untrusted-pem", str(test_pki.intermediate_pem), str(path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stderr.startswith("OK"), result.stderr


@pytest.mark.parametrize(("method", "signer"), [(SignatureMethod.ECDSA_SHA256, "qualified_ec"),
                                                (SignatureMethod.RSA_SHA512, "qualified")])
def test_lists_signed_by_another_engine_are_read(test_pki: TestPki, certs: Certs, method: SignatureMethod,
                                                 signer: str) -> None:
    """signxml, plain XMLDSig: reference to the list's Id, inclusive C14N 1.0 (as several Member States do)."""
    unsigned = etree.fromstring(tsl_xml("FR", [ProviderSpec("PSCO Compagnon", (fr_service(certs),))]))
    signed = XMLSigner(method=methods.enveloped, signature_algorithm=method, digest_algorithm=DigestAlgorithm.SHA256,
                       c14n_algorithm=CanonicalizationMethod.CANONICAL_XML_1_0).sign(
        unsigned, key=test_pki.key_pem(signer).read_bytes(), cert=test_pki.cert_pem(signer).read_text(),
        reference_uri=unsigned.get("Id"))
    data = etree.tostring(signed, xml_declaration=True, encoding="UTF-8")
    assert b'URI="#TSL-FR-1"' in data
    allowed = load_cert(test_pki.cert_pem(signer))
    fr = read_list(data, [certs.lotl_signer, allowed], expected_territory="FR")
    assert fr.signer == allowed and fr.signing_time is None
    with pytest.raises(ListRefused, match="modifiée après sa signature"):
        read_list(data.replace(b"granted", b"withdrawn", 1), [allowed])


def test_tampered_tsl_is_refused(test_pki: TestPki, certs: Certs, good: dict[str, bytes], tmp_path: Path) -> None:
    signed = good[f"{BASE}/tl-fr.xml"]
    tampered = signed.replace(b"AC Compagnon Qualifi", b"AC Compagnon Modifi", 1)
    assert tampered != signed
    with pytest.raises(ListRefused, match="modifiée après sa signature"):
        read_list(tampered, [certs.fr_signer])
    store = dict_store(tmp_path, certs, {**good, f"{BASE}/tl-fr.xml": tampered})
    report = store.refresh()
    assert report.lotl.state == "downloaded"
    status = report.status("FR")
    assert status is not None and status.state == "refused" and "modifiée après sa signature" in status.describe()
    assert store.lists.territories() == [] and store.trust_anchors() == []
    answer = store.qualified_at([certs.qualified, certs.intermediate], NOW)
    assert not answer.qualified and "Aucune liste de confiance vérifiée" in answer.describe()
    assert not (tmp_path / "tl-cache" / "tl-FR.xml").exists()


def test_tsl_signed_by_a_key_the_lotl_does_not_list_is_refused(test_pki: TestPki, certs: Certs,
                                                              good: dict[str, bytes], tmp_path: Path) -> None:
    rogue = fr_list(test_pki, certs, signer="tsa")
    store = dict_store(tmp_path, certs, {**good, f"{BASE}/tl-fr.xml": rogue})
    status = store.refresh().status("FR")
    assert status is not None and status.state == "refused"
    assert "Compagnon Test Time Stamping Authority" in status.describe()
    assert "n'est pas autorisé" in status.describe()
    assert store.lists.lists == ()


def test_lotl_is_checked_against_the_pinned_certificates(certs: Certs, good: dict[str, bytes],
                                                          tmp_path: Path) -> None:
    store = TrustedListStore(tmp_path / "c", f"{BASE}/lotl.xml", [certs.fr_signer], fetch=good.__getitem__)
    report = store.refresh()
    assert report.lotl.state == "refused" and "Paul SIMPLE" in report.lotl.describe()
    assert len(report.lists) == 1 and store.lists.lotl is None and store.lists.lists == ()


def test_lists_with_dtd_or_entities_are_refused(test_pki: TestPki, certs: Certs, good: dict[str, bytes],
                                                 tmp_path: Path) -> None:
    fr = good[f"{BASE}/tl-fr.xml"]
    with pytest.raises(ListRefused, match="DOCTYPE"):
        read_list(with_doctype(fr), [certs.fr_signer])
    laughs = '<!ENTITY a "aaaaaaaaaa">' + "".join(
        f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(9))
    started = time.monotonic()
    external = '<!ENTITY ext SYSTEM "file:///etc/passwd">'
    store = dict_store(tmp_path, certs, {f"{BASE}/lotl.xml": with_doctype(good[f"{BASE}/lotl.xml"], laughs),
                                         f"{BASE}/tl-fr.xml": with_doctype(fr, external)})
    report = store.refresh()
    assert time.monotonic() - started < 5  # refused before any expansion
    assert report.lotl.state == "refused" and "DOCTYPE" in report.lotl.describe()
    assert store.lists.lists == ()
    # Same with a good LOTL: the FR list alone is refused.
    store = dict_store(tmp_path / "2", certs, {**good, f"{BASE}/tl-fr.xml": with_doctype(fr)})
    status = store.refresh().status("FR")
    assert status is not None and status.state == "refused" and "DOCTYPE" in status.describe()
    assert "DOCTYPE" in status.describe("en") and "refused" in status.describe("en")


def test_comments_are_not_signed_and_do_not_change_what_is_read(certs: Certs, good: dict[str, bytes]) -> None:
    fr = good[f"{BASE}/tl-fr.xml"]
    commented = fr.replace(b"/Svcstatus/granted<", b"/Svcstatus/gran<!-- withdrawn -->ted<", 1)
    assert commented != fr
    service = next(read_list(commented, [certs.fr_signer]).services())[1]
    assert service.current.status == GRANTED


def test_signature_wrapping_and_unsigned_lists_are_refused(certs: Certs, good: dict[str, bytes]) -> None:
    fr = good[f"{BASE}/tl-fr.xml"]
    start, end = fr.index(b"<ds:Signature "), fr.index(b"</ds:Signature>") + len(b"</ds:Signature>")
    with pytest.raises(ListRefused, match="Liste non signée"):
        read_list(fr[:start] + fr[end:], [certs.fr_signer])
    doubled = fr[:end] + fr[start:end] + fr[end:]
    with pytest.raises(ListRefused, match="une et une seule signature"):
        read_list(doubled, [certs.fr_signer])
    # The reference moved to a part of the list, or to an id two elements carry: refused before any digest.
    part = fr.replace(b"<tsl:SchemeInformation>", b'<tsl:SchemeInformation Id="part">', 1)
    with pytest.raises(ListRefused, match="ne couvre pas la liste entière"):
        read_list(part.replace(b'URI=""', b'URI="#part"', 1), [certs.fr_signer])
    duplicated_id = fr.replace(b"<tsl:SchemeInformation>", b'<tsl:SchemeInformation Id="TSL-FR-1">', 1)
    with pytest.raises(ListRefused, match="emballage de signature"):
        read_list(duplicated_id.replace(b'URI=""', b'URI="#TSL-FR-1"', 1), [certs.fr_signer])
    # Signed by the root id instead of "": accepted only while the id is unique (and the digest right).
    with pytest.raises(ListRefused, match="Signature de la liste incorrecte"):
        read_list(fr.replace(b'URI=""', b'URI="#TSL-FR-1"', 1), [certs.fr_signer])


# -- store: loopback HTTP, cache, offline --------------------------------------------------------------


def test_refresh_over_http_then_cache_when_the_server_is_down(test_pki: TestPki, certs: Certs, server: ListServer,
                                                              tmp_path: Path) -> None:
    base = server.url("")
    server.files.update({"/lotl.xml": lotl(test_pki, certs, base), "/tl-fr.xml": fr_list(test_pki, certs)})
    cache = tmp_path / "cache"
    store = TrustedListStore(cache, f"{base}/lotl.xml", [certs.lotl_signer], fetch=http_fetch)
    report = store.refresh()
    assert report.ok, report.describe()
    assert [s.state for s in report.lists] == ["downloaded", "downloaded"]
    assert server.requests == ["/lotl.xml", "/tl-fr.xml"]  # the PDF pointer is not fetched
    assert (cache / "lotl.xml").read_bytes() == server.files["/lotl.xml"]
    assert (cache / "tl-FR.xml").read_bytes() == server.files["/tl-fr.xml"]
    assert not [p for p in cache.iterdir() if p.name.endswith(".part")]
    assert store.qualified_at([certs.qualified, certs.intermediate], NOW).qualified

    server.stop()
    offline = TrustedListStore(cache, f"{base}/lotl.xml", [certs.lotl_signer], fetch=http_fetch)
    report = offline.refresh()
    assert [s.state for s in report.lists] == ["cached", "cached"]
    fr = report.status("FR")
    assert fr is not None and fr.fetch_error and fr.next_update and fr.issued and fr.sequence_number == 1
    text = fr.describe()
    assert "téléchargement impossible" in text and "dernière liste vérifiée en cache" in text
    assert "prochaine mise à jour le" in text and "émise le" in text
    answer = offline.qualified_at([certs.qualified], NOW)
    assert answer.qualified and "en cache" in answer.describe()
    assert answer.trusted_list is not None and answer.trusted_list.origin == "cache"

    no_network = TrustedListStore(cache, f"{base}/lotl.xml", [certs.lotl_signer])
    report = no_network.load()
    assert [s.state for s in report.lists] == ["cached", "cached"]
    assert "liste vérifiée en cache" in report.describe()
    assert no_network.trust_anchors() == [certs.intermediate]


def test_a_refused_download_keeps_the_verified_cache(test_pki: TestPki, certs: Certs, good: dict[str, bytes],
                                                      tmp_path: Path) -> None:
    files = {**good, f"{BASE}/tl-fr.xml": fr_list(test_pki, certs, sequence=2)}
    assert dict_store(tmp_path, certs, files).refresh().ok
    # An older, validly signed list (rollback), then a tampered one: the cached n° 2 stays in use.
    for bad, why in ((good[f"{BASE}/tl-fr.xml"], "retour en arrière"),
                     (files[f"{BASE}/tl-fr.xml"].replace(b"PSCO Compagnon", b"PSCO Pirate", 1), "modifiée")):
        store = dict_store(tmp_path, certs, {**good, f"{BASE}/tl-fr.xml": bad})
        status = store.refresh().status("FR")
        assert status is not None and status.state == "cached" and status.sequence_number == 2
        assert why in status.describe() and status.refusal is not None
        assert store.qualified_at([certs.qualified], NOW).qualified
    assert read_list((tmp_path / "tl-cache" / "tl-FR.xml").read_bytes(), [certs.fr_signer]).sequence_number == 2


def test_expired_list_is_used_and_reported(test_pki: TestPki, certs: Certs, good: dict[str, bytes],
                                            tmp_path: Path) -> None:
    # Issued while the signer's certificate was valid (from 30 days ago), next update already past.
    stale = fr_list(test_pki, certs, issued=NOW - timedelta(days=25), next_update=NOW - timedelta(days=5))
    store = dict_store(tmp_path, certs, {**good, f"{BASE}/tl-fr.xml": stale})
    status = store.refresh().status("FR")
    assert status is not None and status.state == "downloaded" and "périmée depuis le" in status.describe()
    answer = store.qualified_at([certs.qualified], NOW)
    assert answer.qualified and "périmée depuis le" in answer.describe()


# -- qualified_at ---------------------------------------------------------------------------------------


def test_granted_ca_makes_the_qualified_certificate_qualified_now(certs: Certs, good: dict[str, bytes],
                                                                  tmp_path: Path) -> None:
    store = dict_store(tmp_path, certs, good)
    store.refresh()
    for chain in ([certs.qualified, certs.intermediate, certs.root], [certs.qualified]):
        answer = store.qualified_at(chain, NOW)
        assert answer.qualified, answer.describe()
        assert (answer.country, answer.tsp, answer.service) == ("FR", "PSCO Compagnon", "AC Compagnon Qualifiée")
        assert answer.status == GRANTED and answer.usage == "esign" and answer.qscd is True
        assert "qualifié pour la signature électronique selon la liste de confiance FR au" in answer.describe()
        assert "according to the FR trusted list" in answer.describe("en")
    assert store.trust_anchors() == [certs.intermediate]


def test_withdrawn_service_uses_the_history(test_pki: TestPki, certs: Certs, good: dict[str, bytes],
                                            tmp_path: Path) -> None:
    withdrawn = fr_service(certs, status=WITHDRAWN, since=WITHDRAWN_SINCE,
                           history=(History(GRANTED, datetime(2016, 7, 1, tzinfo=UTC)),
                                    History(ACCREDITED, datetime(2012, 1, 1, tzinfo=UTC))))
    store = dict_store(tmp_path, certs, {**good, f"{BASE}/tl-fr.xml": fr_list(test_pki, certs, withdrawn)})
    store.refresh()
    chain = [certs.qualified, certs.intermediate]
    now = store.qualified_at(chain, NOW)
    assert not now.qualified and now.status == WITHDRAWN and now.status_since == WITHDRAWN_SINCE
    assert "withdrawn" in now.describe() and "pas de certificat qualifié" in now.describe()
    before = store.qualified_at(chain, WITHDRAWN_SINCE - timedelta(days=5))
    assert before.qualified, before.describe()
    assert before.status == GRANTED and before.status_since == datetime(2016, 7, 1, tzinfo=UTC)
    too_early = store.qualified_at(chain, certs.qualified.not_valid_before_utc - timedelta(days=1))
    assert not too_early.qualified and "période de validité" in too_early.describe()
    assert store.trust_anchors() == []
    assert store.trust_anchors(WITHDRAWN_SINCE - timedelta(days=1)) == [certs.intermediate]


def test_certificate_from_a_ca_not_in_the_list_is_not_qualified(certs: Certs, good: dict[str, bytes],
                                                               tmp_path: Path) -> None:
    store = dict_store(tmp_path, certs, good)
    store.refresh()
    ca, leaf = other_ca()
    answer = store.qualified_at([leaf, ca], NOW)
    assert not answer.qualified and answer.country is None
    assert "Autre AC qualifiée (hors liste)" in answer.describe() and "ne figure dans aucune" in answer.describe()
    # A certificate that is not itself qualified, under the listed CA, without a QCStatement qualifier.
    plain = store.qualified_at([certs.plain, certs.intermediate], NOW)
    assert not plain.qualified and plain.country == "FR" and "QcCompliance" in plain.describe()


@pytest.mark.parametrize(("qualification", "subject", "qualified", "detail"), [
    (QualificationSpec((QC_STATEMENT, QC_FOR_ESIG), key_usage=(("digitalSignature", True),)), "plain", True,
     "QSCD : non"),
    (QualificationSpec((QC_FOR_ESEAL,), policies=(QCP_N_QSCD,)), "qualified", False, "cachet électronique"),
    (QualificationSpec((NOT_QUALIFIED,), policies=(QCP_N_QSCD,)), "qualified", False, "NotQualified"),
    (QualificationSpec((QC_NO_QSCD,), policies=(QCP_N_QSCD,)), "qualified", True, "QSCD : non"),
    (QualificationSpec((NOT_QUALIFIED,), policies=("1.2.3.4",)), "qualified", True, "QSCD : oui"),
])
def test_qualifiers_of_the_service(test_pki: TestPki, certs: Certs, good: dict[str, bytes], tmp_path: Path,
                                   qualification: QualificationSpec, subject: str, qualified: bool,
                                   detail: str) -> None:
    service = fr_service(certs, qualifications=(qualification,))
    store = dict_store(tmp_path, certs, {**good, f"{BASE}/tl-fr.xml": fr_list(test_pki, certs, service)})
    store.refresh()
    answer = store.qualified_at([getattr(certs, subject), certs.intermediate], NOW)
    assert answer.qualified is qualified, answer.describe()
    assert detail in answer.describe()


# -- the verification report's category ---------------------------------------------------------------------


def test_category_from_trusted_lists(certs: Certs, good: dict[str, bytes], tmp_path: Path) -> None:
    store = dict_store(tmp_path, certs, good)
    store.refresh()
    check = category_from_trusted_lists(store.lists, [certs.qualified, certs.intermediate], NOW)
    assert check.name == "certificate_category" and check.status is CheckStatus.PASSED
    assert "qualifié pour la signature électronique selon la liste de confiance FR au" in check.message
    assert check.indication is None
    facts = passed("certificate_category", "Certificat qualifié (QcCompliance) ; identifiant d'organisation NTRFR-1.")
    with_facts = category_from_trusted_lists(store.lists, [certs.qualified], NOW, fallback=facts)
    assert with_facts.status is CheckStatus.PASSED and with_facts.message.startswith("Certificat qualifié pour la")
    assert with_facts.message.endswith("Selon le certificat lui-même : " + facts.message)
    ca, leaf = other_ca()
    claimed = category_from_trusted_lists(store.lists, [leaf, ca], NOW, locale="en")
    assert claimed.status is CheckStatus.WARNING and "claims to be qualified" in claimed.message
    rgs = passed("certificate_category", "Certificat RGS (NCP+ (RGS**)).")
    kept = category_from_trusted_lists(store.lists, [certs.plain, certs.intermediate], NOW, fallback=rgs)
    assert kept.status is CheckStatus.PASSED and kept.message.startswith("Certificat RGS")
    assert "Listes de confiance :" in kept.message
