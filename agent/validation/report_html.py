"""The HTML verification report: one block per signer with what the arrêté du 22 mars 2019
(art. 5) requires a buyer to see — the signer's identity, the certificate's category, the format,
the certificate neither expired nor revoked at signing time, the document's integrity — and the
ETSI EN 319 102-1 indication. For a container (ASiC, ETSI EN 319 162-1), a block first lists each
of its files with the signatures covering it, files no signature covers standing out, and the
container's own checks. Printable to PDF from any browser. Built from the JSON report only.
"""

from __future__ import annotations

import html
from datetime import datetime
from typing import Any

from ..i18n import Text

T = Text

TEXTS = {
    "title": T("Rapport de vérification des signatures", "Signature verification report"),
    "file": T("Fichier vérifié", "File verified"),
    "generated": T("Rapport établi le {date} par Compagnon {version}", "Report made on {date} by Compagnon {version}"),
    "count": T("{n} signature(s) trouvée(s)", "{n} signature(s) found"),
    "none": T("Aucune signature n'a été trouvée dans ce fichier.", "No signature was found in this file."),
    "signature": T("Signature {n}", "Signature {n}"),
    "countersignature": T("Contre-signature", "Counter-signature"),
    "contents": T("Document contenu dans la signature : {f}", "Document inside the signature: {f}"),
    "contents_help": T(
        "Ce document est enveloppé dans le fichier vérifié ; ses propres signatures sont vérifiées ci-dessous.",
        "This document is wrapped in the verified file; its own signatures are checked below."),
    "signer": T("Signataire", "Signer"),
    "organization": T("Organisation", "Organisation"),
    "certificate": T("Empreinte SHA-256 du certificat", "Certificate SHA-256 fingerprint"),
    "format": T("Format et niveau", "Format and level"),
    "signing_time": T("Date de signature", "Signing time"),
    "source_timestamp": T("horodatage", "timestamp"),
    "source_claimed": T("déclarée par le signataire", "claimed by the signer"),
    "verdict": T("Résultat", "Result"),
    "checks": T("Contrôles", "Checks"),
    "check": T("Contrôle", "Check"),
    "status": T("État", "Status"),
    "detail": T("Détail", "Detail"),
    "TOTAL_PASSED": T("Signature valide", "Valid signature"),
    "TOTAL_FAILED": T("Signature invalide", "Invalid signature"),
    "INDETERMINATE": T("Validité indéterminée", "Indeterminate"),
    "passed": T("conforme", "passed"),
    "failed": T("non conforme", "failed"),
    "warning": T("à vérifier", "to check"),
    "not_checked": T("non vérifié", "not checked"),
    "not_applicable": T("sans objet", "not applicable"),
    "prop_location": T("Emplacement", "Location"),
    "prop_claimed_role": T("Rôle du signataire", "Signer's role"),
    "prop_production_place": T("Lieu de signature", "Place of signing"),
    "prop_signing_time_declared": T("Date déclarée", "Declared time"),
    "prop_signature_policy": T("Politique de signature", "Signature policy"),
    "prop_signature_policy_description": T("Description de la politique", "Policy description"),
    "prop_signature_policy_hash": T("Empreinte de la politique", "Policy hash"),
    "prop_signature_policy_uri": T("Adresse de la politique (SPURI)", "Policy address (SPURI)"),
    "conformance": T("Conformité {p} : {r}", "{p} conformance: {r}"),
    "rule": T("Règle", "Rule"),
    "covers": T("Fichiers couverts", "Files covered"),
    "container": T("Conteneur {t}", "{t} container"),
    "container_files": T("Fichiers du conteneur", "Files in the container"),
    "covered_by": T("Couvert par", "Covered by"),
    "uncovered": T("aucune signature", "no signature"),
    "legal": T(
        "Contrôles prévus par l'article 5 de l'arrêté du 22 mars 2019 relatif à la signature électronique des "
        "contrats de la commande publique ; indication selon ETSI EN 319 102-1.",
        "Checks required by article 5 of the French order of 22 March 2019 on electronic signatures in public "
        "procurement; indication per ETSI EN 319 102-1.",
    ),
}

