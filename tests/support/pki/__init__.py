"""A real, throw-away test PKI generated per test run with certomancer.

Layout: root CA "Compagnon Test Root CA" -> intermediate "Compagnon Test Qualified CA"
-> end-entity certificates (qualified, qualified_ec, plain, expired, revoked, encryption,
tsa, ocsp). CRLs (root and intermediate), OCSP (intermediate) and an RFC 3161 TSA are
served over HTTP on 127.0.0.1 by certomancer's WSGI animator in a daemon thread.

Certificates embed the real service URLs: the HTTP server is bound first (port 0), and
``certomancer.yml`` (a :class:`string.Template`) is rendered with its port before
certomancer generates anything.
"""

from __future__ import annotations

import hashlib
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from string import Template
from typing import Any

import pytest
from asn1crypto import core, pem
from certomancer.integrations.animator import Animator, AnimatorArchStore
from certomancer.registry import ArchLabel, CertLabel, CertomancerConfig, PKIArchitecture, ServiceLabel
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

__all__ = ["TestPki", "start_test_pki", "stop_test_pki", "test_pki", "qc_statements_der", "CERT_NAMES"]

CONFIG_TEMPLATE = Path(__file__).with_name("certomancer.yml")
ARCH = ArchLabel("compagnon")

#: Certificate labels known to the PKI (also the names accepted by ``TestPki.cert_pem``).
CERT_NAMES: tuple[str, ...] = (
    "root", "intermediate", "ocsp", "tsa",
    "qualified", "qualified_ec", "plain", "expired", "revoked", "encryption",
)
EC_KEYS = frozenset({"qualified_ec"})

# ETSI EN 319 412-5 identifiers
QC_COMPLIANCE = "0.4.0.1862.1.1"
QC_SSCD = "0.4.0.1862.1.4"
QC_TYPE = "0.4.0.1862.1.6"
QCT_ESIGN = "0.4.0.1862.1.6.1"


class _QcStatement(core.Sequence):
    """QCStatement ::= SEQUENCE { statementId OID, statementInfo ANY OPTIONAL }."""

    _fields = [
        ("statement_id", core.ObjectIdentifier),
        ("statement_info", core.Any, {"optional": True}),
    ]


class _QcStatements(core.SequenceOf):
    """QCStatements ::= SEQUENCE OF QCStatement."""

    _child_spec = _QcStatement


class _QcTypes(core.SequenceOf):
    """QcType ::= SEQUENCE OF OBJECT IDENTIFIER."""

    _child_spec = core.ObjectIdentifier


def qc_statements_der() -> bytes:
    """DER of the QCStatements extension value: QcCompliance, QcSSCD, QcType(esign)."""
    qc_type = _QcTypes([core.ObjectIdentifier(QCT_ESIGN)])
    return _QcStatements([
        _QcStatement({"statement_id": QC_COMPLIANCE}),
        _QcStatement({"statement_id": QC_SSCD}),
        _QcStatement({"statement_id": QC_TYPE, "statement_info": core.Any.load(qc_type.dump())}),
    ]).dump()


@dataclass
class TestPki:
    """Files and service URLs of a running test PKI (see :func:`start_test_pki`)."""

    __test__ = False  # not a pytest test class, despite the name

    folder: Path
    base_url: str
    root_pem: Path
    intermediate_pem: Path
    crl_url: str
    ocsp_url: str
    tsa_url: str
    root_crl_url: str = ""
    arch: PKIArchitecture | None = field(default=None, repr=False, compare=False)
    _server: BaseWSGIServer | None = field(default=None, repr=False, compare=False)
    _thread: threading.Thread | None = field(default=None, repr=False, compare=False)

    def _check(self, name: str) -> str:
        """Return ``name`` if it is a known certificate label, else raise KeyError."""
        if name not in CERT_NAMES:
            raise KeyError(f"unknown test PKI certificate {name!r}; known: {', '.join(CERT_NAMES)}")
        return name

    def cert_pem(self, name: str) -> Path:
        """PEM certificate of ``name``."""
        return self.folder / "certs" / f"{self._check(name)}.cert.pem"

    def cert_der(self, name: str) -> Path:
        """DER certificate of ``name``."""
        return self.folder / "certs" / f"{self._check(name)}.cert.der"

    def key_pem(self, name: str) -> Path:
        """Unencrypted PKCS#8 PEM private key of ``name``."""
        return self.folder / "keys" / f"{self._check(name)}.key.pem"

    def chain_pems(self, name: str) -> list[Path]:
        """Certificate chain of ``name``, leaf first: leaf, intermediate, root."""
        labels = {"root": ["root"], "intermediate": ["intermediate", "root"]}.get(
            self._check(name), [name, "intermediate", "root"])
        return [self.cert_pem(label) for label in labels]

    def openssl_cms(self, name: str, content: Path, out: Path, *, attached: bool = True) -> Path:
        """``content`` signed by ``name`` with ``openssl cms -sign -cades`` (a producer independent of
        ours): DER, SHA-256, the intermediate certificate included; ``out``."""
        made = subprocess.run(["openssl", "cms", "-sign", "-cades", "-binary", *(["-nodetach"] if attached else []),
                               "-outform", "DER", "-in", str(content), "-out", str(out), "-signer",
                               str(self.cert_pem(name)), "-inkey", str(self.key_pem(name)), "-certfile",
                               str(self.intermediate_pem), "-md", "sha256"], capture_output=True)
        assert made.returncode == 0, made.stderr.decode(errors="replace")
        return out

    def p12(self, name: str, password: str, legacy: bool = False, *, kdf_rounds: int = 20_000) -> Path:
        """PKCS#12 with key, cert and chain: AES-256-CBC/PBKDF2/SHA-256, or 3DES/SHA-1 if ``legacy``."""
        key = serialization.load_pem_private_key(self.key_pem(name).read_bytes(), password=None)
        assert isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey))
        leaf, *cas = [x509.load_pem_x509_certificate(p.read_bytes()) for p in self.chain_pems(name)]
        builder = serialization.PrivateFormat.PKCS12.encryption_builder().kdf_rounds(kdf_rounds)
        if legacy:
            builder = builder.key_cert_algorithm(
                pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC).hmac_hash(hashes.SHA1())
        else:
            builder = builder.key_cert_algorithm(
                pkcs12.PBES.PBESv2SHA256AndAES256CBC).hmac_hash(hashes.SHA256())
        data = pkcs12.serialize_key_and_certificates(
            name.encode(), key, leaf, cas or None, builder.build(password.encode("utf-8")))
        tag = hashlib.sha256(f"{password}\0{kdf_rounds}".encode()).hexdigest()[:10]
        path = self.folder / "p12" / f"{name}{'.legacy' if legacy else ''}.{tag}.p12"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(data)
        return path


