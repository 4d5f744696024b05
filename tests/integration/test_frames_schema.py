"""Docs true to behaviour: the frames a real agent exchanges with a page, for every method and every job
kind, match the published JSON Schema (bridge_protocol/schema/bridge.schema.json) and its strict
form (what this agent sends, exactly).

One real agent (``compagnon serve`` in a terminal, where a person types the consents, the PINs, the
pairing code it shows and the paths of ``files.pick``) and the demo platform; a client records
every frame both ways while it pairs, authenticates, lists certificates, uploads, picks, reads files,
and runs diagnose, sign, verify, keygen, encrypt, decrypt, bids.download and bids.open, then lists,
gets and cancels jobs, and makes a few calls the agent refuses.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import sys
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import jsonschema
import pexpect
import pytest
from aiohttp import web

from bridge_protocol.client import BridgeClient, BridgeError, ClientPairing, PairingSecrets
from agent.demo_platform.app import DemoState, create_demo_app
from agent.demo_platform.consultations import DEMO_CONSULTATION, DEPOSIT_CONSULTATION
from bridge_protocol.documents import SCHEMA_DIR, json_schema_document
from bridge_protocol.kinds import KINDS
from bridge_protocol.messages import METHODS, NOTIFICATIONS
from tests.integration.test_certificates_bridge import keystore_config
from tests.support.agent_process import ROOT, free_port, isolated_env, write_config
from tests.support.pdf import make_pdf

#: The new key file's password (typed as the keygen's "PIN"), then the PIN to open with it.
PASSWORD = "Bi-cle de test 7351"


class Terminal:
    """The person at ``compagnon serve``'s terminal: types the consent code of every prompt, then
    ``pin`` when a PIN is asked, the paths in ``picks`` when files are to be chosen, and hands the
    pairing code the agent shows to the page."""

    CONSENT = r"tapez ([A-Z]{4}) puis"
    #: A PIN, or a new key file's password and its confirmation.
    PIN = r"Code PIN|Nouveau mot de passe|Confirmez le mot de passe"
    PICK = r"Chemin du fichier"
    CODE = r"(?:taper dans la page|type in the page) ?: (\d{3} \d{3})"

    def __init__(self, child: pexpect.spawn) -> None:
        self.child = child
        self.pin = ""
        self.picks: list[Path] = []
        self.codes: asyncio.Queue[str] = asyncio.Queue()
        self.loop = asyncio.get_running_loop()
        self.prompts = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        patterns = [self.CONSENT, self.PIN, self.PICK, self.CODE, pexpect.TIMEOUT, pexpect.EOF]
        while not self._stop.is_set():
            which = self.child.expect(patterns, timeout=0.5)
            if which == 0:
                self.prompts += 1
                self.child.sendline(self.child.match.group(1))
            elif which == 1:
                self.child.sendline(self.pin)
            elif which == 2:
                for path in self.picks:
                    self.child.sendline(str(path))
                self.child.sendline("")
            elif which == 3:
                self.loop.call_soon_threadsafe(self.codes.put_nowait, self.child.match.group(1))
            elif which == 5:
                return

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


class Recorder:
    """Every frame a client sends and receives, decoded."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.received: list[dict[str, Any]] = []

    def attach(self, client: BridgeClient) -> BridgeClient:
        send, dispatch = client.ws.send_str, client._dispatch

        async def recorded_send(text: str, *args: Any, **kwargs: Any) -> None:
            self.sent.append(json.loads(text))
            await send(text, *args, **kwargs)

        def recorded_dispatch(item: dict[str, Any]) -> None:
            self.received.append(item)
            dispatch(item)

        client.ws.send_str = recorded_send  # type: ignore[method-assign]
        client._dispatch = recorded_dispatch  # type: ignore[method-assign]
        return client


