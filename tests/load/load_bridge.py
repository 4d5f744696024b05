#!/usr/bin/env python3
"""Load on the bridge: many page clients polling ``agent.hello`` while jobs run and publish progress.

    python tests/load/load_bridge.py [--clients 50] [--rate 10] [--jobs 4] [--seconds 30]
                                     [--kind download|diagnose] [--p99-ms 5] [--json]

One real agent process (``python -m agent serve`` in a temporary HOME) and, in this process, a
platform on loopback (tests/support/flaky_server.py) serving consultations. ``--clients`` WebSocket
clients of that platform's origin each call ``agent.hello`` ``--rate`` times a second (one call in
flight per client) for ``--seconds``, while a controller connection keeps ``--jobs`` jobs running:
``bids.download`` of a throttled consultation (about 2 s each, progress published every 100 ms to
every connection of the origin) or ``diagnose``. Printed: the number of calls, p50/p95/p99/max
latency of ``agent.hello`` as the clients see it, the jobs run, the ``jobs.updated`` frames
received, and whether every client received each job's final state (PROTOCOL.md section 3: a slow
page gets the newest snapshot, "and always the final one").

Exit status 0 when no final state was lost, every call was answered and p99 <= ``--p99-ms``; 1
otherwise. The figures are printed either way. tests/load/test_load_smoke.py runs a short version
(no timing assertion) in the normal test run; this file is not collected by pytest.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support.agent_process import AgentProcess, free_port, write_config  # noqa: E402
from tests.support.flaky_server import FlakyEnvelope, FlakyFile, FlakyPli, FlakyServer  # noqa: E402

TERMINAL = ("succeeded", "failed", "cancelled", "interrupted")
TOKEN = "jeton-de-charge"
HELLO = {"protocol": 1, "client": {"name": "load_bridge", "version": "1"}}
#: One download job: this many bytes at this rate (bytes per second): about two seconds.
DOWNLOAD_BYTES = 4 * 1024 * 1024
DOWNLOAD_RATE = 2 * 1024 * 1024


class PageClient:
    """A page's WebSocket: JSON-RPC calls (one answer each) and the ``jobs.updated`` it receives."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.finals: dict[str, str] = {}
        self.updates = 0
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for message in self.ws:
                if message.type != aiohttp.WSMsgType.TEXT:
                    continue
                data = json.loads(message.data)
                for item in data if isinstance(data, list) else [data]:
                    if item.get("method") == "jobs.updated":
                        job = item["params"]["job"]
                        self.updates += 1
                        if job["state"] in TERMINAL:
                            self.finals[job["id"]] = job["state"]
                        continue
                    future = self._pending.pop(item.get("id"), None)
                    if future is not None and not future.done():
                        future.set_result(item)
        finally:
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(ConnectionError("connection closed"))

    async def call(self, method: str, params: Any, timeout: float = 10.0) -> Any:
        request_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        await self.ws.send_str(json.dumps({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}))
        try:
            answer = await asyncio.wait_for(future, timeout)
        finally:
            self._pending.pop(request_id, None)
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer["result"]

    async def poll_hello(self, rate: float, until: float, offset: float) -> None:
        """``agent.hello`` ``rate`` times a second until ``until`` (monotonic), one call in flight."""
        await asyncio.sleep(offset)
        next_at = time.monotonic()
        while time.monotonic() < until:
            started = time.perf_counter()
            try:
                result = await self.call("agent.hello", HELLO)
                if result.get("product") != "compagnon":
                    self.errors.append(f"unexpected hello answer: {result}")
            except (RuntimeError, ConnectionError, TimeoutError) as exc:
                self.errors.append(f"{type(exc).__name__}: {exc}")
            else:
                self.latencies.append(time.perf_counter() - started)
            next_at += 1 / rate
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))

    async def close(self) -> None:
        await self.ws.close()
        self._reader.cancel()
        await asyncio.gather(self._reader, return_exceptions=True)


