"""End-entity certificates made in a test, issued by the test PKI's intermediate CA.

Each one has exactly the key usage, extended key usage, CRL distribution points and OCSP
addresses the test asks for (RFC 5280 sections 4.2.1.3, 4.2.1.12, 4.2.1.13, 4.2.2.1), a fresh
RSA 2048 (or EC P-256) key, and is written as PEM (certificate, PKCS#8 key) and as a PKCS#12
(AES-256/PBKDF2) with the intermediate beside it.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID

from tests.support.pki import TestPki

KEY_USAGE_FLAGS = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
                   "key_agreement", "key_cert_sign", "crl_sign")


@dataclass
class Leaf:
    cert: x509.Certificate
    cert_pem: Path
    key_pem: Path
    p12: Path
    password: str


def issue_leaf(pki: TestPki, folder: Path, common_name: str, *, key_usage: Collection[str] | None,
               eku: Sequence[x509.ObjectIdentifier] | None = None, crl_urls: Sequence[str] = (),
               ocsp_urls: Sequence[str] = (), ec_key: bool = False, password: str = "pw") -> Leaf:
    """A certificate for ``common_name``; ``key_usage=None`` leaves the extension out."""
    folder.mkdir(parents=True, exist_ok=True)
    issuer_key = serialization.load_pem_private_key(pki.key_pem("intermediate").read_bytes(), None)
    issuer = x509.load_pem_x509_certificate(pki.intermediate_pem.read_bytes())
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey = (
        ec.generate_private_key(ec.SECP256R1()) if ec_key else rsa.generate_private_key(65537, 2048))
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
                                 x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ENTREPRISE EXEMPLE"),
                                 x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(issuer.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=60))
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.public_key()),  # type: ignore[arg-type]
                       critical=False)
    )
    if key_usage is not None:
        unknown = set(key_usage) - set(KEY_USAGE_FLAGS)
        assert not unknown, unknown
        builder = builder.add_extension(x509.KeyUsage(**{flag: flag in key_usage for flag in KEY_USAGE_FLAGS},
                                                      encipher_only=False, decipher_only=False), critical=True)
    if eku is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
    if crl_urls:
        builder = builder.add_extension(x509.CRLDistributionPoints([
            x509.DistributionPoint([x509.UniformResourceIdentifier(u) for u in crl_urls], None, None, None)]),
            critical=False)
    if ocsp_urls:
        builder = builder.add_extension(x509.AuthorityInformationAccess([
            x509.AccessDescription(AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(u))
            for u in ocsp_urls]), critical=False)
    cert = builder.sign(issuer_key, hashes.SHA256())  # type: ignore[arg-type]
    stem = common_name.replace(" ", "_")
    cert_pem = folder / f"{stem}.cert.pem"
    key_pem = folder / f"{stem}.key.pem"
    cert_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_pem.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    encryption = (serialization.PrivateFormat.PKCS12.encryption_builder().kdf_rounds(20_000)
                  .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC).hmac_hash(hashes.SHA256())
                  .build(password.encode()))
    p12 = folder / f"{stem}.p12"
    p12.write_bytes(pkcs12.serialize_key_and_certificates(common_name.encode(), key, cert, [issuer], encryption))
    return Leaf(cert, cert_pem, key_pem, p12, password)