@pytest.fixture
async def demo() -> AsyncIterator[str]:
    runner = web.AppRunner(create_demo_app(DemoState()))
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def _record_every_method_and_kind(home: Path, tmp_path: Path, site: str, test_pki, token  # type: ignore[no-untyped-def]
                                        ) -> list[Recorder]:
    write_config(home, allowed=[site], preapproved=[site], consent="prompt", consent_timeout=60,
                 extra=keystore_config(test_pki, token) + f'\n[signing]\noutput_dir = "{home / "Compagnon"}"\n')
    port = free_port()
    child = pexpect.spawn(sys.executable, ["-m", "agent", "serve", "--port", str(port)], cwd=str(ROOT),
                          env=isolated_env(home), encoding="utf-8", timeout=60)
    child.expect("en écoute sur")
    terminal = Terminal(child)
    recorders = [Recorder(), Recorder()]  # one per connection (request ids are per connection)

    async def read_code(origin: str, nonce: bytes) -> str:
        return await asyncio.wait_for(terminal.codes.get(), 30)

    pairing = ClientPairing(PairingSecrets(tmp_path / "page-keys.json"), read_code)
    async with aiohttp.ClientSession() as http, http.post(f"{site}/api/token") as response:
        bearer = (await response.json())["token"]
    pdf = make_pdf(pages=2, title="Offre")
    picked = tmp_path / "Annexe financière.pdf"
    picked.write_bytes(make_pdf(title="Annexe"))
    try:
        # agent.hello and agent.pair on a first connection.
        first = recorders[0].attach(await BridgeClient.connect(site, ports=[port], pairing=pairing))
        await first.hello(locale="fr")
        await first.pair()
        await first.close()
        # agent.auth on the next one, then everything else.
        client = await BridgeClient.connect(site, ports=[port], pairing=pairing, authenticate=False)
        recorders[1].attach(client)
        client.pairing = pairing
        await client.hello()
        await client.authenticate()
        signing = await client.call("certificates.list", {"purpose": "signing"}, timeout=90)
        await client.call("certificates.list", {"purpose": "decryption"}, timeout=90)
        certificate = next(c["id"] for c in signing["certificates"] if c["suitable"])
        half = len(pdf) // 2
        put = await client.call("files.put", {"name": "Offre.pdf", "data": base64.b64encode(pdf[:half]).decode()})
        put = await client.call("files.put", {"handle": put["handle"], "data": base64.b64encode(pdf[half:]).decode(),
                                              "final": True})
        terminal.picks = [picked]
        chosen = await client.call("files.pick", {"multiple": True, "accept": [".pdf"]}, timeout=90)
        assert [f["name"] for f in chosen["files"]] == [picked.name]

        async def run(kind: str, params: dict[str, Any], pin: str = "") -> dict[str, Any]:
            terminal.pin = pin
            job = await client.start_job(kind, params)
            final = await client.wait_job(job["id"], timeout=180)
            assert final["state"] == "succeeded", final
            return final

        await run("diagnose", {"user_agent": "Mozilla/5.0 Chrome/156.0.0.0"})
        signed = await run("sign", {"files": [{"handle": put["handle"], "format": "pades"},
                                              {"handle": chosen["files"][0]["handle"], "format": "cades"}],
                                    "certificate": certificate, "upload_url": "/api/signatures", "token": bearer},
                           pin=token.pin)
        output = signed["result"]["files"][0]["output_handle"]
        chunk = await client.call("files.get", {"handle": output, "offset": 0, "length": 4096})
        assert base64.b64decode(chunk["data"]).startswith(b"%PDF")
        await run("verify", {"handle": output})
        await run("verify", {"files": [{"handle": output}, {"handle": put["handle"]}]})
        await run("keygen", {"name": "Marie ACHETEUSE", "register_url": "/api/keys", "token": bearer}, pin=PASSWORD)
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {bearer}"}) as http:
            async with http.get(f"{site}/api/consultations/{DEPOSIT_CONSULTATION}/recipients") as response:
                recipients = (await response.json())["certificates"]
        sealed = await run("encrypt", {"files": [{"handle": put["handle"]}], "recipients": recipients,
                                       "algorithm": "aes-256-gcm", "token": bearer,
                                       "upload_url": f"/api/consultations/{DEPOSIT_CONSULTATION}/plis?depot=d1"})
        await run("decrypt", {"files": [{"handle": sealed["result"]["files"][0]["output_handle"]}]}, pin=PASSWORD)
        await run("bids.download", {"url": f"/api/consultations/{DEMO_CONSULTATION}", "token": bearer})
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {bearer}"}) as http:
            async with http.post(f"{site}/api/consultations/{DEPOSIT_CONSULTATION}/deadline",
                                 json={"in_seconds": 0}) as response:  # the deposits close: plis may open
                assert response.status == 200, await response.text()
        opened = await run("bids.open", {"url": f"/api/consultations/{DEPOSIT_CONSULTATION}", "token": bearer},
                           pin=PASSWORD)
        jobs = await client.call("jobs.list", {"limit": 20})
        assert len(jobs) >= 9
        await client.call("jobs.get", {"id": opened["id"]})
        await client.call("jobs.cancel", {"id": opened["id"]})  # a finished job: a no-op
        for method, params in (("jobs.get", {"id": "inconnu"}), ("agent.inconnu", {}),
                               ("files.get", {"handle": "absent"}), ("jobs.start", {"kind": "inconnu"})):
            with pytest.raises(BridgeError):
                await client.call(method, params)
        await client.close()
        assert terminal.prompts >= 5  # certificates, sign, keygen, decrypt, bids.open: typed in the terminal
    finally:
        terminal.stop()
        child.terminate(force=True)
    return recorders


def _validator(schema: dict[str, Any], node: dict[str, Any]) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator({**node, "$defs": schema["$defs"]})


