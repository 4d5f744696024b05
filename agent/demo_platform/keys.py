"""Demo platform: the buyer's encryption keys ("Clés de chiffrement") and what bidders seal to.

Routes (all under the demo platform's origin; the bearer token comes from the consultations'
token store, see ``consultations.py``):

* ``POST /api/token`` — a short-lived bearer token for the pages of this demo.
* ``POST /api/keys`` — register a key's public certificate, as the agent's ``keygen`` job posts it
  with ``register_url``: JSON ``{"name", "secours", "certificate" (PEM), "sha256" (of the DER)}``.
  ``201 {"ok": true, "id"}``; ``400 {"error"}`` when it is not a valid RSA certificate. The same
  certificate again replaces the earlier registration.
* ``GET  /api/keys`` — the registered keys: ``[{id, name, secours, sha256, subject, not_after,
  created}]`` (``subject`` is the certificate's common name).
* ``GET  /api/consultations/{id}/recipients`` — ``{"certificates": [PEM, ...]}``: every registered
  key, personal and secours, i.e. what a bidder seals the plis of that consultation to.

Only public certificates ever reach the platform: the private keys stay in the buyer's token or
PKCS#12 file.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, UTC
from typing import Any

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from .consultations import API, CONSULTATIONS_KEY, TOKEN_TTL, DemoConsultations

KEYS_API = "/api/keys"
#: Smallest RSA key a bidder may be asked to seal to.
MIN_RSA_BITS = 2048
MAX_NAME = 200
MAX_PEM = 64 * 1024
_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")


class KeyRejected(ValueError):
    """A registration the platform refuses; the message is shown to the user (French)."""


@dataclass
class RegisteredKey:
    """A buyer's encryption certificate, as the platform keeps it."""

    id: str
    name: str
    secours: bool
    sha256: str
    subject: str
    not_after: datetime
    created: datetime
    pem: str

    def to_json(self) -> dict[str, Any]:
        """The public listing of this key (no PEM: ``recipients`` gives those)."""
        return {"id": self.id, "name": self.name, "secours": self.secours, "sha256": self.sha256,
                "subject": self.subject, "not_after": _iso(self.not_after), "created": _iso(self.created)}


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _key_from_row(row: dict[str, Any]) -> RegisteredKey:
    """A key as the database keeps it (``RegisteredKey.to_json`` plus its PEM)."""
    def moment(text: str) -> datetime:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))

    return RegisteredKey(id=row["id"], name=row["name"], secours=row["secours"], sha256=row["sha256"],
                         subject=row["subject"], not_after=moment(row["not_after"]), created=moment(row["created"]),
                         pem=row["pem"])


def check_registration(body: Any) -> tuple[str, bool, x509.Certificate, str]:
    """``(name, secours, certificate, sha256)`` of a registration body, else ``KeyRejected``."""
    if not isinstance(body, dict):
        raise KeyRejected("objet JSON attendu")
    name, secours, pem, sha256 = (body.get(k) for k in ("name", "secours", "certificate", "sha256"))
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
        raise KeyRejected(f"name : texte de 1 à {MAX_NAME} caractères attendu")
    if not isinstance(secours, bool):
        raise KeyRejected("secours : booléen attendu")
    if not isinstance(pem, str) or not pem.strip() or len(pem) > MAX_PEM:
        raise KeyRejected("certificate : certificat PEM attendu")
    if not isinstance(sha256, str) or not _SHA256.match(sha256):
        raise KeyRejected("sha256 : 64 chiffres hexadécimaux attendus")
    try:
        certificate = x509.load_pem_x509_certificate(pem.encode("utf-8"))
    except ValueError:
        raise KeyRejected("certificate : certificat PEM illisible") from None
    der = certificate.public_bytes(serialization.Encoding.DER)
    digest = hashlib.sha256(der).hexdigest()
    if digest != sha256.lower():
        raise KeyRejected("sha256 : l'empreinte ne correspond pas au certificat")
    public_key = certificate.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise KeyRejected("certificate : une clé RSA est attendue")
    if public_key.key_size < MIN_RSA_BITS:
        raise KeyRejected(f"certificate : clé RSA de {MIN_RSA_BITS} bits au moins attendue")
    if certificate.not_valid_after_utc <= datetime.now(UTC):
        raise KeyRejected("certificate : certificat expiré")
    return name.strip(), secours, certificate, digest


