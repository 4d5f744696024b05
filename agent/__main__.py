"""``python -m agent`` is the ``compagnon`` command.

``--native-dialog`` (first and only argument) is not a command for users: it is how the agent
starts one of its own native windows in a child process (agent.desktop.dialogs), kept before the
CLI's import so that the window starts fast. ``--isolated-worker`` likewise starts a worker for
untrusted files (agent.isolation) in a frozen build.
"""

import sys

if sys.argv[1:] == ["--native-dialog"]:
    from agent.desktop.dialog_window import main as dialog_main

    sys.exit(dialog_main())
if sys.argv[1:] == ["--isolated-worker"]:
    from agent.isolation import worker_main

    sys.exit(worker_main())

from agent.cli import main  # noqa: E402  (absolute: a frozen build runs this file as a script)

sys.exit(main())
