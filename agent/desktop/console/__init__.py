"""The local console: the user's web page on a loopback port of its own (aiohttp).

    server.py  the app, its routes and guards: loopback ``Host``, the console's own ``Origin``,
               one-time codes and session tokens, security headers, the second launch's handover;
               the session calls and the long poll
    api.py     the JSON calls behind a session: prompts, pairings, journal, certificates, jobs,
               updates, diagnostic bundle
    views.py   what the console shows of a job and of the journal (pure functions)
"""
