"""What a flood from one site may cost (docs/SECURITY.md promise 7): a bounded number of log lines,
and never the user's own operations in the console's journal view."""

from __future__ import annotations

import logging

import pytest

from agent.desktop.console.views import journal_selection
from agent.logs import ThrottledLog


def test_refusal_lines_are_throttled_and_counted(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    throttled = ThrottledLog(logging.getLogger("test.flood"), per_minute=20, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="test.flood"):
        for i in range(1000):
            throttled.warning("origin", "refused %d", i)
        throttled.warning("host", "another kind")
        assert len(caplog.records) == 21
        now[0] = 61.0
        throttled.warning("origin", "refused %d", 1000)
    assert caplog.records[-1].getMessage() == "refused 1000 (980 similar lines left out)"


def test_failures_never_push_the_users_operations_out_of_view() -> None:
    mine = [{"seq": i, "result": "succeeded", "action": "sign"} for i in range(1, 6)]
    flood = [{"seq": i, "result": "failed", "action": "decrypt"} for i in range(6, 306)]
    shown, hidden = journal_selection([*mine, *flood], limit=200, kept_succeeded=200)
    assert [r["seq"] for r in shown[:200]] == list(range(305, 105, -1))
    assert [r["seq"] for r in shown[200:]] == [5, 4, 3, 2, 1]
    assert hidden == 100
    assert journal_selection(mine, limit=200) == (list(reversed(mine)), 0)
