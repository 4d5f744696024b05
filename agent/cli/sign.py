"""``compagnon sign``, ``cosign`` and ``countersign``: the ``sign`` job in this process, with the key
the options name."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..i18n import Text
from .common import CliConsent, fail, run_job, select_key
from .printers import print_outputs

if TYPE_CHECKING:
    from ..config import Settings


def check_inputs(files: list[Path], signature_format: str | None = None) -> None:
    """Refuse, before any password or PIN is asked, a file that is missing, unreadable, or that the
    chosen format cannot sign (PAdES signs PDF documents only, ISO 32000-1 section 7.5.2)."""
    from bridge_protocol.errors import ErrorCode, ProtocolError

    if not files:
        raise ProtocolError(ErrorCode.INVALID_PARAMS, Text("Aucun fichier à traiter : indiquez au moins un fichier.",
                                                           "No file to process: give at least one file."))
    for path in files:
        try:
            with path.open("rb") as stream:
                head = stream.read(1024)
        except FileNotFoundError:
            raise ProtocolError(ErrorCode.FILE_NOT_FOUND, Text(
                "Fichier introuvable : {path}. Vérifiez son chemin.", "File not found: {path}. Check its path.",
            ).filled(path=str(path))) from None
        except OSError as exc:
            raise ProtocolError(ErrorCode.FILE_UNREADABLE, Text(
                "Fichier illisible : {path} ({why}).", "Unreadable file: {path} ({why}).",
            ).filled(path=str(path), why=str(exc.strerror or exc))) from None
        if signature_format == "pades" and not head.startswith(b"%PDF-"):
            raise ProtocolError(ErrorCode.INVALID_PARAMS, Text(
                "{name} n'est pas un PDF : la signature PAdES ne s'applique qu'aux documents PDF. Pour ce fichier, "
                "choisissez --format cades (ou xades).",
                "{name} is not a PDF: a PAdES signature applies to PDF documents only. For this file, choose "
                "--format cades (or xades).").filled(name=path.name))


def expand_folders(paths: list[Path]) -> list[Path]:
    """Each folder given becomes its ``.xml`` files (not recursive, sorted by name): a folder of PES
    flows is signed in one job, with one consent and one PIN."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir() if p.suffix.lower() == ".xml" and p.is_file()))
        else:
            files.append(path)
    return files


def run(args: argparse.Namespace, settings: Settings) -> int:
    from dataclasses import replace

    from bridge_protocol.errors import ProtocolError

    from ..errors import ReportedError
    from ..jobs.context import JobServices

    if args.tsa:
        settings = replace(settings, tsa_url=args.tsa)
    try:
        if args.command == "sign":
            check_inputs(expand_folders(args.files), args.format)
        registry, key, secret = select_key(args, settings, "signing")
    except (ProtocolError, ReportedError) as exc:
        return fail(exc)
    if args.command == "sign":
        files = [{"path": str(f), "format": args.format, "attached": args.attached, "enveloped": args.enveloped,
                  "pes": args.pes, **({"stamp": {"page": args.stamp_page}} if args.stamp_page else {})}
                 for f in expand_folders(args.files)]
        mode, signer = "sign", None
    else:
        entry: dict[str, Any] = {"path": str(args.signature), "format": "cades"}
        if getattr(args, "content", None):
            entry["content_path"] = str(args.content)
        files, mode, signer = [entry], args.command, getattr(args, "signer", None)
    params: dict[str, Any] = {"files": files, "certificate": key.id, "level": args.level, "mode": mode}
    if signer:
        params["signer"] = signer
    if getattr(args, "reason", None):
        params["reason"] = args.reason
    if getattr(args, "role", None):
        params["claimed_role"] = args.role
    place = {name: value for name, value in (("City", getattr(args, "city", None)),
                                             ("PostalCode", getattr(args, "postal_code", None)),
                                             ("CountryName", getattr(args, "country", None))) if value}
    if place:
        params["production_place"] = place
    if args.out_dir:
        params["out_dir"] = str(args.out_dir)

    services = JobServices(settings=settings, consent=CliConsent(args.pin_stdin, secret),
                           keystores=registry, local=True)
    snapshot = run_job(services, "sign", params, show_progress=True)
    return print_outputs(snapshot, "signed")


__all__ = ["check_inputs", "expand_folders", "run"]
