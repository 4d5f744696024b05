"""Opening CMS envelopes, streamed: EnvelopedData (RFC 5652 section 6) and AuthEnvelopedData
(RFC 5083) with RSA key transport (section 6.2.1 KeyTransRecipientInfo).

* Key transport: RSAES-PKCS1-v1_5 and RSAES-OAEP (RFC 8017 sections 7.2 and 7.1; parameters per
  RFC 4055 section 4.1, SHA-1 by default as ``openssl cms`` writes them, SHA-2 too).
* Content encryption: AES-128/192/256-CBC (RFC 3565) with PKCS #7 padding (RFC 5652 section
  6.3), AES-GCM (RFC 5084) in AuthEnvelopedData only.
* DER or BER input (indefinite lengths, segmented encryptedContent as ``openssl cms -stream``
  writes), or the same in PEM armour. The file is read once, in chunks; the plaintext is written
  to ``output`` as it is decrypted.

The private key never comes here: ``unwrap(recipient)`` (for instance :func:`session_unwrapper`
over a :class:`~agent.keystores.base.KeySession`) returns the content-encryption key.

No oracle: a key that does not unwrap, a key of the wrong size, a bad CBC padding and a bad GCM
tag all end in the same ``DECRYPTION_FAILED``. The GCM tag is only known at the end: plaintext
written before it is unauthenticated, so callers write to a temporary name
(:func:`agent.fsutil.atomic_output`) and keep the file only when ``decrypt`` returns.

Kept as one module: the envelope's parsing and its streamed decryption share one read of the file
and the no-oracle rule above (a key, padding or tag failure is the same ``DECRYPTION_FAILED``),
which is best checked in one place.
"""

from __future__ import annotations

import binascii
import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO, Literal, cast

from asn1crypto import cms, core
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import padding as sym_padding
from cryptography.hazmat.primitives.ciphers import AEADDecryptionContext, Cipher, algorithms, modes

from ..errors import ErrorCode, ReportedError
from ..keystores.base import HASHES, KeySession, StoredKey
from ..pki.ber import CHUNK, CONTEXT, OCTET_STRING, SEQUENCE, SET, UNIVERSAL, BerReader, EnvelopeError, format_failure

#: ``progress(done, total)`` in bytes of the envelope read (total 0 when unknown).
Progress = Callable[[int, int], None]

OID_DATA = "1.2.840.113549.1.7.1"
OID_ENVELOPED_DATA = "1.2.840.113549.1.7.3"
OID_AUTH_ENVELOPED_DATA = "1.2.840.113549.1.9.16.1.23"
OID_RSA_ENCRYPTION = "1.2.840.113549.1.1.1"
OID_RSAES_OAEP = "1.2.840.113549.1.1.7"


@dataclass(frozen=True)
class ContentAlgorithm:
    name: str
    oid: str
    key_size: int
    mode: Literal["cbc", "gcm"]


#: Content-encryption algorithms (RFC 3565 section 4.1, RFC 5084 section 3.2).
CONTENT_ALGORITHMS: dict[str, ContentAlgorithm] = {
    a.name: a
    for a in (
        ContentAlgorithm("aes-128-cbc", "2.16.840.1.101.3.4.1.2", 16, "cbc"),
        ContentAlgorithm("aes-192-cbc", "2.16.840.1.101.3.4.1.22", 24, "cbc"),
        ContentAlgorithm("aes-256-cbc", "2.16.840.1.101.3.4.1.42", 32, "cbc"),
        ContentAlgorithm("aes-128-gcm", "2.16.840.1.101.3.4.1.6", 16, "gcm"),
        ContentAlgorithm("aes-192-gcm", "2.16.840.1.101.3.4.1.26", 24, "gcm"),
        ContentAlgorithm("aes-256-gcm", "2.16.840.1.101.3.4.1.46", 32, "gcm"),
    )
}
_BY_OID = {a.oid: a for a in CONTENT_ALGORITHMS.values()}

#: RecipientInfos bigger than this are not a list of buyers' keys.
MAX_RECIPIENT_INFOS = 4 * 1024 * 1024
MAX_ALGORITHM = 4096
MAX_ATTRIBUTES = 1024 * 1024
#: ``recipients`` reads this much at a time: the head of an envelope is small.
HEAD_CHUNK = 64 * 1024
#: PEM lines longer than this are not PEM.
MAX_PEM_LINE = 64 * 1024

KeyTransport = Literal["rsa-pkcs1v15", "rsa-oaep"]


