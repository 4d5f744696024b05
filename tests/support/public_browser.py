"""Chromium seeing the test pages as a real platform's users do (Local Network Access).

A real platform is a public origin (``https://marches.example.fr``): Chromium then lets its pages
reach the agent on 127.0.0.1 only with the "loopback-network" permission or the admin policy
``LoopbackNetworkAllowedForUrls``. The test servers listen on 127.0.0.1, so Chromium is told:

* ``--host-resolver-rules``: the platform's host names resolve to 127.0.0.1 (the page's origin is
  ``https://marches.example.fr:PORT``, a name, as in production);
* ``--ip-address-space-overrides=127.0.0.1:PORT=public``: those servers count as public addresses
  (the agent's port stays loopback);
* ``--ignore-certificate-errors``: the servers' certificate is self-signed (``self_signed_tls``).

``policy_chromium`` gives Chromium a managed policy file exactly where an administrator puts it
(``/etc/chromium/policies/managed/``), visible to that Chromium process only: the browser runs in
its own mount namespace where a copy of ``/etc/chromium`` with the policy is mounted over the real
one. Nothing is written to the machine's ``/etc`` and nothing is left behind; other browsers
running at the same time see no policy.
"""

from __future__ import annotations

import datetime
import json
import os
import shlex
import shutil
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
#: The platform's public host name, and the one of another site that embeds its pages in a frame.
PLATFORM_HOST = "marches.example.fr"
EMBEDDER_HOST = "acheteur.example.fr"
CHROMIUM_POLICY_DIR = Path("/etc/chromium")


def public_args(public_ports: list[int]) -> list[str]:
    """Chromium switches that make the servers on ``public_ports`` public, named web sites."""
    overrides = ",".join(f"127.0.0.1:{port}=public" for port in public_ports)
    rules = ",".join(f"MAP {host} 127.0.0.1" for host in (PLATFORM_HOST, EMBEDDER_HOST))
    return [*CHROMIUM_ARGS, "--ignore-certificate-errors", f"--host-resolver-rules={rules}",
            f"--ip-address-space-overrides={overrides}"]


def self_signed_tls(folder: Path) -> ssl.SSLContext:
    """A server TLS context with a fresh self-signed certificate for the two test host names."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, PLATFORM_HOST)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(PLATFORM_HOST), x509.DNSName(EMBEDDER_HOST)]),
                       critical=False)
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    cert_file, key_file = folder / "server.pem", folder / "server.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return context


def policy_chromium(folder: Path, policies: dict[str, object]) -> Path:
    """An executable that starts Chromium with ``policies`` as its managed policy file
    (``/etc/chromium/policies/managed/compagnon.json``), seen by that process only.

    Needs ``unshare`` (util-linux) and either root or unprivileged user namespaces.
    """
    if shutil.which("unshare") is None:
        raise AssertionError("unshare (util-linux) is needed to give Chromium a policy of its own")
    etc = folder / "etc-chromium"
    if CHROMIUM_POLICY_DIR.is_dir():
        shutil.copytree(CHROMIUM_POLICY_DIR, etc, dirs_exist_ok=True)
    managed = etc / "policies" / "managed"
    managed.mkdir(parents=True, exist_ok=True)
    (managed / "compagnon.json").write_text(json.dumps(policies), encoding="utf-8")
    namespace = ["unshare", "--mount"] if os.geteuid() == 0 else ["unshare", "--mount", "--map-root-user"]
    script = folder / "chromium-with-policy"
    inner = f'mount --bind {shlex.quote(str(etc))} {CHROMIUM_POLICY_DIR} && exec {shlex.quote(CHROMIUM)} "$@"'
    script.write_text(
        "#!/bin/sh\n"
        f"exec {' '.join(namespace)} sh -c {shlex.quote(inner)} chromium \"$@\"\n",
        encoding="utf-8",
    )
    script.chmod(0o755)
    return script


async def set_loopback_permission(page, origin: str, setting: str) -> None:  # type: ignore[no-untyped-def]
    """Set the "loopback-network" permission of ``origin`` in ``page``'s browser context, as the
    user does in the site's settings (CDP Browser.setPermission: granted, denied or prompt).

    The DevTools session stays open: Chromium drops a session's permission overrides when it
    detaches. It closes with the page.
    """
    cdp = await page.context.new_cdp_session(page)
    context_id = (await cdp.send("Target.getTargetInfo"))["targetInfo"]["browserContextId"]
    await cdp.send("Browser.setPermission", {"permission": {"name": "loopback-network"}, "setting": setting,
                                             "origin": origin, "browserContextId": context_id})


async def loopback_permission(frame) -> str:  # type: ignore[no-untyped-def]
    """The page's own reading of its "loopback-network" permission."""
    return str(await frame.evaluate("navigator.permissions.query({name: 'loopback-network'}).then((s) => s.state)"))
