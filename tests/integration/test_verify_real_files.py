"""Signed XML files other producers made and published (tests/data/README.md says where each comes from).

Their certificates have mostly expired and their roots are not ours to trust: these tests judge the
*integrity* of the signatures — digests and signature value — with the file's own certificate as
the key, and compare with xmlsec1 given the same key (``--pubkey-cert-pem`` with only ``key-name``
key data enabled: the key comes from the given certificate, never from the file, and no chain is
built). A one-byte change must be refused by both.
"""

from __future__ import annotations

import base64
import io
import json
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree

from agent.validation import Indication, SignatureReport, SubIndication, verify_file
from agent.pki.xml_safe import parse_untrusted
from agent.validation.trusted_lists import ListRefused, TrustedListStore, read_list
from agent.validation.trusted_lists.model import TSLTYPE_EU_LOTL
from agent.validation.trusted_lists.signature import verify_list_signature

DATA = Path(__file__).resolve().parents[1] / "data"
DS = "http://www.w3.org/2000/09/xmldsig#"
TSL = "http://uri.etsi.org/02231/v2#"
XADES_ID = "http://uri.etsi.org/01903/v1.3.2#:SignedProperties"


def _certificates(path: Path) -> list[x509.Certificate]:
    """The X509Certificate elements of the signature's KeyInfo, in order."""
    root = etree.parse(str(path)).getroot()
    signature = root if root.tag == f"{{{DS}}}Signature" else root.find(f".//{{{DS}}}Signature")
    return [x509.load_der_x509_certificate(base64.b64decode("".join((e.text or "").split())))
            for e in signature.iterfind(f"{{{DS}}}KeyInfo/{{{DS}}}X509Data/{{{DS}}}X509Certificate")]


def _pem(cert: x509.Certificate, folder: Path) -> Path:
    path = folder / "key-certificate.pem"
    path.write_bytes(cert.public_bytes(Encoding.PEM))
    return path


def _xmlsec_integrity(path: Path, cert: x509.Certificate, *ids: str) -> bool:
    """xmlsec1 verifying with the public key of ``cert`` only (see the module docstring)."""
    command = ["xmlsec1", "--verify", "--pubkey-cert-pem", str(_pem(cert, path.parent)), "--enabled-key-data",
               "key-name"]
    for node in ids:
        command += ["--id-attr:Id", node]
    result = subprocess.run([*command, path.name], cwd=path.parent, capture_output=True, text=True)
    return result.returncode == 0


def _changed(source: Path, target: Path, old: bytes, new: bytes) -> Path:
    data = source.read_bytes()
    assert data.count(old) == 1 and len(old) == len(new)
    target.write_bytes(data.replace(old, new))
    return target


# --- a real published trusted list ---------------------------------------------------------------


def test_real_trusted_list_is_accepted_unmodified_and_refused_changed(tmp_path: Path) -> None:
    """The Icelandic trusted list as published: our checker and xmlsec1 both find its signature intact;
    one byte changed (the sequence number) and both refuse it."""
    published = tmp_path / "IS.xml"
    shutil.copy(DATA / "trusted_lists" / "IS-sn13.xml", published)
    signer = _certificates(published)[0]
    assert "Neytendastofa" in signer.subject.rfc4514_string()

    trusted_list = read_list(published.read_bytes(), [signer], source="IS.xml")
    assert (trusted_list.territory, trusted_list.sequence_number) == ("IS", 13)
    assert trusted_list.signer == signer
    assert _xmlsec_integrity(published, signer)

    changed = _changed(published, tmp_path / "IS-changed.xml", b"<TSLSequenceNumber>13<", b"<TSLSequenceNumber>14<")
    with pytest.raises(ListRefused) as refused:
        read_list(changed.read_bytes(), [signer], source="IS-changed.xml")
    assert "modifiée après sa signature" in str(refused.value)
    assert not _xmlsec_integrity(changed, signer)


LOTL_URL = "https://ec.europa.eu/tools/lotl/eu-lotl.xml"


def _lotl_signers(data: bytes) -> list[x509.Certificate]:
    """The certificates the list of lists names as its own signers (its pointer to itself, TS 119 612
    clause 5.3.13; the Official Journal publishes the same ones)."""
    found = []
    for pointer in etree.fromstring(data).iterfind(f".//{{{TSL}}}OtherTSLPointer"):
        if pointer.findtext(f".//{{{TSL}}}TSLType") == TSLTYPE_EU_LOTL:
            found += [x509.load_der_x509_certificate(base64.b64decode("".join((e.text or "").split())))
                      for e in pointer.iterfind(f".//{{{TSL}}}X509Certificate")]
    return found


