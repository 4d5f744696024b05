"""Verifying a whole pli at once: ``compagnon verify FOLDER FILE...`` and the ``verify`` job with
several files, one report (text, JSON, HTML) listing each file with its verdict.

The pli is made by independent producers: the pyhanko command line (PAdES), ``openssl cms -sign
-cades`` (detached CAdES beside its content, in a sub-folder), ``xmlsec1 --sign`` (XAdES, then
tampered), plus a plain text file and a broken link (unreadable). openssl and xmlsec1 judge the
same files and must agree with the report.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from bridge_protocol.client import BridgeClient
from bridge_protocol.documents import json_schema_document
from bridge_protocol.errors import ErrorCode
from tests.integration.test_sign_job import download
from tests.integration.test_verify import _xmlsec_template
from tests.support.agent_process import ROOT, AgentProcess, free_port, isolated_env, write_config
from tests.support.pdf import make_pdf_file
from tests.support.pki import TestPki
from tests.support.platform_server import PlatformServer
from tests.support.verifiers import openssl_cms_ok, xmlsec_ok

# Several agent processes and whole plis per test: more than the default 120 s on a loaded machine.
pytestmark = pytest.mark.timeout(300)

REPORT_KEYS = {"file", "status", "format", "content", "signed_by", "indication", "signatures", "contents", "error",
               "container"}
SUMMARY_KEYS = {"files", "signatures", "valid", "invalid", "indeterminate", "unsigned", "errors", "indication"}


def _verify(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agent", "verify", *args], cwd=ROOT, env=isolated_env(home),
                          capture_output=True, text=True, timeout=300)


def make_pli(folder: Path, pki: TestPki) -> Path:
    """A pli: a valid PAdES, the same wrapped in an attached CAdES (``.p7m``), a valid detached
    CAdES with its content (sub-folder), a tampered XAdES, a text file, a broken link and a file
    whose reading fails."""
    folder.mkdir(parents=True)
    source = make_pdf_file(folder.parent / "source.pdf", pages=1)
    made = subprocess.run(["pyhanko", "sign", "addsig", "--field", "Sig1", "--use-pades", "pemder",
                           "--key", str(pki.key_pem("qualified")), "--cert", str(pki.cert_pem("qualified")),
                           "--chain", str(pki.intermediate_pem), "--no-pass", str(source), str(folder / "acte.pdf")],
                          capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    wrapped = subprocess.run(["openssl", "cms", "-sign", "-cades", "-binary", "-nodetach", "-outform", "DER",
                              "-in", str(folder / "acte.pdf"), "-out", str(folder / "acte.pdf.p7m"),
                              "-signer", str(pki.cert_pem("qualified")), "-inkey", str(pki.key_pem("qualified")),
                              "-certfile", str(pki.intermediate_pem), "-md", "sha256"], capture_output=True)
    assert wrapped.returncode == 0, wrapped.stderr
    annexes = folder / "annexes"
    annexes.mkdir()
    with zipfile.ZipFile(annexes / "annexe.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("annexe technique.txt", "annexe technique " * 300)
    signed = subprocess.run(["openssl", "cms", "-sign", "-cades", "-binary", "-outform", "DER",
                             "-in", str(annexes / "annexe.zip"), "-out", str(annexes / "annexe.zip.p7s"),
                             "-signer", str(pki.cert_pem("qualified")), "-inkey", str(pki.key_pem("qualified")),
                             "-certfile", str(pki.intermediate_pem), "-md", "sha256"], capture_output=True)
    assert signed.returncode == 0, signed.stderr
    template = folder.parent / "template.xml"
    template.write_bytes(_xmlsec_template(pki))
    subprocess.run(["xmlsec1", "--sign", "--privkey-pem", str(pki.key_pem("qualified")), "--id-attr:Id",
                    "SignedProperties", "--output", str(folder / "offre.xml"), str(template)],
                   check=True, capture_output=True)
    assert xmlsec_ok(folder / "offre.xml", pki)
    (folder / "offre.xml").write_bytes((folder / "offre.xml").read_bytes().replace(b"125000.00", b"125900.00"))
    (folder / "lisez-moi.txt").write_text("Pli de la société Exemple.\n", encoding="utf-8")
    (folder / "perdu.pdf").symlink_to(folder / "absent.pdf")
    # A file that opens but whose first read fails (EIO), as a failing disk gives, even to root.
    (folder / "illisible.pdf").symlink_to("/proc/self/mem")
    return folder


@contextmanager
def counted_requests(pki: TestPki) -> Iterator[list[str]]:
    """The paths the test PKI's CRL/OCSP/TSA server is asked for while the block runs."""
    assert pki._server is not None
    app = pki._server.app
    seen: list[str] = []

    def counting(environ: dict[str, Any], start_response: Any) -> Any:
        seen.append(environ.get("PATH_INFO", ""))
        return app(environ, start_response)

    pki._server.app = counting
    try:
        yield seen
    finally:
        pki._server.app = app


