"""The HTML verification report: one block per signer with what the arrêté du 22 mars 2019
(art. 5) requires a buyer to see — the signer's identity, the certificate's category, the format,
the certificate neither expired nor revoked at signing time, the document's integrity — and the
ETSI EN 319 102-1 indication. Printable to PDF from any browser. Built from the JSON report only.
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
    "certificate_category": T("Catégorie du certificat", "Certificate category"),
    "validity": T("Validité du certificat à la date de signature", "Certificate validity at signing time"),
    "revocation": T("Révocation du certificat", "Certificate revocation"),
    "baseline_level": T("Niveau de signature (ETSI)", "Signature level (ETSI)"),
    "modification": T("Modifications après signature", "Changes after signing"),
    "coverage": T("Partie du document couverte", "Part of the document covered"),
    "timestamp": T("Horodatage", "Timestamp"),
    "signing_certificate": T("Certificat du signataire (attribut signé)", "Signer's certificate (signed attribute)"),
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


def _signature_block(signature: dict[str, Any], title: str, locale: str, nested: bool = False) -> str:
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
    rows = "".join(
        f"<tr><td>{_e(CHECK_NAMES[c['name']].render(locale) if c.get('name') in CHECK_NAMES else c.get('name'))}</td>"
        f"<td class={_e(c.get('status'))}>{_e(TEXTS[c['status']].render(locale) if c.get('status') in TEXTS else c.get('status'))}</td>"
        f"<td>{_e(c.get('message'))}</td></tr>"
        for c in signature.get("checks", [])
    )
    counters = "".join(
        _signature_block(c, t("countersignature"), locale, nested=True) for c in signature.get("countersignatures", [])
    )
    return (
        f'<section class="signature {_e(indication)}{" counter" if nested else ""}" data-signature="{_e(signature.get("id"))}">'
        f"<h2>{_e(title)} — {_e(signer.get('name') or '?')}</h2>"
        f'<p class="verdict">{t("verdict")} : {_e(verdict)}</p>'
        f"<dl><dt>{t('signer')}</dt><dd>{_e(signer.get('name'))}</dd>"
        f"<dt>{t('organization')}</dt><dd>{_e(signer.get('organization') or '—')}</dd>"
        f"<dt>{t('certificate')}</dt><dd><code>{_e(signer.get('certificate_sha256'))}</code></dd>"
        f"<dt>{t('format')}</dt><dd>{_e(signature.get('format'))} {_e(signature.get('level') or '')}</dd>"
        f"<dt>{t('signing_time')}</dt><dd>{when}</dd></dl>"
        f"<table><thead><tr><th>{t('check')}</th><th>{t('status')}</th><th>{t('detail')}</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>{counters}</section>"
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


def render_report(report: dict[str, Any], locale: str = "fr", version: str = "", now: datetime | None = None) -> str:
    """A standalone HTML page (no script, no external resource) for a JSON verification report."""
    t = lambda key, **kw: TEXTS[key].render(locale, **kw)  # noqa: E731
    signatures = report.get("signatures", [])
    moment = (now or datetime.now()).strftime("%d/%m/%Y %H:%M" if locale != "en" else "%Y-%m-%d %H:%M")
    blocks = "".join(
        _signature_block(s, t("signature", n=i), locale) for i, s in enumerate(signatures, 1)
    ) or f"<p>{t('none')}</p>"
    blocks += "".join(_contents_block(c, locale) for c in report.get("contents", []))
    return (
        f'<!doctype html><html lang="{"en" if locale == "en" else "fr"}"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; style-src \'unsafe-inline\'">'
        f"<title>{t('title')} — {_e(report.get('file'))}</title><style>{STYLE}</style></head><body>"
        f"<h1>{t('title')}</h1>"
        f"<p><strong>{t('file')} :</strong> {_e(report.get('file'))}<br>"
        f"<span class=meta>{t('generated', date=moment, version=_e(version))} — {t('count', n=len(signatures))}</span></p>"
        f"{blocks}<footer>{t('legal')}</footer></body></html>"
    )
