"""What the command modules of ``agent.cli`` share: exit codes, the command line's language, running
a job in this process, reading a PIN or password, choosing the key the options name, printing a
failure.

The command modules import this module, never the package ``agent.cli`` (which runs them): the
command line has no import cycle (docs/ARCHITECTURE.md section 1).
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from ..consent import ConsentDecision, ConsentProvider, ConsentRequest, Secret
from ..i18n import Text

if TYPE_CHECKING:
    from bridge_protocol.certificates import Purpose

    from ..config import Settings
    from ..keystores.registry import KeySelection

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


# -- jobs run in-process ------------------------------------------------------------------------


#: The command line's language (``--lang`` or the system's: agent.cli.lang), set by ``main``.
CLI_LOCALE = "fr"


def say(text: Text, **fields: object) -> str:
    """``text`` in the command line's language (``CLI_LOCALE``)."""
    return text.render(CLI_LOCALE, **fields)


def current_locale() -> str:
    """The command line's language (``CLI_LOCALE``, read when called: ``main`` sets it)."""
    return CLI_LOCALE


#: The prompts and labels the command line writes itself (French typography in French only).
PROMPTS = {
    "p12_password": Text("Mot de passe de {name} : ", "Password for {name}: "),
    "pin": Text("Code PIN ({name}) : ", "PIN ({name}): "),
    "pin_again": Text("Code PIN (Entrée seule pour abandonner) : ", "PIN (Enter alone to give up): "),
    "pin_or_password": Text("Code PIN ou mot de passe : ", "PIN or password: "),
    "password_rule": Text("Mot de passe : {rule}.", "Password: {rule}."),
    "new_password": Text("Mot de passe du nouveau fichier : ", "Password of the new file: "),
    "new_password_tty": Text("Mot de passe du nouveau fichier (Entrée seule pour abandonner) : ",
                             "Password of the new file (Enter alone to give up): "),
    "too_short": Text("Mot de passe trop court ({count} caractères au moins) : recommencez.",
                      "Password too short (at least {count} characters): try again."),
    "confirm": Text("Confirmez le mot de passe : ", "Confirm the password: "),
    "differ": Text("Les deux saisies diffèrent : recommencez.", "The two entries differ: try again."),
    "signed_by": Text("signé par {who}", "signed by {who}"),
    "report": Text("rapport : {name}", "report: {name}"),
}


def use_agent_workers(settings: Any) -> None:
    """Take this command's isolated workers warm from this user's running agent (agent.fork_server),
    when it runs; without it they are spawned."""
    from ..fork_channel import connector, socket_path
    from ..isolation import use_fork_server

    use_fork_server(connector(socket_path(settings.state_dir)))


def run_job(services: Any, kind: str, params: dict[str, Any], locale: str | None = None,
             show_progress: bool = False, origin: str = "cli:") -> dict[str, Any]:
    """Run one job of ``kind`` in this process (the same kinds the bridge starts), in ``locale``
    (the command line's by default); its final snapshot.

    Signatures, decryptions and key generations go to the same audit journal as the agent's.
    """
    import asyncio

    from ..audit import AuditLog
    from ..jobs.manager import JobManager
    from ..kinds.registry import KINDS, platform_client

    locale = locale or CLI_LOCALE
    use_agent_workers(services.settings)

    async def run() -> dict[str, Any]:
        manager = JobManager(services, audit=AuditLog.in_state_dir(services.settings.state_dir), kinds=KINDS,
                             platform_client=platform_client)
        if show_progress:
            from .progress import ProgressRenderer

            # nothing asked at the terminal (--pin-stdin, a password read already): no "waiting for your answer" line
            asks = bool(getattr(services.consent, "asks_at_terminal", True))
            manager.add_listener(ProgressRenderer(locale, asks=asks))
        job = manager.start(origin, kind, params, locale)
        return (await manager.wait(job.id)).snapshot()

    return asyncio.run(run())


# -- secrets -------------------------------------------------------------------------------------


def read_secret(prompt: str, from_stdin: bool) -> Secret | None:
    """A PIN or password from stdin (``--pin-stdin``) or typed at a terminal; never from argv."""
    if from_stdin:
        line = sys.stdin.readline()
        return Secret(line.rstrip("\r\n")) if line else None
    if sys.stdin.isatty():
        import getpass

        return Secret(getpass.getpass(prompt))
    return None


