"""Opening the console in the user's browser without putting its one-time code on a command line.

A browser's arguments are world-readable (``/proc/PID/cmdline``), so the console URL, which carries
a one-time code (agent.desktop.console), is never given to the browser directly: it is written into
a small redirect page in a folder only the user can enter (0700, the page itself 0600), and the
browser is given that page's ``file://`` address — the way notebook servers hand their token over
(docs/SECURITY.md promise 11). Redirect pages older than ``KEEP_SECONDS`` are removed when a new
one is written and when the agent stops.

``COMPAGNON_BROWSER`` names a program run as ``PROGRAM URL`` (no shell) instead of the
``webbrowser`` module's choice; the tests point it at a script that records what it is given.
"""

from __future__ import annotations

import html
import json
import logging
import os
import secrets
import subprocess
import threading
import time
import webbrowser
from pathlib import Path

from ..fsutil import private_folder

log = logging.getLogger(__name__)

ENV_BROWSER = "COMPAGNON_BROWSER"
#: How long a redirect page stays (the browser may take a while to start and read it).
KEEP_SECONDS = 600
_PAGE_PREFIX = "console-"


def redirect_page(url: str, folder: Path) -> Path:
    """Write a 0600 page in ``folder`` that sends the browser to ``url``; returns its path."""
    private_folder(folder, own=True)
    prune_redirect_pages(folder, older_than=KEEP_SECONDS)
    path = folder / f"{_PAGE_PREFIX}{secrets.token_hex(8)}.html"
    attribute = html.escape(url, quote=True)
    page = (
        "<!doctype html><html><head><meta charset=\"utf-8\">"
        "<meta name=\"referrer\" content=\"no-referrer\">"
        f"<meta http-equiv=\"refresh\" content=\"0;url={attribute}\"><title>Compagnon</title></head>"
        f"<body><script>location.replace({json.dumps(url)})</script>"
        f"<a id=\"console\" href=\"{attribute}\">Compagnon</a></body></html>\n"
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as stream:
        stream.write(page)
    return path


def redirect_target(page: Path) -> str:
    """The URL a redirect page written by ``redirect_page`` leads to."""
    text = page.read_text(encoding="utf-8")
    start = text.index('<a id="console" href="') + len('<a id="console" href="')
    return html.unescape(text[start:text.index('"', start)])


def prune_redirect_pages(folder: Path, *, older_than: float = 0.0) -> None:
    """Remove the redirect pages of ``folder`` last written more than ``older_than`` seconds ago."""
    limit = time.time() - older_than
    try:
        pages = list(folder.glob(f"{_PAGE_PREFIX}*.html"))
    except OSError:
        return
    for page in pages:
        try:
            if page.stat().st_mtime <= limit:
                page.unlink()
        except OSError:
            continue


def open_url(url: str, *, folder: Path) -> None:
    """Open ``url`` through a redirect page in ``folder``, without blocking the caller (the
    browser may take seconds to start)."""
    page = redirect_page(url, folder)
    threading.Thread(target=_open, args=(page.as_uri(),), name="open-console", daemon=True).start()


def _open(address: str) -> None:
    program = os.environ.get(ENV_BROWSER)
    try:
        if program:
            subprocess.run([program, address], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=60, check=False)
        elif not webbrowser.open(address, new=2):
            log.warning("no web browser could open the console")
    except Exception as exc:  # noqa: BLE001 — a browser that fails to start must not stop the agent
        log.warning("opening the console failed: %s", type(exc).__name__)
