"""``compagnon tray``: a real process with its pystray icon on an Xvfb display.

It starts, shows its icon, answers ``agent.hello`` on the bridge; docked in a system tray on the
same display (tests/support/systray.py), a real click on the icon shows the menu, whose items work;
its menu's actions (the same
runtime functions the menu items call, reached through the process's handover endpoint) open the
console at the right section — the browser is ``COMPAGNON_BROWSER``, a script that records the
URL — or start a diagnosis; the icon's picture turns to "attention" while a pairing prompt waits
in the console and back to "ready" once answered there; a second ``compagnon tray`` hands over
(the first opens its console) and exits 0; Quitter, and SIGTERM, stop it cleanly (exit 0, its
handover file removed).

Xvfb is required (Debian ``xvfb``, installed by tests/run_all.sh): without it these tests fail,
they are not skipped.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from agent.desktop import instance
from bridge_protocol.client import AgentUnreachable, BridgeClient, ClientPairing
from tests.support.agent_process import ROOT, free_port, isolated_env, write_config
from tests.support.console import RecordingBrowser, console_origin, http, open_session
from tests.support.display import XDoTool, xvfb_display
from tests.support.pairing import client_secrets
from tests.support.systray import SystrayManager

SITE = "https://marches.example.fr"


@pytest.fixture(scope="module")
def display() -> Iterator[str]:
    with xvfb_display("640x480x24") as name:
        yield name


@dataclass
class Tray:
    home: Path
    env: dict[str, str]
    port: int
    proc: subprocess.Popen[str] | None = None
    lines: list[str] = field(default_factory=list)

    @property
    def state_dir(self) -> Path:
        return self.home / ".local/state/compagnon"

    def start(self) -> Tray:
        self.proc = subprocess.Popen([sys.executable, "-m", "agent", "tray", "--port", str(self.port)], cwd=ROOT,
                                     env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, encoding="utf-8")
        ready = threading.Event()

        def read() -> None:
            assert self.proc and self.proc.stdout
            for line in self.proc.stdout:
                self.lines.append(line.rstrip("\n"))
                if line.startswith(("Icône de notification", "compagnon :")):
                    ready.set()
            ready.set()

        threading.Thread(target=read, daemon=True).start()
        if not ready.wait(30) or self.proc.poll() is not None:
            self.kill()
            raise AssertionError("tray did not start:\n" + self.output())
        return self

    def output(self) -> str:
        return "\n".join(self.lines)

    def control(self, action: str, **fields: object) -> dict:
        answer = instance.send(self.state_dir, action, wait=5, **fields)
        assert answer is not None, f"no answer to {action}:\n{self.output()}"
        return answer

    def wait_exit(self, timeout: float = 20) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def tray_env(home: Path, tmp_path: Path, display: str) -> tuple[dict[str, str], RecordingBrowser]:
    write_config(home, allowed=[SITE], consent_timeout=60)  # no policy given: the tray's default, "console"
    path = home / ".config/compagnon/config.toml"
    path.write_text(path.read_text().replace('policy = "approve-all-for-tests"\n', ""), encoding="utf-8")
    recorder = RecordingBrowser(tmp_path / "browser")
    return isolated_env(home) | recorder.env | {"DISPLAY": display}, recorder


def _section(url: str) -> str | None:
    fragment = dict(p.split("=", 1) for p in urlsplit(url).fragment.split("&"))
    assert len(fragment["k"]) >= 40  # a one-time code of 256 bits
    return fragment.get("s")


async def test_tray_starts_its_menu_works_a_second_launch_hands_over_and_quit_stops_it(
    home: Path, tray_env: tuple[dict[str, str], RecordingBrowser]
) -> None:
    env, recorder = tray_env
    tray = Tray(home, env, free_port()).start()
    try:
        assert "Icône de notification : active" in tray.output(), tray.output()
        async with await BridgeClient.connect(SITE, ports=[tray.port]) as client:
            hello = await client.hello()
            assert hello["product"] == "compagnon" and hello["paired"] is False
        assert tray.control("status")["icon"] == "ready"

        # The menu's items (the runtime's functions the icon's menu calls).
        expected = [("open", None), ("jobs", "traitements"), ("pairings", "sites"), ("journal", "journal"),
                    ("about", "about")]
        for count, (action, section) in enumerate(expected, 1):
            assert tray.control(action)["ok"] is True
            assert _section(recorder.wait_for(count)) == section, action
        answer = tray.control("diagnose")
        url = recorder.wait_for(len(expected) + 1)
        assert _section(url) == "traitements"
        origin = console_origin(url)
        session = {"X-Compagnon-Console": open_session(url)}
        deadline = time.monotonic() + 30
        while True:
            status, _, body = http("GET", f"{origin}/console/api/state", session)
            jobs = {j["id"]: j for j in json.loads(body)["jobs"]}
            job = jobs.get(answer["job"])
            if job and job["state"] == "succeeded" or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert job is not None and job["kind"] == "diagnose" and job["origin"] == "console:" and job["state"] == "succeeded"

        # A pairing prompt waits in the console: the icon says "attention"; answered, "ready" again.
        async with await BridgeClient.connect(SITE, ports=[tray.port]) as client:
            await client.hello()
            shown: asyncio.Future[str] = asyncio.get_running_loop().create_future()

            async def user_types_the_code(origin: str, nonce: bytes) -> str:
                return await shown

            client.pairing = ClientPairing(client_secrets(tray.home), user_types_the_code)
            pairing = asyncio.create_task(client.pair())
            prompts: list[dict] = []
            for _ in range(100):
                await asyncio.sleep(0.1)
                prompts = json.loads(http("GET", f"{origin}/console/api/state", session)[2])["prompts"]
                if prompts:
                    break
            assert [p["action"] for p in prompts] == ["pair"] and prompts[0]["origin"] == SITE
            assert tray.control("status")["icon"] == "attention"
            status, _, _ = http("POST", f"{origin}/console/api/prompts/{prompts[0]['id']}", session | {"Origin": origin},
                                {"approved": True})
            assert status == 200
            shown.set_result(prompts[0]["pairing_code"])  # read in the console, typed in the page
            assert await pairing == {"paired": True}
        for _ in range(50):
            if tray.control("status")["icon"] == "ready":
                break
            await asyncio.sleep(0.1)
        assert tray.control("status")["icon"] == "ready"

        # A second launch: the first opens its console, the second exits 0.
        opened = len(recorder.urls())
        second = subprocess.run([sys.executable, "-m", "agent", "tray", "--port", str(free_port())], cwd=ROOT,
                                env=env, capture_output=True, text=True, timeout=60)
        assert second.returncode == 0, second.stdout + second.stderr
        assert "déjà lancé" in second.stdout
        assert _section(recorder.wait_for(opened + 1)) is None
        assert tray.proc is not None and tray.proc.poll() is None  # the first one lives on

        # Quitter.
        assert tray.control("quit") == {"ok": True}
        assert tray.wait_exit() == 0, tray.output()
    finally:
        tray.kill()
    assert "Compagnon arrêté." in tray.output()
    assert not (tray.state_dir / instance.INFO_FILE).exists()
    with pytest.raises(AgentUnreachable):  # the bridge is gone with it
        await BridgeClient.connect(SITE, ports=[tray.port], timeout=1)


async def test_a_click_on_the_icon_shows_the_menu_and_its_items_work(
    home: Path, tray_env: tuple[dict[str, str], RecordingBrowser], display: str
) -> None:
    """Plain X11 (pystray's xorg back end) shows no menu of its own: a click on the docked icon
    (a ButtonPress sent to its window, delivered only because the agent selects it) shows the
    agent's popup menu, and its items, chosen with the keyboard (real key events), do their work."""
    env, recorder = tray_env
    screen = XDoTool(display)
    with SystrayManager(display) as systray:
        tray = Tray(home, env, free_port()).start()
        try:
            icon = systray.wait_icon()

            def show_menu() -> None:
                systray.click(icon)
                screen.wait_class("Menu")

            show_menu()
            screen.key("Down", "Down", "Return")  # the second item: Traitements en cours
            assert _section(recorder.wait_for(1)) == "traitements"

            show_menu()
            screen.key("Escape")  # nothing chosen: nothing done, and the menu comes again on a click
            time.sleep(1)
            assert len(recorder.urls()) == 1 and tray.proc is not None and tray.proc.poll() is None

            show_menu()
            screen.key(*["Down"] * 7, "Return")  # the last item, past both separators: Quitter
            assert tray.wait_exit() == 0, tray.output()
        finally:
            tray.kill()
    assert "Compagnon arrêté." in tray.output()


async def test_tray_stops_cleanly_on_sigterm_and_starts_again(home: Path, tray_env: tuple[dict[str, str], RecordingBrowser]) -> None:
    env, _ = tray_env
    port = free_port()
    tray = Tray(home, env, port).start()
    try:
        assert tray.proc is not None
        tray.proc.send_signal(signal.SIGTERM)
        assert tray.wait_exit() == 0, tray.output()
    finally:
        tray.kill()
    assert not (tray.state_dir / instance.INFO_FILE).exists()
    assert "threads still running at exit" not in (tray.state_dir / "log" / "compagnon.log").read_text()
    # The lock went with the process: the next launch is the agent, not a handover.
    again = Tray(home, env, port).start()
    try:
        assert "en écoute sur ws://127.0.0.1:" in again.output()
        assert again.control("quit") == {"ok": True}
        assert again.wait_exit() == 0
    finally:
        again.kill()
    assert "threads still running at exit" not in (tray.state_dir / "log" / "compagnon.log").read_text()
