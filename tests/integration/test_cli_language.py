"""The command line speaks one language at a time: ``--lang``, else the system locale (LANGUAGE,
LC_ALL, LC_MESSAGES, LANG), else French; argparse's own texts ("usage:", "error:", its help) follow
it, and the command's labels too. Each case runs ``python -m agent`` in a subprocess with its
environment."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.agent_process import ROOT, isolated_env
from tests.support.pki import TestPki


def _run(home: Path, *args: str, env: dict[str, str] | None = None, stdin: str = "") -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in isolated_env(home).items() if k not in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")}
    environment.update(env or {})
    return subprocess.run([sys.executable, "-m", "agent", *args], cwd=ROOT, env=environment, input=stdin,
                          capture_output=True, text=True, timeout=60)


def test_argparse_speaks_french_by_default_and_with_a_french_locale(home: Path) -> None:
    for env in ({}, {"LANG": "C.UTF-8"}, {"LANG": "fr_FR.UTF-8"}, {"LC_ALL": "fr_FR.UTF-8", "LANG": "en_US.UTF-8"}):
        missing = _run(home, "sign", env=env)
        assert missing.returncode == 2
        assert missing.stderr.startswith("utilisation : compagnon sign "), (env, missing.stderr)
        assert "compagnon sign : erreur : arguments obligatoires manquants : FICHIER, --format" in missing.stderr
        assert "usage:" not in missing.stderr and "error:" not in missing.stderr
    wrong = _run(home, "certs", "--purpose", "tout")
    assert "argument --purpose : choix invalide : 'tout' (au choix : 'signing', 'decryption', 'all')" in wrong.stderr
    helped = _run(home, "--help")
    assert helped.returncode == 0 and "afficher cette aide et quitter" in helped.stdout
    assert "utilisation : compagnon" in helped.stdout and "show this help" not in helped.stdout


def test_argparse_speaks_english_with_an_english_locale_or_lang(home: Path) -> None:
    for args, env in ((("sign",), {"LANG": "en_GB.UTF-8"}), (("sign",), {"LC_ALL": "en_US.UTF-8", "LANG": "fr_FR.UTF-8"}),
                      (("sign", "--lang", "en"), {"LANG": "fr_FR.UTF-8"})):
        missing = _run(home, *args, env=env)
        assert missing.returncode == 2
        assert missing.stderr.startswith("usage: compagnon sign "), (env, missing.stderr)
        assert "compagnon sign: error: the following arguments are required: FICHIER, --format" in missing.stderr
    french = _run(home, "sign", "--lang", "fr", env={"LANG": "en_US.UTF-8"})
    assert "compagnon sign : erreur : " in french.stderr


def test_the_system_locale_governs_the_command_labels(home: Path, test_pki: TestPki) -> None:
    p12 = str(test_pki.p12("encryption", "Langue-1234"))
    english = _run(home, "certs", "--p12", p12, "--pin-stdin", env={"LANG": "en_US.UTF-8"}, stdin="Langue-1234\n")
    assert english.returncode == 0, english.stderr
    assert "== Encryption key pairs (bi-clés, to open bids) (1) ==" in english.stdout
    assert "issued by" in english.stdout and "émis par" not in english.stdout
    french = _run(home, "certs", "--p12", p12, "--pin-stdin", env={"LANG": "fr_FR.UTF-8"}, stdin="Langue-1234\n")
    assert "== Bi-clés de chiffrement (ouverture des plis) (1) ==" in french.stdout and "émis par" in french.stdout


def test_verify_names_its_checks_in_the_listing_language(home: Path, test_pki: TestPki) -> None:
    """An untrusted chain (the test PKI's root not given) is reported with the check's own name in
    the language asked, and the French space before ":" in French only."""
    document = home / "offre.txt"
    document.write_bytes(b"Offre du lot 1\n" * 200)
    signed = _run(home, "sign", str(document), "--format", "cades", "--p12", str(test_pki.p12("qualified", "Pw-9876")),
                  "--pin-stdin", stdin="Pw-9876\n")
    assert signed.returncode == 0, signed.stderr
    signature = signed.stdout.strip().splitlines()[-1]
    english = _run(home, "verify", signature, "--content", str(document), env={"LANG": "en_US.UTF-8"})
    assert "failed Certificate chain: " in english.stdout, english.stdout
    assert " : " not in english.stdout and "chain :" not in english.stdout
    french = _run(home, "verify", signature, "--content", str(document))
    assert "non conforme Chaîne de certification : " in french.stdout, french.stdout
    assert "failed" not in french.stdout and " chain " not in french.stdout


def test_errors_are_written_in_the_command_line_language(home: Path) -> None:
    args = ("sign", str(home / "absent.pdf"), "--format", "cades", "--p12", str(home / "absent.p12"))
    english = _run(home, *args, env={"LANG": "en_US.UTF-8"})
    assert english.returncode == 1 and english.stderr.startswith("compagnon: FILE_NOT_FOUND: File not found"), english.stderr
    assert " : " not in english.stderr and "introuvable" not in english.stderr
    french = _run(home, *args)
    assert french.stderr.startswith("compagnon : FILE_NOT_FOUND : Fichier introuvable"), french.stderr
