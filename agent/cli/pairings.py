"""``compagnon pairings [list | revoke ORIGIN]``: the sites allowed to use the agent."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from ..i18n import Text, human_datetime
from .common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, current_locale, say, sep

if TYPE_CHECKING:
    from ..config import Settings


def run(args: argparse.Namespace, settings: Settings) -> int:
    from ..audit import AuditLog
    from ..config import ConfigError, normalize_origin
    from ..consent import PolicyConsent
    from ..pairing import Pairings, PreapprovedSite

    pairings = Pairings(settings.state_dir / "pairings.json", settings.preapproved_origins, PolicyConsent(False),
                        AuditLog.in_state_dir(settings.state_dir))
    if args.action == "revoke":
        if not args.origin:
            print(say(Text("compagnon : indiquez le site à révoquer.", "compagnon: name the site to revoke.")), file=sys.stderr)
            return EXIT_USAGE
        try:
            origin = normalize_origin(args.origin)
        except ConfigError as exc:
            print(f"compagnon{sep()}{exc.message(current_locale())}", file=sys.stderr)
            return EXIT_USAGE
        try:
            revoked = pairings.revoke(origin)
        except PreapprovedSite:
            print(say(Text("compagnon : {origin} est pré-approuvé par la configuration ([pairing] preapproved).",
                           "compagnon: {origin} is pre-approved by the configuration ([pairing] preapproved)."),
                      origin=origin), file=sys.stderr)
            return EXIT_FAILED
        if not revoked:
            print(say(Text("compagnon : {origin} n'est pas un site autorisé.", "compagnon: {origin} is not an allowed site."),
                      origin=origin), file=sys.stderr)
            return EXIT_FAILED
        print(say(Text("Autorisation retirée : {origin}", "Authorisation withdrawn: {origin}"), origin=origin))
        return EXIT_OK
    entries = pairings.list()
    if not entries:
        print(say(Text("Aucun site autorisé.", "No allowed site.")))
    for entry in entries:
        how = (say(Text("pré-approuvé (configuration)", "pre-approved (configuration)")) if entry["preapproved"] else
               say(Text("autorisé le {when}", "allowed on {when}"), when=human_datetime(entry["approved_at"], args.lang)))
        print(f"{entry['origin']}  {how}")
    return EXIT_OK


__all__ = ["run"]