def test_real_eu_list_of_lists_is_accepted_unmodified_and_its_freshness_reported(tmp_path: Path) -> None:
    """The EU list of trusted lists as the Commission published it (sequence 250, 2019, TS 119 612 v2):
    accepted with the signers it names for itself pinned, xmlsec1 agreeing; the store reports it
    verified and says it expired on its NextUpdate (2020-04-04)."""
    published = tmp_path / "eu-lotl.xml"
    shutil.copy(DATA / "trusted_lists" / "EU-lotl-sn250.xml", published)
    data = published.read_bytes()
    pinned = _lotl_signers(data)
    (signer,) = _certificates(published)
    assert len(pinned) == 8 and signer in pinned
    assert "CN=Patrick Kremer (Signature)" in signer.subject.rfc4514_string()

    lotl = read_list(data, pinned, source="eu-lotl.xml", expected_type=TSLTYPE_EU_LOTL)
    assert (lotl.is_lotl, lotl.territory, lotl.sequence_number, lotl.version) == (True, "EU", 250, 5)
    assert lotl.signer == signer and lotl.signing_time == datetime(2019, 10, 4, 13, 51, 27, tzinfo=UTC)
    assert lotl.next_update == datetime(2020, 4, 4, tzinfo=UTC)
    members = {p.territory: p for p in lotl.pointers if p.is_xml_member_list}
    assert len(members) == 31 and members["FR"].location == "http://www.ssi.gouv.fr/eidas/TL-FR.xml"
    assert _xmlsec_integrity(published, signer, XADES_ID)

    def fetch(url: str) -> bytes:
        if url != LOTL_URL:
            raise ConnectionError(f"connexion refusée : {url}")
        return data

    report = TrustedListStore(tmp_path / "cache", LOTL_URL, pinned, fetch=fetch).refresh()
    assert report.lotl.state == "downloaded" and report.lotl.sequence_number == 250
    assert "périmée depuis le 04/04/2020" in report.lotl.describe("fr")
    assert "expired since 2020-04-04" in report.lotl.describe("en")
    assert report.status("FR") is not None and not report.status("FR").usable  # type: ignore[union-attr]

    with pytest.raises(ListRefused) as refused:
        read_list(data, [_certificates(DATA / "trusted_lists" / "IS-sn13.xml")[0]], source="eu-lotl.xml")
    assert "« Patrick Kremer (Signature) », qui n'est pas autorisé à la signer" in str(refused.value)


@pytest.mark.parametrize(("old", "new"), [
    (b"<TSLSequenceNumber>250<", b"<TSLSequenceNumber>251<"),
    (b"/eidas/TL-FR.xml<", b"/eidas/TL-FX.xml<"),
], ids=["sequence-number", "french-list-location"])
def test_real_eu_list_of_lists_changed_by_one_byte_is_refused(tmp_path: Path, old: bytes, new: bytes) -> None:
    published = DATA / "trusted_lists" / "EU-lotl-sn250.xml"
    (signer,) = _certificates(published)
    changed = _changed(published, tmp_path / "eu-lotl-changed.xml", old, new)
    with pytest.raises(ListRefused) as refused:
        read_list(changed.read_bytes(), _lotl_signers(published.read_bytes()), source="eu-lotl-changed.xml")
    assert "modifiée après sa signature" in str(refused.value)
    assert not _xmlsec_integrity(changed, signer, XADES_ID)


def test_real_v4_eu_list_of_lists_signature_is_accepted_unmodified_and_refused_changed(tmp_path: Path) -> None:
    """The EU list of trusted lists as the Commission published it (sequence 134, 2016): its signature
    verifies with its own signer certificate pinned, for our checker and for xmlsec1; the list itself is
    then refused only because it is a TS 119 612 v1 list (version 4), after the signature was checked.
    A certificate the list does not name as its signer is refused even though the list is intact."""
    published = tmp_path / "eu-lotl.xml"
    shutil.copy(DATA / "trusted_lists" / "EU-lotl-sn134.xml", published)
    (signer,) = _certificates(published)
    assert "CN=EC_DIGIT" in signer.subject.rfc4514_string()
    assert "O=European Commission" in signer.subject.rfc4514_string()

    signature = verify_list_signature(parse_untrusted(io.BytesIO(published.read_bytes())), [signer])
    assert signature.signer == signer
    assert signature.signing_time == datetime(2016, 4, 8, 10, 0, 36, 390000, tzinfo=UTC)
    assert _xmlsec_integrity(published, signer, XADES_ID)
    with pytest.raises(ListRefused) as refused:
        read_list(published.read_bytes(), [signer], source="eu-lotl.xml")
    assert "non prise en charge : 4" in str(refused.value)

    icelandic = _certificates(DATA / "trusted_lists" / "IS-sn13.xml")[0]
    with pytest.raises(ListRefused) as refused:
        read_list(published.read_bytes(), [icelandic], source="eu-lotl.xml")
    assert "« EC_DIGIT », qui n'est pas autorisé à la signer" in str(refused.value)


