#!/usr/bin/env python3
"""Load on the bridge: many page clients polling ``agent.hello`` while jobs run and publish progress.

    python tests/load/load_bridge.py [--clients 50] [--rate 10] [--jobs 4] [--seconds 30]
                                     [--kind download|diagnose] [--job-seconds 15] [--workers 4]
                                     [--pin | --no-pin] [--keep-awake] [--split-origin] [--probe-agent]
                                     [--p99-ms 5] [--repeat N] [--json]

One real agent process (``python -m agent serve`` in a temporary HOME, under ``$TMPDIR``) and the
load generator:

* the controller (this process) runs a platform on loopback (tests/support/flaky_server.py, in a
  thread) serving consultations, and one WebSocket connection of that platform's origin that keeps
  ``--jobs`` jobs running for the whole run: ``bids.download`` of a throttled consultation
  (``--job-seconds`` each: 15 by default, four downloads running the whole time; 2 makes it a new
  job every half second, job start-ups included; progress published every 250 ms to every
  connection of the origin) or ``diagnose``;
* ``--workers`` worker processes (spawned, each with its own event loop) share ``--clients`` page
  clients of the same origin (tests/load/wsclient.py: a lean WebSocket client on a plain socket);
  each calls ``agent.hello`` ``--rate`` times a second (one call in flight per client) for
  ``--seconds`` and records every ``jobs.updated`` final state it receives. A client decodes only
  what it must: a ``jobs.updated`` frame in the agent's compact form is read from its first bytes
  (job id and job state); any other frame (answers, batches, another layout) is decoded in full,
  so no final state can be missed. Latencies, final states and errors go back to the controller
  through a pipe once the load is over.

The latency of a call runs from just before the request is written to the socket to the moment
the client's reader handles the answer. On Linux the clients also read the kernel's receive
timestamp of each answer: the "wire" latency, to the arrival of the answer in the client's
socket, leaves out the time the generator took to get to it (exact when the answer ended its read,
an upper bound otherwise; both shares are printed). Each worker measures its own event-loop lag
(a 10 ms ticker) too: a tail of the generator's own making shows there.

``--pin`` (the default on Linux with two CPUs or more) pins every thread of the agent to the first
CPU and the generator (controller, platform, workers) to the others with ``os.sched_setaffinity``,
as if the pages ran on a second machine; ``--no-pin`` lets the scheduler place everything. Printed
with the figures: the CPUs of each side, the CPU time each side used during the load, each CPU's
busy and steal shares (steal: time a virtual machine's host took), and how long the agent's
event-loop thread waited for a CPU.

Diagnostics, off by default:

* ``--keep-awake`` runs a lowest-priority (``SCHED_IDLE``) spinner on every CPU, so that no wake-up
  pays for an idle (virtual) CPU coming back;
* ``--split-origin`` makes the pollers pages of a second allowed origin: the jobs run as before
  but their ``jobs.updated`` reach the controller only (none may reach the pollers: promise 7),
  which separates the cost of the fan-out from the cost of the jobs' own work;
* ``--probe-agent`` loads tests/load/agent_probe/sitecustomize.py into the agent and prints what
  its event loop did during the load: long iterations and the callbacks that filled them, slow
  task steps (where the task was before and after), late ``select`` returns, garbage collections.

``--repeat N`` runs the whole load N times (a fresh agent each time) and prints one row per run
(p99, wire p99, max, the generator's loop lag, the largest steal share), then how many runs met the
target, in all and among the runs without steal (under 1 %); every run is shown and counted.

Exit status 0 when no final state was lost, every call was answered, every worker reported and p99
<= ``--p99-ms`` (in every run, with ``--repeat``); 1 otherwise. The figures are printed either way. tests/load/test_load_smoke.py
runs a short version (no timing assertion, no pinning) in the normal test run; this file is not
collected by pytest.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import multiprocessing
import multiprocessing.connection
import os
import platform
import statistics
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.load.wsclient import TERMINAL, PageClient, wait_for_finals  # noqa: E402
from tests.support.agent_process import AgentProcess, free_port, write_config  # noqa: E402
from tests.support.flaky_server import FlakyEnvelope, FlakyFile, FlakyPli, FlakyServer  # noqa: E402
from tests.support.pairing import seed_pairing  # noqa: E402

TOKEN = "jeton-de-charge"
HELLO = {"protocol": 1, "client": {"name": "load_bridge", "version": "1"}}
#: The platform serves each download at this rate (bytes per second); a job's size is this rate
#: times ``--job-seconds``.
DOWNLOAD_RATE = 2 * 1024 * 1024
#: Worker processes for the page clients when not told (never more than the clients).
DEFAULT_WORKERS = 4
#: Period of the event-loop lag probe of each worker, in seconds.
LAG_PERIOD = 0.01
#: Loaded into the agent by ``--probe-agent`` (its sitecustomize.py).
PROBE_DIR = Path(__file__).resolve().parent / "agent_probe"
#: ``--split-origin``: the pollers' origin, allowed and paired like the platform's but no job's
#: (nothing listens there: pages only name it in their ``Origin`` header).
OTHER_ORIGIN = "http://127.0.0.1:9"
#: Seconds a worker may take to start and connect its clients.
WORKER_START_TIMEOUT = 60.0

# -- the controller <-> worker pipes -----------------------------------------------------------


async def receive(conn: multiprocessing.connection.Connection, timeout: float) -> Any:
    """The next object on ``conn``, awaited on the running loop (no thread); ``TimeoutError`` after
    ``timeout`` seconds, ``EOFError`` when the other end is gone."""
    loop = asyncio.get_running_loop()
    readable: asyncio.Future[None] = loop.create_future()
    fd = conn.fileno()

    def ready() -> None:
        if not readable.done():
            readable.set_result(None)

    loop.add_reader(fd, ready)
    try:
        await asyncio.wait_for(readable, timeout)
    finally:
        loop.remove_reader(fd)
    return conn.recv()


@dataclass
class WorkerPlan:
    """What one worker process is told at its start."""

    index: int
    #: Global index of its first client (0 is the controller's connection, pollers count from 1).
    first_client: int
    clients: int
    #: Clients in the whole run (the pollers' start offsets spread over one period of all of them).
    total_clients: int
    #: The agent's port on 127.0.0.1 and the pages' origin.
    port: int
    origin: str
    rate: float
    #: The origin's pairing key (seeded before the agent starts), to authenticate each connection.
    key: bytes | None = None


@dataclass
class WorkerResult:
    """What one worker sends back once its clients are done."""

    index: int
    first_client: int
    latencies: list[float]
    #: The same calls timed to the arrival of the answer in the socket (kernel timestamp).
    wire_latencies: list[float]
    #: Per wire latency: exact (the answer ended its read) or an upper bound.
    wire_exact: list[bool]
    call_errors: int
    errors: list[str]
    updates: int
    decoded: int
    #: One dict per client (job id -> final state received), in the order of the global indexes.
    finals: list[dict[str, str]]
    #: CPU seconds the worker used during its polling window.
    cpu_seconds: float
    #: Event-loop lag samples of the worker during its polling window, in seconds.
    lags: list[float]


async def _lag_probe(until: float, lags: list[float]) -> None:
    """Record how late a ``LAG_PERIOD`` sleep wakes up, until ``until`` (monotonic)."""
    while time.monotonic() < until:
        expected = time.monotonic() + LAG_PERIOD
        await asyncio.sleep(LAG_PERIOD)
        lags.append(max(0.0, time.monotonic() - expected))


async def _worker(plan: WorkerPlan, conn: multiprocessing.connection.Connection) -> None:
    """One worker's life: connect, say ready, poll on "go", wait for the finals on "drain", report."""
    pages: list[PageClient] = []
    try:
        try:
            for _ in range(plan.clients):
                pages.append(await PageClient.connect(plan.port, plan.origin, HELLO, key=plan.key))
        except Exception as exc:
            conn.send(("failed", f"worker {plan.index} could not connect: {type(exc).__name__}: {exc}"))
            return
        conn.send(("ready", sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []))

        command, until = await receive(conn, WORKER_START_TIMEOUT * 2)
        if command != "go":
            raise RuntimeError(f"unexpected command {command!r}")
        cpu_start = time.process_time()
        lags: list[float] = []
        period = plan.total_clients * plan.rate
        polling = [asyncio.create_task(page.poll_hello(plan.rate, until, (plan.first_client - 1 + i) / period))
                   for i, page in enumerate(pages)]
        await asyncio.gather(_lag_probe(until, lags), *polling)
        cpu_seconds = time.process_time() - cpu_start

        command, jobs, deadline = await receive(conn, 600)
        if command != "drain":
            raise RuntimeError(f"unexpected command {command!r}")
        await wait_for_finals(pages, jobs, deadline)
        conn.send(("result", WorkerResult(
            index=plan.index,
            first_client=plan.first_client,
            latencies=[x for page in pages for x in page.latencies],
            wire_latencies=[x for page in pages for x in page.wire_latencies],
            wire_exact=[x for page in pages for x in page.wire_exact],
            call_errors=sum(len(page.errors) for page in pages),
            errors=[e for page in pages for e in page.errors][:10],
            updates=sum(page.updates for page in pages),
            decoded=sum(page.decoded for page in pages),
            finals=[dict(page.finals) for page in pages],
            cpu_seconds=cpu_seconds,
            lags=lags,
        )))
    finally:
        await asyncio.gather(*(page.close() for page in pages), return_exceptions=True)


