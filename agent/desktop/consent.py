"""Consent in the agent's local console (docs/SECURITY.md promises 3 and 4).

``ConsoleConsent`` is a ``ConsentProvider``: each ``ask`` (pairing, certificate list, signature,
decryption, key generation) and each ``pick_files`` becomes a *pending prompt* that the console
page shows in its "Demandes en attente" area — the origin, what will be done, each file with its
size and SHA-256, the certificate and, when the key store needs one, a PIN field — until the user
answers with Autoriser / Refuser, or the configured consent timeout passes (``USER_TIMEOUT``).

* Each prompt has its own random id; an answer names it, so a late answer to a prompt that is gone
  can never approve another one (it is told "no longer pending", and the page shows the prompt
  withdrawn rather than removing it silently).
* A wrong PIN is asked again within the same job (``pin_retry``, with ``notice``: the tries left);
  a new password comes twice and is checked against its rule before the prompt is answered.
* The PIN arrives from the console page over loopback (authenticated by the console's session
  token) and is wrapped in ``agent.secret.Secret`` by the console before it reaches here; it is
  never logged, stored or sent back (``pending()`` has no PIN in it).
* ``picker``, when given, answers ``pick_files`` instead of the console: the system's file chooser
  (agent.desktop.dialogs); the console's path field is the fallback where no window can be shown.
* ``on_prompt`` is called when a prompt appears: the desktop runtime opens the console when no
  console page is open (a no-op hook in tests).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from bridge_protocol.errors import ErrorCode, ProtocolError

from ..i18n import Text
from ..jobs.model import utc_now
from ..secret import Secret
from ..consent import ConsentDecision, ConsentProvider, ConsentRequest, accepted_file

__all__ = ["AnswerError", "ConsoleConsent", "PendingPrompt"]

log = logging.getLogger(__name__)


class AnswerError(ValueError):
    """An answer the console cannot accept; ``reason`` is a stable word the page translates."""

    def __init__(self, reason: str, detail: list[str] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail or []


@dataclass
class PendingPrompt:
    """One question on the console's screen."""

    id: str
    type: Literal["consent", "pick", "code"]
    origin: str
    deadline: float
    future: asyncio.Future[Any]
    request: ConsentRequest | None = None
    multiple: bool = False
    accept: tuple[str, ...] = ()
    created_at: str = field(default_factory=utc_now)

    def view(self) -> dict[str, Any]:
        """What the console page shows (JSON; never a PIN)."""
        data: dict[str, Any] = {
            "id": self.id,
            "type": self.type,
            "origin": self.origin,
            "created_at": self.created_at,
            "expires_in": max(0, round(self.deadline - time.monotonic())),
        }
        if self.request is not None:
            data |= {
                "action": self.request.action,
                "summary": self.request.summary,
                "files": [{"name": f.name, "size": f.size, "sha256": f.sha256} for f in self.request.files],
                "certificate": self.request.certificate,
                "needs_pin": self.request.needs_pin,
                "pairing_code": self.request.pairing_code,
                "pin_retry": self.request.pin_retry,
                "notice": self.request.notice,
                "new_password": self.request.new_password,
                "password_rule": self.request.password_rule,
                "password_min_length": self.request.password_min_length,
            }
        else:
            data |= {"action": "pick", "multiple": self.multiple, "accept": list(self.accept)}
        return data