@pytest.mark.parametrize(("old", "new"), [
    (b"<TSLSequenceNumber>134<", b"<TSLSequenceNumber>135<"),
    (b"/TSL-FR.xml<", b"/TSL-FX.xml<"),
], ids=["sequence-number", "french-list-location"])
def test_real_v4_eu_list_of_lists_changed_by_one_byte_is_refused(tmp_path: Path, old: bytes, new: bytes) -> None:
    """One byte of the signed content changed: refused as modified after signing, by us and by xmlsec1."""
    published = DATA / "trusted_lists" / "EU-lotl-sn134.xml"
    (signer,) = _certificates(published)
    changed = _changed(published, tmp_path / "eu-lotl-changed.xml", old, new)
    with pytest.raises(ListRefused) as refused:
        read_list(changed.read_bytes(), [signer], source="eu-lotl-changed.xml")
    assert "modifiée après sa signature" in str(refused.value)
    with pytest.raises(ListRefused):
        verify_list_signature(parse_untrusted(io.BytesIO(changed.read_bytes())), [signer])
    assert not _xmlsec_integrity(changed, signer, XADES_ID)


# --- real XAdES samples --------------------------------------------------------------------------


def _only(path: Path, anchor: x509.Certificate, content: Path | None = None) -> SignatureReport:
    report = verify_file(path, content=content, trust_roots=[anchor], allow_fetching=False, locale="en")
    assert len(report.signatures) == 1, json.dumps(report.to_json(), indent=1)
    return report.signatures[0]


def _dump(result: SignatureReport) -> str:
    return json.dumps(result.to_json(), indent=1, ensure_ascii=False)


def _intact(result: SignatureReport) -> None:
    """Digests match and the signature value verifies (an old algorithm may make it INDETERMINATE, never FAILED)."""
    assert result.check("integrity").status == "passed", _dump(result)  # type: ignore[union-attr]
    value = result.check("signature_value")
    assert value is not None and (value.status == "passed" or "weak algorithm" in value.message), _dump(result)
    assert result.indication is not Indication.TOTAL_FAILED, _dump(result)


def test_dss_enveloped_with_xpath_transform(tmp_path: Path) -> None:
    signed = tmp_path / "dss-signed.xml"
    shutil.copy(DATA / "xml" / "dss-signed.xml", signed)
    leaf, root = _certificates(signed)
    _intact(_only(signed, root))
    assert _xmlsec_integrity(signed, leaf, XADES_ID)

    changed = _changed(signed, tmp_path / "dss-changed.xml", b"<h:td>World<", b"<h:td>Worle<")
    result = _only(changed, root)
    assert (result.indication, result.sub_indication) == (Indication.TOTAL_FAILED, SubIndication.HASH_FAILURE), \
        _dump(result)
    assert not _xmlsec_integrity(changed, leaf, XADES_ID)


def test_dss_detached_made_with_a_qualified_certificate(tmp_path: Path) -> None:
    signed = tmp_path / "simple-test-signed-xades-baseline-b.xml"
    shutil.copy(DATA / "xml" / signed.name, signed)
    shutil.copy(DATA / "xml" / "simple-test.xml", tmp_path / "simple-test.xml")
    (leaf,) = _certificates(signed)
    result = _only(signed, leaf)
    _intact(result)
    assert (result.format, result.level) == ("XAdES", "B-B"), _dump(result)
    assert _xmlsec_integrity(signed, leaf, XADES_ID)

    _changed(tmp_path / "simple-test.xml", tmp_path / "simple-test.xml", b">test<", b">tesT<")
    result = _only(signed, leaf)
    assert (result.indication, result.sub_indication) == (Indication.TOTAL_FAILED, SubIndication.HASH_FAILURE), \
        _dump(result)
    assert not _xmlsec_integrity(signed, leaf, XADES_ID)


def test_dss_signature_over_its_own_manifest(tmp_path: Path) -> None:
    """The signature signs its ds:Manifest, whose first reference covers the enveloping document: accepted
    (the document is covered through the Manifest); with the document changed, that reference no longer
    matches and the signature only covers its own objects inside an unsigned document — refused."""
    signed = tmp_path / "manifest.xml"
    shutil.copy(DATA / "xml" / "xades-with-enveloped-manifest.xml", signed)
    leaf, root = _certificates(signed)
    result = _only(signed, root)
    _intact(result)
    assert result.check("coverage").status == "passed", _dump(result)  # type: ignore[union-attr]

    changed = _changed(signed, tmp_path / "manifest-changed.xml", b"<h:td>World<", b"<h:td>Worle<")
    result = _only(changed, root)
    assert (result.indication, result.sub_indication) == (Indication.TOTAL_FAILED, SubIndication.FORMAT_FAILURE), \
        _dump(result)