@dataclass
class Report:
    clients: int
    rate: float
    jobs: int
    kind: str
    seconds: float
    calls: int = 0
    call_errors: int = 0
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0
    jobs_started: int = 0
    jobs_finished: int = 0
    job_states: dict[str, int] = field(default_factory=dict)
    updates_received: int = 0
    finals_expected: int = 0
    finals_received: int = 0
    finals_lost: int = 0
    #: (client index, job id) of each final state a client never received (at most 20 listed).
    lost: list[tuple[int, str]] = field(default_factory=list)
    #: ``agent.hello`` after the run, in ms: the agent is still responsive.
    hello_after_ms: float | None = None
    errors: list[str] = field(default_factory=list)

    def ok(self, p99_limit_ms: float | None) -> bool:
        return (self.finals_lost == 0 and self.call_errors == 0 and self.jobs_finished == self.jobs_started
                and self.hello_after_ms is not None
                and (p99_limit_ms is None or self.p99_ms <= p99_limit_ms))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def run_load(clients: int = 50, rate: float = 10.0, jobs: int = 4, seconds: float = 30.0,
                   kind: str = "download", grace: float = 5.0) -> Report:
    """Start an agent and a platform, run the load, stop them; returns the figures."""
    report = Report(clients, rate, jobs, kind, seconds)
    data = os.urandom(DOWNLOAD_BYTES)  # one payload, shared by every consultation
    flaky = FlakyServer(token=TOKEN).start()
    flaky.rate = DOWNLOAD_RATE
    counter = itertools.count(1)

    def next_job() -> dict[str, Any]:
        if kind == "diagnose":
            return {"kind": "diagnose", "params": {"user_agent": "load_bridge"}}
        cid = f"CHARGE-{next(counter)}"
        url = flaky.publish(cid, [FlakyPli("p1", "Pli 1", None, [FlakyEnvelope("offre", [
            FlakyFile("f1", "offre.zip", data)])])])
        return {"kind": "bids.download", "params": {"url": url, "token": TOKEN}}

    with tempfile.TemporaryDirectory(prefix="compagnon-charge-") as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        write_config(home, allowed=[flaky.origin], preapproved=[flaky.origin], consent="deny",
                     max_concurrent=max(1, jobs),
                     extra=f'\n[signing]\noutput_dir = "{home / "Compagnon"}"\n'
                           f'\n[paths]\nlog_dir = "{home / "log"}"\n')
        try:
            agent = AgentProcess(home, free_port()).start()
        except BaseException:
            flaky.stop()
            raise
        session = aiohttp.ClientSession()
        pages: list[PageClient] = []
        try:
            url = f"ws://127.0.0.1:{agent.port}/bridge"
            for _ in range(clients + 1):
                pages.append(PageClient(await session.ws_connect(url, origin=flaky.origin, max_msg_size=0)))
            controller, pollers = pages[0], pages[1:]
            until = time.monotonic() + seconds
            polling = [asyncio.create_task(page.poll_hello(rate, until, i / (clients * rate)))
                       for i, page in enumerate(pollers)]

            # Keep ``jobs`` jobs running for the whole run.
            started: list[str] = []
            running: set[str] = set()
            while time.monotonic() < until:
                while len(running) < jobs:
                    snapshot = await controller.call("jobs.start", next_job())
                    started.append(snapshot["id"])
                    running.add(snapshot["id"])
                await asyncio.sleep(0.02)
                running -= controller.finals.keys()
            await asyncio.gather(*polling)
            report.jobs_started = len(started)

            # The jobs still running end; then every page has a few seconds to receive the last frames.
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                states = [(await controller.call("jobs.get", {"id": job_id}))["state"] for job_id in started]
                if all(state in TERMINAL for state in states):
                    break
                await asyncio.sleep(0.1)
            finished = {}
            for job_id in started:
                finished[job_id] = (await controller.call("jobs.get", {"id": job_id}))["state"]
            report.jobs_finished = sum(1 for s in finished.values() if s in TERMINAL)
            report.job_states = {s: list(finished.values()).count(s) for s in sorted(set(finished.values()))}
            done = [job_id for job_id, state in finished.items() if state in TERMINAL]
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline and any(j not in p.finals for p in pages for j in done):
                await asyncio.sleep(0.05)

            t0 = time.perf_counter()
            try:
                await pollers[0].call("agent.hello", HELLO, timeout=5)
                report.hello_after_ms = (time.perf_counter() - t0) * 1000
            except (RuntimeError, ConnectionError, TimeoutError) as exc:
                report.errors.append(f"hello after the run: {exc}")

            latencies = [x for page in pollers for x in page.latencies]
            report.calls = len(latencies)
            report.call_errors = sum(len(page.errors) for page in pollers)
            report.errors += [e for page in pollers for e in page.errors][:10]
            if latencies:
                report.p50_ms = statistics.median(latencies) * 1000
                report.p95_ms = percentile(latencies, 0.95) * 1000
                report.p99_ms = percentile(latencies, 0.99) * 1000
                report.max_ms = max(latencies) * 1000
            report.updates_received = sum(page.updates for page in pages)
            report.finals_expected = len(pages) * len(done)
            missing = [(i, j) for i, page in enumerate(pages) for j in done if j not in page.finals]
            report.finals_lost = len(missing)
            report.finals_received = report.finals_expected - len(missing)
            report.lost = missing[:20]
            # A final state that differs from what jobs.get says counts as lost too.
            wrong = [(i, j) for i, page in enumerate(pages) for j in done
                     if j in page.finals and page.finals[j] != finished[j]]
            if wrong:
                report.finals_lost += len(wrong)
                report.errors.append(f"{len(wrong)} final state(s) differ from jobs.get")
        finally:
            for page in pages:
                await page.close()
            await session.close()
            agent.stop()
            flaky.stop()
    return report


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores {cpu}, Python {platform.python_version()}"


