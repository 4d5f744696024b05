"""Start-up benchmark: what one ``compagnon`` command costs before and around its work.

    python tests/bench/bench_startup.py [--gib 1] [--runs 7] [--json] [--installed COMPAGNON]

* ``compagnon --version`` against ``python3 -c pass`` (the interpreter alone), median of ``--runs``;
* ``compagnon verify`` of a small attached CAdES (a 2 KB text signed at bench time) against
  ``openssl cms -verify`` of the same file (target: under 0.3 s), median of ``--runs``: first with
  no agent (the command spawns its isolated worker, which imports the validation stack), then with
  this user's agent running (``compagnon serve``), as on a workstation where the tray agent starts
  with the session: the agent's fork server runs the command in a warm child, whose verification
  runs in a warm worker (agent.cli.warm, agent.fork_server), and the command's own process only
  connects, sends and waits (its CPU column is that process's alone);
* ``compagnon sign`` (CAdES detached) of a 1 GiB file against ``openssl dgst -sha256`` of the same
  file, page cache warm for both (target: at most 1.5x).

Every command is a child process; wall time is measured around it, CPU time (user + system) and
peak RSS come from ``wait4`` for that child alone (its isolated verification worker is a child of
its own: its CPU is not counted, its wall time is). The key is a fresh RSA 2048 PKCS#12 file.
Bytecode caching is on, as in an installed agent, whatever ``PYTHONDONTWRITEBYTECODE`` says.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.bench.bench_sign import PASSWORD, compagnon, make_key, write_big_file  # noqa: E402
from tests.support.agent_process import free_port, isolated_env  # noqa: E402


def timed(cmd: list[str], *, stdin: bytes | None = None, env: dict[str, str] | None = None
          ) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds, peak RSS in MB) of one child process, which must succeed."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=ROOT)
    if stdin is not None:
        assert proc.stdin
        proc.stdin.write(stdin)
        proc.stdin.close()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        error = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        raise RuntimeError(f"{cmd[:4]} failed: {error[-2000:]}")
    if proc.stderr:
        proc.stderr.close()
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def median_of(runs: int, cmd: list[str], *, env: dict[str, str] | None = None) -> tuple[float, float, float]:
    """Median wall and CPU seconds and the largest RSS over ``runs`` runs (after one warm-up run)."""
    timed(cmd, env=env)
    samples = [timed(cmd, env=env) for _ in range(runs)]
    return (statistics.median(s[0] for s in samples), statistics.median(s[1] for s in samples),
            max(s[2] for s in samples))


@contextmanager
def running_agent(home: Path, env: dict[str, str]) -> Iterator[None]:
    """This user's agent (``compagnon serve`` on a free port), up until its fork server listens."""
    from agent.fork_channel import socket_path

    agent = subprocess.Popen(compagnon("serve", "--port", str(free_port())), env=env, cwd=ROOT,
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not socket_path(home / ".local/state/compagnon").exists():
            if agent.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the agent or its fork server did not start")
            time.sleep(0.05)
        yield
    finally:
        agent.terminate()
        agent.wait(15)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--gib", type=float, default=1.0)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--installed", type=Path, metavar="COMPAGNON",
                        help="measure this installed command (e.g. the Linux installer's "
                             "~/.local/share/compagnon/app/current/venv/bin/compagnon) instead of this checkout's")
    args = parser.parse_args()
    if args.installed is not None:
        global compagnon
        installed = str(args.installed)
        compagnon = lambda *words: [installed, *words]  # noqa: E731 — the same calls, another program
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        folder = Path(tmp)
        env = {**isolated_env(folder / "home"), "PYTHONPATH": str(ROOT)}
        if args.installed is not None:  # the installed package, not this checkout
            env.pop("PYTHONPATH")
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # as installed: compiled modules are cached (the warm-up run writes them)
        p12, cert_pem, _ = make_key(folder)
        secret = (PASSWORD + "\n").encode()

        # 1. The command line alone.
        wall, cpu, rss = median_of(args.runs, compagnon("--version"), env=env)
        ref_wall, ref_cpu, _ = median_of(args.runs, [sys.executable, "-c", "pass"], env=env)
        rows.append({"figure": f"compagnon --version, median of {args.runs}", "compagnon_s": wall,
                     "compagnon_cpu_s": cpu, "rss_mb": rss, "reference": "python3 -c pass", "reference_s": ref_wall,
                     "reference_cpu_s": ref_cpu, "ratio": wall / ref_wall, "target": "", "ok": None})

        # 2. verify of a small attached CAdES.
        small = folder / "note.txt"
        small.write_bytes(("Offre pour le lot 1 : voir le mémoire technique.\n" * 40).encode())
        timed(compagnon("sign", str(small), "--format", "cades", "--attached", "--p12", str(p12), "--pin-stdin",
                        "--out-dir", str(folder / "signed")), stdin=secret, env=env)
        (signed,) = (folder / "signed").glob("*.p7m")
        wall, cpu, rss = median_of(args.runs, compagnon("verify", str(signed), "--trust", str(cert_pem)), env=env)
        ref_wall, ref_cpu, _ = median_of(args.runs, ["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in",
                                                     str(signed), "-CAfile", str(cert_pem), "-out", os.devnull])
        size = f"{signed.stat().st_size / 1024:.1f} KB"
        rows.append({"figure": f"verify a {size} attached CAdES, no agent running, median of {args.runs}",
                     "compagnon_s": wall, "compagnon_cpu_s": cpu, "rss_mb": rss, "reference": "openssl cms -verify",
                     "reference_s": ref_wall, "reference_cpu_s": ref_cpu, "ratio": wall / ref_wall,
                     "target": "< 0.3 s", "ok": wall < 0.3})
        with running_agent(folder / "home", env):
            wall, cpu, rss = median_of(args.runs, compagnon("verify", str(signed), "--trust", str(cert_pem)), env=env)
        rows.append({"figure": f"verify a {size} attached CAdES, the agent running (warm worker), median of {args.runs}",
                     "compagnon_s": wall, "compagnon_cpu_s": cpu, "rss_mb": rss, "reference": "openssl cms -verify",
                     "reference_s": ref_wall, "reference_cpu_s": ref_cpu, "ratio": wall / ref_wall,
                     "target": "< 0.3 s", "ok": wall < 0.3})

        # 3. sign of a large file against hashing it.
        big = folder / "offre.bin"
        write_big_file(big, int(args.gib * 1024**3))
        timed(["openssl", "dgst", "-sha256", str(big)])  # warm the page cache for both
        ref_wall, ref_cpu, _ = timed(["openssl", "dgst", "-sha256", str(big)])
        wall, cpu, rss = timed(compagnon("sign", str(big), "--format", "cades", "--p12", str(p12), "--pin-stdin",
                                         "--out-dir", str(folder / "out")), stdin=secret, env=env)
        rows.append({"figure": f"sign (CAdES detached) {args.gib:g} GiB", "compagnon_s": wall, "compagnon_cpu_s": cpu,
                     "rss_mb": rss, "reference": "openssl dgst -sha256", "reference_s": ref_wall,
                     "reference_cpu_s": ref_cpu, "ratio": wall / ref_wall, "target": "<= 1.5x",
                     "ok": wall / ref_wall <= 1.5})
        big.unlink()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"bench_startup — {time.strftime('%Y-%m-%d')} — {os.cpu_count()} cores {platform.machine()}, "
          f"Python {platform.python_version()}, {args.installed or 'python -m agent from this checkout'}\n")
    print("| figure | Compagnon (s) | reference | reference (s) | ratio | peak RSS (MB) | target |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        verdict = "" if r["ok"] is None else ("ok" if r["ok"] else "MISSED")
        print(f"| {r['figure']} | {r['compagnon_s']:.3f} ({r['compagnon_cpu_s']:.3f} CPU) | {r['reference']} | "
              f"{r['reference_s']:.3f} ({r['reference_cpu_s']:.3f} CPU) | {r['ratio']:.2f}x | {r['rss_mb']:.0f} | "
              f"{r['target']} {verdict} |")
    return 0 if all(r["ok"] is not False for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
