"""Cryptographic details of CMS signatures as real producers write them.

* SHA-3 digests (FIPS 202) with RSA and ECDSA: ``openssl cms -md sha3-*`` (RSA, ``rsaEncryption``),
  and SignerInfos naming id-rsassa-pkcs1-v1_5-with-sha3-* / id-ecdsa-with-sha3-* (NIST CSOR
  2.16.840.1.101.3.4.3.9-16), which OpenSSL 3.0 cannot produce: built with asn1crypto and signed
  with the test PKI's keys through ``cryptography``.
* RFC 6211 CMSAlgorithmProtection: an attribute that agrees passes; one that names another digest
  or signature algorithm than the SignerInfo is a substitution and fails (signature re-made with
  the real key, so that the mismatch is the only fault).
* An RSA PKCS #1 v1.5 signature whose DigestInfo omits the NULL parameters (RFC 8017 section 9.2
  note 2; EU DSS accepts it): a real signature made with the raw private key.
* One changed content byte fails in every case; openssl's verdict is compared where it can judge.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from asn1crypto import cms
from cryptography import x509

from agent.validation import Indication, SignatureReport, SubIndication, VerificationReport, verify_file
from tests.support.cms_resign import CONTENT, openssl_attached, openssl_says, protection, resign
from tests.support.pki import TestPki

PASSED, FAILED = Indication.TOTAL_PASSED, Indication.TOTAL_FAILED
#: id-rsassa-pkcs1-v1_5-with-sha3-* and id-ecdsa-with-sha3-* (NIST Computer Security Objects Register).
RSA_SHA3 = {"sha3_256": "2.16.840.1.101.3.4.3.14", "sha3_384": "2.16.840.1.101.3.4.3.15",
            "sha3_512": "2.16.840.1.101.3.4.3.16"}
ECDSA_SHA3 = {"sha3_256": "2.16.840.1.101.3.4.3.10", "sha3_384": "2.16.840.1.101.3.4.3.11",
              "sha3_512": "2.16.840.1.101.3.4.3.12"}


@pytest.fixture(scope="module")
def root(test_pki: TestPki) -> x509.Certificate:
    return x509.load_pem_x509_certificate(test_pki.root_pem.read_bytes())


def dump(report: VerificationReport | SignatureReport) -> str:
    return json.dumps(report.to_json(), indent=1, ensure_ascii=False)


def only(report: VerificationReport) -> SignatureReport:
    assert len(report.signatures) == 1, dump(report)
    return report.signatures[0]


def changed_content(path: Path, target: Path) -> Path:
    data = bytearray(path.read_bytes())
    data[data.index(b"Offre technique") + 1] ^= 0x01
    target.write_bytes(bytes(data))
    return target


def assert_passed_and_mutation_fails(path: Path, root: x509.Certificate, tmp_path: Path,
                                     openssl: TestPki | None = None) -> SignatureReport:
    """PASSED, and FAILED/HASH_FAILURE with one content byte changed; openssl agreeing when given."""
    signature = only(verify_file(path, trust_roots=[root]))
    assert signature.indication is PASSED, dump(signature)
    mutated_path = changed_content(path, tmp_path / f"mutated-{path.name}")
    mutated = only(verify_file(mutated_path, trust_roots=[root]))
    assert (mutated.indication, mutated.sub_indication) == (FAILED, SubIndication.HASH_FAILURE), dump(mutated)
    if openssl is not None:
        assert openssl_says(path, openssl) and not openssl_says(mutated_path, openssl)
    return signature


@pytest.mark.parametrize("md", ["sha3-256", "sha3-384", "sha3-512"])
def test_openssl_rsa_with_sha3(md: str, tmp_path: Path, test_pki: TestPki, root: x509.Certificate) -> None:
    path = openssl_attached(test_pki, tmp_path, "offre.pdf.p7m", "qualified", md)
    signature = assert_passed_and_mutation_fails(path, root, tmp_path, test_pki)
    check = signature.check("signature_value")
    assert check is not None and md.replace("-", "_") in check.message


@pytest.mark.parametrize("digest", ["sha3_256", "sha3_384", "sha3_512"])
@pytest.mark.parametrize("signer", ["qualified", "qualified_ec"])
def test_sha3_signature_algorithm_identifiers(signer: str, digest: str, tmp_path: Path, test_pki: TestPki,
                                              root: x509.Certificate) -> None:
    base = openssl_attached(test_pki, tmp_path, "base.p7m", signer)
    oid = (RSA_SHA3 if signer == "qualified" else ECDSA_SHA3)[digest]
    path = resign(base, tmp_path / "offre.pdf.p7m", test_pki, signer, digest=digest, signature_algorithm=oid)
    assert json.dumps(subprocess.run(["openssl", "cms", "-cmsout", "-print", "-inform", "DER", "-in", str(path)],
                                     capture_output=True, text=True).stdout).count(oid) >= 1
    assert_passed_and_mutation_fails(path, root, tmp_path, test_pki)  # OpenSSL 3.0 verifies these, not signs


def test_the_resigning_helper_makes_signatures_openssl_accepts(tmp_path: Path, test_pki: TestPki,
                                                                root: x509.Certificate) -> None:
    """The re-signed files are genuine: openssl verifies a re-signed sha256 file (with a matching
    RFC 6211 attribute) and so do we."""
    base = openssl_attached(test_pki, tmp_path, "base.p7m", "qualified")
    path = resign(base, tmp_path / "offre.pdf.p7m", test_pki, "qualified",
                  extra_attributes=protection("", ""))
    signature = assert_passed_and_mutation_fails(path, root, tmp_path, test_pki)
    check = signature.check("algorithm_protection")
    assert check is not None and str(check.status) == "passed", dump(signature)


@pytest.mark.parametrize("signer", ["qualified", "qualified_ec"])
@pytest.mark.parametrize("which", ["digest", "signature"])
def test_algorithm_protection_mismatch_is_tampering(signer: str, which: str, tmp_path: Path, test_pki: TestPki,
                                                    root: x509.Certificate) -> None:
    base = openssl_attached(test_pki, tmp_path, "base.p7m", signer)
    other_signature = "sha512_rsa" if signer == "qualified" else "sha512_ecdsa"
    attribute = protection("sha512", "") if which == "digest" else protection("", other_signature)
    path = resign(base, tmp_path / "offre.pdf.p7m", test_pki, signer, extra_attributes=attribute)
    # OpenSSL 3.0 does not read RFC 6211 attributes (it says "Verification successful" here): no
    # independent verdict to compare with.
    signature = only(verify_file(path, trust_roots=[root]))
    assert (signature.indication, signature.sub_indication) == (FAILED, SubIndication.SIG_CRYPTO_FAILURE), \
        dump(signature)
    check = signature.check("algorithm_protection")
    assert check is not None and str(check.status) == "failed" and "6211" in check.message, dump(signature)
    assert signature.check("signature_value") is not None  # the value itself was still checked (and is correct)


def test_digest_info_without_null_parameters_is_valid(tmp_path: Path, test_pki: TestPki,
                                                      root: x509.Certificate) -> None:
    base = openssl_attached(test_pki, tmp_path, "base.p7m", "qualified")
    path = resign(base, tmp_path / "offre.pdf.p7m", test_pki, "qualified", without_null=True)
    # OpenSSL 3.0 refuses this encoding (it compares with the DigestInfo it builds, NULL included);
    # RFC 8017 section 9.2 note 2 and the EU DSS validator accept it: no agreement to assert here.
    signature = assert_passed_and_mutation_fails(path, root, tmp_path)
    assert signature.check("signature_value").status == "passed"  # type: ignore[union-attr]
    # The same bytes with one bit of the signature value changed are refused.
    data = bytearray(path.read_bytes())
    value = cms.ContentInfo.load(bytes(data))["content"]["signer_infos"][0]["signature"].native
    data[data.index(value) + 10] ^= 0x01
    broken = tmp_path / "broken.p7m"
    broken.write_bytes(bytes(data))
    signature = only(verify_file(broken, trust_roots=[root]))
    assert (signature.indication, signature.sub_indication) == (FAILED, SubIndication.SIG_CRYPTO_FAILURE), \
        dump(signature)


@pytest.mark.parametrize(("signer", "md"), [("qualified", "sha256"), ("qualified", "sha3-256"),
                                          ("qualified_ec", "sha256")])  # OpenSSL 3.0 signs no ECDSA/SHA-3
def test_signatures_without_signed_attributes(signer: str, md: str, tmp_path: Path, test_pki: TestPki,
                                              root: x509.Certificate) -> None:
    """``openssl cms -noattr``: the signature is over the content digest itself (RFC 5652 section 5.4)."""
    content = tmp_path / "offre.pdf"
    content.write_bytes(CONTENT)
    path = tmp_path / "offre.pdf.p7m"
    subprocess.run(["openssl", "cms", "-sign", "-nodetach", "-binary", "-noattr", "-outform", "DER",
                    "-in", str(content), "-out", str(path), "-signer", str(test_pki.cert_pem(signer)),
                    "-inkey", str(test_pki.key_pem(signer)), "-certfile", str(test_pki.intermediate_pem), "-md", md],
                   check=True, capture_output=True)
    signature = assert_passed_and_mutation_fails(path, root, tmp_path, test_pki)
    assert signature.format == "CMS", dump(signature)
