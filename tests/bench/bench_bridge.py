"""Bridge benchmark: ``agent.hello`` latency and throughput, start-up time, idle memory.

    python tests/bench/bench_bridge.py [--seconds 10] [--json]

Figures (printed as a table, the reference's figure beside each, with the ratio):

* round trip p50/p99 with 1 client, and with 50 clients each polling 10 times a second;
* burst throughput: hellos per second on one connection, requests pipelined;
* start to online: from process start to the first successful hello;
* idle RSS of the agent process.

The reference is a bare aiohttp WebSocket echo server in its own process, measured in the same
run with the same client code: the floor any aiohttp-based bridge can reach on this machine.
Targets (issue "Foundation"): p99 <= 5 ms with the 50 polling clients, start to online <= 1 s,
idle RSS <= 80 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import aiohttp
import psutil

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.support.agent_process import free_port, isolated_env, write_config  # noqa: E402

ORIGIN = "http://127.0.0.1:1"
HELLO = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "agent.hello",
                    "params": {"protocol": 1, "client": {"name": "bench", "version": "1"}}})

ECHO_SERVER = textwrap.dedent(
    """
    import sys
    from aiohttp import web
    async def ws(request):
        sock = web.WebSocketResponse()
        await sock.prepare(request)
        async for msg in sock:
            await sock.send_str(msg.data)
        return sock
    app = web.Application()
    app.router.add_get("/bridge", ws)
    print("ready", flush=True)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
    """
)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def connect(session: aiohttp.ClientSession, port: int) -> aiohttp.ClientWebSocketResponse:
    return await session.ws_connect(f"ws://127.0.0.1:{port}/bridge", origin=ORIGIN)


async def round_trips(port: int, count: int) -> list[float]:
    async with aiohttp.ClientSession() as session:
        ws = await connect(session, port)
        times = []
        for _ in range(count):
            t0 = time.perf_counter()
            await ws.send_str(HELLO)
            await ws.receive()
            times.append(time.perf_counter() - t0)
        await ws.close()
        return times


async def polling_clients(port: int, clients: int, rate: float, seconds: float) -> list[float]:
    async with aiohttp.ClientSession() as session:
        sockets = [await connect(session, port) for _ in range(clients)]
        latencies: list[float] = []
        stop_at = time.perf_counter() + seconds

        async def poll(ws: aiohttp.ClientWebSocketResponse, offset: float) -> None:
            await asyncio.sleep(offset)
            next_at = time.perf_counter()
            while time.perf_counter() < stop_at:
                t0 = time.perf_counter()
                await ws.send_str(HELLO)
                await ws.receive()
                latencies.append(time.perf_counter() - t0)
                next_at += 1 / rate
                await asyncio.sleep(max(0.0, next_at - time.perf_counter()))

        await asyncio.gather(*(poll(ws, i / (clients * rate)) for i, ws in enumerate(sockets)))
        for ws in sockets:
            await ws.close()
        return latencies


async def burst(port: int, count: int) -> float:
    async with aiohttp.ClientSession() as session:
        ws = await connect(session, port)
        t0 = time.perf_counter()

        async def send() -> None:
            for _ in range(count):
                await ws.send_str(HELLO)

        sender = asyncio.create_task(send())
        for _ in range(count):
            await ws.receive()
        await sender
        elapsed = time.perf_counter() - t0
        await ws.close()
        return count / elapsed


async def wait_online(port: int, timeout: float = 20.0) -> float:
    t0 = time.perf_counter()
    async with aiohttp.ClientSession() as session:
        while time.perf_counter() - t0 < timeout:
            try:
                ws = await connect(session, port)
                await ws.send_str(HELLO)
                reply = await ws.receive(timeout=2)
                await ws.close()
                if "compagnon" in reply.data or reply.data == HELLO:
                    return time.perf_counter()
            except (TimeoutError, aiohttp.ClientError, OSError):
                await asyncio.sleep(0.005)
    raise RuntimeError("never online")


def start_agent(home: Path, port: int) -> tuple[subprocess.Popen[bytes], float]:
    write_config(home, allowed=[ORIGIN], preapproved=[ORIGIN], consent="deny")
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "agent", "serve", "--port", str(port)], cwd=ROOT,
                            env=isolated_env(home), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    return proc, t0


def start_echo(port: int) -> tuple[subprocess.Popen[bytes], float]:
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", ECHO_SERVER, str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    return proc, t0


async def measure(proc_start: tuple[subprocess.Popen[bytes], float], port: int, seconds: float) -> dict[str, float]:
    proc, t0 = proc_start
    try:
        online = await wait_online(port)
        figures = {"start_to_online_ms": (online - t0) * 1000}
        await asyncio.sleep(1.0)
        figures["idle_rss_mb"] = psutil.Process(proc.pid).memory_info().rss / 2**20
        single = await round_trips(port, 2000)
        figures["rtt_1_p50_ms"] = statistics.median(single) * 1000
        figures["rtt_1_p99_ms"] = percentile(single, 0.99) * 1000
        polled = await polling_clients(port, 50, 10.0, seconds)
        figures["rtt_50x10hz_p50_ms"] = statistics.median(polled) * 1000
        figures["rtt_50x10hz_p99_ms"] = percentile(polled, 0.99) * 1000
        figures["rtt_50x10hz_requests"] = float(len(polled))
        figures["burst_hellos_per_s"] = await burst(port, 20000)
        return figures
    finally:
        proc.terminate()
        proc.wait(10)


TARGETS = {
    "rtt_50x10hz_p99_ms": ("<=", 5.0),
    "start_to_online_ms": ("<=", 1000.0),
    "idle_rss_mb": ("<=", 80.0),
}
LABELS = {
    "rtt_1_p50_ms": "hello round trip p50, 1 client (ms)",
    "rtt_1_p99_ms": "hello round trip p99, 1 client (ms)",
    "rtt_50x10hz_p50_ms": "hello p50, 50 clients x 10/s (ms)",
    "rtt_50x10hz_p99_ms": "hello p99, 50 clients x 10/s (ms)",
    "burst_hellos_per_s": "burst, one connection (hellos/s)",
    "start_to_online_ms": "process start to first hello (ms)",
    "idle_rss_mb": "idle RSS (MB)",
}


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of the 50-client run")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        agent = await measure(start_agent(Path(tmp), port), port, args.seconds)
    port = free_port()
    echo = await measure(start_echo(port), port, args.seconds)
    if args.json:
        print(json.dumps({"agent": agent, "reference": echo}, indent=2))
        return 0
    cpu = platform.processor() or platform.machine()
    print(f"bench_bridge — {time.strftime('%Y-%m-%d')} — {os.cpu_count()} cores {cpu}, Python {platform.python_version()}")
    print("reference: bare aiohttp WebSocket echo server, same client, same run\n")
    print(f"| {'figure':<40} | {'Compagnon':>10} | {'reference':>10} | {'ratio':>6} | target |")
    print(f"|{'-' * 42}|{'-' * 12}|{'-' * 12}|{'-' * 8}|--------|")
    failed = False
    for key, label in LABELS.items():
        ratio = agent[key] / echo[key] if echo[key] else float("nan")
        target = ""
        if key in TARGETS:
            op, limit = TARGETS[key]
            ok = agent[key] <= limit
            failed |= not ok
            target = f"{op} {limit:g} {'ok' if ok else 'MISSED'}"
        print(f"| {label:<40} | {agent[key]:>10.2f} | {echo[key]:>10.2f} | {ratio:>6.2f} | {target} |")
    print(f"\n(50-client run: {agent['rtt_50x10hz_requests']:.0f} requests in {args.seconds:g} s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
