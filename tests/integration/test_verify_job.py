"""The ``verify`` job from the command line: verdicts, exit codes, JSON and HTML reports."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

from agent.signing.cades import cosign
from tests.integration.test_sign_cades import p12_key, token_key
from tests.support.agent_process import ROOT, isolated_env
from tests.support.pki import TestPki
from tests.support.softhsm import ProvisionedToken


def _verify(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agent", "verify", *args], cwd=ROOT, env=isolated_env(home),
                          capture_output=True, text=True, timeout=180)


def test_cosigned_file_verified_with_reports_and_exit_codes(tmp_path: Path, test_pki: TestPki, token: ProvisionedToken) -> None:
    content = tmp_path / "offre.pdf"
    content.write_bytes(b"%PDF-1.4 offre commune " * 200)
    first = subprocess.run(["openssl", "cms", "-sign", "-cades", "-binary", "-outform", "DER", "-in", str(content),
                            "-out", str(tmp_path / "offre.pdf.p7s"), "-signer", str(test_pki.cert_pem("qualified")),
                            "-inkey", str(test_pki.key_pem("qualified")), "-certfile", str(test_pki.intermediate_pem),
                            "-md", "sha256"], capture_output=True)
    assert first.returncode == 0
    out = io.BytesIO()
    with token_key(token, "qualified_ec") as key, content.open("rb") as stream:
        cosign((tmp_path / "offre.pdf.p7s").read_bytes(), out, key, content=stream)
    signature = tmp_path / "offre.pdf - 20261123120000 - Signature 2.xp7s"
    signature.write_bytes(out.getvalue())

    report_html = tmp_path / "rapport.html"
    result = _verify(tmp_path, str(signature), "--content", str(content), "--trust", str(test_pki.root_pem),
                     "--report", str(report_html), "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert [s["indication"] for s in report["signatures"]] == ["TOTAL_PASSED", "TOTAL_PASSED"]
    assert {s["signer"]["name"] for s in report["signatures"]} == {"Jeanne TITULAIRE", "Jeanne TITULAIRE EC"}
    page = report_html.read_text()
    assert page.count('class="signature TOTAL_PASSED') == 2  # one block per signer
    assert "Rapport de vérification des signatures" in page and "arrêté du 22 mars 2019" in page

    # A changed content byte: exit 1, HASH_FAILURE.
    content.write_bytes(b"%PDF-1.4 offre commune!" + b"%PDF-1.4 offre commune " * 199)
    failed = _verify(tmp_path, str(signature), "--content", str(content), "--trust", str(test_pki.root_pem), "--json")
    assert failed.returncode == 1
    assert {s["sub_indication"] for s in json.loads(failed.stdout)["signatures"]} == {"HASH_FAILURE"}
    # Garbage: not a crash, exit 1 or 2 with a format failure.
    garbage = tmp_path / "garbage.p7s"
    garbage.write_bytes(b"\x30\x82\xff\xff garbage")
    assert _verify(tmp_path, str(garbage), "--trust", str(test_pki.root_pem)).returncode in (1, 2)


def test_untrusted_root_is_indeterminate_and_english_report(tmp_path: Path, test_pki: TestPki) -> None:
    content = tmp_path / "memoire.txt"
    content.write_bytes(b"memoire technique")
    from agent.signing.cades import sign_cades

    out = io.BytesIO()
    with p12_key(test_pki) as key, content.open("rb") as stream:
        sign_cades(stream, out, key)
    signature = tmp_path / "memoire.txt.p7s"
    signature.write_bytes(out.getvalue())
    result = _verify(tmp_path, str(signature), "--content", str(content), "--lang", "en",
                     "--report", str(tmp_path / "report.html"))
    assert result.returncode == 2, result.stdout + result.stderr  # no trust anchor given: INDETERMINATE
    assert "Signature verification report" in (tmp_path / "report.html").read_text()


def test_trusted_lists_decide_the_category(tmp_path: Path, test_pki: TestPki) -> None:
    """With pinned LOTL signers, the agent fetches the LOTL and the FR list (verified), and the
    report says the signer was qualified according to the FR trusted list; offline, the cache."""
    from agent.signing.cades import sign_cades
    from tests.integration.test_trusted_lists import ListServer, certs as certs_fixture, fr_list, lotl

    certs = certs_fixture.__wrapped__(test_pki)  # type: ignore[attr-defined]
    server = ListServer().start()
    try:
        base = server.url("")
        server.files.update({"/lotl.xml": lotl(test_pki, certs, base), "/tl-fr.xml": fr_list(test_pki, certs)})
        home = tmp_path / "home"
        config = home / ".config" / "compagnon" / "config.toml"
        config.parent.mkdir(parents=True)
        config.write_text(f'[trust]\nroots = ["{test_pki.root_pem}"]\nsystem = false\nlotl_url = "{base}/lotl.xml"\n'
                          f'lotl_signers = ["{test_pki.cert_pem("plain")}"]\n')
        content = tmp_path / "offre.txt"
        content.write_bytes(b"offre")
        out = io.BytesIO()
        with p12_key(test_pki) as key, content.open("rb") as stream:
            sign_cades(stream, out, key)
        signature = tmp_path / "offre.txt.p7s"
        signature.write_bytes(out.getvalue())

        def category() -> str:
            result = _verify(home, str(signature), "--content", str(content), "--json")
            assert result.returncode == 0, result.stdout + result.stderr
            (signed,) = json.loads(result.stdout)["signatures"]
            return next(c["message"] for c in signed["checks"] if c["name"] == "certificate_category")

        assert "liste de confiance FR" in category()
        assert server.requests == ["/lotl.xml", "/tl-fr.xml"]
    finally:
        server.stop()
    assert "liste de confiance FR" in category()  # offline: the verified cache


def test_pdf_signed_by_pyhankos_own_cli(tmp_path: Path, test_pki: TestPki) -> None:
    """A PAdES B-T made by the pyhanko command line verifies TOTAL_PASSED; a page appended after
    signing (incremental update) makes it TOTAL_FAILED with the modification check failed."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    from tests.support.pdf import make_pdf_file

    source = make_pdf_file(tmp_path / "contrat.pdf", pages=1)
    signed = tmp_path / "contrat-signe.pdf"
    made = subprocess.run(["pyhanko", "sign", "addsig", "--field", "Sig1", "--use-pades", "--timestamp-url", test_pki.tsa_url,
                           "pemder", "--key", str(test_pki.key_pem("qualified")), "--cert", str(test_pki.cert_pem("qualified")),
                           "--chain", str(test_pki.intermediate_pem), "--no-pass", str(source), str(signed)],
                          capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    result = _verify(tmp_path, str(signed), "--trust", str(test_pki.root_pem), "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    (signature,) = [s for s in json.loads(result.stdout)["signatures"] if s["format"].startswith("PAdES")]
    assert signature["indication"] == "TOTAL_PASSED" and signature["signing_time_source"] == "timestamp"

    appended = tmp_path / "contrat-modifie.pdf"
    with signed.open("rb") as stream:
        writer = IncrementalPdfFileWriter(stream)
        from pyhanko.pdf_utils import generic

        writer.insert_page(generic.DictionaryObject({
            generic.NameObject("/Type"): generic.NameObject("/Page"),
            generic.NameObject("/MediaBox"): generic.ArrayObject([generic.NumberObject(0)] * 2 + [generic.NumberObject(595), generic.NumberObject(842)]),
        }))
        with appended.open("wb") as out:
            writer.write(out)
    tampered = _verify(tmp_path, str(appended), "--trust", str(test_pki.root_pem), "--json")
    assert tampered.returncode == 1, tampered.stdout + tampered.stderr
    (after,) = [s for s in json.loads(tampered.stdout)["signatures"] if s["format"].startswith("PAdES")]
    assert after["indication"] == "TOTAL_FAILED"
    assert any(c["name"] == "modification" and c["status"] == "failed" for c in after["checks"])