CHECK_NAMES = {
    "format": T("Format de signature", "Signature format"),
    "integrity": T("Intégrité du document signé", "Integrity of the signed document"),
    "signature_value": T("Valeur de la signature", "Signature value"),
    "chain": T("Chaîne de certification", "Certificate chain"),
    "key_usage": T("Usage de la clé du certificat", "Certificate key usage"),
    "certificate_category": T("Catégorie du certificat", "Certificate category"),
    "validity": T("Validité du certificat à la date de signature", "Certificate validity at signing time"),
    "revocation": T("Révocation du certificat", "Certificate revocation"),
    "baseline_level": T("Niveau de signature (ETSI)", "Signature level (ETSI)"),
    "modification": T("Modifications après signature", "Changes after signing"),
    "coverage": T("Partie du document couverte", "Part of the document covered"),
    "timestamp": T("Horodatage", "Timestamp"),
    "content_timestamp": T("Horodatage du contenu", "Content time-stamp"),
    "algorithm_protection": T("Protection des algorithmes (RFC 6211)", "Algorithm protection (RFC 6211)"),
    "signing_certificate": T("Certificat du signataire (attribut signé)", "Signer's certificate (signed attribute)"),
    "validation_data": T("Données de validation (certificats, OCSP, CRL)",
                         "Validation data (certificates, OCSP, CRLs)"),
    "legacy_format": T("Format de signature PDF ancien", "Legacy PDF signature format"),
    "byte_range": T("Empreinte de la plage signée (adbe.pkcs7.sha1)", "Digest of the signed range (adbe.pkcs7.sha1)"),
    "vri_timestamp": T("Horodatage des données de validation (VRI)", "Validation data time-stamp (VRI)"),
    "pes_sha1": T("SHA-1 de la politique PES (DGFiP)", "SHA-1 of the PES policy (DGFiP)"),
    "pes_sha1_reference": T("Empreinte des données signées (PES)", "Digest of the signed data (PES)"),
    "container": T("Conteneur de la signature", "Signature's container"),
    "manifest": T("Manifeste ASiC (fichiers signés)", "ASiC manifest (files signed)"),
    "mimetype": T("Type déclaré (mimetype)", "Declared type (mimetype)"),
    "uncovered_files": T("Fichiers non signés", "Unsigned files"),
    "signatures": T("Signatures du conteneur", "Signatures of the container"),
}

STYLE = """
body { font-family: system-ui, sans-serif; color: #1d1d1f; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; margin: 0 0 .5rem; }
.meta { color: #555; }
.signature { border: 1px solid #d0d5dc; border-left: 6px solid #9aa5b1; border-radius: 4px; padding: 1rem; margin: 1rem 0;
             break-inside: avoid; }
.signature.TOTAL_PASSED { border-left-color: #27ae60; } .signature.TOTAL_FAILED { border-left-color: #c0392b; }
.signature.INDETERMINATE { border-left-color: #d68910; }
.verdict { font-weight: bold; } .TOTAL_PASSED .verdict { color: #1e8449; } .TOTAL_FAILED .verdict { color: #c0392b; }
.INDETERMINATE .verdict { color: #b9770e; }
dl { display: grid; grid-template-columns: 16rem 1fr; gap: .2rem .8rem; margin: .5rem 0; } dt { color: #555; }
dd { margin: 0; word-break: break-all; }
table { border-collapse: collapse; width: 100%; margin-top: .5rem; } th, td { border: 1px solid #d0d5dc; padding: .3rem .5rem;
text-align: left; vertical-align: top; }
td.passed { color: #1e8449; } td.failed { color: #c0392b; } td.warning { color: #b9770e; }
td.not_checked { color: #b9770e; font-style: italic; }
.counter { margin-left: 2rem; }
.contents { margin-left: 1rem; padding-left: 1rem; border-left: 2px dashed #9aa5b1; }
.summary, .file { border-top: 2px solid #d0d5dc; margin-top: 1.5rem; padding-top: .5rem; }
td.TOTAL_PASSED { color: #1e8449; } td.TOTAL_FAILED, td.error { color: #c0392b; } td.INDETERMINATE { color: #b9770e; }
h3 { font-size: 1rem; margin: 0 0 .5rem; }
.container { border: 1px solid #d0d5dc; border-radius: 4px; padding: 1rem; margin: 1rem 0; }
td.uncovered { color: #b9770e; font-weight: bold; }
footer { color: #555; font-size: .85rem; margin-top: 2rem; }
@media print { body { margin: 0; } }
"""


def _date(value: str | None, locale: str) -> str:
    """RFC 3339 as a reader writes it: 23/11/2026 16:45:04 UTC (English: 2026-11-23 16:45:04 UTC)."""
    if not value:
        return "—"
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC" if locale == "en" else "%d/%m/%Y %H:%M:%S UTC")


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value))


