"""Update tests' parts: an Ed25519 publisher key, a manifest server on loopback, wheels, install layouts."""

from __future__ import annotations

import asyncio
import base64
import csv
import hashlib
import io
import json
import os
import threading
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.update.installer import InstallRequest

ROOT = Path(__file__).resolve().parents[2]
LAUNCHER = ROOT / "installers" / "common" / "launcher.py"


# -- the publisher's key ---------------------------------------------------------------------------


@dataclass
class Publisher:
    key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)

    @property
    def public_b64(self) -> str:
        raw = self.key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return base64.b64encode(raw).decode()

    def sign(self, data: bytes) -> bytes:
        return base64.b64encode(self.key.sign(data)) + b"\n"


# -- the manifest server (its own thread and loop: the updater blocks) ------------------------------


class ManifestServer:
    """Serves ``routes`` (path → bytes) on 127.0.0.1; ``chunked`` paths go without Content-Length."""

    def __init__(self) -> None:
        self.routes: dict[str, bytes] = {}
        self.chunked: set[str] = set()
        self.hits: list[str] = []
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def manifest_url(self) -> str:
        return f"{self.base}/compagnon/manifest.json"

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.hits.append(request.path)
        body = self.routes.get(request.path)
        if body is None:
            raise web.HTTPNotFound()
        if request.path in self.chunked:
            response = web.StreamResponse()
            response.enable_chunked_encoding()
            await response.prepare(request)
            for start in range(0, len(body), 65536):
                await response.write(body[start:start + 65536])
            await response.write_eof()
            return response
        return web.Response(body=body, content_type="application/octet-stream")

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_get("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def start(self) -> ManifestServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def publish(self, publisher: Publisher, version: str, files: dict[str, bytes], *,
                signer: Publisher | None = None, sign_bytes: bytes | None = None,
                declared: dict[str, dict[str, Any]] | None = None, **members: Any) -> bytes:
        """Publish a manifest of ``files`` (name → content) signed by ``signer`` (default: ``publisher``).

        ``declared`` overrides a file's manifest entry (wrong size or hash); ``sign_bytes`` signs other
        bytes than the manifest's; ``members`` are added to (or replace) the manifest's members.
        """
        entries = []
        for name, content in files.items():
            self.routes[f"/compagnon/files/{name}"] = content
            entry = {"name": name, "size": len(content), "sha256": hashlib.sha256(content).hexdigest(),
                     "url": f"files/{name}"}
            entry.update((declared or {}).get(name, {}))
            entries.append(entry)
        manifest = {"product": "compagnon", "version": version, "min_agent": "0.1.0",
                    "published": "2026-11-23T12:00:00Z", "files": entries,
                    "notes": {"fr": f"Compagnon {version} : corrections.", "en": f"Compagnon {version}: fixes."}}
        manifest.update(members)
        data = json.dumps(manifest, indent=1).encode()
        self.routes["/compagnon/manifest.json"] = data
        self.routes["/compagnon/manifest.json.sig"] = (signer or publisher).sign(sign_bytes or data)
        return data


# -- wheels ----------------------------------------------------------------------------------------

READY_MAIN = '''
import json, os, signal, sys, time


def main():
    if sys.argv[1:] == ["--version"]:
        print("compagnon " + VERSION)
        return
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    state = os.path.join(base, "compagnon")
    os.makedirs(state, exist_ok=True)
    tmp = os.path.join(state, ".ready.tmp")
    with open(tmp, "w") as stream:
        json.dump({"pid": os.getpid(), "version": VERSION, "argv": sys.argv[1:]}, stream)
    os.replace(tmp, os.path.join(state, "ready.json"))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        time.sleep(1)
'''


def make_wheel(version: str, package: str = "fakecompagnon", main: str = READY_MAIN) -> tuple[str, bytes]:
    """A ``compagnon-<version>-py3-none-any.whl`` whose ``compagnon`` command writes ready.json and waits
    (``main``: another body for its module, after ``VERSION = …``)."""
    dist_info = f"compagnon-{version}.dist-info"
    contents = {
        f"{package}/__init__.py": f"VERSION = {version!r}\n{main}".encode(),
        f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: compagnon\nVersion: {version}\n".encode(),
        f"{dist_info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        f"{dist_info}/entry_points.txt": f"[console_scripts]\ncompagnon = {package}:main\n".encode(),
        f"{dist_info}/top_level.txt": f"{package}\n".encode(),
    }
    record = io.StringIO()
    writer = csv.writer(record, lineterminator="\n")
    for name, data in contents.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        writer.writerow([name, f"sha256={digest}", len(data)])
    writer.writerow([f"{dist_info}/RECORD", "", ""])
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in contents.items():
            archive.writestr(name, data)
        archive.writestr(f"{dist_info}/RECORD", record.getvalue())
    return f"compagnon-{version}-py3-none-any.whl", buffer.getvalue()


# -- install layouts with fake versions -------------------------------------------------------------


def fake_script(version: str, ready_file: Path, mode: str = "healthy") -> str:
    """A ``compagnon`` stand-in. ``serve``/``tray``: ``healthy`` writes ready.json then waits, ``exit1``
    fails at once, ``silent`` runs but never says it is ready; any other command exits 0. Each run
    appends its argv to ``runs.log`` beside it."""
    ready = str(ready_file)
    lines = ["#!/bin/sh", f"# fake compagnon {version} ({mode})",
             'echo "$$ $*" >> "$(dirname "$0")/runs.log"',
             'case "${1:-}" in serve|tray) ;; *) exit 0 ;; esac  # other commands: done at once']
    if mode == "exit1":
        lines.append("exit 1")
    elif mode == "silent":
        lines.append("exec sleep 600")
    else:
        lines += [f'mkdir -p "{ready_file.parent}"',
                  f"printf '{{\"pid\": %d, \"version\": \"{version}\"}}' $$ > \"{ready}.tmp\"",
                  f'mv "{ready}.tmp" "{ready}"',
                  "exec sleep 600"]
    return "\n".join(lines) + "\n"


def write_fake_version(app: Path, version: str, ready_file: Path, mode: str = "healthy") -> Path:
    script = app / "versions" / version / "venv" / "bin" / "compagnon"
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(fake_script(version, ready_file, mode))
    script.chmod(0o755)
    return script


def make_layout(app: Path, current: str, ready_file: Path, mode: str = "healthy", pointer: bool = False) -> None:
    """``app/versions/<current>`` (a fake version) and ``app/current`` pointing to it (``pointer``:
    ``app/current.txt`` naming it instead, as on Windows)."""
    write_fake_version(app, current, ready_file, mode)
    if pointer:
        (app / "current.txt").write_text(f"{current}\n", encoding="utf-8")
    else:
        os.symlink(f"versions/{current}", app / "current")


@dataclass
class FakeInstaller:
    """The injectable install step: checks it was given the verified wheel, writes a fake command."""

    ready_file: Path
    mode: str = "healthy"
    calls: list[InstallRequest] = field(default_factory=list)
    #: The wheel each call was given, read while it was there (staging is removed once built).
    wheels: list[bytes] = field(default_factory=list)

    def __call__(self, request: InstallRequest) -> None:
        self.calls.append(request)
        self.wheels.append(request.wheel.read_bytes())
        assert request.wheel.is_file() and request.wheel.parent == request.find_links
        assert all(p.is_file() for p in request.wheels)
        write_fake_version(request.version_dir.parent.parent, request.version, self.ready_file, self.mode)


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None
