#!/usr/bin/env python3
"""Every benchmark of tests/bench/ in one run, and one table of the figures.

    python tests/bench/run_all.py [--quick] [--only bridge,sign,decrypt,download,verify] [--json]
    tests/bench/run_all [--quick]                       (the same, under a shorter name)

Runs ``bench_bridge``, ``bench_sign``, ``bench_decrypt``, ``bench_download``, ``bench_verify`` and
``bench_startup`` one after the other, each in its own process with ``--json``, and prints one markdown table: the figure, Compagnon's
value, the reference tool's value measured in the same run, the ratio, the target, and ok or
MISSED; with the date and the machine (CPU model, cores, RAM, OS) above it.

``--quick`` runs small sizes (32 MiB files, a 2 s polling run, a batch of 50, a folder of 40 files) to check that every
bench works in a minute or two; its figures say nothing about the targets, which are set for the
full sizes (1 GiB files, 200 MB PDF, a batch of 1000, 10 s of polling, a folder of 320 files). Large files go under
``$BENCH_TMP`` (default: the system's temporary folder). Exit status 0 when every figure with a
target met it, 1 otherwise (or when a bench failed).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

QUICK_GIB = "0.03125"  # 32 MiB: a multiple of the benches' 4 MiB write blocks


@dataclass
class Bench:
    name: str
    full: list[str]
    quick: list[str]


BENCHES = [
    Bench("bridge", [], ["--seconds", "2"]),
    Bench("sign", [], ["--gib", QUICK_GIB, "--pdf-mb", "8", "--batch", "50"]),
    Bench("decrypt", [], ["--gib", QUICK_GIB]),
    Bench("download", [], ["--gib", QUICK_GIB, "--runs", "1"]),
    Bench("verify", [], ["--files", "40", "--sample", "4", "--runs", "2"]),
    Bench("startup", [], ["--gib", QUICK_GIB, "--runs", "2"]),
]


@dataclass
class Row:
    bench: str
    figure: str
    compagnon: str
    reference: str
    ratio: str
    target: str
    result: str  # "ok", "MISSED", "" (no target) or "ERROR"


# -- each bench's JSON, as rows ------------------------------------------------------------------


def bridge_rows(data: dict[str, Any]) -> list[Row]:
    from tests.bench.bench_bridge import LABELS, TARGETS

    agent, echo = data["agent"], data["reference"]
    rows = []
    for key, label in LABELS.items():
        ratio = agent[key] / echo[key] if echo[key] else float("nan")
        target, result = "", ""
        if key in TARGETS:
            op, limit = TARGETS[key]
            target = f"{op} {limit:g}"
            result = "ok" if agent[key] <= limit else "MISSED"
        rows.append(Row("bridge", label, f"{agent[key]:.2f}", f"aiohttp echo server: {echo[key]:.2f}",
                        f"{ratio:.2f}x", target, result))
    return rows


def _ok(row: dict[str, Any]) -> str:
    return "ok" if row.get("ok") else "MISSED"


def sign_rows(data: list[dict[str, Any]]) -> list[Row]:
    return [Row("sign", r["figure"], f"{r['compagnon_s']:.2f} s, RSS {r['rss_mb']:.0f} MB",
                f"{r['reference']}: {r['reference_s']:.2f} s", f"{r['ratio']:.2f}x time", r["target"], _ok(r))
            for r in data]


def decrypt_rows(data: list[dict[str, Any]]) -> list[Row]:
    return [Row("decrypt", r["figure"], f"{r['compagnon_s']:.2f} s, RSS {r['rss_mb']:.0f} MB",
                f"openssl cms -decrypt: {r['openssl_s']:.2f} s, RSS {r['openssl_rss_mb']:.0f} MB",
                f"{r['ratio']:.2f}x time", "<= 0.8x time, RSS <= 64 MB", _ok(r))
            for r in data]


def download_rows(data: list[dict[str, Any]]) -> list[Row]:
    return [Row("download", r["figure"], f"{r['compagnon_s']:.2f} s ({r['compagnon_mib_s']:.0f} MiB/s), "
                f"RSS {r['rss_mb']:.0f} MB", f"{r['reference']}: {r['reference_s']:.2f} s "
                f"({r['reference_mib_s']:.0f} MiB/s)", f"{r['ratio']:.2f}x throughput", r["target"], _ok(r))
            for r in data]


def verify_rows(data: list[dict[str, Any]]) -> list[Row]:
    rows = []
    for r in data:
        if "per_file_ms" in r:
            rows.append(Row("verify", r["figure"], f"{r['compagnon_s']:.2f} s ({r['compagnon_cpu_s']:.1f} s CPU), "
                            f"{r['per_file_ms']:.0f} ms per file, RSS {r['rss_mb']:.0f} MB",
                            f"{r['reference']}: {r['reference_s']:.2f} s ({r['reference_cpu_s']:.1f} s CPU), "
                            f"{r['reference_per_file_ms']:.0f} ms per file", f"{r['ratio']:.2f}x time", r["target"],
                            _ok(r)))
        else:
            rows.append(Row("verify", r["figure"], f"{r['compagnon_ms']:.0f} ms ({r['compagnon_cpu_ms']:.0f} ms CPU)",
                            f"{r['reference']}: {r['reference_ms']:.0f} ms", f"{r['ratio']:.2f}x", "", ""))
    return rows


def startup_rows(data: list[dict[str, Any]]) -> list[Row]:
    return [Row("startup", r["figure"], f"{r['compagnon_s']:.2f} s ({r['compagnon_cpu_s']:.2f} s CPU), "
                f"RSS {r['rss_mb']:.0f} MB", f"{r['reference']}: {r['reference_s']:.2f} s "
                f"({r['reference_cpu_s']:.2f} s CPU)", f"{r['ratio']:.2f}x time", r["target"],
                "" if r["ok"] is None else _ok(r))
            for r in data]


PARSERS: dict[str, Callable[[Any], list[Row]]] = {
    "bridge": bridge_rows, "sign": sign_rows, "decrypt": decrypt_rows, "download": download_rows,
    "verify": verify_rows, "startup": startup_rows,
}


def run_bench(bench: Bench, quick: bool) -> tuple[list[Row], float]:
    """Run one bench in a child process; its rows (an ERROR row when it failed) and its duration."""
    script = HERE / f"bench_{bench.name}.py"
    cmd = [sys.executable, str(script), *(bench.quick if quick else bench.full), "--json"]
    print(f"run_all: {' '.join(cmd[1:])}", file=sys.stderr, flush=True)
    started = time.monotonic()
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    elapsed = time.monotonic() - started
    try:
        data = json.loads(result.stdout)
        return PARSERS[bench.name](data), elapsed
    except (ValueError, KeyError, TypeError) as exc:
        print(result.stderr[-4000:], file=sys.stderr)
        last = (result.stderr.strip().splitlines() or [f"{type(exc).__name__}: {exc}"])[-1][:160]
        return [Row(bench.name, f"bench_{bench.name} failed (exit {result.returncode}): {last}", "", "", "", "",
                    "ERROR")], elapsed


# -- the machine -----------------------------------------------------------------------------------


def machine() -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = ""
    try:
        import psutil

        ram = f"{psutil.virtual_memory().total / 2**30:.1f} GiB"
    except ImportError:
        try:
            kib = int(next(line for line in Path("/proc/meminfo").read_text().splitlines()
                           if line.startswith("MemTotal")).split()[1])
            ram = f"{kib / 2**20:.1f} GiB"
        except (OSError, StopIteration, ValueError):
            ram = "?"
    system = platform.platform()
    try:
        release = dict(line.split("=", 1) for line in Path("/etc/os-release").read_text().splitlines() if "=" in line)
        system = f"{release.get('PRETTY_NAME', '').strip(chr(34))} ({platform.system()} {platform.release()})"
    except OSError:
        pass
    return {"cpu": cpu, "cores": str(os.cpu_count()), "ram": ram, "os": system,
            "python": platform.python_version(), "load": " ".join(f"{x:.2f}" for x in os.getloadavg())}


def print_table(rows: list[Row], info: dict[str, str], quick: bool, durations: dict[str, float]) -> None:
    mode = " (quick: small sizes)" if quick else ""
    print(f"# Compagnon benchmarks — {time.strftime('%Y-%m-%d %H:%M %Z')}{mode}\n")
    print(f"Machine: {info['cpu']}, {info['cores']} cores, {info['ram']} RAM, {info['os']}, "
          f"Python {info['python']} (load average at the end: {info['load']})\n")
    print("| bench | figure | Compagnon | reference (same run) | ratio | target | result |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r.bench} | {r.figure} | {r.compagnon} | {r.reference} | {r.ratio} | {r.target} | {r.result} |")
    spent = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in durations.items())
    print(f"\nTime per bench: {spent}.")
    if quick:
        print("Quick mode: the sizes are too small for the targets to mean much; run without --quick for the figures.")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: check that every bench runs")
    parser.add_argument("--only", help="comma-separated subset of: " + ", ".join(b.name for b in BENCHES))
    parser.add_argument("--json", action="store_true", help="print the rows and the machine as JSON")
    args = parser.parse_args()
    chosen = BENCHES
    if args.only:
        wanted = {name.strip().removeprefix("bench_") for name in args.only.split(",")}
        unknown = wanted - {b.name for b in BENCHES}
        if unknown:
            parser.error(f"unknown bench(es): {', '.join(sorted(unknown))}")
        chosen = [b for b in BENCHES if b.name in wanted]
    rows: list[Row] = []
    durations: dict[str, float] = {}
    for bench in chosen:
        bench_rows, durations[bench.name] = run_bench(bench, args.quick)
        rows.extend(bench_rows)
    info = machine()
    if args.json:
        print(json.dumps({"date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "quick": args.quick, "machine": info,
                          "seconds": durations, "rows": [asdict(r) for r in rows]}, indent=2, ensure_ascii=False))
    else:
        print_table(rows, info, args.quick, durations)
    return 0 if all(r.result in ("ok", "") for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
