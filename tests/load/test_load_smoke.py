"""A short run of tests/load/load_bridge.py in the normal test run: 10 page clients polling
``agent.hello`` 10 times a second for 3 s while 4 ``bids.download`` jobs publish their progress.

It asserts only what must hold under any load: every client of the origin receives each job's
final ``jobs.updated`` state (PROTOCOL.md section 3, "and always the final one"), every call is
answered, and the agent still answers afterwards. Timing figures are the full script's business
(``python tests/load/load_bridge.py``), not a test's.
"""

from __future__ import annotations

from tests.load.load_bridge import run_load


async def test_no_final_state_is_lost_and_the_agent_stays_responsive() -> None:
    report = await run_load(clients=10, rate=10, jobs=4, seconds=3)
    assert report.jobs_started >= 4 and report.jobs_finished == report.jobs_started, report
    assert report.job_states == {"succeeded": report.jobs_started}, report.job_states
    assert report.finals_expected == 11 * report.jobs_started  # ten pollers and the controller
    assert report.finals_lost == 0, report.lost
    assert report.call_errors == 0 and report.calls > 0, report.errors
    assert report.hello_after_ms is not None, report.errors
