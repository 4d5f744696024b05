"""Job persistence: one JSON file per job under the state folder, written atomically.

After a stop or a crash, the jobs that were queued or running are marked ``interrupted`` when the
agent starts again, so ``jobs.list`` tells the truth about them.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from bridge_protocol.errors import ErrorCode, error_message

from ..fsutil import PART_SUFFIX, atomic_write_bytes, private_folder
from .model import Job, utc_now

log = logging.getLogger(__name__)


class JobStore:
    """Reads and writes job records in ``folder``; keeps at most ``keep`` finished jobs."""

    def __init__(self, folder: Path, keep: int = 500) -> None:
        self.folder = folder
        self.keep = keep
        #: The state of each job as last written (a state change is written durably).
        self._saved_states: dict[str, str] = {}
        private_folder(folder, own=True)

    def _path(self, job_id: str) -> Path:
        return self.folder / f"{job_id}.json"

    def save(self, job: Job) -> None:
        """Write the job's record now (see ``write``)."""
        self.write(job.id, job.state, self.encode(job))

    @staticmethod
    def encode(job: Job) -> bytes:
        """The record of ``job`` as it is now (taken on the event loop, written later by a thread)."""
        return json.dumps(job.to_record(), ensure_ascii=False, separators=(",", ":")).encode()

    def write(self, job_id: str, state: str, data: bytes) -> None:
        """Replace the record of ``job_id`` atomically. A change of state (queued, running, a final
        state) waits for the disk, so a crash finds every started job and every ended one as it
        ended; a step change only is written without waiting for the disk."""
        durable = self._saved_states.get(job_id) != state
        atomic_write_bytes(self._path(job_id), data, durable=durable)
        self._saved_states[job_id] = state

    def remove(self, job_ids: set[str]) -> None:
        for job_id in job_ids:
            self._path(job_id).unlink(missing_ok=True)
            self._saved_states.pop(job_id, None)

    def load(self) -> list[Job]:
        """All stored jobs, oldest first; jobs left running are marked interrupted and saved."""
        jobs: list[Job] = []
        for path in self.folder.glob("*.json"):
            try:
                job = Job.from_record(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, ValueError, KeyError, TypeError) as exc:
                log.warning("ignoring unreadable job record %s: %s", path.name, exc)
                continue
            if not job.terminal:
                self._interrupt(job)
                self.save(job)
            jobs.append(job)
        for stale in self.folder.glob(f".*{PART_SUFFIX}"):
            stale.unlink(missing_ok=True)
        jobs.sort(key=lambda j: j.created_at)
        return self.prune(jobs)

    @staticmethod
    def _interrupt(job: Job) -> None:
        job.state = "interrupted"
        for step in job.steps:
            if step.state == "running":
                step.state = "cancelled"
        job.speed = None
        job.error = {
            "code": ErrorCode.JOB_INTERRUPTED.value,
            "message": error_message(ErrorCode.JOB_INTERRUPTED, job.locale),
        }
        job.message = job.error["message"]
        job.updated_at = utc_now()

    def prune(self, jobs: list[Job]) -> list[Job]:
        """Drop the oldest finished jobs beyond ``keep``; returns the jobs kept, oldest first."""
        kept, dropped = self.plan_prune(jobs)
        self.remove(dropped)
        return kept

    def plan_prune(self, jobs: list[Job]) -> tuple[list[Job], set[str]]:
        """The jobs ``prune`` would keep, and the ids it would remove (without removing them)."""
        finished: dict[str, list[Job]] = {}
        for job in jobs:
            if job.terminal:
                finished.setdefault(job.origin, []).append(job)
        dropped = {j.id for mine in finished.values() for j in mine[: max(0, len(mine) - self.keep)]}
        return [j for j in jobs if j.id not in dropped], dropped
