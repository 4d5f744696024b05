"""The agent's native windows (tkinter), each run alone in a child process by agent.desktop.dialogs.

    python -m agent --native-dialog        (a frozen build: compagnon --native-dialog)

reads one JSON *view* on stdin, shows one window, writes one JSON answer on stdout and exits.
The view holds every text already in the user's language (agent.desktop.dialogs builds it), so
this module only lays widgets out: it imports nothing of the agent, and starts in a few tens of
milliseconds.

Views and answers:

* ``{"type": "consent", ...}`` — who asks (the origin), what will be done, the files with size and
  SHA-256, the certificate, a PIN field when the key needs one (with ``notice`` above it when the
  PIN is asked again; a second field and the rule for a new password, checked here), "Autoriser" /
  "Refuser" and a countdown. Answers ``{"approved": true, "pin": "..."}`` (plus ``"confirmed": true``
  for a new password typed twice alike), ``{"approved": false}`` (Refuser,
  Escape, the window closed) or ``{"timeout": true}``. The PIN leaves only through stdout, a pipe
  read by the agent.
* ``{"type": "menu", ...}`` — the tray's menu as a popup at the pointer, where the icon's back end
  shows none (plain X11). Answers ``{"action": name}`` or ``{"action": null}``.
* ``{"type": "pick", ...}`` — the system's file chooser (Tk's own on X11, the native one on
  Windows and macOS), filtered to the accepted types. Answers ``{"paths": [...]}`` (empty when
  cancelled) or ``{"timeout": true}``.
"""

from __future__ import annotations

import json
import sys
from typing import Any

#: A view is small; refuse anything larger than this on stdin.
MAX_VIEW_BYTES = 4 * 1024 * 1024


def _topmost(root: Any, focus: Any = None) -> None:
    """Bring the window to the front and give ``focus`` (else the window) the keyboard: it is
    opened by a background process, not by a click."""
    root.attributes("-topmost", True)
    root.lift()
    root.after(200, lambda: (focus or root).focus_force())


