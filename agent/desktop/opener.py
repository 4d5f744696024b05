"""Opening a URL in the user's browser (the console), replaceable for tests.

``COMPAGNON_BROWSER`` names a program run as ``PROGRAM URL`` (no shell) instead of the
``webbrowser`` module's choice; the tests point it at a script that records the URL. The URL
carries a one-time code only (agent.desktop.console): it is spent as soon as the page opens, so
its brief presence on the browser's command line gives nothing lasting away.
"""

from __future__ import annotations

import logging
import os
import subprocess
import threading
import webbrowser

log = logging.getLogger(__name__)

ENV_BROWSER = "COMPAGNON_BROWSER"


def open_url(url: str) -> None:
    """Open ``url`` without blocking the caller (the browser may take seconds to start)."""
    threading.Thread(target=_open, args=(url,), name="open-console", daemon=True).start()


def _open(url: str) -> None:
    program = os.environ.get(ENV_BROWSER)
    try:
        if program:
            subprocess.run([program, url], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=60, check=False)
        elif not webbrowser.open(url, new=2):
            log.warning("no web browser could open the console")
    except Exception as exc:  # the URL is not logged: it holds a one-time code
        log.warning("opening the console failed: %s", type(exc).__name__)
