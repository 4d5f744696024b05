"""Decryption benchmark: ``compagnon decrypt`` against ``openssl cms -decrypt`` on the same envelope.

    python tests/bench/bench_decrypt.py [--gib 1] [--json]

The envelope is made by ``openssl cms -encrypt -stream`` (indefinite-length BER, AES-256-CBC and
AES-256-GCM) for a fresh RSA 2048 key. Targets (sealed-bids issue): at most 0.8x openssl's wall
time, peak RSS at most 64 MB. Each run is a child process; peak RSS comes from ``wait4``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.bench.bench_sign import PASSWORD, make_key, run, write_big_file  # noqa: E402
from tests.support.agent_process import isolated_env  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--gib", type=float, default=1.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        folder = Path(tmp)
        env = isolated_env(folder / "home")
        p12, cert_pem, key_pem = make_key(folder)
        plain = folder / "offre.bin"
        write_big_file(plain, int(args.gib * 1024**3))
        for cipher in ("-aes256", "-aes-256-gcm"):
            envelope = folder / "offre.bin.p7m"
            run(["openssl", "cms", "-encrypt", "-stream", "-binary", "-outform", "DER", cipher, "-in", str(plain),
                 "-out", str(envelope), str(cert_pem)])
            plain.unlink()  # keep the disk footprint down: two copies at most
            ref_wall, ref_rss = run(["openssl", "cms", "-decrypt", "-binary", "-inform", "DER", "-in", str(envelope),
                                     "-recip", str(cert_pem), "-inkey", str(key_pem), "-out", str(folder / "ref.bin")])
            (folder / "ref.bin").unlink()
            wall, rss = run([sys.executable, "-m", "agent", "decrypt", str(envelope), "--p12", str(p12), "--pin-stdin",
                             "--out-dir", str(folder / "out")], stdin=(PASSWORD + "\n").encode(), env=env)
            plain = folder / "out" / "offre.bin"
            assert plain.stat().st_size == int(args.gib * 1024**3)
            name = "CBC" if cipher == "-aes256" else "GCM"
            rows.append({"figure": f"decrypt {args.gib:g} GiB, AES-256-{name}, BER stream", "compagnon_s": wall,
                         "openssl_s": ref_wall, "ratio": wall / ref_wall, "rss_mb": rss, "openssl_rss_mb": ref_rss,
                         "ok": wall / ref_wall <= 0.8 and rss <= 64})
            envelope.unlink()
            plain = plain.rename(folder / "offre.bin")
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"bench_decrypt — {time.strftime('%Y-%m-%d')} — {os.cpu_count()} cores {platform.machine()}, "
          f"Python {platform.python_version()}\n")
    print("| figure | Compagnon (s) | openssl cms -decrypt (s) | ratio | peak RSS (MB) | openssl RSS (MB) | target |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['figure']} | {r['compagnon_s']:.2f} | {r['openssl_s']:.2f} | {r['ratio']:.2f} | {r['rss_mb']:.0f} | "
              f"{r['openssl_rss_mb']:.0f} | <= 0.8x, RSS <= 64 MB {'ok' if r['ok'] else 'MISSED'} |")
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
