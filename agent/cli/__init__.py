"""``compagnon``: the command line. A thin shell over the same service and job kinds as the bridge.

    compagnon serve [--port N] [--allow-origin ORIGIN ...] [--config FILE]
    compagnon tray  [--port N] [--config FILE]     the agent with its icon and local console
    compagnon console [--section SECTION]          open the running agent's console
    compagnon demo  [--port N] [--demo-port N] [--config FILE]
    compagnon diagnose [--platform URL] [--json]
    compagnon pairings [list | revoke ORIGIN]
    compagnon certs | sign | cosign | countersign | verify | keygen | encrypt | decrypt …
    compagnon bids download|open URL [--token-stdin] ...   (see agent/cli/bids.py)
    compagnon audit [show [--json] [--last N] | verify | export FILE]   (see agent/cli/admin.py)
    compagnon doctor [--platform URL] [--bundle [FILE.zip]]
    compagnon update [check | apply | status] [--json]   signed updates (see agent/cli/update.py)

One module a command (or a few close ones): ``parser`` builds the options, ``main`` reads the
language, the settings and the logging, then hands the parsed options to the command's module,
imported only when it runs. The modules share ``common`` (exit codes, running a job in this
process, the PIN, the key the options name) and ``printers`` (the reports); none imports this
package, so the command line has no import cycle (docs/ARCHITECTURE.md section 1).
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

    from ..config import Settings

#: Each command: the module (in this package) and the function that runs it.
COMMANDS = {
    "serve": ("serve", "serve"),
    "tray": ("serve", "tray"),
    "console": ("serve", "console"),
    "demo": ("demo", "run"),
    "diagnose": ("diagnose", "run"),
    "pairings": ("pairings", "run"),
    "certs": ("certs", "run"),
    "sign": ("sign", "run"),
    "cosign": ("sign", "run"),
    "countersign": ("sign", "run"),
    "verify": ("verify", "run"),
    "decrypt": ("crypt", "decrypt"),
    "encrypt": ("crypt", "encrypt"),
    "keygen": ("keygen", "run"),
    "bids": ("bids", "run"),
    "audit": ("admin", "run"),
    "doctor": ("admin", "run"),
    "update": ("update", "run"),
}


def _settings(args: argparse.Namespace) -> Settings:
    from ..i18n import Text
    from ..settings_load import load_settings
    from .common import say

    settings = load_settings(args.config)
    if getattr(args, "port", None):
        from dataclasses import replace

        settings = replace(settings, port=args.port)
    if getattr(args, "allow_origin", None):
        if "bridge.allowed_origins" in settings.policy_locks:
            print(say(Text("compagnon : --allow-origin ignoré : la politique d'administration ({path}) fixe les "
                           "sites autorisés", "compagnon: --allow-origin ignored: the administration policy ({path}) "
                           "sets the allowed sites"), path=settings.policy_path), file=sys.stderr)
        settings = settings.with_origins(args.allow_origin)
    return settings


def _utf8_pipes() -> None:
    """Windows: text written to a pipe or a file is UTF-8, as on the other systems (Python would use
    the ANSI code page, which cannot write every name). A console keeps its wide-character output."""
    if sys.platform != "win32":
        return
    for stream in (sys.stdin, sys.stdout, sys.stderr):
        if stream is not None and not stream.isatty() and hasattr(stream, "reconfigure"):
            stream.reconfigure(encoding="utf-8", errors="replace")


def main(argv: list[str] | None = None) -> int:
    if argv is None:  # the program itself: this user's running agent may run the command warm
        from .warm import run_in_agent

        relayed = run_in_agent(sys.argv[1:])
        if relayed is not None:
            _end_now(relayed)
    from ..process_guard import forbid_core_dumps

    forbid_core_dumps()
    _utf8_pipes()
    from . import common
    from .lang import cli_locale, use_argparse_language
    from .parser import parser_in

    locale = cli_locale(sys.argv[1:] if argv is None else argv)
    use_argparse_language(locale)
    common.CLI_LOCALE = locale
    args = parser_in(locale).parse_args(argv)
    args.lang = getattr(args, "lang", None) or locale
    from ..config import ConfigError
    from ..i18n import Text
    from .common import EXIT_USAGE, say

    try:
        settings = _settings(args)
    except ConfigError as exc:
        print(say(Text("compagnon : configuration invalide : {exc}", "compagnon: invalid configuration: {exc}"),
                  exc=exc.message(locale)), file=sys.stderr)
        return EXIT_USAGE
    from ..fsutil import ForeignFolderError
    from ..logs import setup_logging

    serving = args.command in ("serve", "demo", "tray")
    try:
        setup_logging(settings.log_dir, verbose=args.verbose, console=serving or args.verbose,
                      prompts=serving and settings.consent_policy == "prompt" and sys.stdin.isatty())
        module, function = COMMANDS[args.command]
        command = getattr(importlib.import_module(f"{__name__}.{module}"), function)
        code = int(command(args, settings))
    except ForeignFolderError as exc:
        print(say(Text("compagnon : {exc}", "compagnon: {exc}"), exc=exc.message(locale)), file=sys.stderr)
        return EXIT_USAGE
    if argv is None and args.command in ENDS_AT_ONCE:
        _end_now(code)
    return code


#: Commands whose process holds no secret, key or temporary file once done: run as the program,
#: they end after the exit handlers (the log flushed) without the interpreter's teardown, tens of
#: milliseconds of a one-file ``verify`` (docs/ARCHITECTURE.md section 6).
ENDS_AT_ONCE = frozenset({"verify"})


def _end_now(code: int) -> None:
    import atexit

    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


__all__ = ["COMMANDS", "main"]
