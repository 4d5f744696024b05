"""Encryption key pairs ("bi-clés"), docs/SECURITY.md promises 4, 6 and 10: generated non-exportable on
a fresh SoftHSM token, or in a PKCS#12 file (AES-256-CBC, PBKDF2, 0600) that openssl reads; the
self-signed certificates verify and say keyEncipherment; each key opens what ``openssl cms
-encrypt`` made for its certificate; "secours" keys are marked; ``from_certificate`` keeps the
public key; the job registers only the public certificate, only with its own origin.
"""

from __future__ import annotations

import base64
import io
import os
import stat
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from agent.config import Settings
from agent.consent import ConsentDecision, ConsentProvider, ConsentRequest, Secret
from agent.envelopes import decrypt, session_unwrapper
from agent.errors import ErrorCode, ReportedError
from agent.jobs.context import JobServices
from agent.jobs.manager import JobManager
from agent.keystores.base import KeySession, StoredKey
from agent.pki.key_usage import key_purposes
from agent.keystores.keygen import (
    KDF_ROUNDS, POLICY_SECOURS, SECOURS_OU, generate_on_token, generate_p12, is_secours, sidecar_path,
)
from agent.keystores.pkcs11_store import Pkcs11Module, Pkcs11TokenStore
from agent.keystores.pkcs12_store import Pkcs12FileStore
from agent.keystores.registry import KeyStoreRegistry
from agent.kinds.registry import KINDS, platform_client
from bridge_protocol.errors import ProtocolError
from tests.support.platform_server import PlatformServer
from tests.support.softhsm import USER_PIN, SoftHsm

P12_PASSWORD = "Mot de passe du bi-clé 2026"
BEARER = "jeton-enregistrement-42"
PLAINTEXT = os.urandom(50_000) + "Offre — lot n° 2\n".encode()


# -- helpers ----------------------------------------------------------------------------------------


def _openssl(*args: str, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["openssl", *args], capture_output=True, input=input, timeout=60)


def _envelope_for(cert: x509.Certificate, folder: Path, *options: str) -> bytes:
    """``openssl cms -encrypt`` of PLAINTEXT to ``cert``."""
    pem = folder / f"recipient-{cert.serial_number:x}.pem"
    pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    source = folder / "offre.bin"
    source.write_bytes(PLAINTEXT)
    result = _openssl("cms", "-encrypt", "-binary", "-aes256", "-in", str(source), "-outform", "DER",
                      "-recip", str(pem), *options)
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout


def _opens(envelope: bytes, session: KeySession, keys: list[StoredKey]) -> bool:
    out = io.BytesIO()
    decrypt(io.BytesIO(envelope), out, session_unwrapper(session, keys))
    return out.getvalue() == PLAINTEXT


def _check_encryption_certificate(cert: x509.Certificate, folder: Path, name: str) -> None:
    """Self-signed, verified by cryptography and by openssl; keyEncipherment (critical), not a CA."""
    cert.verify_directly_issued_by(cert)
    assert cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == name
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.key_encipherment and not usage.value.digital_signature
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert key_purposes(cert) == ["decryption"]
    assert cert.not_valid_after_utc - cert.not_valid_before_utc > timedelta(days=3 * 365 - 1)
    pem = folder / "self-signed.pem"
    pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    verified = _openssl("verify", "-check_ss_sig", "-partial_chain", "-CAfile", str(pem), str(pem))
    assert verified.returncode == 0 and b": OK" in verified.stdout, verified.stdout + verified.stderr
    text = _openssl("x509", "-in", str(pem), "-noout", "-text").stdout.decode()
    assert "X509v3 Key Usage: critical" in text and "Key Encipherment" in text


