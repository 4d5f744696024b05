"""A demo identity for ``compagnon demo``: something to sign with on a machine without a card.

On the demo's first run a small test authority is created with two certificates issued by it, each
with its key in a PKCS#12 file (AES-256, PBKDF2, 0600) and the certificate published beside it
(so it is listed before the file is unlocked):

* a bidder, "Jeanne DÉMO" of "ENTREPRISE DE DÉMONSTRATION", for signing (digitalSignature and
  nonRepudiation, RFC 5280 section 4.2.1.3) under the eIDAS QCP-n-qscd policy identifier (ETSI EN
  319 411-2), so that it looks like the qualified certificates of public procurement;
* a buyer, "Acheteur DÉMO", for signing and for receiving sealed bids (keyEncipherment).

Every name says "DÉMO". The authority is trusted by the demo agent only (``compagnon demo`` adds it
to its trust anchors and the folder to its key folders); an agent started otherwise never trusts
it, nor lists these keys. The files live in ``state_dir/demo`` and are kept for the next runs.

Like a real authority, it publishes revocation information: each certificate names a CRL
distribution point (RFC 5280 section 4.2.1.13) on the demo platform, which serves a CRL signed by
the authority (:func:`demo_crl`, RFC 5280 section 5), fresh at each request; so a signature made
with the demo identity is judged "valid" by the demo's verifier with its revocation checked, not
"indeterminate". An identity made before the authority kept its key is made again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .fsutil import atomic_write_bytes, private_folder

#: The password of the demo's PKCS#12 files, shown by ``compagnon demo`` (they protect nothing real).
DEMO_PASSWORD = "demo"
QCP_N_QSCD = x509.ObjectIdentifier("0.4.0.194112.1.2")
_AUTHORITY = "Autorité de DÉMONSTRATION Compagnon (ne pas faire confiance)"


@dataclass(frozen=True)
class DemoIdentity:
    folder: Path
    authority: Path  #: the CA certificate (PEM), to trust in the demo only
    authority_key: Path  #: its key (PKCS#8, encrypted with the demo password), to sign the CRL
    bidder: Path  #: PKCS#12 of the bidder's signing key
    buyer: Path  #: PKCS#12 of the buyer's key


def _name(common_name: str, organization: str | None = None) -> x509.Name:
    parts = [x509.NameAttribute(NameOID.COUNTRY_NAME, "FR")]
    if organization:
        parts.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    parts.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(parts)


def _usage(*, sign: bool, encipher: bool = False, ca: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=sign, content_commitment=sign and not ca, key_encipherment=encipher,
                         data_encipherment=False, key_agreement=encipher, key_cert_sign=ca, crl_sign=ca,
                         encipher_only=False, decipher_only=False)


def ensure_demo_identity(folder: Path, crl_url: str | None = None) -> DemoIdentity:
    """The demo identity in ``folder``, created on first use (complete or not at all); its
    certificates name ``crl_url`` as their CRL distribution point."""
    identity = DemoIdentity(folder, folder / "autorite-demo.pem", folder / "autorite-demo.key",
                            folder / "Jeanne DEMO.p12", folder / "Acheteur DEMO.p12")
    if all(p.exists() for p in (identity.authority, identity.authority_key, identity.bidder, identity.buyer)):
        return identity
    private_folder(folder, own=True)
    now = datetime.now(UTC) - timedelta(minutes=5)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name(_AUTHORITY, "Compagnon (démonstration)")
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now).not_valid_after(now + timedelta(days=3650))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(_usage(sign=True, ca=True), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    distribution = [x509.CRLDistributionPoints([x509.DistributionPoint(
        full_name=[x509.UniformResourceIdentifier(crl_url)], relative_name=None, reasons=None, crl_issuer=None)])
    ] if crl_url else []
    people = ((identity.bidder, "Jeanne DÉMO", "ENTREPRISE DE DÉMONSTRATION", False),
              (identity.buyer, "Acheteur DÉMO", "ACHETEUR PUBLIC DE DÉMONSTRATION", True))
    for path, common_name, organization, encipher in people:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder().subject_name(_name(common_name, organization)).issuer_name(ca_name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + timedelta(days=3 * 365))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_usage(sign=True, encipher=encipher), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION,
                                                  ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .add_extension(x509.CertificatePolicies([x509.PolicyInformation(QCP_N_QSCD, None)]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False))
        for extension in distribution:
            builder = builder.add_extension(extension, critical=False)
        certificate = builder.sign(ca_key, hashes.SHA256())
        data = pkcs12.serialize_key_and_certificates(common_name.encode(), key, certificate, [ca], _encryption())
        atomic_write_bytes(path.with_suffix(".crt"), certificate.public_bytes(serialization.Encoding.PEM), 0o600)
        atomic_write_bytes(path, data, 0o600)
    atomic_write_bytes(identity.authority_key, ca_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(DEMO_PASSWORD.encode())), 0o600)
    atomic_write_bytes(identity.authority, ca.public_bytes(serialization.Encoding.PEM), 0o600)  # last: complete
    return identity


def _encryption() -> serialization.KeySerializationEncryption:
    return (serialization.PrivateFormat.PKCS12.encryption_builder().kdf_rounds(100_000)
            .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC).hmac_hash(hashes.SHA256())
            .build(DEMO_PASSWORD.encode()))


#: How long a CRL of the demo authority is valid (its nextUpdate): it is made again at each request.
CRL_VALIDITY = timedelta(days=1)


def demo_crl(identity: DemoIdentity, now: datetime | None = None) -> bytes:
    """A CRL of the demo authority revoking nothing (RFC 5280 section 5, DER), issued ``now``."""
    authority = x509.load_pem_x509_certificate(identity.authority.read_bytes())
    key = serialization.load_pem_private_key(identity.authority_key.read_bytes(), DEMO_PASSWORD.encode())
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError("the demo authority's key is not an EC key")
    issued = (now or datetime.now(UTC)).replace(microsecond=0)
    crl = (x509.CertificateRevocationListBuilder().issuer_name(authority.subject).last_update(issued)
           .next_update(issued + CRL_VALIDITY)
           .add_extension(x509.CRLNumber(int(issued.timestamp())), critical=False)
           .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False)
           .sign(key, hashes.SHA256()))
    return crl.public_bytes(serialization.Encoding.DER)


def demo_description(identity: DemoIdentity, locale: str = "fr") -> str:
    """What ``compagnon demo`` prints about it, in French or English."""
    if locale == "en":
        return (f"Demonstration identity (fictitious): \"Jeanne DÉMO\" to sign, \"Acheteur DÉMO\" for the buyer; "
                f"password: {DEMO_PASSWORD} ({identity.folder}). Only the demonstration trusts them.")
    return (f"Identité de démonstration (fictive) : « Jeanne DÉMO » pour signer, « Acheteur DÉMO » pour l'acheteur ; "
            f"mot de passe : {DEMO_PASSWORD} ({identity.folder}). Seule la démonstration leur fait confiance.")


__all__ = ["DEMO_PASSWORD", "DemoIdentity", "demo_crl", "demo_description", "ensure_demo_identity"]
