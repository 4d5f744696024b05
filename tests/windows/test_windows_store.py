"""The Windows certificate store back-end (agent/keystores/windows_store.py) under Wine.

A test PKCS#12 is imported into the Wine user's Personal store the way Windows tools do
(``PFXImportCertStore``, ``CertAddCertificateContextToStore``, ``CertCloseStore`` — Wine writes the
store to its registry on close); then ``compagnon certs`` lists it as "Magasin Windows" and
``compagnon sign --cert`` signs with the key Windows keeps, judged by ``openssl cms -verify``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from tests.support.pki import TestPki
from tests.support.verifiers import openssl_cms_ok
from tests.support.wine import WinePython, store_lock, unixpath, winpath

#: Runs under Wine: empty CurrentUser\MY and CA (their registry keys), then import a PKCS#12's
#: certificate and its key there (argv: file, password, SHA-1 thumbprint of the holder's certificate). Wine gives the key's provider
#: information to every certificate of the file, the CA's too: only the holder's is added to MY, the
#: authorities go to the "CA" (intermediate authorities) store, as Windows' import wizard puts them.
IMPORT_PFX = r'''
import ctypes, sys
from ctypes import wintypes as wt

crypt32 = ctypes.WinDLL("crypt32", use_last_error=True)

class BLOB(ctypes.Structure):
    _fields_ = [("cbData", wt.DWORD), ("pbData", ctypes.c_void_p)]

crypt32.PFXImportCertStore.restype = ctypes.c_void_p
crypt32.PFXImportCertStore.argtypes = [ctypes.POINTER(BLOB), ctypes.c_wchar_p, wt.DWORD]
crypt32.CertOpenStore.restype = ctypes.c_void_p
crypt32.CertOpenStore.argtypes = [ctypes.c_void_p, wt.DWORD, ctypes.c_void_p, wt.DWORD, ctypes.c_void_p]
crypt32.CertEnumCertificatesInStore.restype = ctypes.c_void_p
crypt32.CertEnumCertificatesInStore.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
crypt32.CertDuplicateCertificateContext.restype = ctypes.c_void_p
crypt32.CertDuplicateCertificateContext.argtypes = [ctypes.c_void_p]
crypt32.CertDeleteCertificateFromStore.argtypes = [ctypes.c_void_p]
crypt32.CertFreeCertificateContext.argtypes = [ctypes.c_void_p]
crypt32.CertGetCertificateContextProperty.argtypes = [ctypes.c_void_p, wt.DWORD, ctypes.c_void_p, ctypes.POINTER(wt.DWORD)]
crypt32.CertAddCertificateContextToStore.argtypes = [ctypes.c_void_p, ctypes.c_void_p, wt.DWORD, ctypes.c_void_p]
crypt32.CertCloseStore.argtypes = [ctypes.c_void_p, wt.DWORD]

data = open(sys.argv[1], "rb").read()
buffer = ctypes.create_string_buffer(data, len(data))
blob = BLOB(len(data), ctypes.cast(buffer, ctypes.c_void_p))
CRYPT_USER_KEYSET = 0x1000
pfx = crypt32.PFXImportCertStore(ctypes.byref(blob), sys.argv[2], CRYPT_USER_KEYSET)
if not pfx:
    sys.exit(f"PFXImportCertStore: {ctypes.get_last_error():#x}")
# Wine keeps no deletion made through CertDeleteCertificateFromStore: the store's registry keys go.
import winreg
for store in ("My", "CA"):
    with winreg.CreateKeyEx(winreg.HKEY_CURRENT_USER, rf"Software\Microsoft\SystemCertificates\{store}\Certificates",
                            0, winreg.KEY_ALL_ACCESS) as key:
        for name in [winreg.EnumKey(key, i) for i in range(winreg.QueryInfoKey(key)[0])]:
            winreg.DeleteKey(key, name)
my = crypt32.CertOpenStore(10, 0, None, 1 << 16, ctypes.c_wchar_p("MY"))
if not my:
    sys.exit(f"CertOpenStore: {ctypes.get_last_error():#x}")
ca = crypt32.CertOpenStore(10, 0, None, 1 << 16, ctypes.c_wchar_p("CA"))
added = 0
context = crypt32.CertEnumCertificatesInStore(pfx, None)
while context:
    thumbprint = ctypes.create_string_buffer(20)
    size = wt.DWORD(20)
    crypt32.CertGetCertificateContextProperty(context, 3, thumbprint, ctypes.byref(size))
    if thumbprint.raw.hex() == sys.argv[3]:
        if not crypt32.CertAddCertificateContextToStore(my, context, 3, None):
            sys.exit(f"CertAddCertificateContextToStore: {ctypes.get_last_error():#x}")
        added += 1
    elif not crypt32.CertAddCertificateContextToStore(ca, context, 3, None):
        sys.exit(f"CertAddCertificateContextToStore: {ctypes.get_last_error():#x}")
    context = crypt32.CertEnumCertificatesInStore(pfx, context)
crypt32.CertCloseStore(my, 0)
crypt32.CertCloseStore(ca, 0)
crypt32.CertCloseStore(pfx, 0)
print(added)
'''


@pytest.fixture
def store_key(wine: WinePython, test_pki: TestPki) -> Iterator[x509.Certificate]:
    """The qualified test certificate and its key in the Wine user's Personal store (alone there)."""
    with store_lock(wine):
        certificate = x509.load_pem_x509_certificate(test_pki.cert_pem("qualified").read_bytes())
        thumbprint = hashlib.sha1(certificate.public_bytes(Encoding.DER)).hexdigest()  # noqa: S324 (Windows' own)
        result = wine.script(IMPORT_PFX, winpath(test_pki.p12("qualified", "mot de passe")), "mot de passe", thumbprint)
        assert result.returncode == 0 and result.stdout.strip() == b"1", result.stderr
        yield certificate