class _QuietHandler(WSGIRequestHandler):
    """Request handler that does not log every request (errors are still logged)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Skip the access log line."""


def _generate_key(name: str) -> bytes:
    """Fresh private key for ``name`` as unencrypted PKCS#8 PEM (EC P-256 or RSA 2048)."""
    key: Any = ec.generate_private_key(ec.SECP256R1()) if name in EC_KEYS else \
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _render_config(base_url: str, now: datetime) -> str:
    """The certomancer YAML with URLs, dates and the QCStatements DER filled in."""
    now = now.replace(microsecond=0)
    return Template(CONFIG_TEMPLATE.read_text(encoding="utf-8")).substitute(
        base_url=base_url,
        valid_from=(now - timedelta(days=30)).isoformat(),
        valid_to=(now + timedelta(days=730)).isoformat(),
        # well before the intermediate CRL's thisUpdate (period 1 day), see certomancer.yml
        revoked_since=(now - timedelta(days=3)).isoformat(),
        qc_statements_hex=qc_statements_der().hex(),
    )


def start_test_pki(folder: Path) -> TestPki:
    """Generate keys, certificates and config into ``folder`` and serve CRL/OCSP/TSA on 127.0.0.1."""
    folder = Path(folder)
    (folder / "keys").mkdir(parents=True, exist_ok=True)
    (folder / "certs").mkdir(exist_ok=True)
    for name in CERT_NAMES:
        (folder / "keys" / f"{name}.key.pem").write_bytes(_generate_key(name))

    def not_ready(environ: Any, start_response: Any) -> list[bytes]:
        start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
        return [b"test PKI not ready\n"]

    server = make_server("127.0.0.1", 0, not_ready, threaded=True, request_handler=_QuietHandler)
    try:
        base_url = f"http://127.0.0.1:{server.server_port}"
        config_text = _render_config(base_url, datetime.now(UTC))
        (folder / "certomancer.yml").write_text(config_text, encoding="utf-8")
        config = CertomancerConfig.from_yaml(config_text, key_search_dir=str(folder), external_url_prefix=base_url)
        arch = config.get_pki_arch(ARCH)
        for name in CERT_NAMES:
            der = arch.get_cert(CertLabel(name)).dump()
            (folder / "certs" / f"{name}.cert.der").write_bytes(der)
            (folder / "certs" / f"{name}.cert.pem").write_bytes(pem.armor("CERTIFICATE", der))
        animator = Animator(AnimatorArchStore(config.pki_archs), with_web_ui=False)
        # certomancer dates OCSP responses and CRLs with microseconds; NSS rejects such a
        # GeneralizedTime (SEC_ERROR_OCSP_MALFORMED_RESPONSE) and pdfsig then reports "Unknown issue
        # with Certificate". Real responders use whole seconds: so do ours.
        service_time = animator.at_time
        animator.at_time = lambda request: service_time(request).replace(microsecond=0)  # type: ignore[method-assign]
        server.app = animator
    except BaseException:
        server.server_close()
        raise

    thread = threading.Thread(target=server.serve_forever, name="test-pki-http", daemon=True)
    thread.start()
    services = arch.service_registry
    return TestPki(
        folder=folder,
        base_url=base_url,
        root_pem=folder / "certs" / "root.cert.pem",
        intermediate_pem=folder / "certs" / "intermediate.cert.pem",
        crl_url=services.get_crl_repo_info(ServiceLabel("intermediate")).latest_external_url,
        ocsp_url=services.get_ocsp_info(ServiceLabel("intermediate")).url,
        tsa_url=services.get_tsa_info(ServiceLabel("tsa")).url,
        root_crl_url=services.get_crl_repo_info(ServiceLabel("root")).latest_external_url,
        arch=arch,
        _server=server,
        _thread=thread,
    )


def stop_test_pki(pki: TestPki) -> None:
    """Stop the PKI's HTTP services (files stay in ``pki.folder``)."""
    if pki._server is not None:
        pki._server.shutdown()
        pki._server.server_close()
        pki._server = None
    if pki._thread is not None:
        pki._thread.join(timeout=5)
        pki._thread = None


@pytest.fixture(scope="session")
def test_pki(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestPki]:
    """A running test PKI shared by the whole session."""
    pki = start_test_pki(tmp_path_factory.mktemp("pki"))
    yield pki
    stop_test_pki(pki)
