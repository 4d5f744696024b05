"""``compagnon diagnose``: the workstation test (the ``diagnose`` job), which ``doctor`` also prints."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from .common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, current_locale, run_job, sep

if TYPE_CHECKING:
    from ..config import Settings


def run(args: argparse.Namespace, settings: Settings) -> int:
    from ..config import ConfigError, normalize_origin
    from ..consent import PolicyConsent
    from ..jobs.context import JobServices

    origin = "cli:"
    if args.platform:
        try:
            origin = normalize_origin(args.platform)
        except ConfigError as exc:
            print(f"compagnon{sep()}{exc.message(current_locale())}", file=sys.stderr)
            return EXIT_USAGE

    from ..keystores.registry import KeyStoreRegistry

    services = JobServices(settings=settings, consent=PolicyConsent(approve=False), keystores=KeyStoreRegistry(settings))
    snapshot = run_job(services, "diagnose", {},
                        show_progress=not args.json, origin=origin)
    if args.json:
        print(json.dumps(snapshot, ensure_ascii=False, indent=2))
    elif snapshot["state"] == "succeeded":
        result = snapshot["result"]
        print()
        width = max(len(c["label"]) for c in result["checks"])
        marks = {"pass": "OK ", "warn": "!! ", "fail": "KO "}
        for check in result["checks"]:
            print(f"{marks[check['status']]} {check['label']:<{width}}  {check['value']}")
            if check["status"] != "pass":
                print(f"    {'':<{width}}  {check['message']}")
        print(f"\n{result['message']}")
    if snapshot["state"] != "succeeded":
        print(f"compagnon{sep()}{snapshot['message']}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_FAILED if snapshot["result"]["status"] == "fail" else EXIT_OK


__all__ = ["run"]
