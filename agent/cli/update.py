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

from ..i18n import Text
from .common import current_locale, say

if TYPE_CHECKING:
    from ..config import Settings
    from ..update.manifest import Manifest, UpdateRefused


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
            _print_status(status, updater.config.disabled_reason(current_locale()))
        return EXIT_OK
    try:
        if args.action == "check":
            outcome = updater.check()
            manifest, available = outcome.manifest, outcome.available
            result = "available" if available else "up_to_date"
        else:
            staged = updater.stage()
            manifest, result = staged.manifest, staged.status
    except UpdateRefused as exc:
        if args.json:
            print(json.dumps({"status": "refused", "code": exc.code, "reason": exc.message(),
                              "version": exc.version, "running": updater.running}, ensure_ascii=False))
        else:
            _print_refusal(exc, updater.config.disabled_reason(current_locale()))
        return EXIT_DISABLED if exc.code == "disabled" else EXIT_FAILED
    if args.json:
        print(json.dumps({"status": result, "version": manifest.version, "running": updater.running,
                          "published": manifest.published, "notes": manifest.notes}, ensure_ascii=False))
        return EXIT_OK
    _print_outcome(result, manifest, updater.running)
    return EXIT_OK


def _print_refusal(exc: UpdateRefused, disabled_reason: str) -> None:
    """Why nothing was done: updates off (and why), impossible now, or refused."""
    if exc.code == "disabled":
        print(say(Text("Mises à jour désactivées : {reason}.", "Updates are off: {reason}."),
                  reason=disabled_reason or exc.detail), file=sys.stderr)
        return
    reason = exc.message(current_locale())
    if exc.code in ("download_failed", "busy", "not_installed", "no_space"):
        print(say(Text("Mise à jour impossible : {reason}.", "Update impossible: {reason}."), reason=reason),
              file=sys.stderr)
    else:
        print(say(Text("Mise à jour refusée : {reason}.", "Update refused: {reason}."), reason=reason), file=sys.stderr)


def _print_outcome(result: str, manifest: Manifest, running: str) -> None:
    if result == "up_to_date":
        print(say(Text("Compagnon est à jour (version {running}).", "Compagnon is up to date (version {running})."),
                  running=running))
    elif result == "available":
        print(say(Text("Mise à jour disponible : {version} (version en cours : {running}), publiée le {published}.",
                       "Update available: {version} (running version: {running}), published on {published}."),
                  version=manifest.version, running=running, published=manifest.published))
        note = manifest.note(current_locale())
        if note:
            print(note)
        print(say(Text("Pour la préparer : compagnon update apply", "To prepare it: compagnon update apply")))
    else:
        print(say(Text("Mise à jour {version} prête : elle sera appliquée au prochain démarrage.",
                       "Update {version} ready: it will be applied at the next start."), version=manifest.version))


def _progress(text: Text) -> None:
    print(f"{say(text)}…", file=sys.stderr, flush=True)


def _print_status(status: dict[str, Any], disabled_reason: str) -> None:
    print(say(Text("Compagnon {running} (version en cours)", "Compagnon {running} (running version)"),
              running=status["running"]))
    if status["installed"]:
        previous = (say(Text(", précédente {previous}", ", previous {previous}"), previous=status["previous"])
                    if status["previous"] else "")
        print(say(Text("Installation : {folder} — version active {current}{previous}",
                       "Installation: {folder} — active version {current}{previous}"),
                  folder=status["app_dir"], current=status["current"], previous=previous))
    else:
        print(say(Text("Installation : {folder} absente (Compagnon n'a pas été installé par l'installateur)",
                       "Installation: {folder} absent (Compagnon was not installed by the installer)"),
                  folder=status["app_dir"]))
    pending = status.get("pending")
    if pending:
        print(say(Text("Mise à jour en attente : {version}, préparée le {staged} (appliquée au prochain démarrage)",
                       "Update pending: {version}, staged on {staged} (applied at the next start)"),
                  version=pending.get("version"), staged=pending.get("staged_at")))
    trial = status.get("trial")
    if trial:
        print(say(Text("Mise à jour en cours d'essai : {version} (depuis {since})",
                       "Update on trial: {version} (from {since})"), version=trial.get("version"), since=trial.get("from")))
    for version, info in sorted((status.get("failed") or {}).items()):
        info = info if isinstance(info, dict) else {}
        print(say(Text("Version écartée : {version} — {reason} (le {time}) ; elle ne sera pas réessayée",
                       "Version set aside: {version} — {reason} ({time}); it will not be tried again"),
                  version=version, reason=info.get("reason", "?"), time=info.get("time", "?")))
    check = status.get("last_check")
    if check:
        if check.get("error"):
            what = say(Text("refusée ou impossible ({error})", "refused or impossible ({error})"), error=check["error"])
        elif check.get("available"):
            what = say(Text("{version} disponible", "{version} available"), version=check["available"])
        else:
            what = say(Text("à jour", "up to date"))
        print(say(Text("Dernière vérification : {time} — {what}", "Last check: {time} — {what}"),
                  time=check.get("time"), what=what))
    if status["enabled"]:
        keys = ", ".join(k[:16] + "…" for k in status["public_keys"])
        print(say(Text("Source : {url} ; clés épinglées (SHA-256) : {keys}", "Source: {url}; pinned keys (SHA-256): {keys}"),
                  url=status["url"], keys=keys))
    else:
        print(say(Text("Mises à jour désactivées : {reason}", "Updates are off: {reason}"),
                  reason=disabled_reason or status["disabled_reason"]))