@dataclass(frozen=True)
class RecipientInfo:
    """One recipient of an envelope (RFC 5652 section 6.2), as read without decrypting.

    ``kind`` is the RecipientInfo choice; only ``"ktri"`` (key transport) recipients carry an
    identifier and a wrapped key here. The recipient's certificate is named by issuer and serial
    number (``issuer_der``, ``serial_number``) or by subject key identifier (section 6.2.1).
    ``key_encryption`` is ``"rsa-pkcs1v15"``, ``"rsa-oaep"`` or the dotted OID of another
    algorithm; OAEP parameters (RFC 4055 section 4.1) are in ``oaep_hash``, ``oaep_mgf_hash`` and
    ``oaep_label``.
    """

    index: int
    kind: Literal["ktri", "kari", "kekri", "pwri", "ori"]
    issuer_der: bytes | None = field(default=None, repr=False)
    issuer: str | None = None
    serial_number: int | None = None
    subject_key_identifier: bytes | None = None
    key_encryption: str = ""
    oaep_hash: str | None = None
    oaep_mgf_hash: str | None = None
    oaep_label: bytes = b""
    encrypted_key: bytes = field(default=b"", repr=False)

    @property
    def supported(self) -> bool:
        """Key transport with RSA PKCS #1 v1.5, or OAEP with one of our hashes and no label."""
        if self.kind != "ktri":
            return False
        if self.key_encryption == "rsa-pkcs1v15":
            return True
        return (self.key_encryption == "rsa-oaep" and self.oaep_hash in HASHES
                and self.oaep_mgf_hash == self.oaep_hash and not self.oaep_label)

    def matches(self, certificate: x509.Certificate) -> bool:
        """Whether ``certificate`` is the one this recipient names (RFC 5652 section 6.2.1)."""
        if self.kind != "ktri":
            return False
        if self.subject_key_identifier is not None:
            return self.subject_key_identifier == _subject_key_identifier(certificate)
        if self.issuer_der is None or self.serial_number != certificate.serial_number:
            return False
        try:
            return bool(asn1_x509.Name.load(self.issuer_der) == asn1_x509.Name.load(certificate.issuer.public_bytes()))
        except ValueError:
            return self.issuer_der == certificate.issuer.public_bytes()

    def describe(self) -> str:
        """What a user can compare with a certificate (French)."""
        if self.kind != "ktri":
            return f"destinataire de type {self.kind} (non pris en charge)"
        if self.subject_key_identifier is not None:
            return f"clé d'identifiant {self.subject_key_identifier.hex()}"
        return f"certificat n° {self.serial_number:x} émis par {self.issuer}"


def _subject_key_identifier(certificate: x509.Certificate) -> bytes:
    try:
        return certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except x509.ExtensionNotFound:
        # As openssl: the SHA-1 of the public key when the certificate has no extension.
        return x509.SubjectKeyIdentifier.from_public_key(certificate.public_key()).digest


@dataclass(frozen=True)
class DecryptInfo:
    """What ``decrypt`` found and did."""

    envelope: Literal["enveloped-data", "auth-enveloped-data"]
    #: Type of the decrypted content (id-data for files).
    content_type: str
    #: Content-encryption algorithm, e.g. ``"aes-256-gcm"``.
    algorithm: str
    #: The recipient whose key opened the envelope.
    recipient: RecipientInfo
    recipients: tuple[RecipientInfo, ...]
    #: Plaintext bytes written.
    size: int

    @property
    def authenticated(self) -> bool:
        return self.envelope == "auth-enveloped-data"


#: ``unwrap(recipient)`` returns the content-encryption key when the caller holds the recipient's
#: private key, else None. It may raise ``ReportedError(KEY_NOT_USABLE)`` (or ``ValueError``) when
#: the key does not unwrap: the engine then tries the next recipient.
Unwrap = Callable[[RecipientInfo], "bytes | None"]


# -- parsing ------------------------------------------------------------------------------------


def _parse_recipients(raw: bytes) -> tuple[RecipientInfo, ...]:
    try:
        infos = cms.RecipientInfos.load(raw, strict=True)
        return tuple(_parse_recipient(i, info) for i, info in enumerate(infos))
    except EnvelopeError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError):
        raise format_failure("liste des destinataires illisible") from None


