"""The generated test PKI (tests/support/pki) really works: checked with the openssl CLI and parsers."""

from __future__ import annotations

import subprocess
import urllib.request
from pathlib import Path

import pytest
from asn1crypto import core
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from tests.support.pki import TestPki

QC_STATEMENTS_OID = "1.3.6.1.5.5.7.1.3"
RGS_POLICY = "1.2.250.1.137.2.2.1.2.1.5"
QCP_N_QSCD = "0.4.0.194112.1.2"


class _QcStatement(core.Sequence):
    """QCStatement ::= SEQUENCE { statementId OID, statementInfo ANY OPTIONAL } (independent of the support code)."""

    _fields = [("statement_id", core.ObjectIdentifier), ("statement_info", core.Any, {"optional": True})]


class _QcStatements(core.SequenceOf):
    """QCStatements ::= SEQUENCE OF QCStatement."""

    _child_spec = _QcStatement


class _OidList(core.SequenceOf):
    """SEQUENCE OF OBJECT IDENTIFIER (QcType)."""

    _child_spec = core.ObjectIdentifier


def openssl(*args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the openssl CLI, returning its output (stdout and stderr)."""
    result = subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True, timeout=20)
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def asn1_cert(pki: TestPki, name: str) -> asn1_x509.Certificate:
    """The certificate ``name`` parsed with asn1crypto."""
    return asn1_x509.Certificate.load(pki.cert_der(name).read_bytes())


def http(url: str, data: bytes | None = None, content_type: str | None = None) -> bytes:
    """GET (or POST ``data``) ``url`` and return the body."""
    headers = {"Content-Type": content_type} if content_type else {}
    with urllib.request.urlopen(urllib.request.Request(url, data=data, headers=headers), timeout=10) as resp:
        assert resp.status == 200
        return resp.read()


def test_services_listen_on_loopback(test_pki: TestPki) -> None:
    for url in (test_pki.base_url, test_pki.crl_url, test_pki.ocsp_url, test_pki.tsa_url, test_pki.root_crl_url):
        assert url.startswith("http://127.0.0.1:"), url


@pytest.mark.parametrize("name", ["qualified", "qualified_ec", "plain", "revoked", "encryption", "tsa", "ocsp"])
def test_openssl_verify_accepts_valid_chain(test_pki: TestPki, name: str) -> None:
    out = openssl("verify", "-CAfile", test_pki.root_pem, "-untrusted", test_pki.intermediate_pem,
                  test_pki.cert_pem(name))
    assert out.stdout.strip().endswith(": OK")


def test_openssl_verify_refuses_expired(test_pki: TestPki) -> None:
    out = openssl("verify", "-CAfile", test_pki.root_pem, "-untrusted", test_pki.intermediate_pem,
                  test_pki.cert_pem("expired"), check=False)
    assert out.returncode != 0
    assert "certificate has expired" in out.stdout + out.stderr


def test_chain_pems_order(test_pki: TestPki) -> None:
    chain = [x509.load_pem_x509_certificate(p.read_bytes()) for p in test_pki.chain_pems("qualified")]
    assert [c.subject.rfc4514_string() for c in chain][1:] == [
        "CN=Compagnon Test Qualified CA,O=Compagnon Test PKI,C=FR",
        "CN=Compagnon Test Root CA,O=Compagnon Test PKI,C=FR",
    ]
    assert chain[0].issuer == chain[1].subject and chain[1].issuer == chain[2].subject == chain[2].issuer


def test_qualified_certificate_profile(test_pki: TestPki) -> None:
    cert = asn1_cert(test_pki, "qualified")
    subject = cert.subject.native
    assert subject["common_name"] == "Jeanne TITULAIRE"
    assert subject["organization_name"] == "ENTREPRISE EXEMPLE"
    assert subject["organization_identifier"] == "NTRFR-12345678900011"
    assert subject["country_name"] == "FR"

    extensions = {ext["extn_id"].dotted: ext for ext in cert["tbs_certificate"]["extensions"]}
    key_usage = extensions["2.5.29.15"]
    assert key_usage["critical"].native is True
    assert cert.key_usage_value.native == {"digital_signature", "non_repudiation"}

    policies = {p["policy_identifier"].dotted for p in cert.certificate_policies_value}
    assert {RGS_POLICY, QCP_N_QSCD} <= policies

    qc_ext = extensions[QC_STATEMENTS_OID]
    # Raw bytes: once pyHanko is imported it registers a parser for this extension, and .native
    # would then be the parsed list rather than the DER.
    statements = _QcStatements.load(qc_ext["extn_value"].contents)
    by_id = {s["statement_id"].dotted: s for s in statements}
    assert set(by_id) == {"0.4.0.1862.1.1", "0.4.0.1862.1.4", "0.4.0.1862.1.6"}
    qc_types = _OidList.load(by_id["0.4.0.1862.1.6"]["statement_info"].dump())
    assert [t.dotted for t in qc_types] == ["0.4.0.1862.1.6.1"]
    # openssl also knows and parses the extension
    assert "qcStatements" in openssl("x509", "-in", test_pki.cert_pem("qualified"), "-noout", "-text").stdout

    assert cert.crl_distribution_points[0]["distribution_point"].native == [test_pki.crl_url]
    assert cert.ocsp_urls == [test_pki.ocsp_url]


def test_qualified_ec_and_other_profiles(test_pki: TestPki) -> None:
    ec_cert = x509.load_pem_x509_certificate(test_pki.cert_pem("qualified_ec").read_bytes())
    ec_key = ec_cert.public_key()
    assert isinstance(ec_key, ec.EllipticCurvePublicKey) and ec_key.curve.name == "secp256r1"
    assert asn1_cert(test_pki, "qualified_ec").subject.native["common_name"] == "Jeanne TITULAIRE EC"
    ec_exts = {e["extn_id"].dotted for e in asn1_cert(test_pki, "qualified_ec")["tbs_certificate"]["extensions"]}
    assert QC_STATEMENTS_OID in ec_exts

    plain = asn1_cert(test_pki, "plain")
    assert plain.subject.native["common_name"] == "Paul SIMPLE"
    assert plain.key_usage_value.native == {"digital_signature"}
    plain_exts = {e["extn_id"].dotted for e in plain["tbs_certificate"]["extensions"]}
    assert QC_STATEMENTS_OID not in plain_exts and "2.5.29.32" not in plain_exts

    enc = asn1_cert(test_pki, "encryption")
    assert enc.subject.native["common_name"] == "Jean DUPONT chiffrement"
    assert "key_encipherment" in enc.key_usage_value.native
    assert "digital_signature" not in enc.key_usage_value.native

    assert asn1_cert(test_pki, "expired").subject.native["common_name"] == "Ancien EXPIRE"
    assert asn1_cert(test_pki, "revoked").subject.native["common_name"] == "Robert REVOQUE"

    tsa = x509.load_pem_x509_certificate(test_pki.cert_pem("tsa").read_bytes())
    eku = tsa.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert eku.critical and list(eku.value) == [x509.oid.ExtendedKeyUsageOID.TIME_STAMPING]


def test_key_pems_are_unencrypted_pkcs8_matching_certs(test_pki: TestPki) -> None:
    for name in ("qualified", "qualified_ec", "plain", "expired", "revoked", "encryption", "tsa"):
        data = test_pki.key_pem(name).read_bytes()
        assert data.startswith(b"-----BEGIN PRIVATE KEY-----")
        key = serialization.load_pem_private_key(data, password=None)
        cert = x509.load_pem_x509_certificate(test_pki.cert_pem(name).read_bytes())
        assert key.public_key() == cert.public_key()


def test_crls_list_revoked_certificate(test_pki: TestPki, tmp_path: Path) -> None:
    crl_der = http(test_pki.crl_url)
    crl = x509.load_der_x509_crl(crl_der)
    intermediate = x509.load_pem_x509_certificate(test_pki.intermediate_pem.read_bytes())
    issuer_key = intermediate.public_key()
    assert isinstance(issuer_key, rsa.RSAPublicKey)
    assert crl.is_signature_valid(issuer_key)
    serial = x509.load_pem_x509_certificate(test_pki.cert_pem("revoked").read_bytes()).serial_number
    good = x509.load_pem_x509_certificate(test_pki.cert_pem("qualified").read_bytes()).serial_number
    assert crl.get_revoked_certificate_by_serial_number(serial) is not None
    assert crl.get_revoked_certificate_by_serial_number(good) is None

    # openssl checks the CRL signature against the chain and shows the serial
    crl_file = tmp_path / "interm.crl"
    crl_file.write_bytes(crl_der)
    bundle = tmp_path / "ca-bundle.pem"
    bundle.write_bytes(test_pki.intermediate_pem.read_bytes() + test_pki.root_pem.read_bytes())
    out = openssl("crl", "-inform", "DER", "-in", crl_file, "-CAfile", bundle, "-noout", "-text")
    assert "verify OK" in out.stdout + out.stderr
    hex_serial = f"{serial:X}"
    assert f"Serial Number: {hex_serial.zfill(len(hex_serial) + len(hex_serial) % 2)}" in out.stdout

    root_crl = x509.load_der_x509_crl(http(test_pki.root_crl_url))
    root = x509.load_pem_x509_certificate(test_pki.root_pem.read_bytes())
    root_key = root.public_key()
    assert isinstance(root_key, rsa.RSAPublicKey)
    assert root_crl.is_signature_valid(root_key)
    assert len(list(root_crl)) == 0


@pytest.mark.parametrize(("name", "status"), [("revoked", "revoked"), ("qualified", "good"), ("plain", "good")])
def test_openssl_ocsp_status(test_pki: TestPki, name: str, status: str) -> None:
    out = openssl("ocsp", "-issuer", test_pki.intermediate_pem, "-cert", test_pki.cert_pem(name),
                  "-url", test_pki.ocsp_url, "-CAfile", test_pki.root_pem)
    text = out.stdout + out.stderr
    assert f"{test_pki.cert_pem(name)}: {status}" in text
    assert "Response verify OK" in text


def test_openssl_timestamp_roundtrip(test_pki: TestPki, tmp_path: Path) -> None:
    data = tmp_path / "offre.pdf"
    data.write_bytes(b"%PDF-1.7 pretend sealed bid\n")
    query = tmp_path / "req.tsq"
    openssl("ts", "-query", "-data", data, "-sha256", "-cert", "-out", query)
    reply = tmp_path / "resp.tsr"
    reply.write_bytes(http(test_pki.tsa_url, query.read_bytes(), "application/timestamp-query"))

    assert "Status: Granted" in openssl("ts", "-reply", "-in", reply, "-text").stdout
    untrusted = tmp_path / "untrusted.pem"
    untrusted.write_bytes(test_pki.intermediate_pem.read_bytes() + test_pki.cert_pem("tsa").read_bytes())
    out = openssl("ts", "-verify", "-data", data, "-in", reply, "-CAfile", test_pki.root_pem,
                  "-untrusted", untrusted)
    assert "Verification: OK" in out.stdout
    # and the reply really is bound to the data
    other = tmp_path / "autre.pdf"
    other.write_bytes(b"something else")
    bad = openssl("ts", "-verify", "-data", other, "-in", reply, "-CAfile", test_pki.root_pem,
                  "-untrusted", untrusted, check=False)
    assert bad.returncode != 0


@pytest.mark.parametrize("legacy", [False, True])
@pytest.mark.parametrize("name", ["qualified", "qualified_ec"])
def test_p12_loads(test_pki: TestPki, name: str, legacy: bool) -> None:
    path = test_pki.p12(name, "s3cret-ç", legacy=legacy)
    key, cert, extra = pkcs12.load_key_and_certificates(path.read_bytes(), "s3cret-ç".encode())
    assert key is not None and cert is not None
    assert key.public_key() == cert.public_key()
    assert cert == x509.load_pem_x509_certificate(test_pki.cert_pem(name).read_bytes())
    assert [c.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value for c in extra] == [
        "Compagnon Test Qualified CA", "Compagnon Test Root CA"]
    # openssl agrees on the encryption scheme
    info = openssl("pkcs12", "-in", path, "-info", "-noout", "-passin", "pass:s3cret-ç",
                   *(["-legacy"] if legacy else []))
    text = info.stdout + info.stderr
    if legacy:
        assert "pbeWithSHA1And3-KeyTripleDES-CBC" in text
    else:
        assert "PBES2" in text and "AES-256-CBC" in text
    with pytest.raises(ValueError):
        pkcs12.load_key_and_certificates(path.read_bytes(), b"wrong")
