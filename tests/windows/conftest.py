"""The agent on Windows CPython under Wine (tests/support/wine.py prepares and caches it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.pki import test_pki  # noqa: F401  (session fixture: the test PKI and its services)
from tests.support.wine import WinePython, prepare_wine_python, winpath


#: The first test also prepares the cache (download, wheels, wineboot): more than the suite's 120 s may go by.
WINDOWS_TEST_TIMEOUT = 900


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            # A module may ask for more (its own WINDOWS_TEST_TIMEOUT): the Windows build takes minutes.
            timeout = getattr(getattr(item, "module", None), "WINDOWS_TEST_TIMEOUT", WINDOWS_TEST_TIMEOUT)
            item.add_marker(pytest.mark.timeout(timeout))


@pytest.fixture(scope="session")
def wine() -> WinePython:
    """Windows CPython 3.13 under Wine, with the project's dependencies (prepared once, then cached)."""
    return prepare_wine_python()


def write_windows_config(folder: Path, extra: str = "") -> Path:
    """A configuration whose folders all live under ``folder`` (Windows names, TOML literal strings)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.toml"
    path.write_text(
        f"[paths]\nstate_dir = '{winpath(folder / 'state')}'\nlog_dir = '{winpath(folder / 'log')}'\n\n"
        f"[keystores]\np12_dir = '{winpath(folder / 'keys')}'\n\n"
        f"[signing]\noutput_dir = '{winpath(folder / 'out')}'\n{extra}",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def win_config(tmp_path: Path) -> Path:
    return write_windows_config(tmp_path / "agent")
