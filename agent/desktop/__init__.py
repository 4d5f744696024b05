"""The desktop side of the agent: the tray icon, the local console and its consent prompts.

    console/     the console's HTTP server on its own loopback port (one-time codes, session tokens),
                 its JSON API and its views of jobs and journal
    consent.py   ConsoleConsent: consent, PIN and file prompts answered in the console
    dialogs.py   NativeConsent: the same prompts, and the system's file chooser, in native windows
    dialog_window.py  those windows (tkinter), each run in a child process
    runtime.py   agent service + console + consent + handover (``compagnon serve`` with the console policy)
    tray.py      ``compagnon tray``: the runtime plus a pystray icon whose picture says the state
    instance.py  one desktop agent per user: lock file and handover to the running one
    opener.py    opening the console in the browser (``COMPAGNON_BROWSER`` for tests)
    static/      the console page (French first, English; texts.json holds both); its jobs are
                 drawn by the platform kit's job view (bridge_protocol/js/job-view.js)
"""
