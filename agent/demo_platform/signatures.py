"""Demo platform: the signed files a bidder's page has the agent send back.

* ``POST /api/signatures`` — one signed output of a ``sign`` job run with ``upload_url``
  (multipart ``file`` + the fields of ``bridge_protocol.platform.SignedUpload``: ``source``,
  ``source_sha256``); answered ``201`` with ``{"ok", "size", "sha256"}`` (``UploadAccepted``).
* ``GET  /api/signatures`` — what was received (names, sizes, SHA-256; no paths).

Both need the demo's bearer token, as the consultation routes do.
"""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass
from pathlib import Path

from aiohttp import web

from .consultations import CONSULTATIONS_KEY, DemoConsultations, _receive_form

SIGNATURES_API = "/api/signatures"
#: Largest signed file the route accepts.
MAX_SIGNED_BYTES = 512 * 1024 * 1024


@dataclass
class ReceivedSignature:
    source: str
    source_sha256: str
    name: str
    size: int
    sha256: str
    path: Path


class DemoSignatures:
    """The signed files received, kept under the consultations' folder and listed in its database."""

    def __init__(self, consultations: DemoConsultations) -> None:
        self.consultations = consultations
        self.received: list[ReceivedSignature] = [
            ReceivedSignature(**{**row, "path": Path(row["path"])}) for row in consultations.db.signatures()]

    def _require(self, request: web.Request) -> None:
        if not self.consultations.authorised(request):
            raise web.HTTPUnauthorized(headers={"WWW-Authenticate": 'Bearer realm="compagnon-demo"'})

    async def post(self, request: web.Request) -> web.Response:
        self._require(request)
        target = self.consultations.root / "signatures" / secrets.token_hex(8)
        form = await _receive_form(request, target, MAX_SIGNED_BYTES)
        missing = [k for k in ("source", "source_sha256") if k not in form.fields]
        if form.sha256 is None or missing:
            target.unlink(missing_ok=True)
            return web.json_response(
                {"error": "champs manquants", "missing": missing + ([] if form.sha256 else ["file"])}, status=400)
        received = ReceivedSignature(
            source=form.fields["source"], source_sha256=form.fields["source_sha256"],
            name=form.filename or "signature", size=form.size, sha256=form.sha256, path=target)
        self.received.append(received)
        self.consultations.db.save_signature({**asdict(received), "path": str(target)})
        return web.json_response({"ok": True, "size": form.size, "sha256": form.sha256}, status=201)

    async def list_received(self, request: web.Request) -> web.Response:
        self._require(request)
        rows = [{"source": r.source, "name": r.name, "size": r.size, "sha256": r.sha256} for r in self.received]
        return web.json_response(rows, headers={"Cache-Control": "no-store"})


SIGNATURES_KEY = web.AppKey("signatures", DemoSignatures)


def add_signature_routes(app: web.Application) -> DemoSignatures:
    """Serve the signature routes (after ``add_consultation_routes``)."""
    signatures = DemoSignatures(app[CONSULTATIONS_KEY])
    app[SIGNATURES_KEY] = signatures
    app.router.add_post(SIGNATURES_API, signatures.post)
    app.router.add_get(SIGNATURES_API, signatures.list_received)
    return signatures


__all__ = ["SIGNATURES_API", "SIGNATURES_KEY", "DemoSignatures", "add_signature_routes"]
