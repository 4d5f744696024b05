"""Second chances at the PIN: a wrong PIN or password is asked again within the same job, in the
same UI that took the consent, with the tries left as the token reports them (PKCS#11
``CKF_USER_PIN_COUNT_LOW``, ``CKF_USER_PIN_FINAL_TRY``), until the token locks (``PIN_LOCKED``)
or the user gives up. Each try is one login the user typed: the agent never replays a PIN.

A PKCS#12 file counts no tries of its own: ``MAX_TRIES`` bounds the tries of one job.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace

from bridge_protocol.errors import ErrorCode, ProtocolError

from ..consent import ConsentDecision, ConsentRequest, Secret
from ..errors import ReportedError
from ..i18n import Text
from ..jobs.context import JobContext
from ..keystores.base import KeySession, KeyStore

#: Tries of one job (the first included) before PIN_INCORRECT ends it, whatever the store says.
MAX_TRIES = 5
WAITING = Text("Code PIN incorrect : saisissez-le à nouveau dans Compagnon.",
               "Incorrect PIN: type it again in Compagnon.")
WRONG_PASSWORD = Text("Mot de passe refusé : saisissez-le à nouveau dans Compagnon.",
                      "Password refused: type it again in Compagnon.")


async def open_with_retries(ctx: JobContext, store: KeyStore, request: ConsentRequest,
                            decision: ConsentDecision) -> KeySession:
    """Log in to ``store`` with the PIN of ``decision``; after a wrong one, ask the user again
    (``request`` with ``pin_retry`` and the token's word on the tries left) until it opens, the
    token locks, the user gives up (the wrong PIN's error ends the job) or ``MAX_TRIES``."""
    session, _pin = await open_with_the_pin(ctx, store, request, decision)
    return session


async def open_with_the_pin(ctx: JobContext, store: KeyStore, request: ConsentRequest,
                            decision: ConsentDecision) -> tuple[KeySession, Secret | None]:
    """``open_with_retries``, with the PIN that opened the store (a PKCS#12 file's password is
    used again to write the file)."""
    from ..jobs.manager import job_error_message  # the job's own wording of the tries left

    pin = decision.pin
    tries = 1
    while True:
        try:
            return await asyncio.to_thread(store.open, pin), pin
        except (ProtocolError, ReportedError) as exc:
            if exc.code is not ErrorCode.PIN_INCORRECT or not store.needs_pin or tries >= MAX_TRIES:
                raise
            failed = exc
        ctx.check_cancelled()
        ctx.set_message(ctx.t(WAITING))
        again = await ctx.services.consent.ask(
            replace(request, pin_retry=True, notice=job_error_message(failed, ctx.locale)))
        if not again.approved or again.pin is None:
            raise failed
        pin = again.pin
        tries += 1


async def ask_new_password(ctx: JobContext, request: ConsentRequest,
                           check: Callable[[Secret | None], object]) -> ConsentDecision:
    """The consent for a new password: ``check(secret)`` raises ProtocolError when the password
    breaks the rule (told in ``request.password_rule`` before typing); a UI that could not check
    it (a password from a script) gets it refused here and the user is asked again; giving up
    then ends the job with the rule's error."""
    decision = await ctx.services.consent.ask(request)
    tries = 1
    if decision.approved and decision.pin is None:  # nobody typed anything (a fixed policy): no second chance
        check(decision.pin)
    while decision.approved:
        try:
            check(decision.pin)
            return decision
        except (ProtocolError, ReportedError) as exc:
            if tries >= MAX_TRIES:
                raise
            broken = exc
        ctx.set_message(ctx.t(WRONG_PASSWORD))
        decision = await ctx.services.consent.ask(replace(request, pin_retry=True, notice=broken.message(ctx.locale)))
        if not decision.approved:
            raise broken
        tries += 1
    return decision
