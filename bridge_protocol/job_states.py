"""The states of a job and of its steps (PROTOCOL.md, the job snapshot): what the job runner needs
without building the message classes (``messages`` names them too)."""

from __future__ import annotations

from typing import Literal

__all__ = ["TERMINAL_STATES", "JobState", "StepState"]

JobState = Literal["queued", "running", "succeeded", "failed", "cancelled", "interrupted"]
TERMINAL_STATES: frozenset[str] = frozenset({"succeeded", "failed", "cancelled", "interrupted"})
StepState = Literal["pending", "running", "succeeded", "failed", "skipped", "cancelled"]
