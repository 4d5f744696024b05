"""Encryption key pairs for sealed bids ("bi-clés de chiffrement"), docs/SECURITY.md promise 10.

Three ways to get one, each ending with a self-signed encryption certificate:

* ``generate_on_token`` — an RSA key pair generated on a PKCS#11 token (PKCS#11 v2.40 base
  specification, key management function ``C_GenerateKeyPair``; current mechanisms section 2.1.4
  ``CKM_RSA_PKCS_KEY_PAIR_GEN``) with the private key ``CKA_SENSITIVE=TRUE`` and
  ``CKA_EXTRACTABLE=FALSE`` (base specification section 4.9, private key objects): it can never be
  read out. The certificate is signed *on the token* (``CKM_RSA_PKCS`` over the DigestInfo,
  RFC 8017 section 9.2) and stored beside the key as a ``CKO_CERTIFICATE`` object with the same
  ``CKA_ID`` (section 4.6.3), the link middleware and ``Pkcs11TokenStore.keys`` rely on.
* ``generate_p12`` — a software key in a PKCS#12 file (RFC 7292): PBES2 with PBKDF2-HMAC-SHA256
  and AES-256-CBC (RFC 8018 sections 6.2 and 5.2) for the key and certificate bags, an
  HMAC-SHA256 integrity MAC whose key derivation (RFC 7292 appendix B.2) gets the same iteration
  count as PBKDF2, mode 0600, written under a temporary name and linked into place without ever
  replacing an existing file. The public certificate is published beside it as ``<stem>.crt``
  so the registry lists the file before it is unlocked.
* ``certificate_for_existing_key`` — "sur la base d'un certificat existant": a new encryption
  certificate for the RSA key of a certificate the user already holds, signed by that key through
  its ``KeySession`` (the public key is unchanged; the private key stays where it is).

Certificates (RFC 5280): subject CN=name [+ O] [+ OU="Clé de secours"], keyUsage keyEncipherment
(critical, section 4.2.1.3) — the RSA key transport of CMS EnvelopedData (RFC 5652 section
6.2.1) —, basicConstraints cA=FALSE (section 4.2.1.9), subject and authority key identifiers
(sections 4.2.1.2 and 4.2.1.1, method 1), a certificate policy (section 4.2.1.4) saying whether
the key is a personal key or a "secours" (backup) key, and three years of validity.

Policy OIDs live under Compagnon's arc ``2.25.11012432914576234736491188936737201850``, an OID
derived from a random UUID as ITU-T X.667 | ISO/IEC 9834-8 allows anyone to do without
registration (the ``2.25`` arc). Allocations below it:

* ``<arc>.1``   certificate policies of key pairs made by Compagnon
* ``<arc>.1.1`` personal encryption key ("bi-clé personnel")
* ``<arc>.1.2`` backup encryption key ("bi-clé de secours"), to which platforms encrypt every bid

python-pkcs11 calls block: call these functions from a worker thread.

Kept as one module: the three ways share the holder's name rules, the certificate template and the
policy OIDs above; the PKCS#12 writing (its MAC strengthened, never replacing a file) is the one
seam left, kept here as only ``generate_p12`` and ``rebind_p12`` use it.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import secrets
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from asn1crypto import algos, core, pkcs12 as asn1_pkcs12
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from ..errors import ErrorCode, ReportedError
from ..fsutil import atomic_write_bytes, temporary_sibling
from ..i18n import Text
from ..secret import Secret
from .base import KeySession, StoredKey
from .pkcs12_store import SIDECAR_SUFFIXES, Pkcs12FileStore

if TYPE_CHECKING:
    from .pkcs11_store import Pkcs11TokenStore

log = logging.getLogger(__name__)

KEY_SIZES = (2048, 3072, 4096)
PUBLIC_EXPONENT = 65537
VALIDITY = timedelta(days=3 * 365)
#: Backdating against clocks a little behind (RFC 5280 section 4.1.2.5 says nothing; practice).
BACKDATE = timedelta(minutes=10)
#: PBKDF2-HMAC-SHA256 iterations for the PKCS#12 bags and MAC (OWASP 2023 figure for SHA-256).
KDF_ROUNDS = 600_000
MIN_PASSWORD_LENGTH = 8
MAX_NAME_LENGTH = 200

COMPAGNON_ARC = "2.25.11012432914576234736491188936737201850"
POLICY_PERSONAL = x509.ObjectIdentifier(f"{COMPAGNON_ARC}.1.1")
POLICY_SECOURS = x509.ObjectIdentifier(f"{COMPAGNON_ARC}.1.2")
SECOURS_OU = "Clé de secours"

_SIGNATURE_ALGORITHM = "sha256_rsa"  # sha256WithRSAEncryption (RFC 4055 section 5)
DigestSigner = Callable[[bytes], bytes]
"""Signs a SHA-256 digest with RSASSA-PKCS1-v1_5 (RFC 8017 section 8.2) and returns the signature."""


@dataclass(frozen=True)
class KeyHolder:
    """Who a certificate is for, as its subject says it."""

    name: str
    organization: str | None = None
    secours: bool = False

    def subject(self) -> x509.Name:
        attributes = []
        if self.organization:
            attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, self.organization))
        if self.secours:
            attributes.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, SECOURS_OU))
        attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, self.name))
        return x509.Name(attributes)


# -- names and passwords --------------------------------------------------------------------------


def clean_name(name: str, what: str = "nom") -> str:
    """A holder's name fit for a certificate subject: trimmed, NFC, no control characters, 1 to 200
    characters (RFC 5280 appendix A ``ub-common-name`` is 64, but platforms show longer names;
    UTF8String has no such bound in practice)."""
    cleaned = unicodedata.normalize("NFC", " ".join(name.split()))
    if not cleaned:
        raise ReportedError(ErrorCode.INVALID_PARAMS, reason=Text("{w} vide", "empty {w}").filled(w=what))
    if len(cleaned) > MAX_NAME_LENGTH:
        raise ReportedError(ErrorCode.INVALID_PARAMS, reason=Text("{w} trop long ({n} caractères au plus)",
                                                                  "{w} too long ({n} characters at most)").filled(w=what, n=MAX_NAME_LENGTH))
    if any(unicodedata.category(c)[0] == "C" for c in cleaned):
        raise ReportedError(ErrorCode.INVALID_PARAMS, reason=Text("{w} : caractères de contrôle refusés", "{w}: control characters refused").filled(w=what))
    return cleaned


def check_new_password(password: Secret | None) -> bytes:
    """The new PKCS#12 file's password, refused when absent or shorter than 8 characters."""
    if password is None or not password.reveal():
        raise ReportedError(ErrorCode.PIN_REQUIRED, "Choisissez un mot de passe pour protéger le fichier du bi-clé.",
                                                    "Choose a password to protect the key pair's file.")
    if len(password.reveal()) < MIN_PASSWORD_LENGTH:
        raise ReportedError(ErrorCode.PIN_REQUIRED,
                            f"Mot de passe trop court : {MIN_PASSWORD_LENGTH} caractères au moins.",
                            f"Password too short: at least {MIN_PASSWORD_LENGTH} characters.")
    return password.reveal().encode("utf-8")