def _parse_recipient(index: int, info: cms.RecipientInfo) -> RecipientInfo:
    if info.name != "ktri":
        info.native  # noqa: B018  (parse it all: a garbled entry is a format failure)
        return RecipientInfo(index, info.name)
    ktri = info.chosen
    rid = ktri["rid"]
    issuer_der = issuer = serial = ski = None
    if rid.name == "issuer_and_serial_number":
        name = rid.chosen["issuer"]
        issuer_der, issuer, serial = name.dump(), name.human_friendly, int(rid.chosen["serial_number"].native)
    else:
        ski = bytes(rid.chosen.native)
    algorithm = ktri["key_encryption_algorithm"]
    oid = algorithm["algorithm"].dotted
    encrypted_key = bytes(ktri["encrypted_key"].native)
    common = dict(issuer_der=issuer_der, issuer=issuer, serial_number=serial, subject_key_identifier=ski,
                  encrypted_key=encrypted_key)
    if oid == OID_RSA_ENCRYPTION:
        return RecipientInfo(index, "ktri", key_encryption="rsa-pkcs1v15", **common)  # type: ignore[arg-type]
    if oid == OID_RSAES_OAEP:
        params = algorithm["parameters"]
        if isinstance(params, core.Void):  # all defaults: SHA-1, MGF1 with SHA-1, empty label
            hash_name, mgf_hash, label = "sha1", "sha1", b""
        else:
            hash_name = params["hash_algorithm"]["algorithm"].native
            mgf = params["mask_gen_algorithm"]
            mgf_hash = mgf["parameters"]["algorithm"].native if mgf["algorithm"].native == "mgf1" else "?"
            label = bytes(params["p_source_algorithm"]["parameters"].native or b"")
        return RecipientInfo(index, "ktri", key_encryption="rsa-oaep", oaep_hash=hash_name, oaep_mgf_hash=mgf_hash,
                             oaep_label=label, **common)  # type: ignore[arg-type]
    return RecipientInfo(index, "ktri", key_encryption=oid, **common)  # type: ignore[arg-type]


class _AlgorithmIdentifier(core.Sequence):
    _fields = [("algorithm", core.ObjectIdentifier), ("parameters", core.Any, {"optional": True})]


class GcmParameters(core.Sequence):
    """GCMParameters (RFC 5084 section 3.2); aes-ICVlen DEFAULT 12."""

    _fields = [("nonce", core.OctetString), ("icv_len", core.Integer, {"default": 12})]


@dataclass(frozen=True)
class _Content:
    algorithm: ContentAlgorithm
    iv: bytes
    tag_length: int = 0


def _parse_content_algorithm(raw: bytes, authenticated: bool) -> _Content:
    try:
        identifier = _AlgorithmIdentifier.load(raw, strict=True)
        oid = identifier["algorithm"].dotted
        algorithm = _BY_OID.get(oid)
        if algorithm is None:
            raise EnvelopeError("UNSUPPORTED_ALGORITHM",
                                f"Algorithme de chiffrement non pris en charge ({oid}).", f"Unsupported encryption algorithm ({oid}).")
        params = identifier["parameters"]
        if algorithm.mode == "cbc":
            iv = bytes(params.parse(core.OctetString).native)
            if len(iv) != 16:
                raise format_failure("vecteur d'initialisation AES-CBC invalide")
            content = _Content(algorithm, iv)
        else:
            gcm = params.parse(GcmParameters)
            nonce, icv = bytes(gcm["nonce"].native), int(gcm["icv_len"].native)
            if not 8 <= len(nonce) <= 64 or not 12 <= icv <= 16:
                raise format_failure("paramètres AES-GCM invalides")
            content = _Content(algorithm, nonce, icv)
    except EnvelopeError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError):
        raise format_failure("algorithme de chiffrement illisible") from None
    if authenticated != (algorithm.mode == "gcm"):
        # RFC 5083: AuthEnvelopedData needs an authenticated cipher; GCM in EnvelopedData has no tag.
        raise EnvelopeError("UNSUPPORTED_ALGORITHM",
                            f"Algorithme {algorithm.name} non pris en charge dans ce type d'enveloppe.",
                            f"Algorithm {algorithm.name} not supported in this type of envelope.")
    return content


@dataclass(frozen=True)
class _Head:
    envelope: Literal["enveloped-data", "auth-enveloped-data"]
    recipients: tuple[RecipientInfo, ...]


