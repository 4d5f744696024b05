from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from agent.consent import Secret
from agent.fsutil import atomic_output, atomic_write_bytes
from agent.jobs.model import Job, StepRecord
from agent.jobs.store import JobStore
from agent.logs import redact, setup_logging


def test_atomic_output_leaves_nothing_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    with pytest.raises(RuntimeError):
        with atomic_output(target) as stream:
            stream.write(b"half")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_replaces_whole_with_private_mode(tmp_path: Path) -> None:
    target = tmp_path / "f.json"
    atomic_write_bytes(target, b"one")
    atomic_write_bytes(target, b"two")
    assert target.read_bytes() == b"two"
    assert os.stat(target).st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]


@pytest.mark.parametrize(
    "line",
    ['{"pin": "123456"}', "pin=123456", "password: s3cr3tpass", "Authorization: Bearer abcdefghijkl",
     "token=eyJhbGciOiJIUzI1NiJ9.x.y", "bearer abcdefghijklmnop"],
)
def test_redact_masks_credentials(line: str) -> None:
    cleaned = redact(line)
    for secret in ("123456", "s3cr3tpass", "abcdefghijkl", "eyJhbGciOiJIUzI1NiJ9"):
        assert secret not in cleaned
    assert "***" in cleaned


def test_log_file_never_holds_a_secret(tmp_path: Path) -> None:
    path = setup_logging(tmp_path / "log", console=False)
    log = logging.getLogger("test")
    pin = Secret("98765432")
    log.info("unlock with %s", pin)
    log.info("params %s", {"pin": "98765432", "bearer": "x"})
    try:
        raise ValueError("token=98765432abcdef")
    except ValueError:
        log.exception("failed")
    for handler in logging.getLogger().handlers:
        handler.flush()
    text = path.read_text()
    assert "98765432" not in text
    assert "unlock with Secret('***')" in text
    assert path.parent.stat().st_mode & 0o777 == 0o700


def _job(job_id: str, state: str, created: str) -> Job:
    return Job(job_id, "diagnose", "https://a.fr", "fr", [StepRecord("os", "OS", "running")], state=state,
               created_at=created, updated_at=created)


def test_store_interrupts_unfinished_jobs_and_prunes(tmp_path: Path) -> None:
    store = JobStore(tmp_path, keep=2)
    for i, state in enumerate(["succeeded", "failed", "running", "succeeded"]):
        store.save(_job(f"j{i}", state, f"2026-01-0{i + 1}T00:00:00.000Z"))
    (tmp_path / ".j9.json.abcd.part").write_text("{half")
    (tmp_path / "broken.json").write_text("{not json")
    jobs = {j.id: j for j in JobStore(tmp_path, keep=2).load()}
    assert set(jobs) == {"j2", "j3"}  # the two newest of four finished jobs (j2 became interrupted)
    assert jobs["j2"].state == "interrupted"
    assert jobs["j2"].error and jobs["j2"].error["code"] == "JOB_INTERRUPTED"
    assert jobs["j2"].steps[0].state == "cancelled"
    assert not (tmp_path / "j0.json").exists() and not (tmp_path / "j1.json").exists()
    assert not list(tmp_path.glob("*.part"))
