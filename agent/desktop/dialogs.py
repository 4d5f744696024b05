"""Native windows for consent and file choice (docs/SECURITY.md promises 3, 4 and 5), for users who want
no browser window (``[consent] policy = "native"``), and the system's file chooser behind
``files.pick`` (``[consent] file_picker``).

Each window runs in a child process (agent.desktop.dialog_window, ``python -m agent
--native-dialog``) rather than in a thread of the agent:

* Tk wants to own its thread, and on macOS the main one, where the agent runs asyncio and pystray;
* a crash or a hang of the window system cannot take the agent down, and "no answer in time" is a
  kill of the child (``USER_TIMEOUT``), whatever the window is doing;
* the window is closed the moment its job is cancelled.

The child gets a *view*: every text already in the user's language, the files' sizes formatted.
It answers with one JSON object on stdout. A PIN travels only through that pipe and is wrapped in
``Secret`` on arrival; nothing of the answer is logged. Picked paths are checked again here: the
page gets handles to existing files of an accepted type, whatever the chooser allowed.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import logging
import os
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

from bridge_protocol.errors import ErrorCode, ProtocolError

from ..consent import ConsentDecision, ConsentProvider, ConsentRequest, accepted_file
from ..i18n import Text, human_size, system_locale
from ..secret import Secret

__all__ = ["NativeConsent", "consent_view", "dialog_command", "menu_view", "native_dialogs_available", "pick_view",
           "show_window"]

log = logging.getLogger(__name__)

TEXTS_FILE = Path(__file__).parent / "static" / "texts.json"
#: Seconds the child may take beyond the consent timeout before it is killed (its own countdown
#: closes the window at the timeout; this covers a window system that does not answer).
GRACE = 5.0
#: An answer is a few hundred bytes (a list of paths at most); more is a broken child.
MAX_ANSWER_BYTES = 1024 * 1024


@lru_cache(maxsize=1)
def _texts() -> dict[str, dict[str, str]]:
    """The console's texts (one source for the console page and the native windows)."""
    texts: dict[str, dict[str, str]] = json.loads(TEXTS_FILE.read_text(encoding="utf-8"))
    return texts


def _t(locale: str, key: str) -> str:
    return _texts()["en" if locale == "en" else "fr"][key]