@pytest.fixture(scope="module")
def pli(tmp_path_factory: pytest.TempPathFactory, test_pki: TestPki) -> Path:
    return make_pli(tmp_path_factory.mktemp("pli") / "pli", test_pki)


def test_a_folder_is_one_report_with_each_file_and_the_worst_exit_code(tmp_path: Path, pli: Path,
                                                                        test_pki: TestPki) -> None:
    # Independent judges first: openssl accepts the CAdES, xmlsec1 refuses the tampered XAdES.
    assert openssl_cms_ok(pli / "annexes" / "annexe.zip.p7s", pli / "annexes" / "annexe.zip", test_pki)
    assert not xmlsec_ok(pli / "offre.xml", test_pki)

    page = tmp_path / "rapport.html"
    with counted_requests(test_pki) as requests:
        result = _verify(tmp_path, str(pli), "--trust", str(test_pki.root_pem), "--json", "--report", str(page))
    assert result.returncode == 1, result.stdout + result.stderr
    # Five signatures of the same signer: its OCSP response and the root's CRL fetched once for all
    # (the revocation fetchers and their caches are shared between the files of a run).
    assert sum("/ocsp/" in r for r in requests) == 1 and sum("/crls/" in r for r in requests) == 1, requests
    report = json.loads(result.stdout)
    entries = {e["file"]: e for e in report["files"]}
    assert list(entries) == ["acte.pdf", "acte.pdf.p7m", "annexes/annexe.zip", "annexes/annexe.zip.p7s",
                             "illisible.pdf", "lisez-moi.txt", "offre.xml", "perdu.pdf"]
    assert all(set(e) == REPORT_KEYS for e in report["files"]) and set(report["summary"]) == SUMMARY_KEYS

    acte = entries["acte.pdf"]
    assert (acte["status"], acte["indication"]) == ("signed", "TOTAL_PASSED")
    assert acte["signatures"][0]["format"].startswith("PAdES")
    wrapped = entries["acte.pdf.p7m"]  # the CAdES signer, and the PAdES of the PDF it holds
    assert (wrapped["status"], wrapped["indication"], wrapped["content"]) == ("signed", "TOTAL_PASSED", None)
    assert [d["file"] for d in wrapped["contents"]] == ["acte.pdf"]
    assert wrapped["contents"][0]["signatures"][0]["format"].startswith("PAdES")
    token = entries["annexes/annexe.zip.p7s"]
    assert (token["status"], token["indication"], token["content"]) == ("signed", "TOTAL_PASSED", "annexes/annexe.zip")
    assert token["signatures"][0]["signer"]["name"] == "Jeanne TITULAIRE"
    content = entries["annexes/annexe.zip"]
    assert (content["status"], content["signed_by"]) == ("unsigned", ["annexes/annexe.zip.p7s"])
    assert content["indication"] is None
    assert content["container"]["type"] == "ZIP"  # a plain ZIP: no ASiC signature inside
    assert content["container"]["uncovered"] == ["annexe technique.txt"]
    xml = entries["offre.xml"]
    assert (xml["status"], xml["indication"]) == ("signed", "TOTAL_FAILED")
    assert xml["signatures"][0]["sub_indication"] == "HASH_FAILURE"
    text = entries["lisez-moi.txt"]
    assert (text["status"], text["signatures"], text["signed_by"]) == ("unsigned", [], [])
    lost = entries["perdu.pdf"]
    assert (lost["status"], lost["indication"]) == ("error", "INDETERMINATE")
    assert lost["error"]["code"] == ErrorCode.FILE_NOT_FOUND.value and "introuvable" in lost["error"]["message"]
    broken = entries["illisible.pdf"]
    assert (broken["status"], broken["indication"]) == ("error", "INDETERMINATE")
    assert broken["error"] == {"code": ErrorCode.FILE_UNREADABLE.value,
                               "message": "Fichier illisible : erreur de lecture du support"}

    assert report["summary"] == {"files": 8, "signatures": 5, "valid": 4, "invalid": 1, "indeterminate": 0,
                                 "unsigned": 1, "errors": 2, "indication": "TOTAL_FAILED"}

    # One HTML document: the summary at the top, then each file and its signatures.
    html = page.read_text(encoding="utf-8")
    assert html.count("<!doctype html>") == 1
    top = html.index('class="summary ')
    assert top < html.index('data-file="acte.pdf"') < html.index('data-file="perdu.pdf"')
    for name in entries:
        assert f'data-file="{name}"' in html
    assert "8 fichiers" in html and "4 signatures valides" in html and "1 signature invalide" in html
    assert "1 fichier sans signature" in html and "2 fichiers illisibles" in html
    assert html.count('class="signature TOTAL_PASSED') == 4 and html.count('class="signature TOTAL_FAILED') == 1

    # The text report names every file with its verdict, and the same exit code.
    plain = _verify(tmp_path, str(pli), "--trust", str(test_pki.root_pem))
    assert plain.returncode == 1
    lines = plain.stdout.splitlines()
    assert any(line.startswith("acte.pdf") and "TOTAL_PASSED" in line for line in lines)
    assert any(line.startswith("offre.xml") and "TOTAL_FAILED" in line for line in lines)
    assert any(line.startswith("perdu.pdf") and "FILE_NOT_FOUND" in line for line in lines)
    assert any(line.startswith("illisible.pdf") and "FILE_UNREADABLE" in line for line in lines)
    assert any(line.startswith("lisez-moi.txt") and "sans signature" in line for line in lines)
    assert "8 fichiers" in plain.stdout


