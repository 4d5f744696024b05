"""A small WebDriver BiDi client for Debian's firefox-esr (W3C WebDriver BiDi, the protocol
Firefox speaks on ``--remote-debugging-port``): start the browser, navigate, evaluate scripts,
click like a user (input.performActions), type, hand files to an ``<input type=file>``.

Why our own: no Firefox driver fits Debian's firefox-esr from the registries this project uses.
Debian has no geckodriver package; PyPI's and npm's geckodriver packages download the binary
from GitHub when installed or first run; Playwright's Firefox is a patched build it downloads,
and its BiDi mode for stock Firefox (``channel="moz-firefox"``) sends commands Firefox ESR 153 does
not know (``emulation.setMediaFeaturesOverride``). Firefox itself speaks BiDi: this client only
sends the standard commands.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import aiohttp

FIREFOX = shutil.which("firefox-esr") or "/usr/bin/firefox-esr"
#: Profile preferences: no first-run pages, no updates or telemetry, no network chatter.
PREFS = {
    "browser.shell.checkDefaultBrowser": False,
    "browser.startup.homepage_override.mstone": "ignore",
    "datareporting.policy.dataSubmissionEnabled": False,
    "toolkit.telemetry.reportingpolicy.firstRun": False,
    "app.update.disabledForTesting": True,
    "network.captive-portal-service.enabled": False,
    "browser.safebrowsing.malware.enabled": False,
    "browser.safebrowsing.phishing.enabled": False,
    "extensions.update.enabled": False,
}


class BidiError(AssertionError):
    """A BiDi command answered with an error, or a wait that timed out."""


class Firefox:
    """One headless firefox-esr with one tab, driven over WebDriver BiDi."""

    def __init__(self, folder: Path, prefs: dict[str, object] | None = None) -> None:
        self.folder = folder
        self.prefs = {**PREFS, **(prefs or {})}
        self.proc: subprocess.Popen[bytes] | None = None
        self.context = ""
        self._user_context: str | None = None
        self.console: list[str] = []
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._reader: asyncio.Task[None] | None = None

    async def start(self, timeout: float = 60.0) -> Firefox:
        profile = self.folder / "profile"
        profile.mkdir(parents=True, exist_ok=True)
        (profile / "user.js").write_text(
            "".join(f"user_pref({json.dumps(k)}, {json.dumps(v)});\n" for k, v in self.prefs.items()), encoding="utf-8")
        env = {**os.environ, "HOME": str(self.folder), "MOZ_CRASHREPORTER_DISABLE": "1"}
        env.pop("DISPLAY", None)
        self.proc = await asyncio.to_thread(
            subprocess.Popen,
            [FIREFOX, "--headless", "--no-remote", "--remote-debugging-port=0", "--profile", str(profile)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        assert self.proc.stderr is not None
        url = await asyncio.wait_for(asyncio.to_thread(self._listening_url, self.proc.stderr), timeout)
        self._session = aiohttp.ClientSession()
        self._ws = await self._session.ws_connect(url + "/session", max_msg_size=64 * 1024 * 1024)
        self._reader = asyncio.create_task(self._read())
        await self.send("session.new", {"capabilities": {"alwaysMatch": {"acceptInsecureCerts": True}}})
        await self.send("session.subscribe", {"events": ["log.entryAdded"]})
        tree = await self.send("browsingContext.getTree", {})
        self.context = tree["contexts"][0]["context"]
        return self

    @staticmethod
    def _listening_url(stream) -> str:  # type: ignore[no-untyped-def]
        for raw in iter(stream.readline, b""):
            match = re.search(r"WebDriver BiDi listening on (ws://\S+)", raw.decode("utf-8", "replace"))
            if match:
                return match.group(1)
        raise BidiError("firefox-esr ended before it listened for WebDriver BiDi")

    async def _read(self) -> None:
        assert self._ws is not None
        async for message in self._ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            data = json.loads(message.data)
            if data.get("type") == "event":
                if data.get("method") == "log.entryAdded":
                    self.console.append(str(data["params"].get("text")))
                continue
            future = self._pending.pop(data.get("id"), None)
            if future is not None and not future.done():
                future.set_result(data)
        for future in self._pending.values():
            if not future.done():
                future.set_exception(BidiError("the BiDi connection closed"))

    async def send(self, method: str, params: dict[str, Any], timeout: float = 60.0) -> dict[str, Any]:
        assert self._ws is not None
        command_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[command_id] = future
        await self._ws.send_str(json.dumps({"id": command_id, "method": method, "params": params}))
        answer = await asyncio.wait_for(future, timeout)
        if answer.get("type") == "error":
            raise BidiError(f"{method}: {answer.get('error')}: {answer.get('message')}")
        return dict(answer.get("result") or {})

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            if self._ws is not None:
                await asyncio.wait_for(self.send("browser.close", {}), 10)
        if self._reader is not None:
            self._reader.cancel()
        if self._session is not None:
            await self._session.close()
        if self.proc is not None:
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            if self.proc.stderr is not None:
                self.proc.stderr.close()

    async def fresh_tab(self) -> None:
        """Go on in a new tab of a new user context (its own cookies, storage and IndexedDB, as a
        new browser profile), closing the previous one."""
        user = (await self.send("browser.createUserContext", {}))["userContext"]
        tab = (await self.send("browsingContext.create", {"type": "tab", "userContext": user}))["context"]
        previous, previous_user = self.context, self._user_context
        self.context, self._user_context = tab, user
        if previous:
            await self.send("browsingContext.close", {"context": previous})
        if previous_user is not None:
            await self.send("browser.removeUserContext", {"userContext": previous_user})

    # -- the page -------------------------------------------------------------------------
    async def goto(self, url: str) -> None:
        await self.send("browsingContext.navigate", {"context": self.context, "url": url, "wait": "complete"})

    async def evaluate(self, expression: str) -> Any:
        """The value of ``expression`` (promises awaited), as JSON: its result is serialised by
        the page, so any JSON value comes back as is."""
        result = await self.send("script.evaluate", {
            "expression": f"Promise.resolve({expression}).then((v) => JSON.stringify(v === undefined ? null : v))",
            "target": {"context": self.context}, "awaitPromise": True})
        if result.get("type") == "exception":
            raise BidiError(f"{expression}: {result['exceptionDetails'].get('text')}")
        return json.loads(result["result"]["value"])

    async def wait_for(self, expression: str, timeout: float = 15.0) -> Any:
        """Poll ``expression`` until it is truthy; its value."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            last = await self.evaluate(expression)
            if last:
                return last
            await asyncio.sleep(0.1)
        raise BidiError(f"still falsy after {timeout} s: {expression} (last {last!r})")

    async def text(self, selector: str) -> str:
        return str(await self.evaluate(f"document.querySelector({json.dumps(selector)})?.textContent ?? null"))

    async def wait_text(self, selector: str, expected: str, timeout: float = 15.0) -> None:
        """Wait until the element's text contains ``expected``."""
        await self.wait_for(f"(document.querySelector({json.dumps(selector)})?.textContent || '')"
                            f".includes({json.dumps(expected)})", timeout)

    async def _node(self, selector: str) -> dict[str, Any]:
        result = await self.send("script.evaluate", {
            "expression": f"document.querySelector({json.dumps(selector)})",
            "target": {"context": self.context}, "awaitPromise": False})
        node = result.get("result", {})
        if node.get("type") != "node":
            raise BidiError(f"no element {selector}")
        return {"sharedId": node["sharedId"]}

    async def click(self, selector: str) -> None:
        """A real pointer click in the element's middle (a user gesture for the page), scrolled
        into view first as a user would."""
        element = await self._node(selector)
        await self.evaluate(f"document.querySelector({json.dumps(selector)}).scrollIntoView({{block: 'center'}})")
        await self.send("input.performActions", {"context": self.context, "actions": [{
            "type": "pointer", "id": "mouse", "parameters": {"pointerType": "mouse"}, "actions": [
                {"type": "pointerMove", "x": 0, "y": 0, "origin": {"type": "element", "element": element}},
                {"type": "pointerDown", "button": 0}, {"type": "pointerUp", "button": 0}]}]})

    async def type(self, selector: str, text: str) -> None:
        """Focus the element by a click, then type ``text`` key by key."""
        await self.click(selector)
        keys = [action for ch in text for action in ({"type": "keyDown", "value": ch}, {"type": "keyUp", "value": ch})]
        await self.send("input.performActions", {"context": self.context, "actions": [
            {"type": "key", "id": "keyboard", "actions": keys}]})

    async def set_files(self, selector: str, paths: list[Path]) -> None:
        await self.send("input.setFiles", {"context": self.context, "element": await self._node(selector),
                                           "files": [str(p) for p in paths]})