def native_dialogs_available() -> bool:
    """True when a native window can be shown: tkinter is there and, on X11/Wayland systems, a
    display is (``DISPLAY`` or ``WAYLAND_DISPLAY``)."""
    if importlib.util.find_spec("tkinter") is None:
        return False
    if sys.platform in ("win32", "darwin"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def dialog_command() -> list[str]:
    """How to start the window's child process: the frozen program itself, or this Python running
    the agent's ``__main__`` from the folder this module was imported from. Not ``-m``, which puts
    the current folder first on the path: the agent started in a folder of downloaded files would
    run an ``agent`` or ``json`` found there in the process that reads the PIN."""
    if getattr(sys, "frozen", False):
        return [sys.executable, "--native-dialog"]
    root = str(Path(__file__).resolve().parents[2])
    return [sys.executable, "-c", f"import runpy, sys; sys.path[:] = [{root!r}, *filter(None, sys.path)]; "
            "runpy.run_module('agent', run_name='__main__', alter_sys=True)", "--native-dialog"]


def consent_view(request: ConsentRequest, locale: str, timeout: float) -> dict[str, Any]:
    """What the consent window shows (promise 4): the origin, what will be done, each file with
    its size and SHA-256, the certificate, and a PIN field when the key needs one — with the
    reason above it when the PIN is asked again, or two fields and the rule for a new password."""
    return {
        "type": "consent",
        "title": _t(locale, "nativeTitle"),
        "question": _t(locale, "prompt_pin_retry" if request.pin_retry else f"prompt_{request.action}"),
        "notice": request.notice,
        "site_label": _t(locale, "site"),
        "origin": request.origin,
        "summary": request.summary,
        "columns": [_t(locale, "colFile"), _t(locale, "colSize"), _t(locale, "colSha256")],
        "files": [[f.name, f"{human_size(f.size, locale)} ({f.size})", f.sha256] for f in request.files],
        "certificate_label": _t(locale, "certificate"),
        "certificate": request.certificate,
        "needs_pin": request.needs_pin,
        "pin_label": _t(locale, "newPassword" if request.new_password else "pin"),
        "pin_required": _t(locale, "answer_pin_required"),
        "new_password": request.new_password,
        "password_rule": _t(locale, "passwordRule").replace("{rule}", request.password_rule or "")
        if request.new_password and request.password_rule else None,
        "confirm_label": _t(locale, "confirmPassword"),
        "min_length": request.password_min_length,
        "too_short": _t(locale, "answer_password_too_short").replace("{detail}", str(request.password_min_length)),
        "mismatch": _t(locale, "answer_password_mismatch"),
        "approve": _t(locale, "approve"),
        "refuse": _t(locale, "deny"),
        "countdown": _t(locale, "expiresIn"),
        "timeout": int(timeout),
    }


def menu_view(items: list[tuple[str, str] | None], title: str, timeout: float) -> dict[str, Any]:
    """The tray's menu as a popup at the pointer, for icon back ends that show no menu of their
    own (plain X11): ``items`` are (action, label) pairs, None for a separator."""
    return {"type": "menu", "title": title, "items": [list(item) if item else None for item in items],
            "timeout": int(timeout)}


def pick_view(origin: str, multiple: bool, accept: tuple[str, ...], locale: str, timeout: float) -> dict[str, Any]:
    """What the file chooser shows: its title names the site; the filter holds the accepted types."""
    patterns = [f"*{suffix}" for suffix in accept]
    if patterns:  # X11's Tk matches case-sensitively; users' files are often "OFFRE.PDF"
        patterns += [p.upper() for p in patterns if p.upper() != p]
    return {
        "type": "pick",
        "title": _t(locale, "nativePickTitle").replace("{origin}", origin),
        "multiple": multiple,
        "filetypes": [[f"{_t(locale, 'acceptedFiles')} ({', '.join(accept)})", patterns]] if accept else [],
        "all_files": _t(locale, "allFiles"),
        "locale": locale,
        "initialdir": str(Path.home()),
        "timeout": int(timeout),
    }


class NativeConsent(ConsentProvider):
    """Consent and file choice in native windows, one child process per question."""

    def __init__(self, timeout: float, locale: str | None = None, command: list[str] | None = None) -> None:
        self.timeout = timeout
        self.locale = locale or system_locale()
        self.command = command or dialog_command()

    def place(self, locale: str) -> str | None:
        return Text("la fenêtre de Compagnon", "Compagnon's window").render(locale)

    async def ask(self, request: ConsentRequest) -> ConsentDecision:
        answer = await show_window(self.command, consent_view(request, self.locale, self.timeout), self.timeout)
        approved = answer.get("approved") is True
        pin = answer.get("pin")
        if approved and request.needs_pin and not (isinstance(pin, str) and pin):
            raise ProtocolError(ErrorCode.CONSENT_UNAVAILABLE)  # the window never approves without one
        if approved and request.new_password and answer.get("confirmed") is not True:
            raise ProtocolError(ErrorCode.CONSENT_UNAVAILABLE)  # nor a new password typed once
        log.info("native prompt %s for %s: %s", request.action, request.origin, "approved" if approved else "refused")
        return ConsentDecision(approved=approved, pin=Secret(pin) if approved and request.needs_pin else None)

    async def pick_files(self, origin: str, multiple: bool, accept: tuple[str, ...]) -> list[Path]:
        answer = await show_window(self.command, pick_view(origin, multiple, accept, self.locale, self.timeout), self.timeout)
        paths = answer.get("paths")
        if not isinstance(paths, list):
            raise ProtocolError(ErrorCode.CONSENT_UNAVAILABLE)
        chosen: list[Path] = []
        for text in paths:
            if not isinstance(text, str) or not text:
                continue
            path = Path(text)
            if accepted_file(path, accept):
                chosen.append(path.resolve())
            else:
                log.info("native picker for %s: a chosen file was not accepted", origin)
        return chosen if multiple else chosen[:1]


async def show_window(command: list[str], view: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Run one window (agent.desktop.dialog_window) and return its answer. USER_TIMEOUT when it
    outlives ``timeout`` (the child is killed), CONSENT_UNAVAILABLE when no window could be shown;
    cancelling the caller closes the window."""
    if not native_dialogs_available():
        log.warning("native dialog: no display or no tkinter")
        raise ProtocolError(ErrorCode.CONSENT_UNAVAILABLE)
    try:
        child = await asyncio.create_subprocess_exec(
            *command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
    except OSError as exc:
        log.warning("native dialog could not start: %s", exc)
        raise ProtocolError(ErrorCode.CONSENT_UNAVAILABLE) from None
    try:
        out, err = await asyncio.wait_for(child.communicate(json.dumps(view).encode()), timeout + GRACE)
    except TimeoutError:
        log.info("native dialog: no answer in time")
        raise ProtocolError(ErrorCode.USER_TIMEOUT) from None
    finally:
        if child.returncode is None:  # timed out, or the caller was cancelled: close the window
            with contextlib.suppress(ProcessLookupError):
                child.kill()
            with contextlib.suppress(Exception):
                await asyncio.shield(child.wait())
    if child.returncode != 0 or not out or len(out) > MAX_ANSWER_BYTES:
        # stderr is the child's own diagnostics (tkinter errors); it never holds the answer.
        log.warning("native dialog failed (exit %s): %s", child.returncode,
                    err.decode(errors="replace").strip().splitlines()[-1:] or "")
        raise ProtocolError(ErrorCode.CONSENT_UNAVAILABLE)
    try:
        answer = json.loads(out)
    except ValueError:
        raise ProtocolError(ErrorCode.CONSENT_UNAVAILABLE) from None
    if not isinstance(answer, dict):
        raise ProtocolError(ErrorCode.CONSENT_UNAVAILABLE)
    if answer.get("timeout") is True:
        raise ProtocolError(ErrorCode.USER_TIMEOUT)
    return answer
