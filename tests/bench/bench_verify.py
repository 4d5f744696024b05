"""Verification benchmark: ``compagnon verify`` of a whole pli in one process against one
``compagnon verify`` process per file, in the same run; and the start-up of a one-file verify.

    python tests/bench/bench_verify.py [--files 320] [--sample 40] [--runs 7] [--json]

* a folder of ``--files`` mixed files (a quarter each: PAdES B-B, detached CAdES, their contents,
  enveloped XAdES B-B; one signature in ten tampered), made at bench time by Compagnon's own
  signing engines with the test PKI's "qualified" key (tests/support/pki: CRL and OCSP served on
  loopback, so revocation is really fetched). ``compagnon verify FOLDER`` runs once (one report);
  its time per file is its wall time over the number of files, its peak RSS that of the process
  (``wait4``). The reference is ``compagnon verify FILE`` run once per signature file (a detached
  token finds its content beside it): the median of ``--sample`` runs spread over the folder
  (``--sample 0``: every file), times the number of signature files. Targets: at least 5x faster,
  peak RSS <= 200 MB. The batch's JSON report is checked (every file listed, the tampered ones
  TOTAL_FAILED, the others TOTAL_PASSED), so a fast wrong answer cannot pass.
* the start-up: median wall time of ``compagnon verify`` of one 2 KB XAdES file over ``--runs``
  runs, against ``xmlsec1 --verify`` of the same file (the reference tool; it checks the XML
  signature only, no certificate path nor revocation).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.support.agent_process import isolated_env  # noqa: E402

TAMPER_EVERY = 10


def run(cmd: list[str], env: dict[str, str] | None = None, ok: tuple[int, ...] = (0,)
        ) -> tuple[float, float, str, float]:
    """(wall seconds, peak RSS in MB, stdout, CPU seconds) of one child process; its exit status
    must be in ``ok``. CPU time (user + system) says what the work costs when other processes
    share the cores; wall time is what the user waits."""
    start = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.PIPE, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        error = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        if proc.stderr:
            proc.stderr.close()
        code = os.waitstatus_to_exitcode(status)
        proc.returncode = code
        if code not in ok:
            raise RuntimeError(f"{cmd[:4]} exited {code}: {error[-2000:]}")
        out.seek(0)
        return (wall, usage.ru_maxrss / 1024, out.read().decode("utf-8", errors="replace"),
                usage.ru_utime + usage.ru_stime)


def compagnon(*args: str) -> list[str]:
    return [sys.executable, "-m", "agent", *args]


def make_pli(folder: Path, pki, count: int) -> tuple[list[Path], set[str]]:  # type: ignore[no-untyped-def]
    """``count`` files (signature files and contents); the signature files and the tampered names."""
    from agent.consent import Secret
    from agent.keystores.pkcs12_store import Pkcs12FileStore
    from agent.signing import xades
    from agent.signing.base import SigningKey
    from agent.signing.cades import sign_cades
    from agent.signing.pades import sign_pdf
    from tests.support import xml_samples
    from tests.support.pdf import make_pdf

    folder.mkdir()
    store = Pkcs12FileStore(pki.p12("qualified", "pw"))
    (stored,) = store.unlock(Secret("pw"))
    signatures: list[Path] = []
    tampered: set[str] = set()
    per_kind = max(1, count // 4)
    with store.open(Secret("pw")) as session:
        key = SigningKey.from_session(session, stored)
        pdf = make_pdf(pages=2, title="Acte d'engagement")
        xml = xml_samples.plain_xml()
        for i in range(per_kind):
            bad = i % TAMPER_EVERY == TAMPER_EVERY - 1
            # PAdES B-B
            target = folder / f"acte-{i:03d}.pdf"
            with target.open("w+b") as out:
                sign_pdf(io.BytesIO(pdf), out, key)
            if bad:  # a byte of the signed content changed
                data = bytearray(target.read_bytes())
                at = data.index(b"Acte d'engagement")
                data[at] ^= 0x01
                target.write_bytes(bytes(data))
            signatures.append(target)
            # detached CAdES beside its content
            content = folder / f"annexe-{i:03d}.bin"
            content.write_bytes(os.urandom(20 * 1024))
            token = folder / f"annexe-{i:03d}.bin.p7s"
            with content.open("rb") as source, token.open("wb") as out:
                sign_cades(source, out, key)
            if bad:  # its first byte flipped
                data = content.read_bytes()
                content.write_bytes(bytes([data[0] ^ 0xFF]) + data[1:])
            signatures.append(token)
            # enveloped XAdES
            target = folder / f"flux-{i:03d}.xml"
            with target.open("wb") as out:
                xades.sign_enveloped(io.BytesIO(xml), out, key)
            if bad:  # a signed amount changed
                target.write_bytes(target.read_bytes().replace(b"125000.00", b"125900.00"))
            signatures.append(target)
            if bad:
                tampered.update({f"acte-{i:03d}.pdf", f"annexe-{i:03d}.bin.p7s", f"flux-{i:03d}.xml"})
    return signatures, tampered


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=320, help="files in the folder (a multiple of 4)")
    parser.add_argument("--sample", type=int, default=40, help="one-process-per-file runs (0: every file)")
    parser.add_argument("--runs", type=int, default=7, help="runs of the start-up measure")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from tests.support.pki import start_test_pki, stop_test_pki

    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        folder = Path(tmp)
        env = isolated_env(folder / "home")
        pki = start_test_pki(folder / "pki")
        try:
            pli = folder / "pli"
            signatures, tampered = make_pli(pli, pki, args.files)
            files = sorted(p.name for p in pli.iterdir())
            trust = ["--trust", str(pki.root_pem)]

            # 1. The whole folder in one process, one report.
            wall, rss, out, cpu = run(compagnon("verify", str(pli), *trust, "--json"), env, ok=(0, 1, 2))
            report = json.loads(out)
            listed = {e["file"]: e for e in report["files"]}
            assert sorted(listed) == files, "every file in the report"
            for path in signatures:
                expected = "TOTAL_FAILED" if path.name in tampered else "TOTAL_PASSED"
                assert listed[path.name]["indication"] == expected, (path.name, listed[path.name])

            # 2. The reference: one process per signature file (a spread sample).
            sample = signatures if args.sample <= 0 else \
                [signatures[round(i * (len(signatures) - 1) / max(1, args.sample - 1))] for i in range(args.sample)]
            singles = [run(compagnon("verify", str(path), *trust, "--json"), env, ok=(0, 1, 2)) for path in sample]
            per_file = statistics.median(s[0] for s in singles)
            per_file_cpu = statistics.median(s[3] for s in singles)
            reference = per_file * len(signatures)
            rows.append({
                "figure": f"verify a folder of {len(files)} files ({len(signatures)} signatures, "
                          f"{len(tampered)} tampered)",
                "compagnon_s": wall, "per_file_ms": 1000 * wall / len(files), "rss_mb": rss,
                "compagnon_cpu_s": cpu, "reference_cpu_s": per_file_cpu * len(signatures),
                "reference": f"compagnon verify once per signature file (median of {len(sample)} runs "
                             f"x {len(signatures)})",
                "reference_per_file_ms": 1000 * per_file, "reference_s": reference, "ratio": wall / reference,
                "target": ">= 5x faster, RSS <= 200 MB", "ok": reference / wall >= 5 and rss <= 200,
            })

            # 3. Start-up: one 2 KB XAdES file.
            small = folder / "petit.xml"
            small.write_bytes((pli / "flux-000.xml").read_bytes())
            starts = [run(compagnon("verify", str(small), *trust), env) for _ in range(args.runs)]
            with tempfile.NamedTemporaryFile(suffix=".pem") as root:
                root.write(pki.root_pem.read_bytes())
                root.flush()
                refs = [run(["xmlsec1", "--verify", "--enabled-key-data", "x509", "--trusted-pem", root.name,
                             "--untrusted-pem", str(pki.intermediate_pem), "--id-attr:Id", "SignedProperties",
                             str(small)])[0] for _ in range(args.runs)]
            start_ms, ref_ms = 1000 * statistics.median(s[0] for s in starts), 1000 * statistics.median(refs)
            rows.append({
                "figure": f"verify one {small.stat().st_size / 1024:.1f} KB XAdES (start-up included), "
                          f"median of {args.runs}",
                "compagnon_ms": start_ms, "compagnon_cpu_ms": 1000 * statistics.median(s[3] for s in starts),
                "reference": "xmlsec1 --verify", "reference_ms": ref_ms,
                "ratio": start_ms / ref_ms, "target": "", "ok": True,
            })
        finally:
            stop_test_pki(pki)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"bench_verify — {time.strftime('%Y-%m-%d')} — {os.cpu_count()} cores {platform.machine()}, "
          f"Python {platform.python_version()}\n")
    for r in rows:
        print("\n".join(f"{key}: {value:.2f}" if isinstance(value, float) else f"{key}: {value}"
                        for key, value in r.items()), end="\n\n")
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