def file_stem(name: str, secours: bool) -> str:
    """``Jean DUPONT - chiffrement`` / ``Jean DUPONT - secours``: a name safe on every file system."""
    safe = re.sub(r'[<>:"/\\|?*\x00-\x1f]', "_", name).strip(" .") or "bi-clé"
    return f"{safe[:100]} - {'secours' if secours else 'chiffrement'}"


def new_p12_path(folder: Path, name: str, secours: bool) -> Path:
    """A free ``<stem>.p12`` in ``folder``: neither the file nor a sidecar of that stem exists."""
    stem = file_stem(name, secours)
    for n in range(1, 1000):
        candidate = folder / (f"{stem}.p12" if n == 1 else f"{stem} ({n}).p12")
        taken = [candidate, candidate.with_suffix(".pfx"), *(candidate.with_suffix(s) for s in SIDECAR_SUFFIXES)]
        if not any(p.exists() for p in taken):
            return candidate
    raise ReportedError(ErrorCode.INVALID_PARAMS, reason=Text("trop de fichiers de ce nom", "too many files of this name"))


def sidecar_path(p12: Path) -> Path:
    """Where the public certificate of ``p12`` is published (``Pkcs12FileStore`` reads it there)."""
    return p12.with_suffix(".crt")


# -- certificates ---------------------------------------------------------------------------------


