"""``compagnon certs``: the certificates this computer can use, signing certificates and bi-clés
(encryption key pairs that open sealed bids) in their own sections, each judged by its own rules."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from ..i18n import Text, human_date
from .common import EXIT_OK, PROMPTS, fail, read_secret, say

if TYPE_CHECKING:
    from ..config import Settings


#: A certificate's purposes (RFC 5280 key usage, see agent/pki/key_usage.py) as ``certs`` prints them.
USAGE_LABELS = {
    ("signing",): {"fr": "signature", "en": "signature"},
    ("decryption",): {"fr": "chiffrement", "en": "encryption"},
    ("signing", "decryption"): {"fr": "signature et chiffrement", "en": "signature and encryption"},
    (): {"fr": "ni signature ni chiffrement", "en": "neither signature nor encryption"},
}


def run(args: argparse.Namespace, settings: Settings) -> int:
    from dataclasses import replace

    from bridge_protocol.errors import ProtocolError
    from bridge_protocol.typed import to_json

    from ..errors import ReportedError
    from ..keystores.pkcs12_store import Pkcs12FileStore
    from ..keystores.registry import KeyStoreRegistry

    settings = replace(settings, trust_roots=(*settings.trust_roots, *args.trust))
    picked = []
    for path in args.p12:
        store = Pkcs12FileStore(path)
        try:
            store.unlock(read_secret(say(PROMPTS["p12_password"], name=path.name), args.pin_stdin))
        except (ProtocolError, ReportedError) as exc:
            return fail(exc, args.lang)
        picked.append(store)
    registry = KeyStoreRegistry(settings, extra_modules=args.pkcs11, p12=picked)
    infos = registry.certificate_infos(None if args.purpose == "all" else args.purpose, args.lang)
    if args.json:
        print(json.dumps(to_json(infos), ensure_ascii=False, indent=2))
        return EXIT_OK
    if not infos:
        print("Aucun certificat avec clé privée trouvé." if args.lang == "fr" else "No certificate with a private key found.")
        return EXIT_OK
    signing = [i for i in infos if "signing" in i.purposes]
    bicles = [i for i in infos if "signing" not in i.purposes and "decryption" in i.purposes]
    others = [i for i in infos if not i.purposes]
    sections = [(CERTS_SECTIONS["signing"], signing, _print_signing_certificate),
                (CERTS_SECTIONS["bicles"], bicles, _print_bicle),
                (CERTS_SECTIONS["others"], others, _print_signing_certificate)]
    first = True
    for title, items, show in sections:
        if not items:
            continue
        print(("" if first else "\n") + f"== {title.render(args.lang)} ({len(items)}) ==")
        first = False
        for info in items:
            show(info, args.lang)
    return EXIT_OK


#: The sections of ``certs``: signing certificates, and the bi-clés (encryption key pairs that
#: open sealed bids, RFC 5280 keyEncipherment without a signing usage) under their own label.
CERTS_SECTIONS = {
    "signing": Text("Certificats de signature", "Signing certificates"),
    "bicles": Text("Bi-clés de chiffrement (ouverture des plis)", "Encryption key pairs (bi-clés, to open bids)"),
    "others": Text("Autres certificats (ni signature ni chiffrement)", "Other certificates (neither signing nor encryption)"),
}


def _certificate_lines(info: Any, locale: str) -> None:
    """The lines every certificate of ``certs`` has: key, issuer, end of validity, store, usage."""
    end = human_date(info.not_after, locale)
    details = Text("    {key}, émis par {issuer}, valide jusqu'au {end}, {store}, SHA-256 {sha}…, id {id}",
                   "    {key}, issued by {issuer}, valid until {end}, {store}, SHA-256 {sha}…, id {id}")
    print(details.render(locale, key=info.key_type, issuer=info.issuer, end=end, store=info.source.label,
                         sha=info.sha256[:16], id=info.id))
    print(("    usage: " if locale == "en" else "    usage : ") + USAGE_LABELS[tuple(info.purposes)][locale])


def _print_signing_certificate(info: Any, locale: str) -> None:
    """A signing certificate: judged by the signing rules ("adapté pour les marchés publics")."""
    yes, no = ("adapté", "non adapté") if locale == "fr" else ("suitable", "not suitable")
    print(f"[{yes if info.suitable else no}] {info.subject}"
          + (f" — {info.organization}" if info.organization else "")
          + (f" (SIREN {info.siren})" if info.siren else ""))
    _certificate_lines(info, locale)
    for reason in info.reasons:
        print(f"    - {reason}")


def _print_bicle(info: Any, locale: str) -> None:
    """A bi-clé: judged only by what opening a pli needs, a certificate in its validity period
    (the signing rules, nonRepudiation or a qualified policy, are not its business)."""
    from datetime import UTC, datetime

    from ..keystores.facts import REASONS

    now = datetime.now(UTC)
    not_before = datetime.fromisoformat(info.not_before.replace("Z", "+00:00"))
    not_after = datetime.fromisoformat(info.not_after.replace("Z", "+00:00"))
    reasons = []
    if now > not_after:
        reasons.append(REASONS["expired"].render(locale, date=human_date(info.not_after, locale)))
    elif now < not_before:
        reasons.append(REASONS["not_yet_valid"].render(locale, date=human_date(info.not_before, locale)))
    state = (Text("utilisable", "usable") if not reasons else Text("inutilisable", "not usable")).render(locale)
    print(f"[{state}] {info.subject}" + (f" — {info.organization}" if info.organization else ""))
    _certificate_lines(info, locale)
    for reason in reasons:
        print(f"    - {reason}")


__all__ = ["CERTS_SECTIONS", "USAGE_LABELS", "run"]
