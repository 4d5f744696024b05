"""Download benchmark: a ``bids.download`` job against ``curl`` on loopback, in the same run.

    python tests/bench/bench_download.py [--gib 1] [--runs 3] [--json]

The demo platform's consultation routes (agent/demo_platform/consultations.py) serve one sealed
file of ``--gib`` GiB (generated under ``$BENCH_TMP`` or the system's temporary folder) from a
thread of this process, with a bearer token. Each run downloads it:

* with Compagnon: a child process runs the real ``bids.download`` job in-process (descriptor,
  free-space check, streaming download with SHA-256, fsync, rename) — wall time of the job;
* with ``curl -s -o`` on the same URL and token — wall time of the child; and ``curl`` followed by
  ``sync FILE``, the same durability as Compagnon's (which fsyncs before the final rename).

Runs alternate between the tools and the output is removed (and synced) between runs; the table
shows the best run of each. Target: Compagnon's throughput >= 0.8x curl's. Peak RSS comes from
``wait4`` for the Compagnon child alone.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

CONSULTATION = "BENCH-1"

CHILD = r"""
import asyncio, json, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from agent.config import Settings
from agent.consent import PolicyConsent
from agent.jobs.context import JobServices
from agent.jobs.manager import JobManager
from agent.kinds.registry import KINDS, platform_client
import agent.kinds.bids_download, agent.kinds.consultation, agent.platform_http.client  # loaded, as in a running agent
import os
synced = [0.0]
real_fsync = os.fsync

def timed_fsync(fd):  # how long the job waits for the disk (reported apart)
    start = time.perf_counter()
    try:
        return real_fsync(fd)
    finally:
        synced[0] += time.perf_counter() - start

os.fsync = timed_fsync

async def main() -> None:
    origin, url, token, out = sys.argv[2:6]
    settings = Settings(output_dir=Path(out), state_dir=Path(out) / ".state")
    manager = JobManager(JobServices(settings=settings, consent=PolicyConsent(approve=True)),
                         kinds=KINDS, platform_client=platform_client)
    start = time.perf_counter()
    job = manager.start(origin, "bids.download", {"url": url, "token": token})
    final = (await manager.wait(job.id)).snapshot()
    elapsed = time.perf_counter() - start
    if final["state"] != "succeeded":
        raise SystemExit(json.dumps(final["error"]))
    print(json.dumps({"seconds": elapsed, "fsync": synced[0], "bytes": final["result"]["bytes"]}))

asyncio.run(main())
"""


def write_big_file(path: Path, size: int) -> None:
    block = os.urandom(4 * 1024 * 1024)
    with path.open("wb") as out:
        for start in range(0, size, len(block)):
            out.write(block[:min(len(block), size - start)])


class Platform:
    """The demo consultation routes in a thread of their own (their own event loop)."""

    def __init__(self, root: Path, big: Path) -> None:
        self.root, self.big = root, big
        self.port = 0
        self.token = ""
        self.url = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Platform:
        from aiohttp import web

        from agent.demo_platform.consultations import DemoEnvelope, DemoFile, DemoPli, add_consultation_routes

        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            app = web.Application()
            store = add_consultation_routes(app, self.root, demo=False)
            consultation = store.add(CONSULTATION, "Banc d'essai", [
                DemoPli("Pli 1", "BANC", [DemoEnvelope("offre", [DemoFile("offre.bin", path=self.big)])])])
            self.token = store.issue_token(ttl=24 * 3600)
            self.url = consultation.plis[0].envelopes[0].files[0].url or ""
            runner = web.AppRunner(app, access_log=None, handle_signals=False)
            loop.run_until_complete(runner.setup())
            site = web.TCPSite(runner, "127.0.0.1", 0)
            loop.run_until_complete(site.start())
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            ready.set()
            loop.run_forever()
            loop.run_until_complete(runner.cleanup())

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        if not ready.wait(600):
            raise RuntimeError("platform did not start")
        return self

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)


def child(cmd: list[str]) -> tuple[float, float, str]:
    """(wall seconds, peak RSS in MB, stdout) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    out = proc.stdout.read().decode() if proc.stdout else ""
    if os.waitstatus_to_exitcode(status) != 0:
        error = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        raise RuntimeError(f"{cmd[:3]} failed: {error[-2000:]}")
    return wall, usage.ru_maxrss / 1024, out


