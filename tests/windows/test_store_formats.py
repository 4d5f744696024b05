"""PAdES, CAdES and XAdES made under Wine with keys of the Windows store, judged by Linux tools.

Two kinds of store key, as the key provider information of their certificate says:

* a CryptoAPI key: the test PKI's qualified certificate imported from its PKCS#12 file
  (``PFXImportCertStore``), signed with by ``compagnon sign --cert`` in its own Windows process;
* a CNG key of Wine's software key storage provider (``dwProvType`` 0 in the provider
  information), whose certificate the test PKI's intermediate CA issues. Wine 8 keeps CNG keys in
  the process that made them (its ``NCryptOpenKey`` is a stub), so the three signatures are made
  by the agent's command line run inside that same Windows process, where the KSP's missing
  ``NCryptOpenKey`` is stood in for by ``NCryptImportKey`` of the key the KSP created (each
  opening gets its own handle, as from ``NCryptOpenKey``). Everything else is the agent's own path:
  the listing, the choice of CNG from the provider information, ``NCryptSignHash`` in Wine's KSP.

Each signature: pdfsig (PAdES), ``openssl cms -verify`` (CAdES) and xmlsec1 (XAdES), trusting the
test root only.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.support import xml_samples
from tests.support.pdf import make_pdf_file
from tests.support.pki import TestPki
from tests.support.verifiers import nss_database, openssl_cms_ok, pdfsig_ok, xmlsec_ok
from tests.support.wine import ROOT, WinePython, store_lock, unixpath, winpath

#: Runs under Wine. argv: source tree, intermediate CA certificate and key (PEM), configuration,
#: then the PDF, the file for CAdES and the XML to sign. Prints the signed files, one per format.
CNG_SIGN_FILES = r'''
import ctypes, io, json, sys, winreg
from contextlib import redirect_stdout
from ctypes import wintypes as wt
from datetime import UTC, datetime, timedelta
sys.path.insert(0, sys.argv[1])
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from agent import cli
from agent.keystores import windows_store as ws

ncrypt = ctypes.WinDLL("ncrypt")
L, P, D = ctypes.c_long, ctypes.c_size_t, wt.DWORD
def proto(f, *args):
    f.restype = L
    f.argtypes = list(args)
proto(ncrypt.NCryptOpenStorageProvider, ctypes.POINTER(P), ctypes.c_wchar_p, D)
proto(ncrypt.NCryptCreatePersistedKey, P, ctypes.POINTER(P), ctypes.c_wchar_p, ctypes.c_wchar_p, D, D)
proto(ncrypt.NCryptSetProperty, P, ctypes.c_wchar_p, ctypes.c_void_p, D, D)
proto(ncrypt.NCryptFinalizeKey, P, D)
proto(ncrypt.NCryptExportKey, P, P, ctypes.c_wchar_p, ctypes.c_void_p, ctypes.c_void_p, D, ctypes.POINTER(D), D)
proto(ncrypt.NCryptImportKey, P, P, ctypes.c_wchar_p, ctypes.c_void_p, ctypes.POINTER(P), ctypes.c_void_p, D, D)
KSP = "Microsoft Software Key Storage Provider"
CONTAINER = "Compagnon CNG test"

provider, key = P(), P()
assert ncrypt.NCryptOpenStorageProvider(ctypes.byref(provider), KSP, 0) == 0
assert ncrypt.NCryptCreatePersistedKey(provider, ctypes.byref(key), "RSA", CONTAINER, 0, 0) == 0
bits = D(2048)
assert ncrypt.NCryptSetProperty(key, "Length", ctypes.byref(bits), 4, 0) == 0
assert ncrypt.NCryptFinalizeKey(key, 0) == 0

def export(kind):
    size = D()
    assert ncrypt.NCryptExportKey(key, 0, kind, None, None, 0, ctypes.byref(size), 0) == 0
    blob = ctypes.create_string_buffer(size.value)
    assert ncrypt.NCryptExportKey(key, 0, kind, None, blob, size, ctypes.byref(size), 0) == 0
    return blob.raw[:size.value]

public_blob, private_blob = export("RSAPUBLICBLOB"), export("RSAFULLPRIVATEBLOB")
sizes = [int.from_bytes(public_blob[i:i + 4], "little") for i in range(8, 16, 4)]
exponent = int.from_bytes(public_blob[24:24 + sizes[0]], "big")
modulus = int.from_bytes(public_blob[24 + sizes[0]:24 + sizes[0] + sizes[1]], "big")
public_key = rsa.RSAPublicNumbers(exponent, modulus).public_key()

issuer = x509.load_pem_x509_certificate(open(sys.argv[2], "rb").read())
issuer_key = serialization.load_pem_private_key(open(sys.argv[3], "rb").read(), None)
now = datetime.now(UTC)
name = x509.Name([x509.NameAttribute(x509.NameOID.COUNTRY_NAME, "FR"),
                  x509.NameAttribute(x509.NameOID.ORGANIZATION_NAME, "ENTREPRISE EXEMPLE"),
                  x509.NameAttribute(x509.NameOID.COMMON_NAME, "Claire CNG")])
certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer.subject).public_key(public_key)
               .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
               .not_valid_after(now + timedelta(days=30))
               .add_extension(x509.KeyUsage(True, True, False, False, False, False, False, False, False), critical=True)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.public_key()), critical=False)
               .sign(issuer_key, hashes.SHA256()))

crypt32 = ctypes.WinDLL("crypt32", use_last_error=True)
crypt32.CertOpenStore.restype = ctypes.c_void_p
crypt32.CertOpenStore.argtypes = [ctypes.c_void_p, D, ctypes.c_void_p, D, ctypes.c_void_p]
crypt32.CertAddEncodedCertificateToStore.argtypes = [ctypes.c_void_p, D, ctypes.c_char_p, D, D,
                                                     ctypes.POINTER(ctypes.c_void_p)]
crypt32.CertSetCertificateContextProperty.argtypes = [ctypes.c_void_p, D, D, ctypes.c_void_p]
crypt32.CertFreeCertificateContext.argtypes = [ctypes.c_void_p]
crypt32.CertCloseStore.argtypes = [ctypes.c_void_p, D]
for store_name in ("My", "CA"):
    with winreg.CreateKeyEx(winreg.HKEY_CURRENT_USER, rf"Software\Microsoft\SystemCertificates\{store_name}\Certificates",
                            0, winreg.KEY_ALL_ACCESS) as folder:
        for entry in [winreg.EnumKey(folder, i) for i in range(winreg.QueryInfoKey(folder)[0])]:
            winreg.DeleteKey(folder, entry)
my = crypt32.CertOpenStore(10, 0, None, 1 << 16, ctypes.c_wchar_p("MY"))
der = certificate.public_bytes(serialization.Encoding.DER)
context = ctypes.c_void_p()
assert crypt32.CertAddEncodedCertificateToStore(my, 1, der, len(der), 3, ctypes.byref(context))
info = ws.CRYPT_KEY_PROV_INFO(CONTAINER, KSP, 0, 0, 0, None, 0)
assert crypt32.CertSetCertificateContextProperty(context, 2, 0, ctypes.byref(info))
crypt32.CertFreeCertificateContext(context)
crypt32.CertCloseStore(my, 0)
# The issuing CA in "Intermediate Certification Authorities", where Windows keeps it.
ca = crypt32.CertOpenStore(10, 0, None, 1 << 16, ctypes.c_wchar_p("CA"))
issuer_der = issuer.public_bytes(serialization.Encoding.DER)
assert crypt32.CertAddEncodedCertificateToStore(ca, 1, issuer_der, len(issuer_der), 3, None)
crypt32.CertCloseStore(ca, 0)

opened = []

def open_cng_key(provider_name, container, key_spec=0, machine=False):
    assert (provider_name, container, key_spec, machine) == (KSP, CONTAINER, 0, False), (provider_name, container)
    handle = P()
    data = ctypes.create_string_buffer(private_blob, len(private_blob))
    assert ncrypt.NCryptImportKey(provider, 0, "RSAFULLPRIVATEBLOB", None, ctypes.byref(handle), data,
                                  len(private_blob), 0) == 0
    opened.append(container)
    return handle.value

ws.open_cng_key = open_cng_key
store = ws.WindowsMyStore()
(stored,) = [k for k in store.keys() if k.certificate == certificate]
outputs = {}
config, pdf, content, xml = sys.argv[4:8]
for fmt, path, extra in (("pades", pdf, []), ("cades", content, []), ("xades", xml, ["--enveloped"])):
    printed = io.StringIO()
    with redirect_stdout(printed):
        code = cli.main(["sign", path, "--format", fmt, *extra, "--cert", stored.id, "--config", config])
    assert code == 0, (fmt, code)
    outputs[fmt] = printed.getvalue().strip()
print(json.dumps({"outputs": outputs, "opened": len(opened)}))
'''


def test_cng_store_key_signs_pades_cades_xades(wine: WinePython, win_config: Path, test_pki: TestPki,
                                               tmp_path: Path) -> None:
    pdf = make_pdf_file(tmp_path / "Acte d'engagement.pdf", pages=2)
    content = tmp_path / "mémoire technique.odt"
    content.write_bytes(b"PK\x03\x04 memoire " * 2000)
    xml = tmp_path / "offre.xml"
    xml.write_bytes(xml_samples.plain_xml())
    with store_lock(wine):
        result = wine.script(CNG_SIGN_FILES, winpath(ROOT), winpath(test_pki.intermediate_pem),
                             winpath(test_pki.key_pem("intermediate")), winpath(win_config), winpath(pdf),
                             winpath(content), winpath(xml), timeout=300)
    assert result.returncode == 0, result.stderr.decode("utf-8", "replace")
    out = json.loads(result.stdout.decode("utf-8").strip().splitlines()[-1])
    assert out["opened"] == 3  # one key opening per command, as a new process would do
    signed = {fmt: unixpath(path) for fmt, path in out["outputs"].items()}
    assert pdfsig_ok(signed["pades"], nss_database(tmp_path / "nss", test_pki.root_pem))
    assert openssl_cms_ok(signed["cades"], content, test_pki)
    other = tmp_path / "autre.odt"
    other.write_bytes(content.read_bytes() + b"!")
    assert not openssl_cms_ok(signed["cades"], other, test_pki)
    assert xmlsec_ok(signed["xades"], test_pki)