def _read_head(reader: BerReader) -> _Head:
    """ContentInfo (RFC 5652 section 3) down to the RecipientInfos of the envelope."""
    first = reader.peek()
    if not first.is_(UNIVERSAL, SEQUENCE) or not first.constructed:
        raise format_failure("ce n'est pas un objet CMS")
    reader.enter(UNIVERSAL, SEQUENCE, "ContentInfo")
    content_type = reader.read_oid("type de contenu")
    if content_type == OID_ENVELOPED_DATA:
        envelope: Literal["enveloped-data", "auth-enveloped-data"] = "enveloped-data"
    elif content_type == OID_AUTH_ENVELOPED_DATA:
        envelope = "auth-enveloped-data"
    else:
        raise format_failure(f"ce n'est pas une enveloppe chiffrée (type {content_type})")
    reader.enter(CONTEXT, 0, "contenu [0]")
    reader.enter(UNIVERSAL, SEQUENCE, "EnvelopedData")
    version = reader.read_integer("version")
    if not 0 <= version <= 4:
        raise format_failure("version inconnue")
    if reader.peek().is_(CONTEXT, 0):
        reader.skip()  # originatorInfo: certificates and CRLs, not needed to decrypt
    header = reader.peek()
    if not header.is_(UNIVERSAL, SET) or not header.constructed:
        raise format_failure("liste des destinataires attendue")
    return _Head(envelope, _parse_recipients(reader.read_raw(MAX_RECIPIENT_INFOS)))


# -- PEM armour ---------------------------------------------------------------------------------


class _PemReader(io.RawIOBase):
    """The DER inside ``-----BEGIN CMS-----`` / ``PKCS7`` armour, decoded line by line (RFC 7468)."""

    def __init__(self, source: BinaryIO) -> None:
        self._source = source
        self._pending = b""
        self._done = False
        self._started = False

    def readable(self) -> bool:
        return True

    def _line(self) -> bytes:
        line = self._source.readline(MAX_PEM_LINE + 1)
        if len(line) > MAX_PEM_LINE:
            raise format_failure("ligne PEM trop longue")
        return line

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._pending and not self._done:
            line = self._line()
            if not line:
                self._done = True
                if not self._started:
                    raise format_failure("armure PEM sans début")
                break
            text = line.strip()
            if text.startswith(b"-----BEGIN"):
                self._started = True
                continue
            if text.startswith(b"-----END"):
                self._done = True
                break
            if not self._started or not text or b":" in text:
                continue  # text before the armour, blank lines, RFC 1421 headers
            try:
                self._pending = binascii.a2b_base64(text, strict_mode=True)
            except (binascii.Error, ValueError):
                raise format_failure("base64 invalide dans l'armure PEM") from None
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


class _Replay(io.RawIOBase):
    """A non-seekable source with the octets already read put back in front."""

    def __init__(self, head: bytes, source: BinaryIO) -> None:
        self._head = head
        self._source = source

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._source.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)


def _binary_source(source: BinaryIO) -> BinaryIO:
    """``source`` itself when it holds BER, a decoding reader when it holds PEM text."""
    head = source.read(64)
    if source.seekable():
        source.seek(-len(head), io.SEEK_CUR)
    else:
        source = io.BufferedReader(_Replay(head, source), CHUNK)
    if head.lstrip().startswith(b"-----BEGIN"):
        return io.BufferedReader(_PemReader(source), CHUNK)
    return source


# -- public API ---------------------------------------------------------------------------------


def recipients(source: BinaryIO) -> list[RecipientInfo]:
    """The recipients of an envelope, read without decrypting (and without reading the content)."""
    reader = BerReader(_binary_source(source), chunk=HEAD_CHUNK)
    return list(_read_head(reader).recipients)


def _unwrap_key(head: _Head, unwrap: Unwrap, key_size: int) -> tuple[bytes, RecipientInfo]:
    """The first recipient, in order, whose key the caller holds and that unwraps (section 6.2.1)."""
    usable = [r for r in head.recipients if r.supported]
    if not usable:
        raise EnvelopeError("UNSUPPORTED_ALGORITHM",
                            "Aucun destinataire de l'enveloppe n'utilise un transport de clé RSA pris en charge.",
                            "No recipient of the envelope uses a supported RSA key transport.")
    failed = False
    for recipient in usable:
        try:
            key = unwrap(recipient)
        except EnvelopeError as exc:
            if exc.code not in ("DECRYPTION_FAILED", "UNSUPPORTED_ALGORITHM"):
                raise
            failed = True
            continue
        except ReportedError as exc:
            if exc.code != ErrorCode.KEY_NOT_USABLE:
                raise  # PIN, token removed: the caller's business
            failed = True
            continue
        except ValueError:
            failed = True
            continue
        if key is None:
            continue
        if len(key) != key_size:  # implicit rejection (RFC 8017 section 7.2.2 note) gives random lengths
            failed = True
            continue
        return bytes(key), recipient
    if failed:
        raise decryption_failed()
    raise EnvelopeError("NO_MATCHING_RECIPIENT",
                        "Aucune de vos clés ne permet d'ouvrir cette enveloppe : elle n'est pas chiffrée pour vous.",
                        "None of your keys opens this envelope: it is not encrypted for you.")