def check_frames(schema: dict[str, Any], *recorders: Recorder) -> dict[str, set[str]]:
    """Validate every recorded frame; what was seen: methods answered, kinds with a result, errors."""
    seen: dict[str, set[str]] = {"requests": set(), "results": set(), "kinds": set(), "errors": set(),
                                 "notifications": set()}
    for recorder in recorders:
        _check_connection(schema, recorder, seen)
    return seen


def _check_connection(schema: dict[str, Any], recorder: Recorder, seen: dict[str, set[str]]) -> None:
    methods = schema["x-methods"]
    asked: dict[Any, dict[str, Any]] = {}
    for frame in recorder.sent:
        assert frame["jsonrpc"] == "2.0"
        method = frame["method"]
        asked[frame.get("id")] = frame
        if method in methods:
            _validator(schema, methods[method]["params"]).validate(frame.get("params", {}))
            seen["requests"].add(method)
            if method == "jobs.start" and frame["params"].get("kind") in schema["x-kinds"]:
                kind = frame["params"]["kind"]
                _validator(schema, schema["x-kinds"][kind]["params"]).validate(frame["params"].get("params", {}))

    def job(snapshot: dict[str, Any]) -> None:
        _validator(schema, {"$ref": "#/$defs/JobSnapshot"}).validate(snapshot)
        if snapshot["result"] is not None and snapshot["kind"] in schema["x-kinds"]:
            _validator(schema, schema["x-kinds"][snapshot["kind"]]["result"]).validate(snapshot["result"])
            seen["kinds"].add(snapshot["kind"])

    for frame in recorder.received:
        assert frame["jsonrpc"] == "2.0"
        if "method" in frame:
            _validator(schema, schema["x-notifications"][frame["method"]]).validate(frame["params"])
            seen["notifications"].add(frame["method"])
            job(frame["params"]["job"])
            continue
        request = asked[frame["id"]]
        if "error" in frame:
            _validator(schema, {"$ref": "#/$defs/RpcError"}).validate(frame["error"])
            seen["errors"].add(frame["error"]["data"]["code"])
            continue
        method = request["method"]
        _validator(schema, methods[method]["result"]).validate(frame["result"])
        seen["results"].add(method)
        if method.startswith("jobs."):
            for snapshot in frame["result"] if isinstance(frame["result"], list) else [frame["result"]]:
                job(snapshot)


async def test_real_frames_of_every_method_and_kind_match_the_schema(home: Path, tmp_path: Path, demo: str,
                                                                     test_pki, token) -> None:  # type: ignore[no-untyped-def]
    recorders = await _record_every_method_and_kind(home, tmp_path, demo, test_pki, token)
    published = json.loads((SCHEMA_DIR / "bridge.schema.json").read_text(encoding="utf-8"))
    for schema in (published, json_schema_document(strict=True)):
        seen = check_frames(schema, *recorders)
        assert seen["requests"] == set(METHODS) and seen["results"] == set(METHODS), seen
        assert seen["kinds"] == set(KINDS), seen  # a result of every kind
        assert seen["notifications"] == set(NOTIFICATIONS)
        assert {"JOB_NOT_FOUND", "METHOD_NOT_FOUND", "FILE_NOT_FOUND", "UNKNOWN_JOB_KIND"} <= seen["errors"], seen
    # The PIN and the password never travel over the bridge.
    text = json.dumps([[r.sent, r.received] for r in recorders])
    assert token.pin not in text and PASSWORD not in text


def test_the_frame_check_refuses_a_frame_off_the_schema() -> None:
    """What the check catches: a result member of the wrong type, a snapshot missing a member, an
    error without its stable code."""
    schema = json_schema_document(strict=True)
    snapshot = {"id": "j", "kind": "verify", "state": "succeeded", "progress": 100, "steps": [], "current": None,
                "message": None, "error": None, "created_at": "t", "updated_at": "t", "speed": None,
                "subject": None, "result": {"report": {}, "indication": "TOTAL_PASSED", "report_name": "r",
                                            "report_handle": None, "summary": None}}
    good = Recorder()
    good.sent.append({"jsonrpc": "2.0", "id": 1, "method": "jobs.get", "params": {"id": "j"}})
    good.received.append({"jsonrpc": "2.0", "id": 1, "result": snapshot})
    assert check_frames(schema, good)["kinds"] == {"verify"}
    for broken in ({**snapshot, "result": {**snapshot["result"], "indication": "PASSED"}},
                   {k: v for k, v in snapshot.items() if k != "subject"}):
        bad = Recorder()
        bad.sent.append(good.sent[0])
        bad.received.append({"jsonrpc": "2.0", "id": 1, "result": broken})
        with pytest.raises(jsonschema.ValidationError):
            check_frames(schema, bad)
    no_code = Recorder()
    no_code.sent.append(good.sent[0])
    no_code.received.append({"jsonrpc": "2.0", "id": 1, "error": {"code": -32021, "message": "x", "data": {}}})
    with pytest.raises(jsonschema.ValidationError):
        check_frames(schema, no_code)
    assert re.search("strict", json_schema_document.__doc__ or "")