def is_secours(certificate: x509.Certificate) -> bool:
    """Whether a certificate is marked as a backup ("secours") key: our policy OID or the OU."""
    try:
        policies = certificate.extensions.get_extension_for_class(x509.CertificatePolicies).value
        if any(p.policy_identifier == POLICY_SECOURS for p in policies):
            return True
    except x509.ExtensionNotFound:
        pass
    units = certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)
    return any(a.value == SECOURS_OU for a in units)


_placeholder: rsa.RSAPrivateKey | None = None


def _placeholder_key() -> rsa.RSAPrivateKey:
    """A throwaway key for ``CertificateBuilder.sign``: only its algorithm identifier (the same
    sha256WithRSAEncryption for every RSA key size) reaches the TBSCertificate we keep."""
    global _placeholder
    if _placeholder is None:
        _placeholder = rsa.generate_private_key(PUBLIC_EXPONENT, 1024)
    return _placeholder


def encryption_certificate(public_key: rsa.RSAPublicKey, holder: KeyHolder, sign_digest: DigestSigner,
                           now: datetime | None = None) -> x509.Certificate:
    """A self-signed encryption certificate for ``public_key`` whose signature comes from
    ``sign_digest`` (a token, a key session or a software key).

    cryptography's builder only signs with keys it holds, so the TBSCertificate (RFC 5280 section
    4.1) is built by signing with a placeholder key, its bytes are hashed and signed by the real
    key, and the Certificate is assembled with asn1crypto around the very same TBS bytes. The
    result is checked against ``public_key`` before it is returned.
    """
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise ReportedError(ErrorCode.KEY_NOT_USABLE, "Un bi-clé de chiffrement doit être une clé RSA.",
                                                      "An encryption key pair must be an RSA key.")
    now = now or datetime.now(UTC)
    subject = holder.subject()
    policy = POLICY_SECOURS if holder.secours else POLICY_PERSONAL
    ski = x509.SubjectKeyIdentifier.from_public_key(public_key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=False, content_commitment=False, key_encipherment=True, data_encipherment=False,
            key_agreement=False, key_cert_sign=False, crl_sign=False, encipher_only=False, decipher_only=False,
        ), critical=True)
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier(ski.digest, None, None), critical=False)
        .add_extension(x509.CertificatePolicies([x509.PolicyInformation(policy, None)]), critical=False)
    )
    draft = builder.sign(_placeholder_key(), hashes.SHA256())
    tbs_der = draft.tbs_certificate_bytes
    signature = sign_digest(hashlib.sha256(tbs_der).digest())
    tbs = asn1_x509.TbsCertificate.load(tbs_der)
    if tbs["signature"]["algorithm"].native != _SIGNATURE_ALGORITHM:
        raise AssertionError("unexpected TBS signature algorithm")
    assembled = asn1_x509.Certificate({
        "tbs_certificate": tbs,
        "signature_algorithm": algos.SignedDigestAlgorithm({"algorithm": _SIGNATURE_ALGORITHM,
                                                            "parameters": core.Null()}),
        "signature_value": signature,
    }).dump()
    certificate = x509.load_der_x509_certificate(assembled)
    if certificate.tbs_certificate_bytes != tbs_der:
        raise AssertionError("TBSCertificate changed while assembling")
    try:
        public_key.verify(signature, tbs_der, padding.PKCS1v15(), hashes.SHA256())
    except Exception as exc:  # InvalidSignature: the token or session signed with another key
        raise ReportedError(ErrorCode.KEY_NOT_USABLE, "La signature du certificat ne correspond pas à la clé.",
                                                      "The certificate's signature does not match the key.") from exc
    return certificate


def _software_signer(key: rsa.RSAPrivateKey) -> DigestSigner:
    return lambda digest: key.sign(digest, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))


