"""CAdES signatures checked by independent tools: openssl cms, certtool (GnuTLS), openssl ts."""

from __future__ import annotations

import hashlib
import io
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from asn1crypto import cms
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from agent.consent import Secret
from agent.keystores.pkcs11_store import Pkcs11Module
from agent.keystores.pkcs12_store import Pkcs12FileStore
from agent.signing.base import SigningKey
from agent.signing.cades import CadesError, cosign, countersign, load_signature, sign_cades, signers
from agent.tsa_client import http_timestamper
from tests.support.pki import TestPki
from tests.support.softhsm import ProvisionedToken


@contextmanager
def p12_key(pki: TestPki, name: str = "qualified") -> Iterator[SigningKey]:
    store = Pkcs12FileStore(pki.p12(name, "pw"))
    (key,) = store.unlock(Secret("pw"))
    with store.open(Secret("pw")) as session:
        yield SigningKey.from_session(session, key)


@contextmanager
def token_key(token: ProvisionedToken, name: str, pss: bool = False) -> Iterator[SigningKey]:
    (store,) = [s for s in Pkcs11Module(token.hsm.module).tokens() if s.token_label == token.label]
    key = next(k for k in store.keys() if k.certificate == token.certificates[name])
    with store.open(Secret(token.pin)) as session:
        yield SigningKey.from_session(session, key, pss=pss)


def openssl_verify(pki: TestPki, signature: Path, content: Path | None = None) -> subprocess.CompletedProcess[str]:
    cmd = ["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", str(signature), "-CAfile", str(pki.root_pem),
           "-purpose", "any", "-out", "/dev/null"]
    if content is not None:
        cmd += ["-content", str(content)]
    return subprocess.run(cmd, capture_output=True, text=True)


def certtool_verify(pki: TestPki, signature: Path, content: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["certtool", "--p7-verify", "--inder", "--infile", str(signature), "--load-data", str(content),
                           "--load-ca-certificate", str(pki.root_pem)], capture_output=True, text=True)


def _sign(tmp_path: Path, key: SigningKey, data: bytes, **options: object) -> tuple[Path, Path]:
    content = tmp_path / "offre.pdf"
    content.write_bytes(data)
    out = io.BytesIO()
    with content.open("rb") as source:
        sign_cades(source, out, key, **options)  # type: ignore[arg-type]
    signature = tmp_path / ("offre.pdf.p7m" if options.get("attached") else "offre.pdf.p7s")
    signature.write_bytes(out.getvalue())
    return content, signature


@pytest.mark.parametrize("source", ["p12", "token-rsa", "token-ec", "token-rsa-pss", "token-rsa3072"])
def test_detached_b_b_verified_by_openssl_and_certtool(tmp_path: Path, test_pki: TestPki, token: ProvisionedToken, source: str) -> None:
    keys = {
        "p12": lambda: p12_key(test_pki),
        "token-rsa": lambda: token_key(token, "qualified"),
        "token-ec": lambda: token_key(token, "qualified_ec"),
        "token-rsa-pss": lambda: token_key(token, "qualified", pss=True),
        "token-rsa3072": lambda: token_key(token, "rsa3072"),
    }
    with keys[source]() as key:
        content, signature = _sign(tmp_path, key, b"%PDF-1.7 offre " * 1000)
    result = openssl_verify(test_pki, signature, content)
    assert "Verification successful" in result.stderr, result.stderr
    if source != "token-rsa-pss":  # GnuTLS verifies RSA-PSS in CMS too, but needs the OID form it prefers
        result = certtool_verify(test_pki, signature, content)
        assert result.returncode == 0 and "Signature status: ok" in result.stdout + result.stderr, result.stdout + result.stderr
    # One content byte changed: both refuse.
    content.write_bytes(b"%PDF-1.7 offrf " + b"%PDF-1.7 offre " * 999)
    assert "Verification successful" not in openssl_verify(test_pki, signature, content).stderr
    assert certtool_verify(test_pki, signature, content).returncode != 0


