"""Signed auto-update: check a signed manifest, stage the new version, switch at restart.

- agent.update.config     ``[update]`` settings (URL, pinned Ed25519 keys, health timeout, layout)
- agent.update.manifest   the manifest format, its signature check and the rules (no downgrade…)
- agent.update.transport  https downloads, size and SHA-256 checked while streaming
- agent.update.layout     the install layout and ``update-state.json``
- agent.update.installer  building ``app/versions/<version>/venv`` (injectable)
- agent.update.updater    check / stage / status (``compagnon update …``, agent/cli/update.py)
- agent.update.runtime    the running agent's side: ``ready.json`` and ``agent.hello``'s hints
- agent.update.scheduler  the desktop agent's own checks (after start, then every interval, and
                          the console's "Rechercher une mise à jour")

The switch itself, and the rollback when the new version does not come up, are done by the
standard-library launcher ``installers/common/launcher.py`` at the next start of the agent.
"""
