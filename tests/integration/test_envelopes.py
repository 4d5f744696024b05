"""The envelope engine against openssl: envelopes made by ``openssl cms -encrypt`` open with the
PKCS#12 key and with the SoftHSM token key, ours open with ``openssl cms -decrypt``; tampering,
wrong keys and hostile inputs fail with stable codes; ZIP extraction resists slips and bombs.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import struct
import subprocess
import time
import tracemalloc
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from asn1crypto import cms, core
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from agent.config import Settings
from agent.consent import Secret
from agent.envelopes import DecryptInfo, EnvelopeError, Unwrap, decrypt, encrypt, extract_zip, recipients, session_unwrapper
from agent.envelopes.decrypt import GcmParameters
from agent.fsutil import atomic_output
from agent.keystores.pkcs12_store import Pkcs12FileStore
from agent.keystores.registry import KeyStoreRegistry
from tests.support.leaf_certs import issue_leaf
from tests.support.pki import TestPki
from tests.support.softhsm import ProvisionedToken

P12_PASSWORD = "mot de passe chiffrement"
OAEP = ["-keyopt", "rsa_padding_mode:oaep"]
OAEP_SHA256 = [*OAEP, "-keyopt", "rsa_oaep_md:sha256"]

#: name -> (options before the recipients, options after the held key's -recip, algorithm, BER?)
OPENSSL_CASES: dict[str, tuple[list[str], list[str], str, bool]] = {
    "aes128-cbc": (["-aes128"], [], "aes-128-cbc", False),
    "aes192-cbc": (["-aes192"], [], "aes-192-cbc", False),
    "aes256-cbc": (["-aes256"], [], "aes-256-cbc", False),
    "aes256-gcm": (["-aes-256-gcm"], [], "aes-256-gcm", False),
    "aes128-gcm": (["-aes-128-gcm"], [], "aes-128-gcm", False),
    "oaep": (["-aes256"], OAEP, "aes-256-cbc", False),
    "oaep-sha256": (["-aes256"], OAEP_SHA256, "aes-256-cbc", False),
    "stream": (["-aes256", "-stream"], [], "aes-256-cbc", True),
    "stream-oaep-gcm": (["-aes-256-gcm", "-stream"], OAEP, "aes-256-gcm", True),
    "keyid": (["-aes256", "-keyid"], [], "aes-256-cbc", False),
}


def _run(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(list(args), capture_output=True, timeout=120)


def _openssl_encrypt(pki: TestPki, source: Path, target: Path, before: list[str], after: list[str],
                     outform: str = "DER") -> None:
    """Two recipients: another certificate first, the held "encryption" key second."""
    result = _run("openssl", "cms", "-encrypt", "-binary", "-in", str(source), "-outform", outform, "-out", str(target),
                  *before, "-recip", str(pki.cert_pem("plain")), "-recip", str(pki.cert_pem("encryption")), *after)
    assert result.returncode == 0, result.stderr.decode()


def _openssl_decrypt(pki: TestPki, envelope: Path, out: Path) -> subprocess.CompletedProcess[bytes]:
    return _run("openssl", "cms", "-decrypt", "-binary", "-inform", "DER", "-in", str(envelope), "-out", str(out),
                "-recip", str(pki.cert_pem("encryption")), "-inkey", str(pki.key_pem("encryption")))


@pytest.fixture(scope="module")
def other_recipient(test_pki: TestPki, tmp_path_factory: pytest.TempPathFactory) -> x509.Certificate:
    """A second encryption certificate (keyEncipherment) among the recipients, before ours."""
    return issue_leaf(test_pki, tmp_path_factory.mktemp("recipient"), "Autre DESTINATAIRE",
                      key_usage={"key_encipherment"}).cert


def _cert(pki: TestPki, name: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pki.cert_pem(name).read_bytes())


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("envelopes")


@pytest.fixture(scope="module")
def plaintext(work: Path) -> Path:
    """A few chunks of random data and a text tail: padding and segment borders are exercised."""
    path = work / "offre.bin"
    path.write_bytes(os.urandom(300_000) + "Offre technique — lot n° 3\n".encode())
    return path


@pytest.fixture(scope="module")
def openssl_envelopes(work: Path, plaintext: Path, test_pki: TestPki) -> dict[str, Path]:
    made = {}
    for name, (before, after, _, _) in OPENSSL_CASES.items():
        made[name] = work / f"openssl-{name}.p7m"
        _openssl_encrypt(test_pki, plaintext, made[name], before, after)
    made["pem"] = work / "openssl-pem.p7m"
    _openssl_encrypt(test_pki, plaintext, made["pem"], ["-aes256"], OAEP, outform="PEM")
    return made


@pytest.fixture(scope="module")
def p12_unwrap(test_pki: TestPki) -> Iterator[Unwrap]:
    store = Pkcs12FileStore(test_pki.p12("encryption", P12_PASSWORD))
    with store.open(Secret(P12_PASSWORD)) as session:
        yield session_unwrapper(session, store.keys())


@pytest.fixture(scope="module")
def token_unwrap(tmp_path_factory: pytest.TempPathFactory, test_pki: TestPki, token: ProvisionedToken) -> Iterator[Unwrap]:
    folder = tmp_path_factory.mktemp("registry")
    settings = Settings(trust_roots=(test_pki.root_pem,), trust_system=False, pkcs11_modules=(token.hsm.module,),
                        p12_dir=folder / "keys", state_dir=folder / "state", log_dir=folder / "log")
    registry = KeyStoreRegistry(settings)
    store, key = next((s, k) for s, k in registry.keys("decryption")
                      if s.kind == "pkcs11" and k.certificate == token.certificates["encryption"])
    with store.open(Secret(token.pin)) as session:
        yield session_unwrapper(session, [key])


def _decrypt_bytes(envelope: bytes | Path, unwrap: Unwrap) -> tuple[bytes, DecryptInfo]:
    data = envelope.read_bytes() if isinstance(envelope, Path) else envelope
    out = io.BytesIO()
    info = decrypt(io.BytesIO(data), out, unwrap)
    return out.getvalue(), info


class _Pipe(io.RawIOBase):
    """A non-seekable source (like a download stream)."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        chunk = self._data.read(min(len(buffer), 8191))
        buffer[:len(chunk)] = chunk
        return len(chunk)


