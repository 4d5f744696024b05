"""Printing the jobs' results: the files a job wrote (one path a line, the errors on stderr), an
opened file's analyse on one line, and the verification reports as text (as the HTML report
words them)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from .common import EXIT_FAILED, EXIT_OK, PROMPTS, print_job_error, say, sep


def print_outputs(snapshot: dict[str, Any], done_status: str) -> int:
    """Print each output path (one a line) and each error; exit 1 when anything failed."""
    if snapshot["state"] != "succeeded":
        print_job_error(snapshot)
        return EXIT_FAILED
    failed = False
    for item in snapshot["result"]["files"]:
        if item["status"] == done_status:
            print(Path(item["folder"]) / item["output"])
            if item.get("signature"):
                print(f"  {signature_line(item['signature'])}")
            checks = item.get("extracted_signatures") or []
            for index, extracted in enumerate(item.get("extracted", [])):
                print(f"  {Path(item['folder']) / extracted}")
                if index < len(checks):
                    print(f"    {signature_line(checks[index])}")
        else:
            failed = True
            print(f"compagnon{sep()}{item['source']}{sep()}{item['error']['code']}{sep()}{item['error']['message']}",
                  file=sys.stderr)
    return EXIT_FAILED if failed else EXIT_OK


def signature_line(check: dict[str, Any]) -> str:
    """An opened file's analyse on one line: "Signature valide — Jeanne TITULAIRE — rapport : …"."""
    parts = [check["label"]]
    if check.get("signers"):
        parts.append(", ".join(check["signers"]))
    if check.get("signed_by"):
        parts.append(say(PROMPTS["signed_by"], who=", ".join(check["signed_by"])))
    if check.get("report_name"):
        parts.append(say(PROMPTS["report"], name=check["report_name"]))
    return " — ".join(parts)


def print_batch(report: dict[str, Any], locale: str) -> None:
    """One line per file (its verdict, or why it has none), its signatures under it, the counts last."""
    from ..validation.report_html import BATCH_TEXTS, count_phrase

    en = locale == "en"
    for entry in report["files"]:
        if entry["status"] == "error":
            verdict = f"{entry['error']['code']}{sep(locale)}{entry['error']['message']}"
        elif entry["indication"]:
            verdict = entry["indication"]
        elif entry["signed_by"]:
            verdict = ("signed by " if en else "signé par ") + ", ".join(entry["signed_by"])
        else:
            verdict = "no signature" if en else "sans signature"
        content = f" (content: {entry['content']})" if en else f" (contenu : {entry['content']})"
        print(f"{entry['file']}{': ' if en else ' : '}{verdict}{content if entry['content'] else ''}")
        if entry["signatures"]:
            print_verification({"signatures": entry["signatures"]}, "    ", locale)
    summary = report["summary"]
    print(", ".join(count_phrase(int(summary[key]), *BATCH_TEXTS[key], locale) for key in BATCH_TEXTS))


#: What a check that is not plainly passed is called in the text report (as in the HTML report).
CHECK_STATUS_WORDS = {
    "fr": {"failed": "non conforme", "warning": "à vérifier", "not_checked": "non vérifié"},
    "en": {"failed": "failed", "warning": "to check", "not_checked": "not checked"},
}


_PROPERTY_LABELS = {
    "location": ("emplacement", "location"), "claimed_role": ("rôle", "role"),
    "production_place": ("lieu", "place"), "signing_time_declared": ("date déclarée", "declared time"),
    "signature_policy": ("politique", "policy"), "signature_policy_description": ("description", "description"),
    "signature_policy_hash": ("empreinte de la politique", "policy hash"), "signature_policy_uri": ("SPURI", "SPURI"),
}


def _check_name(check: dict[str, Any], locale: str) -> str:
    """A check as the reports name it ("Chaîne de certification", not ``chain``)."""
    from ..validation.report_html import CHECK_NAMES

    name = str(check.get("name"))
    return CHECK_NAMES[name].render(locale) if name in CHECK_NAMES else name


def print_verification(report: dict[str, Any], indent: str = "", locale: str = "fr") -> None:
    words = CHECK_STATUS_WORDS["en" if locale == "en" else "fr"]
    colon = sep(locale)  # a space before ":" in French only
    signatures = report.get("signatures") or report.get("countersignatures") or []
    if "file" in report:
        print(f"{report.get('file')}{colon}{len(signatures)} signature(s)")
        container = report.get("container")
        if container:
            count = len(container.get("files") or [])
            print(f"{indent}  {container.get('type')}{colon}"
                  + (f"{count} file(s)" if locale == "en" else f"{count} fichier(s)"))
            for check in container.get("checks", []):
                if check.get("status") in words:
                    print(f"{indent}    {words[check['status']]} {_check_name(check, locale)}{colon}{check.get('message')}")
    for signature in signatures:
        signer = signature.get("signer") or {}
        sub = f" / {signature['sub_indication']}" if signature.get("sub_indication") else ""
        print(f"{indent}- [{signature.get('indication')}{sub}] {signer.get('name')} "
              f"({signature.get('format')} {signature.get('level') or ''}, {signature.get('signing_time') or '—'})")
        for key, value in (signature.get("properties") or {}).items():
            print(f"{indent}    {_PROPERTY_LABELS.get(key, (key, key))[1 if locale == 'en' else 0]}{colon}{value}")
        if signature.get("covers"):
            label = "covers" if locale == "en" else "couvre"
            print(f"{indent}    {label}{colon}{', '.join(signature['covers'])}")
        for check in signature.get("checks", []):
            if check.get("status") in words:
                print(f"{indent}    {words[check['status']]} {_check_name(check, locale)}{colon}{check.get('message')}")
        conformance = signature.get("conformance")
        if conformance:
            title = "conformance" if locale == "en" else "conformité"
            print(f"{indent}    {title} {conformance['profile']}{colon}{conformance['result']}")
            for rule in conformance["rules"]:
                print(f"{indent}      {rule['result']:<3} {rule['name']}{colon}{rule['message']}")
        if signature.get("countersignatures"):
            print_verification({"countersignatures": signature["countersignatures"]}, indent + "    ", locale)
    for inner in report.get("contents") or []:
        label = "enclosed document" if locale == "en" else "document contenu"
        print(f"{indent}  {inner.get('file')} ({label}){colon}{len(inner.get('signatures') or [])} signature(s)")
        print_verification({"signatures": inner.get("signatures") or [], "contents": inner.get("contents") or []},
                            indent + "    ", locale)


__all__ = ["CHECK_STATUS_WORDS", "print_batch", "print_outputs", "print_verification", "signature_line"]
