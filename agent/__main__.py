"""``python -m agent`` is the ``compagnon`` command.

``--native-dialog`` (first and only argument) is not a command for users: it is how the agent
starts one of its own native windows in a child process (agent.desktop.dialogs), kept before the
CLI's import so that the window starts fast. ``--isolated-worker`` likewise starts a worker for
untrusted files (agent.isolation) in a frozen build, and ``--fork-server PATH MODULE...`` the server
that forks such workers warm (agent.fork_server).
"""

import sys

if sys.argv[1:] == ["--native-dialog"]:
    from agent.desktop.dialog_window import main as dialog_main

    sys.exit(dialog_main())
if sys.argv[1:] == ["--isolated-worker"]:
    from agent.isolation import worker_main

    sys.exit(worker_main())
if sys.argv[1:2] == ["--fork-server"]:
    from agent.fork_server import main as fork_server_main

    sys.exit(fork_server_main(sys.argv[2:]))

from agent.cli import main  # noqa: E402  (absolute: a frozen build runs this file as a script)

sys.exit(main())