def consent_window(view: dict[str, Any]) -> dict[str, Any]:
    """The consent window; returns the answer."""
    import tkinter as tk
    from tkinter import font as tkfont
    from tkinter import ttk

    answer: dict[str, Any] = {"approved": False}
    root = tk.Tk(className="compagnon")
    root.title(view["title"])
    root.minsize(560, 200)
    frame = ttk.Frame(root, padding=16)
    frame.grid(sticky="nsew")
    root.columnconfigure(0, weight=1)
    root.rowconfigure(0, weight=1)
    frame.columnconfigure(1, weight=1)
    bold = ("TkDefaultFont", 11, "bold")

    row = 0
    ttk.Label(frame, text=view["question"], font=bold, wraplength=640).grid(row=row, column=0, columnspan=2, sticky="w")
    row += 1
    if view.get("notice"):  # why the PIN is asked again: the tries left, as the token says
        ttk.Label(frame, text=view["notice"], foreground="#b00020", wraplength=640).grid(
            row=row, column=0, columnspan=2, sticky="w", pady=(8, 0))
        row += 1
    ttk.Label(frame, text=view["site_label"]).grid(row=row, column=0, sticky="nw", pady=(8, 0))
    ttk.Label(frame, text=view["origin"], font=bold).grid(row=row, column=1, sticky="w", padx=(12, 0), pady=(8, 0))
    row += 1
    ttk.Label(frame, text=view["summary"], wraplength=640, justify="left").grid(
        row=row, column=0, columnspan=2, sticky="w", pady=(8, 0))
    row += 1
    if view["files"]:
        columns = ("name", "size", "sha256")
        table = ttk.Treeview(frame, columns=columns, show="headings", height=min(len(view["files"]), 8))
        text_font = tkfont.nametofont("TkDefaultFont")
        widths = [min(360, max(text_font.measure(str(f[i])) for f in view["files"]) + 16) for i in (0, 1)]
        widths.append(text_font.measure("0" * 64) + 16)  # a whole SHA-256, never cut
        for column, title, width in zip(columns, view["columns"], widths):
            table.heading(column, text=title, anchor="w")
            table.column(column, width=width, stretch=column != "size", anchor="w")
        for name, size, sha256 in view["files"]:
            table.insert("", "end", values=(name, size, sha256))
        scroll = ttk.Scrollbar(frame, orient="vertical", command=table.yview)
        table.configure(yscrollcommand=scroll.set)
        table.grid(row=row, column=0, columnspan=2, sticky="nsew", pady=(8, 0))
        scroll.grid(row=row, column=2, sticky="ns", pady=(8, 0))
        frame.rowconfigure(row, weight=1)
        row += 1
    if view.get("certificate"):
        ttk.Label(frame, text=view["certificate_label"]).grid(row=row, column=0, sticky="w", pady=(8, 0))
        ttk.Label(frame, text=view["certificate"]).grid(row=row, column=1, sticky="w", padx=(12, 0), pady=(8, 0))
        row += 1
    pin = tk.StringVar(master=root)
    confirm = tk.StringVar(master=root)
    entry = None
    new_password = view["needs_pin"] and view.get("new_password")
    if view["needs_pin"]:
        if new_password and view.get("password_rule"):  # the rule, before anything is typed
            ttk.Label(frame, text=view["password_rule"], wraplength=640).grid(
                row=row, column=0, columnspan=2, sticky="w", pady=(8, 0))
            row += 1
        ttk.Label(frame, text=view["pin_label"]).grid(row=row, column=0, sticky="w", pady=(8, 0))
        entry = ttk.Entry(frame, textvariable=pin, show="•", width=24)
        entry.grid(row=row, column=1, sticky="w", padx=(12, 0), pady=(8, 0))
        row += 1
        if new_password:
            ttk.Label(frame, text=view["confirm_label"]).grid(row=row, column=0, sticky="w", pady=(8, 0))
            ttk.Entry(frame, textvariable=confirm, show="•", width=24).grid(
                row=row, column=1, sticky="w", padx=(12, 0), pady=(8, 0))
            row += 1
    error = ttk.Label(frame, text="", foreground="#b00020")
    error.grid(row=row, column=0, columnspan=2, sticky="w", pady=(8, 0))
    row += 1
    countdown = ttk.Label(frame, text="")
    countdown.grid(row=row, column=0, columnspan=2, sticky="w")
    row += 1

    def approve(*_: object) -> None:
        if view["needs_pin"] and not pin.get():
            error.configure(text=view["pin_required"])
            return
        if new_password:  # the same twice and long enough, else asked again in the same window
            if len(pin.get()) < int(view.get("min_length") or 0):
                error.configure(text=view["too_short"])
                return
            if pin.get() != confirm.get():
                error.configure(text=view["mismatch"])
                confirm.set("")
                return
        answer.clear()
        answer.update({"approved": True} | ({"pin": pin.get()} if view["needs_pin"] else {})
                      | ({"confirmed": True} if new_password else {}))
        root.destroy()

    def refuse(*_: object) -> None:
        answer.clear()
        answer.update({"approved": False})
        root.destroy()

    buttons = ttk.Frame(frame)
    buttons.grid(row=row, column=0, columnspan=3, sticky="e", pady=(12, 0))
    ttk.Button(buttons, text=view["refuse"], command=refuse).pack(side="right")
    ttk.Button(buttons, text=view["approve"], command=approve, default="active").pack(side="right", padx=(0, 8))
    root.bind("<Return>", approve)
    root.bind("<KP_Enter>", approve)
    root.bind("<Escape>", refuse)
    root.protocol("WM_DELETE_WINDOW", refuse)

    remaining = [int(view["timeout"])]

    def tick() -> None:
        if remaining[0] <= 0:
            answer.clear()
            answer.update({"timeout": True})
            root.destroy()
            return
        countdown.configure(text=view["countdown"].replace("{seconds}", str(remaining[0])))
        remaining[0] -= 1
        root.after(1000, tick)

    tick()
    _topmost(root, entry)
    root.mainloop()
    return answer