# -- openssl -> us ----------------------------------------------------------------------------------


@pytest.mark.parametrize("case", [*OPENSSL_CASES, "pem"])
def test_openssl_envelopes_open_with_the_pkcs12_key(case: str, openssl_envelopes: dict[str, Path], plaintext: Path,
                                                    p12_unwrap: Unwrap, test_pki: TestPki) -> None:
    envelope = openssl_envelopes[case]
    data, info = _decrypt_bytes(envelope, p12_unwrap)
    assert data == plaintext.read_bytes()
    encryption = _cert(test_pki, "encryption")
    assert info.recipient.matches(encryption)
    assert len(info.recipients) == 2
    if case != "pem":
        _, _, algorithm, ber = OPENSSL_CASES[case]
        assert info.algorithm == algorithm
        assert info.authenticated == algorithm.endswith("gcm")
        assert (envelope.read_bytes()[1] == 0x80) == ber  # indefinite length at the top: BER from -stream
        # The same envelope, from a source that cannot seek.
        out = io.BytesIO()
        decrypt(io.BufferedReader(_Pipe(envelope.read_bytes())), out, p12_unwrap)  # type: ignore[arg-type]
        assert out.getvalue() == data


@pytest.mark.parametrize("case", ["aes128-cbc", "aes256-gcm", "oaep", "stream", "stream-oaep-gcm", "keyid"])
def test_openssl_envelopes_open_with_the_token_key(case: str, openssl_envelopes: dict[str, Path], plaintext: Path,
                                                   token_unwrap: Unwrap) -> None:
    """OAEP here is SHA-1 (openssl's default): SoftHSM 2.6 implements no other OAEP hash."""
    data, info = _decrypt_bytes(openssl_envelopes[case], token_unwrap)
    assert data == plaintext.read_bytes()
    assert info.recipient.key_encryption == ("rsa-oaep" if "oaep" in case else "rsa-pkcs1v15")


