"""``compagnon bids download|open URL``: a consultation's sealed bids from the command line.

The same ``bids.download`` and ``bids.open`` job kinds the pages start, for scripts and for a
buyer who prefers a terminal. The job's origin is the descriptor URL's own origin: every file
and upload stays there (promise 6). The bearer token is read from standard input
(``--token-stdin``, first line), never from the command line, which other users can see; the
PIN or password follows on the next line with ``--pin-stdin``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..i18n import Text
from .common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, CliConsent, fail, print_job_error, run_job, say, select_key, sep
from .printers import signature_line

if TYPE_CHECKING:
    from ..config import Settings


def add_parsers(sub: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    """``bids download`` and ``bids open`` under ``sub``."""
    bids = sub.add_parser("bids", help="plis d'une consultation : télécharger, ouvrir en ligne")
    actions = bids.add_subparsers(dest="bids_action", required=True, metavar="ACTION")
    download = actions.add_parser("download", help="télécharger les plis chiffrés d'une consultation")
    opening = actions.add_parser("open", help="ouvrir en ligne : télécharger, déchiffrer, transmettre à la plateforme")
    for p in (download, opening):
        common(p)
        p.add_argument("url", metavar="URL", help="adresse de la description de la consultation (http(s))")
        p.add_argument("--token-stdin", action="store_true", help="lire le jeton d'accès sur l'entrée standard")
        p.add_argument("--plis", metavar="ID,ID", help="seulement ces plis (identifiants de la plateforme)")
        p.add_argument("--out-dir", type=Path, metavar="DOSSIER", help="dossier des plis (défaut : celui de Compagnon)")
    opening.add_argument("--envelopes", metavar="ID,ID", help="seulement ces enveloppes de chaque pli")
    opening.add_argument("--p12", type=Path, metavar="FICHIER", help="bi-clé dans un fichier PKCS#12")
    opening.add_argument("--pkcs11", type=Path, metavar="MODULE", help="module PKCS#11 du support")
    opening.add_argument("--token", metavar="LIBELLÉ", help="libellé du support PKCS#11")
    opening.add_argument("--key", metavar="LIBELLÉ", help="libellé de la clé sur le support")
    opening.add_argument("--pin-stdin", action="store_true", help="lire le code PIN / mot de passe sur l'entrée standard")
    opening.add_argument("--no-upload", action="store_true", help="ne rien transmettre à la plateforme")


def run(args: argparse.Namespace, settings: Settings) -> int:
    from bridge_protocol.errors import ProtocolError

    from ..consent import PolicyConsent
    from ..errors import ReportedError
    from ..jobs.context import JobServices

    from yarl import URL

    url = URL(args.url)
    if url.scheme not in ("http", "https") or not url.host:
        print(say(Text("compagnon : adresse http(s) attendue, pas « {url} ».",
                       "compagnon: an http(s) address is expected, not \"{url}\"."), url=args.url), file=sys.stderr)
        return EXIT_USAGE
    origin = str(url.origin())
    token = sys.stdin.readline().strip() if args.token_stdin else None
    params: dict[str, Any] = {"url": str(url), "token": token or None}
    if args.plis:
        params["plis"] = [p.strip() for p in args.plis.split(",") if p.strip()]
    if args.out_dir:
        params["out_dir"] = str(args.out_dir)
    if args.bids_action == "download":
        services = JobServices(settings=settings, consent=PolicyConsent(approve=False), local=True)
        snapshot = run_job(services, "bids.download", params, show_progress=True, origin=origin)
        return _report(snapshot, lambda f: f"{f['name']}  {f['status']}")
    try:
        registry, key, secret = select_key(args, settings)
    except (ProtocolError, ReportedError) as exc:
        return fail(exc)
    params.update(certificate=key.id, upload=not args.no_upload)
    if args.envelopes:
        params["envelopes"] = [e.strip() for e in args.envelopes.split(",") if e.strip()]
    services = JobServices(settings=settings, consent=CliConsent(args.pin_stdin, secret),
                           keystores=registry, local=True)
    snapshot = run_job(services, "bids.open", params, show_progress=True, origin=origin)
    return _report(snapshot, _opened_line)


#: Whether an opened file was sent back to the platform.
SENT = {True: Text("transmis", "sent"), False: Text("non transmis", "not sent")}


def _opened_line(item: dict[str, Any]) -> str:
    """An opened file, whether it was sent and its analysis; or why it was not opened."""
    if item["status"] != "opened":
        return f"{item['source']}  {item['error']['code']}{sep()}{item['error']['message']}"
    line = f"{item['name']}  {say(SENT[bool(item['uploaded'])])}"
    return line + (f"\n    {signature_line(item['signature'])}" if item.get("signature") else "")


def _report(snapshot: dict[str, Any], line: Callable[[dict[str, Any]], str]) -> int:
    """The folder, then a line per file; exit 1 when the job or a file failed."""
    if snapshot["state"] != "succeeded":
        print_job_error(snapshot)
        return EXIT_FAILED
    result = snapshot["result"]
    print(result["folder"])
    failed = False
    for item in result["files"]:
        failed |= item.get("status") == "failed"
        print(f"  {line(item)}", file=sys.stderr if item.get("status") == "failed" else sys.stdout)
    return EXIT_FAILED if failed else EXIT_OK
