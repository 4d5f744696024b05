"""CNG keys (agent/keystores/windows_store.py) under Wine, judged by openssl on Linux.

Wine 8's CNG software key storage provider makes RSA keys that live in the process that created
them: ``NCryptCreatePersistedKey`` ignores the name ("Persistent keys are not supported") and
``NCryptOpenKey`` is a stub answering ``NTE_NOT_SUPPORTED``; ``NCryptDecrypt`` is a stub too, and
ECDSA keys cannot be created. What Wine can show is shown here: the agent's ``NCryptSignHash``
calls (PKCS#1 v1.5 with SHA-256, PSS with SHA-256/384/512) on a key of Wine's KSP, each signature checked by
``openssl pkeyutl``; and that a certificate of the Personal store whose key provider information
names a KSP (``dwProvType == 0``) is opened through CNG, not CryptoAPI — under Wine the KSP then
answers ``NTE_NOT_SUPPORTED``, which the agent reports as the stable ``KEY_NOT_USABLE``.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support.wine import ROOT, WinePython, store_lock, winpath

#: Runs under Wine: a 2048-bit RSA key in Wine's software KSP, its public key, and the agent's
#: CNG signatures of one digest per hash and scheme (argv: the source tree, the message, the
#: "hash-scheme" pairs).
CNG_SIGN = r'''
import ctypes, hashlib, json, sys
from ctypes import wintypes as wt
sys.path.insert(0, sys.argv[1])
from agent.keystores import windows_store as ws

ncrypt = ctypes.WinDLL("ncrypt")
for f in (ncrypt.NCryptCreatePersistedKey, ncrypt.NCryptFinalizeKey, ncrypt.NCryptSetProperty,
          ncrypt.NCryptExportKey):
    f.restype = ctypes.c_long
ncrypt.NCryptCreatePersistedKey.argtypes = [ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t), ctypes.c_wchar_p,
                                            ctypes.c_wchar_p, wt.DWORD, wt.DWORD]
ncrypt.NCryptFinalizeKey.argtypes = [ctypes.c_size_t, wt.DWORD]
ncrypt.NCryptSetProperty.argtypes = [ctypes.c_size_t, ctypes.c_wchar_p, ctypes.c_void_p, wt.DWORD, wt.DWORD]
ncrypt.NCryptExportKey.argtypes = [ctypes.c_size_t, ctypes.c_size_t, ctypes.c_wchar_p, ctypes.c_void_p,
                                   ctypes.c_void_p, wt.DWORD, ctypes.POINTER(wt.DWORD), wt.DWORD]
ws._libs()
prov = ctypes.c_size_t()
assert ws._libs()[2].NCryptOpenStorageProvider(ctypes.byref(prov), "Microsoft Software Key Storage Provider", 0) == 0
key = ctypes.c_size_t()
assert ncrypt.NCryptCreatePersistedKey(prov, ctypes.byref(key), "RSA", "Compagnon CNG test", 0, 0) == 0
bits = wt.DWORD(2048)
assert ncrypt.NCryptSetProperty(key, "Length", ctypes.byref(bits), 4, 0) == 0
assert ncrypt.NCryptFinalizeKey(key, 0) == 0
size = wt.DWORD()
assert ncrypt.NCryptExportKey(key, 0, "RSAPUBLICBLOB", None, None, 0, ctypes.byref(size), 0) == 0
blob = ctypes.create_string_buffer(size.value)
assert ncrypt.NCryptExportKey(key, 0, "RSAPUBLICBLOB", None, blob, size, ctypes.byref(size), 0) == 0
# BCRYPT_RSAKEY_BLOB: Magic, BitLength, cbPublicExp, cbModulus, cbPrime1, cbPrime2; exponent, modulus (big-endian).
header = [int.from_bytes(blob.raw[i:i + 4], "little") for i in range(0, 24, 4)]
exponent = blob.raw[24:24 + header[2]]
modulus = blob.raw[24 + header[2]:24 + header[2] + header[3]]
message = sys.argv[2].encode()
signatures = {}
for name in sys.argv[3].split(","):
    hash_name, scheme = name.split("-")
    digest = hashlib.new(hash_name, message).digest()
    signatures[name] = ws.cng_sign(key.value, digest, hash_name, scheme, 256).hex()
print(json.dumps({"n": modulus.hex(), "e": exponent.hex(), "signatures": signatures}))
'''


#: Wine 8's bcrypt (over GnuTLS) makes PKCS#1 v1.5 signatures with SHA-256 only: with SHA-384 and
#: SHA-512 it answers NTE_INTERNAL_ERROR ("GnuTLS error: Some constraint limits were reached").
CASES = ("sha256-pkcs1v15", "sha256-pss", "sha384-pss", "sha512-pss")


def _pkeyutl_verify(public_pem: Path, digest: bytes, signature: bytes, hash_name: str, scheme: str,
                    folder: Path) -> bool:
    (folder / "digest").write_bytes(digest)
    (folder / "sig").write_bytes(signature)
    options = ["-pkeyopt", f"digest:{hash_name}"]
    if scheme == "pss":
        options += ["-pkeyopt", "rsa_padding_mode:pss", "-pkeyopt", "rsa_pss_saltlen:digest"]
    result = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", str(public_pem), "-in",
                             str(folder / "digest"), "-sigfile", str(folder / "sig"), *options],
                            capture_output=True, text=True)
    return result.returncode == 0 and "Signature Verified Successfully" in result.stdout


def test_cng_signatures_of_a_ksp_key_verified_by_openssl(wine: WinePython, tmp_path: Path) -> None:
    message = "Offre de l'entreprise Dupont — lot n° 2"
    result = wine.script(CNG_SIGN, winpath(ROOT), message, ",".join(CASES), timeout=180)
    assert result.returncode == 0, result.stderr.decode("utf-8", "replace")
    out = json.loads(result.stdout.decode("utf-8"))
    public = rsa.RSAPublicNumbers(int(out["e"], 16), int(out["n"], 16)).public_key()
    assert public.key_size == 2048
    public_pem = tmp_path / "public.pem"
    public_pem.write_bytes(public.public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo))
    assert sorted(out["signatures"]) == sorted(CASES)
    for name, signature in out["signatures"].items():
        hash_name, scheme = name.split("-")
        digest = hashlib.new(hash_name, message.encode()).digest()
        assert _pkeyutl_verify(public_pem, digest, bytes.fromhex(signature), hash_name, scheme, tmp_path), name
        other = hashlib.new(hash_name, message.encode() + b"!").digest()
        assert not _pkeyutl_verify(public_pem, other, bytes.fromhex(signature), hash_name, scheme, tmp_path), name
    # PSS is randomised, PKCS#1 v1.5 is not: two schemes, two different signatures of one digest.
    assert out["signatures"]["sha256-pss"] != out["signatures"]["sha256-pkcs1v15"]


#: Runs under Wine: the Personal store emptied, then two self-signed certificates added with the key
#: provider information of a KSP key (``dwProvType`` 0) and of a CryptoAPI key whose container does
#: not exist; the agent's store signs with each (argv: the source tree). Prints the codes and the log.
PROVIDER_DISPATCH = r'''
import ctypes, io, json, logging, sys, winreg
from ctypes import wintypes as wt
from datetime import UTC, datetime, timedelta
sys.path.insert(0, sys.argv[1])
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from agent.keystores import windows_store as ws
from agent.errors import ReportedError

log = io.StringIO()
logging.basicConfig(stream=log, level=logging.INFO)
crypt32 = ctypes.WinDLL("crypt32", use_last_error=True)
crypt32.CertOpenStore.restype = ctypes.c_void_p
crypt32.CertOpenStore.argtypes = [ctypes.c_void_p, wt.DWORD, ctypes.c_void_p, wt.DWORD, ctypes.c_void_p]
crypt32.CertAddEncodedCertificateToStore.argtypes = [ctypes.c_void_p, wt.DWORD, ctypes.c_char_p, wt.DWORD, wt.DWORD,
                                                     ctypes.POINTER(ctypes.c_void_p)]
crypt32.CertSetCertificateContextProperty.argtypes = [ctypes.c_void_p, wt.DWORD, wt.DWORD, ctypes.c_void_p]
crypt32.CertFreeCertificateContext.argtypes = [ctypes.c_void_p]
crypt32.CertCloseStore.argtypes = [ctypes.c_void_p, wt.DWORD]

with winreg.CreateKeyEx(winreg.HKEY_CURRENT_USER, r"Software\Microsoft\SystemCertificates\My\Certificates",
                        0, winreg.KEY_ALL_ACCESS) as folder:
    for name in [winreg.EnumKey(folder, i) for i in range(winreg.QueryInfoKey(folder)[0])]:
        winreg.DeleteKey(folder, name)
my = crypt32.CertOpenStore(10, 0, None, 1 << 16, ctypes.c_wchar_p("MY"))
certificates = {}
for label, provider, prov_type in (("cng", "Microsoft Software Key Storage Provider", 0),
                                   ("capi", "Microsoft Enhanced RSA and AES Cryptographic Provider", 24)):
    key = rsa.generate_private_key(65537, 2048)
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, f"Clé {label}")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(hours=1))
            .not_valid_after(now + timedelta(days=1)).sign(key, hashes.SHA256()))
    der = cert.public_bytes(serialization.Encoding.DER)
    context = ctypes.c_void_p()
    assert crypt32.CertAddEncodedCertificateToStore(my, 1, der, len(der), 3, ctypes.byref(context))
    info = ws.CRYPT_KEY_PROV_INFO(f"compagnon-absent-{label}", provider, prov_type, 0, 0, None, 0)
    assert crypt32.CertSetCertificateContextProperty(context, 2, 0, ctypes.byref(info))
    crypt32.CertFreeCertificateContext(context)
    certificates[label] = cert
crypt32.CertCloseStore(my, 0)

store = ws.WindowsMyStore()
codes = {}
with store.open(None) as session:
    for label, cert in certificates.items():
        (key,) = [k for k in store.keys() if k.certificate == cert]
        try:
            session.sign_digest(key, b"\x01" * 32, "sha256", "pkcs1v15")
            codes[label] = "signed"
        except ReportedError as exc:
            codes[label] = exc.code.value
print(json.dumps({"codes": codes, "log": log.getvalue()}))
'''


def test_provider_information_chooses_cng_or_cryptoapi(wine: WinePython) -> None:
    """``dwProvType`` 0 goes to NCryptOpenKey (Wine's stub: NTE_NOT_SUPPORTED, KEY_NOT_USABLE); a CSP key
    whose container is gone goes to CryptAcquireContextW, whose NTE_BAD_KEYSET is NO_SUCH_CERTIFICATE."""
    with store_lock(wine):
        result = wine.script(PROVIDER_DISPATCH, winpath(ROOT), timeout=180)
    assert result.returncode == 0, result.stderr.decode("utf-8", "replace")
    out = json.loads(result.stdout.decode("utf-8"))
    assert out["codes"] == {"cng": "KEY_NOT_USABLE", "capi": "NO_SUCH_CERTIFICATE"}
    assert "NCryptOpenKey failed: 0x80090029" in out["log"]
    assert "CryptAcquireContextW failed: 0x80090016" in out["log"]