def _check_bits(bits: int) -> None:
    if bits not in KEY_SIZES:
        raise ReportedError(ErrorCode.INVALID_PARAMS, reason=Text("taille de clé : 2048, 3072 ou 4096 bits", "key size: 2048, 3072 or 4096 bits"))


# -- PKCS#11 tokens -------------------------------------------------------------------------------


@contextmanager
def _rw_session(store: Pkcs11TokenStore, session: Any) -> Iterator[Any]:
    """A read/write PKCS#11 session on the token of ``session``.

    ``Pkcs11TokenStore.open`` gives read-only sessions; creating token objects needs a R/W one
    (``C_GenerateKeyPair`` and ``C_CreateObject`` answer CKR_SESSION_READ_ONLY otherwise). Login
    state belongs to the application, not to a session (PKCS#11 v2.40 session states: a R/W
    session opened while the user is logged in is in ``CKS_RW_USER_FUNCTIONS``), so it may create
    private objects without a second login: the PIN is typed once.
    """
    raw = getattr(session, "session", session)  # a Pkcs11Session, or already a python-pkcs11 session
    if raw.rw:
        yield raw
        return
    with store.module.lock:
        rw = raw.token.open(rw=True)
    try:
        yield rw
    finally:
        with store.module.lock:
            rw.close()


def _token_failure(store: Pkcs11TokenStore, exc: Exception, bits: int | None = None) -> ReportedError:
    from pkcs11 import exceptions as p11e

    from .pkcs11_store import _token_error

    unsupported = (p11e.MechanismInvalid, p11e.KeySizeRange, p11e.TemplateInconsistent,
                   p11e.AttributeValueInvalid, p11e.AttributeTypeInvalid, p11e.TemplateIncomplete)
    if bits is not None and isinstance(exc, unsupported):
        log.warning("token %r cannot generate RSA %d: %s", store.token_label, bits, type(exc).__name__)
        return ReportedError(ErrorCode.KEY_NOT_USABLE, f"Ce support ne sait pas générer une clé RSA de {bits} bits.",
                                                       f"This token cannot generate an RSA key of {bits} bits.")
    if isinstance(exc, (p11e.DeviceMemory, p11e.HostMemory)):
        return ReportedError(ErrorCode.KEY_NOT_USABLE, "Le support est plein : supprimez une clé inutile.",
                                                       "The token is full: delete a key you no longer need.")
    if isinstance(exc, p11e.UserNotLoggedIn):
        return ReportedError(ErrorCode.PIN_REQUIRED)
    return _token_error(store.module, store.serial, store.token_label, exc)


def _fresh_id(session: Any) -> bytes:
    """A CKA_ID no object of the token has yet (16 random bytes)."""
    from pkcs11 import Attribute

    for _ in range(8):
        candidate = secrets.token_bytes(16)
        if not list(session.get_objects({Attribute.ID: candidate})):
            return candidate
    raise ReportedError(ErrorCode.KEY_NOT_USABLE)


def _der_integer(value: int) -> bytes:
    return core.Integer(value).dump()


def _certificate_template(certificate: x509.Certificate, key_id: bytes, label: str) -> dict[Any, Any]:
    """A public X.509 certificate object (PKCS#11 v2.40 section 4.6.3) linked to its key by CKA_ID."""
    from pkcs11 import Attribute, CertificateType, ObjectClass

    return {
        Attribute.CLASS: ObjectClass.CERTIFICATE,
        Attribute.CERTIFICATE_TYPE: CertificateType.X_509,
        Attribute.TOKEN: True,
        Attribute.PRIVATE: False,
        Attribute.LABEL: label,
        Attribute.ID: key_id,
        Attribute.SUBJECT: certificate.subject.public_bytes(),
        Attribute.ISSUER: certificate.issuer.public_bytes(),
        Attribute.SERIAL_NUMBER: _der_integer(certificate.serial_number),
        Attribute.VALUE: certificate.public_bytes(serialization.Encoding.DER),
    }


def token_label_for(name: str, secours: bool) -> str:
    """The CKA_LABEL of the key pair and certificate: what the user recognises in a token tool."""
    return f"{name} (secours)" if secours else name


