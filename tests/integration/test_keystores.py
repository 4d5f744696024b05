"""Key stores on real parts: a SoftHSM2 token initialised per run, PKCS#12 files, the test PKI.

Signatures made through the stores are checked with ``openssl pkeyutl``.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives import hashes

from agent.config import Settings
from agent.consent import Secret
from agent.errors import ReportedError
from agent.keystores.pkcs11_store import Pkcs11TokenStore
from agent.keystores.pkcs12_store import Pkcs12FileStore
from agent.keystores.registry import KeyStoreRegistry
from tests.support.pki import TestPki
from tests.support.softhsm import USER_PIN, ProvisionedToken, SoftHsm


def _settings(tmp_path: Path, pki: TestPki, hsm: SoftHsm) -> Settings:
    return Settings(trust_roots=(pki.root_pem,), trust_system=False, pkcs11_modules=(hsm.module,),
                    p12_dir=tmp_path / "keys", state_dir=tmp_path / "state", log_dir=tmp_path / "log")


def _token_store(registry: KeyStoreRegistry, label: str) -> Pkcs11TokenStore:
    for store in registry.stores():
        if isinstance(store, Pkcs11TokenStore) and store.token_label == label:
            return store
    raise AssertionError(f"token {label!r} not listed")


def _openssl_verify(tmp_path: Path, cert: x509.Certificate, digest: bytes, signature: bytes, *opts: str) -> subprocess.CompletedProcess[str]:
    pub = tmp_path / "pub.pem"
    pub.write_bytes(cert.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    (tmp_path / "digest.bin").write_bytes(digest)
    (tmp_path / "sig.bin").write_bytes(signature)
    return subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", str(pub), "-in", str(tmp_path / "digest.bin"),
                           "-sigfile", str(tmp_path / "sig.bin"), *opts], capture_output=True, text=True)


def test_token_keys_are_listed_with_their_facts(tmp_path: Path, test_pki: TestPki, token: ProvisionedToken) -> None:
    registry = KeyStoreRegistry(_settings(tmp_path, test_pki, token.hsm))
    infos = {i.subject: i for i in registry.certificate_infos("signing") if i.source.kind == "pkcs11"}
    assert {"Jeanne TITULAIRE", "Jeanne TITULAIRE EC", "Jeanne TITULAIRE 3072", "Paul SIMPLE"} <= set(infos)
    assert "Jean DUPONT chiffrement" not in infos  # keyEncipherment only: a decryption certificate
    rsa = infos["Jeanne TITULAIRE"]
    assert rsa.key_type == "RSA 2048"
    assert infos["Jeanne TITULAIRE 3072"].key_type == "RSA 3072"
    assert infos["Jeanne TITULAIRE EC"].key_type == "EC P-256"
    assert rsa.organization == "ENTREPRISE EXEMPLE"
    assert rsa.organization_identifier == "NTRFR-12345678900011" and rsa.siren == "123456789"
    assert rsa.issuer == "Compagnon Test Qualified CA"
    assert {"qc_compliance", "qc_sscd", "qc_type:esign"} <= set(rsa.qc_statements)
    assert "0.4.0.194112.1.2" in rsa.policies
    assert "non_repudiation" in rsa.key_usage
    assert rsa.qualified and rsa.trusted and rsa.suitable and rsa.reasons == []
    assert rsa.source.label.startswith(token.label)
    assert rsa.sha256 == hashlib.sha256(token.certificates["qualified"].public_bytes(serialization.Encoding.DER)).hexdigest()
    for name in ("Jeanne TITULAIRE EC", "Jeanne TITULAIRE 3072"):
        assert infos[name].suitable, infos[name].reasons
    plain = infos["Paul SIMPLE"]
    assert not plain.suitable
    assert plain.reasons == [
        "certificat non qualifié (ni QcCompliance, ni politique eIDAS ou RGS**)",
        "pas de nonRepudiation",
    ]
    decryption = {i.subject for i in registry.certificate_infos("decryption")}
    assert "Jean DUPONT chiffrement" in decryption
    # Ids are stable across registries (and runs): the same token and certificate give the same id.
    again = KeyStoreRegistry(_settings(tmp_path, test_pki, token.hsm))
    assert {i.id for i in again.certificate_infos("signing")} == {i.id for i in registry.certificate_infos("signing")}


@pytest.mark.parametrize(
    ("name", "scheme", "opts"),
    [
        ("qualified", "pkcs1v15", ["-pkeyopt", "digest:sha256"]),
        ("qualified", "pss", ["-pkeyopt", "digest:sha256", "-pkeyopt", "rsa_padding_mode:pss", "-pkeyopt", "rsa_pss_saltlen:32"]),
        ("rsa3072", "pkcs1v15", ["-pkeyopt", "digest:sha256"]),
        ("qualified_ec", "ecdsa", []),
    ],
)
def test_digest_signed_on_the_token_verifies_with_openssl(
    tmp_path: Path, test_pki: TestPki, token: ProvisionedToken, name: str, scheme: str, opts: list[str]
) -> None:
    registry = KeyStoreRegistry(_settings(tmp_path, test_pki, token.hsm))
    store = _token_store(registry, token.label)
    key = next(k for k in store.keys() if k.certificate == token.certificates[name])
    digest = hashlib.sha256(b"offre de l'entreprise").digest()
    with store.open(Secret(token.pin)) as session:
        signature = session.sign_digest(key, digest, "sha256", scheme)  # type: ignore[arg-type]
    result = _openssl_verify(tmp_path, key.certificate, digest, signature, *opts)
    assert "Signature Verified Successfully" in result.stdout, result.stderr
    tampered = bytes([signature[0] ^ 1]) + signature[1:]
    assert "Signature Verified Successfully" not in _openssl_verify(tmp_path, key.certificate, digest, tampered, *opts).stdout


@pytest.mark.parametrize("scheme", ["pkcs1v15", "oaep"])
def test_content_key_unwrapped_on_the_token(tmp_path: Path, test_pki: TestPki, token: ProvisionedToken, scheme: str) -> None:
    """OAEP with SHA-1 and MGF1-SHA-1: openssl cms's default, and all SoftHSM 2.6 implements."""
    registry = KeyStoreRegistry(_settings(tmp_path, test_pki, token.hsm))
    store, key = next((s, k) for s, k in registry.keys("decryption") if k.certificate == token.certificates["encryption"])
    content_key = os.urandom(32)
    public = key.certificate.public_key()
    pad = padding.PKCS1v15() if scheme == "pkcs1v15" else padding.OAEP(padding.MGF1(hashes.SHA1()), hashes.SHA1(), None)
    wrapped = public.encrypt(content_key, pad)  # type: ignore[union-attr]
    with store.open(Secret(token.pin)) as session:
        assert session.decrypt_key(key, wrapped, scheme, "sha1") == content_key  # type: ignore[arg-type]
        with pytest.raises(ReportedError) as err:
            session.decrypt_key(key, os.urandom(len(wrapped)), scheme, "sha1")  # type: ignore[arg-type]
        assert err.value.code.value == "KEY_NOT_USABLE"


