"""Twenty users' agents on one host (a terminal server): each finds a port, and each user's client
reaches its own agent, never another's (bridge_protocol.messages.SHARED_PORTS; on Linux another
user's agent closes the connection before reading it).

Real OS users (the suite runs as root and creates them), each agent and each client run as its
user with a Python every user can run (tests.support.shared_python). tests/bench/bench_many_users.py
measures the time to find the agent.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge_protocol.messages import ALL_PORTS
from tests.support.many_users import find_own_agent, running_agents
from tests.support.shared_python import shared_python

USERS = 20


@pytest.fixture(scope="module")
def python() -> Path:
    return shared_python()


@pytest.fixture
def homes() -> Iterator[Path]:
    base = Path(tempfile.mkdtemp(prefix="compagnon-users-", dir="/tmp"))
    base.chmod(0o755)
    yield base
    shutil.rmtree(base, ignore_errors=True)


@pytest.mark.timeout(600)
def test_twenty_users_each_reach_their_own_agent(python: Path, homes: Path) -> None:
    with running_agents(USERS, python, homes) as agents:
        ports = [port for _, port in agents]
        assert len(set(ports)) == USERS and set(ports) <= set(ALL_PORTS)
        for user, port in agents:
            assert find_own_agent(user, python, homes)["port"] == port, user.name