def test_only_valid_files_exit_0_and_english(tmp_path: Path, pli: Path, test_pki: TestPki) -> None:
    """Files and folders mixed on the command line; all valid: exit 0; English report."""
    page = tmp_path / "report.html"
    result = _verify(tmp_path, str(pli / "acte.pdf"), str(pli / "annexes"), "--trust", str(test_pki.root_pem),
                     "--lang", "en", "--report", str(page), "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert [e["file"] for e in report["files"]] == ["acte.pdf", "annexe.zip", "annexe.zip.p7s"]
    assert report["summary"]["indication"] == "TOTAL_PASSED" and report["summary"]["unsigned"] == 0
    html = page.read_text(encoding="utf-8")
    assert "3 files" in html and "2 valid signatures" in html


async def test_verify_job_with_several_handles_reports_each_file(home: Path, platform: PlatformServer, pli: Path,
                                                                 test_pki: TestPki) -> None:
    """The ``verify`` kind through a real agent: uploaded files (a detached token paired with its
    content by name), a bad handle that fails alone, progress "fichier i sur n"."""
    write_config(home, allowed=[platform.origin], preapproved=[platform.origin],
                 extra=f'\n[trust]\nroots = ["{test_pki.root_pem}"]\nsystem = false\n')
    agent = AgentProcess(home, free_port()).start()
    names = ["acte.pdf", "annexes/annexe.zip.p7s", "annexes/annexe.zip", "offre.xml", "lisez-moi.txt"]
    try:
        async with await BridgeClient.connect(platform.origin, ports=[agent.port]) as client:
            handles = []
            for name in names:
                data = (pli / name).read_bytes()
                info = await client.call("files.put", {"name": Path(name).name, "data": base64.b64encode(data).decode(),
                                                       "final": True})
                handles.append(info["handle"])
            refs = [{"handle": h} for h in handles] + [{"handle": "f-inconnu"}]
            job = await client.start_job("verify", {"files": refs})
            seen: list[dict] = []
            final = await client.wait_job(job["id"], timeout=120, on_update=seen.append)
            assert final["state"] == "succeeded", final
            page = await download(client, final["result"]["report_handle"])
            # A longer batch (the same PAdES 12 times) to follow "fichier i sur 12" as it goes.
            long_job = await client.start_job("verify", {"files": [{"handle": handles[0]}] * 12})
            progress: list[dict] = []
            long_final = await client.wait_job(long_job["id"], timeout=300, on_update=progress.append)
    finally:
        agent.stop()
    schema = json_schema_document()
    validator = jsonschema.Draft202012Validator({"$ref": "#/$defs/VerifyResult", "$defs": schema["$defs"]})
    validator.validate(final["result"])
    result = final["result"]
    assert result["indication"] == "TOTAL_FAILED"
    entries = result["report"]["files"]
    assert [e["file"] for e in entries] == ["acte.pdf", "annexe.zip.p7s", "annexe.zip", "offre.xml", "lisez-moi.txt",
                                            "f-inconnu"]
    verdicts = [(e["status"], e["indication"]) for e in entries]
    assert verdicts == [("signed", "TOTAL_PASSED"), ("signed", "TOTAL_PASSED"), ("unsigned", None),
                        ("signed", "TOTAL_FAILED"), ("unsigned", None), ("error", "INDETERMINATE")]
    assert entries[1]["content"] == "annexe.zip" and entries[2]["signed_by"] == ["annexe.zip.p7s"]
    assert entries[5]["error"]["code"] == ErrorCode.FILE_NOT_FOUND.value
    assert result["summary"] == {"files": 6, "signatures": 3, "valid": 2, "invalid": 1, "indeterminate": 0,
                                 "unsigned": 1, "errors": 1, "indication": "TOTAL_FAILED"}
    # "fichier i sur n" in jobs.updated (published at most every 250 ms), in order.
    currents = [u["current"] for u in seen if u.get("current")]
    assert currents and {(c["label"], c["total"]) for c in currents} == {("fichier", 6)}
    assert long_final["state"] == "succeeded" and long_final["result"]["summary"]["valid"] == 12
    currents = [u["current"] for u in progress if u.get("current")]
    assert {(c["label"], c["total"]) for c in currents} == {("fichier", 12)}
    indexes = [c["index"] for c in currents]
    assert indexes == sorted(indexes) and len(set(indexes)) >= 3, indexes
    assert page.count(b"data-file=") == 6 and b'class="summary ' in page


def test_an_xml_signature_is_verified_without_loading_pdf_or_cms_modules(tmp_path: Path, test_pki: TestPki) -> None:
    """Each format's validator is imported when a file needs it: verifying a XAdES file loads
    neither pyHanko's signing stack (and aiohttp behind it) nor the PDF validator."""
    import io

    from agent.signing import xades
    from tests.integration.test_sign_cades import p12_key
    from tests.support import xml_samples

    signed = tmp_path / "flux.xml"
    with p12_key(test_pki) as key, signed.open("wb") as out:
        xades.sign_enveloped(io.BytesIO(xml_samples.plain_xml()), out, key)
    probe = (
        "import sys, json\n"
        "from pathlib import Path\n"
        "from cryptography import x509\n"
        "from agent.validation import verify_file\n"
        f"root = x509.load_pem_x509_certificate(Path({str(test_pki.root_pem)!r}).read_bytes())\n"
        f"report = verify_file(Path({str(signed)!r}), trust_roots=[root])\n"
        "print(json.dumps({'indication': report.signatures[0].indication,\n"
        "                  'loaded': sorted(m for m in ('pyhanko.sign', 'aiohttp', 'agent.validation.pades',\n"
        "                                               'pyhanko.pdf_utils') if m in sys.modules)}))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=isolated_env(tmp_path),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome == {"indication": "TOTAL_PASSED", "loaded": []}


#: What only the verification worker (agent.isolation) may load: the validators, the certificate
#: path stack and ``requests`` behind its fetchers, the XML and PDF stacks, pyHanko's signing stack.
_VALIDATION_STACK = ("agent.validation.detect", "agent.validation.chain", "agent.validation.cades",
                     "agent.validation.xades", "pyhanko_certvalidator", "requests", "pyhanko.sign", "aiohttp",
                     "pyhanko.pdf_utils", "lxml.etree")


def test_compagnon_verify_leaves_the_validators_to_its_worker(tmp_path: Path, test_pki: TestPki) -> None:
    """``compagnon verify`` of a small attached CAdES or XAdES file, or of a folder, parses the files
    in its isolated worker (docs/SECURITY.md promise 12): the command's own process loads none of
    the validation stack, which the worker loads again anyway (start-up cost)."""
    import io

    from agent.signing import cades, xades
    from tests.integration.test_sign_cades import p12_key
    from tests.support import xml_samples

    pli = tmp_path / "pli"
    pli.mkdir()
    signed_cms, signed_xml = pli / "offre.txt.p7m", pli / "flux.xml"
    with p12_key(test_pki) as key:
        with signed_cms.open("wb") as out:
            cades.sign_cades(io.BytesIO(b"Offre pour le lot 1.\n" * 100), out, key, attached=True)
        with signed_xml.open("wb") as out:
            xades.sign_enveloped(io.BytesIO(xml_samples.plain_xml()), out, key)
    probe = (
        "import sys, json\n"
        "from agent.cli import main\n"
        "code = main(sys.argv[1:])\n"
        f"print(json.dumps({{'code': code, 'loaded': sorted(m for m in {_VALIDATION_STACK!r} if m in sys.modules)}}))\n"
    )
    detached = pli / "annexe.txt"
    detached.write_bytes(b"Annexe au lot 1.\n" * 100)
    with p12_key(test_pki) as key, detached.open("rb") as source, (pli / "annexe.txt.p7s").open("wb") as out:
        cades.sign_cades(source, out, key)
    # one file, and a set (the detached signature paired with its file by their names)
    for signed in (signed_cms, signed_xml, pli):
        result = subprocess.run([sys.executable, "-c", probe, "verify", str(signed), "--trust", str(test_pki.root_pem)],
                                cwd=ROOT, env=isolated_env(tmp_path), capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        assert "TOTAL_PASSED" in result.stdout, result.stdout
        outcome = json.loads(result.stdout.strip().splitlines()[-1])
        assert outcome == {"code": 0, "loaded": []}, signed.name


def test_a_cades_signature_is_verified_with_only_what_it_needs(tmp_path: Path) -> None:
    """What the worker loads to verify an attached CAdES whose certificate names no revocation
    service: neither the XML validator (lxml, the trusted lists) nor pyHanko's signing stack, nor
    ``requests`` — the revocation fetchers load it on their first request only."""
    from tests.bench.bench_sign import PASSWORD, make_key

    p12, cert_pem, _ = make_key(tmp_path)
    document = tmp_path / "note.txt"
    document.write_bytes(b"Offre pour le lot 1.\n" * 100)
    probe = (
        "import io, sys, json\n"
        "from pathlib import Path\n"
        "from cryptography import x509\n"
        "from agent.consent import Secret\n"
        "from agent.keystores.pkcs12_store import Pkcs12FileStore\n"
        "from agent.signing.base import SigningKey\n"
        "from agent.signing.cades import sign_cades\n"
        f"store = Pkcs12FileStore(Path({str(p12)!r}))\n"
        f"(key,) = store.unlock(Secret({PASSWORD!r}))\n"
        f"with store.open(Secret({PASSWORD!r})) as session, open({str(document)!r}, 'rb') as source, "
        f"open({str(tmp_path / 'note.p7m')!r}, 'wb') as out:\n"
        "    sign_cades(source, out, SigningKey.from_session(session, key), attached=True)\n"
        "from agent.validation import verify_file\n"
        f"root = x509.load_pem_x509_certificate(Path({str(cert_pem)!r}).read_bytes())\n"
        f"report = verify_file(Path({str(tmp_path / 'note.p7m')!r}), trust_roots=[root], allow_fetching=True)\n"
        "print(json.dumps({'indication': report.signatures[0].indication,\n"
        "                  'loaded': sorted(m for m in ('pyhanko.sign', 'aiohttp', 'requests', 'lxml.etree',\n"
        "                                               'agent.validation.xades', 'agent.validation.trusted_lists',\n"
        "                                               'pyhanko.pdf_utils') if m in sys.modules)}))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=isolated_env(tmp_path),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome == {"indication": "TOTAL_PASSED", "loaded": []}


def test_an_xml_file_without_signature_is_reported_as_unsigned(tmp_path: Path, test_pki: TestPki) -> None:
    """A well-formed XML document with no ``ds:Signature`` holds no signature: "sans signature" in a
    batch, and zero signatures alone — what an unsigned PDF gets — never a failed signature."""
    folder = tmp_path / "pli"
    folder.mkdir()
    (folder / "bordereau.xml").write_bytes(b'<?xml version="1.0" encoding="UTF-8"?>\n'
                                           b'<bordereau xmlns="urn:exemple:offre"><prix>125000.00</prix></bordereau>\n')
    make_pdf_file(folder / "memoire.pdf", pages=1)

    result = _verify(tmp_path, str(folder), "--trust", str(test_pki.root_pem), "--json")
    assert result.returncode == 2, result.stdout + result.stderr
    report = json.loads(result.stdout)
    entries = {e["file"]: e for e in report["files"]}
    for name, kind in (("bordereau.xml", "xml"), ("memoire.pdf", "pdf")):
        assert (entries[name]["status"], entries[name]["format"]) == ("unsigned", kind)
        assert (entries[name]["indication"], entries[name]["signatures"]) == (None, [])
    assert report["summary"] == {"files": 2, "signatures": 0, "valid": 0, "invalid": 0, "indeterminate": 0,
                                 "unsigned": 2, "errors": 0, "indication": "INDETERMINATE"}
    plain = _verify(tmp_path, str(folder), "--trust", str(test_pki.root_pem))
    assert any(line.startswith("bordereau.xml") and "sans signature" in line for line in plain.stdout.splitlines())

    for name in ("bordereau.xml", "memoire.pdf"):
        alone = _verify(tmp_path, str(folder / name), "--trust", str(test_pki.root_pem), "--json")
        assert alone.returncode == 2, alone.stdout + alone.stderr
        assert json.loads(alone.stdout)["signatures"] == []
