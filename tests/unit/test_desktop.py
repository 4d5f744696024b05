"""agent.desktop without a browser or a display: console consent, the tray's pictures and menu,
the console's secrets, and the ``console`` consent policy."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from types import SimpleNamespace

import pytest

from agent.config import Settings
from agent.consent import ConsentRequest, FileSummary
from agent.desktop.consent import AnswerError, ConsoleConsent
from agent.desktop.runtime import MENU, MENU_SECTIONS
from agent.desktop.tray import Tray, icon_image
from agent.secret import Secret
from agent.settings_load import load_settings
from bridge_protocol.errors import ErrorCode, ProtocolError

REQUEST = ConsentRequest(origin="https://marches.example.fr", action="sign", summary="Signer 1 fichier",
                         files=(FileSummary("offre.pdf", 1234, "ab" * 32),), certificate="Jeanne", needs_pin=True)


async def _pending(consent: ConsoleConsent) -> dict:
    for _ in range(100):
        if consent.pending():
            return consent.pending()[0]
        await asyncio.sleep(0.01)
    raise AssertionError("no prompt")


async def test_a_prompt_shows_everything_and_takes_the_pin_as_a_secret(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    opened: list[int] = []
    consent = ConsoleConsent(timeout=10, on_prompt=lambda: opened.append(1))
    ask = asyncio.create_task(consent.ask(REQUEST))
    prompt = await _pending(consent)
    assert opened == [1]
    assert prompt["origin"] == REQUEST.origin and prompt["action"] == "sign" and prompt["needs_pin"] is True
    assert prompt["files"] == [{"name": "offre.pdf", "size": 1234, "sha256": "ab" * 32}]
    assert prompt["certificate"] == "Jeanne" and 0 < prompt["expires_in"] <= 10
    with pytest.raises(AnswerError) as refused:
        consent.answer(prompt["id"], True, None)  # approving needs the PIN
    assert refused.value.reason == "pin_required"
    with pytest.raises(AnswerError) as unknown:
        consent.answer("another-id", True, Secret("482916"))
    assert unknown.value.reason == "gone"
    consent.answer(prompt["id"], True, Secret("482916"))
    decision = await ask
    assert decision.approved and isinstance(decision.pin, Secret) and decision.pin.reveal() == "482916"
    assert consent.pending() == []
    with pytest.raises(AnswerError):  # a late second answer changes nothing
        consent.answer(prompt["id"], False)
    assert "482916" not in caplog.text


async def test_refusal_and_timeout() -> None:
    consent = ConsoleConsent(timeout=0.3)
    ask = asyncio.create_task(consent.ask(REQUEST))
    consent.answer((await _pending(consent))["id"], False, Secret("482916"))
    decision = await ask
    assert decision.approved is False and decision.pin is None  # a refusal keeps no PIN
    with pytest.raises(ProtocolError) as timed_out:
        await consent.ask(REQUEST)
    assert timed_out.value.code is ErrorCode.USER_TIMEOUT
    assert consent.pending() == []


async def test_pick_prompt_takes_existing_files_of_the_accepted_types(tmp_path: Path) -> None:
    pdf = tmp_path / "offre.pdf"
    pdf.write_bytes(b"%PDF")
    consent = ConsoleConsent(timeout=10)
    pick = asyncio.create_task(consent.pick_files("https://marches.example.fr", False, (".pdf",)))
    prompt = await _pending(consent)
    assert prompt["action"] == "pick" and prompt["accept"] == [".pdf"]
    with pytest.raises(AnswerError) as wrong:
        consent.answer_pick(prompt["id"], [str(tmp_path / "absent.pdf")])
    assert wrong.value.reason == "not_found"
    consent.answer_pick(prompt["id"], [str(pdf)])
    assert await pick == [pdf.resolve()]


def test_three_different_pictures() -> None:
    images = {state: icon_image(state) for state in ("ready", "busy", "attention")}
    assert all(img.size == (64, 64) and img.mode == "RGBA" for img in images.values())
    data = {state: img.tobytes() for state, img in images.items()}
    assert len(set(data.values())) == 3
    centre = {state: img.getpixel((10, 32))[:3] for state, img in images.items()}
    assert centre == {"ready": (46, 139, 87), "busy": (30, 100, 200), "attention": (230, 120, 0)}


def test_menu_items_and_their_plain_functions(monkeypatch: pytest.MonkeyPatch) -> None:
    assert [fr for _, fr, _ in MENU] == ["Ouvrir la console", "Traitements en cours", "Sites autorisés", "Journal",
                                         "Diagnostic", "À propos", "Quitter"]
    done: list[str] = []
    runtime = SimpleNamespace(menu_action=done.append)
    agent = SimpleNamespace(runtime=runtime, call=lambda function, *args: function(*args))
    tray = Tray(agent)  # type: ignore[arg-type]
    for method in (tray.open_console, tray.open_jobs, tray.open_pairings, tray.open_journal, tray.diagnose,
                   tray.about, tray.quit):
        method()
    assert done == ["open", "jobs", "pairings", "journal", "diagnose", "about", "quit"]
    assert MENU_SECTIONS == {"open": None, "jobs": "traitements", "pairings": "sites", "journal": "journal",
                             "about": "about", "diagnose": "traitements"}

    class Item:
        def __init__(self, text: str, action, default: bool = False) -> None:  # type: ignore[no-untyped-def]
            self.text, self.action, self.default = text, action, default

    class Menu:
        SEPARATOR = object()

        def __init__(self, *items: object) -> None:
            self.items = items

    menu = tray.menu(SimpleNamespace(MenuItem=Item, Menu=Menu, Icon=SimpleNamespace(HAS_MENU=True)))
    items = [i for i in menu.items if i is not Menu.SEPARATOR]
    assert [i.text for i in items] == [fr for _, fr, _ in MENU]
    assert [i.text for i in items if i.default] == ["Ouvrir la console"]
    done.clear()
    items[-1].action(None, None)  # what a click on "Quitter" runs
    assert done == ["quit"]
    # A back end without menus (plain X11): one default item, the popup of the agent's own.
    monkeypatch.setattr("agent.desktop.tray.native_dialogs_available", lambda: True)
    popups: list[bool] = []
    monkeypatch.setattr(tray, "popup_menu", lambda: popups.append(True))
    (only,) = tray.menu(SimpleNamespace(MenuItem=Item, Menu=Menu, Icon=SimpleNamespace(HAS_MENU=False))).items
    assert only.default
    only.action(None, None)
    assert popups == [True]


def test_console_policy_in_the_configuration(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[consent]\npolicy = "console"\n[console]\nport = 47300\n', encoding="utf-8")
    settings = load_settings(path)
    assert settings.consent_policy == "console" and settings.consent_policy_explicit and settings.console_port == 47300
    path.write_text("[consent]\ntimeout_seconds = 30\n", encoding="utf-8")
    settings = load_settings(path)
    assert settings.consent_policy == "prompt" and not settings.consent_policy_explicit  # serve's default


async def test_the_native_policy_gets_its_windows_from_the_desktop_runtime(tmp_path: Path) -> None:
    """agent.service never imports the desktop: the runtime hands it the native consent windows,
    and a service given none cannot ask (CONSENT_UNAVAILABLE) rather than approve or refuse."""
    from agent.desktop.dialogs import NativeConsent
    from agent.desktop.runtime import DesktopRuntime
    from agent.service import make_consent

    settings = Settings(consent_policy="native", consent_timeout=7, state_dir=tmp_path / "state",
                        output_dir=tmp_path / "out")
    runtime = DesktopRuntime(settings)
    consent = runtime.service.consent.inner  # type: ignore[attr-defined]  # the per-site limits wrap it
    assert isinstance(consent, NativeConsent) and consent.timeout == 7
    with pytest.raises(ProtocolError) as raised:
        await make_consent(settings, interactive=False).ask(REQUEST)
    assert raised.value.code is ErrorCode.CONSENT_UNAVAILABLE


def test_traitements_distants_names_the_consultation_while_the_job_runs() -> None:
    from agent.desktop.console.views import job_view

    running = {"id": "j1", "kind": "bids.open", "state": "running", "progress": 40, "steps": [], "current": None,
               "subject": {"reference": "DEMO-2026-002", "title": "Fournitures"}, "message": None, "result": None,
               "error": None, "created_at": "", "updated_at": "", "speed": None}
    assert job_view(running, "https://marches.example.fr")["summary"] == {"reference": "DEMO-2026-002",
                                                                          "title": "Fournitures"}
    done = running | {"state": "succeeded", "result": {"reference": "DEMO-2026-002", "opened": 3}}
    assert job_view(done, "https://marches.example.fr")["summary"]["opened"] == 3


def test_the_window_process_imports_nothing_from_the_agents_folder(tmp_path: Path) -> None:
    """The agent started in a folder of downloaded files (``cd ~/Téléchargements && compagnon
    tray``): the process of its windows, which reads the PIN, must import neither an ``agent``
    package nor a standard module from there (``python -m`` puts the current folder first)."""
    import os
    import subprocess
    import sys

    from agent.desktop.dialogs import dialog_command

    work, markers = tmp_path / "telechargements", tmp_path / "importes"
    work.mkdir()
    markers.mkdir()
    for name in (*sys.stdlib_module_names, "agent"):
        (work / f"{name}.py").write_text(f"open({str(markers / name)!r}, 'w').close()\n", encoding="utf-8")
    environ = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "DISPLAY")}
    subprocess.run(dialog_command(), cwd=work, env={**environ, "WAYLAND_DISPLAY": ""}, input=b"{}",
                   capture_output=True, timeout=60)
    assert sorted(path.name for path in markers.iterdir()) == []