def _common_name(certificate: x509.Certificate) -> str:
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    value = names[0].value if names else certificate.subject.rfc4514_string()
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


class DemoKeys:
    """The demo buyer's registered encryption keys, kept in the platform's database (the
    consultations' ``db``): a restarted demo still seals deposits to them."""

    def __init__(self, consultations: DemoConsultations) -> None:
        self.consultations = consultations
        self.keys: list[RegisteredKey] = [_key_from_row(row) for row in consultations.db.keys()]
        self._counter = max((int(k.id[1:]) for k in self.keys if k.id[1:].isdigit()), default=0)

    def register(self, body: Any) -> RegisteredKey:
        """Check and keep a registration; the same certificate (SHA-256) replaces the earlier one."""
        name, secours, certificate, sha256 = check_registration(body)
        earlier = next((k for k in self.keys if k.sha256 == sha256), None)
        if earlier is None:
            self._counter += 1
            key_id = f"k{self._counter}"
        else:
            key_id = earlier.id
            self.keys.remove(earlier)
        key = RegisteredKey(
            id=key_id, name=name, secours=secours, sha256=sha256, subject=_common_name(certificate),
            not_after=certificate.not_valid_after_utc, created=datetime.now(UTC),
            pem=certificate.public_bytes(serialization.Encoding.PEM).decode("ascii"),
        )
        self.keys.append(key)
        self.consultations.db.save_key(key.id, {**key.to_json(), "pem": key.pem})
        return key

    def recipients(self) -> list[str]:
        """PEM certificates of every key (personal and secours)."""
        return [k.pem for k in self.keys]

    # -- routes ------------------------------------------------------------------------------
    def _require(self, request: web.Request) -> None:
        if not self.consultations.authorised(request):
            raise web.HTTPUnauthorized(headers={"WWW-Authenticate": 'Bearer realm="compagnon-demo"'})

    async def token(self, request: web.Request) -> web.Response:
        return web.json_response({"token": self.consultations.issue_token(), "expires_in": TOKEN_TTL},
                                 headers={"Cache-Control": "no-store"})

    async def post_key(self, request: web.Request) -> web.Response:
        self._require(request)
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"error": "JSON illisible"}, status=400)
        try:
            key = self.register(body)
        except KeyRejected as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({"ok": True, "id": key.id}, status=201)

    async def list_keys(self, request: web.Request) -> web.Response:
        self._require(request)
        return web.json_response([k.to_json() for k in self.keys], headers={"Cache-Control": "no-store"})

    async def recipient_certificates(self, request: web.Request) -> web.Response:
        self._require(request)
        if request.match_info["cid"] not in self.consultations.consultations:
            raise web.HTTPNotFound()
        return web.json_response({"certificates": self.recipients()}, headers={"Cache-Control": "no-store"})


KEYS_KEY = web.AppKey("keys", DemoKeys)


def add_key_routes(app: web.Application) -> DemoKeys:
    """Serve the token, key registration and recipients routes (after ``add_consultation_routes``)."""
    keys = DemoKeys(app[CONSULTATIONS_KEY])
    app[KEYS_KEY] = keys
    app.router.add_post("/api/token", keys.token)
    app.router.add_post(KEYS_API, keys.post_key)
    app.router.add_get(KEYS_API, keys.list_keys)
    app.router.add_get(API + "/{cid}/recipients", keys.recipient_certificates)
    return keys


__all__ = ["KEYS_KEY", "DemoKeys", "KeyRejected", "RegisteredKey", "add_key_routes", "check_registration"]
