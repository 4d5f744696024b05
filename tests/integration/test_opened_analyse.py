"""The buyer's analyse ("Ouverture et analyse"): every file ``bids.open``, ``decrypt`` and
``compagnon bids open``/``decrypt`` open is checked for signatures in the same job, each signed
file with its verdict and its own report; the verdicts go up to the platform with the opened file.

The signed files are made by independent producers — the pyhanko command line (PAdES), ``openssl
cms -sign`` (attached ``.p7m``, detached ``.p7s`` and ``.xp7s``), ``xmlsec1 --sign`` (XAdES, then
tampered) — and sealed by ``openssl cms -encrypt``; pyHanko's validator, ``openssl cms -verify`` and
xmlsec1 judge the same files and must agree with the verdicts.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from agent.config import Settings
from agent.consent import Secret
from agent.files import FileRegistry
from agent.jobs.context import JobServices
from agent.jobs.manager import JobManager
from agent.keystores.pkcs12_store import Pkcs12FileStore
from agent.keystores.registry import KeyStoreRegistry
from agent.demo_platform.consultations import DemoEnvelope, DemoFile, DemoPli
from agent.kinds.registry import KINDS, platform_client
from tests.integration.test_bids_open import CID, KIND, Platform, Recording, folder_of, openssl_seal, platform  # noqa: F401
from tests.integration.test_verify_batch import make_pli
from tests.support.agent_process import ROOT, isolated_env, write_config
from tests.support.pdf_producers import pyhanko_judgement
from tests.support.pki import TestPki
from tests.support.verifiers import openssl_cms_ok, xmlsec_ok

# Verification of six signed files with revocation on loopback, in a worker process.
pytestmark = pytest.mark.timeout(300)

XP7S = "bpu.csv - 20261207091502 - Signature 1.xp7s"


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory, test_pki: TestPki) -> Path:
    """A bidder's files, signed by independent tools, in one folder: a PAdES, an attached CAdES
    (``copie.pdf.p7m``), a detached CAdES beside its ZIP, a detached ``.xp7s`` over a CSV changed
    after signing, a tampered XAdES and a plain text file."""
    base = tmp_path_factory.mktemp("analyse")
    pli = make_pli(base / "pli", test_pki)
    folder = base / "offre"
    folder.mkdir()
    for name in ("acte.pdf", "offre.xml", "lisez-moi.txt"):
        shutil.copy(pli / name, folder / name)
    shutil.copy(pli / "acte.pdf.p7m", folder / "copie.pdf.p7m")
    shutil.copy(pli / "annexes" / "annexe.zip", folder / "annexe.zip")
    shutil.copy(pli / "annexes" / "annexe.zip.p7s", folder / "annexe.zip.p7s")
    (folder / "bpu.csv").write_text("poste;prix\n1;1250,00\n", encoding="utf-8")
    made = subprocess.run(["openssl", "cms", "-sign", "-cades", "-binary", "-outform", "DER",
                           "-in", str(folder / "bpu.csv"), "-out", str(folder / XP7S),
                           "-signer", str(test_pki.cert_pem("qualified")), "-inkey", str(test_pki.key_pem("qualified")),
                           "-certfile", str(test_pki.intermediate_pem), "-md", "sha256"], capture_output=True)
    assert made.returncode == 0, made.stderr
    (folder / "bpu.csv").write_text("poste;prix\n1;1950,00\n", encoding="utf-8")  # changed after signing
    return folder


def independent_verdicts(folder: Path, pki: TestPki) -> dict[str, bool]:
    """What the independent validators say of each signed file of ``folder``."""
    judged = pyhanko_judgement(folder / "acte.pdf", pki, "Sig1")
    return {
        "acte.pdf": judged.intact and judged.valid and judged.trusted,
        "copie.pdf.p7m": openssl_cms_ok(folder / "copie.pdf.p7m", None, pki),
        "annexe.zip.p7s": openssl_cms_ok(folder / "annexe.zip.p7s", folder / "annexe.zip", pki),
        XP7S: openssl_cms_ok(folder / XP7S, folder / "bpu.csv", pki),
        "offre.xml": xmlsec_ok(folder / "offre.xml", pki),
    }


EXPECTED = {  # name -> (status, indication)
    "acte.pdf": ("signed", "TOTAL_PASSED"),
    "copie.pdf.p7m": ("signed", "TOTAL_PASSED"),
    "annexe.zip": ("signed", "TOTAL_PASSED"),  # by its detached .p7s, opened in the same job
    "annexe.zip.p7s": ("signed", "TOTAL_PASSED"),
    "bpu.csv": ("signed", "TOTAL_FAILED"),  # its .xp7s no longer matches it
    XP7S: ("signed", "TOTAL_FAILED"),
    "offre.xml": ("signed", "TOTAL_FAILED"),
    "lisez-moi.txt": ("unsigned", None),
}


def sealed_pli(folder: Path, tmp_path: Path, pki: TestPki) -> list[DemoFile]:
    return [DemoFile(f"{path.name}.p7m", data=openssl_seal(path.read_bytes(), tmp_path, pki.cert_pem("encryption")))
            for path in sorted(folder.iterdir())]


def manager_with_trust(tmp_path: Path, pki: TestPki, files: FileRegistry | None = None, *,
                       local: bool = False) -> JobManager:
    store = Pkcs12FileStore(pki.p12("encryption", "pw"))
    store.unlock(Secret("pw"))
    settings = Settings(output_dir=tmp_path / "Compagnon", state_dir=tmp_path / "state", log_dir=tmp_path / "log",
                        trust_system=False, trust_roots=(pki.root_pem,), pkcs11_modules=())
    return JobManager(JobServices(settings=settings, consent=Recording(), files=files, local=local,
                                  keystores=KeyStoreRegistry(settings, p12=[store], discover=False)),
                      kinds=KINDS, platform_client=platform_client)


async def test_bids_open_checks_every_opened_file_and_sends_the_verdicts(
        tmp_path: Path, test_pki: TestPki, platform: Platform, signed: Path) -> None:  # noqa: F811
    independent = await asyncio.to_thread(independent_verdicts, signed, test_pki)
    assert independent == {"acte.pdf": True, "copie.pdf.p7m": True, "annexe.zip.p7s": True, XP7S: False,
                           "offre.xml": False}
    platform.store.add(CID, "Travaux", [DemoPli("Pli 1", "LOCAL TRUST", [
        DemoEnvelope("offre", sealed_pli(signed, tmp_path, test_pki))])])
    files = FileRegistry(tmp_path / "uploads", 50 * 1024 * 1024)
    manager = manager_with_trust(tmp_path, test_pki, files)
    job = manager.start(platform.origin, KIND, {"url": f"/api/consultations/{CID}", "token": platform.token})
    final = (await manager.wait(job.id)).snapshot()
    assert final["state"] == "succeeded", final["error"]
    assert [s["id"] for s in final["steps"]] == ["files", "key", "decrypt", "analyse", "done"]
    assert all(s["state"] == "succeeded" for s in final["steps"])
    result = final["result"]
    by_name = {Path(f["name"]).name: f for f in result["files"]}
    assert set(by_name) == set(EXPECTED)
    for name, (status, indication) in EXPECTED.items():
        check = by_name[name]["signature"]
        assert (check["status"], check["indication"]) == (status, indication), (name, check)
    # The verdicts agree with pyHanko, openssl and xmlsec1 wherever they judge the same file.
    for name, ok in independent.items():
        assert (by_name[name]["signature"]["indication"] == "TOTAL_PASSED") is ok, name

    acte = by_name["acte.pdf"]["signature"]
    assert acte["label"] == "Signature valide" and acte["signers"] == ["Jeanne TITULAIRE"]
    assert acte["format"].startswith("PAdES") and acte["signatures"] == 1
    zip_check = by_name["annexe.zip"]["signature"]
    assert zip_check["signed_by"] == ["Pli 1 - LOCAL TRUST/offre/annexe.zip.p7s"]
    assert by_name["annexe.zip.p7s"]["signature"]["content"] == "Pli 1 - LOCAL TRUST/offre/annexe.zip"
    assert by_name["bpu.csv"]["signature"]["label"] == "Signature invalide"
    plain = by_name["lisez-moi.txt"]["signature"]
    assert plain == {**plain, "label": "Non signé", "report_name": None, "report_handle": None, "error": None}
    assert "7 fichier(s) signé(s) sur 8 : 4 valide(s), 3 invalide(s), 0 indéterminé(s)." in final["message"]

    # Each signed file: its own HTML report, readable by the page through its handle; the opened
    # file too (open / download).
    for name, (status, indication) in EXPECTED.items():
        entry = by_name[name]
        data, eof = files.read(platform.origin, entry["handle"], 0, 10 * 1024 * 1024)
        assert eof and data == (folder_of(tmp_path, platform) / entry["name"]).read_bytes()
        check = entry["signature"]
        if status != "signed":
            continue
        report, eof = files.read(platform.origin, check["report_handle"], 0, 10 * 1024 * 1024)
        page = report.decode()
        assert eof and page.startswith("<!doctype html>") and f'class="signature {indication}' in page, name
    assert by_name["annexe.zip"]["signature"]["report_handle"] == by_name["annexe.zip.p7s"]["signature"]["report_handle"]

    # The platform received each opened file with its verdict (PLATFORM.md section 5).
    received = {r["name"]: r for r in platform.store.results}
    for name, (status, indication) in EXPECTED.items():
        assert received[name]["signature_status"] == status, name
        assert received[name].get("signature_indication") == indication, name
    assert json.loads(received["acte.pdf"]["signature_signers"]) == ["Jeanne TITULAIRE"]
    assert "signature_signers" not in received["lisez-moi.txt"]


async def test_english_jobs_give_english_verdicts_and_an_opening_without_signature_is_no_failure(
        tmp_path: Path, test_pki: TestPki, platform: Platform) -> None:  # noqa: F811
    platform.store.add(CID, "Travaux", [DemoPli("Pli 1", None, [DemoEnvelope("offre", [
        DemoFile("notes.txt.p7m", data=openssl_seal(b"notes\n" * 50, tmp_path, test_pki.cert_pem("encryption")))])])])
    manager = manager_with_trust(tmp_path, test_pki)
    job = manager.start(platform.origin, KIND, {"url": f"/api/consultations/{CID}", "token": platform.token}, "en")
    final = (await manager.wait(job.id)).snapshot()
    assert final["state"] == "succeeded", final["error"]
    (entry,) = final["result"]["files"]
    assert entry["signature"]["status"] == "unsigned" and entry["signature"]["label"] == "Not signed"
    assert "0 of 1 file(s) signed" in final["message"]


async def test_decrypt_job_and_command_line_check_the_decrypted_files(tmp_path: Path, test_pki: TestPki,
                                                                       signed: Path) -> None:
    sealed = tmp_path / "sealed"
    sealed.mkdir()
    for name in ("acte.pdf", "offre.xml", "lisez-moi.txt"):
        (sealed / f"{name}.p7m").write_bytes(openssl_seal((signed / name).read_bytes(), tmp_path,
                                                          test_pki.cert_pem("encryption")))
    manager = manager_with_trust(tmp_path, test_pki, local=True)  # the command line's services
    out = tmp_path / "ouverts"
    job = manager.start("cli:", "decrypt", {"files": [{"path": str(p)} for p in sorted(sealed.iterdir())],
                                            "out_dir": str(out)})
    final = (await manager.wait(job.id)).snapshot()
    assert final["state"] == "succeeded", final["error"]
    verdicts = {f["output"]: (f["signature"]["status"], f["signature"]["indication"]) for f in final["result"]["files"]}
    assert verdicts == {"acte.pdf": ("signed", "TOTAL_PASSED"), "offre.xml": ("signed", "TOTAL_FAILED"),
                        "lisez-moi.txt": ("unsigned", None)}
    report = Path(next(f for f in final["result"]["files"] if f["output"] == "acte.pdf")["signature"]["report_name"])
    assert report.is_file() and 'class="signature TOTAL_PASSED' in report.read_text(encoding="utf-8")

    # The same from the command line: each decrypted file, then its verdict and its report.
    home = tmp_path / "home"
    home.mkdir()
    write_config(home, allowed=[], extra=f'\n[trust]\nroots = ["{test_pki.root_pem}"]\nsystem = false\n')
    cli_out = tmp_path / "cli"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "agent", "decrypt", *(str(p) for p in sorted(sealed.iterdir())),
        "--p12", str(test_pki.p12("encryption", "pw")), "--pin-stdin", "--out-dir", str(cli_out), cwd=ROOT,
        env=isolated_env(home), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    stdout, stderr = await asyncio.wait_for(process.communicate(b"pw\n"), 240)
    assert process.returncode == 0, stderr.decode()
    lines = stdout.decode().splitlines()
    assert lines[0] == str(cli_out / "acte.pdf")
    assert lines[1].startswith("  Signature valide — Jeanne TITULAIRE — rapport : "), lines
    assert Path(lines[1].rsplit("rapport : ", 1)[1]).is_file()
    assert lines[2] == str(cli_out / "lisez-moi.txt") and lines[3] == "  Non signé"
    assert lines[4] == str(cli_out / "offre.xml") and lines[5].startswith("  Signature invalide — Jeanne TITULAIRE")


async def test_decrypt_with_extract_checks_each_file_of_the_pli(tmp_path: Path, test_pki: TestPki,
                                                                 signed: Path) -> None:
    """A pli sealed as one ZIP: each file extracted from it is checked too (a detached signature
    paired with the file it signs inside the archive's folder)."""
    archive = tmp_path / "pli.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        for name in ("acte.pdf", "annexe.zip", "annexe.zip.p7s", "lisez-moi.txt"):
            zipped.write(signed / name, f"offre/{name}")
    envelope = tmp_path / "pli.zip.p7m"
    envelope.write_bytes(openssl_seal(archive.read_bytes(), tmp_path, test_pki.cert_pem("encryption")))
    manager = manager_with_trust(tmp_path, test_pki, local=True)
    out = tmp_path / "ouverts"
    job = manager.start("cli:", "decrypt", {"files": [{"path": str(envelope)}], "extract": True, "out_dir": str(out)})
    final = (await manager.wait(job.id)).snapshot()
    assert final["state"] == "succeeded", final["error"]
    (entry,) = final["result"]["files"]
    assert entry["signature"]["status"] == "unsigned"  # the ZIP itself holds no signature
    verdicts = {Path(name).name: (check["status"], check["indication"])
                for name, check in zip(entry["extracted"], entry["extracted_signatures"], strict=True)}
    assert verdicts == {"acte.pdf": ("signed", "TOTAL_PASSED"), "annexe.zip": ("signed", "TOTAL_PASSED"),
                        "annexe.zip.p7s": ("signed", "TOTAL_PASSED"), "lisez-moi.txt": ("unsigned", None)}
    for name in entry["extracted"]:
        assert (out / name).is_file()
