"""The command line's own sentences in English (``--lang en`` or an English system locale): the
audit journal's table and states, the update commands, a port taken, no console running, the
demonstration's lines. Nothing French is left in them, and the French ones keep their French
(with the space before ":" in French only). Each case runs ``python -m agent`` in a subprocess."""

from __future__ import annotations

import contextlib
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from agent.audit import AuditLog
from tests.support.agent_process import ROOT, isolated_env

#: What only French output has: accents, French quotes, the space before ":", French words.
FRENCH = re.compile(r"[éèêëàâùûçôîÉÈÊÀÇ«»]| :|\b(?:le|la|les|des|du|de|un|une|et|ou|aucun|aucune|fichier|entrée|"
                    r"entrées|résultat|mise|jour|copie|ligne|commande|dernière|empreinte|pour|avec|sans)\b",
                    re.IGNORECASE)
SITE = "https://marches.example.fr"


def _environment(home: Path, lang: str, **extra: str) -> dict[str, str]:
    """The isolated environment of ``home`` with the system locale of ``lang`` (and ``extra``)."""
    environment = {k: v for k, v in isolated_env(home, suite_tokens=False).items()
                   if k not in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")}
    environment.update(extra, LANG="en_US.UTF-8" if lang == "en" else "fr_FR.UTF-8")
    return environment


def _run(home: Path, *args: str, lang: str, stdin: str = "", **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agent", *args], cwd=ROOT, env=_environment(home, lang, **extra),
                          input=stdin, capture_output=True, text=True, timeout=120)


def _lines_until(args: list[str], environment: dict[str, str], done: Callable[[str], bool],
                 during: Callable[[], object] = lambda: None) -> tuple[str, object]:
    """What ``python -m agent ARGS`` prints until a line for which ``done`` is true (at most 90 s),
    and what ``during()`` gives while it still runs; then it is stopped."""
    proc = subprocess.Popen([sys.executable, "-m", "agent", *args], cwd=ROOT, env=environment,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if done(line):
                break
        result = during()
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(15)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return "".join(lines), result


def _output(run: subprocess.CompletedProcess[str], home: Path) -> str:
    """stdout and stderr, without the test's own paths (a temporary folder may hold any word)."""
    return (run.stdout + run.stderr).replace(str(home), "HOME")


def _french_in(text: str) -> str | None:
    found = FRENCH.search(text)
    return None if found is None else found.group(0)


def _journal(home: Path) -> None:
    """A journal as the agent writes it: a pairing, a signature from the command line (one file
    signed, one failed), an update applied."""
    journal = AuditLog.in_state_dir(home / ".local/state/compagnon")
    journal.record_pairing("pairing.approved", SITE)
    journal.append({"action": "sign", "origin": "cli:", "job": "j-1", "result": "succeeded", "error": None,
                    "inputs": [{"name": "offer.pdf", "sha256": "ab" * 32}],
                    "outputs": [{"name": "offer-signed.pdf", "sha256": "cd" * 32},
                                {"source": "other.pdf", "status": "failed", "error": "FILE_UNREADABLE"}],
                    "certificate": {"subject": "Jeanne TITULAIRE", "sha256": "ef" * 32}})
    journal.append({"action": "update.applied", "origin": "agent", "job": None, "result": "succeeded",
                    "error": None, "version": "0.2.0", "from_version": "0.1.0", "inputs": [], "outputs": [],
                    "certificate": None})


def test_the_audit_commands_speak_english_and_french(home: Path) -> None:
    absent = _run(home, "audit", "export", str(home / "copy.jsonl"), lang="en")
    assert absent.returncode == 1 and not _french_in(_output(absent, home)), _output(absent, home)
    assert "No audit journal" in absent.stderr, absent.stderr
    _journal(home)
    for args in (("audit",), ("audit", "show", "--last", "2"), ("audit", "verify"),
                 ("audit", "export", str(home / "copy.jsonl")), ("audit", "show", "file.txt"), ("audit", "export")):
        english = _run(home, *args, lang="en")
        text = _output(english, home)
        assert not _french_in(text), (args, _french_in(text), text)
    table = _run(home, "audit", lang="en").stdout
    assert re.search(r"No\.\s+Date \(UTC\)\s+Action\s+Site\s+Result", table), table
    assert "Site allowed" in table and "command line" in table and "Signature" in table, table
    assert "Journal intact (3 entries)" in table and "failed" in table and "result" in table, table
    assert "Last digest: " in _run(home, "audit", "verify", lang="en").stdout

    french = _run(home, "audit", lang="fr").stdout
    assert re.search(r"N°\s+Date \(UTC\)\s+Action\s+Site\s+Résultat", french), french
    assert "Site autorisé" in french and "ligne de commande" in french and "Journal intact (3 entrées)" in french
    assert "Dernière empreinte : " in _run(home, "audit", "verify", lang="fr").stdout
    assert "copie : " in _run(home, "audit", "export", str(home / "copie.jsonl"), lang="fr").stdout


def test_the_update_commands_speak_english_and_french(home: Path) -> None:
    """Updates are off (no address configured): every command says so, and status says the rest."""
    for args in (("update",), ("update", "status"), ("update", "check"), ("update", "apply")):
        english = _run(home, *args, lang="en")
        text = _output(english, home)
        assert not _french_in(text), (args, _french_in(text), text)
        assert "Updates are off: no update address ([update] url)" in text, text
    status = _run(home, "update", "status", lang="en").stdout
    assert "(running version)" in status and "not installed by the installer" in status, status
    french = _run(home, "update", "check", lang="fr")
    assert french.returncode == 2 and "Mises à jour désactivées : aucune adresse de mise à jour" in french.stderr


def _taken_port() -> tuple[socket.socket, int]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    return sock, sock.getsockname()[1]


def test_a_taken_port_and_no_console_are_told_in_english_and_french(home: Path) -> None:
    sock, port = _taken_port()
    with sock:
        english = _run(home, "serve", "--port", str(port), lang="en")
        french = _run(home, "serve", "--port", str(port), lang="fr")
    assert english.returncode == 1 and "compagnon: no free port (" in english.stderr, english.stderr
    assert "aucun port libre" not in english.stderr
    assert french.returncode == 1 and "compagnon : aucun port libre (" in french.stderr, french.stderr
    english = _run(home, "console", lang="en")
    assert english.returncode == 1 and not _french_in(_output(english, home)), english.stderr
    assert "compagnon: no agent with a console is running (compagnon tray)." in english.stderr
    assert "compagnon : aucun agent avec console n'est lancé" in _run(home, "console", lang="fr").stderr
    for args in (("pairings", "revoke", "marches.example.fr"), ("diagnose", "--platform", "ftp://marches.example.fr")):
        english = _run(home, *args, lang="en")
        assert english.returncode == 2 and "compagnon: invalid origin " in english.stderr, english.stderr
        assert not _french_in(english.stderr.replace("marches.example.fr", "")), english.stderr
        assert "compagnon : origine invalide " in _run(home, *args, lang="fr").stderr


def _demo_lines(home: Path, lang: str) -> str:
    """What ``compagnon demo`` prints until its platform's address (then it is stopped)."""
    agent_sock, agent_port = _taken_port()
    demo_sock, demo_port = _taken_port()
    agent_sock.close()
    demo_sock.close()
    said, _ = _lines_until(["demo", "--port", str(agent_port), "--demo-port", str(demo_port)],
                           _environment(home, lang), lambda line: f"127.0.0.1:{demo_port}/" in line)
    return said.replace(str(home), "HOME")


def test_the_demo_says_its_identity_and_address_in_english_and_french(home: Path) -> None:
    english = _demo_lines(home, "en")
    address = re.search(r"^Demonstration platform: http://127\.0\.0\.1:\d+/$", english, re.MULTILINE)
    assert address, english
    assert re.search(r"^Compagnon [\w.+-]+ listening on ws://127\.0\.0\.1:\d+/bridge$", english, re.MULTILINE), english
    identity = next(line for line in english.splitlines() if "DÉMO" in line)
    assert "Demonstration identity (fictitious)" in identity, english
    assert not _french_in(identity.replace("Jeanne DÉMO", "").replace("Acheteur DÉMO", "")), identity
    french = _demo_lines(home, "fr")
    assert re.search(r"^Plateforme de démonstration : http://127\.0\.0\.1:\d+/$", french, re.MULTILINE), french
    assert "Identité de démonstration (fictive)" in french, french
    assert re.search(r"^Compagnon [\w.+-]+ en écoute sur ws://127\.0\.0\.1:\d+/bridge$", french, re.MULTILINE), french


def test_the_agent_with_its_console_speaks_english_and_french(home: Path) -> None:
    """``compagnon serve`` under the console policy (the desktop runtime): its console line, its
    listening line and a second one's refusal, in the command line's language."""
    from tests.support.agent_process import write_config

    write_config(home, allowed=[SITE], consent="console")
    for lang, console_line, listening, refusal in (
        ("en", "Local console: http://127.0.0.1:", " listening on ws://127.0.0.1:",
         "compagnon: Compagnon is already running for this user"),
        ("fr", "Console locale : http://127.0.0.1:", " en écoute sur ws://127.0.0.1:",
         "compagnon : Compagnon est déjà lancé pour cet utilisateur"),
    ):
        _sock, port = _taken_port()
        _sock.close()
        said, second = _lines_until(["serve", "--port", str(port)], _environment(home, lang),
                                    lambda line, listening=listening: listening in line,
                                    lambda port=port, lang=lang: _run(home, "serve", "--port", str(port), lang=lang))
        assert console_line in said and listening in said, said
        assert second.returncode == 1 and refusal in second.stderr, second.stderr
        if lang == "en":
            assert not _french_in(said.replace("compagnon console", "")), said
            assert not _french_in(second.stderr.replace("compagnon console", "")), second.stderr


def test_a_wrong_configuration_or_policy_is_told_in_english_and_french(home: Path, tmp_path: Path) -> None:
    """The configuration file's and the administrator's policy's errors, in the command line's language."""
    config = home / ".config" / "compagnon" / "config.toml"
    config.parent.mkdir(parents=True)
    cases = [
        ("[jobs]\nmax_concurrent = 0\n", {}, "jobs.max_concurrent: at least 1", "jobs.max_concurrent : au moins 1"),
        ("[consent]\npolicy = \"jamais\"\n", {}, "consent.policy: one of ", "consent.policy : une valeur parmi "),
        ("[update]\nurl = \"ftp://maj.example.fr\"\n", {}, "update.url: an https URL expected",
         "update.url : URL https attendue"),
        ("", {"COMPAGNON_POLICY": str(tmp_path / "policy.toml")}, "(administrator's policy): unknown section [divers]",
         "(politique d'administration) : section inconnue [divers]"),
    ]
    (tmp_path / "policy.toml").write_text("[divers]\ncle = 1\n", encoding="utf-8")
    for content, extra, english_text, french_text in cases:
        config.write_text(content, encoding="utf-8")
        runs = {lang: _run(home, "certs", lang=lang, **extra) for lang in ("en", "fr")}
        english, french = runs["en"], runs["fr"]
        assert english.returncode == 2 and "compagnon: invalid configuration: " in english.stderr, english.stderr
        assert english_text in english.stderr, english.stderr
        shown = english.stderr.replace(str(tmp_path), "PATH").replace(str(home), "HOME")
        assert not _french_in(shown.replace("jamais", "")), shown
        assert french.returncode == 2 and french_text in french.stderr, french.stderr