def test_signed_attributes_are_the_b_b_set(tmp_path: Path, test_pki: TestPki) -> None:
    with p12_key(test_pki) as key:
        content, signature = _sign(tmp_path, key, b"x")
    (info,) = load_signature(signature.read_bytes()).signer_infos
    types = [a["type"].native for a in info["signed_attrs"]]
    assert sorted(types) == ["content_type", "message_digest", "signing_certificate_v2", "signing_time"]
    ess = next(a for a in info["signed_attrs"] if a["type"].native == "signing_certificate_v2")["values"][0]
    cert_der = x509.load_pem_x509_certificate(test_pki.cert_pem("qualified").read_bytes()).public_bytes(serialization.Encoding.DER)
    assert ess["certs"][0]["cert_hash"].native == hashlib.sha256(cert_der).digest()


def test_attached_signature_carries_the_content(tmp_path: Path, test_pki: TestPki) -> None:
    data = bytes(range(256)) * 5000
    with p12_key(test_pki) as key:
        _, signature = _sign(tmp_path, key, data, attached=True)
    extracted = tmp_path / "extracted"
    result = subprocess.run(["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", str(signature), "-CAfile",
                             str(test_pki.root_pem), "-purpose", "any", "-out", str(extracted)], capture_output=True, text=True)
    assert "Verification successful" in result.stderr, result.stderr
    assert extracted.read_bytes() == data
    assert load_signature(signature.read_bytes()).attached_content == data


def _timestamp_of(signature: Path) -> tuple[bytes, bytes]:
    (info,) = load_signature(signature.read_bytes()).signer_infos
    token = next(a for a in info["unsigned_attrs"] if a["type"].native == "signature_time_stamp_token")["values"][0]
    return token.dump(), info["signature"].native


def test_b_t_timestamp_covers_the_signature_value(tmp_path: Path, test_pki: TestPki, token: ProvisionedToken) -> None:
    with token_key(token, "qualified_ec") as key:
        content, signature = _sign(tmp_path, key, b"offre", level="B-T", timestamper=http_timestamper(test_pki.tsa_url))
    assert "Verification successful" in openssl_verify(test_pki, signature, content).stderr
    tst, value = _timestamp_of(signature)
    (tmp_path / "tst.der").write_bytes(tst)
    chain = tmp_path / "tsa-chain.pem"
    chain.write_bytes(test_pki.intermediate_pem.read_bytes() + test_pki.cert_pem("tsa").read_bytes())
    result = subprocess.run(["openssl", "ts", "-verify", "-digest", hashlib.sha256(value).hexdigest(), "-in", str(tmp_path / "tst.der"),
                             "-token_in", "-CAfile", str(test_pki.root_pem), "-untrusted", str(chain)], capture_output=True, text=True)
    assert "Verification: OK" in result.stdout, result.stdout + result.stderr
    wrong = subprocess.run(["openssl", "ts", "-verify", "-digest", hashlib.sha256(b"other").hexdigest(), "-in", str(tmp_path / "tst.der"),
                            "-token_in", "-CAfile", str(test_pki.root_pem), "-untrusted", str(chain)], capture_output=True, text=True)
    assert "Verification: OK" not in wrong.stdout


def test_levels_above_b_t_and_missing_tsa_are_refused(tmp_path: Path, test_pki: TestPki) -> None:
    with p12_key(test_pki) as key:
        with pytest.raises(ValueError):
            _sign(tmp_path, key, b"x", level="B-LT")
        with pytest.raises(ValueError):
            _sign(tmp_path, key, b"x", level="B-T")


def test_cosign_a_signature_made_by_openssl(tmp_path: Path, test_pki: TestPki, token: ProvisionedToken) -> None:
    content = tmp_path / "memoire.pdf"
    content.write_bytes(b"%PDF memoire technique " * 500)
    first = tmp_path / "memoire.pdf.p7s"
    subprocess.run(["openssl", "cms", "-sign", "-cades", "-binary", "-outform", "DER", "-in", str(content), "-out", str(first),
                    "-signer", str(test_pki.cert_pem("plain")), "-inkey", str(test_pki.key_pem("plain")),
                    "-certfile", str(test_pki.intermediate_pem), "-md", "sha256"], check=True)
    original = load_signature(first.read_bytes())
    (first_info,) = original.signer_infos
    out = io.BytesIO()
    with token_key(token, "qualified_ec") as key, content.open("rb") as stream:
        cosign(first.read_bytes(), out, key, content=stream)
    cosigned = tmp_path / "memoire.pdf.xp7s"
    cosigned.write_bytes(out.getvalue())
    assert first_info.dump() in cosigned.read_bytes()  # the first signature, byte for byte
    parsed = load_signature(cosigned.read_bytes())
    assert len(parsed.signer_infos) == 2
    result = openssl_verify(test_pki, cosigned, content)  # openssl checks every signer
    assert "Verification successful" in result.stderr, result.stderr
    # Each signature verifies on its own: remove the other and check again.
    subjects = {cert.subject.native["common_name"] for _, cert in signers(parsed)}
    assert subjects == {"Paul SIMPLE", "Jeanne TITULAIRE EC"}
    # A different content is refused before anything is written.
    with token_key(token, "qualified") as key, pytest.raises(CadesError):
        cosign(first.read_bytes(), io.BytesIO(), key, content=io.BytesIO(b"autre fichier"))


