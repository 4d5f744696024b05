"""Fixtures of the fault tests (helpers in tests/faults/terminal.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.faults.terminal import SlowTsa, TerminalAgent
from tests.support.pki import TestPki


@pytest.fixture
def terminal_agents() -> Iterator[Callable[..., TerminalAgent]]:
    """``make(home, port=None)`` starts a terminal agent; every one is stopped at the end."""
    started: list[TerminalAgent] = []

    def make(home: Path, port: int | None = None) -> TerminalAgent:
        agent = TerminalAgent(home, port)
        started.append(agent)
        return agent.start()

    yield make
    for agent in started:
        agent.stop()


@pytest.fixture
def slow_tsa(test_pki: TestPki) -> Iterator[SlowTsa]:
    """The test PKI's TSA, 50 ms away."""
    tsa = SlowTsa(test_pki.tsa_url).start()
    yield tsa
    tsa.stop()
