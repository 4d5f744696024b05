"""``compagnon demo`` gives a new user something to sign with: a demo identity made on first run,
listed and trusted by the demo agent only. Signed from a page's client with its password typed in
the agent's terminal, the signature is checked by openssl; the workstation test says what to do
when there is no signing certificate at all."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pexpect

from bridge_protocol.client import BridgeClient, ClientPairing
from tests.integration.test_cli import _run
from tests.integration.test_sign_job import download, upload
from tests.support.agent_process import ROOT, free_port, isolated_env
from tests.support.pairing import client_secrets, terminal_code


async def test_the_demo_signs_out_of_the_box(home: Path, tmp_path: Path) -> None:
    # A workstation with no certificate at all (not even the suite's SoftHSM token).
    bare = isolated_env(home, suite_tokens=False)
    diagnosed = subprocess.run([sys.executable, "-m", "agent", "diagnose", "--json"], cwd=ROOT, env=bare,
                               stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    none = {c["id"]: c for c in json.loads(diagnosed.stdout)["result"]["checks"]}
    assert none["keystores"]["status"] == "warn" and "Aucun certificat de signature" in none["keystores"]["message"]
    assert "compagnon demo" in none["keystores"]["message"]

    demo_port, agent_port = free_port(), free_port()
    child = pexpect.spawn(sys.executable, ["-m", "agent", "demo", "--port", str(agent_port), "--demo-port",
                                           str(demo_port)], cwd=str(ROOT), env=isolated_env(home), encoding="utf-8",
                          timeout=60)
    try:
        await asyncio.to_thread(child.expect, r"Identité de démonstration .* mot de passe : (\w+)")
        password = child.match.group(1)
        await asyncio.to_thread(child.expect, r"Plateforme de démonstration : (http://127\.0\.0\.1:\d+)/")
        origin = child.match.group(1)
        async def user_reads_the_terminal(origin: str, nonce: bytes) -> str:
            return await terminal_code(child)

        pairing = ClientPairing(client_secrets(home), user_reads_the_terminal)
        async with await BridgeClient.connect(origin, ports=[agent_port], pairing=pairing) as client:
            await client.secure()  # the demo site is pre-approved: the code, without a question
            listing = asyncio.create_task(client.call("certificates.list", {"purpose": "signing"}, timeout=60))
            await asyncio.to_thread(child.expect, r"tapez ([A-Z]{4}) puis")
            child.sendline(child.match.group(1))
            certificates = (await listing)["certificates"]
            [jeanne] = [c for c in certificates if "Jeanne DÉMO" in c["subject"]]
            assert jeanne["suitable"], jeanne  # qualified-looking and trusted, in the demo
            handle = await upload(client, "offre.txt", b"Offre de la SARL EXEMPLE\n")
            job = await client.start_job("sign", {"files": [{"handle": handle, "format": "cades"}],
                                                  "certificate": jeanne["id"]})
            await asyncio.to_thread(child.expect, r"tapez ([A-Z]{4}) puis")
            child.sendline(child.match.group(1))
            await asyncio.to_thread(child.expect, r"(?i)(mot de passe|code PIN)")
            child.sendline(password)
            final = await client.wait_job(job["id"], timeout=120)
            assert final["state"] == "succeeded", final
            signature = await download(client, final["result"]["files"][0]["output_handle"])
    finally:
        child.terminate(force=True)
    demo = home / ".local/state/compagnon/demo"
    # The identity's files are 0600, the platform's folder 0700 and its database 0600.
    assert {p.name: p.stat().st_mode & 0o777 for p in demo.iterdir() if p.is_dir()} == {"plateforme": 0o700}
    assert {p.stat().st_mode & 0o777 for p in demo.iterdir() if not p.is_dir()} == {0o600}
    assert {p.stat().st_mode & 0o777 for p in (demo / "plateforme").iterdir() if not p.is_dir()} == {0o600}
    (tmp_path / "offre.txt").write_bytes(b"Offre de la SARL EXEMPLE\n")
    (tmp_path / "offre.p7s").write_bytes(signature)
    checked = subprocess.run(["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", str(tmp_path / "offre.p7s"),
                              "-content", str(tmp_path / "offre.txt"), "-CAfile", str(demo / "autorite-demo.pem"),
                              "-purpose", "any", "-out", "/dev/null"], capture_output=True, text=True)
    assert "Verification successful" in checked.stderr, checked.stderr
    # Outside the demo, the demo identity is neither listed nor trusted.
    listed = _run(home, "certs", "--json")
    assert "DÉMO" not in listed.stdout
    args = ["verify", str(tmp_path / "offre.p7s"), "--content", str(tmp_path / "offre.txt"), "--json"]
    untrusted = json.loads(_run(home, *args).stdout)["signatures"]
    assert [(s["indication"], s["sub_indication"]) for s in untrusted] == [
        ("INDETERMINATE", "NO_CERTIFICATE_CHAIN_FOUND")], untrusted
    # Trusted (as the demo does), the chain holds and the signature is intact; the demo authority
    # publishes no revocation service, which the report says rather than claim "not revoked".
    trusted = json.loads(_run(home, *args, "--trust", str(demo / "autorite-demo.pem")).stdout)["signatures"]
    checks = {c["name"]: c for c in trusted[0]["checks"]}
    assert checks["revocation"]["status"] == "not_checked", checks["revocation"]
    assert all(c["status"] in ("passed", "not_applicable", "warning") for n, c in checks.items() if n != "revocation")


def test_the_demo_authority_publishes_a_crl_its_certificates_point_to(tmp_path: Path) -> None:
    """Revocation is checked for the demo identity as for a real one: its certificates name a CRL
    distribution point, and the CRL there is signed by the authority (judged by openssl)."""
    from cryptography import x509

    from agent.demo_identity import demo_crl, ensure_demo_identity

    url = "http://127.0.0.1:47280/demo/autorite-demo.crl"
    identity = ensure_demo_identity(tmp_path / "demo", url)
    bidder = x509.load_pem_x509_certificate(identity.bidder.with_suffix(".crt").read_bytes())
    points = bidder.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert [name.value for point in points for name in point.full_name] == [url]
    assert identity.authority_key.stat().st_mode & 0o777 == 0o600
    (tmp_path / "demo.crl").write_bytes(demo_crl(identity))
    checked = subprocess.run(["openssl", "crl", "-inform", "DER", "-in", str(tmp_path / "demo.crl"), "-CAfile",
                              str(identity.authority), "-noout", "-nextupdate"], capture_output=True, text=True)
    assert checked.returncode == 0 and "verify OK" in checked.stderr + checked.stdout, checked
    # An identity made before the authority kept its key is made again, with the distribution point.
    identity.authority_key.unlink()
    again = ensure_demo_identity(tmp_path / "demo", url)
    assert again.authority_key.exists() and again.authority.read_bytes() != b""