def test_cosign_attached_keeps_content(tmp_path: Path, test_pki: TestPki, token: ProvisionedToken) -> None:
    with p12_key(test_pki) as key:
        _, signature = _sign(tmp_path, key, b"contenu attache", attached=True)
    out = io.BytesIO()
    with token_key(token, "qualified") as key:
        cosign(signature.read_bytes(), out, key)
    both = tmp_path / "both.p7m"
    both.write_bytes(out.getvalue())
    assert len(load_signature(both.read_bytes()).signer_infos) == 2
    assert "Verification successful" in openssl_verify(test_pki, both).stderr


def _verify_countersignature(counter: cms.SignerInfo, target_signature: bytes, cert: x509.Certificate) -> None:
    """Independent check of RFC 5652 §11.4 with cryptography (no stock tool checks these)."""
    attrs = {a["type"].native: a["values"][0] for a in counter["signed_attrs"]}
    assert "content_type" not in attrs
    assert attrs["message_digest"].native == hashlib.sha256(target_signature).digest()
    signed = b"\x31" + counter["signed_attrs"].dump()[1:]  # RFC 5652 §5.4: DER of the SET OF, not [0]
    public = cert.public_key()
    if isinstance(public, ec.EllipticCurvePublicKey):
        public.verify(counter["signature"].native, signed, ec.ECDSA(hashes.SHA256()))
    else:
        assert isinstance(public, rsa.RSAPublicKey)
        public.verify(counter["signature"].native, signed, padding.PKCS1v15(), hashes.SHA256())


def test_countersign_the_chosen_signer(tmp_path: Path, test_pki: TestPki, token: ProvisionedToken) -> None:
    with p12_key(test_pki, "plain") as key:
        content, signature = _sign(tmp_path, key, b"offre commune")
    out = io.BytesIO()
    with token_key(token, "qualified") as key, content.open("rb") as stream:
        cosign(signature.read_bytes(), out, key, content=stream)
    two = out.getvalue()
    parsed = load_signature(two)
    target_info, target_cert = next((i, c) for i, c in signers(parsed) if c.subject.native["common_name"] == "Jeanne TITULAIRE")
    target_sha = hashlib.sha256(target_cert.dump()).hexdigest()
    out = io.BytesIO()
    with token_key(token, "qualified_ec") as key:
        countersign(two, out, key, signer_sha256=target_sha)
    countersigned = tmp_path / "counter.p7s"
    countersigned.write_bytes(out.getvalue())
    assert "Verification successful" in openssl_verify(test_pki, countersigned, content).stderr
    after = load_signature(countersigned.read_bytes())
    by_name = {c.subject.native["common_name"]: i for i, c in signers(after)}
    counters = [a for a in by_name["Jeanne TITULAIRE"]["unsigned_attrs"] if a["type"].native == "counter_signature"]
    assert len(counters) == 1
    assert not by_name["Paul SIMPLE"]["unsigned_attrs"].native  # the other signer untouched
    _verify_countersignature(counters[0]["values"][0], target_info["signature"].native, token.certificates["qualified_ec"])
    with token_key(token, "qualified_ec") as key, pytest.raises(CadesError):
        countersign(two, io.BytesIO(), key, signer_sha256="00" * 32)