def decryption_failed() -> EnvelopeError:
    return EnvelopeError("DECRYPTION_FAILED",
                         "Déchiffrement impossible : la clé ne convient pas ou l'enveloppe a été altérée.",
                         "Decryption failed: the key does not fit or the envelope was altered.")


def session_unwrapper(session: KeySession, keys: Iterable[StoredKey]) -> Unwrap:
    """An ``unwrap`` that uses the private keys of ``keys`` through ``session`` (the key never leaves it).

    OAEP with different hashes for the digest and MGF1 is refused as UNSUPPORTED_ALGORITHM: the
    key store interface (like PKCS #11 tokens in practice) takes one hash for both.
    """
    held = list(keys)

    def unwrap(recipient: RecipientInfo) -> bytes | None:
        key = next((k for k in held if recipient.matches(k.certificate)), None)
        if key is None:
            return None
        if recipient.key_encryption == "rsa-oaep":
            if recipient.oaep_hash not in HASHES or recipient.oaep_mgf_hash != recipient.oaep_hash or recipient.oaep_label:
                raise EnvelopeError("UNSUPPORTED_ALGORITHM",
                                    "Paramètres RSA-OAEP non pris en charge.", "Unsupported RSA-OAEP parameters.")
            return session.decrypt_key(key, recipient.encrypted_key, "oaep", recipient.oaep_hash)
        if recipient.key_encryption == "rsa-pkcs1v15":
            return session.decrypt_key(key, recipient.encrypted_key, "pkcs1v15")
        return None

    return unwrap


class _Sink:
    """Writes to ``output`` in pieces of about a chunk (openssl segments are 4 KiB)."""

    def __init__(self, output: BinaryIO) -> None:
        self.output = output
        self.parts: list[bytes] = []
        self.pending = 0
        self.size = 0

    def write(self, data: bytes) -> None:
        if data:
            self.parts.append(data)
            self.pending += len(data)
            self.size += len(data)
            if self.pending >= CHUNK:
                self.flush()

    def flush(self) -> None:
        if self.parts:
            self.output.write(b"".join(self.parts))
            self.parts, self.pending = [], 0


def _aad(raw: bytes) -> bytes:
    """authAttrs as authenticated data: DER with the SET OF tag (RFC 5083 section 2.2)."""
    try:
        attributes = cms.CMSAttributes.load(b"\x31" + raw[1:])
        if raw[1] == 0x80:  # indefinite BER: re-encode as DER
            return bytes(attributes.dump(force=True))
        attributes.native  # noqa: B018  (parse check)
        return b"\x31" + raw[1:]
    except (ValueError, TypeError, KeyError, IndexError):
        raise format_failure("attributs authentifiés illisibles") from None


def _read_trailer(reader: BerReader, authenticated: bool) -> tuple[bytes | None, bytes]:
    """After EncryptedContentInfo: (authAttrs AAD, mac) of AuthEnvelopedData; skips unprotected attributes."""
    aad: bytes | None = None
    mac = b""
    if authenticated:
        if reader.has_more() and reader.peek().is_(CONTEXT, 1):
            aad = _aad(reader.read_raw(MAX_ATTRIBUTES))
        mac = reader.read_small(UNIVERSAL, OCTET_STRING, "code d'authentification (mac)", 64)
        if reader.has_more() and reader.peek().is_(CONTEXT, 2):
            reader.skip()  # unauthAttrs
    elif reader.has_more() and reader.peek().is_(CONTEXT, 1):
        reader.skip()  # unprotectedAttrs
    reader.leave()  # EnvelopedData / AuthEnvelopedData
    reader.leave()  # [0]
    reader.leave()  # ContentInfo
    return aad, mac


