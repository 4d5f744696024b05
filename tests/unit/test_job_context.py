"""The job model and context: derived progress, counters, speed, step transitions."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from agent.jobs.context import JobCancelled, JobContext, JobServices
from agent.jobs.model import Job, StepRecord, utc_now


def _context() -> tuple[JobContext, list[tuple[str, bool]]]:
    job = Job("id", "k", "https://a.fr", "fr", [StepRecord("a", "A", weight=1), StepRecord("b", "B", weight=3)])
    changes: list[tuple[str, bool]] = []
    ctx = JobContext(job, JobServices(settings=None, consent=None), lambda j, urgent: changes.append((j.state, urgent)),  # type: ignore[arg-type]
                     platform=lambda: None)  # type: ignore[arg-type, return-value]
    return ctx, changes


def test_progress_is_derived_from_weighted_steps() -> None:
    ctx, changes = _context()
    with ctx.step("a"):
        pass
    assert ctx.job.progress == 25
    ctx.start_step("b")
    ctx.step_progress("b", 50, 100)
    assert ctx.job.progress == 25 + 37
    assert changes[0][1] is True  # step transitions are urgent
    assert changes[-1][1] is False  # progress is not


def test_failed_and_cancelled_blocks_mark_their_step() -> None:
    ctx, _ = _context()
    with pytest.raises(ValueError):
        with ctx.step("a"):
            raise ValueError()
    assert ctx.job.step("a").state == "failed"
    ctx.request_cancel()
    with pytest.raises(JobCancelled):
        with ctx.step("b"):
            ctx.check_cancelled()
    assert ctx.job.step("b").state == "cancelled"


def test_current_and_speed() -> None:
    ctx, _ = _context()
    ctx.set_current("fichier", 5, 8)
    assert ctx.job.snapshot()["current"] == {"label": "fichier", "index": 5, "total": 8}
    start = time.monotonic()
    while time.monotonic() - start < 0.5:
        ctx.add_bytes(64 * 1024)
        time.sleep(0.01)
    speed = ctx.job.snapshot()["speed"]
    assert speed is not None
    # about 64 KiB per 10 ms, i.e. in the order of 6 MB/s (bounded loosely: this is no timing test)
    assert 1_000_000 < speed < 20_000_000


def test_timestamps_are_rfc3339_utc_milliseconds_and_never_go_back() -> None:
    stamps = []
    deadline = time.monotonic() + 1.2  # across at least one change of second
    while time.monotonic() < deadline:
        before = datetime.now(UTC)
        stamp = utc_now()
        after = datetime.now(UTC)
        parsed = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        assert len(stamp) == 24 and stamp.endswith("Z")
        assert before - timedelta(milliseconds=1) <= parsed <= after
        stamps.append(stamp)
        time.sleep(0.003)
    assert stamps == sorted(stamps) and len({s[:19] for s in stamps}) >= 2
