"""``compagnon verify``: the ``verify`` job in this process, one file or a set (a folder, a pli), its
report as text, JSON or HTML; ``--extract`` writes the document an attached CAdES holds."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..i18n import Text
from .common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, print_job_error, run_job, say, use_agent_workers
from .printers import print_batch, print_verification

if TYPE_CHECKING:
    from ..config import Settings


EXIT_INDETERMINATE = 2


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Exit 0 when every signature is TOTAL_PASSED, 1 when any is TOTAL_FAILED, 2 otherwise (an
    indeterminate signature, an unreadable file, no signature at all). Several files or a folder:
    one report for all of them, and the worst exit code."""
    from ..isolation import prestart

    use_agent_workers(settings)
    # the verification worker starts now: its start-up overlaps this process's imports below
    prestart(settings.verify_max_memory_mb * 1024 * 1024, settings.verify_timeout_seconds, ("agent.validation.detect",))
    from dataclasses import replace

    from .. import __version__
    from ..consent import PolicyConsent
    from ..fsutil import atomic_write_bytes
    from ..jobs.context import JobServices

    batch = len(args.files) > 1 or args.files[0].is_dir()
    if batch and (args.content or args.extract):
        print(say(Text("compagnon : --content et --extract vont avec un seul FICHIER (les signatures détachées d'un "
                       "ensemble sont associées à leur fichier par leur nom).",
                       "compagnon: --content and --extract go with one FILE only (the detached signatures of a set "
                       "are matched with their file by their name).")), file=sys.stderr)
        return EXIT_USAGE
    settings = replace(settings, trust_roots=(*settings.trust_roots, *args.trust))
    params: dict[str, Any]
    if batch:
        from ..validation.batch import collect

        params = {"files": [{"path": str(item.path), "name": item.label} for item in collect(args.files)]}
        if not params["files"]:
            print(say(Text("compagnon : aucun fichier à vérifier.", "compagnon: no file to verify.")), file=sys.stderr)
            return EXIT_USAGE
    else:
        params = {"path": str(args.files[0])}
        if args.content:
            params["content_path"] = str(args.content)

    # no key store: the job's trust anchors are read from the settings (kinds.verification)
    services = JobServices(settings=settings, consent=PolicyConsent(False), local=True)
    snapshot = run_job(services, "verify", params, args.lang)
    if snapshot["state"] != "succeeded":
        print_job_error(snapshot)
        return EXIT_INDETERMINATE
    result = snapshot["result"]
    report = result["report"]
    if args.report:
        from ..validation.report_html import render_batch_report, render_report

        render = render_batch_report if batch else render_report
        atomic_write_bytes(args.report, render(report, args.lang, __version__).encode("utf-8"), 0o644)
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
    elif batch:
        print_batch(report, args.lang)
    else:
        print_verification(report, locale=args.lang)
    if args.extract and not _extract_content(args.files[0], args.extract, args.lang):
        return EXIT_FAILED
    return {"TOTAL_PASSED": EXIT_OK, "TOTAL_FAILED": EXIT_FAILED}.get(result["indication"], EXIT_INDETERMINATE)


def _extract_content(signature: Path, out: Path, lang: str) -> bool:
    """``verify --extract OUT``: the document an attached CAdES (``.p7m``) holds, written whole or not at all."""
    from ..fsutil import atomic_output
    from ..i18n import Text
    from ..validation.cades import extract_content
    from ..validation.cms_stream import CmsFormatError

    try:
        with atomic_output(out, 0o644) as stream:
            size = extract_content(signature, stream)
    except CmsFormatError as exc:
        print(Text("compagnon : extraction impossible : {e}", "compagnon: cannot extract: {e}").render(lang, e=exc),
              file=sys.stderr)
        return False
    except OSError as exc:
        print(Text("compagnon : extraction impossible vers {p} : {e}", "compagnon: cannot extract to {p}: {e}")
              .render(lang, p=out, e=exc.strerror or exc), file=sys.stderr)
        return False
    print(Text("Document extrait : {p} ({n} octets)", "Document extracted: {p} ({n} bytes)").render(lang, p=out, n=size),
          file=sys.stderr)
    return True


__all__ = ["EXIT_INDETERMINATE", "run"]