class ConsoleConsent(ConsentProvider):
    """Prompts shown in the local console; several sites' prompts may be pending at once (the
    per-site limits of ``RateLimitedConsent`` keep it to one per site)."""

    def __init__(self, timeout: float, on_prompt: Callable[[], None] | None = None,
                 picker: ConsentProvider | None = None) -> None:
        self.timeout = timeout
        self.on_prompt = on_prompt
        self.picker = picker
        self._pending: dict[str, PendingPrompt] = {}
        self._listeners: list[Callable[[], None]] = []

    def place(self, locale: str) -> str | None:
        return Text("la console de Compagnon", "Compagnon's console").render(locale)

    # -- what the console reads -------------------------------------------------------------------
    def add_listener(self, listener: Callable[[], None]) -> None:
        """``listener()`` is called whenever a prompt appears or goes."""
        self._listeners.append(listener)

    def pending(self) -> list[dict[str, Any]]:
        """The prompts waiting for an answer, oldest first."""
        return [p.view() for p in self._pending.values()]

    @property
    def count(self) -> int:
        return len(self._pending)

    def _changed(self) -> None:
        for listener in list(self._listeners):
            try:
                listener()
            except Exception:
                log.exception("console prompt listener failed")

    # -- asking -----------------------------------------------------------------------------------
    async def _wait(self, prompt: PendingPrompt) -> Any:
        self._pending[prompt.id] = prompt
        self._changed()
        if self.on_prompt is not None:
            try:
                self.on_prompt()
            except Exception:
                log.exception("opening the console for a prompt failed")
        try:
            return await asyncio.wait_for(prompt.future, self.timeout)
        except TimeoutError:
            log.info("console prompt %s (%s) for %s: no answer in time", prompt.id[:8],
                     prompt.request.action if prompt.request else "pick", prompt.origin)
            raise ProtocolError(ErrorCode.USER_TIMEOUT) from None
        finally:
            self._pending.pop(prompt.id, None)
            if not prompt.future.done():
                prompt.future.cancel()
            self._changed()

    def _new(self, type_: Literal["consent", "pick", "code"], origin: str, **fields: Any) -> PendingPrompt:
        loop = asyncio.get_running_loop()
        return PendingPrompt(id=secrets.token_urlsafe(16), type=type_, origin=origin,
                             deadline=time.monotonic() + self.timeout, future=loop.create_future(), **fields)

    async def ask(self, request: ConsentRequest) -> ConsentDecision:
        decision: ConsentDecision = await self._wait(self._new("consent", request.origin, request=request))
        log.info("console prompt %s for %s: %s", request.action, request.origin,
                 "approved" if decision.approved else "refused")
        return decision

    async def show(self, request: ConsentRequest) -> None:
        """A pre-approved site's pairing code, shown until the page confirms (nothing to answer)."""
        await self._wait(self._new("code", request.origin, request=request))

    async def pick_files(self, origin: str, multiple: bool, accept: tuple[str, ...]) -> list[Path]:
        if self.picker is not None:
            return await self.picker.pick_files(origin, multiple, accept)
        paths: list[Path] = await self._wait(self._new("pick", origin, multiple=multiple, accept=accept))
        return paths

    # -- answering (from the console API) ---------------------------------------------------------
    def _open_prompt(self, prompt_id: str) -> PendingPrompt:
        prompt = self._pending.get(prompt_id)
        if prompt is None or prompt.future.done():
            raise AnswerError("gone")
        return prompt

    def answer(self, prompt_id: str, approved: bool, pin: Secret | None = None, confirm: Secret | None = None) -> None:
        """The user's Autoriser / Refuser on a consent prompt. A new password comes twice
        (``confirm``), and is refused while the two differ or it breaks the rule; the prompt stays,
        to be corrected. Raises AnswerError."""
        prompt = self._open_prompt(prompt_id)
        if prompt.type != "consent" or prompt.request is None:
            raise AnswerError("type")
        request = prompt.request
        if approved and request.needs_pin and (pin is None or not pin.reveal()):
            raise AnswerError("pin_required")
        if approved and request.new_password and pin is not None:
            if len(pin.reveal()) < request.password_min_length:
                raise AnswerError("password_too_short", [str(request.password_min_length)])
            if confirm is None or confirm.reveal() != pin.reveal():
                raise AnswerError("password_mismatch")
        prompt.future.set_result(ConsentDecision(approved=approved, pin=pin if approved and prompt.request.needs_pin
                                                 else None))

    def answer_pick(self, prompt_id: str, paths: list[str] | None) -> None:
        """The files the user chose for a page (None: cancelled). Raises AnswerError when a path is
        not an existing file of an accepted type (the prompt stays, to be corrected)."""
        prompt = self._open_prompt(prompt_id)
        if prompt.type != "pick":
            raise AnswerError("type")
        if paths is None:
            prompt.future.set_result([])
            return
        chosen: list[Path] = []
        wrong: list[str] = []
        for text in paths:
            text = text.strip()
            if not text:
                continue
            path = Path(text).expanduser()
            if not accepted_file(path, prompt.accept):
                wrong.append(text)
            else:
                chosen.append(path.resolve())
        if wrong:
            raise AnswerError("not_found", wrong)
        if not chosen:
            raise AnswerError("empty")
        if not prompt.multiple:
            chosen = chosen[:1]
        prompt.future.set_result(chosen)
