"""agent.isolation: work on untrusted input in a worker process that is stopped past its memory
cap or its time limit, while the caller lives on and the next call gets a fresh worker."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agent.isolation import IsolatedWorker, IsolationLimit

MiB = 1024 * 1024


def test_results_progress_and_errors_come_back() -> None:
    seen: list[tuple[int, int]] = []
    with IsolatedWorker(memory_bytes=512 * MiB, timeout=60) as worker:
        assert worker.call("tests.support.isolation_targets:add", 2, 3, progress=lambda d, t: seen.append((d, t))) == 5
        assert seen == [(0, 3), (1, 3), (2, 3)]
        with pytest.raises(ValueError, match="bad file"):
            worker.call("tests.support.isolation_targets:fail", "bad file")
        assert worker.call("tests.support.isolation_targets:add", 1, 1) == 2  # the same worker lives on


def test_a_worker_past_its_memory_cap_is_stopped() -> None:
    with IsolatedWorker(memory_bytes=200 * MiB, timeout=60) as worker:
        with pytest.raises(IsolationLimit) as stopped:
            worker.call("tests.support.isolation_targets:hog", 600)
        assert stopped.value.reason == "memory"
        assert worker.peak < 600 * MiB
        assert worker.call("tests.support.isolation_targets:add", 1, 2) == 3  # a fresh worker


def test_a_worker_past_its_time_is_stopped() -> None:
    with IsolatedWorker(memory_bytes=512 * MiB, timeout=1.0) as worker:
        with pytest.raises(IsolationLimit) as stopped:
            worker.call("tests.support.isolation_targets:loop_for", 30)
        assert stopped.value.reason == "time"
        assert os.getpid() > 0


def test_setup_runs_once_in_each_new_worker() -> None:
    with IsolatedWorker(memory_bytes=200 * MiB, timeout=60) as worker:
        worker.setup("tests.support.isolation_targets:remember", 42)
        assert worker.call("tests.support.isolation_targets:recall") == 42
        with pytest.raises(IsolationLimit):
            worker.call("tests.support.isolation_targets:hog", 600)
        assert worker.call("tests.support.isolation_targets:recall") == 42  # set up again in the new worker


def test_a_closed_worker_ends_at_once_without_tearing_down(tmp_path: Path) -> None:
    """Closing the worker's stdin ends it at once: no interpreter teardown of the validation stack
    it imported (about 0.75 s a one-file ``compagnon verify`` waited for), hence no atexit hook."""
    marker = tmp_path / "teardown"
    worker = IsolatedWorker(memory_bytes=1024 * MiB, timeout=120)
    assert worker.call("agent.validation.detect:detect_format", b"%PDF-1.7\n") == "pdf"
    worker.call("tests.support.isolation_targets:mark_teardown", str(marker))
    proc = worker._proc
    assert proc is not None
    worker.close()
    assert proc.returncode == 0
    assert not marker.exists()


def test_a_prestarted_worker_has_loaded_its_modules_when_the_job_takes_it() -> None:
    """``compagnon verify`` starts its worker before its own imports (``prestart``): the worker
    imports the validators meanwhile, and the job takes that worker if its limits are the
    configured ones. A failed preload changes nothing to the calls."""
    from agent.isolation import prestart, take_prestarted

    prestart(300 * MiB, 60, ("agent.validation.detect",))
    assert take_prestarted(300 * MiB, 30) is None  # other limits: not this worker
    worker = take_prestarted(300 * MiB, 60)
    assert worker is not None and take_prestarted(300 * MiB, 60) is None  # taken once
    with worker:
        assert worker._proc is not None and worker._proc.poll() is None  # running before the first call
        assert worker.call("tests.support.isolation_targets:imported", "agent.validation.detect",
                           "agent.validation.pades") == ["agent.validation.detect"]
    with IsolatedWorker(memory_bytes=300 * MiB, timeout=60) as worker:
        worker.start(("agent.no_such_module",))
        assert worker.call("tests.support.isolation_targets:add", 2, 2) == 4


def test_closing_a_worker_in_the_middle_of_a_call_kills_it_at_once() -> None:
    """A job cancelled or a command interrupted closes its worker while a call runs: the outcome is
    no one's now, so the worker is killed at once, not given the grace (5 s) a finished worker gets
    to end by itself."""
    import threading
    import time

    worker = IsolatedWorker(memory_bytes=512 * MiB, timeout=60)
    assert worker.call("tests.support.isolation_targets:add", 1, 1) == 2
    proc = worker._proc
    assert proc is not None
    raised: list[BaseException] = []

    def long_call() -> None:
        try:
            worker.call("tests.support.isolation_targets:loop_for", 30)
        except BaseException as exc:  # noqa: BLE001 — kept for the assertion
            raised.append(exc)

    thread = threading.Thread(target=long_call)
    thread.start()
    time.sleep(0.5)
    started = time.monotonic()
    worker.close()
    closed_in = time.monotonic() - started
    thread.join(10)
    assert proc.poll() is not None
    assert closed_in < 4.0, f"close waited {closed_in:.1f} s"
    assert raised and isinstance(raised[0], IsolationLimit) and raised[0].reason == "crash"
