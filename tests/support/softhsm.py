"""A SoftHSM2 token initialised per test run (Debian ``softhsm2``).

``SOFTHSM2_CONF`` is set in this process's environment before the library is first loaded, and
agent subprocesses inherit it. Tokens are selected by label: SoftHSM reassigns slot ids.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from agent.keystores.pkcs11_modules import find_modules
from tests.support.pki import TestPki

USER_PIN = "482916"  # appears in no test data, so "the PIN is nowhere" checks mean something
SO_PIN = "12345678"


def softhsm_module() -> Path:
    for path in find_modules():
        if "softhsm" in path.name:
            return path
    raise RuntimeError("libsofthsm2.so not found: apt-get install softhsm2")


@dataclass
class SoftHsm:
    folder: Path
    conf: Path
    module: Path

    def run(self, *args: str) -> str:
        result = subprocess.run(["softhsm2-util", *args], env={**os.environ, "SOFTHSM2_CONF": str(self.conf)},
                                capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            raise RuntimeError(f"softhsm2-util {' '.join(args)}: {result.stderr or result.stdout}")
        return result.stdout

    def init_token(self, label: str, pin: str = USER_PIN) -> None:
        self.run("--init-token", "--free", "--label", label, "--pin", pin, "--so-pin", SO_PIN)

    def delete_token(self, label: str) -> None:
        self.run("--delete-token", "--token", label)

    def import_key(self, label: str, key_pem: Path, key_label: str, key_id: bytes, pin: str = USER_PIN) -> None:
        """Import a PKCS#8 private key (softhsm2-util wants PKCS#8 PEM)."""
        key = serialization.load_pem_private_key(key_pem.read_bytes(), None)
        pkcs8 = self.folder / f"{key_id.hex()}-{label}.pk8.pem".replace(" ", "_")
        pkcs8.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()))
        self.run("--import", str(pkcs8), "--token", label, "--label", key_label, "--id", key_id.hex(), "--pin", pin)
        pkcs8.unlink()

    def import_certificate(self, label: str, cert: x509.Certificate, cert_label: str, key_id: bytes, pin: str = USER_PIN) -> None:
        """Store a certificate object sharing the key's CKA_ID, as middleware does."""
        import pkcs11
        from pkcs11 import Attribute, CertificateType, ObjectClass

        from agent.keystores.pkcs11_store import Pkcs11Module

        module = Pkcs11Module(self.module)
        module.refresh()
        token = module.lib.get_token(token_label=label)
        with token.open(user_pin=pin, rw=True) as session:
            session.create_object({
                Attribute.CLASS: ObjectClass.CERTIFICATE,
                Attribute.CERTIFICATE_TYPE: CertificateType.X_509,
                Attribute.TOKEN: True,
                Attribute.PRIVATE: False,
                Attribute.LABEL: cert_label,
                Attribute.ID: key_id,
                Attribute.SUBJECT: cert.subject.public_bytes(),
                Attribute.ISSUER: cert.issuer.public_bytes(),
                Attribute.SERIAL_NUMBER: _der_integer(cert.serial_number),
                Attribute.VALUE: cert.public_bytes(serialization.Encoding.DER),
            })
        del pkcs11


def _der_integer(value: int) -> bytes:
    body = value.to_bytes((value.bit_length() + 8) // 8, "big")
    return bytes([0x02, len(body)]) + body


def start_softhsm(folder: Path) -> SoftHsm:
    """Create a SoftHSM2 configuration in ``folder`` and point this process at it."""
    tokens = folder / "tokens"
    tokens.mkdir(parents=True, exist_ok=True)
    conf = folder / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = true\n")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    return SoftHsm(folder, conf, softhsm_module())


TOKEN_LABEL = "Compagnon Test"

#: Test PKI certificates loaded on the session token, with their CKA_ID.
TOKEN_KEYS = {"qualified": b"\x01", "qualified_ec": b"\x02", "plain": b"\x03", "encryption": b"\x04"}
RSA3072_ID = b"\x05"


@dataclass
class ProvisionedToken:
    hsm: SoftHsm
    label: str
    pin: str
    certificates: dict[str, x509.Certificate]


def provision_token(hsm: SoftHsm, pki: TestPki, label: str = TOKEN_LABEL) -> ProvisionedToken:
    """A token holding the test PKI's signing and encryption keys, plus an RSA 3072 key generated
    on the token itself (non-extractable) with a qualified-like certificate from the test CA."""
    from datetime import UTC, datetime, timedelta

    import pkcs11
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import rsa
    from pkcs11 import Attribute, KeyType

    from agent.keystores.pkcs11_store import Pkcs11Module

    hsm.init_token(label)
    # Tokens carry their issuing CA's certificate, as commercial ones do: chain material.
    intermediate = x509.load_pem_x509_certificate(pki.intermediate_pem.read_bytes())
    hsm.import_certificate(label, intermediate, "Compagnon Test Qualified CA", b"")
    certificates: dict[str, x509.Certificate] = {}
    for name, key_id in TOKEN_KEYS.items():
        cert = x509.load_pem_x509_certificate(pki.cert_pem(name).read_bytes())
        hsm.import_key(label, pki.key_pem(name), name, key_id)
        hsm.import_certificate(label, cert, name, key_id)
        certificates[name] = cert

    module = Pkcs11Module(hsm.module)
    module.refresh()
    with module.lib.get_token(token_label=label).open(user_pin=USER_PIN, rw=True) as session:
        public, _ = session.generate_keypair(
            KeyType.RSA, 3072, store=True, label="rsa3072", id=RSA3072_ID,
            private_template={Attribute.EXTRACTABLE: False, Attribute.SENSITIVE: True},
        )
        numbers = rsa.RSAPublicNumbers(int.from_bytes(public[Attribute.PUBLIC_EXPONENT], "big"),
                                       int.from_bytes(public[Attribute.MODULUS], "big"))
    qualified = certificates["qualified"]
    issuer_key = serialization.load_pem_private_key(pki.key_pem("intermediate").read_bytes(), None)
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([
            x509.NameAttribute(x509.NameOID.COUNTRY_NAME, "FR"),
            x509.NameAttribute(x509.NameOID.ORGANIZATION_NAME, "ENTREPRISE EXEMPLE"),
            x509.NameAttribute(x509.ObjectIdentifier("2.5.4.97"), "NTRFR-12345678900011"),
            x509.NameAttribute(x509.NameOID.COMMON_NAME, "Jeanne TITULAIRE 3072"),
        ]))
        .issuer_name(qualified.issuer)
        .public_key(numbers.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
    )
    for ext in qualified.extensions:
        if ext.oid not in (x509.ExtensionOID.SUBJECT_KEY_IDENTIFIER,):
            builder = builder.add_extension(ext.value, ext.critical)
    cert = builder.sign(issuer_key, hashes.SHA256())  # type: ignore[arg-type]
    hsm.import_certificate(label, cert, "rsa3072", RSA3072_ID)
    certificates["rsa3072"] = cert
    del pkcs11
    return ProvisionedToken(hsm, label, USER_PIN, certificates)
