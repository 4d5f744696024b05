"""The verification report as the command line prints it (agent/cli/printers.py): one language at a
time, and the space before ":" in French only."""

from __future__ import annotations

import pytest

from agent.cli.printers import print_batch, print_verification

SIGNATURE = {"indication": "TOTAL_PASSED", "signer": {"name": "Jeanne TITULAIRE"}, "format": "CAdES",
             "level": "B-B", "signing_time": "2026-11-23T10:00:00Z", "checks": []}
REPORT = {"file": "offre.pdf.p7m", "signatures": [SIGNATURE],
          "contents": [{"file": "offre.pdf", "signatures": [SIGNATURE, SIGNATURE], "contents": []}]}


def test_an_enclosed_document_is_told_in_english_and_french(capsys: pytest.CaptureFixture[str]) -> None:
    print_verification(REPORT, locale="en")
    english = capsys.readouterr().out
    assert "offre.pdf.p7m: 1 signature(s)" in english, english
    assert "offre.pdf (enclosed document): 2 signature(s)" in english, english
    assert " : " not in english and "document contenu" not in english, english
    print_verification(REPORT, locale="fr")
    french = capsys.readouterr().out
    assert "offre.pdf.p7m : 1 signature(s)" in french and "offre.pdf (document contenu) : 2 signature(s)" in french


def test_a_file_of_a_set_that_cannot_be_read_is_told_with_the_language_s_colon(
        capsys: pytest.CaptureFixture[str]) -> None:
    report = {"files": [{"file": "pli/a.bin", "status": "error", "content": None, "indication": None,
                         "signed_by": [], "signatures": [],
                         "error": {"code": "FILE_UNREADABLE", "message": "unreadable"}}],
              "summary": {"files": 1, "valid": 0, "invalid": 0, "indeterminate": 0, "unsigned": 0, "errors": 1}}
    print_batch(report, "en")
    english = capsys.readouterr().out
    assert "pli/a.bin: FILE_UNREADABLE: unreadable" in english and " : " not in english, english
    print_batch(report, "fr")
    assert "pli/a.bin : FILE_UNREADABLE : unreadable" in capsys.readouterr().out
