"""``compagnon keygen``: the ``keygen`` job in this process, a new encryption key pair (bi-clé) in a
PKCS#12 file, on a token or in the Windows store."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from ..consent import ConsentDecision, ConsentProvider, ConsentRequest
from ..i18n import Text, human_date
from .common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, PROMPTS, print_job_error, read_secret, run_job, say, sep

if TYPE_CHECKING:
    from ..config import Settings


class KeygenConsent(ConsentProvider):
    """The user ran the command: that is the consent. For a new PKCS#12 file the PIN field is its
    password, typed twice at a terminal; otherwise it is the token's PIN or the source file's password."""

    def __init__(self, pin_stdin: bool, new_password: bool) -> None:
        self.pin_stdin = pin_stdin
        self.new_password = new_password

    @property
    def asks_at_terminal(self) -> bool:
        """Whether a question waits for the user at the terminal (not with ``--pin-stdin``)."""
        return not self.pin_stdin

    async def ask(self, request: ConsentRequest) -> ConsentDecision:
        from bridge_protocol.errors import ErrorCode, ProtocolError

        if request.pin_retry:
            print(f"compagnon{sep()}{request.notice}", file=sys.stderr, flush=True)
        else:
            print(request.summary, file=sys.stderr, flush=True)
        if not request.needs_pin:
            return ConsentDecision(approved=True)
        if not (self.new_password or request.new_password):
            pin = read_secret(say(PROMPTS["pin_or_password"]), self.pin_stdin)
            return ConsentDecision(approved=not request.pin_retry or bool(pin and pin.reveal()), pin=pin)
        if request.password_rule:  # the rule, before anything is typed
            print(say(PROMPTS["password_rule"], rule=request.password_rule), file=sys.stderr, flush=True)
        if self.pin_stdin or not sys.stdin.isatty():  # a script: one line, checked by the job
            pin = read_secret(say(PROMPTS["new_password"]), self.pin_stdin)
            return ConsentDecision(approved=not request.pin_retry or pin is not None, pin=pin)
        for _ in range(5):  # typed twice at a terminal, asked again while they differ or are too short
            pin = read_secret(say(PROMPTS["new_password_tty"]), False)
            if pin is None or not pin.reveal():
                return ConsentDecision(approved=False)
            if len(pin.reveal()) < request.password_min_length:
                print(say(PROMPTS["too_short"], count=request.password_min_length),
                      file=sys.stderr, flush=True)
                continue
            again = read_secret(say(PROMPTS["confirm"]), False)
            if again is not None and again.reveal() == pin.reveal():
                return ConsentDecision(approved=True, pin=pin)
            print(say(PROMPTS["differ"]), file=sys.stderr, flush=True)
        raise ProtocolError(ErrorCode.PIN_REQUIRED, Text("Les deux mots de passe diffèrent.", "The two passwords differ."))


def run(args: argparse.Namespace, settings: Settings) -> int:
    """``compagnon keygen``: the ``keygen`` job in this process; prints where the key is."""
    from ..fsutil import atomic_write_bytes
    from ..jobs.context import JobServices
    from ..keystores.registry import KeyStoreRegistry

    if args.token and not args.pkcs11:
        print(say(Text("compagnon : --token va avec --pkcs11 MODULE.", "compagnon: --token goes with --pkcs11 MODULE.")),
              file=sys.stderr)
        return EXIT_USAGE
    params: dict[str, Any] = {"name": args.name, "secours": args.secours, "bits": args.bits}
    if args.org:
        params["organization"] = args.org
    if args.from_cert:
        params["from_certificate"] = args.from_cert
    if args.pkcs11:
        params |= {"target": "pkcs11", **({"token_label": args.token} if args.token else {})}
    if args.windows:
        params["target"] = "windows"
    if args.p12:
        params["out"] = str(args.p12)
    modules = [args.pkcs11] if args.pkcs11 else []
    # --from-cert finds the certificate as « compagnon certs » lists it; otherwise only the named store.
    registry = KeyStoreRegistry(settings, extra_modules=modules, discover=bool(args.from_cert))
    consent = KeygenConsent(args.pin_stdin, new_password=not args.pkcs11 and not args.from_cert and not args.windows)
    services = JobServices(settings=settings, consent=consent, keystores=registry, local=True)
    snapshot = run_job(services, "keygen", params, show_progress=True)
    if snapshot["state"] != "succeeded":
        print_job_error(snapshot)
        return EXIT_FAILED
    result = snapshot["result"]
    if args.cert_out:
        atomic_write_bytes(args.cert_out, result["certificate"].encode("ascii"), 0o644)
    print(result["location"])
    made = (Text("clé de secours, RSA {bits} bits, valide jusqu'au {end}, SHA-256 {sha}, id {id}",
                  "backup key, RSA {bits} bits, valid until {end}, SHA-256 {sha}, id {id}") if result["secours"] else
            Text("clé personnelle, RSA {bits} bits, valide jusqu'au {end}, SHA-256 {sha}, id {id}",
                 "personal key, RSA {bits} bits, valid until {end}, SHA-256 {sha}, id {id}"))
    print(say(made, bits=result["bits"], end=human_date(result["not_after"], args.lang), sha=result["sha256"],
              id=result["id"]), file=sys.stderr)
    return EXIT_OK


__all__ = ["KeygenConsent", "run"]