def generate_on_token(store: Pkcs11TokenStore, session: Any, name: str, bits: int, secours: bool, *,
                      organization: str | None = None,
                      check_cancelled: Callable[[], None] | None = None) -> x509.Certificate:
    """Generate a non-exportable RSA key pair on the token and store its self-signed encryption
    certificate there; returns the certificate.

    ``session`` is an open (logged-in) ``Pkcs11Session`` from ``store.open(pin)``, or a logged-in
    python-pkcs11 session. The private key: ``CKA_TOKEN``, ``CKA_PRIVATE``, ``CKA_SENSITIVE``,
    ``CKA_EXTRACTABLE=FALSE``, ``CKA_DECRYPT`` and ``CKA_UNWRAP`` (CMS key transport), ``CKA_SIGN``
    (to sign its own certificate and later renewals). A token that does not honour sensitive and
    non-extractable is refused and the pair destroyed. On any failure, or if ``check_cancelled``
    raises after the (slow) generation, nothing is left on the token.
    """
    import pkcs11
    from pkcs11 import Attribute, KeyType, Mechanism
    from pkcs11 import exceptions as p11e

    from .pkcs11_store import DIGEST_INFO_PREFIX

    _check_bits(bits)
    holder = KeyHolder(clean_name(name), clean_name(organization, "organisation") if organization else None, secours)
    label = token_label_for(holder.name, secours)
    created: list[Any] = []
    with _rw_session(store, session) as rw:
        try:
            with store.module.lock:
                key_id = _fresh_id(rw)
                public, private = rw.generate_keypair(
                    KeyType.RSA, bits, id=key_id, label=label, store=True,
                    public_template={
                        Attribute.TOKEN: True, Attribute.PRIVATE: False, Attribute.ENCRYPT: True,
                        Attribute.WRAP: True, Attribute.VERIFY: True,
                    },
                    private_template={
                        Attribute.TOKEN: True, Attribute.PRIVATE: True, Attribute.SENSITIVE: True,
                        Attribute.EXTRACTABLE: False, Attribute.DECRYPT: True, Attribute.UNWRAP: True,
                        Attribute.SIGN: True,
                    },
                )
                created += [public, private]
                if private[Attribute.EXTRACTABLE] or not private[Attribute.SENSITIVE]:
                    log.warning("token %r ignored CKA_SENSITIVE / CKA_EXTRACTABLE: pair destroyed", store.token_label)
                    raise ReportedError(ErrorCode.KEY_NOT_USABLE,
                                        "Ce support ne garantit pas une clé non exportable : bi-clé refusé.",
                                        "This token does not guarantee a non-exportable key: key pair refused.")
                numbers = rsa.RSAPublicNumbers(int.from_bytes(public[Attribute.PUBLIC_EXPONENT], "big"),
                                               int.from_bytes(public[Attribute.MODULUS], "big"))
            if check_cancelled is not None:
                check_cancelled()

            def sign(digest: bytes) -> bytes:
                with store.module.lock:
                    return bytes(private.sign(DIGEST_INFO_PREFIX["sha256"] + digest, mechanism=Mechanism.RSA_PKCS))

            certificate = encryption_certificate(numbers.public_key(), holder, sign)
            with store.module.lock:
                # The key's subject helps middleware that match keys and certificates by CKA_SUBJECT.
                for obj in (public, private):
                    try:
                        obj[Attribute.SUBJECT] = certificate.subject.public_bytes()
                    except p11e.PKCS11Error:
                        pass
                created.append(rw.create_object(_certificate_template(certificate, key_id, label)))
        except BaseException as exc:
            _destroy(store, created)
            if isinstance(exc, pkcs11.PKCS11Error):
                raise _token_failure(store, exc, bits) from None
            raise
    log.info("RSA %d key pair generated on token %r%s", bits, store.token_label, " (secours)" if secours else "")
    return certificate


def _destroy(store: Pkcs11TokenStore, objects: list[Any]) -> None:
    import pkcs11

    with store.module.lock:
        for obj in reversed(objects):
            try:
                obj.destroy()
            except pkcs11.PKCS11Error as exc:
                log.warning("could not remove a half-made object from token %r: %s", store.token_label,
                            type(exc).__name__)


