"""The Job record and its snapshot (bridge protocol section "Snapshot", bridge_protocol/PROTOCOL.md)."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from bridge_protocol.job_states import TERMINAL_STATES

#: Step states that count as done for the overall progress.
_DONE_STEP_STATES = frozenset({"succeeded", "skipped", "failed"})


#: (second, its "YYYY-MM-DDTHH:MM:SS" text): a job's progress stamps several times a second.
_second_text: tuple[int, str] = (-1, "")


def utc_now() -> str:
    """RFC 3339 UTC timestamp with milliseconds (``2026-12-02T03:12:46.123Z``). Each progress
    change is stamped, so the text of the current second is reused."""
    global _second_text
    millis = time.time_ns() // 1_000_000
    second, milli = divmod(millis, 1000)
    if _second_text[0] != second:
        _second_text = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
    return f"{_second_text[1]}.{milli:03d}Z"


def new_job_id() -> str:
    """128 random bits: job ids are unguessable, so they are no key to another site's jobs."""
    return secrets.token_hex(16)


@dataclass
class StepRecord:
    id: str
    label: str
    state: str = "pending"
    progress: int = 0
    weight: float = 1.0

    def snapshot(self) -> dict[str, Any]:
        return {"id": self.id, "label": self.label, "state": self.state, "progress": self.progress}


@dataclass
class Job:
    """A job as the agent keeps it. ``origin`` is the site that owns it (promise 7).

    The job's parameters are not kept here: they may hold a bearer token or file handles, and
    nothing of them is written to disk.
    """

    id: str
    kind: str
    origin: str
    locale: str
    steps: list[StepRecord]
    state: str = "queued"
    current: dict[str, Any] | None = None
    message: str | None = None
    result: Any = None
    error: dict[str, str] | None = None
    speed: float | None = None
    #: What the job works on, once known and before it ends: ``{"reference", "title"}`` of a
    #: consultation (``JobSubject`` in bridge_protocol.messages).
    subject: dict[str, str] | None = None
    created_at: str = field(default_factory=utc_now)
    updated_at: str = field(default_factory=utc_now)

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL_STATES

    @property
    def progress(self) -> int:
        """Overall progress 0-100, derived from the steps' progress and weights."""
        if self.state == "succeeded":
            return 100
        total = sum(s.weight for s in self.steps)
        if not total:
            return 0
        done = sum(
            s.weight * (100 if s.state in _DONE_STEP_STATES else s.progress) for s in self.steps
        )
        return min(100, int(done / total))

    def step(self, step_id: str) -> StepRecord:
        for s in self.steps:
            if s.id == step_id:
                return s
        raise KeyError(step_id)

    def snapshot(self) -> dict[str, Any]:
        """The wire form (``JobSnapshot`` in bridge_protocol.messages)."""
        return {
            "id": self.id,
            "kind": self.kind,
            "state": self.state,
            "progress": self.progress,
            "steps": [s.snapshot() for s in self.steps],
            "current": self.current,
            "subject": self.subject,
            "message": self.message,
            "result": self.result,
            "error": self.error,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "speed": self.speed,
        }

    def to_record(self) -> dict[str, Any]:
        """What the store writes: the snapshot plus owner, language and step weights."""
        record = self.snapshot()
        record["origin"] = self.origin
        record["locale"] = self.locale
        record["steps"] = [{**s.snapshot(), "weight": s.weight} for s in self.steps]
        return record

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Job:
        return cls(
            id=record["id"],
            kind=record["kind"],
            origin=record["origin"],
            locale=record.get("locale", "fr"),
            steps=[StepRecord(**s) for s in record.get("steps", [])],
            state=record["state"],
            current=record.get("current"),
            subject=record.get("subject"),
            message=record.get("message"),
            result=record.get("result"),
            error=record.get("error"),
            speed=None,
            created_at=record["created_at"],
            updated_at=record["updated_at"],
        )
