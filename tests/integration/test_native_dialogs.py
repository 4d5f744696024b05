"""The agent's native windows (agent.desktop.dialogs) on an Xvfb screen, answered with real
keyboard input (xdotool): consent approved with a PIN, refused, timed out and cancelled; the
system's file chooser behind ``files.pick``; and, end to end, an agent with ``[consent] policy =
"native"`` that pairs a new site, lists certificates, picks a file and signs it on the SoftHSM token with the PIN
typed in its window — the signature checked by openssl, the PIN found nowhere.

Xvfb and xdotool are required (tests/run_all.sh installs them): without them these tests fail.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.config import Settings
from agent.consent import ConsentRequest, FileSummary
from agent.desktop.dialogs import NativeConsent, consent_view, pick_view
from agent.desktop.runtime import native_picker
from bridge_protocol.client import BridgeClient, BridgeError
from bridge_protocol.errors import ProtocolError
from tests.integration.test_certificates_bridge import keystore_config
from tests.integration.test_sign_job import openssl_ok
from tests.support.agent_process import AgentProcess, free_port, write_config
from tests.support.pairing import seed_pairing
from tests.support.display import XDoTool, xvfb_display
from tests.support.pki import TestPki
from tests.support.platform_server import PlatformServer
from tests.support.softhsm import ProvisionedToken

SITE = "https://marches.example.fr"
CONSENT_TITLE = "demande d'autorisation"
PICK_TITLE = "choisir des fichiers"


@pytest.fixture(scope="module")
def display() -> Iterator[str]:
    with xvfb_display() as name:
        yield name


@pytest.fixture
def screen(display: str, monkeypatch: pytest.MonkeyPatch) -> XDoTool:
    monkeypatch.setenv("DISPLAY", display)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    return XDoTool(display)


def _sign_request(needs_pin: bool = True) -> ConsentRequest:
    return ConsentRequest(origin=SITE, action="sign", summary="Signer 2 fichiers (CAdES)",
                          files=(FileSummary("Offre technique.pdf", 1_234_567, "a1" * 32),
                                 FileSummary("Annexe.zip", 42, "b2" * 32)),
                          certificate="Jeanne TITULAIRE — ENTREPRISE EXEMPLE", needs_pin=needs_pin)


def test_the_consent_window_shows_what_promise_4_requires_in_both_languages() -> None:
    view = consent_view(_sign_request(), "fr", 30)
    assert (view["question"], view["origin"], view["approve"], view["refuse"]) == \
        ("Signer des fichiers ?", SITE, "Autoriser", "Refuser")
    assert view["files"] == [["Offre technique.pdf", "1,2 Mo (1234567)", "a1" * 32], ["Annexe.zip", "42 o (42)", "b2" * 32]]
    assert view["certificate"].startswith("Jeanne TITULAIRE") and view["needs_pin"] and view["pin_label"] == "Code PIN"
    english = consent_view(_sign_request(), "en", 30)
    assert (english["question"], english["approve"], english["pin_label"]) == ("Sign files?", "Allow", "PIN")
    assert english["files"][0][1] == "1.2 MB (1234567)"
    pick = pick_view(SITE, True, (".pdf", ".p7s"), "fr", 30)
    assert SITE in pick["title"] and pick["filetypes"][0][1] == ["*.pdf", "*.p7s", "*.PDF", "*.P7S"]


async def test_consent_approved_with_the_pin_typed_in_the_window(screen: XDoTool) -> None:
    consent = NativeConsent(timeout=30, locale="fr")
    asking = asyncio.create_task(consent.ask(_sign_request()))
    await asyncio.to_thread(screen.wait_window, CONSENT_TITLE)
    await asyncio.to_thread(screen.key, "Return")  # no PIN yet: the window stays and says so
    await asyncio.sleep(0.5)
    assert not asking.done() and screen.windows(CONSENT_TITLE)
    await asyncio.to_thread(screen.type, "482916")
    await asyncio.to_thread(screen.key, "Return")
    decision = await asyncio.wait_for(asking, 20)
    assert decision.approved and decision.pin is not None and decision.pin.reveal() == "482916"
    assert "482916" not in repr(decision)
    await asyncio.to_thread(screen.wait_gone, CONSENT_TITLE)


async def test_consent_refused_in_the_window(screen: XDoTool) -> None:
    consent = NativeConsent(timeout=30, locale="fr")
    asking = asyncio.create_task(consent.ask(_sign_request(needs_pin=False)))
    await asyncio.to_thread(screen.wait_window, CONSENT_TITLE)
    await asyncio.to_thread(screen.key, "Escape")
    decision = await asyncio.wait_for(asking, 20)
    assert not decision.approved and decision.pin is None


async def test_no_answer_in_time_is_user_timeout_and_the_window_goes(screen: XDoTool) -> None:
    consent = NativeConsent(timeout=2, locale="fr")
    asking = asyncio.create_task(consent.ask(_sign_request()))
    await asyncio.to_thread(screen.wait_window, CONSENT_TITLE)
    with pytest.raises(ProtocolError) as caught:
        await asyncio.wait_for(asking, 20)
    assert caught.value.code == "USER_TIMEOUT"
    await asyncio.to_thread(screen.wait_gone, CONSENT_TITLE, 3)


async def test_a_cancelled_request_closes_its_window(screen: XDoTool) -> None:
    consent = NativeConsent(timeout=60, locale="fr")
    asking = asyncio.create_task(consent.ask(_sign_request()))
    await asyncio.to_thread(screen.wait_window, CONSENT_TITLE)
    asking.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asking
    await asyncio.to_thread(screen.wait_gone, CONSENT_TITLE, 5)


async def test_the_file_chooser_gives_accepted_existing_files(screen: XDoTool, tmp_path: Path) -> None:
    folder = tmp_path / "Réponse AO"
    folder.mkdir()
    (folder / "Offre finale.PDF").write_bytes(b"%PDF-1.4 offre")
    (folder / "notes.txt").write_text("pas une pièce")
    consent = NativeConsent(timeout=30, locale="fr")

    picking = asyncio.create_task(consent.pick_files(SITE, True, (".pdf",)))
    await asyncio.to_thread(screen.wait_window, PICK_TITLE)
    # Tk's chooser reads a list of names in its field: a name with a space is quoted.
    await asyncio.to_thread(screen.type, f'"{folder / "Offre finale.PDF"}"')
    await asyncio.to_thread(screen.key, "Return")
    assert await asyncio.wait_for(picking, 20) == [folder / "Offre finale.PDF"]

    # A file of another type, typed in despite the filter, is not given to the page.
    picking = asyncio.create_task(consent.pick_files(SITE, False, (".pdf",)))
    await asyncio.to_thread(screen.wait_window, PICK_TITLE)
    await asyncio.to_thread(screen.type, str(folder / "notes.txt"))
    await asyncio.to_thread(screen.key, "Return")
    assert await asyncio.wait_for(picking, 20) == []

    # Annuler: nothing chosen.
    picking = asyncio.create_task(consent.pick_files(SITE, False, (".pdf",)))
    await asyncio.to_thread(screen.wait_window, PICK_TITLE)
    await asyncio.to_thread(screen.key, "Escape")
    assert await asyncio.wait_for(picking, 20) == []


async def test_no_display_means_consent_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(ProtocolError) as caught:
        await NativeConsent(timeout=5).ask(_sign_request())
    assert caught.value.code == "CONSENT_UNAVAILABLE"


def test_the_console_uses_the_system_chooser_when_a_screen_is_there(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.delenv("DISPLAY", raising=False)
    assert native_picker(settings) is None  # "auto" without a screen: the console's path field
    monkeypatch.setenv("DISPLAY", ":99")
    assert isinstance(native_picker(settings), NativeConsent)
    assert native_picker(Settings(state_dir=tmp_path, consent_file_picker="console")) is None


async def test_an_agent_with_native_consent_lists_picks_and_signs(
    home: Path, display: str, platform: PlatformServer, test_pki: TestPki, token: ProvisionedToken
) -> None:
    screen = XDoTool(display)
    document = home / "Mémoire technique.pdf"
    document.write_bytes(b"%PDF-1.4 memoire technique " * 500)
    write_config(home, allowed=[platform.origin], consent="native", consent_timeout=40,
                 extra=keystore_config(test_pki, token))
    seed_pairing(home, platform.origin)  # paired earlier: the windows of this test are the others
    agent = AgentProcess(home, free_port(), extra_env={"DISPLAY": display, "LANG": "fr_FR.UTF-8"}).start()
    frames: list[str] = []
    try:
        async with await BridgeClient.connect(platform.origin, ports=[agent.port]) as client:
            dispatch = client._dispatch
            client._dispatch = lambda item: (frames.append(json.dumps(item)), dispatch(item))[1]  # type: ignore[method-assign]
            listing = asyncio.create_task(client.call("certificates.list", {"purpose": "signing"}, timeout=60))
            await asyncio.to_thread(screen.wait_window, CONSENT_TITLE)
            await asyncio.to_thread(screen.key, "Return")  # the certificate list (no PIN for it)
            certificates = (await listing)["certificates"]
            cert = next(c for c in certificates if c["subject"] == "Jeanne TITULAIRE")

            picking = asyncio.create_task(client.call("files.pick", {"multiple": False, "accept": [".pdf"]}, timeout=60))
            await asyncio.to_thread(screen.wait_window, PICK_TITLE)
            await asyncio.to_thread(screen.type, str(document))
            await asyncio.to_thread(screen.key, "Return")
            (picked,) = (await picking)["files"]
            assert picked["name"] == document.name and str(home) not in json.dumps(picked)

            job = await client.start_job("sign", {"files": [{"handle": picked["handle"], "format": "cades"}],
                                                  "certificate": cert["id"]})
            await asyncio.to_thread(screen.wait_window, CONSENT_TITLE)
            await asyncio.to_thread(screen.type, token.pin)
            await asyncio.to_thread(screen.key, "Return")
            final = await client.wait_job(job["id"], timeout=60)
            assert final["state"] == "succeeded", final

            refused = await client.start_job("sign", {"files": [{"handle": picked["handle"], "format": "cades"}],
                                                      "certificate": cert["id"]})
            await asyncio.to_thread(screen.wait_window, CONSENT_TITLE)
            await asyncio.to_thread(screen.key, "Escape")
            failed = await client.wait_job(refused["id"], timeout=60)
            assert failed["state"] == "failed" and failed["error"]["code"] == "USER_CANCELLED", failed
            with pytest.raises(BridgeError):  # the page cannot answer for the user
                await client.call("consent.answer", {"approved": True})
    finally:
        agent.stop()

    (item,) = final["result"]["files"]
    signature = document.parent / item["output"]
    assert openssl_ok(test_pki, signature, document)
    assert hashlib.sha256(document.read_bytes()).hexdigest() in (agent.state_dir / "audit" / "audit.jsonl").read_text()
    assert platform.origin in (agent.state_dir / "pairings.json").read_text()
    pin = token.pin.encode()
    assert pin not in agent.output().encode()
    for path in home.rglob("*"):
        if path.is_file():
            assert pin not in path.read_bytes(), path
    assert frames and not [f for f in frames if token.pin in f]