def test_recipients_are_listed_without_decrypting(openssl_envelopes: dict[str, Path], test_pki: TestPki) -> None:
    encryption, plain = _cert(test_pki, "encryption"), _cert(test_pki, "plain")
    with openssl_envelopes["oaep-sha256"].open("rb") as source:
        listed = recipients(source)
        assert source.tell() <= 64 * 1024  # read in small pieces, and not to the end of the content
    ours = next(r for r in listed if r.matches(encryption))
    other = next(r for r in listed if r.matches(plain))
    assert (ours.key_encryption, ours.oaep_hash, ours.oaep_mgf_hash) == ("rsa-oaep", "sha256", "sha256")
    assert other.key_encryption == "rsa-pkcs1v15"
    assert ours.serial_number == encryption.serial_number and "Compagnon Test Qualified CA" in (ours.issuer or "")
    with openssl_envelopes["keyid"].open("rb") as source:
        by_key_id = recipients(source)
    assert all(r.subject_key_identifier is not None and r.serial_number is None for r in by_key_id)
    assert any(r.matches(encryption) for r in by_key_id) and any(r.matches(plain) for r in by_key_id)


# -- us -> openssl ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("algorithm", "key_transport", "ber"), [
    ("aes-256-cbc", "rsa-oaep", False),
    ("aes-128-cbc", "rsa-pkcs1v15", True),
    ("aes-192-cbc", "rsa-oaep-sha256", False),
    ("aes-256-gcm", "rsa-oaep", False),
    ("aes-256-gcm", "rsa-oaep-sha256", True),
    ("aes-128-gcm", "rsa-pkcs1v15", False),
])
def test_our_envelopes_open_with_openssl(algorithm: str, key_transport: str, ber: bool, work: Path, plaintext: Path,
                                         test_pki: TestPki, p12_unwrap: Unwrap, other_recipient: x509.Certificate) -> None:
    envelope = work / f"ours-{algorithm}-{key_transport}-{ber}.p7m"
    with plaintext.open("rb") as source, envelope.open("wb") as output:
        encrypt(source, output, [other_recipient, _cert(test_pki, "encryption")], algorithm=algorithm,
                key_transport=key_transport, ber_stream=ber)
    out = work / f"{envelope.name}.out"
    result = _openssl_decrypt(test_pki, envelope, out)
    assert result.returncode == 0, result.stderr.decode()
    assert out.read_bytes() == plaintext.read_bytes()
    data = envelope.read_bytes()
    if ber:
        assert data[1] == 0x80
    else:  # really DER: a strict parser re-encodes it to the same octets
        assert cms.ContentInfo.load(data, strict=True).dump(force=True) == data
    assert _decrypt_bytes(data, p12_unwrap)[0] == plaintext.read_bytes()


@pytest.mark.parametrize("key_transport", ["rsa-oaep", "rsa-pkcs1v15"])
def test_our_envelopes_open_with_the_token_from_a_stream(key_transport: str, plaintext: Path, test_pki: TestPki,
                                                         token_unwrap: Unwrap) -> None:
    sealed = io.BytesIO()
    source = io.BufferedReader(_Pipe(plaintext.read_bytes()))
    encrypt(source, sealed, [_cert(test_pki, "encryption")], algorithm="aes-256-gcm",  # type: ignore[arg-type]
            key_transport=key_transport, ber_stream=True)
    assert _decrypt_bytes(sealed.getvalue(), token_unwrap)[0] == plaintext.read_bytes()
    with pytest.raises(ValueError):  # DER needs the size up front
        encrypt(io.BufferedReader(_Pipe(b"x")), io.BytesIO(), [_cert(test_pki, "encryption")])  # type: ignore[arg-type]


# -- failures -------------------------------------------------------------------------------------


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1:]