def worker_main(plan: WorkerPlan, conn: multiprocessing.connection.Connection) -> None:
    """Entry point of a worker process (spawned): its own event loop, its share of the clients."""
    try:
        asyncio.run(_worker(plan, conn))
    except Exception:
        try:
            conn.send(("failed", f"worker {plan.index} crashed:\n{traceback.format_exc()}"))
        except OSError:
            pass
    finally:
        conn.close()


# -- CPU placement and accounting --------------------------------------------------------------


def can_pin() -> bool:
    """True where pinning means something: Linux (``sched_setaffinity``) with two CPUs or more."""
    return sys.platform.startswith("linux") and hasattr(os, "sched_setaffinity") and len(os.sched_getaffinity(0)) >= 2


def split_cpus() -> tuple[set[int], set[int]]:
    """(the agent's CPU, the generator's CPUs): the first CPU this process may use, and the rest."""
    available = sorted(os.sched_getaffinity(0))
    return {available[0]}, set(available[1:])


def pin_process(pid: int, cpus: set[int]) -> int:
    """Pin every thread of ``pid`` to ``cpus`` (threads it starts later inherit it); returns the
    number of threads pinned."""
    pinned = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            os.sched_setaffinity(int(tid), cpus)
            pinned += 1
        except (ProcessLookupError, FileNotFoundError):
            pass  # the thread ended meanwhile
    return pinned


