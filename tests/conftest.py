"""Fixtures: a real agent process in a temporary HOME, and a platform origin it may call."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bridge_protocol.client import set_default_pairing
from tests.support.agent_process import AgentProcess, free_port, write_config
from tests.support.pairing import default_pairing
from tests.support.pki import test_pki  # noqa: F401  (session fixture: the test PKI and its services)
from tests.support.platform_server import PlatformServer
from tests.support.softhsm import ProvisionedToken, SoftHsm, provision_token, start_softhsm

OTHER_ORIGIN = "https://autre-plateforme.example"

# Clients of the tests' agents pair and authenticate by themselves (tests.support.pairing).
set_default_pairing(default_pairing)


@pytest.fixture
async def platform() -> AsyncIterator[PlatformServer]:
    server = await PlatformServer().start()
    yield server
    await server.stop()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def agent(home: Path, platform: PlatformServer) -> Iterator[AgentProcess]:
    """An agent allowing the platform's origin and OTHER_ORIGIN, consent auto-approved (test policy)."""
    write_config(home, allowed=[platform.origin, OTHER_ORIGIN], max_concurrent=2,
                 extra='\n[paths]\nlog_dir = "' + str(home / ".local/state/compagnon/log") + '"\n')
    process = AgentProcess(home, free_port()).start()
    yield process
    process.stop()


@pytest.fixture(scope="session")
def softhsm(tmp_path_factory: pytest.TempPathFactory) -> SoftHsm:
    """A SoftHSM2 configuration of this run (SOFTHSM2_CONF set before the library loads)."""
    return start_softhsm(tmp_path_factory.mktemp("softhsm"))


@pytest.fixture(scope="session")
def token(softhsm: SoftHsm, test_pki) -> ProvisionedToken:  # type: ignore[no-untyped-def]
    """The session token: the test PKI's keys and an RSA 3072 key generated on the token."""
    return provision_token(softhsm, test_pki)
