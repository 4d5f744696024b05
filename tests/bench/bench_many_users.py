#!/usr/bin/env python3
"""Shared machines: how long a user's client takes to find its own agent among many users' agents.

    python tests/bench/bench_many_users.py [--users 20]

As root (it creates the users): ``--users`` agents of as many real OS users on this host, then, as
each user, the Python client probes the ports as a page does (47230-47233, then the shared range),
says hello, and reconnects to the port it found. Printed: the median and worst time to find the
agent on first pairing and to reconnect, and the reference measured in the same run: plain TCP
connects to every port the client had to probe (what any probe costs at least), with the ratio.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bridge_protocol.messages import ALL_PORTS  # noqa: E402
from tests.support.many_users import find_own_agent, running_agents  # noqa: E402
from tests.support.shared_python import shared_python  # noqa: E402


def tcp_probe(until: int) -> float:
    """Seconds to open and close a TCP connection to every port before and including ``until``."""
    started = time.perf_counter()
    for port in ALL_PORTS[: ALL_PORTS.index(until) + 1]:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
        except OSError:
            continue
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20)
    args = parser.parse_args()
    python = shared_python()
    homes = Path(tempfile.mkdtemp(prefix="compagnon-bench-users-", dir="/tmp"))
    homes.chmod(0o755)
    try:
        with running_agents(args.users, python, homes) as agents:
            finds, reconnects, references = [], [], []
            for user, port in agents:
                timing = find_own_agent(user, python, homes)
                assert timing["port"] == port, f"{user.name} reached another agent"
                finds.append(timing["find"])
                reconnects.append(timing["reconnect"])
                references.append(tcp_probe(port))
    finally:
        shutil.rmtree(homes, ignore_errors=True)
    ms = lambda v: f"{v * 1000:.0f} ms"  # noqa: E731
    print(f"{args.users} users' agents on one host; each client reached its own agent")
    print(f"find on first pairing: median {ms(statistics.median(finds))}, worst {ms(max(finds))}")
    print(f"reconnect to the remembered port: median {ms(statistics.median(reconnects))}, worst {ms(max(reconnects))}")
    print(f"reference, plain TCP connects to the same ports: median {ms(statistics.median(references))}, "
          f"worst {ms(max(references))}; ratio (worst find / worst TCP) {max(finds) / max(references):.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
