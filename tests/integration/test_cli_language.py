"""The command line speaks one language at a time: ``--lang``, else the system locale (LANGUAGE,
LC_ALL, LC_MESSAGES, LANG), else French; argparse's own texts ("usage:", "error:", its help) follow
it, and the command's labels too. Each case runs ``python -m agent`` in a subprocess with its
environment."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

from tests.support.agent_process import ROOT, isolated_env
from tests.support.pki import TestPki


def _run(home: Path, *args: str, env: dict[str, str] | None = None, stdin: str = "") -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in isolated_env(home, suite_tokens=False).items()
                   if k not in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")}
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
        assert "compagnon sign: error: the following arguments are required: FILE, --format" in missing.stderr
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
    (home / "absent.pdf").write_text("présent")
    english = _run(home, *args, env={"LANG": "en_US.UTF-8"})
    assert english.stderr.startswith(f"compagnon: FILE_NOT_FOUND: File not found: {home / 'absent.p12'}. Check the path"), \
        english.stderr
    none = _run(home, "sign", str(home / "absent.pdf"), "--format", "cades", "--lang", "en")
    assert none.stderr.startswith("compagnon: INVALID_PARAMS: Give --p12 FILE, --pkcs11 MODULE"), none.stderr


#: Words and marks only French help or prompts use (accents, French typography, French words).
FRENCH = re.compile(r"[éèêàùçôîÉÈÀ«»]| :|\b(?:le|la|les|des|du|de|un|une|et|ou|fichier|mot de passe|"
                    r"certificat|dossier|défaut|lire|sur|avec)\b", re.IGNORECASE)
#: English words of our help texts that French help never uses.
ENGLISH = re.compile(r"\b(?:the|of|file|files|folder|with|read|sign files|default|password|key pair)\b")


def _pty_run(home: Path, args: list[str], answer: str, env: dict[str, str]) -> str:
    """``python -m agent ARGS`` on a real terminal (a pty is its controlling terminal, which
    getpass reads): everything it writes there, ``answer`` typed at its first prompt."""
    environment = {k: v for k, v in isolated_env(home, suite_tokens=False).items()
                   if k not in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")}
    environment.update(env)
    pid, master = pty.fork()
    if pid == 0:  # the child: the pty is its terminal
        os.chdir(ROOT)
        os.execve(sys.executable, [sys.executable, "-m", "agent", *args], environment)
    seen, answered, deadline = b"", False, time.monotonic() + 90
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1)
            if not ready:
                continue
            try:
                chunk = os.read(master, 4096)
            except OSError:  # the child ended: its terminal is closed
                break
            if not chunk:
                break
            seen += chunk
            if not answered and seen.rstrip().endswith(b":"):
                os.write(master, answer.encode() + b"\r")
                answered = True
    finally:
        os.close(master)
        _, status = os.waitpid(pid, 0)
    assert answered, seen
    assert os.waitstatus_to_exitcode(status) == 0, seen.decode(errors="replace")
    return seen.decode(errors="replace")


def test_signing_at_a_terminal_in_english_asks_and_tells_in_english(home: Path, test_pki: TestPki) -> None:
    """``compagnon --lang en sign … --p12 …`` on a real terminal: the password prompt, the progress
    and the result are English only; in French the prompt is French with its space before ":"."""
    document = home / "offer.txt"
    document.write_bytes(b"Offer for lot 1\n" * 100)
    p12 = str(test_pki.p12("qualified", "Pw-4321"))
    english = _pty_run(home, ["--lang", "en", "sign", str(document), "--format", "cades", "--p12", p12],
                       "Pw-4321", {"LANG": "fr_FR.UTF-8"})
    assert re.search(r"Password for qualified[.\w]*\.p12: ", english), english
    assert "waiting for your answer" not in english.lower(), english
    assert not FRENCH.search(english.replace(str(home), "")), english
    for made in home.glob("offer.txt*.p7s"):
        made.unlink()
    french = _pty_run(home, ["sign", str(document), "--format", "cades", "--p12", p12], "Pw-4321", {})
    assert re.search(r"Mot de passe de qualified[.\w]*\.p12 : ", french), french


def test_help_of_the_main_commands_is_in_one_language(home: Path) -> None:
    """Our own help texts (not only argparse's) follow the language: English help has no French,
    French help no English."""
    for command in ((), ("sign",), ("verify",), ("certs",), ("decrypt",), ("encrypt",), ("keygen",), ("bids",),
                    ("bids", "open"), ("audit",), ("doctor",), ("diagnose",)):
        english = _run(home, *command, "--help", env={"LANG": "en_US.UTF-8"})
        assert english.returncode == 0, english.stderr
        assert not FRENCH.search(english.stdout.replace("Hélios", "").replace("Ordonnateur", "")), (
            command, FRENCH.search(english.stdout), english.stdout)
        french = _run(home, *command, "--help", env={"LANG": "fr_FR.UTF-8"})
        assert french.returncode == 0, french.stderr
        body = french.stdout.replace("Compagnon", "")
        assert not ENGLISH.search(body), (command, ENGLISH.search(body), french.stdout)
    top = _run(home, "--lang", "en", "--help", env={"LANG": "fr_FR.UTF-8"})
    assert "sign files (PAdES, CAdES, XAdES)" in top.stdout and "signer des fichiers" not in top.stdout


def test_certs_dates_follow_the_language(home: Path, test_pki: TestPki) -> None:
    """The README's French date form ("14/06/2022") in French, an English one in English."""
    p12 = str(test_pki.p12("qualified", "Date-1234"))
    english = _run(home, "certs", "--p12", p12, "--pin-stdin", env={"LANG": "en_US.UTF-8"}, stdin="Date-1234\n")
    assert english.returncode == 0, english.stderr
    until = re.search(r"valid until (\d{1,2} (January|February|March|April|May|June|July|August|September|"
                      r"October|November|December) \d{4}),", english.stdout)
    assert until, english.stdout
    assert not re.search(r"\d{2}/\d{2}/\d{4}|\d{4}-\d{2}-\d{2}", english.stdout), english.stdout
    french = _run(home, "certs", "--p12", p12, "--pin-stdin", stdin="Date-1234\n")
    assert re.search(r"valide jusqu'au \d{2}/\d{2}/\d{4},", french.stdout), french.stdout


def test_answers_on_stdin_print_no_waiting_line(home: Path, test_pki: TestPki) -> None:
    """With ``--pin-stdin`` nothing is asked at the terminal: no "waiting for your answer" line."""
    document = home / "offre.txt"
    document.write_bytes(b"Offre\n" * 100)
    for env, waiting in (({"LANG": "en_US.UTF-8"}, "Waiting for your answer"), ({}, "En attente de votre réponse")):
        signed = _run(home, "sign", str(document), "--format", "cades", "--p12", str(test_pki.p12("qualified", "Pw-1111")),
                      "--pin-stdin", env=env, stdin="Pw-1111\n")
        assert signed.returncode == 0, signed.stderr
        assert waiting.lower() not in signed.stderr.lower(), signed.stderr


def test_usage_mistakes_and_pairings_are_told_in_the_command_line_language(home: Path) -> None:
    """The command line's own messages (not only the job's errors) follow the language, with the
    French space before ":" in French only."""
    (home / "a.txt").write_text("a")
    (home / "b.txt").write_text("b")
    args = ("verify", str(home / "a.txt"), str(home / "b.txt"), "--content", str(home / "a.txt"))
    english = _run(home, *args, env={"LANG": "en_US.UTF-8"})
    assert english.returncode == 2 and english.stderr.startswith("compagnon: --content and --extract go with one FILE"), \
        english.stderr
    french = _run(home, *args)
    assert french.stderr.startswith("compagnon : --content et --extract vont avec un seul FICHIER"), french.stderr
    listed = _run(home, "pairings", "--lang", "en")
    assert listed.returncode == 0 and listed.stdout.strip() == "No allowed site.", listed.stdout
    assert _run(home, "pairings").stdout.strip() == "Aucun site autorisé."
    for args, en, fr in ((("audit", "export"), "compagnon: name the destination file: compagnon audit export FILE",
                          "compagnon : indiquez le fichier de destination : compagnon audit export FICHIER"),
                         (("bids", "open", "ftp://x"), 'compagnon: an http(s) address is expected, not "ftp://x".',
                          "compagnon : adresse http(s) attendue, pas « ftp://x »."),):
        assert _run(home, *args, "--lang", "en").stderr.strip() == en
        assert _run(home, *args).stderr.strip() == fr