def _check_rows(checks: list[dict[str, Any]], locale: str) -> str:
    return "".join(
        f"<tr><td>{_e(CHECK_NAMES[c['name']].render(locale) if c.get('name') in CHECK_NAMES else c.get('name'))}</td>"
        f"<td class={_e(c.get('status'))}>{_e(TEXTS[c['status']].render(locale) if c.get('status') in TEXTS else c.get('status'))}</td>"
        f"<td>{_e(c.get('message'))}</td></tr>"
        for c in checks
    )


def _container_block(container: dict[str, Any], signatures: list[dict[str, Any]], locale: str) -> str:
    """The container (ETSI EN 319 162-1): each data file and the signatures covering it, then its checks."""
    t = lambda key, **kw: TEXTS[key].render(locale, **kw)  # noqa: E731
    covering: dict[str, list[str]] = {}
    for index, signature in enumerate(signatures, 1):
        for name in signature.get("covers") or []:
            covering.setdefault(name, []).append(t("signature", n=index))
    files = "".join(
        f"<tr><td><code>{_e(name)}</code></td>"
        + (f"<td>{_e(', '.join(covering[name]))}</td>" if covering.get(name) else
           f"<td class=uncovered>{_e(t('uncovered'))}</td>")
        + "</tr>"
        for name in container.get("files") or []
    )
    return (
        f'<section class="container"><h2>{_e(t("container", t=container.get("type") or "ZIP"))}</h2>'
        f"<table><thead><tr><th>{t('container_files')}</th><th>{t('covered_by')}</th></tr></thead>"
        f"<tbody>{files}</tbody></table>"
        f"<table><thead><tr><th>{t('check')}</th><th>{t('status')}</th><th>{t('detail')}</th></tr></thead>"
        f"<tbody>{_check_rows(container.get('checks') or [], locale)}</tbody></table></section>"
    )


def _signature_block(signature: dict[str, Any], title: str, locale: str, nested: bool = False,
                     heading: str = "h2") -> str:
    t = lambda key, **kw: TEXTS[key].render(locale, **kw)  # noqa: E731
    indication = signature.get("indication") or "INDETERMINATE"
    signer = signature.get("signer") or {}
    verdict = TEXTS.get(indication, TEXTS["INDETERMINATE"]).render(locale)
    if signature.get("sub_indication"):
        verdict += f" ({signature['sub_indication']})"
    source = signature.get("signing_time_source")
    when = _e(_date(signature.get("signing_time"), locale))
    if source in ("timestamp", "claimed"):
        when += f" <span class=meta>({t('source_' + source)})</span>"
    rows = _check_rows(signature.get("checks", []), locale)
    covers = ""
    if signature.get("covers"):
        covers = (f"<dt>{t('covers')}</dt><dd>"
                  + ", ".join(f"<code>{_e(name)}</code>" for name in signature["covers"]) + "</dd>")
    counters = "".join(
        _signature_block(c, t("countersignature"), locale, nested=True, heading=heading)
        for c in signature.get("countersignatures", [])
    )
    facts = "".join(
        f"<dt>{_e(TEXTS['prop_' + k].render(locale) if 'prop_' + k in TEXTS else k)}</dt><dd>{_e(v)}</dd>"
        for k, v in (signature.get("properties") or {}).items()
    )
    conformance = signature.get("conformance")
    profile = ""
    if conformance:
        rules = "".join(
            f"<tr><td>{_e(r.get('name'))}</td><td class={_e(r.get('status'))}>{_e(r.get('result'))}</td>"
            f"<td>{_e(r.get('message'))}</td></tr>" for r in conformance.get("rules", []))
        profile = (f'<div class="conformance" data-result="{_e(conformance.get("result"))}">'
                   f"<h3>{_e(t('conformance', p=conformance.get('profile'), r=conformance.get('result')))}</h3>"
                   f"<table><thead><tr><th>{t('rule')}</th><th>{t('status')}</th><th>{t('detail')}</th></tr></thead>"
                   f"<tbody>{rules}</tbody></table></div>")
    return (
        f'<section class="signature {_e(indication)}{" counter" if nested else ""}" data-signature="{_e(signature.get("id"))}">'
        f"<{heading}>{_e(title)} — {_e(signer.get('name') or '?')}</{heading}>"
        f'<p class="verdict">{t("verdict")} : {_e(verdict)}</p>'
        f"<dl><dt>{t('signer')}</dt><dd>{_e(signer.get('name'))}</dd>"
        f"<dt>{t('organization')}</dt><dd>{_e(signer.get('organization') or '—')}</dd>"
        f"<dt>{t('certificate')}</dt><dd><code>{_e(signer.get('certificate_sha256'))}</code></dd>"
        f"<dt>{t('format')}</dt><dd>{_e(signature.get('format'))} {_e(signature.get('level') or '')}</dd>"
        f"<dt>{t('signing_time')}</dt><dd>{when}</dd>{facts}{covers}</dl>"
        f"<table><thead><tr><th>{t('check')}</th><th>{t('status')}</th><th>{t('detail')}</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>{profile}{counters}</section>"
    )