def clean(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()
    os.sync()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--gib", type=float, default=1.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    size = int(args.gib * 1024**3)
    times: dict[str, list[float]] = {"compagnon": [], "compagnon-fsync": [], "curl": [], "curl+sync": []}
    rss: list[float] = []
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        folder = Path(tmp)
        big = folder / "offre.bin"
        write_big_file(big, size)
        server = Platform(folder / "platform", big).start()
        try:
            url = f"{server.origin}{server.url}"
            descriptor = f"/api/consultations/{CONSULTATION}"
            out = folder / "out"
            curl_out = folder / "curl.bin"
            curl = ["curl", "-s", "-f", "-H", f"Authorization: Bearer {server.token}", "-o", str(curl_out), url]
            child(["curl", "-s", "-o", os.devnull, "-H", f"Authorization: Bearer {server.token}", url])  # warm up
            clean(out)
            for _ in range(args.runs):
                wall, _, _ = child(curl)
                times["curl"].append(wall)
                start = time.perf_counter()
                subprocess.run(["sync", str(curl_out)], check=True)
                times["curl+sync"].append(wall + time.perf_counter() - start)
                assert curl_out.stat().st_size == size
                clean(curl_out)

                _, peak, printed = child([sys.executable, "-c", CHILD, str(ROOT), server.origin, descriptor,
                                          server.token, str(out)])
                report = json.loads(printed)
                assert report["bytes"] == size
                times["compagnon"].append(report["seconds"])
                times["compagnon-fsync"].append(report["seconds"] - report["fsync"])
                rss.append(peak)
                clean(out)
        finally:
            server.stop()

    best = {k: min(v) for k, v in times.items()}
    mib = size / 1024**2
    rows = []
    for ours, reference, what in (
        ("compagnon", "curl", "curl -s -o"),
        ("compagnon", "curl+sync", "curl -s -o, then sync FILE"),
        ("compagnon-fsync", "curl", "curl -s -o"),
    ):
        ratio = best[reference] / best[ours]  # throughput ratio = inverse time ratio
        rows.append({
            "figure": f"download {args.gib:g} GiB on loopback"
                      + (", fsync waits excluded" if ours != "compagnon" else ""),
            "compagnon_s": best[ours], "compagnon_mib_s": mib / best[ours],
            "reference": what, "reference_s": best[reference], "reference_mib_s": mib / best[reference],
            "ratio": ratio, "rss_mb": max(rss), "target": ">= 0.8x throughput", "ok": ratio >= 0.8,
            "runs": {k: [round(x, 3) for x in times[k]] for k in (ours, reference)},
            "median_ratio": statistics.median(times[reference]) / statistics.median(times[ours]),
        })
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0 if rows[0]["ok"] else 1
    print(f"bench_download — {time.strftime('%Y-%m-%d')} — {os.cpu_count()} cores {platform.machine()}, "
          f"Python {platform.python_version()}, best of {args.runs} runs\n")
    print("| figure | Compagnon (s) | Compagnon (MiB/s) | reference | reference (s) | reference (MiB/s) "
          "| throughput ratio (median) | peak RSS (MB) | target |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['figure']} | {r['compagnon_s']:.2f} | {r['compagnon_mib_s']:.0f} | {r['reference']} | "
              f"{r['reference_s']:.2f} | {r['reference_mib_s']:.0f} | {r['ratio']:.2f} ({r['median_ratio']:.2f}) | "
              f"{r['rss_mb']:.0f} | {r['target']} {'ok' if r['ok'] else 'MISSED'} |")
    print("\nCompagnon's time is the whole job: descriptor, space check, download with SHA-256, fsync and rename"
          "\n(the last row leaves out the time spent waiting in fsync, which curl -s -o never does).")
    return 0 if rows[0]["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
