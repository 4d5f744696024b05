"""``compagnon doctor --bundle``: the ZIP for IT support holds what support needs (versions, PKCS#11
modules and the token's certificates, configuration, logs, jobs, audit state) and none of the
secrets a log line carried, nor the home path."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import zipfile
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from tests.support.agent_process import ROOT, isolated_env, write_config
from tests.support.softhsm import ProvisionedToken

BEARER = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhY2hldGV1ciJ9.c2lnbmF0dXJlLWZhY3RpY2U"
QUERY_TOKEN = "qt-6c1e0f9d2b7a4e58"
JSON_TOKEN = "jt-93ab17f0c2d84e6a"
EMAIL = "jeanne.titulaire@entreprise-exemple.fr"
KEY_LINES = ("MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQDKs0fRzJ3wq8x1",
             "Zq9u3Lk2vTn7Yc1Xp4Rb8Ws6Hd0Ge5Jf2Mi7Ok3Nl9Pa1Qb4Rc6Sd8Te0Uf2Vg3")
PEM = "-----BEGIN PRIVATE KEY-----\n" + "\n".join(KEY_LINES) + "\n-----END PRIVATE KEY-----"
MEMBERS = {"LISEZMOI.txt", "versions.json", "system.json", "diagnose.json", "pkcs11.json", "certificates.json",
           "config.json", "jobs.json", "audit.json", "logs/compagnon.log", "logs/compagnon.log.1"}


def _run(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agent", *args], cwd=ROOT, env=isolated_env(home),
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)


def _prepare(home: Path, token: ProvisionedToken) -> None:
    write_config(home, allowed=["https://marches.example.fr"],
                 extra=f'\n[keystores]\npkcs11_modules = ["{token.hsm.module}"]\n'
                       f'\n[signing]\noutput_dir = "{home / "Documents" / "Compagnon"}"\n')
    logs = home / ".local/state/compagnon/log"
    logs.mkdir(parents=True)
    (logs / "compagnon.log.1").write_text(
        "2026-11-22 09:00:00,000 INFO agent.service: older run, key dump follows\n"
        f"{PEM}\n", encoding="utf-8")
    (logs / "compagnon.log").write_text(
        f"2026-11-23 10:00:00,000 INFO agent.platform_http: GET https://marches.example.fr/plis?token={QUERY_TOKEN}"
        f" Authorization: Bearer {BEARER} for {EMAIL} in {home}/Documents/offre.pdf\n"
        f'2026-11-23 10:00:01,000 ERROR agent.kinds.bids_open: bad reply {{"token": "{JSON_TOKEN}", "x": 1}}\n'
        f"2026-11-23 10:00:02,000 ERROR agent.keystores: unexpected {PEM!r}\n", encoding="utf-8")
    jobs = home / ".local/state/compagnon/jobs"
    jobs.mkdir(parents=True)
    (jobs / "ab12.json").write_text(json.dumps({
        "id": "ab12", "kind": "sign", "origin": "https://marches.example.fr", "state": "succeeded",
        "created_at": "2026-11-23T10:00:00.000Z", "updated_at": "2026-11-23T10:00:01.000Z", "error": None,
        "result": {"files": [{"source": "offre confidentielle.pdf", "status": "signed"}], "signed": 1, "failed": 0},
    }), encoding="utf-8")


def _texts(bundle: Path) -> dict[str, str]:
    with zipfile.ZipFile(bundle) as archive:
        return {name: archive.read(name).decode("utf-8") for name in archive.namelist()}


def test_the_bundle_holds_what_support_needs_and_no_secret(home: Path, token: ProvisionedToken) -> None:
    _prepare(home, token)
    bundle = home.parent / "sortie" / "diagnostic.zip"
    result = _run(home, "doctor", "--bundle", str(bundle))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(bundle)
    assert (bundle.stat().st_mode & 0o777) == 0o600
    assert [p.name for p in bundle.parent.iterdir()] == ["diagnostic.zip"]  # no temporary file left

    texts = _texts(bundle)
    assert set(texts) == MEMBERS
    everything = "\n".join(texts.values())
    for secret in (BEARER, QUERY_TOKEN, JSON_TOKEN, EMAIL, *KEY_LINES, str(home), token.pin):
        assert secret not in everything, secret
    assert "BEGIN PRIVATE KEY" not in everything and "[clé privée retirée]" in texts["logs/compagnon.log"]
    assert "[clé privée retirée]" in texts["logs/compagnon.log.1"]
    assert "~/Documents/offre.pdf" in texts["logs/compagnon.log"]
    assert "offre confidentielle" not in everything  # job summaries hold no file name

    versions = json.loads(texts["versions.json"])
    assert set(versions["packages"]) >= {"cryptography", "pyhanko", "python-pkcs11", "aiohttp"}
    assert versions["compagnon"] and versions["python"] and versions["os"]
    config = json.loads(texts["config.json"])
    assert config["allowed_origins"] == ["https://marches.example.fr"]
    assert config["state_dir"] == "~/.local/state/compagnon" and config["output_dir"] == "~/Documents/Compagnon"
    assert json.loads(texts["jobs.json"]) == [{
        "id": "ab12", "kind": "sign", "origin": "https://marches.example.fr", "state": "succeeded",
        "created_at": "2026-11-23T10:00:00.000Z", "updated_at": "2026-11-23T10:00:01.000Z", "error": None,
        "counts": {"signed": 1, "failed": 0},
    }]
    assert json.loads(texts["audit.json"])["verification"]["message"] == "Journal intact (0 entrée)"
    assert {c["id"] for c in json.loads(texts["diagnose.json"])["checks"]} >= {"os", "runtime", "keystores"}

    modules = json.loads(texts["pkcs11.json"])
    (softhsm,) = [m for m in modules if m["path"] == str(token.hsm.module.resolve())]
    assert softhsm["loadable"] and softhsm["configured"]
    labels = [s["token"]["label"] for s in softhsm["slots"] if s.get("token")]
    assert token.label in labels

    summaries = json.loads(texts["certificates.json"])
    on_token = {c["sha256"]: c for c in summaries if c.get("store", "").startswith(token.label)}
    for name in ("qualified", "encryption", "rsa3072"):
        cert = token.certificates[name]
        sha = hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()
        summary = on_token[sha]
        assert summary["subject"] == cert.subject.rfc4514_string()
        assert summary["issuer"] == cert.issuer.rfc4514_string()
        assert summary["serial"] == format(cert.serial_number, "x")
        assert summary["not_after"].startswith(cert.not_valid_after_utc.date().isoformat())
        assert isinstance(summary["key_usage"], list) and summary["key"].startswith(("RSA", "EC"))
    assert "non_repudiation" in on_token[hashlib.sha256(token.certificates["qualified"].public_bytes(
        serialization.Encoding.DER)).hexdigest()]["key_usage"]


def test_the_default_bundle_goes_to_documents_else_home(home: Path) -> None:
    made = _run(home, "doctor", "--bundle")
    assert made.returncode == 0, made.stderr
    first = Path(made.stdout.strip())
    assert first.parent == home and first.name.startswith("Compagnon-diagnostic-") and first.suffix == ".zip"
    (home / "Documents").mkdir()
    made = _run(home, "doctor", "--bundle")
    assert Path(made.stdout.strip()).parent == home / "Documents"


def test_doctor_without_bundle_prints_the_workstation_test_in_french(home: Path) -> None:
    result = _run(home, "doctor")
    assert result.returncode == 0, result.stderr
    assert "Système d'exploitation" in result.stdout and "Accès au magasin de certificats" in result.stdout
    assert "Journal d'audit : Journal intact" in result.stdout
    assert "compagnon doctor --bundle" in result.stdout