def _coalesced(pieces: Iterator[bytes], size: int = CHUNK) -> Iterator[bytes]:
    """Streaming encoders cut the content into small segments (4 KiB for openssl -stream): hand
    the cipher about ``size`` octets at a time instead, for a fraction of the per-call cost."""
    pending: list[bytes] = []
    length = 0
    for piece in pieces:
        pending.append(piece)
        length += len(piece)
        if length >= size:
            yield b"".join(pending)
            pending, length = [], 0
    if pending:
        yield b"".join(pending)


def _look_ahead_aad(reader: BerReader) -> bytes | None:
    """AuthEnvelopedData's authAttrs follow the content but authenticate it from the start:
    on a seekable source, read them first, then come back (RFC 5083 section 2.1)."""
    mark = reader.mark()
    if mark is None:
        return None
    reader.skip()  # the encrypted content
    reader.leave()  # EncryptedContentInfo
    aad = None
    if reader.has_more() and reader.peek().is_(CONTEXT, 1):
        aad = _aad(reader.read_raw(MAX_ATTRIBUTES))
    reader.reset(mark)
    return aad


def decrypt(source: BinaryIO, output: BinaryIO, unwrap: Unwrap, *, progress: Progress | None = None) -> DecryptInfo:
    """Decrypt the envelope read from ``source`` into ``output``, streamed (RFC 5652 section 6, RFC 5083).

    Raises :class:`EnvelopeError`: FORMAT_FAILURE, NO_MATCHING_RECIPIENT, DECRYPTION_FAILED or
    UNSUPPORTED_ALGORITHM. When it raises, what was written to ``output`` must be discarded.
    """
    reader = BerReader(_binary_source(source))
    total = reader.limit or 0
    head = _read_head(reader)
    authenticated = head.envelope == "auth-enveloped-data"
    reader.enter(UNIVERSAL, SEQUENCE, "EncryptedContentInfo")
    content_type = reader.read_oid("type du contenu chiffré")
    if not reader.peek().is_(UNIVERSAL, SEQUENCE):
        raise format_failure("algorithme de chiffrement attendu")
    content = _parse_content_algorithm(reader.read_raw(MAX_ALGORITHM), authenticated)
    if not reader.has_more() or not reader.peek().is_(CONTEXT, 0):
        raise format_failure("contenu chiffré absent (enveloppe détachée)")
    key, recipient = _unwrap_key(head, unwrap, content.algorithm.key_size)

    aad = _look_ahead_aad(reader) if authenticated else None
    if content.algorithm.mode == "cbc":
        decryptor = Cipher(algorithms.AES(key), modes.CBC(content.iv)).decryptor()
        unpadder = sym_padding.PKCS7(128).unpadder()
    else:
        decryptor = Cipher(algorithms.AES(key), modes.GCM(content.iv, min_tag_length=content.tag_length)).decryptor()
        if aad:
            decryptor.authenticate_additional_data(aad)
    del key
    sink = _Sink(output)
    reported = 0
    for piece in _coalesced(reader.octet_chunks(CONTEXT, 0, "contenu chiffré")):
        plain = decryptor.update(piece)
        sink.write(unpadder.update(plain) if content.algorithm.mode == "cbc" else plain)
        if progress is not None and reader.position - reported >= CHUNK:
            reported = reader.position
            progress(reported, total)
    reader.leave()  # EncryptedContentInfo
    if content.algorithm.mode == "cbc":
        try:
            sink.write(unpadder.update(decryptor.finalize()) + unpadder.finalize())
        except ValueError:  # partial block or bad padding: the same answer as a wrong key
            raise decryption_failed() from None
        _read_trailer(reader, False)
    else:
        trailer_aad, mac = _read_trailer(reader, True)
        if trailer_aad != aad:
            if aad is None:
                raise EnvelopeError("UNSUPPORTED_ALGORITHM",
                                    "Attributs authentifiés sur une source non rejouable : non pris en charge.",
                                    "Authenticated attributes on a source that cannot be read twice: not supported.")
            raise decryption_failed()  # the file changed between the two reads
        if len(mac) != content.tag_length:
            raise decryption_failed()
        try:
            sink.write(cast(AEADDecryptionContext, decryptor).finalize_with_tag(mac))
        except (InvalidTag, ValueError):
            raise decryption_failed() from None
    if not reader.at_end_of_input():
        raise format_failure("données après la fin de l'enveloppe")
    sink.flush()
    if progress is not None:
        progress(reader.position, total or reader.position)
    return DecryptInfo(head.envelope, content_type, content.algorithm.name, recipient, head.recipients, sink.size)