def _existing_certificate(folder: Path) -> tuple[rsa.RSAPrivateKey, x509.Certificate, Path]:
    """A key and a certificate from some CA, as a user already holds ("certificat existant")."""
    ca_key = rsa.generate_private_key(65537, 2048)
    key = rsa.generate_private_key(65537, 2048)
    now = datetime.now(UTC)
    ca_name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "AC Exemple")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "Paul EXISTANT")]))
        .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=365))
        .add_extension(x509.KeyUsage(True, False, True, False, False, False, False, False, False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key_pem = folder / "existant.key.pem"
    key_pem.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return key, cert, key_pem


def _token(module: Pkcs11Module, label: str) -> Pkcs11TokenStore:
    return next(s for s in module.tokens() if s.token_label == label)


class Recorder(ConsentProvider):
    """Approves, answering ``pin`` in the PIN field; remembers what it was asked."""

    def __init__(self, pin: str) -> None:
        self.pin = pin
        self.requests: list[ConsentRequest] = []

    async def ask(self, request: ConsentRequest) -> ConsentDecision:
        self.requests.append(request)
        return ConsentDecision(approved=True, pin=Secret(self.pin))


def _manager(tmp_path: Path, consent: ConsentProvider, *, modules: tuple[Path, ...] = (),
             p12: tuple[Pkcs12FileStore, ...] = (), local: bool = False) -> JobManager:
    settings = Settings(state_dir=tmp_path / "state", log_dir=tmp_path / "log", trust_system=False,
                        pkcs11_modules=(), p12_dir=tmp_path / "keys")
    registry = KeyStoreRegistry(settings, extra_modules=modules, p12=p12, discover=False)
    return JobManager(JobServices(settings=settings, consent=consent, keystores=registry, local=local),
                      kinds=KINDS, platform_client=platform_client)


async def _run(manager: JobManager, origin: str, params: dict[str, Any]) -> dict[str, Any]:
    job = manager.start(origin, "keygen", params)
    return (await manager.wait(job.id)).snapshot()


# -- engines ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def keygen_token(softhsm: SoftHsm) -> Iterator[tuple[Pkcs11Module, str]]:
    label = "Bi-cles Compagnon"
    softhsm.init_token(label)
    yield Pkcs11Module(softhsm.module), label


def test_token_key_is_non_exportable_and_decrypts(keygen_token: tuple[Pkcs11Module, str], tmp_path: Path) -> None:
    import pkcs11
    from pkcs11 import Attribute, KeyType, Mechanism, MechanismFlag, ObjectClass
    from pkcs11 import exceptions as p11e

    module, label = keygen_token
    store = _token(module, label)
    with store.open(Secret(USER_PIN)) as session:
        cert = generate_on_token(store, session, "Jean DUPONT", 2048, secours=False, organization="ENTREPRISE EXEMPLE")
    _check_encryption_certificate(cert, tmp_path, "Jean DUPONT")
    assert not is_secours(cert) and cert.public_key().key_size == 2048  # type: ignore[union-attr]
    (key,) = [k for k in store.keys() if k.certificate == cert]
    assert key.label == "Jean DUPONT" and len(key.handle) == 16

    # The private key, as the token describes it (PKCS#11 v2.40 section 4.9).
    with module.lib.get_token(token_label=label).open(user_pin=USER_PIN) as raw:
        private = raw.get_key(object_class=ObjectClass.PRIVATE_KEY, id=key.handle)
        assert private[Attribute.EXTRACTABLE] is False and private[Attribute.NEVER_EXTRACTABLE] is True
        assert private[Attribute.SENSITIVE] is True and private[Attribute.ALWAYS_SENSITIVE] is True
        assert private[Attribute.TOKEN] is True and private[Attribute.PRIVATE] is True
        assert private[Attribute.DECRYPT] is True and private[Attribute.UNWRAP] is True
        assert private[Attribute.LOCAL] is True  # generated on the token, never imported
        with pytest.raises(p11e.AttributeSensitive):
            private[Attribute.PRIVATE_EXPONENT]
        with pytest.raises(p11e.AttributeSensitive):
            private[Attribute.PRIME_1]
        wrapping = raw.generate_key(KeyType.AES, 256, capabilities=MechanismFlag.WRAP | MechanismFlag.ENCRYPT)
        with pytest.raises((p11e.KeyUnextractable, p11e.KeyNotWrappable)):
            wrapping.wrap_key(private, mechanism=Mechanism.AES_KEY_WRAP_PAD)
        public = raw.get_key(object_class=ObjectClass.PUBLIC_KEY, id=key.handle)
        modulus = cert.public_key().public_numbers().n  # type: ignore[union-attr]
        assert int.from_bytes(public[Attribute.MODULUS], "big") == modulus
        certificate_object = next(raw.get_objects({Attribute.CLASS: ObjectClass.CERTIFICATE, Attribute.ID: key.handle}))
        assert bytes(certificate_object[Attribute.VALUE]) == cert.public_bytes(serialization.Encoding.DER)
    del pkcs11

    # The key opens what openssl encrypted to its certificate (PKCS#1 v1.5 and OAEP).
    plain, oaep = _envelope_for(cert, tmp_path), _envelope_for(cert, tmp_path, "-keyopt", "rsa_padding_mode:oaep")
    with store.open(Secret(USER_PIN)) as session:
        assert _opens(plain, session, [key]) and _opens(oaep, session, [key])

    # A secours key on the same token is marked so in the certificate.
    with store.open(Secret(USER_PIN)) as session:
        backup = generate_on_token(store, session, "Cellule marchés", 2048, secours=True)
    assert is_secours(backup)
    assert backup.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value == SECOURS_OU
    assert any(k.label == "Cellule marchés (secours)" for k in store.keys())


async def test_failures_leave_nothing_behind(keygen_token: tuple[Pkcs11Module, str], softhsm: SoftHsm,
                                            tmp_path: Path, platform: PlatformServer) -> None:
    """A wrong PIN generates nothing; a generation cancelled after the key pair was made removes it
    (token objects destroyed, no file written)."""
    module, label = keygen_token
    store = _token(module, label)
    before = len(store.keys())
    final = await _run(_manager(tmp_path, Recorder("000000"), modules=(softhsm.module,)), platform.origin,
                       {"name": "Jean DUPONT", "target": "pkcs11", "token_label": label})
    assert final["state"] == "failed" and final["error"]["code"] == "PIN_INCORRECT"

    class Stop(Exception):
        pass

    def cancelled() -> None:
        raise Stop()

    with store.open(Secret(USER_PIN)) as session, pytest.raises(Stop):
        generate_on_token(store, session, "Annulé", 2048, secours=False, check_cancelled=cancelled)
    with module.lib.get_token(token_label=label).open(user_pin=USER_PIN) as raw:
        from pkcs11 import Attribute

        assert not list(raw.get_objects({Attribute.LABEL: "Annulé"}))
    assert len(store.keys()) == before
    with pytest.raises(Stop):
        generate_p12(tmp_path / "keys", "Annulé", 2048, False, Secret(P12_PASSWORD), check_cancelled=cancelled)
    assert not (tmp_path / "keys").exists() or not list((tmp_path / "keys").iterdir())


def test_p12_file_is_aes256_pbkdf2_0600_and_decrypts(tmp_path: Path) -> None:
    folder = tmp_path / "Clés"
    path = generate_p12(folder, "Jeanne MARTIN", 2048, True, Secret(P12_PASSWORD))
    assert path.parent == folder and path.name == "Jeanne MARTIN - secours.p12"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]  # no temporary file left

    info = _openssl("pkcs12", "-info", "-noout", "-in", str(path), "-passin", f"pass:{P12_PASSWORD}")
    report = info.stdout.decode() + info.stderr.decode()
    assert info.returncode == 0, report
    assert "Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC" in report
    assert "PKCS7 Encrypted data: PBES2, PBKDF2, AES-256-CBC" in report
    assert f"Iteration {KDF_ROUNDS}" in report and "PRF hmacWithSHA256" in report
    assert f"MAC: sha256, Iteration {KDF_ROUNDS}" in report  # the MAC is as slow to attack as the bags
    assert _openssl("pkcs12", "-info", "-noout", "-in", str(path), "-passin", "pass:autre chose").returncode != 0

    # Listed before unlocking, through the public sidecar; the same certificate once unlocked.
    store = Pkcs12FileStore(path)
    (listed,) = store.keys()
    assert sidecar_path(path).name == "Jeanne MARTIN - secours.crt"
    cert = listed.certificate
    _check_encryption_certificate(cert, tmp_path, "Jeanne MARTIN")
    assert is_secours(cert)
    policies = cert.extensions.get_extension_for_class(x509.CertificatePolicies).value
    assert [p.policy_identifier for p in policies] == [POLICY_SECOURS]
    assert b"PRIVATE KEY" not in sidecar_path(path).read_bytes()

    envelope = _envelope_for(cert, tmp_path, "-keyopt", "rsa_padding_mode:oaep", "-keyopt", "rsa_oaep_md:sha256")
    with store.open(Secret(P12_PASSWORD)) as session:
        assert store.keys()[0].certificate == cert
        assert _opens(envelope, session, store.keys())
    with pytest.raises(ReportedError) as err:
        Pkcs12FileStore(path).open(Secret("mauvais mot de passe"))
    assert err.value.code == ErrorCode.PIN_INCORRECT

    # A second key of the same name gets its own file; a short password makes none.
    again = generate_p12(folder, "Jeanne MARTIN", 2048, True, Secret(P12_PASSWORD))
    assert again.name == "Jeanne MARTIN - secours (2).p12"
    with pytest.raises(ReportedError) as err:
        generate_p12(folder, "Court", 2048, False, Secret("abc"))
    assert err.value.code == ErrorCode.PIN_REQUIRED
    assert sorted(p.name for p in folder.iterdir()) == [
        "Jeanne MARTIN - secours (2).crt", "Jeanne MARTIN - secours (2).p12",
        "Jeanne MARTIN - secours.crt", "Jeanne MARTIN - secours.p12",
    ]


# -- the job ----------------------------------------------------------------------------------------


async def test_job_registers_only_the_public_certificate(tmp_path: Path, platform: PlatformServer,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    platform.token = BEARER
    consent = Recorder(P12_PASSWORD)
    manager = _manager(tmp_path, consent)
    final = await _run(manager, platform.origin, {
        "name": "Jean DUPONT", "secours": True, "register_url": "/keys", "token": BEARER,
    })
    assert final["state"] == "succeeded", final
    result = final["result"]
    assert result["store"] == "pkcs12" and result["secours"] is True and result["registered"] is True
    assert result["location"] == "Jean DUPONT - secours.p12" and result["bits"] == 2048
    assert [s["state"] for s in final["steps"]] == ["succeeded"] * 4

    # What the user was asked (promise 4): the name, the size, the file, the secours mark.
    (request,) = consent.requests
    assert request.action == "keygen" and request.needs_pin and request.origin == platform.origin
    assert "Jean DUPONT" in request.summary and "2048" in request.summary and result["location"] in request.summary
    assert "secours" in request.summary

    # The file and the result agree; the id is the one certificates.list gives.
    path = tmp_path / "keys" / result["location"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    (listed,) = Pkcs12FileStore(path).keys()
    assert listed.id == result["id"] and listed.sha256 == result["sha256"]
    assert x509.load_pem_x509_certificate(result["certificate"].encode()) == listed.certificate

    # The platform got the public certificate, and nothing of the private key nor the password.
    (sent,) = platform.keys
    body = sent["body"]
    assert isinstance(body, bytes)
    assert sent["json"] == {"name": "Jean DUPONT", "secours": True, "certificate": result["certificate"],
                            "sha256": result["sha256"]}
    private = pkcs12.load_pkcs12(path.read_bytes(), P12_PASSWORD.encode()).key
    assert isinstance(private, rsa.RSAPrivateKey)
    numbers = private.private_numbers()
    for secret_number in (numbers.d, numbers.p, numbers.q):
        raw = secret_number.to_bytes((secret_number.bit_length() + 7) // 8, "big")
        for form in (raw, raw.hex().encode(), base64.b64encode(raw), str(secret_number).encode()):
            assert form not in body
    assert b"PRIVATE KEY" not in body and P12_PASSWORD.encode() not in body
    # Nothing secret in the snapshot either (it is what pages and the job store see).
    assert BEARER not in str(final) and P12_PASSWORD not in str(final) and "PRIVATE" not in str(final)
    assert BEARER not in caplog.text and P12_PASSWORD not in caplog.text


async def test_register_url_of_another_origin_generates_nothing(tmp_path: Path, platform: PlatformServer) -> None:
    consent = Recorder(P12_PASSWORD)
    manager = _manager(tmp_path, consent)
    for url in ("http://127.0.0.1:9/keys", "https://autre-plateforme.example/keys", "file:///etc/passwd"):
        final = await _run(manager, platform.origin, {"name": "Jean DUPONT", "register_url": url})
        assert final["state"] == "failed" and final["error"]["code"] == "ORIGIN_NOT_ALLOWED", final
    assert consent.requests == []  # refused before the consent: nothing was asked, nothing generated
    assert not (tmp_path / "keys").exists() and platform.keys == []
    # A page cannot name where the file goes (promise 5).
    with pytest.raises(ProtocolError) as err:
        await _run(manager, platform.origin, {"name": "Jean DUPONT", "out": str(tmp_path / "ici.p12")})
    assert err.value.code == ErrorCode.INVALID_PARAMS and err.value.detail["path"] == "/params/out"
    assert not (tmp_path / "ici.p12").exists() and consent.requests == []


async def test_refusals_and_platform_errors(tmp_path: Path, platform: PlatformServer) -> None:
    class Refuse(ConsentProvider):
        async def ask(self, request: ConsentRequest) -> ConsentDecision:
            return ConsentDecision(approved=False)

    refused = await _run(_manager(tmp_path, Refuse()), platform.origin, {"name": "Jean DUPONT"})
    assert refused["state"] == "failed" and refused["error"]["code"] == "USER_CANCELLED"
    short = await _run(_manager(tmp_path, Recorder("1234")), platform.origin, {"name": "Jean DUPONT"})
    assert short["state"] == "failed" and short["error"]["code"] == "PIN_REQUIRED"
    assert not (tmp_path / "keys").exists() or not list((tmp_path / "keys").iterdir())

    # Registration refused: the key exists (the page gets its certificate), registered is false.
    platform.keys_status = 409
    final = await _run(_manager(tmp_path, Recorder(P12_PASSWORD)), platform.origin,
                       {"name": "Jean DUPONT", "register_url": f"{platform.origin}/keys"})
    assert final["state"] == "succeeded", final
    result = final["result"]
    assert result["registered"] is False and "409" in result["register_error"]["message"]
    assert final["steps"][2]["state"] == "failed" and (tmp_path / "keys" / result["location"]).is_file()
    # No registration asked: the step is skipped.
    plain = await _run(_manager(tmp_path, Recorder(P12_PASSWORD)), platform.origin, {"name": "Jean DUPONT"})
    assert plain["steps"][2]["state"] == "skipped" and plain["result"]["registered"] is False
    assert plain["result"]["location"] == "Jean DUPONT - chiffrement (2).p12"  # the first one is kept


async def test_job_on_a_token_and_from_an_existing_certificate(
    keygen_token: tuple[Pkcs11Module, str], softhsm: SoftHsm, tmp_path: Path, platform: PlatformServer,
) -> None:
    module, label = keygen_token
    _, existing, key_pem = _existing_certificate(tmp_path)
    softhsm.import_key(label, key_pem, "existant", b"\xee\x01")
    softhsm.import_certificate(label, existing, "existant", b"\xee\x01")
    consent = Recorder(USER_PIN)
    manager = _manager(tmp_path, consent, modules=(softhsm.module,))
    registry = manager.services.keystores
    assert registry is not None

    # On the token named by its label.
    final = await _run(manager, platform.origin, {"name": "Marie ACHETEUSE", "target": "pkcs11", "token_label": label,
                                                  "register_url": "/keys"})
    assert final["state"] == "succeeded", final
    result = final["result"]
    assert result["store"] == "pkcs11" and result["location"] == label and result["registered"] is True
    assert label in consent.requests[-1].summary and consent.requests[-1].needs_pin
    store, key = registry.find(result["id"])
    assert store.kind == "pkcs11" and key.sha256 == result["sha256"]

    # On the key of the existing certificate: same public key, new certificate beside it.
    existing_id = next(k.id for _, k in registry.keys() if k.certificate == existing)
    final = await _run(manager, platform.origin, {"name": "Paul EXISTANT", "from_certificate": existing_id})
    assert final["state"] == "succeeded", final
    result = final["result"]
    assert "Paul EXISTANT" in consent.requests[-1].summary and consent.requests[-1].certificate
    renewed = x509.load_pem_x509_certificate(result["certificate"].encode())
    assert renewed.public_key() == existing.public_key() and renewed != existing
    _check_encryption_certificate(renewed, tmp_path, "Paul EXISTANT")
    store, key = registry.find(result["id"])
    assert key.handle == b"\xee\x01"
    with store.open(Secret(USER_PIN)) as session:
        assert _opens(_envelope_for(renewed, tmp_path), session, [key])

    # The token named by a certificate on it (an id from certificates.list).
    final = await _run(manager, platform.origin, {"name": "Luc SECOURS", "secours": True, "target": "pkcs11",
                                                  "token_certificate": existing_id})
    assert final["state"] == "succeeded" and final["result"]["location"] == label, final
    assert final["result"]["secours"] is True
    # A page naming a token that is not there.
    final = await _run(manager, platform.origin, {"name": "X", "target": "pkcs11", "token_label": "Absent"})
    assert final["state"] == "failed" and final["error"]["code"] == "TOKEN_REMOVED"


async def test_from_an_existing_pkcs12_certificate_on_the_command_line(tmp_path: Path) -> None:
    key, existing, _ = _existing_certificate(tmp_path)
    source = tmp_path / "existant.p12"
    protection = serialization.BestAvailableEncryption(P12_PASSWORD.encode())
    source.write_bytes(pkcs12.serialize_key_and_certificates(b"existant", key, existing, None, protection))
    original = source.read_bytes()
    store = Pkcs12FileStore(source)
    (held,) = store.unlock(Secret(P12_PASSWORD))
    out = tmp_path / "sortie"
    out.mkdir()
    manager = _manager(tmp_path, Recorder(P12_PASSWORD), p12=(store,), local=True)
    final = await _run(manager, "cli:", {"name": "Paul EXISTANT", "secours": True, "from_certificate": held.id,
                                         "out": str(out)})
    assert final["state"] == "succeeded", final
    result = final["result"]
    path = Path(result["location"])
    assert path.parent == out and path.name == "Paul EXISTANT - secours.p12"  # the command line gets the path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and sidecar_path(path).is_file()
    bundle = pkcs12.load_pkcs12(path.read_bytes(), P12_PASSWORD.encode())
    assert bundle.cert is not None and bundle.cert.certificate.public_key() == existing.public_key()
    assert is_secours(bundle.cert.certificate) and result["secours"] is True
    new_store = Pkcs12FileStore(path)
    with new_store.open(Secret(P12_PASSWORD)) as session:
        assert _opens(_envelope_for(bundle.cert.certificate, tmp_path), session, new_store.keys())
    assert source.read_bytes() == original  # the source file is left as it was