def test_store_certificate_listed_and_signs(wine: WinePython, store_key: x509.Certificate, win_config: Path,
                                            test_pki: TestPki, tmp_path: Path) -> None:
    sha256 = hashlib.sha256(store_key.public_bytes(Encoding.DER)).hexdigest()
    listed = wine.agent("certs", "--json", "--trust", winpath(test_pki.root_pem), "--config", winpath(win_config),
                        timeout=180)
    assert listed.returncode == 0, listed.stderr.decode("utf-8", "replace")
    infos = json.loads(listed.stdout.decode("utf-8"))
    (info,) = [i for i in infos if i["sha256"] == sha256]
    assert info["source"] == {"kind": "windows", "label": "Magasin Windows"}
    assert info["subject"] == store_key.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value
    assert "signing" in info["purposes"]

    content = tmp_path / "Réponse AO.pdf"
    content.write_bytes(b"%PDF offre " * 1000)
    signed = wine.agent("sign", winpath(content), "--format", "cades", "--cert", info["id"], "--config",
                        winpath(win_config), timeout=180)
    assert signed.returncode == 0, signed.stderr.decode("utf-8", "replace")
    signature = unixpath(signed.stdout.decode("utf-8").strip())
    assert openssl_cms_ok(signature, content, test_pki)
    other = tmp_path / "autre.pdf"
    other.write_bytes(b"%PDF autre " * 1000)
    assert not openssl_cms_ok(signature, other, test_pki)


#: Runs under Wine: unwrap argv[2] (hex) with the store key whose certificate's SHA-256 is argv[1].
UNWRAP = r'''
import sys
sys.path.insert(0, sys.argv[4])
from agent.keystores.windows_store import WindowsMyStore

store = WindowsMyStore()
(key,) = [k for k in store.keys() if k.sha256 == sys.argv[1]]
with store.open(None) as session:
    print(session.decrypt_key(key, bytes.fromhex(sys.argv[2]), sys.argv[3], "sha1").hex())
'''


def test_store_key_unwraps_a_content_key(wine: WinePython, store_key: x509.Certificate) -> None:
    """RFC 5652 section 6.2.1 key transport to the store key: PKCS#1 v1.5 and OAEP (SHA-1), wrapped on Linux."""
    import os

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    from tests.support.wine import ROOT

    public = store_key.public_key()
    assert isinstance(public, rsa.RSAPublicKey)
    sha256 = hashlib.sha256(store_key.public_bytes(Encoding.DER)).hexdigest()
    for name, pad in (("pkcs1v15", padding.PKCS1v15()),
                      ("oaep", padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None))):
        secret = os.urandom(32)
        result = wine.script(UNWRAP, sha256, public.encrypt(secret, pad).hex(), name, winpath(ROOT))
        assert result.returncode == 0, result.stderr.decode("utf-8", "replace")
        assert bytes.fromhex(result.stdout.decode().strip()) == secret, name


def test_store_key_signs_pades_and_xades(wine: WinePython, store_key: x509.Certificate, win_config: Path,
                                         test_pki: TestPki, tmp_path: Path) -> None:
    """The CryptoAPI key of the imported certificate: PAdES judged by pdfsig, enveloped XAdES by xmlsec1
    (CAdES: test_store_certificate_listed_and_signs)."""
    from tests.support import xml_samples
    from tests.support.pdf import make_pdf_file
    from tests.support.verifiers import nss_database, pdfsig_ok, xmlsec_ok

    sha256 = hashlib.sha256(store_key.public_bytes(Encoding.DER)).hexdigest()
    pdf = make_pdf_file(tmp_path / "Acte d'engagement.pdf", pages=2)
    xml = tmp_path / "offre.xml"
    xml.write_bytes(xml_samples.plain_xml())
    signed = {}
    for fmt, path, extra in (("pades", pdf, ()), ("xades", xml, ("--enveloped",))):
        result = wine.agent("sign", winpath(path), "--format", fmt, *extra, "--cert", sha256[:16], "--config",
                            winpath(win_config), timeout=180)
        assert result.returncode == 0, result.stderr.decode("utf-8", "replace")
        signed[fmt] = unixpath(result.stdout.decode("utf-8").strip())
    assert pdfsig_ok(signed["pades"], nss_database(tmp_path / "nss", test_pki.root_pem))
    assert xmlsec_ok(signed["xades"], test_pki)
    tampered = signed["xades"].read_bytes().replace(b"</", b" </", 1)
    signed["xades"].write_bytes(tampered)
    assert not xmlsec_ok(signed["xades"], test_pki)