def store_certificate_on_token(store: Pkcs11TokenStore, session: Any, certificate: x509.Certificate,
                               key_id: bytes, label: str) -> None:
    """Store ``certificate`` on the token beside the key whose CKA_ID is ``key_id``."""
    import pkcs11

    with _rw_session(store, session) as rw:
        try:
            with store.module.lock:
                rw.create_object(_certificate_template(certificate, key_id, label))
        except pkcs11.PKCS11Error as exc:
            raise _token_failure(store, exc) from None


# -- PKCS#12 files --------------------------------------------------------------------------------


def _pkcs12_mac_key(password: bytes, salt: bytes, iterations: int) -> bytes:
    """RFC 7292 appendix B.2 with SHA-256 (u=32, v=64), ID=3 (MAC key), 32 bytes of output.

    The password is the BMPString of the text with two trailing zero bytes (appendix B.1). One
    output block is enough for a 32-byte key, so the I-update loop of step 6C never runs.
    """
    v = 64
    text = password.decode("utf-8").encode("utf-16-be") + b"\0\0"

    def stretch(data: bytes) -> bytes:
        """``data`` repeated to the next multiple of v bytes (steps 2 and 3)."""
        if not data:
            return b""
        length = v * -(-len(data) // v)
        return (data * (length // len(data) + 1))[:length]

    block = hashlib.sha256(bytes([3]) * v + stretch(salt) + stretch(text)).digest()
    for _ in range(iterations - 1):
        block = hashlib.sha256(block).digest()
    return block


def _strengthen_mac(pfx_der: bytes, password: bytes, iterations: int) -> bytes:
    """Recompute the PFX's MacData (RFC 7292 section 4) with ``iterations``.

    cryptography's serializer uses 2048 iterations for the MAC whatever ``kdf_rounds`` says; as
    the MAC is keyed by the same password, it would let an attacker test passwords 300 times
    faster than through PBKDF2. The AuthenticatedSafe is left byte for byte as it was.
    """
    pfx = asn1_pkcs12.Pfx.load(pfx_der)
    auth_safe = pfx["auth_safe"]
    if auth_safe["content_type"].native != "data":
        raise AssertionError("PFX without a data AuthenticatedSafe")
    content = auth_safe["content"].native
    salt = secrets.token_bytes(16)
    mac = hmac.new(_pkcs12_mac_key(password, salt, iterations), content, hashlib.sha256).digest()
    strengthened = asn1_pkcs12.Pfx({
        "version": pfx["version"],
        "auth_safe": auth_safe,
        "mac_data": asn1_pkcs12.MacData({
            "mac": {"digest_algorithm": {"algorithm": "sha256", "parameters": core.Null()}, "digest": mac},
            "mac_salt": salt,
            "iterations": iterations,
        }),
    }).dump()
    if auth_safe.dump() not in strengthened:
        raise AssertionError("AuthenticatedSafe changed while rewriting the MAC")
    return strengthened


def p12_bytes(key: rsa.RSAPrivateKey, certificate: x509.Certificate, password: bytes, friendly_name: str) -> bytes:
    """A PKCS#12 file (RFC 7292): PBES2/PBKDF2-HMAC-SHA256/AES-256-CBC bags, HMAC-SHA256 MAC,
    ``KDF_ROUNDS`` iterations everywhere. Checked by loading it back."""
    protection = (
        serialization.PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(KDF_ROUNDS)
        .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
        .hmac_hash(hashes.SHA256())
        .build(password)
    )
    data = pkcs12.serialize_key_and_certificates(friendly_name.encode("utf-8"), key, certificate, None, protection)
    data = _strengthen_mac(data, password, KDF_ROUNDS)
    loaded = pkcs12.load_pkcs12(data, password)
    if loaded.cert is None or loaded.cert.certificate != certificate:
        raise AssertionError("PKCS#12 file does not load back")
    return data


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Write ``path`` completely (temporary name, fsync) and link it into place; an existing file
    is never replaced (a key file lost is every bid encrypted to it lost)."""
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True)
    tmp = temporary_sibling(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            raise ReportedError(ErrorCode.INVALID_PARAMS, reason=Text("le fichier {n} existe déjà", "the file {n} already exists").filled(n=path.name)) from None
        except OSError:  # a file system without hard links: check, then rename
            if path.exists():
                raise ReportedError(ErrorCode.INVALID_PARAMS, reason=Text("le fichier {n} existe déjà", "the file {n} already exists").filled(n=path.name)) from None
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    if os.name == "posix":
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def write_p12(path: Path, key: rsa.RSAPrivateKey, certificate: x509.Certificate, password: bytes) -> Path:
    """Write the key file (0600) and its public sidecar ``<stem>.crt``; both or neither."""
    data = p12_bytes(key, certificate, password, friendly_name=_friendly_name(certificate))
    sidecar = sidecar_path(path)
    if sidecar.exists():
        raise ReportedError(ErrorCode.INVALID_PARAMS, reason=Text("le fichier {n} existe déjà", "the file {n} already exists").filled(n=sidecar.name))
    _write_new(path, data, 0o600)
    try:
        atomic_write_bytes(sidecar, certificate.public_bytes(serialization.Encoding.PEM), 0o644)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


def _friendly_name(certificate: x509.Certificate) -> str:
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    label = str(names[0].value) if names else "bi-clé"
    return f"{label} (secours)" if is_secours(certificate) else label


def generate_p12(folder: Path, name: str, bits: int, secours: bool, password: Secret | None, *,
                 organization: str | None = None, path: Path | None = None,
                 check_cancelled: Callable[[], None] | None = None) -> Path:
    """Generate an RSA key pair in a new PKCS#12 file in ``folder`` (or at ``path``); returns the
    file's path. Its certificate is also in ``sidecar_path(path)``."""
    _check_bits(bits)
    secret = check_new_password(password)
    holder = KeyHolder(clean_name(name), clean_name(organization, "organisation") if organization else None, secours)
    target = path or new_p12_path(folder, holder.name, secours)
    key = rsa.generate_private_key(PUBLIC_EXPONENT, bits)
    if check_cancelled is not None:
        check_cancelled()
    certificate = encryption_certificate(key.public_key(), holder, _software_signer(key))
    write_p12(target, key, certificate, secret)
    log.info("RSA %d key pair generated in %s%s", bits, target.name, " (secours)" if secours else "")
    return target


# -- an existing key ("sur la base d'un certificat existant") ------------------------------------


def certificate_for_existing_key(session: KeySession, key: StoredKey, name: str, secours: bool, *,
                                 organization: str | None = None) -> x509.Certificate:
    """A new self-signed encryption certificate for the key of ``key`` (same public key), signed by
    that key through ``session``. Storing it is the caller's: ``store_certificate_on_token`` or
    ``rebind_p12``."""
    public_key = key.certificate.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise ReportedError(ErrorCode.KEY_NOT_USABLE, "Un bi-clé de chiffrement doit être une clé RSA.",
                                                      "An encryption key pair must be an RSA key.")
    holder = KeyHolder(clean_name(name), clean_name(organization, "organisation") if organization else None, secours)
    return encryption_certificate(public_key, holder,
                                  lambda digest: session.sign_digest(key, digest, "sha256", "pkcs1v15"))


def rebind_p12(source: Pkcs12FileStore, password: Secret | None, certificate: x509.Certificate, target: Path) -> Path:
    """A new PKCS#12 file at ``target`` holding the key of ``source`` with ``certificate``
    (same password as the source). The key moves from one protected file to another of the same
    user; it is never written in the clear."""
    if password is None:
        raise ReportedError(ErrorCode.PIN_REQUIRED)
    secret = password.reveal().encode("utf-8")
    try:
        bundle = pkcs12.load_pkcs12(source.path.read_bytes(), secret)
    except (ValueError, OSError):
        raise ReportedError(ErrorCode.PIN_INCORRECT) from None
    key = bundle.key
    if not isinstance(key, rsa.RSAPrivateKey) or key.public_key() != certificate.public_key():
        raise ReportedError(ErrorCode.KEY_NOT_USABLE)
    return write_p12(target, key, certificate, secret)


def certificate_pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")