def print_report(report: Report, p99_limit: float) -> None:
    print(f"load_bridge — {time.strftime('%Y-%m-%d %H:%M')} — {machine()}")
    print(f"{report.clients} clients x agent.hello {report.rate:g}/s, {report.jobs} {report.kind} job(s) at a time, "
          f"{report.seconds:g} s\n")
    print("| figure | value |")
    print("|---|---|")
    print(f"| agent.hello calls answered | {report.calls} ({report.calls / report.seconds:.0f}/s) |")
    print(f"| calls failed or unanswered | {report.call_errors} |")
    print(f"| agent.hello latency p50 / p95 / p99 / max (ms) | {report.p50_ms:.2f} / {report.p95_ms:.2f} / "
          f"{report.p99_ms:.2f} / {report.max_ms:.2f} |")
    print(f"| jobs run (final states) | {report.jobs_started} {report.job_states} |")
    print(f"| jobs.updated frames received (all clients) | {report.updates_received} |")
    print(f"| final states received / expected | {report.finals_received} / {report.finals_expected} |")
    print(f"| final states lost | {report.finals_lost} |")
    after = f"{report.hello_after_ms:.2f}" if report.hello_after_ms is not None else "no answer"
    print(f"| agent.hello after the run (ms) | {after} |")
    verdict = []
    verdict.append("no final state lost" if report.finals_lost == 0 else f"{report.finals_lost} FINAL STATE(S) LOST")
    verdict.append(f"p99 {report.p99_ms:.2f} ms {'<=' if report.p99_ms <= p99_limit else '>'} {p99_limit:g} ms "
                   f"{'ok' if report.p99_ms <= p99_limit else 'MISSED'}")
    print("\n" + "; ".join(verdict))
    for error in report.errors:
        print(f"  error: {error}")
    if report.lost:
        print(f"  lost (client, job): {report.lost}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--rate", type=float, default=10.0, help="agent.hello calls per second per client")
    parser.add_argument("--jobs", type=int, default=4, help="jobs running at any time")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--kind", choices=("download", "diagnose"), default="download")
    parser.add_argument("--p99-ms", type=float, default=5.0, help="target for the p99 of agent.hello")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    report = asyncio.run(run_load(args.clients, args.rate, args.jobs, args.seconds, args.kind))
    ok = report.ok(args.p99_ms)
    if args.json:
        print(json.dumps({**asdict(report), "p99_target_ms": args.p99_ms, "ok": ok}, indent=2))
    else:
        print_report(report, args.p99_ms)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