def test_wrong_pin_reports_the_count_and_never_retries(tmp_path: Path, test_pki: TestPki, softhsm: SoftHsm) -> None:
    label = "Jeton PIN"
    softhsm.init_token(label)
    registry = KeyStoreRegistry(_settings(tmp_path, test_pki, softhsm))
    store = _token_store(registry, label)
    with pytest.raises(ReportedError) as err:
        store.open(Secret("000000"))
    assert err.value.code.value == "PIN_INCORRECT"
    assert err.value.detail["count_low"] is True  # the token's CKF_USER_PIN_COUNT_LOW
    with pytest.raises(ReportedError) as err:
        store.open(None)
    assert err.value.code.value == "PIN_REQUIRED"
    with store.open(Secret(USER_PIN)):
        pass  # one wrong try did not lock it; the right PIN opens


def test_token_inserted_and_removed_while_running(tmp_path: Path, test_pki: TestPki, softhsm: SoftHsm) -> None:
    registry = KeyStoreRegistry(_settings(tmp_path, test_pki, softhsm))
    labels = lambda: {s.token_label for s in registry.stores() if isinstance(s, Pkcs11TokenStore)}  # noqa: E731
    assert "Jeton Branché" not in labels()
    softhsm.init_token("Jeton Branché")
    assert "Jeton Branché" in labels()  # seen without a restart
    softhsm.delete_token("Jeton Branché")
    assert "Jeton Branché" not in labels()


