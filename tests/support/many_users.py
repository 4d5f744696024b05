"""Many real OS users' agents on one host, and each user's client finding its own agent (the
tests and the benchmark of shared machines)."""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.os_users import OsUser, os_user

SITE = "https://marches.example.fr"
#: Run as a user: find the agent as a page's client does (every port in order), say hello, and
#: print the port that answered, the time it took, and the time to reconnect to that port.
CLIENT = """
import asyncio, json, sys, time
from bridge_protocol.client import BridgeClient
async def main():
    started = time.perf_counter()
    async with await BridgeClient.connect(sys.argv[1], timeout=5) as client:
        await client.hello()
        found, port = time.perf_counter() - started, client.port
    started = time.perf_counter()
    async with await BridgeClient.connect(sys.argv[1], ports=[port], timeout=5) as client:
        await client.hello()
    print(json.dumps({"port": port, "find": found, "reconnect": time.perf_counter() - started}))
asyncio.run(main())
"""


def _env(home: Path) -> list[str]:
    return [f"HOME={home}", f"XDG_CONFIG_HOME={home}/.config", f"XDG_STATE_HOME={home}/.local/state",
            f"XDG_DATA_HOME={home}/.local/share", f"XDG_CACHE_HOME={home}/.cache", "PYTHONUNBUFFERED=1"]


def _start(user: OsUser, home: Path, python: Path, site: str = SITE) -> subprocess.Popen[str]:
    config = home / ".config" / "compagnon" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(f'[bridge]\nallowed_origins = ["{site}"]\n\n[pairing]\npreapproved = ["{site}"]\n\n'
                      '[consent]\npolicy = "deny"\n', encoding="utf-8")
    subprocess.run(["chown", "-R", f"{user.uid}:{user.gid}", str(home)], check=True)
    return subprocess.Popen(["runuser", "-u", user.name, "--", "env", "-i", *_env(home), str(python), "-m", "agent",
                             "serve"], cwd="/", stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _port_of(proc: subprocess.Popen[str], deadline: float) -> int:
    assert proc.stdout is not None
    for line in proc.stdout:
        found = re.search(r"en écoute sur ws://127\.0\.0\.1:(\d+)/bridge", line)
        if found:
            return int(found.group(1))
        assert time.monotonic() < deadline, "an agent did not start in time"
    raise AssertionError(f"an agent stopped before listening (exit {proc.wait()})")


@contextmanager
def running_agents(count: int, python: Path, homes: Path, site: str = SITE) -> Iterator[list[tuple[OsUser, int]]]:
    """``count`` users (created if needed), each with an agent started as that user; yields each
    user with the port its agent took, and stops them all."""
    users = [os_user(f"compagnon-u{n:02d}") for n in range(1, count + 1)]
    agents: list[subprocess.Popen[str]] = []
    try:
        for user in users:
            home = homes / user.name
            home.mkdir(mode=0o700)
            agents.append(_start(user, home, python, site))
        deadline = time.monotonic() + 180
        yield [(user, _port_of(agent, deadline)) for user, agent in zip(users, agents, strict=True)]
    finally:
        for agent in agents:
            agent.terminate()
        for agent in agents:
            try:
                agent.wait(15)
            except subprocess.TimeoutExpired:
                agent.kill()


def find_own_agent(user: OsUser, python: Path, homes: Path) -> dict[str, float]:
    """Run the client as ``user``: the port that answered, the time to find it, to reconnect."""
    answer = user.run(["env", "-i", *_env(homes / user.name), str(python), "-c", CLIENT, SITE], cwd="/", timeout=120)
    if answer.returncode != 0:
        raise AssertionError(answer.stderr)
    return json.loads(answer.stdout)
