"""The file registry behind ``files.put``/``files.get`` (agent.files): limits that never lock the
agent, and handles that name a file, never whatever later lands at its path."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from agent.files import FileRegistry
from bridge_protocol.errors import ErrorCode, ProtocolError

SITE, OTHER = "https://marches.example.fr", "https://autre-plateforme.example"


def _in_thread(action, timeout: float = 5.0):  # type: ignore[no-untyped-def]
    """Run ``action`` in a thread; its result or exception, or an AssertionError if it hangs."""
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(action())
        except BaseException as exc:  # noqa: BLE001 — handed back to the test
            outcome.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(timeout)
    assert not worker.is_alive(), "the registry is locked: the call never returned"
    return outcome[0]


def test_an_upload_over_the_limit_is_refused_and_the_next_one_answered(tmp_path: Path) -> None:
    files = FileRegistry(tmp_path / "uploads", max_bytes=10)
    first = _in_thread(lambda: files.put(SITE, None, "a.bin", b"12345", False))
    over = _in_thread(lambda: files.put(SITE, first.handle, None, b"1234567890", True))
    assert isinstance(over, ProtocolError) and over.code == ErrorCode.FILE_TOO_LARGE
    assert list((tmp_path / "uploads").iterdir()) == []  # nothing half-written is left
    fresh = _in_thread(lambda: files.put(OTHER, None, "b.bin", b"ok", True))
    assert fresh.complete and fresh.size == 2
    gone = _in_thread(lambda: files.get(SITE, first.handle))
    assert isinstance(gone, ProtocolError) and gone.code == ErrorCode.FILE_NOT_FOUND


def test_an_output_handle_never_serves_a_later_file_at_its_path(tmp_path: Path) -> None:
    files = FileRegistry(tmp_path / "uploads", max_bytes=1 << 20)
    output = tmp_path / "Offre - Signature 1.p7s"
    output.write_bytes(b"first site's signature")
    old = files.register(SITE, output)
    assert files.read(SITE, old.handle, 0, 100) == (b"first site's signature", True)

    output.unlink()  # the user deletes it; another site's job writes the same name
    output.write_bytes(b"second site's signature")
    new = files.register(OTHER, output)
    for call in (lambda: files.get(SITE, old.handle), lambda: files.read(SITE, old.handle, 0, 100)):
        with pytest.raises(ProtocolError) as caught:
            call()
        assert caught.value.code == ErrorCode.FILE_NOT_FOUND
    assert files.read(OTHER, new.handle, 0, 100) == (b"second site's signature", True)


def test_each_site_has_its_own_quota(tmp_path: Path) -> None:
    files = FileRegistry(tmp_path / "uploads", max_bytes=100, site_bytes=150, site_files=3)
    files.put(SITE, None, "a.bin", b"x" * 100, True)
    with pytest.raises(ProtocolError) as full:
        files.put(SITE, None, "b.bin", b"x" * 60, True)
    assert full.value.code == ErrorCode.FILE_TOO_LARGE and full.value.detail["reason"] == "site_bytes"
    assert len(list((tmp_path / "uploads").iterdir())) == 1  # the refused upload left nothing
    for name in ("c", "d"):
        files.put(SITE, None, name, b"x", True)
    with pytest.raises(ProtocolError) as many:
        files.put(SITE, None, "e", b"x", True)
    assert many.value.detail["reason"] == "site_files"
    with pytest.raises(ProtocolError) as one:
        files.put(OTHER, None, "big", b"x" * 101, True)
    assert one.value.detail["reason"] == "file"
    assert files.put(OTHER, None, "ok", b"x" * 100, True).complete  # the other site is not affected
    with pytest.raises(ProtocolError):
        files.make_room(SITE, 1)
    files.make_room(OTHER, 50)