def pick_window(view: dict[str, Any]) -> dict[str, Any]:
    """The system's file chooser; returns ``{"paths": [...]}`` or ``{"timeout": true}``."""
    import tkinter as tk
    from tkinter import filedialog

    root = tk.Tk(className="compagnon")
    root.withdraw()
    root.attributes("-topmost", True)
    try:  # Tk's own chooser (X11) speaks the user's language too
        root.tk.eval(f"package require msgcat; ::msgcat::mclocale {view['locale']}")
    except tk.TclError:
        pass
    timed_out = [False]

    def expire() -> None:
        timed_out[0] = True
        root.destroy()  # closes the chooser with its parent

    def focus_chooser() -> None:
        """Tk's own chooser (X11): give its file name field the keyboard (a no-op elsewhere)."""
        try:
            root.tk.eval("if {[winfo exists .__tk_filedialog]} {focus -force [focus -lastfor .__tk_filedialog]}")
        except tk.TclError:
            pass

    root.after(300, focus_chooser)
    root.after(int(view["timeout"] * 1000), expire)
    filetypes = [(label, " ".join(patterns)) for label, patterns in view["filetypes"]] or [(view["all_files"], "*")]
    options: dict[str, Any] = {"parent": root, "title": view["title"], "filetypes": filetypes,
                               "initialdir": view["initialdir"]}
    try:
        chosen: Any = (filedialog.askopenfilenames(**options) if view["multiple"]
                       else filedialog.askopenfilename(**options))
    except tk.TclError:  # the window went with the timeout
        chosen = ()
    if timed_out[0]:
        return {"timeout": True}
    root.destroy()
    if isinstance(chosen, str):
        chosen = (chosen,) if chosen else ()
    return {"paths": [str(p) for p in chosen]}


def menu_window(view: dict[str, Any]) -> dict[str, Any]:
    """A popup menu at the pointer; returns ``{"action": name}``, or ``{"action": null}`` when the
    user clicked elsewhere or pressed Escape."""
    import tkinter as tk

    root = tk.Tk(className="compagnon")
    root.withdraw()
    chosen: dict[str, Any] = {"action": None}

    def choose(action: str) -> None:
        chosen["action"] = action
        root.after(0, root.destroy)

    menu = tk.Menu(root, tearoff=False, title=view["title"])
    for item in view["items"]:
        if item is None:
            menu.add_separator()
        else:
            menu.add_command(label=item[1], command=lambda action=item[0]: choose(action))

    def unposted(_: object) -> None:
        # Tk unposts the menu before it runs the chosen entry's command: wait for it.
        root.after(300, lambda: root.destroy() if chosen["action"] is None else None)

    menu.bind("<Unmap>", unposted)
    root.after(int(view["timeout"] * 1000), root.destroy)
    x, y = root.winfo_pointerxy()
    root.after(50, lambda: (menu.tk_popup(x, y), menu.focus_force()))
    root.mainloop()
    return chosen


def main() -> int:
    """Read the view, show the window, print the answer. Exit 2 on a malformed view."""
    raw = sys.stdin.buffer.read(MAX_VIEW_BYTES + 1)
    try:
        if len(raw) > MAX_VIEW_BYTES:
            raise ValueError("view too large")
        view = json.loads(raw)
        window = {"consent": consent_window, "pick": pick_window, "menu": menu_window}[view["type"]]
    except (ValueError, KeyError, TypeError) as exc:
        print(f"native dialog: bad view ({type(exc).__name__})", file=sys.stderr)
        return 2
    answer = window(view)
    sys.stdout.write(json.dumps(answer))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