def _contents_block(inner: dict[str, Any], locale: str) -> str:
    """An encapsulated document (the PDF inside a ``.p7m``) and its own signatures."""
    t = lambda key, **kw: TEXTS[key].render(locale, **kw)  # noqa: E731
    signatures = inner.get("signatures", [])
    blocks = "".join(
        _signature_block(s, t("signature", n=i), locale) for i, s in enumerate(signatures, 1)
    ) or f"<p>{t('none')}</p>"
    nested = "".join(_contents_block(c, locale) for c in inner.get("contents", []))
    return (f'<section class="contents"><h2>{t("contents", f=_e(inner.get("file")))}</h2>'
            f'<p class=meta>{t("contents_help")} — {t("count", n=len(signatures))}</p>{blocks}{nested}</section>')


def _page(locale: str, title: str, body: str) -> str:
    return (
        f'<!doctype html><html lang="{"en" if locale == "en" else "fr"}"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; style-src \'unsafe-inline\'">'
        f"<title>{title}</title><style>{STYLE}</style></head><body>{body}"
        f"<footer>{TEXTS['legal'].render(locale)}</footer></body></html>"
    )


def _moment(now: datetime | None, locale: str) -> str:
    return (now or datetime.now()).strftime("%d/%m/%Y %H:%M" if locale != "en" else "%Y-%m-%d %H:%M")


def render_report(report: dict[str, Any], locale: str = "fr", version: str = "", now: datetime | None = None) -> str:
    """A standalone HTML page (no script, no external resource) for a JSON verification report."""
    t = lambda key, **kw: TEXTS[key].render(locale, **kw)  # noqa: E731
    signatures = report.get("signatures", [])
    blocks = "".join(
        _signature_block(s, t("signature", n=i), locale) for i, s in enumerate(signatures, 1)
    ) or f"<p>{t('none')}</p>"
    if report.get("container"):
        blocks = _container_block(report["container"], signatures, locale) + blocks
    blocks += "".join(_contents_block(c, locale) for c in report.get("contents", []))
    return _page(locale, f"{t('title')} — {_e(report.get('file'))}", (
        f"<h1>{t('title')}</h1>"
        f"<p><strong>{t('file')} :</strong> {_e(report.get('file'))}<br>"
        f"<span class=meta>{t('generated', date=_moment(now, locale), version=_e(version))} — "
        f"{t('count', n=len(signatures))}</span></p>{blocks}"
    ))


def count_phrase(n: int, one: Text, many: Text, locale: str) -> str:
    """``n`` with the noun agreed: French takes the singular for 0 and 1, English for 1 only."""
    singular = n == 1 if locale == "en" else n <= 1
    return (one if singular else many).render(locale, n=n)


BATCH_TEXTS = {
    "files": (T("{n} fichier", "{n} file"), T("{n} fichiers", "{n} files")),
    "valid": (T("{n} signature valide", "{n} valid signature"), T("{n} signatures valides", "{n} valid signatures")),
    "invalid": (T("{n} signature invalide", "{n} invalid signature"),
                T("{n} signatures invalides", "{n} invalid signatures")),
    "indeterminate": (T("{n} signature de validité indéterminée", "{n} indeterminate signature"),
                      T("{n} signatures de validité indéterminée", "{n} indeterminate signatures")),
    "unsigned": (T("{n} fichier sans signature", "{n} file without signature"),
                 T("{n} fichiers sans signature", "{n} files without signature")),
    "errors": (T("{n} fichier illisible", "{n} unreadable file"), T("{n} fichiers illisibles", "{n} unreadable files")),
}
FILE_TEXTS = {
    "title": T("Rapport de vérification d'un ensemble de fichiers", "Verification report for a set of files"),
    "summary": T("Synthèse", "Summary"),
    "verdict_TOTAL_PASSED": T("Toutes les signatures sont valides.", "Every signature is valid."),
    "verdict_TOTAL_FAILED": T("Au moins une signature est invalide.", "At least one signature is invalid."),
    "verdict_INDETERMINATE": T("La validité d'au moins une signature n'a pas pu être établie.",
                               "The validity of at least one signature could not be established."),
    "file": T("Fichier", "File"),
    "result": T("Résultat", "Result"),
    "unsigned": T("Aucune signature dans ce fichier.", "No signature in this file."),
    "signed_by": T("Signé par la signature détachée : {names}", "Signed by the detached signature: {names}"),
    "content": T("Signature détachée de : {name}", "Detached signature of: {name}"),
    "error": T("Fichier non vérifié : {message} ({code})", "File not checked: {message} ({code})"),
    "short_unsigned": T("sans signature", "no signature"),
    "short_content": T("signé par signature détachée", "signed by a detached signature"),
    "short_error": T("illisible", "unreadable"),
}