def test_token_removed_during_an_operation(tmp_path: Path, test_pki: TestPki, softhsm: SoftHsm, token: ProvisionedToken) -> None:
    label = "Jeton Retiré"
    softhsm.init_token(label)
    softhsm.import_key(label, test_pki.key_pem("plain"), "plain", b"\x09")
    softhsm.import_certificate(label, x509.load_pem_x509_certificate(test_pki.cert_pem("plain").read_bytes()), "plain", b"\x09")
    registry = KeyStoreRegistry(_settings(tmp_path, test_pki, softhsm))
    store = _token_store(registry, label)
    key = store.keys()[0]
    session = store.open(Secret(USER_PIN))
    digest = hashlib.sha256(b"x").digest()
    session.sign_digest(key, digest, "sha256", "pkcs1v15")
    softhsm.delete_token(label)  # pulled out mid-batch
    with pytest.raises(ReportedError) as err:
        session.sign_digest(key, digest, "sha256", "pkcs1v15")
    assert err.value.code.value == "TOKEN_REMOVED"
    session.close()
    # The agent keeps working: the other token is still listed and usable.
    main = _token_store(registry, token.label)
    main_key = next(k for k in main.keys() if k.certificate == token.certificates["qualified"])
    with main.open(Secret(token.pin)) as s:
        assert s.sign_digest(main_key, digest, "sha256", "pkcs1v15")


@pytest.mark.parametrize("legacy", [False, True], ids=["aes256-pbkdf2", "legacy-3des"])
def test_pkcs12_files_load_and_sign(tmp_path: Path, test_pki: TestPki, legacy: bool) -> None:
    path = test_pki.p12("qualified", "mot de passe", legacy=legacy)
    store = Pkcs12FileStore(path)
    with pytest.raises(ReportedError) as err:
        store.unlock(Secret("faux"))
    assert err.value.code.value == "PIN_INCORRECT"
    (key,) = store.unlock(Secret("mot de passe"))
    assert key.certificate == x509.load_pem_x509_certificate(test_pki.cert_pem("qualified").read_bytes())
    assert len(key.extra_certificates) == 2  # intermediate and root from the bags
    digest = hashlib.sha256(b"pli").digest()
    with store.open(Secret("mot de passe")) as session:
        signature = session.sign_digest(key, digest, "sha256", "pkcs1v15")
    assert "Verified Successfully" in _openssl_verify(tmp_path, key.certificate, digest, signature, "-pkeyopt", "digest:sha256").stdout


def test_pkcs12_folder_lists_files_with_a_published_certificate(tmp_path: Path, test_pki: TestPki, softhsm: SoftHsm) -> None:
    settings = replace(_settings(tmp_path, test_pki, softhsm), pkcs11_modules=())
    folder = settings.p12_dir
    folder.mkdir(parents=True)
    (folder / "jeanne.p12").write_bytes(test_pki.p12("qualified", "secret").read_bytes())
    (folder / "jeanne.crt").write_bytes(test_pki.cert_pem("qualified").read_bytes())
    (folder / "inconnu.p12").write_bytes(test_pki.p12("plain", "secret").read_bytes())  # no published certificate
    registry = KeyStoreRegistry(settings)
    p12 = [i for i in registry.certificate_infos("signing") if i.source.kind == "pkcs12"]
    assert [(i.subject, i.source.label) for i in p12] == [("Jeanne TITULAIRE", "jeanne.p12")]
    store, key = registry.find(p12[0].id)
    with store.open(Secret("secret")) as session:
        assert session.sign_digest(key, hashlib.sha256(b"x").digest(), "sha256", "pkcs1v15")


