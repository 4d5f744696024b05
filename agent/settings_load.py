"""``load_settings``: config.toml, its ``[update]`` table and the administrator's policy, as Settings.

Apart from agent/config.py, which agent/policy.py and agent/update/config.py both build on: the
settings module imports neither of them (no import cycle, docs/ARCHITECTURE.md section 1).
"""

from __future__ import annotations

from pathlib import Path

from .config import Settings, read_config, settings_arguments
from .policy import with_admin_policy
from .update.config import parse_update_table


def load_settings(config_path: Path | None = None) -> Settings:
    """Read ``config_path`` (or the default file when it exists) into Settings; the machine's
    administrator policy (agent/policy.py) wins over them."""
    path, data = read_config(config_path)
    kwargs = settings_arguments(path, data)
    kwargs.update(parse_update_table(data.get("update", {})))  # url, public_keys, … (agent/update/config.py)
    return with_admin_policy(Settings(**kwargs))