def _file_verdict(entry: dict[str, Any], locale: str) -> str:
    f = lambda key, **kw: FILE_TEXTS[key].render(locale, **kw)  # noqa: E731
    if entry.get("status") == "error":
        return f("short_error")
    if entry.get("indication"):
        return TEXTS.get(entry["indication"], TEXTS["INDETERMINATE"]).render(locale)
    return f("short_content") if entry.get("signed_by") else f("short_unsigned")


def _file_block(index: int, entry: dict[str, Any], locale: str) -> str:
    t = lambda key, **kw: TEXTS[key].render(locale, **kw)  # noqa: E731
    f = lambda key, **kw: FILE_TEXTS[key].render(locale, **kw)  # noqa: E731
    notes = []
    if entry.get("content"):
        notes.append(f("content", name=_e(entry["content"])))
    if entry.get("signed_by"):
        notes.append(f("signed_by", names=", ".join(_e(n) for n in entry["signed_by"])))
    error = entry.get("error")
    if error:
        notes.append(f("error", message=_e(error.get("message")), code=_e(error.get("code"))))
    elif entry.get("status") == "unsigned":
        notes.append(f("unsigned"))
    signatures = entry.get("signatures") or []
    blocks = "".join(_signature_block(s, t("signature", n=i), locale, heading="h3")
                     for i, s in enumerate(signatures, 1))
    blocks += "".join(_contents_block(c, locale) for c in entry.get("contents") or [])
    if entry.get("container"):
        blocks = _container_block(entry["container"], signatures, locale) + blocks
    state = _e(entry.get("indication") or entry.get("status"))
    return (
        f'<section class="file {state}" id="file-{index}" data-file="{_e(entry.get("file"))}">'
        f"<h2>{index}. {_e(entry.get('file'))}</h2>"
        f'<p class="verdict">{_e(_file_verdict(entry, locale))}</p>'
        + "".join(f"<p>{note}</p>" for note in notes) + blocks + "</section>"
    )


def render_batch_report(report: dict[str, Any], locale: str = "fr", version: str = "",
                        now: datetime | None = None) -> str:
    """One standalone HTML page for a multi-file report (``agent.validation.batch``): the counts
    and each file's verdict at the top, then each file and its signatures."""
    f = lambda key, **kw: FILE_TEXTS[key].render(locale, **kw)  # noqa: E731
    summary = report.get("summary") or {}
    entries = report.get("files") or []
    counts = "".join(
        f"<li>{count_phrase(int(summary.get(key) or 0), *BATCH_TEXTS[key], locale)}</li>" for key in BATCH_TEXTS
        if key in ("files", "valid", "invalid", "indeterminate") or summary.get(key))
    indication = summary.get("indication") or "INDETERMINATE"
    verdict = f("verdict_" + indication) if "verdict_" + indication in FILE_TEXTS else _e(indication)
    rows = "".join(
        f'<tr><td><a href="#file-{i}">{_e(e.get("file"))}</a></td>'
        f'<td class="{_e(e.get("indication") or e.get("status"))}">{_e(_file_verdict(e, locale))}</td></tr>'
        for i, e in enumerate(entries, 1))
    return _page(locale, f("title"), (
        f"<h1>{f('title')}</h1>"
        f"<p class=meta>{TEXTS['generated'].render(locale, date=_moment(now, locale), version=_e(version))}</p>"
        f'<section class="summary {_e(indication)}"><h2>{f("summary")}</h2>'
        f'<p class="verdict">{verdict}</p>'
        f"<ul>{counts}</ul>"
        f"<table><thead><tr><th>{f('file')}</th><th>{f('result')}</th></tr></thead><tbody>{rows}</tbody></table>"
        f"</section>" + "".join(_file_block(i, e, locale) for i, e in enumerate(entries, 1))
    ))
