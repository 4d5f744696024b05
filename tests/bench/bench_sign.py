"""Signing benchmark: ``compagnon sign`` against the reference tools, in the same run.

    python tests/bench/bench_sign.py [--gib 1] [--pdf-mb 200] [--batch 1000] [--json]

* CAdES detached of a 1 GiB file vs ``sha256sum`` of the same file (target <= 1.3x wall time,
  peak RSS <= 100 MB);
* PAdES B-B of a 200 MB PDF vs ``cp`` then ``sha256sum`` (target <= 2x, RSS <= 150 MB);
* a batch of 1000 files of 10 KB in one job vs one ``openssl cms -sign`` process per file
  (target: at least 5x faster).

Every command is a child process; wall time is measured around it and peak RSS comes from
``wait4`` for that child alone. The key is a fresh RSA 2048 PKCS#12 file.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402
from cryptography.hazmat.primitives.serialization import pkcs12  # noqa: E402

from tests.support.agent_process import isolated_env  # noqa: E402

PASSWORD = "bench"


def run(cmd: list[str], *, stdin: bytes | None = None, env: dict[str, str] | None = None) -> tuple[float, float]:
    """(wall seconds, peak RSS in MB) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    if stdin is not None:
        assert proc.stdin
        proc.stdin.write(stdin)
        proc.stdin.close()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        error = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        raise RuntimeError(f"{cmd[:3]} failed: {error[-2000:]}")
    return wall, usage.ru_maxrss / 1024


def make_key(folder: Path) -> tuple[Path, Path, Path]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "Banc d'essai")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=30))
            .add_extension(x509.KeyUsage(True, True, False, False, False, False, False, False, False), True)
            .sign(key, hashes.SHA256()))
    p12 = folder / "bench.p12"
    p12.write_bytes(pkcs12.serialize_key_and_certificates(b"bench", key, cert, None,
                                                           serialization.BestAvailableEncryption(PASSWORD.encode())))
    cert_pem = folder / "cert.pem"
    cert_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_pem = folder / "key.pem"
    key_pem.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return p12, cert_pem, key_pem


def write_big_file(path: Path, size: int) -> None:
    block = os.urandom(4 * 1024 * 1024)
    with path.open("wb") as out:
        for _ in range(size // len(block)):
            out.write(block)


def compagnon(*args: str) -> list[str]:
    return [sys.executable, "-m", "agent", *args]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--gib", type=float, default=1.0)
    parser.add_argument("--pdf-mb", type=int, default=200)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        folder = Path(tmp)
        env = isolated_env(folder / "home")
        p12, cert_pem, key_pem = make_key(folder)
        secret = (PASSWORD + "\n").encode()

        # 1. CAdES detached of a large file vs sha256sum.
        big = folder / "offre.bin"
        write_big_file(big, int(args.gib * 1024**3))
        run(["sha256sum", str(big)])  # warm the page cache for both
        ref_wall, ref_rss = run(["sha256sum", str(big)])
        wall, rss = run(compagnon("sign", str(big), "--format", "cades", "--p12", str(p12), "--pin-stdin",
                                  "--out-dir", str(folder / "out")), stdin=secret, env=env)
        rows.append({"figure": f"CAdES detached, {args.gib:g} GiB", "compagnon_s": wall, "reference": "sha256sum",
                     "reference_s": ref_wall, "ratio": wall / ref_wall, "rss_mb": rss, "target": "<= 1.3x, RSS <= 100 MB",
                     "ok": wall / ref_wall <= 1.3 and rss <= 100})
        big.unlink()

        # 2. PAdES B-B of a large PDF vs cp + sha256sum.
        from tests.support.pdf import make_pdf_file

        pdf = make_pdf_file(folder / "dossier.pdf", pages=50, target_size=args.pdf_mb * 1024**2)
        run(["sha256sum", str(pdf)])
        cp_wall, _ = run(["cp", str(pdf), str(folder / "copy.pdf")])
        sum_wall, _ = run(["sha256sum", str(folder / "copy.pdf")])
        (folder / "copy.pdf").unlink()
        ref_wall = cp_wall + sum_wall
        wall, rss = run(compagnon("sign", str(pdf), "--format", "pades", "--p12", str(p12), "--pin-stdin",
                                  "--out-dir", str(folder / "out")), stdin=secret, env=env)
        rows.append({"figure": f"PAdES B-B, {args.pdf_mb} MB PDF", "compagnon_s": wall, "reference": "cp + sha256sum",
                     "reference_s": ref_wall, "ratio": wall / ref_wall, "rss_mb": rss, "target": "<= 2x, RSS <= 150 MB",
                     "ok": wall / ref_wall <= 2 and rss <= 150})
        pdf.unlink()

        # 3. A batch of small files in one job vs one openssl process per file.
        batch = folder / "batch"
        batch.mkdir()
        files = []
        for i in range(args.batch):
            f = batch / f"piece-{i:04d}.txt"
            f.write_bytes(os.urandom(10 * 1024))
            files.append(f)
        start = time.perf_counter()
        for f in files:
            subprocess.run(["openssl", "cms", "-sign", "-binary", "-outform", "DER", "-in", str(f), "-out", f"{f}.p7s",
                            "-signer", str(cert_pem), "-inkey", str(key_pem), "-md", "sha256"], check=True)
        ref_wall = time.perf_counter() - start
        wall, rss = run(compagnon("sign", *map(str, files), "--format", "cades", "--p12", str(p12), "--pin-stdin",
                                  "--out-dir", str(folder / "out-batch")), stdin=secret, env=env)
        produced = len(list((folder / "out-batch").glob("*.p7s")))
        assert produced == args.batch, produced
        rows.append({"figure": f"batch of {args.batch} x 10 KB, CAdES", "compagnon_s": wall,
                     "reference": "openssl cms -sign per file", "reference_s": ref_wall, "ratio": wall / ref_wall,
                     "rss_mb": rss, "target": ">= 5x faster", "ok": ref_wall / wall >= 5})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"bench_sign — {time.strftime('%Y-%m-%d')} — {os.cpu_count()} cores {platform.machine()}, "
          f"Python {platform.python_version()}\n")
    print("| figure | Compagnon (s) | reference | reference (s) | ratio | peak RSS (MB) | target |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['figure']} | {r['compagnon_s']:.2f} | {r['reference']} | {r['reference_s']:.2f} | "
              f"{r['ratio']:.2f} | {r['rss_mb']:.0f} | {r['target']} {'ok' if r['ok'] else 'MISSED'} |")
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
