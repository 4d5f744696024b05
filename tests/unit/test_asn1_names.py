"""pyHanko's OID names (qc_statements, CAdES attributes) read and write whatever the import order
(agent/asn1_names.py). Each case runs in a fresh interpreter: the fault depends on what was imported
first, which a pytest process has long decided."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: Someone names an extension and an attribute first (asn1crypto then builds its reverse maps), the
#: engine is imported, and a qualified certificate's extensions and a CAdES attribute are written back.
_SCRIPT = r"""
import datetime, importlib, sys
from cryptography import x509 as cx
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from asn1crypto import cms, x509

x509.ExtensionId("key_usage")
cms.CMSAttributeType("signing_time")
for module in sys.argv[1:]:
    importlib.import_module(module)

key = ec.generate_private_key(ec.SECP256R1())
name = cx.Name([cx.NameAttribute(cx.oid.NameOID.COMMON_NAME, "Qualifié")])
start = datetime.datetime(2026, 1, 1)
der = (cx.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
       .serial_number(1).not_valid_before(start).not_valid_after(start + datetime.timedelta(days=1))
       .add_extension(cx.UnrecognizedExtension(cx.ObjectIdentifier("1.3.6.1.5.5.7.1.3"), b"\x30\x00"), False)
       .sign(key, hashes.SHA256()).public_bytes(Encoding.DER))
cert = x509.Certificate.load(der)
extension = cert["tbs_certificate"]["extensions"][0]
assert extension["extn_id"].native == "qc_statements", extension["extn_id"].native
extension["extn_id"] = "qc_statements"
assert x509.Certificate.load(cert.dump(force=True)).sha256 == cert.sha256
attribute = cms.CMSAttributeType("signature_policy_identifier")
assert attribute.dotted == "1.2.840.113549.1.9.16.2.15", attribute.dotted
print("ok")
"""


_PYHANKO_NAMES = ["pyhanko.sign.ades.qualified_asn1", "pyhanko.sign.ades.cades_asn1"]


@pytest.mark.parametrize("imports", [
    ["agent.signing.pades"],
    ["agent.signing.cades", *_PYHANKO_NAMES],
    ["agent.validation.chain", *_PYHANKO_NAMES],  # pyHanko registers after the engine was imported
    [*_PYHANKO_NAMES, "agent.validation.cades"],  # ... or before it
], ids=["pades", "cades", "validation-then-pyhanko", "pyhanko-then-validation"])
def test_pyhankos_names_write_back_after_an_earlier_reverse_map(imports: list[str]) -> None:
    result = subprocess.run([sys.executable, "-c", _SCRIPT, *imports], cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-2000:]


def _reads_asn1(tree: ast.Module) -> bool:
    for node in ast.walk(tree):
        names = [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else \
            [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
        if any(name.split(".")[0] in ("asn1crypto", "pyhanko", "pyhanko_certvalidator") for name in names):
            return True
    return False


def _imports_names_fix(tree: ast.Module) -> bool:
    return any(isinstance(node, ast.ImportFrom) and any(alias.name == "asn1_names" for alias in node.names)
               for node in tree.body)


def test_every_validation_and_signing_module_that_reads_asn1_imports_the_names_fix() -> None:
    """The packages do not import agent.asn1_names for their modules (the HTML report needs no
    asn1crypto): each module that imports asn1crypto or pyHanko does, at its top."""
    missing = []
    for package in ("validation", "signing"):
        for path in sorted((ROOT / "agent" / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            if _reads_asn1(tree) and not _imports_names_fix(tree) and \
                    not _imports_names_fix(ast.parse((path.parent / "__init__.py").read_text(encoding="utf-8"))):
                missing.append(str(path.relative_to(ROOT)))
    assert not missing, f"these modules read ASN.1 without importing agent.asn1_names: {missing}"


def test_the_html_report_loads_no_asn1_stack() -> None:
    """``compagnon verify`` renders its report in the command's own process, which never parses a
    signature: the renderer must not load asn1crypto (about 35 ms of every command's start-up)."""
    script = "import sys, agent.validation.report_html; print(sorted(m for m in sys.modules if m.startswith(('asn1crypto', 'pyhanko'))))"
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]"