def test_label_reasons_for_the_test_pki(tmp_path: Path, test_pki: TestPki) -> None:
    from agent.keystores.facts import certificate_info
    from agent.keystores.base import StoredKey, stored_key_id
    from agent.trust import TrustAnchors

    anchors = TrustAnchors([x509.load_pem_x509_certificate(test_pki.root_pem.read_bytes())],
                           [x509.load_pem_x509_certificate(test_pki.intermediate_pem.read_bytes())])
    store = Pkcs12FileStore(tmp_path / "x.p12")

    def info(name: str, anchors: TrustAnchors = anchors, locale: str = "fr"):  # type: ignore[no-untyped-def]
        cert = x509.load_pem_x509_certificate(test_pki.cert_pem(name).read_bytes())
        return certificate_info(StoredKey(stored_key_id("t", cert), cert, name, b""), store, anchors, locale=locale)

    assert info("qualified").suitable
    expired = info("expired")
    assert expired.reasons == ["expiré le 14/06/2022"]
    assert info("expired", locale="en").reasons == ["expired on 06/14/2022"]
    untrusted = info("qualified", TrustAnchors([]))
    assert untrusted.reasons == ["ne remonte pas à une autorité de confiance"] and not untrusted.trusted
    encryption = info("encryption")
    assert "pas de nonRepudiation" in encryption.reasons and encryption.purposes == ["decryption"]
    assert info("qualified", locale="en").reasons == []
    # An RGS** policy configured by the administrator makes a certificate qualified without QCStatements.
    from datetime import UTC, datetime, timedelta

    from cryptography.hazmat.primitives.asymmetric import ec

    issuer = x509.load_pem_x509_certificate(test_pki.intermediate_pem.read_bytes())
    issuer_key = serialization.load_pem_private_key(test_pki.key_pem("intermediate").read_bytes(), None)
    now = datetime.now(UTC)
    rgs = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "Agent RGS")]))
        .issuer_name(issuer.subject).public_key(ec.generate_private_key(ec.SECP256R1()).public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.KeyUsage(True, True, False, False, False, False, False, False, False), True)
        .add_extension(x509.CertificatePolicies([x509.PolicyInformation(x509.ObjectIdentifier("1.2.250.1.99.2.2"), None)]), False)
        .sign(issuer_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    rgs_key = StoredKey("r", rgs, "r", b"")
    assert certificate_info(rgs_key, store, anchors).reasons == [
        "certificat non qualifié (ni QcCompliance, ni politique eIDAS ou RGS**)"
    ]
    assert certificate_info(rgs_key, store, anchors, rgs_policies=("1.2.250.1.99.2.2",)).suitable


def test_an_empty_pin_is_pin_required_and_spends_no_try(tmp_path: Path, test_pki: TestPki, softhsm: SoftHsm) -> None:
    """One rule for an empty PIN (PROTOCOL.md section 2, "PIN"): PIN_REQUIRED, before the token
    sees it; a wrong one stays PIN_INCORRECT."""
    label = "Jeton PIN vide"
    softhsm.init_token(label)
    store = _token_store(KeyStoreRegistry(_settings(tmp_path, test_pki, softhsm)), label)
    with pytest.raises(ReportedError) as err:
        store.open(Secret(""))
    assert err.value.code.value == "PIN_REQUIRED"
    assert store.pin_status()["count_low"] is False  # no try spent
    with pytest.raises(ReportedError) as err:
        store.open(Secret("000000"))
    assert err.value.code.value == "PIN_INCORRECT"


def test_an_empty_password_is_pin_required_for_a_pkcs12_file(tmp_path: Path, test_pki: TestPki) -> None:
    protected = Pkcs12FileStore(test_pki.p12("qualified", "mot de passe"))
    with pytest.raises(ReportedError) as err:
        protected.unlock(Secret(""))
    assert err.value.code.value == "PIN_REQUIRED"
    with pytest.raises(ReportedError) as err:
        protected.unlock(Secret("autre"))
    assert err.value.code.value == "PIN_INCORRECT"
    # A file made without a password opens with the empty one the user gives.
    from cryptography.hazmat.primitives.serialization import pkcs12

    key = serialization.load_pem_private_key(test_pki.key_pem("plain").read_bytes(), password=None)
    cert = x509.load_pem_x509_certificate(test_pki.cert_pem("plain").read_bytes())
    bare = tmp_path / "sans mot de passe.p12"
    bare.write_bytes(pkcs12.serialize_key_and_certificates(b"plain", key, cert, None,  # type: ignore[arg-type]
                                                           serialization.NoEncryption()))
    (held,) = Pkcs12FileStore(bare).unlock(Secret(""))
    assert held.certificate == cert
