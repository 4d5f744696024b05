"""Choosing the key a command names (``KeyStoreRegistry.select``, agent/keystores/registry.py): plain
values in, the key and the password read out; the command line only maps its options to it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from agent.config import Settings
from agent.errors import ErrorCode, ReportedError
from agent.keystores.registry import KeyStoreRegistry
from agent.secret import Secret


def _p12(folder: Path, name: str, *, signing: bool, password: str = "secret") -> Path:
    """A PKCS#12 file whose certificate signs (digitalSignature, nonRepudiation) or only encrypts
    (keyEncipherment), with its certificate published beside it (``name.pem``)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=30))
            .add_extension(x509.KeyUsage(digital_signature=signing, content_commitment=signing,
                                         key_encipherment=not signing, data_encipherment=False, key_agreement=False,
                                         key_cert_sign=False, crl_sign=False, encipher_only=False,
                                         decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    path = folder / f"{name.replace(' ', '_')}.p12"
    path.write_bytes(pkcs12.serialize_key_and_certificates(
        name.encode(), key, cert, None, serialization.BestAvailableEncryption(password.encode())))
    path.with_suffix(".pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def test_a_pkcs12_file_is_opened_with_the_password_asked_by_its_name(tmp_path: Path, settings: Settings) -> None:
    path = _p12(tmp_path, "Jeanne TITULAIRE", signing=True)
    asked: list[str] = []

    def password(name: str) -> Secret:
        asked.append(name)
        return Secret("secret")

    selection = KeyStoreRegistry.select(settings, p12=path, purpose="signing", password=password)
    assert asked == [path.name]
    assert selection.key.label == "Jeanne TITULAIRE" and selection.secret is not None
    assert [key.id for _, key in selection.registry.keys()] == [selection.key.id]


def test_an_encryption_certificate_is_refused_for_signing_before_its_password(tmp_path: Path, settings: Settings) -> None:
    path = _p12(tmp_path, "Bruno CHIFFREMENT", signing=False)
    asked: list[str] = []

    def password(name: str) -> Secret:
        asked.append(name)
        return Secret("secret")

    with pytest.raises(ReportedError) as refused:
        KeyStoreRegistry.select(settings, p12=path, purpose="signing", password=password)
    assert refused.value.code is ErrorCode.KEY_USAGE_NOT_SIGNING and asked == []
    assert "Bruno CHIFFREMENT" in refused.value.message("fr") and "Bruno CHIFFREMENT" in refused.value.message("en")
    assert refused.value.message("fr") != refused.value.message("en")  # the refusal in both languages


def test_exactly_one_place_is_named(tmp_path: Path, settings: Settings) -> None:
    path = _p12(tmp_path, "Jeanne TITULAIRE", signing=True)
    for named in ({}, {"p12": path, "certificate": "abcdef12"}):
        with pytest.raises(ReportedError) as wrong:
            KeyStoreRegistry.select(settings, **named)
        assert wrong.value.code is ErrorCode.INVALID_PARAMS


def test_a_missing_file_or_module_is_named_in_both_languages(tmp_path: Path, settings: Settings) -> None:
    for named, word in (({"p12": tmp_path / "absent.p12"}, ".p12"), ({"pkcs11": tmp_path / "absent.so"}, "PKCS#11")):
        with pytest.raises(ReportedError) as missing:
            KeyStoreRegistry.select(settings, **named)
        assert missing.value.code is ErrorCode.FILE_NOT_FOUND
        assert "introuvable" in missing.value.message("fr") and "not found" in missing.value.message("en")
        assert word in missing.value.message("en")


def test_an_unknown_certificate_id_is_not_found(settings: Settings) -> None:
    with pytest.raises(ReportedError) as unknown:
        KeyStoreRegistry.select(settings, certificate="0123456789abcdef")
    assert unknown.value.code is ErrorCode.NO_SUCH_CERTIFICATE
    assert unknown.value.message("en") == "Certificate not found: 0123456789abcdef"
