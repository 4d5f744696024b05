"""A minimal system tray (the freedesktop System Tray Protocol over XEmbed) for tests on Xvfb.

Xvfb has no notification area: pystray's X11 back end then has nowhere to dock its icon, and a
test cannot click it. ``SystrayManager`` owns the ``_NET_SYSTEM_TRAY_Sn`` selection, announces it
(``MANAGER``), and docks each icon that asks (``SYSTEM_TRAY_REQUEST_DOCK``): reparented into its
own window, 24×24, mapped — enough for a real click on the icon.
"""

from __future__ import annotations

import select
import threading
import time
from types import TracebackType

from Xlib import X, display
from Xlib.protocol import event

REQUEST_DOCK = 0
ICON_SIZE = 24


class SystrayManager:
    def __init__(self, display_name: str) -> None:
        self.display_name = display_name
        self.display = display.Display(display_name)
        screen = self.display.screen()
        self.window = screen.root.create_window(0, 0, 8 * ICON_SIZE, ICON_SIZE, 0, screen.root_depth,
                                                event_mask=X.SubstructureNotifyMask)
        self.window.set_wm_name("zone de notification de test")
        self.window.map()
        selection = self.display.intern_atom(f"_NET_SYSTEM_TRAY_S{self.display.get_default_screen()}")
        self.opcode = self.display.intern_atom("_NET_SYSTEM_TRAY_OPCODE")
        self.window.set_selection_owner(selection, X.CurrentTime)
        announce = event.ClientMessage(window=screen.root, client_type=self.display.intern_atom("MANAGER"),
                                       data=(32, [X.CurrentTime, selection, self.window.id, 0, 0]))
        screen.root.send_event(announce, event_mask=X.StructureNotifyMask)
        self.display.flush()
        #: Window ids of the docked icons.
        self.icons: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="test-systray", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            if not self.display.pending_events():
                select.select([self.display], [], [], 0.1)
                if not self.display.pending_events():
                    continue
            message = self.display.next_event()
            if message.type == X.ClientMessage and message.client_type == self.opcode \
                    and message.data[1][1] == REQUEST_DOCK:
                icon = self.display.create_resource_object("window", message.data[1][2])
                icon.reparent(self.window, ICON_SIZE * len(self.icons), 0)
                icon.configure(width=ICON_SIZE, height=ICON_SIZE)
                icon.map()
                self.display.flush()
                self.icons.append(icon.id)

    def wait_icon(self, timeout: float = 20) -> int:
        """The first docked icon's window id, once it is viewable (a click can reach it)."""
        deadline = time.monotonic() + timeout
        while not self.icons:
            if time.monotonic() > deadline:
                raise AssertionError(f"no icon docked in {timeout} s")
            time.sleep(0.05)
        icon = self.icons[0]
        probe = display.Display(self.display_name)  # a connection of its own: the serving thread owns the other
        try:
            window = probe.create_resource_object("window", icon)
            while window.get_attributes().map_state != X.IsViewable:
                if time.monotonic() > deadline:
                    raise AssertionError(f"the docked icon is not viewable after {timeout} s")
                time.sleep(0.05)
        finally:
            probe.close()
        return icon

    def click(self, icon: int) -> None:
        """A left-button press on ``icon``, sent to the window itself (XSendEvent with
        ButtonPressMask): it reaches the icon only if the icon's client selected ButtonPress on
        its window, as the X server's own delivery of a real click requires, and it does not
        depend on where the pointer is or on a grab another client may hold."""
        sender = display.Display(self.display_name)
        try:
            window = sender.create_resource_object("window", icon)
            root = sender.screen().root
            press = event.ButtonPress(time=X.CurrentTime, root=root, window=window, same_screen=1, child=X.NONE,
                                      root_x=12, root_y=12, event_x=12, event_y=12, state=0, detail=1)
            window.send_event(press, event_mask=X.ButtonPressMask)
            sender.flush()
            sender.sync()
        finally:
            sender.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.display.close()

    def __enter__(self) -> SystrayManager:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