def sep(locale: str | None = None) -> str:
    """The separator after "compagnon" and an error code: a space before ":" in French only."""
    return ": " if (locale or CLI_LOCALE) == "en" else " : "


def print_job_error(snapshot: dict[str, Any]) -> None:
    """A job that did not succeed, as ``compagnon : CODE : message`` on stderr."""
    error = snapshot["error"] or {"code": snapshot["state"].upper(), "message": snapshot["message"]}
    print(f"compagnon{sep()}{error['code']}{sep()}{error['message']}", file=sys.stderr)


def fail(exc: Exception, locale: str | None = None) -> int:
    """Print ``exc`` as the command's error, in ``locale`` (the command line's by default)."""
    from bridge_protocol.errors import ProtocolError

    from ..errors import ReportedError

    locale = locale or CLI_LOCALE
    sep = ": " if locale == "en" else " : "  # a space before ":" in French only
    if isinstance(exc, (ProtocolError, ReportedError)):
        print(f"compagnon{sep}{exc.code.value}{sep}{exc.message(locale)}", file=sys.stderr)
    else:
        print(f"compagnon{sep}{exc}", file=sys.stderr)
    return EXIT_FAILED


# -- the key the options name --------------------------------------------------------------------


class CliConsent(ConsentProvider):
    """The user ran the command: that is the consent. The PIN is read when the key needs one."""

    def __init__(self, pin_stdin: bool, known: Secret | None = None) -> None:
        self.pin_stdin = pin_stdin
        self.known = known

    @property
    def asks_at_terminal(self) -> bool:
        """Whether a question waits for the user at the terminal (not with ``--pin-stdin`` or a
        password already read)."""
        return not self.pin_stdin and self.known is None

    async def ask(self, request: ConsentRequest) -> ConsentDecision:
        if request.pin_retry:  # a wrong PIN: asked again (the next line with --pin-stdin); nothing gives up
            print(f"compagnon{sep()}{request.notice}", file=sys.stderr, flush=True)
            pin = read_secret(say(PROMPTS["pin_again"]), self.pin_stdin)
            return ConsentDecision(approved=bool(pin and pin.reveal()), pin=pin if pin and pin.reveal() else None)
        pin = self.known
        if pin is None and request.needs_pin:
            pin = read_secret(say(PROMPTS["pin"], name=(request.certificate or "").split(" — ")[0]), self.pin_stdin)
        return ConsentDecision(approved=True, pin=pin)


#: The options that name a key: the command line says them where the registry says "a PKCS#12 file…".
KEY_OPTIONS = Text("Indiquez --p12 FICHIER, --pkcs11 MODULE --token LIBELLÉ ou --cert ID.",
                   "Give --p12 FILE, --pkcs11 MODULE --token LABEL or --cert ID.")
SEVERAL_KEYS = Text("Plusieurs certificats sur ce support : précisez --key ({names}).",
                    "Several certificates on this token: say which with --key ({names}).")


def select_key(args: argparse.Namespace, settings: Settings, purpose: Purpose | None = None) -> KeySelection:
    """The registry and the key the options name, and the PKCS#12 password when it was read
    (``KeyStoreRegistry.select``; the options are only mapped to it here)."""
    from ..errors import ErrorCode, ReportedError
    from ..keystores.registry import KeyStoreRegistry

    chosen = getattr(args, "cert", None)
    if [bool(args.p12), bool(args.pkcs11), bool(chosen)].count(True) != 1:
        raise ReportedError(ErrorCode.INVALID_PARAMS, KEY_OPTIONS)
    try:
        return KeyStoreRegistry.select(
            settings, p12=args.p12, pkcs11=args.pkcs11, token=args.token, label=args.key, certificate=chosen,
            purpose=purpose, password=lambda name: read_secret(say(PROMPTS["p12_password"], name=name), args.pin_stdin))
    except ReportedError as exc:
        if "labels" not in exc.detail:
            raise
        raise ReportedError(exc.code, SEVERAL_KEYS.filled(names=str(exc.detail["labels"]))) from None
