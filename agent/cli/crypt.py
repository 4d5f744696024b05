"""``compagnon decrypt`` and ``encrypt``: the ``decrypt`` and ``encrypt`` jobs in this process; an
encryption with ``--deposit`` also sends the files and prints the platform's receipt."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from ..i18n import Text, human_datetime
from .common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, CliConsent, fail, run_job, say, select_key, sep
from .printers import print_outputs
from .sign import check_inputs

if TYPE_CHECKING:
    from ..config import Settings


def decrypt(args: argparse.Namespace, settings: Settings) -> int:
    from bridge_protocol.errors import ProtocolError

    from ..errors import ReportedError
    from ..jobs.context import JobServices

    try:
        registry, key, secret = select_key(args, settings)
    except (ProtocolError, ReportedError) as exc:
        return fail(exc)
    params: dict[str, Any] = {"files": [{"path": str(f)} for f in args.files], "certificate": key.id,
                              "extract": args.extract}
    if args.out_dir:
        params["out_dir"] = str(args.out_dir)
    services = JobServices(settings=settings, consent=CliConsent(args.pin_stdin, secret),
                           keystores=registry, local=True)
    snapshot = run_job(services, "decrypt", params, show_progress=True)
    return print_outputs(snapshot, "decrypted")


def encrypt(args: argparse.Namespace, settings: Settings) -> int:
    from ..consent import PolicyConsent
    from ..jobs.context import JobServices

    from cryptography import x509

    from bridge_protocol.errors import ProtocolError

    from ..errors import ReportedError

    recipients = []
    for path in args.to:
        try:
            text = path.read_text(encoding="ascii")
            x509.load_pem_x509_certificates(text.encode())
        except FileNotFoundError:
            print(say(Text("compagnon : certificat introuvable : {path}. Vérifiez son chemin.",
                           "compagnon: certificate not found: {path}. Check its path."), path=path), file=sys.stderr)
            return EXIT_USAGE
        except (OSError, UnicodeDecodeError, ValueError):
            print(say(Text("compagnon : {name} n'est pas un certificat au format PEM (« -----BEGIN CERTIFICATE----- ») : "
                           "--to attend le certificat de chiffrement de l'acheteur.",
                           "compagnon: {name} is not a PEM certificate (\"-----BEGIN CERTIFICATE-----\"): --to expects "
                           "the buyer's encryption certificate."), name=path.name), file=sys.stderr)
            return EXIT_USAGE
        recipients.append(text)
    try:
        check_inputs(list(args.files))
    except (ProtocolError, ReportedError) as exc:
        return fail(exc)
    params: dict[str, Any] = {"files": [{"path": str(f)} for f in args.files], "recipients": recipients,
                              "algorithm": args.algorithm}
    if args.out_dir:
        params["out_dir"] = str(args.out_dir)
    origin = "cli:"
    if args.deposit:
        from yarl import URL

        url = URL(args.deposit)
        if url.scheme not in ("http", "https") or not url.host:
            print(say(Text("compagnon : --deposit attend une adresse http(s) de la plateforme, pas « {url} ».",
                           "compagnon: --deposit expects an http(s) address of the platform, not \"{url}\"."),
                      url=args.deposit), file=sys.stderr)
            return EXIT_USAGE
        origin = str(url.origin())  # the job's origin: the upload stays there (promise 6)
        token = sys.stdin.readline().strip() if args.token_stdin else None
        params.update(upload_url=str(url), token=token or None)
    snapshot = run_job(JobServices(settings=settings, consent=PolicyConsent(False), local=True), "encrypt", params,
                        origin=origin)
    status = print_outputs(snapshot, "encrypted")
    if args.deposit and snapshot["state"] == "succeeded":
        status = max(status, _print_receipt(snapshot["result"], getattr(args, "lang", "fr")))
    return status


def _print_receipt(result: dict[str, Any], locale: str) -> int:
    """The platform's deposit receipt kept with the job; exit 1 when a file sent is not on it."""
    refused = [f for f in result["files"] if f["status"] == "encrypted" and not f["uploaded"]]
    for item in refused:
        error = item["error"] or {"code": "PLATFORM_UNREACHABLE", "message": ""}
        print(f"compagnon{sep()}{item['source']}{sep()}{error['code']}{sep()}{error['message']}", file=sys.stderr)
    receipt = result.get("receipt")
    if receipt is None:
        print(Text("compagnon : la plateforme n'a pas remis d'accusé de réception.",
                   "compagnon: the platform gave no receipt.").render(locale), file=sys.stderr)
        return EXIT_FAILED
    print(Text("Accusé de réception {id} — {pli}, reçu le {time} :",
               "Receipt {id} — {pli}, received on {time}:").render(
        locale, id=receipt["id"], pli=receipt.get("label") or receipt["pli"],
        time=human_datetime(receipt["received_at"], locale)))
    for item in receipt["files"]:
        print(f"  {item['name']}  {item['size']} {'bytes' if locale == 'en' else 'octets'}  SHA-256 {item['sha256']}")
    missing = [f["source"] for f in result["files"] if f["uploaded"] and not f["receipted"]]
    for name in missing:
        print(Text("compagnon : {name} : absent de l'accusé de réception (taille ou empreinte différente).",
                   "compagnon: {name}: missing from the receipt (size or fingerprint differs).").render(locale, name=name),
              file=sys.stderr)
    return EXIT_FAILED if missing or refused else EXIT_OK


__all__ = ["decrypt", "encrypt"]