@pytest.mark.parametrize("where", ["content", "tag"])
def test_tampered_gcm_envelope_leaves_no_file(where: str, openssl_envelopes: dict[str, Path], tmp_path: Path,
                                              p12_unwrap: Unwrap) -> None:
    data = openssl_envelopes["aes256-gcm"].read_bytes()
    tampered = _flip(data, len(data) // 2 if where == "content" else len(data) - 1)
    final = tmp_path / "offre.bin"
    with pytest.raises(EnvelopeError) as err:
        with atomic_output(final) as output:
            decrypt(io.BytesIO(tampered), output, p12_unwrap)
    assert err.value.code == "DECRYPTION_FAILED"
    assert list(tmp_path.iterdir()) == []  # neither the final name nor a .part file


def _auth_enveloped_with_attributes(certificate: x509.Certificate, plaintext: bytes, attributes: bytes) -> bytes:
    """AuthEnvelopedData whose authAttrs (after the content) are GCM's additional data (RFC 5083 2.2)."""
    key, nonce = os.urandom(32), os.urandom(12)
    sealed = AESGCM(key).encrypt(nonce, plaintext, attributes)
    issuer = asn1_x509.Name.load(certificate.issuer.public_bytes())
    ktri = cms.RecipientInfo(name="ktri", value={
        "version": "v0",
        "rid": cms.RecipientIdentifier(name="issuer_and_serial_number", value={
            "issuer": issuer, "serial_number": certificate.serial_number}),
        "key_encryption_algorithm": {"algorithm": "rsaes_pkcs1v15"},
        "encrypted_key": certificate.public_key().encrypt(key, padding.PKCS1v15()),  # type: ignore[union-attr]
    })
    gcm = GcmParameters({"nonce": nonce, "icv_len": 16}).dump()
    return cms.ContentInfo({"content_type": "authenticated_enveloped_data", "content": cms.AuthEnvelopedData({
        "version": "v0",
        "recipient_infos": [ktri],
        "auth_encrypted_content_info": {
            "content_type": "data",
            "content_encryption_algorithm": {"algorithm": "aes256_gcm", "parameters": core.Any.load(gcm)},
            "encrypted_content": sealed[:-16],
        },
        "auth_attrs": cms.CMSAttributes.load(attributes),
        "mac": sealed[-16:],
    })}).dump()


def test_authenticated_attributes_are_checked(test_pki: TestPki, p12_unwrap: Unwrap) -> None:
    attributes = cms.CMSAttributes([{"type": "content_type", "values": ["data"]}]).dump()
    envelope = _auth_enveloped_with_attributes(_cert(test_pki, "encryption"), b"prix : 1 000 000 EUR", attributes)
    assert _decrypt_bytes(envelope, p12_unwrap)[0] == b"prix : 1 000 000 EUR"
    # authAttrs come after the content: only a seekable source can be authenticated in one go.
    with pytest.raises(EnvelopeError) as err:
        decrypt(io.BufferedReader(_Pipe(envelope)), io.BytesIO(), p12_unwrap)  # type: ignore[arg-type]
    assert err.value.code == "UNSUPPORTED_ALGORITHM"
    other = cms.CMSAttributes([{"type": "content_type", "values": ["signed_data"]}]).dump()
    forged = envelope.replace(attributes[1:], other[1:])
    assert forged != envelope
    with pytest.raises(EnvelopeError) as err:
        _decrypt_bytes(forged, p12_unwrap)
    assert err.value.code == "DECRYPTION_FAILED"


def test_padding_and_tag_failures_say_the_same(openssl_envelopes: dict[str, Path], p12_unwrap: Unwrap) -> None:
    cbc = openssl_envelopes["aes256-cbc"].read_bytes()
    gcm = openssl_envelopes["aes256-gcm"].read_bytes()
    errors = []
    # CBC: flipping the last octet of the next-to-last block always breaks the padding length
    # (bit 0 of n in 1..16); GCM: any flip breaks the tag.
    for tampered in (_flip(cbc, len(cbc) - 17), _flip(gcm, len(gcm) - 40), _flip(gcm, len(gcm) // 2)):
        with pytest.raises(EnvelopeError) as err:
            decrypt(io.BytesIO(tampered), io.BytesIO(), p12_unwrap)
        errors.append((err.value.code, str(err.value)))
    assert len(set(errors)) == 1 and errors[0][0] == "DECRYPTION_FAILED"


def test_corrupted_wrapped_key_fails_without_detail(openssl_envelopes: dict[str, Path], test_pki: TestPki,
                                                    p12_unwrap: Unwrap, token_unwrap: Unwrap) -> None:
    data = openssl_envelopes["aes256-cbc"].read_bytes()
    with openssl_envelopes["aes256-cbc"].open("rb") as source:
        ours = next(r for r in recipients(source) if r.matches(_cert(test_pki, "encryption")))
    at = data.index(ours.encrypted_key) + 17
    for unwrap in (p12_unwrap, token_unwrap):
        with pytest.raises(EnvelopeError) as err:
            decrypt(io.BytesIO(_flip(data, at)), io.BytesIO(), unwrap)
        assert err.value.code == "DECRYPTION_FAILED"


def test_key_that_is_no_recipient(plaintext: Path, test_pki: TestPki, work: Path, p12_unwrap: Unwrap) -> None:
    envelope = work / "for-someone-else.p7m"
    result = _run("openssl", "cms", "-encrypt", "-binary", "-in", str(plaintext), "-outform", "DER", "-out",
                  str(envelope), "-aes256", str(test_pki.cert_pem("plain")))
    assert result.returncode == 0
    with pytest.raises(EnvelopeError) as err:
        _decrypt_bytes(envelope, p12_unwrap)
    assert err.value.code == "NO_MATCHING_RECIPIENT"
    assert "pas chiffrée pour vous" in str(err.value)


def _hostile_inputs(good_der: bytes, good_ber: bytes) -> dict[str, bytes]:
    huge = (1 << 62).to_bytes(8, "big")
    top_body = good_der[2 + (good_der[1] & 0x7F if good_der[1] & 0x80 else 0):]  # after the top header
    head = good_der[:good_der.index(b"\x31\x82")]  # up to the RecipientInfos
    version = good_ber[:good_ber.index(b"\x02\x01\x00") + 3]  # BER: down to EnvelopedData's version
    segments = good_ber.index(b"\xa0\x80\x04")  # the segmented content
    return {
        "empty": b"",
        "random": os.urandom(4096),
        "text": b"Bonjour, ceci n'est pas une enveloppe.\n" * 100,
        "truncated-head": good_der[:40],
        "truncated-recipients": good_der[:300],
        "truncated-content": good_der[:len(good_der) // 2],
        "truncated-mac": good_der[:-3],
        "ber-missing-eoc": good_ber[:-4],
        "ber-truncated-segment": good_ber[:len(good_ber) // 2],
        "absurd-top-length": b"\x30\x88" + huge + top_body,
        "nine-length-octets": b"\x30\x89" + b"\x01" * 9 + top_body,
        "absurd-recipients-length": head + b"\x31\x88" + huge + b"\x00" * 64,
        "absurd-segment": good_ber[:segments + 3] + b"\x88" + huge + b"\x00" * 64,
        "deep-nesting-in-originator": version + b"\xa0\x80" + b"\x30\x80" * 100_000,
        "deep-nesting-in-recipients": head + b"\x31\x80" + b"\x30\x80" * 100_000,
        "deep-nesting-in-segments": good_ber[:segments + 2] + b"\x24\x80" * 100_000,
        "garbled-recipients": head + b"\x31\x06\x30\x04\x02\x02\x00\x00" + good_der[len(head) + 8:],
        "primitive-indefinite": b"\x30\x80\x06\x80" + b"\x00" * 16,
        "signed-data": b"\x30\x0d\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x07\x02\xa0\x00",
        "trailing-garbage": good_der + b"garbage",
        "eoc-in-definite": b"\x30\x04\x00\x00\x00\x00",
    }


def test_hostile_inputs_fail_fast_with_format_failure(openssl_envelopes: dict[str, Path], p12_unwrap: Unwrap) -> None:
    inputs = _hostile_inputs(openssl_envelopes["aes256-gcm"].read_bytes(),
                             openssl_envelopes["stream-oaep-gcm"].read_bytes())
    for name, data in inputs.items():
        for make in (io.BytesIO, lambda d: io.BufferedReader(_Pipe(d))):
            started = time.monotonic()
            with pytest.raises(EnvelopeError) as err:
                decrypt(make(data), io.BytesIO(), p12_unwrap)
            elapsed = time.monotonic() - started
            assert err.value.code == "FORMAT_FAILURE", (name, err.value.code, str(err.value))
            assert str(err.value).startswith("Enveloppe illisible"), name
            assert elapsed < 2, (name, elapsed)
    with pytest.raises(EnvelopeError) as err:
        recipients(io.BytesIO(inputs["truncated-recipients"]))
    assert err.value.code == "FORMAT_FAILURE"


def test_unsupported_content_algorithm(plaintext: Path, test_pki: TestPki, work: Path, p12_unwrap: Unwrap) -> None:
    envelope = work / "des3.p7m"
    assert _run("openssl", "cms", "-encrypt", "-binary", "-in", str(plaintext), "-outform", "DER", "-out", str(envelope),
                "-des3", str(test_pki.cert_pem("encryption"))).returncode == 0
    with pytest.raises(EnvelopeError) as err:
        _decrypt_bytes(envelope, p12_unwrap)
    assert err.value.code == "UNSUPPORTED_ALGORITHM"


# -- size: constant memory --------------------------------------------------------------------------


class _HashSink:
    def __init__(self) -> None:
        self.hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.hash.update(data)
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        pass


def test_200_mb_envelopes_stream_in_constant_memory(tmp_path: Path, test_pki: TestPki, p12_unwrap: Unwrap) -> None:
    size = 200 * 1024 * 1024
    source = tmp_path / "gros-dossier.bin"
    expected = hashlib.sha256()
    with source.open("wb") as out:
        block = os.urandom(1024 * 1024)
        for i in range(size // len(block)):
            piece = block[:i % 997] + struct.pack(">Q", i) + block[i % 997 + 8:]
            expected.update(piece)
            out.write(piece)
    envelope = tmp_path / "gros-dossier.p7m"
    try:
        # openssl -stream: indefinite lengths, 4 KiB segments, AES-GCM
        result = _run("openssl", "cms", "-encrypt", "-binary", "-stream", "-in", str(source), "-outform", "DER",
                      "-out", str(envelope), "-aes-256-gcm", str(test_pki.cert_pem("encryption")))
        assert result.returncode == 0, result.stderr.decode()
        sink = _HashSink()
        seen: list[tuple[int, int]] = []
        tracemalloc.start()
        try:
            with envelope.open("rb") as stream:
                decrypt(stream, sink, p12_unwrap, progress=lambda d, t: seen.append((d, t)))  # type: ignore[arg-type]
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert sink.size == size and sink.hash.digest() == expected.digest()
        assert peak < 20 * 1024 * 1024, peak
        assert seen[-1][0] == seen[-1][1] == envelope.stat().st_size and len(seen) > 100

        # ours, DER with a 200 MB primitive content, then opened again by us
        tracemalloc.start()
        try:
            with source.open("rb") as stream, envelope.open("wb") as out:
                encrypt(stream, out, [_cert(test_pki, "encryption")], algorithm="aes-256-cbc")
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 20 * 1024 * 1024, peak
        sink = _HashSink()
        with envelope.open("rb") as stream:
            decrypt(stream, sink, p12_unwrap)  # type: ignore[arg-type]
        assert sink.hash.digest() == expected.digest()
    finally:
        source.unlink(missing_ok=True)
        envelope.unlink(missing_ok=True)


# -- ZIP archives ---------------------------------------------------------------------------------


LIMITS = dict(max_total=100 * 1024 * 1024, max_ratio=100.0, max_entries=100)


def _zip(path: Path, entries: list[tuple[str | zipfile.ZipInfo, bytes]]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return path


def _tree(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def test_zip_extracts_into_the_folder(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "offre.zip", [("offre/", b""), ("offre/technique/mémoire.pdf", b"%PDF-1.7 " * 1000),
                                            ("offre/prix.xlsx", os.urandom(5000)), ("lisez-moi.txt", b"bonjour")])
    out = tmp_path / "ouvert"
    files = extract_zip(archive, out, **LIMITS)  # type: ignore[arg-type]
    assert [p.relative_to(out).as_posix() for p in files] == ["offre/technique/mémoire.pdf", "offre/prix.xlsx", "lisez-moi.txt"]
    assert (out / "offre/technique/mémoire.pdf").read_bytes() == b"%PDF-1.7 " * 1000
    assert not [p for p in out.rglob("*") if p.name.endswith(".part")]


@pytest.mark.parametrize("name", ["../evil.txt", "/tmp/compagnon-evil.txt", "offre/../../evil.txt", "..\\evil.txt",
                                  "C:/evil.txt", "C:\\evil.txt", "offre/..\\..\\evil.txt"])
def test_zip_slip_is_refused(name: str, tmp_path: Path) -> None:
    archive = _zip(tmp_path / "slip.zip", [("offre/ok.txt", b"premier fichier"), (name, b"hors du dossier")])
    out = tmp_path / "ouvert"
    before = _tree(tmp_path)
    with pytest.raises(EnvelopeError) as err:
        extract_zip(archive, out, **LIMITS)  # type: ignore[arg-type]
    assert err.value.code == "ARCHIVE_UNSAFE"
    assert _tree(tmp_path) == before  # nothing outside, nothing left inside, not even the folder it made
    assert not out.exists()
    assert not Path("/tmp/compagnon-evil.txt").exists()


def test_zip_symlinks_are_refused(tmp_path: Path) -> None:
    link = zipfile.ZipInfo("offre/lien")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    archive = _zip(tmp_path / "lien.zip", [(link, b"../../../etc/passwd"), ("offre/lien/passwd", b"x")])
    with pytest.raises(EnvelopeError) as err:
        extract_zip(archive, tmp_path / "ouvert", **LIMITS)  # type: ignore[arg-type]
    assert err.value.code == "ARCHIVE_UNSAFE"
    # An existing symlink inside the destination is not followed out either.
    outside = tmp_path / "ailleurs"
    outside.mkdir()
    out = tmp_path / "ouvert2"
    out.mkdir()
    (out / "offre").symlink_to(outside, target_is_directory=True)
    with pytest.raises(EnvelopeError) as err:
        extract_zip(_zip(tmp_path / "via-lien.zip", [("offre/x.txt", b"x")]), out, **LIMITS)  # type: ignore[arg-type]
    assert err.value.code == "ARCHIVE_UNSAFE"
    assert list(outside.iterdir()) == []


def test_zip_bombs_are_stopped_while_streaming(tmp_path: Path) -> None:
    bomb = tmp_path / "bombe.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("petit.txt", b"avant la bombe")
        with archive.open("zeros.bin", "w") as entry:
            for _ in range(64):
                entry.write(bytes(1024 * 1024))
    assert bomb.stat().st_size < 200_000
    out = tmp_path / "ouvert"
    with pytest.raises(EnvelopeError) as err:
        extract_zip(bomb, out, max_total=1 << 40, max_ratio=100.0, max_entries=10)
    assert err.value.code == "ARCHIVE_UNSAFE" and "taux de compression" in str(err.value)
    assert not out.exists()  # the small file extracted first was removed too, and the folder made for it

    # Total size, counted on decompressed bytes.
    many = _zip(tmp_path / "gros.zip", [(f"f{i}.bin", os.urandom(2 * 1024 * 1024)) for i in range(3)])
    with pytest.raises(EnvelopeError) as err:
        extract_zip(many, tmp_path / "ouvert-gros", max_total=5 * 1024 * 1024, max_ratio=100.0, max_entries=10)
    assert err.value.code == "ARCHIVE_UNSAFE"
    assert not (tmp_path / "ouvert-gros").exists()

    # Entry count, read before the central directory is loaded.
    crowd = _zip(tmp_path / "foule.zip", [(f"f{i}.txt", b"x") for i in range(20)])
    with pytest.raises(EnvelopeError) as err:
        extract_zip(crowd, tmp_path / "ouvert-foule", max_total=1 << 30, max_ratio=100.0, max_entries=10)
    assert err.value.code == "ARCHIVE_UNSAFE"


def test_zip_headers_that_lie_about_sizes(tmp_path: Path) -> None:
    """Sizes in the headers are small; the data inflates to 8 MiB: never trusted, nothing left."""
    archive = _zip(tmp_path / "menteur.zip", [("zeros.bin", bytes(8 * 1024 * 1024))])
    data = bytearray(archive.read_bytes())
    struct.pack_into("<I", data, 22, 1000)  # local header: uncompressed size
    central = data.index(b"PK\x01\x02")
    struct.pack_into("<I", data, central + 24, 1000)  # central directory: uncompressed size
    archive.write_bytes(bytes(data))
    out = tmp_path / "ouvert"
    with pytest.raises(EnvelopeError) as err:
        extract_zip(archive, out, max_total=4 * 1024 * 1024, max_ratio=1e9, max_entries=10)
    assert err.value.code in ("FORMAT_FAILURE", "ARCHIVE_UNSAFE")
    assert not out.exists()





def test_token_without_oaep_sha256_fails_cleanly(openssl_envelopes: dict[str, Path], token_unwrap: Unwrap) -> None:
    """SoftHSM 2.6 has RSA-OAEP with SHA-1 only (CKR_ARGUMENTS_BAD otherwise): the key store says
    KEY_NOT_USABLE, which the engine cannot tell from a bad padding (no oracle)."""
    with pytest.raises(EnvelopeError) as err:
        _decrypt_bytes(openssl_envelopes["oaep-sha256"], token_unwrap)
    assert err.value.code == "DECRYPTION_FAILED"
