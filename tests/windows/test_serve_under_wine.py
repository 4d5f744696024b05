"""``compagnon serve`` on Windows CPython under Wine, reached from Linux over 127.0.0.1 (Wine shares the loopback)."""

from __future__ import annotations

import threading
from pathlib import Path

from agent import __version__
from bridge_protocol.client import BridgeClient
from tests.support.agent_process import free_port
from tests.support.wine import WinePython, winpath

from .conftest import write_windows_config

ORIGIN = "https://plateforme.example"


async def test_serve_answers_hello_from_linux(wine: WinePython, tmp_path: Path) -> None:
    config = write_windows_config(tmp_path / "agent", extra=f'\n[bridge]\nallowed_origins = ["{ORIGIN}"]\n')
    port = free_port()
    process = wine.popen_agent("serve", "--port", str(port), "--config", winpath(config))
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for raw in process.stdout:
            lines.append(raw.decode("utf-8", errors="replace").rstrip())
            if f"en écoute sur ws://127.0.0.1:{port}/bridge" in lines[-1]:
                ready.set()
        ready.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        assert ready.wait(120) and process.poll() is None, "\n".join(lines)
        async with await BridgeClient.connect(ORIGIN, ports=[port]) as client:
            hello = await client.hello()
        assert hello["product"] == "compagnon" and hello["version"] == __version__ and hello["protocol"] == 1
    finally:
        process.kill()
        process.wait(30)