def unpinned_threads(pid: int, cpus: set[int]) -> list[int]:
    """Threads of ``pid`` whose affinity is not ``cpus``."""
    wrong = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            if os.sched_getaffinity(int(tid)) != cpus:
                wrong.append(int(tid))
        except (ProcessLookupError, FileNotFoundError):
            pass
    return wrong


def thread_times(pid: int) -> dict[int, tuple[float, float]]:
    """Thread id -> (CPU seconds, seconds spent waiting for a CPU) of every thread of ``pid``
    (``/proc/<pid>/task/<tid>/stat`` and ``schedstat``; empty when unknown)."""
    ticks = os.sysconf("SC_CLK_TCK")
    times = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return {}
    for tid in tids:
        try:
            stat = Path(f"/proc/{pid}/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
            sched = Path(f"/proc/{pid}/task/{tid}/schedstat").read_text().split()
        except (OSError, IndexError):
            continue
        times[int(tid)] = ((int(stat[11]) + int(stat[12])) / ticks, int(sched[1]) / 1e9)
    return times


def cpu_ticks() -> dict[str, list[int]]:
    """Per-CPU counters of ``/proc/stat`` (user, nice, system, idle, iowait, irq, softirq, steal)."""
    ticks = {}
    try:
        for line in Path("/proc/stat").read_text().splitlines():
            name, *values = line.split()
            if name.startswith("cpu") and name[3:].isdigit():
                ticks[name] = [int(v) for v in values[:8]]
    except OSError:
        pass
    return ticks


def cpu_usage(before: dict[str, list[int]], after: dict[str, list[int]]) -> dict[str, dict[str, float]]:
    """Share (%) of each CPU's time between two ``cpu_ticks``: busy (neither idle nor iowait nor
    steal), softirq (part of busy), and steal (taken by the hypervisor)."""
    usage = {}
    for name, values in after.items():
        delta = [a - b for a, b in zip(values, before.get(name, values))]
        total = sum(delta) or 1
        idle = delta[3] + delta[4]
        usage[name] = {"busy": round(100 * (total - idle - delta[7]) / total, 1),
                       "softirq": round(100 * delta[6] / total, 1), "steal": round(100 * delta[7] / total, 1)}
    return usage


def spin(cpu: int) -> None:
    """Keep ``cpu`` out of its idle state at the lowest priority (``SCHED_IDLE``): any other thread
    that wakes up there runs at once, without the wake-up of an idle (virtual) CPU."""
    os.sched_setaffinity(0, {cpu})
    os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    while True:
        pass


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by every thread of ``pid`` (0 when unknown)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- the run -------------------------------------------------------------------------------------


@dataclass
class Report:
    """The figures of one run (printed by ``print_report``, or as JSON with ``--json``)."""

    clients: int
    rate: float
    jobs: int
    kind: str
    seconds: float
    workers: int = 0
    #: Seconds each download job lasts (its bytes at the platform's throttled rate).
    job_seconds: float = 2.0
    calls: int = 0
    call_errors: int = 0
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0
    #: The same calls up to the arrival of the answer in the client's socket (kernel receive
    #: timestamp, Linux): the agent's share, without the generator's delay in reading it.
    wire_p50_ms: float | None = None
    wire_p95_ms: float | None = None
    wire_p99_ms: float | None = None
    wire_max_ms: float | None = None
    #: Share (%) of the wire figures that are exact (the answer ended its read; the others are upper
    #: bounds), overall and among the slowest 1 %.
    wire_exact_pct: float | None = None
    wire_exact_tail_pct: float | None = None
    #: p99 of the exact wire figures only (biased low: a late read is more likely in a busy moment).
    wire_exact_p99_ms: float | None = None
    jobs_started: int = 0
    jobs_finished: int = 0
    job_states: dict[str, int] = field(default_factory=dict)
    updates_received: int = 0
    #: Frames the clients decoded in full (answers, and notifications not in the agent's compact form).
    frames_decoded: int = 0
    finals_expected: int = 0
    finals_received: int = 0
    finals_lost: int = 0
    #: (client index, job id) of each final state a client never received (at most 20 listed);
    #: client 0 is the controller's connection, the pollers are 1 to ``clients``.
    lost: list[tuple[int, str]] = field(default_factory=list)
    #: ``agent.hello`` after the run, in ms: the agent is still responsive.
    hello_after_ms: float | None = None
    #: Workers that failed to start, crashed or never reported (their clients count as lost).
    worker_failures: int = 0
    #: ``--split-origin``: the pollers are pages of another origin than the jobs' (they must receive
    #: no ``jobs.updated``: ``foreign_updates`` counts those they did, a breach of promise 7).
    split_origin: bool = False
    foreign_updates: int = 0
    #: CPUs of each side when pinned (None: not pinned).
    agent_cpus: list[int] | None = None
    generator_cpus: list[int] | None = None
    #: CPU seconds used during the load window by the agent, the controller (with the platform) and
    #: the workers together.
    agent_cpu_s: float = 0.0
    controller_cpu_s: float = 0.0
    workers_cpu_s: float = 0.0
    #: The agent's event-loop thread during the load window: CPU seconds, and milliseconds it was
    #: runnable but waited for a CPU (scheduler run-queue); its other threads' CPU seconds.
    agent_loop_cpu_s: float = 0.0
    agent_loop_cpu_wait_ms: float = 0.0
    agent_threads_cpu_s: float = 0.0
    #: ``--probe-agent``: what the agent's event loop did during the load window (see
    #: tests/load/agent_probe/sitecustomize.py and ``summarize_probe``).
    agent_probe: dict[str, Any] | None = None
    #: ``--keep-awake``: a SCHED_IDLE spinner kept each CPU out of its idle state.
    keep_awake: bool = False
    #: Per CPU during the load window: busy, softirq and steal shares (%) (``cpu_usage``).
    cpu_usage: dict[str, dict[str, float]] = field(default_factory=dict)
    #: Event-loop lag of the workers (10 ms ticker) during the load window, in ms.
    generator_lag_p99_ms: float = 0.0
    generator_lag_max_ms: float = 0.0
    #: The 1, 5 and 15 minute load averages when the run started (other work on the machine).
    loadavg_before: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def ok(self, p99_limit_ms: float | None) -> bool:
        """Nothing lost or failed, and the p99 within ``p99_limit_ms`` (None: not checked)."""
        return (self.finals_lost == 0 and self.call_errors == 0 and self.jobs_finished == self.jobs_started
                and self.worker_failures == 0 and self.foreign_updates == 0 and self.hello_after_ms is not None
                and (p99_limit_ms is None or self.p99_ms <= p99_limit_ms))


def summarize_probe(probe: dict[str, Any], start: float, end: float) -> dict[str, Any]:
    """The agent probe's events within the load window [start, end] (wall clock), summarised:
    long loop iterations (and the callbacks that filled those of 5 ms or more), selects that
    returned late (GIL or CPU wait), and garbage collections."""
    iterations = [i for i in probe["iterations"] if start <= i[0] <= end]
    late = [s for s in probe["late_selects"] if start <= s[0] <= end]
    collections = [c for c in probe["collections"] if start <= c[0] <= end]
    filling: dict[str, list[float]] = {}
    for _, length, _, labels in iterations:
        if length >= 5:
            for label, (count, ms) in labels.items():
                entry = filling.setdefault(label, [0, 0.0])
                entry[0] += count
                entry[1] += ms
    top = sorted(filling.items(), key=lambda item: -item[1][1])[:8]
    steps: dict[tuple[str, str, str], list[float]] = {}
    for _, label, ms, before, after in (s for s in probe.get("slow_steps", []) if start <= s[0] <= end):
        steps.setdefault((label, before, after), []).append(ms)
    slow_steps = sorted(steps.items(), key=lambda item: -sum(item[1]))[:8]
    return {
        "iterations_over_ms": {f">={limit}": sum(1 for i in iterations if i[1] >= limit) for limit in (2, 5, 10, 20)},
        "iteration_max_ms": round(max((i[1] for i in iterations), default=0.0), 2),
        "longest_iterations": [{"ms": round(i[1], 2), "callbacks": i[2],
                                "top": sorted(((k, round(v[1], 2)) for k, v in i[3].items()),
                                              key=lambda kv: -kv[1])[:4]}
                               for i in sorted(iterations, key=lambda i: -i[1])[:3]],
        "in_iterations_over_5ms": [{"label": label, "count": int(count), "ms": round(ms, 1)}
                                   for label, (count, ms) in top],
        "slow_task_steps": [{"task": label, "from": before, "to": after, "count": len(times),
                             "max_ms": round(max(times), 2), "total_ms": round(sum(times), 1)}
                            for (label, before, after), times in slow_steps],
        "late_selects_over_ms": {f">={limit}": sum(1 for s in late if s[2] - max(0.0, s[1] or 0.0) * 1000 >= limit)
                                 for limit in (1, 2, 5)},
        "late_select_max_ms": round(max((s[2] - max(0.0, s[1] or 0.0) * 1000 for s in late), default=0.0), 2),
        "gc": {f"gen{g}": {"count": sum(1 for c in collections if c[1] == g),
                           "max_ms": round(max((c[2] for c in collections if c[1] == g), default=0.0), 2)}
               for g in (0, 1, 2)},
    }


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile of ``values`` (nearest rank; NaN when empty)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def split_clients(clients: int, workers: int) -> list[int]:
    """``clients`` spread as evenly as possible over ``workers`` (no empty worker)."""
    workers = max(1, min(workers, clients))
    return [clients // workers + (1 if i < clients % workers else 0) for i in range(workers)] if clients else []


async def run_load(clients: int = 50, rate: float = 10.0, jobs: int = 4, seconds: float = 30.0,
                   kind: str = "download", grace: float = 5.0, workers: int | None = None,
                   pin: bool = False, probe_agent: bool = False, keep_awake: bool = False,
                   split_origin: bool = False, job_seconds: float = 2.0) -> Report:
    """Start an agent, a platform and the worker processes, run the load, stop them all; returns
    the figures. ``pin`` pins the agent to the first CPU and this process and the workers to the
    others (this process's affinity is restored on return); ``probe_agent`` loads
    tests/load/agent_probe into the agent and summarises what its event loop did; ``keep_awake``
    runs a lowest-priority spinner on every CPU for the run (see ``spin``); ``split_origin`` makes
    the pollers pages of another origin, so that they get no ``jobs.updated`` (the jobs then cost
    the agent their work but not their fan-out to the pollers)."""
    shares = split_clients(clients, DEFAULT_WORKERS if workers is None else workers)
    report = Report(clients, rate, jobs, kind, seconds, workers=len(shares), keep_awake=keep_awake,
                    split_origin=split_origin, job_seconds=job_seconds)
    report.loadavg_before = list(os.getloadavg()) if hasattr(os, "getloadavg") else []
    original_affinity = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    agent_cpus: set[int] | None = None
    if pin:
        if not can_pin():
            raise RuntimeError("pinning needs Linux and two CPUs or more")
        agent_cpus, generator_cpus = split_cpus()
        # This thread first: the platform's thread and the spawned workers inherit its affinity.
        os.sched_setaffinity(0, generator_cpus)
        report.agent_cpus, report.generator_cpus = sorted(agent_cpus), sorted(generator_cpus)

    data = os.urandom(max(1, int(DOWNLOAD_RATE * job_seconds)))  # one payload, shared by every consultation
    counter = itertools.count(1)
    context = multiprocessing.get_context("spawn")  # a fresh interpreter each: no inherited threads or loop
    processes: list[multiprocessing.process.BaseProcess] = []
    spinners: list[multiprocessing.process.BaseProcess] = []
    pipes: list[multiprocessing.connection.Connection] = []
    flaky: FlakyServer | None = None
    agent: AgentProcess | None = None
    controller: PageClient | None = None
    try:
        if keep_awake:
            for cpu_index in sorted(os.sched_getaffinity(0) if original_affinity is None else original_affinity):
                spinner = context.Process(target=spin, args=(cpu_index,), name=f"load-spin-{cpu_index}", daemon=True)
                spinner.start()
                spinners.append(spinner)
        flaky = FlakyServer(token=TOKEN).start()
        flaky.rate = DOWNLOAD_RATE
        platform_server = flaky

        def next_job() -> dict[str, Any]:
            if kind == "diagnose":
                return {"kind": "diagnose", "params": {"user_agent": "load_bridge"}}
            cid = f"CHARGE-{next(counter)}"
            url = platform_server.publish(cid, [FlakyPli("p1", "Pli 1", None, [FlakyEnvelope("offre", [
                FlakyFile("f1", "offre.zip", data)])])])
            return {"kind": "bids.download", "params": {"url": url, "token": TOKEN}}

        with tempfile.TemporaryDirectory(prefix="compagnon-charge-") as tmp:
            home = Path(tmp) / "home"
            home.mkdir()
            origins = [flaky.origin, OTHER_ORIGIN] if split_origin else [flaky.origin]
            pollers_origin = origins[-1]
            write_config(home, allowed=origins, preapproved=origins, consent="deny",
                         max_concurrent=max(1, jobs),
                         extra=f'\n[signing]\noutput_dir = "{home / "Compagnon"}"\n'
                               f'\n[paths]\nlog_dir = "{home / "log"}"\n')
            keys = {origin: seed_pairing(home, origin) for origin in origins}  # paired earlier
            probe_out = home / "probe.json"
            extra_env = {}
            if probe_agent:
                extra_env = {"LOAD_PROBE_OUT": str(probe_out), "PYTHONPATH": os.pathsep.join(
                    [str(PROBE_DIR), str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
            agent = AgentProcess(home, free_port(), extra_env=extra_env).start()
            assert agent.proc is not None
            agent_pid = agent.proc.pid
            if agent_cpus is not None:
                pin_process(agent_pid, agent_cpus)

            first = 1
            for index, share in enumerate(shares):
                parent_end, child_end = context.Pipe()
                plan = WorkerPlan(index, first, share, clients, agent.port, pollers_origin, rate, keys[pollers_origin])
                process = context.Process(target=worker_main, args=(plan, child_end), name=f"load-worker-{index}",
                                          daemon=True)
                process.start()
                child_end.close()  # so that a dead worker reads as EOF here
                processes.append(process)
                pipes.append(parent_end)
                first += share

            controller = await PageClient.connect(agent.port, flaky.origin, HELLO, key=keys[flaky.origin])
            alive: dict[int, multiprocessing.connection.Connection] = {}
            for index, pipe in enumerate(pipes):
                try:
                    message = await receive(pipe, WORKER_START_TIMEOUT)
                except (TimeoutError, EOFError, OSError) as exc:
                    message = ("failed", f"worker {index} did not start: {type(exc).__name__}")
                if message[0] == "ready":
                    alive[index] = pipe
                else:
                    report.worker_failures += 1
                    report.errors.append(message[1][-2000:])
            if agent_cpus is not None:
                pin_process(agent_pid, agent_cpus)  # threads started meanwhile (connections, executors)

            # The load window: the pollers run in the workers, the jobs are kept going from here.
            until = time.monotonic() + seconds
            for pipe in alive.values():
                pipe.send(("go", until))
            window_start = time.time()
            agent_cpu_start, own_cpu_start = process_cpu_seconds(agent_pid), time.process_time()
            threads_start, ticks_start = thread_times(agent_pid), cpu_ticks()
            started: list[str] = []
            running: set[str] = set()
            while time.monotonic() < until:
                while len(running) < jobs:
                    snapshot = await controller.call("jobs.start", next_job())
                    started.append(snapshot["id"])
                    running.add(snapshot["id"])
                await asyncio.sleep(0.02)
                running -= controller.finals.keys()
            report.agent_cpu_s = process_cpu_seconds(agent_pid) - agent_cpu_start
            report.controller_cpu_s = time.process_time() - own_cpu_start
            window = (window_start, time.time())
            report.cpu_usage = cpu_usage(ticks_start, cpu_ticks())
            for tid, (cpu, wait) in thread_times(agent_pid).items():
                cpu_before, wait_before = threads_start.get(tid, (0.0, 0.0))
                if tid == agent_pid:  # the main thread runs the event loop
                    report.agent_loop_cpu_s = cpu - cpu_before
                    report.agent_loop_cpu_wait_ms = (wait - wait_before) * 1000
                else:
                    report.agent_threads_cpu_s += cpu - cpu_before
            report.jobs_started = len(started)

            # The jobs still running end; then every page has ``grace`` seconds to receive the last frames.
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
            drain_deadline = time.monotonic() + grace
            for pipe in alive.values():
                pipe.send(("drain", [] if split_origin else done, drain_deadline))
            await wait_for_finals([controller], done, drain_deadline)

            results: dict[int, WorkerResult] = {}
            for index, pipe in alive.items():
                try:
                    message = await receive(pipe, grace + 60)
                except (TimeoutError, EOFError, OSError) as exc:
                    message = ("failed", f"worker {index} did not report: {type(exc).__name__}")
                if message[0] == "result":
                    results[index] = message[1]
                else:
                    report.worker_failures += 1
                    report.errors.append(message[1][-2000:])

            t0 = time.perf_counter()
            try:
                await controller.call("agent.hello", HELLO, timeout=5)
                report.hello_after_ms = (time.perf_counter() - t0) * 1000
            except (RuntimeError, ConnectionError, TimeoutError) as exc:
                report.errors.append(f"hello after the run: {exc}")
            if agent_cpus is not None and (wrong := unpinned_threads(agent_pid, agent_cpus)):
                report.errors.append(f"agent threads not on CPUs {sorted(agent_cpus)}: {wrong}")
            if probe_agent:
                agent.stop()  # the probe writes its file at exit
                try:
                    report.agent_probe = summarize_probe(json.loads(probe_out.read_text()), *window)
                except (OSError, ValueError) as exc:
                    report.errors.append(f"agent probe: no data ({exc})")

            latencies = [x for r in results.values() for x in r.latencies]
            wire = [x for r in results.values() for x in r.wire_latencies]
            exact = [x for r in results.values() for x in r.wire_exact]
            lags = [x for r in results.values() for x in r.lags]
            report.calls = len(latencies)
            report.call_errors = sum(r.call_errors for r in results.values())
            report.errors += [e for r in results.values() for e in r.errors][:10]
            if latencies:
                report.p50_ms = statistics.median(latencies) * 1000
                report.p95_ms = percentile(latencies, 0.95) * 1000
                report.p99_ms = percentile(latencies, 0.99) * 1000
                report.max_ms = max(latencies) * 1000
            if wire:
                report.wire_p50_ms = statistics.median(wire) * 1000
                report.wire_p95_ms = percentile(wire, 0.95) * 1000
                report.wire_p99_ms = percentile(wire, 0.99) * 1000
                report.wire_max_ms = max(wire) * 1000
                report.wire_exact_pct = 100 * sum(exact) / len(exact)
                tail = sorted(zip(wire, exact), reverse=True)[:max(1, len(wire) // 100)]
                report.wire_exact_tail_pct = 100 * sum(e for _, e in tail) / len(tail)
                exact_only = [w for w, e in zip(wire, exact) if e]
                if exact_only:
                    report.wire_exact_p99_ms = percentile(exact_only, 0.99) * 1000
            if lags:
                report.generator_lag_p99_ms = percentile(lags, 0.99) * 1000
                report.generator_lag_max_ms = max(lags) * 1000
            report.workers_cpu_s = sum(r.cpu_seconds for r in results.values())
            report.updates_received = controller.updates + sum(r.updates for r in results.values())
            report.frames_decoded = controller.decoded + sum(r.decoded for r in results.values())

            # Every client's finals, by global index; a worker that did not report received none.
            finals: list[dict[str, str]] = [controller.finals] + [{} for _ in range(clients)]
            for r in results.values():
                finals[r.first_client:r.first_client + len(r.finals)] = r.finals
            if split_origin:  # only the controller's page is of the jobs' origin
                finals = finals[:1]
                report.foreign_updates = sum(r.updates for r in results.values())
                if report.foreign_updates:
                    report.errors.append(f"{report.foreign_updates} jobs.updated reached pages of another origin")
            report.finals_expected = len(finals) * len(done)
            missing = [(i, j) for i, got in enumerate(finals) for j in done if j not in got]
            report.finals_lost = len(missing)
            report.finals_received = report.finals_expected - len(missing)
            report.lost = missing[:20]
            # A final state that differs from what jobs.get says counts as lost too.
            wrong_states = [(i, j) for i, got in enumerate(finals) for j in done if j in got and got[j] != finished[j]]
            if wrong_states:
                report.finals_lost += len(wrong_states)
                report.errors.append(f"{len(wrong_states)} final state(s) differ from jobs.get")
    finally:
        if controller is not None:
            await controller.close()
        for pipe in pipes:
            pipe.close()  # a worker still waiting for a command reads EOF and ends
        for worker in processes:
            worker.join(10)
            if worker.is_alive():
                worker.kill()
                worker.join(5)
        for spinning in spinners:
            spinning.kill()
            spinning.join(5)
        if agent is not None:
            agent.stop()
        if flaky is not None:
            flaky.stop()
        if pin and original_affinity is not None:
            os.sched_setaffinity(0, original_affinity)
    return report


# -- the command ---------------------------------------------------------------------------------


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
    load = " ".join(f"{x:.2f}" for x in report.loadavg_before) if report.loadavg_before else "?"
    print(f"load_bridge — {time.strftime('%Y-%m-%d %H:%M')} — {machine()} — load average before: {load}")
    print(f"{report.clients} clients x agent.hello {report.rate:g}/s in {report.workers} worker process(es), "
          f"{report.jobs} {report.kind} job(s) at a time"
          + (f" ({report.job_seconds:g} s each)" if report.kind == "download" else "") + f", {report.seconds:g} s")
    if report.agent_cpus is not None:
        print(f"pinned: agent on CPU(s) {report.agent_cpus}, generator (controller, platform, workers) on CPU(s) "
              f"{report.generator_cpus}\n")
    else:
        print("not pinned: agent and generator share every CPU\n")
    window = report.seconds or 1.0
    print("| figure | value |")
    print("|---|---|")
    print(f"| agent.hello calls answered | {report.calls} ({report.calls / window:.0f}/s) |")
    print(f"| calls failed or unanswered | {report.call_errors} |")
    print(f"| agent.hello latency p50 / p95 / p99 / max (ms) | {report.p50_ms:.2f} / {report.p95_ms:.2f} / "
          f"{report.p99_ms:.2f} / {report.max_ms:.2f} |")
    if report.wire_p99_ms is not None:
        print(f"| the same, to the answer's arrival in the socket (ms) | {report.wire_p50_ms:.2f} / "
              f"{report.wire_p95_ms:.2f} / {report.wire_p99_ms:.2f} / {report.wire_max_ms:.2f} |")
        exact_p99 = f"{report.wire_exact_p99_ms:.2f}" if report.wire_exact_p99_ms is not None else "-"
        print(f"| arrival times exact (answer last in its read): all / slowest 1 %; p99 of the exact ones (ms) | "
              f"{report.wire_exact_pct:.0f}% / {report.wire_exact_tail_pct:.0f}%; {exact_p99} |")
    print(f"| jobs run (final states) | {report.jobs_started} {report.job_states} |")
    print(f"| jobs.updated frames received (all clients) | {report.updates_received} |")
    print(f"| frames decoded in full (all clients) | {report.frames_decoded} |")
    print(f"| final states received / expected | {report.finals_received} / {report.finals_expected} |")
    print(f"| final states lost | {report.finals_lost} |")
    after = f"{report.hello_after_ms:.2f}" if report.hello_after_ms is not None else "no answer"
    print(f"| agent.hello after the run (ms) | {after} |")
    print(f"| CPU during the load: agent / controller+platform / workers (s) | {report.agent_cpu_s:.1f} "
          f"({100 * report.agent_cpu_s / window:.0f}%) / {report.controller_cpu_s:.1f} "
          f"({100 * report.controller_cpu_s / window:.0f}%) / {report.workers_cpu_s:.1f} "
          f"({100 * report.workers_cpu_s / window:.0f}%) |")
    print(f"| generator event-loop lag p99 / max (ms) | {report.generator_lag_p99_ms:.2f} / "
          f"{report.generator_lag_max_ms:.2f} |")
    usage = ", ".join(f"{name} {u['busy']:.0f}% (softirq {u['softirq']:.0f}%, steal {u['steal']:.0f}%)"
                      for name, u in report.cpu_usage.items())
    spinning = " (with the spinners)" if report.keep_awake else ""
    print(f"| CPUs busy during the load{spinning} | {usage} |")
    print(f"| agent loop thread: CPU (s) / waited for a CPU (ms); other agent threads CPU (s) | "
          f"{report.agent_loop_cpu_s:.1f} / {report.agent_loop_cpu_wait_ms:.0f}; {report.agent_threads_cpu_s:.1f} |")
    if report.worker_failures:
        print(f"| worker processes failed | {report.worker_failures} |")
    if report.agent_probe is not None:
        print("\nagent event loop during the load (--probe-agent):")
        print(json.dumps(report.agent_probe, indent=1))
    verdict = []
    verdict.append("no final state lost" if report.finals_lost == 0 else f"{report.finals_lost} FINAL STATE(S) LOST")
    verdict.append(f"p99 {report.p99_ms:.2f} ms {'<=' if report.p99_ms <= p99_limit else '>'} {p99_limit:g} ms "
                   f"{'ok' if report.p99_ms <= p99_limit else 'MISSED'}")
    print("\n" + "; ".join(verdict))
    for error in report.errors:
        print(f"  error: {error}")
    if report.lost:
        print(f"  lost (client, job): {report.lost}")


def max_steal(report: Report) -> float:
    """The largest share of a CPU the hypervisor took during the load window (%)."""
    return max((usage["steal"] for usage in report.cpu_usage.values()), default=0.0)


def print_series(reports: list[Report], p99_limit: float) -> None:
    """``--repeat``: one row per run, then how many runs met the target, in all and among those in
    which the hypervisor took no CPU time (steal under 1 %: the figure is then the agent's, not the
    host's; the other runs are counted too, never dropped)."""
    print("| run | p99 (ms) | wire p99 (ms) | max (ms) | generator lag p99 (ms) | steal max (%) | finals | target |")
    print("|---|---|---|---|---|---|---|---|")
    for index, report in enumerate(reports, 1):
        wire = f"{report.wire_p99_ms:.2f}" if report.wire_p99_ms is not None else "-"
        print(f"| {index} | {report.p99_ms:.2f} | {wire} | {report.max_ms:.2f} | {report.generator_lag_p99_ms:.2f} | "
              f"{max_steal(report):.1f} | {report.finals_received}/{report.finals_expected} | "
              f"{'ok' if report.ok(p99_limit) else 'MISSED'} |")
    quiet = [r for r in reports if max_steal(r) < 1.0]
    p99s = sorted(r.p99_ms for r in reports)
    print(f"\n{sum(r.ok(p99_limit) for r in reports)} of {len(reports)} runs met p99 <= {p99_limit:g} ms "
          f"(median p99 {p99s[len(p99s) // 2]:.2f} ms); without steal: "
          f"{sum(r.ok(p99_limit) for r in quiet)} of {len(quiet)}; "
          f"final states lost in all: {sum(r.finals_lost for r in reports)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--rate", type=float, default=10.0, help="agent.hello calls per second per client")
    parser.add_argument("--jobs", type=int, default=4, help="jobs running at any time")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--kind", choices=("download", "diagnose"), default="download")
    parser.add_argument("--job-seconds", type=float, default=15.0,
                        help="how long each download job lasts (2: a new job every half second)")
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS,
                        help="worker processes sharing the page clients")
    parser.add_argument("--pin", action=argparse.BooleanOptionalAction, default=can_pin(),
                        help="pin the agent to the first CPU and the generator to the others "
                             "(default: on with Linux and two CPUs or more)")
    parser.add_argument("--probe-agent", action="store_true",
                        help="load tests/load/agent_probe into the agent: long loop iterations, late selects, GC")
    parser.add_argument("--keep-awake", action="store_true",
                        help="a SCHED_IDLE spinner on every CPU: no idle-CPU wake-up in the latencies")
    parser.add_argument("--split-origin", action="store_true",
                        help="the pollers are pages of another origin: no jobs.updated fan-out to them")
    parser.add_argument("--p99-ms", type=float, default=5.0, help="target for the p99 of agent.hello")
    parser.add_argument("--repeat", type=int, default=1,
                        help="run the load this many times and print one row per run, then a summary")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.pin and not can_pin():
        parser.error("--pin needs Linux and two CPUs or more")
    if args.keep_awake and not hasattr(os, "SCHED_IDLE"):
        parser.error("--keep-awake needs Linux (SCHED_IDLE)")
    reports = []
    for _ in range(max(1, args.repeat)):
        reports.append(asyncio.run(run_load(args.clients, args.rate, args.jobs, args.seconds, args.kind,
                                            workers=args.workers, pin=args.pin, probe_agent=args.probe_agent,
                                            keep_awake=args.keep_awake, split_origin=args.split_origin,
                                            job_seconds=args.job_seconds)))
    ok = all(report.ok(args.p99_ms) for report in reports)
    if args.json:
        runs = [{**asdict(report), "p99_target_ms": args.p99_ms, "ok": report.ok(args.p99_ms)} for report in reports]
        print(json.dumps(runs[0] if len(runs) == 1 else runs, indent=2))
    elif len(reports) == 1:
        print_report(reports[0], args.p99_ms)
    else:
        print_series(reports, args.p99_ms)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
