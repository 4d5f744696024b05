"""One function writes the diagnostic bundle after the workstation test (agent.doctor.write_diagnostic_bundle):
``compagnon doctor --bundle`` and the console's "Créer le fichier de diagnostic" both hand it the
``diagnose`` job's snapshot."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path


from agent.config import Settings
from agent.doctor import write_diagnostic_bundle


def _diagnose_part(bundle: Path) -> object:
    with zipfile.ZipFile(bundle) as archive:
        return json.loads(archive.read("diagnose.json"))


def test_a_finished_test_gives_its_result_and_a_failed_one_its_state_and_error(tmp_path: Path,
                                                                               settings: Settings) -> None:
    succeeded = {"state": "succeeded", "result": {"status": "pass", "checks": []}, "error": None, "message": ""}
    members = write_diagnostic_bundle(settings, tmp_path / "ok.zip", succeeded)
    assert "diagnose.json" in members and "LISEZMOI.txt" in members
    assert _diagnose_part(tmp_path / "ok.zip") == {"status": "pass", "checks": []}
    assert (tmp_path / "ok.zip").stat().st_mode & 0o777 == 0o600

    failed = {"state": "failed", "result": None, "error": {"code": "INTERNAL_ERROR", "message": "x"}, "message": "x"}
    write_diagnostic_bundle(settings, tmp_path / "failed.zip", failed)
    assert _diagnose_part(tmp_path / "failed.zip") == {"state": "failed",
                                                       "error": {"code": "INTERNAL_ERROR", "message": "x"}}
