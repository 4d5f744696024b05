"""The command line's view of a running job: one progress bar redrawn in place on a terminal,
plain lines (never the same one twice) when stderr is a file or a pipe.

Both follow the job's snapshots (``JobSnapshot`` in bridge_protocol.messages) as the pages do: the
running step's label, the overall percentage, a line of its own while the job waits for the user
(the prompt is then written below it, never on the bar), and an end line: 100 % when the job
succeeded, the failure with the percentage reached otherwise.
"""

from __future__ import annotations

import shutil
import sys
from typing import Any, TextIO

from ..i18n import Text

DONE = Text("Terminé", "Done")
FAILED = Text("Échec", "Failed")
CANCELLED = Text("Annulé", "Cancelled")
#: While the consent step runs the prompt is on this terminal.
WAITING = Text("En attente de votre réponse ci-dessous", "Waiting for your answer below")
#: Steps during which the job waits for the user.
USER_STEPS = frozenset({"consent"})
#: The kinds' last step ("Terminé"): shown by the end line once the job has ended.
FINAL_STEP = "done"
BAR_WIDTH = 24


class ProgressRenderer:
    """A job listener (``JobManager.add_listener``) writing the job's progress to ``stream``."""

    def __init__(self, locale: str = "fr", stream: TextIO | None = None, tty: bool | None = None,
                 asks: bool = True) -> None:
        self.locale = locale
        #: Whether the user is asked at the terminal; not when the answers come on stdin (--pin-stdin).
        self.asks = asks
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self._last: str | None = None
        #: Characters of the bar now on the terminal's last line (0: the cursor is at a line start).
        self._drawn = 0
        self._ended = False

    # -- what to show -------------------------------------------------------------------------
    def _label(self, snapshot: dict[str, Any]) -> tuple[str, bool]:
        """The line's text and whether the job waits for the user."""
        state = snapshot["state"]
        if state == "succeeded":
            return DONE.render(self.locale), False
        if state in ("failed", "cancelled", "interrupted"):
            word = (CANCELLED if state == "cancelled" else FAILED).render(self.locale)
            error = (snapshot.get("error") or {}).get("message") or snapshot.get("message")
            separator = " : " if self.locale != "en" else ": "
            return (f"{word}{separator}{error}" if error else word), False
        running = [s for s in snapshot["steps"] if s["state"] == "running"]
        if not running:
            return "", False
        step = running[0]
        if step["id"] == FINAL_STEP:
            return "", False  # the end line says it, at 100 %
        if step["id"] in USER_STEPS and self.asks:  # the job's message names where the question is, when known
            return f"{step['label']} — {snapshot.get('message') or WAITING.render(self.locale)}", True
        return f"{step['label']}…", False

    @staticmethod
    def _percent(snapshot: dict[str, Any]) -> int:
        return 100 if snapshot["state"] == "succeeded" else int(snapshot["progress"])

    # -- listener -------------------------------------------------------------------------------
    def __call__(self, origin: str, snapshot: dict[str, Any]) -> None:
        if self._ended:
            return
        text, waiting = self._label(snapshot)
        terminal = snapshot["state"] in ("succeeded", "failed", "cancelled", "interrupted")
        if not text:
            return
        percent = self._percent(snapshot)
        if self.tty and not waiting:
            self._draw(percent, text)
        else:
            self._line(f"[{percent:3d} %] {text}", text)
        if terminal:
            self._ended = True
            if self._drawn:
                self.stream.write("\n")
                self._drawn = 0
        self.stream.flush()

    def _line(self, line: str, text: str) -> None:
        """A line of its own when ``text`` (the step, the file, the end) changed: the percentage
        alone moving writes nothing, so no line says what the one above it said."""
        if text == self._last:
            return
        if self._drawn:
            self.stream.write("\n")
            self._drawn = 0
        self.stream.write(line + "\n")
        self._last = text

    def _draw(self, percent: int, text: str) -> None:
        """The bar, redrawn in place: ``[########----------------]  42 % Signature des fichiers…``."""
        filled = BAR_WIDTH * percent // 100
        columns = shutil.get_terminal_size((80, 24)).columns
        line = f"[{'#' * filled}{'-' * (BAR_WIDTH - filled)}] {percent:3d} % {text}"
        if len(line) >= columns:
            line = line[: max(columns - 2, 10)] + "…"
        if line == self._last:
            return
        self.stream.write("\r" + line + "\x1b[K")
        self._drawn = len(line)
        self._last = line


__all__ = ["ProgressRenderer"]
