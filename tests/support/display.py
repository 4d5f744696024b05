"""A virtual screen for the desktop tests: Xvfb, and xdotool to act as the user on it.

Both are Debian packages (``xvfb``, ``xdotool``) that tests/run_all.sh installs; without them the
tests that need a screen fail, they are not skipped.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator

import pytest


@contextlib.contextmanager
def xvfb_display(size: str = "1024x768x24") -> Iterator[str]:
    """A display of our own (``":N"``): Xvfb on the first free display number (``-displayfd``)."""
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        pytest.fail("Xvfb is missing: install the Debian package xvfb (tests/run_all.sh installs it)")
    read, write = os.pipe()
    proc = subprocess.Popen([xvfb, "-displayfd", str(write), "-screen", "0", size, "-nolisten", "tcp"],
                            pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write)
    number = b""
    deadline = time.monotonic() + 20
    while not number.endswith(b"\n") and time.monotonic() < deadline:
        chunk = os.read(read, 16)
        if not chunk:
            break
        number += chunk
    os.close(read)
    if not number.strip().isdigit():
        proc.kill()
        pytest.fail(f"Xvfb did not start (exit {proc.poll()})")
    try:
        yield f":{number.decode().strip()}"
    finally:
        proc.terminate()
        proc.wait(10)


class XDoTool:
    """The user's keyboard and mouse on ``display``, through xdotool (XTEST: real input events)."""

    def __init__(self, display: str) -> None:
        if shutil.which("xdotool") is None:
            pytest.fail("xdotool is missing: install the Debian package xdotool (tests/run_all.sh installs it)")
        self.env = os.environ | {"DISPLAY": display}

    def _run(self, *args: str, timeout: float = 20) -> str:
        result = subprocess.run(["xdotool", *args], env=self.env, capture_output=True, text=True, timeout=timeout)
        return result.stdout.strip()

    def windows(self, name: str) -> list[str]:
        """Visible windows whose title matches ``name`` (a regular expression)."""
        return self._run("search", "--onlyvisible", "--name", name).split()

    def wait_window(self, name: str, timeout: float = 20) -> str:
        """The window titled ``name``, once it is on screen and has had time to draw and take focus."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.windows(name)
            if found:
                # The window gives its field the keyboard some time after it maps (200-300 ms, more on
                # a loaded machine): keys typed before then are lost.
                self.wait_focus(int(found[-1]), max(1.0, deadline - time.monotonic()))
                time.sleep(0.2)
                return found[-1]
            time.sleep(0.1)
        raise AssertionError(f"no window titled {name!r} appeared in {timeout} s")

    def wait_focus(self, window: int, timeout: float) -> None:
        """Until the keyboard's focus is ``window`` or one of its children (X11 GetInputFocus)."""
        from Xlib.display import Display

        display = Display(self.env["DISPLAY"])
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                focus = display.get_input_focus().focus
                while not isinstance(focus, int):  # X.NONE and X.PointerRoot are ints
                    if focus.id == window:
                        return
                    parent = focus.query_tree().parent
                    if not parent or parent.id == focus.id:
                        break
                    focus = parent
                time.sleep(0.05)
        finally:
            display.close()
        raise AssertionError(f"window {window} did not take the keyboard in {timeout:.0f} s")

    def wait_gone(self, name: str, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while self.windows(name):
            if time.monotonic() > deadline:
                raise AssertionError(f"the window titled {name!r} is still there after {timeout} s")
            time.sleep(0.1)

    def type(self, text: str) -> None:
        self._run("type", "--delay", "15", text)

    def key(self, *keys: str) -> None:
        self._run("key", *keys)

    def click(self, window: int | str, x: int = 12, y: int = 12) -> None:
        """A left click at (x, y) of ``window``."""
        self._run("mousemove", "--window", str(window), str(x), str(y), "click", "1")

    def wait_class(self, window_class: str, timeout: float = 20) -> str:
        """A visible window of class ``window_class`` (Tk's popup menus are "Menu")."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self._run("search", "--onlyvisible", "--class", window_class).split()
            if found:
                time.sleep(0.4)
                return found[-1]
            time.sleep(0.1)
        raise AssertionError(f"no window of class {window_class!r} appeared in {timeout} s")
