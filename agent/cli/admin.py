"""``compagnon audit`` and ``compagnon doctor``: the audit journal and the workstation's health.

    compagnon audit [show] [--json] [--last N]   the journal as a table (or JSON), then its state
                                                 (French, or English with --lang en)
    compagnon audit verify                       "Journal intact (N entrées)", exit 0; or
                                                 "Journal altéré à l'entrée N : <raison>", exit 1
    compagnon audit export FICHIER               a verified copy (written atomically, 0600)
    compagnon doctor [--platform URL]            the workstation test (the ``diagnose`` job) and
                                                 the journal's state, in the command line's language
    compagnon doctor --bundle [FICHIER.zip]      a ZIP for IT support, without keys, PINs, tokens
                                                 or personal data (agent.doctor)
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..i18n import Text
from .common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, current_locale, say, sep

if TYPE_CHECKING:
    from ..audit import AuditLog
    from ..config import Settings

ACTIONS_FR = {
    "pairing.approved": "Site autorisé",
    "pairing.denied": "Site refusé",
    "pairing.revoked": "Autorisation retirée",
    "pairing.code_incorrect": "Code de jumelage incorrect",
    "sign": "Signature",
    "cosign": "Co-signature",
    "countersign": "Contre-signature",
    "decrypt": "Déchiffrement",
    "bids.open": "Ouverture des plis",
    "keygen": "Création de bi-clé",
    "key.update": "Mise à jour de clé",
    "update.staged": "Mise à jour préparée",
    "update.applied": "Mise à jour appliquée",
    "update.rolled_back": "Mise à jour annulée (retour à la version précédente)",
    "update.refused": "Mise à jour refusée",
}
RESULTS_FR = {"succeeded": "réussi", "failed": "échoué", "cancelled": "annulé", "interrupted": "interrompu"}
#: The same in English, as the console words them (agent/desktop/static/texts.json).
ACTIONS_EN = {
    "pairing.approved": "Site allowed",
    "pairing.denied": "Site refused",
    "pairing.revoked": "Permission revoked",
    "pairing.code_incorrect": "Incorrect pairing code",
    "sign": "Signature",
    "cosign": "Co-signature",
    "countersign": "Counter-signature",
    "decrypt": "Decryption",
    "bids.open": "Bid opening",
    "keygen": "Key pair creation",
    "key.update": "Key update",
    "update.staged": "Update staged",
    "update.applied": "Update applied",
    "update.rolled_back": "Update rolled back (previous version restored)",
    "update.refused": "Update refused",
}
RESULTS_EN = {"succeeded": "succeeded", "failed": "failed", "cancelled": "cancelled", "interrupted": "interrupted"}
#: The table's header and the labels of an entry's detail lines.
TABLE = {
    "fr": {"seq": "N°", "result": "Résultat", "cli": "ligne de commande", "version": "version", "input": "fichier",
           "failed": "  échec", "output": "  résultat", "certificate": "certificat", "job": "traitement"},
    "en": {"seq": "No.", "result": "Result", "cli": "command line", "version": "version", "input": "file",
           "failed": "  failed", "output": "  result", "certificate": "certificate", "job": "job"},
}
_DEFAULT_BUNDLE = "\0default"


def add_parsers(sub: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    """``audit`` and ``doctor`` under ``sub``."""
    audit = sub.add_parser("audit", help="journal d'audit : afficher, vérifier, exporter")
    common(audit)
    audit.add_argument("action", nargs="?", choices=["show", "verify", "export"], default="show")
    audit.add_argument("file", nargs="?", type=Path, metavar="FICHIER", help="export : fichier de destination")
    audit.add_argument("--json", action="store_true", help="show : les entrées en JSON")
    audit.add_argument("--last", type=int, metavar="N", help="show : seulement les N dernières entrées")

    doctor = sub.add_parser("doctor", help="état du poste ; --bundle : fichier de diagnostic pour l'assistance")
    common(doctor)
    doctor.add_argument("--platform", metavar="URL", help="plateforme à joindre (origine http(s))")
    doctor.add_argument("--bundle", nargs="?", const=_DEFAULT_BUNDLE, metavar="FICHIER.zip",
                        help="écrire un fichier ZIP de diagnostic (défaut : ~/Documents ou ~/"
                             "Compagnon-diagnostic-<date>.zip)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    from ..audit import AuditLog

    if args.command == "doctor":
        return _doctor(args, settings)
    journal = AuditLog.in_state_dir(settings.state_dir)
    if args.action == "verify":
        result = journal.verify()
        print(result.message(current_locale()), file=sys.stdout if result.intact else sys.stderr)
        if result.intact and result.entries:
            print(say(Text("Dernière empreinte : {digest}", "Last digest: {digest}"), digest=result.last_digest))
        return EXIT_OK if result.intact else EXIT_FAILED
    if args.action == "export":
        return _export(journal, args.file)
    if args.file is not None:
        print(say(Text("compagnon : « audit show » ne prend pas de fichier",
                       "compagnon: \"audit show\" takes no file")), file=sys.stderr)
        return EXIT_USAGE
    return _show(journal, args.json, args.last)


# -- audit ---------------------------------------------------------------------------------------


def _show(journal: AuditLog, as_json: bool, last: int | None) -> int:
    entries: Iterable[dict[str, Any]] = journal.entries()
    if last is not None:
        entries = deque(entries, maxlen=max(0, last))
    if as_json:
        print("[", end="")
        for index, entry in enumerate(entries):
            print(("," if index else "") + "\n  " + json.dumps(entry, ensure_ascii=False), end="")
        print("\n]")
        return EXIT_OK
    labels = TABLE[current_locale()]
    shown = 0
    for entry in entries:
        if not shown:
            print(f"{labels['seq']:>5}  {'Date (UTC)':<19}  {'Action':<22}  {'Site':<32}  {labels['result']}")
        shown += 1
        _print_entry(entry)
    if not shown:
        print(say(Text("Aucune entrée dans le journal d'audit.", "No entry in the audit journal.")))
    result = journal.verify()
    print(f"\n{result.message(current_locale())}", file=sys.stdout if result.intact else sys.stderr)
    return EXIT_OK


def _short(sha: Any) -> str:
    return f"{sha[:16]}…" if isinstance(sha, str) and len(sha) > 16 else str(sha or "—")


def _print_entry(entry: dict[str, Any]) -> None:
    english = current_locale() == "en"
    labels = TABLE["en" if english else "fr"]
    actions, results = (ACTIONS_EN, RESULTS_EN) if english else (ACTIONS_FR, RESULTS_FR)
    when = str(entry.get("time", ""))[:19].replace("T", " ")
    action = actions.get(str(entry.get("action")), str(entry.get("action")))
    origin = labels["cli"] if entry.get("origin") == "cli:" else str(entry.get("origin"))
    result = results.get(str(entry.get("result")), str(entry.get("result")))
    if entry.get("error"):
        result += f" ({entry['error']})"
    print(f"{entry.get('seq', '?'):>5}  {when:<19}  {action:<22}  {origin:<32}  {result}")
    indent = " " * 7

    def line(label: str, text: str) -> None:
        print(f"{indent}{labels[label]:<13}{text}")

    if str(entry.get("action", "")).startswith("update.") and entry.get("version"):  # agent/update
        reason = f"{sep()}{entry['reason']}" if entry.get("reason") else ""
        line("version", f"{entry.get('from_version') or '?'} → {entry['version']}{reason}")
    for item in entry.get("inputs") or []:
        line("input", f"{item.get('name')}  SHA-256 {_short(item.get('sha256'))}")
    for item in entry.get("outputs") or []:
        if item.get("status") == "failed":
            line("failed", f"{item.get('source')}{sep()}{item.get('error')}")
        elif item.get("name"):
            digest = f"  SHA-256 {_short(item['sha256'])}" if item.get("sha256") else ""
            line("output", f"{item['name']}{digest}")
    certificate = entry.get("certificate")
    if certificate:
        line("certificate", f"{certificate.get('subject')}  SHA-256 {_short(certificate.get('sha256'))}")
    if entry.get("job"):
        line("job", str(entry["job"]))


def _export(journal: AuditLog, target: Path | None) -> int:
    from ..fsutil import atomic_output

    if target is None:
        print(say(Text("compagnon : indiquez le fichier de destination : compagnon audit export FICHIER",
                       "compagnon: name the destination file: compagnon audit export FILE")), file=sys.stderr)
        return EXIT_USAGE
    target = target.expanduser()
    if not journal.path.exists():
        print(say(Text("Aucun journal d'audit : rien à exporter.", "No audit journal: nothing to export.")),
              file=sys.stderr)
        return EXIT_FAILED
    if target.resolve() == journal.path.resolve():
        print(say(Text("compagnon : la copie doit être un autre fichier que le journal.",
                       "compagnon: the copy must be another file than the journal.")), file=sys.stderr)
        return EXIT_USAGE
    try:
        result = journal.export(target, lambda path: atomic_output(path, mode=0o600))
    except OSError as exc:
        print(say(Text("compagnon : export impossible : {exc}", "compagnon: export failed: {exc}"), exc=exc), file=sys.stderr)
        return EXIT_FAILED
    if not result.intact:
        print(say(Text("{state} — copie écrite pour examen : {target}", "{state} — copy written for examination: {target}"),
                  state=result.message(current_locale()), target=target), file=sys.stderr)
        return EXIT_FAILED
    print(say(Text("{state} — copie : {target}", "{state} — copy: {target}"), state=result.message(current_locale()),
              target=target))
    return EXIT_OK


# -- doctor --------------------------------------------------------------------------------------


def _doctor(args: argparse.Namespace, settings: Settings) -> int:
    from ..audit import AuditLog
    from .common import run_job
    from .diagnose import run as run_diagnose

    if args.bundle is None:
        status = run_diagnose(argparse.Namespace(platform=args.platform, json=False), settings)
        state = AuditLog.in_state_dir(settings.state_dir).verify().message(current_locale())
        print(say(Text("Journal d'audit : {state}", "Audit journal: {state}"), state=state))
        print(say(Text("Pour l'assistance : compagnon doctor --bundle (fichier ZIP sans clé, code PIN ni jeton).",
                       "For support: compagnon doctor --bundle (a ZIP file without key, PIN or token).")))
        return status

    from ..consent import PolicyConsent
    from ..doctor import default_bundle_path, write_diagnostic_bundle
    from ..jobs.context import JobServices

    target = default_bundle_path() if args.bundle == _DEFAULT_BUNDLE else Path(args.bundle).expanduser()
    snapshot = run_job(JobServices(settings=settings, consent=PolicyConsent(approve=False)), "diagnose", {})
    try:
        members = write_diagnostic_bundle(settings, target, snapshot)
    except OSError as exc:
        print(say(Text("compagnon : fichier de diagnostic impossible à écrire : {exc}",
                       "compagnon: the diagnostic file cannot be written: {exc}"), exc=exc), file=sys.stderr)
        return EXIT_FAILED
    print(target)
    print(say(Text("Fichier de diagnostic écrit ({count} éléments, sans clé, code PIN, jeton ni adresse "
                   "électronique). Relisez-le avant de l'envoyer.",
                   "Diagnostic file written ({count} items, without key, PIN, token or e-mail address). "
                   "Read it before sending it."), count=len(members)), file=sys.stderr)
    return EXIT_OK