def test_garbage_is_a_clear_error() -> None:
    for data in (b"", b"garbage", b"\x30\x82\xff\xff\x06", b"-----BEGIN PKCS7-----\nAAAA\n-----END PKCS7-----"):
        with pytest.raises(CadesError):
            load_signature(data)


@pytest.mark.parametrize("attached", [False, True])
async def test_the_signature_covers_what_the_consent_showed(tmp_path: Path, test_pki: TestPki, attached: bool) -> None:
    """The sign job hashes each file once, for the consent (its SHA-256 is shown); a CAdES signature
    signs that digest, without reading the file again. A file rewritten while the user reads the
    consent is not what gets signed: the detached signature covers the content consented to, the
    attached one is refused (its copy no longer matches)."""
    from agent.config import Settings
    from agent.consent import ConsentDecision, ConsentProvider, ConsentRequest
    from agent.jobs.context import JobServices
    from agent.jobs.manager import JobManager
    from agent.keystores.registry import KeyStoreRegistry
    from agent.kinds.registry import KINDS, platform_client

    document, shown = tmp_path / "offre.txt", b"Prix global : 125 000,00 EUR\n" * 1000
    document.write_bytes(shown)

    class SwapWhileAsking(ConsentProvider):
        async def ask(self, request: ConsentRequest) -> ConsentDecision:
            assert [f.sha256 for f in request.files] == [hashlib.sha256(shown).hexdigest()]
            document.write_bytes(shown.replace(b"125 000", b"925 000"))
            return ConsentDecision(True, Secret("pw"))

    store = Pkcs12FileStore(test_pki.p12("qualified", "pw"))
    (key,) = store.unlock(Secret("pw"))
    settings = Settings(state_dir=tmp_path / "state", log_dir=tmp_path / "log", output_dir=tmp_path / "Compagnon",
                        trust_system=False, pkcs11_modules=(), p12_dir=tmp_path / "keys")
    manager = JobManager(JobServices(settings=settings, consent=SwapWhileAsking(),
                                     keystores=KeyStoreRegistry(settings, p12=[store], discover=False), local=True),
                         kinds=KINDS, platform_client=platform_client)
    job = manager.start("cli:", "sign", {"files": [{"path": str(document), "format": "cades", "attached": attached}],
                                         "certificate": key.id, "out_dir": str(tmp_path / "out")})
    snapshot = (await manager.wait(job.id)).snapshot()
    if attached:
        assert (snapshot["state"], snapshot["error"]["message"]) == ("failed", "le fichier a changé pendant la signature")
        assert not list((tmp_path / "out").glob("*.p7m"))
        return
    (result,) = snapshot["result"]["files"]
    assert result["status"] == "signed", result
    (signature,) = (tmp_path / "out").glob("*.p7s")
    original = tmp_path / "shown.txt"
    original.write_bytes(shown)
    assert openssl_verify(test_pki, signature, original).returncode == 0
    assert openssl_verify(test_pki, signature, document).returncode != 0


def test_compagnon_sign_cades_loads_no_pyhanko(tmp_path: Path, test_pki: TestPki) -> None:
    """``compagnon sign --format cades`` builds the CMS itself (agent.signing.cades): its process
    loads neither pyHanko (nor aiohttp behind its signing stack) nor the validation stack."""
    import json
    import sys

    from tests.support.agent_process import ROOT, isolated_env

    document = tmp_path / "offre.txt"
    document.write_bytes(b"Offre pour le lot 1.\n" * 100)
    probe = (
        "import sys, json\n"
        "from agent.cli import main\n"
        "code = main(sys.argv[1:])\n"
        "print(json.dumps({'code': code, 'loaded': sorted(m for m in sys.modules if m.split('.')[0] in\n"
        "    ('pyhanko', 'pyhanko_certvalidator', 'aiohttp', 'requests') or m.startswith('agent.validation'))}))\n"
    )
    for attached in ([], ["--attached"]):
        result = subprocess.run([sys.executable, "-c", probe, "sign", str(document), "--format", "cades", *attached,
                                 "--p12", str(test_pki.p12("qualified", "pw")), "--pin-stdin",
                                 "--out-dir", str(tmp_path / "out")], input="pw\n", cwd=ROOT,
                                env=isolated_env(tmp_path), capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout.strip().splitlines()[-1]) == {"code": 0, "loaded": []}
