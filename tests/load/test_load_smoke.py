"""A short run of tests/load/load_bridge.py in the normal test run: 10 page clients (in worker
processes) polling ``agent.hello`` 10 times a second for 3 s while 4 ``bids.download`` jobs publish
their progress.

It asserts only what must hold under any load: every client of the origin receives each job's
final ``jobs.updated`` state (PROTOCOL.md section 3, "and always the final one"), every call is
answered, and the agent still answers afterwards. Timing figures are the full script's business
(``python tests/load/load_bridge.py``), not a test's.

The clients read most ``jobs.updated`` frames from their first bytes only (tests/load/wsclient.py);
the second test checks that this shortcut never misses a final state, whatever the frame looks like.
"""

from __future__ import annotations

import json
import socket
from typing import Any

import pytest

from tests.load.load_bridge import HELLO, Report, print_series, run_load
from tests.load.wsclient import PageClient


async def test_no_final_state_is_lost_and_the_agent_stays_responsive() -> None:
    report = await run_load(clients=10, rate=10, jobs=4, seconds=3, job_seconds=2)
    assert report.worker_failures == 0, report.errors
    assert report.jobs_started >= 4 and report.jobs_finished == report.jobs_started, report
    assert report.job_states == {"succeeded": report.jobs_started}, report.job_states
    assert report.finals_expected == 11 * report.jobs_started  # ten pollers and the controller
    assert report.finals_lost == 0, report.lost
    assert report.call_errors == 0 and report.calls > 0, report.errors
    assert report.updates_received > report.finals_expected  # progress frames too, not only finals
    assert report.hello_after_ms is not None, report.errors


def _update(job_id: str, state: str, **layout: Any) -> bytes:
    snapshot = {"id": job_id, "kind": "bids.download", "state": state, "progress": 40,
                "steps": [{"id": "descriptor", "label": "Description", "state": "succeeded", "progress": 100}]}
    return json.dumps({"jsonrpc": "2.0", "method": "jobs.updated", "params": {"job": snapshot}}, **layout).encode()


async def test_the_client_shortcut_never_misses_a_final_state() -> None:
    ours, theirs = socket.socketpair()
    page = PageClient(ours, b"", HELLO)
    try:
        compact = {"separators": (",", ":"), "ensure_ascii": False}
        frames = [
            _update("a1", "running", **compact),  # the agent's form: read from its first bytes
            _update("a1", "succeeded", **compact),
            _update("b2", "failed"),  # another layout (spaces): decoded in full
            json.dumps([json.loads(_update("c3", "cancelled"))]).encode(),  # a batch
            json.dumps({"jsonrpc": "2.0", "method": "jobs.updated",  # other key order
                        "params": {"job": {"state": "interrupted", "id": "d4", "kind": "diagnose"}}}).encode(),
            _update("e5", "running"),  # a step succeeded, the job did not: no final
        ]
        for frame in frames:
            page._message(frame, 0.0, None, True)
        assert page.finals == {"a1": "succeeded", "b2": "failed", "c3": "cancelled", "d4": "interrupted"}
        assert page.updates == 6
        assert page.decoded == 4  # only the two compact frames skipped the JSON decoder
    finally:
        await page.close(timeout=0.1)
        theirs.close()


def test_a_series_counts_every_run_and_tells_the_steal_apart(capsys: pytest.CaptureFixture[str]) -> None:
    """``--repeat``: a run the hypervisor slowed is shown and counted, never dropped."""

    def run(p99: float, steal: float) -> Report:
        report = Report(50, 10, 4, "download", 30, calls=15000, p99_ms=p99, finals_expected=408, finals_received=408,
                        jobs_started=8, jobs_finished=8, hello_after_ms=1.0)
        report.cpu_usage = {"cpu0": {"busy": 20, "softirq": 1, "steal": steal},
                            "cpu1": {"busy": 25, "softirq": 2, "steal": steal / 2}}
        return report

    print_series([run(2.4, 0.0), run(9.2, 14.0), run(3.1, 0.4)], 5.0)
    out = capsys.readouterr().out
    assert "| 2 | 9.20 | - | 0.00 | 0.00 | 14.0 | 408/408 | MISSED |" in out
    assert "2 of 3 runs met p99 <= 5 ms (median p99 3.10 ms); without steal: 2 of 2; final states lost in all: 0" in out
