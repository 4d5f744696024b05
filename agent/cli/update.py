"""``compagnon update``: signed updates from the command line (agent/update).

    compagnon update check  [--json]   fetch and verify the manifest; "Mise à jour disponible : 0.2.0"
                                       or "Compagnon est à jour (version 0.1.0)."
    compagnon update apply  [--json]   check, download, verify, build: "Mise à jour 0.2.0 prête : elle
                                       sera appliquée au prochain démarrage."
    compagnon update status [--json]   versions installed, pending, set aside; the last check

Exit status: 0 done (or nothing to do), 1 refused or failed (the reason is printed and, for a
refusal, recorded in the audit journal), 2 updates are off (no URL or no pinned key).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..config import Settings


EXIT_OK, EXIT_FAILED, EXIT_DISABLED = 0, 1, 2


def add_parsers(sub: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    update = sub.add_parser("update", help="mises à jour signées : vérifier, préparer, état")
    common(update)
    update.add_argument("action", nargs="?", choices=["check", "apply", "status"], default="status")
    update.add_argument("--json", action="store_true", help="résultat en JSON")


def run(args: argparse.Namespace, settings: Settings) -> int:
    from ..update.manifest import UpdateRefused
    from ..update.updater import Updater

    updater = Updater(settings, progress=None if args.json else _progress)
    if args.action == "status":
        status = updater.status()
        if args.json:
            print(json.dumps(status, ensure_ascii=False, indent=2))
        else:
            _print_status(status)
        return EXIT_OK
    try:
        if args.action == "check":
            outcome = updater.check()
            manifest, available = outcome.manifest, outcome.available
            status = "available" if available else "up_to_date"
        else:
            staged = updater.stage()
            manifest, status = staged.manifest, staged.status
    except UpdateRefused as exc:
        if args.json:
            print(json.dumps({"status": "refused", "code": exc.code, "reason": exc.message(),
                              "version": exc.version, "running": updater.running}, ensure_ascii=False))
        elif exc.code == "disabled":
            print(f"Mises à jour désactivées : {exc.detail}.", file=sys.stderr)
        elif exc.code in ("download_failed", "busy", "not_installed", "no_space"):
            print(f"Mise à jour impossible : {exc.message()}.", file=sys.stderr)
        else:
            print(f"Mise à jour refusée : {exc.message()}.", file=sys.stderr)
        return EXIT_DISABLED if exc.code == "disabled" else EXIT_FAILED
    if args.json:
        print(json.dumps({"status": status, "version": manifest.version, "running": updater.running,
                          "published": manifest.published, "notes": manifest.notes}, ensure_ascii=False))
        return EXIT_OK
    if status == "up_to_date":
        print(f"Compagnon est à jour (version {updater.running}).")
    elif status == "available":
        print(f"Mise à jour disponible : {manifest.version} (version en cours : {updater.running}), "
              f"publiée le {manifest.published}.")
        if manifest.note("fr"):
            print(manifest.note("fr"))
        print("Pour la préparer : compagnon update apply")
    else:
        print(f"Mise à jour {manifest.version} prête : elle sera appliquée au prochain démarrage.")
    return EXIT_OK


def _progress(text: str) -> None:
    print(f"{text}…", file=sys.stderr, flush=True)


def _print_status(status: dict[str, Any]) -> None:
    print(f"Compagnon {status['running']} (version en cours)")
    if status["installed"]:
        previous = f", précédente {status['previous']}" if status["previous"] else ""
        print(f"Installation : {status['app_dir']} — version active {status['current']}{previous}")
    else:
        print(f"Installation : {status['app_dir']} absente (Compagnon n'a pas été installé par l'installateur)")
    pending = status.get("pending")
    if pending:
        print(f"Mise à jour en attente : {pending.get('version')}, préparée le {pending.get('staged_at')} "
              "(appliquée au prochain démarrage)")
    trial = status.get("trial")
    if trial:
        print(f"Mise à jour en cours d'essai : {trial.get('version')} (depuis {trial.get('from')})")
    for version, info in sorted((status.get("failed") or {}).items()):
        info = info if isinstance(info, dict) else {}
        print(f"Version écartée : {version} — {info.get('reason', '?')} (le {info.get('time', '?')}) ; "
              "elle ne sera pas réessayée")
    check = status.get("last_check")
    if check:
        if check.get("error"):
            what = f"refusée ou impossible ({check['error']})"
        elif check.get("available"):
            what = f"{check['available']} disponible"
        else:
            what = "à jour"
        print(f"Dernière vérification : {check.get('time')} — {what}")
    if status["enabled"]:
        keys = ", ".join(k[:16] + "…" for k in status["public_keys"])
        print(f"Source : {status['url']} ; clés épinglées (SHA-256) : {keys}")
    else:
        print(f"Mises à jour désactivées : {status['disabled_reason']}")
