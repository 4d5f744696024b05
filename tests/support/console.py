"""Helpers for the local console's tests: a recording "browser" and a console session.

``COMPAGNON_BROWSER`` (agent.desktop.opener) points at a script that appends each address the agent
gives the browser to a file. The agent gives a ``file://`` redirect page (its code never goes on a
command line); ``urls()`` follows it to the console URL (with its one-time code), as a browser would.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import unquote, urlsplit

from agent.desktop.opener import redirect_target


class RecordingBrowser:
    """A program for COMPAGNON_BROWSER that records the URLs instead of opening them."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.log = folder / "opened-urls.txt"
        self.program = folder / "record-url.sh"
        self.program.write_text(f'#!/bin/sh\nprintf "%s\\n" "$1" >> "{self.log}"\n', encoding="utf-8")
        self.program.chmod(0o755)

    @property
    def env(self) -> dict[str, str]:
        return {"COMPAGNON_BROWSER": str(self.program)}

    def addresses(self) -> list[str]:
        """What the browser was given, as it was given."""
        try:
            return [line for line in self.log.read_text(encoding="utf-8").splitlines() if line]
        except FileNotFoundError:
            return []

    def urls(self) -> list[str]:
        """The URLs the browser was sent to, redirect pages followed."""
        return [redirect_target(Path(unquote(urlsplit(a).path))) if a.startswith("file://") else a
                for a in self.addresses()]

    def wait_for(self, count: int, timeout: float = 15.0) -> str:
        """The ``count``-th URL opened (1-based), waiting for it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            urls = self.urls()
            if len(urls) >= count:
                return urls[count - 1]
            time.sleep(0.05)
        raise AssertionError(f"the agent opened {len(self.urls())} console URL(s), expected {count}")


def console_origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def code_of(url: str) -> str:
    fragment = dict(p.split("=", 1) for p in urlsplit(url).fragment.split("&") if "=" in p)
    return fragment["k"]


def http(method: str, url: str, headers: dict[str, str] | None = None, body: object = None) -> tuple[int, dict[str, str], bytes]:
    """A plain HTTP request (no proxy): status, headers, body."""
    data = json.dumps(body).encode() if body is not None else (b"" if method == "POST" else None)
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if body is not None:
        request.add_header("Content-Type", "application/json")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def open_session(url: str) -> str:
    """Swap the one-time code of ``url`` for a console session token, as the page does."""
    origin = console_origin(url)
    status, _, body = http("POST", f"{origin}/console/api/session",
                           {"Origin": origin, "X-Compagnon-Code": code_of(url)})
    assert status == 200, (status, body)
    return json.loads(body)["token"]
