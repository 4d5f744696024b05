"""The signed update manifest: signature first, then parsing, then the rules.

``manifest.json`` (UTF-8 JSON, at most 1 MiB)::

    {"product": "compagnon", "version": "0.2.0", "min_agent": "0.1.0",
     "published": "2026-11-23T12:00:00Z",
     "dependencies_unchanged": true,
     "files": [{"name": "compagnon-0.2.0-py3-none-any.whl", "size": 123456,
                "sha256": "<64 hex>", "url": "https://…/compagnon-0.2.0-py3-none-any.whl"}],
     "notes": {"fr": "…", "en": "…"}}

``manifest.json.sig`` beside it: base64 of the 64-byte Ed25519 signature over the manifest's
exact bytes. The signature is checked against every pinned key *before* anything in the manifest
is read; a manifest no pinned key verifies is refused whatever it says.

- ``files`` holds the new version's wheel (``compagnon-<version>-….whl``) and, unless
  ``dependencies_unchanged`` is true, the wheels of all its dependencies: they are installed with
  ``pip --no-index`` from the verified files only, never from a package index.
- ``url`` may be relative to the manifest's URL; it must be https (see agent.update.config).
- ``min_agent``: the oldest running version that may install this one directly.
- Unknown members are ignored (later manifests may add some; the signature covers them).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urljoin

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .config import decode_public_key, url_allowed
from .semver import InvalidVersion, Version

PRODUCT = "compagnon"
MAX_MANIFEST_BYTES = 1024 * 1024
MAX_SIGNATURE_BYTES = 4096
MAX_FILE_BYTES = 1024**3
MAX_TOTAL_BYTES = 2 * 1024**3
MAX_FILES = 200
_WHEEL_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+-]*\.whl$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")

#: Why an update is refused: stable codes (audit records, ``--json``) and their French text.
REASONS_FR: dict[str, str] = {
    "disabled": "mises à jour désactivées",
    "not_installed": "Compagnon n'a pas été installé par l'installateur (ni app/current ni app/current.txt) : "
                     "mise à jour automatique impossible",
    "busy": "une mise à jour est déjà en cours de préparation",
    "insecure_url": "adresse refusée (https obligatoire)",
    "download_failed": "téléchargement impossible",
    "manifest_too_large": "manifeste trop volumineux (1 Mio au plus)",
    "signature_invalid": "signature invalide : aucune clé épinglée ne vérifie le manifeste",
    "manifest_invalid": "manifeste invalide",
    "wrong_product": "le manifeste concerne un autre produit",
    "downgrade": "retour à une version antérieure refusé",
    "min_agent": "cette mise à jour exige une version plus récente de Compagnon",
    "failed_before": "cette version n'a pas démarré lors d'une précédente tentative : elle n'est pas réessayée",
    "size_mismatch": "taille du fichier téléchargé différente de celle du manifeste",
    "hash_mismatch": "empreinte SHA-256 du fichier téléchargé différente de celle du manifeste",
    "no_space": "espace disque insuffisant",
    "install_failed": "installation de la nouvelle version impossible",
}
#: The same reasons in English (``compagnon --lang en update``).
REASONS_EN: dict[str, str] = {
    "disabled": "updates are off",
    "not_installed": "Compagnon was not installed by the installer (neither app/current nor app/current.txt): "
                     "no automatic update",
    "busy": "an update is already being prepared",
    "insecure_url": "address refused (https required)",
    "download_failed": "download failed",
    "manifest_too_large": "manifest too large (1 MiB at most)",
    "signature_invalid": "invalid signature: no pinned key verifies the manifest",
    "manifest_invalid": "invalid manifest",
    "wrong_product": "the manifest is for another product",
    "downgrade": "going back to an earlier version is refused",
    "min_agent": "this update requires a more recent version of Compagnon",
    "failed_before": "this version did not start on an earlier attempt: it is not tried again",
    "size_mismatch": "size of the downloaded file differs from the manifest's",
    "hash_mismatch": "SHA-256 fingerprint of the downloaded file differs from the manifest's",
    "no_space": "not enough disk space",
    "install_failed": "the new version cannot be installed",
}


class UpdateRefused(Exception):
    """An update was refused (or could not be fetched): a stable ``code`` and a detail."""

    def __init__(self, code: str, detail: str = "", version: str | None = None) -> None:
        self.code = code
        self.detail = detail
        self.version = version
        super().__init__(self.message())

    def message(self, locale: str = "fr") -> str:
        """The reason in ``locale`` (French or English), then the detail as it was given."""
        text = (REASONS_EN if locale == "en" else REASONS_FR).get(self.code, self.code)
        return f"{text} ({self.detail})" if self.detail else text


@dataclass(frozen=True)
class ManifestFile:
    name: str
    size: int
    sha256: str
    url: str


@dataclass(frozen=True)
class Manifest:
    product: str
    version: str
    published: str
    files: tuple[ManifestFile, ...]
    min_agent: str | None = None
    dependencies_unchanged: bool = False
    notes: dict[str, str] = field(default_factory=dict)
    #: SHA-256 of the exact signed bytes (recorded with the staged version).
    digest: str = ""

    @property
    def wheel(self) -> ManifestFile:
        """The new version's own wheel (``compagnon-<version>-….whl``)."""
        prefix = f"{PRODUCT}-{self.version}-"
        return next(f for f in self.files if f.name.startswith(prefix))

    def note(self, locale: str = "fr") -> str:
        return self.notes.get(locale) or self.notes.get("fr") or self.notes.get("en") or ""


def decode_signature(text: bytes) -> bytes:
    """The 64 signature bytes of a ``.sig`` file (base64, surrounding whitespace allowed)."""
    if len(text) > MAX_SIGNATURE_BYTES:
        raise UpdateRefused("signature_invalid", "fichier de signature trop grand")
    try:
        raw = base64.b64decode(b"".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise UpdateRefused("signature_invalid", "signature illisible (base64 attendu)") from None
    if len(raw) != 64:
        raise UpdateRefused("signature_invalid", "une signature Ed25519 fait 64 octets")
    return raw


def verify_signature(data: bytes, signature: bytes, public_keys: tuple[str, ...] | list[str]) -> int:
    """The index of the pinned key that verifies ``signature`` over ``data``, else UpdateRefused."""
    if not public_keys:
        raise UpdateRefused("disabled")
    raw = decode_signature(signature)
    for index, key in enumerate(public_keys):
        try:
            Ed25519PublicKey.from_public_bytes(decode_public_key(key)).verify(raw, data)
        except (InvalidSignature, ValueError):
            continue
        return index
    raise UpdateRefused("signature_invalid")


def _req(obj: dict[str, Any], key: str, kind: type, where: str = "") -> Any:
    value = obj.get(key)
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise UpdateRefused("manifest_invalid", f"{where}{key} absent ou de type incorrect")
    return value


def parse_manifest(data: bytes, manifest_url: str) -> Manifest:
    """Parse *already verified* manifest bytes; file URLs are resolved against ``manifest_url``."""
    if len(data) > MAX_MANIFEST_BYTES:
        raise UpdateRefused("manifest_too_large")
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise UpdateRefused("manifest_invalid", "JSON illisible") from None
    if not isinstance(doc, dict):
        raise UpdateRefused("manifest_invalid", "objet JSON attendu")
    product = _req(doc, "product", str)
    version = _req(doc, "version", str)
    if product != PRODUCT:
        raise UpdateRefused("wrong_product", f"« {product[:40]} »", version=version[:64])
    try:
        Version.parse(version)
    except InvalidVersion:
        raise UpdateRefused("manifest_invalid", "version non conforme (semver)") from None
    min_agent = doc.get("min_agent")
    if min_agent is not None:
        try:
            Version.parse(min_agent)
        except InvalidVersion:
            raise UpdateRefused("manifest_invalid", "min_agent non conforme (semver)", version) from None
    published = _req(doc, "published", str)
    try:
        datetime.fromisoformat(published.replace("Z", "+00:00"))
    except ValueError:
        raise UpdateRefused("manifest_invalid", "published : date ISO 8601 attendue", version) from None
    unchanged = doc.get("dependencies_unchanged", False)
    if not isinstance(unchanged, bool):
        raise UpdateRefused("manifest_invalid", "dependencies_unchanged : booléen attendu", version)
    notes = doc.get("notes") or {}
    if not isinstance(notes, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in notes.items()):
        raise UpdateRefused("manifest_invalid", "notes : textes par langue attendus", version)
    raw_files = _req(doc, "files", list)
    if not raw_files or len(raw_files) > MAX_FILES:
        raise UpdateRefused("manifest_invalid", "files : entre 1 et 200 fichiers", version)
    files: list[ManifestFile] = []
    for index, entry in enumerate(raw_files):
        where = f"files[{index}]."
        if not isinstance(entry, dict):
            raise UpdateRefused("manifest_invalid", f"files[{index}] : objet attendu", version)
        name = _req(entry, "name", str, where)
        size = _req(entry, "size", int, where)
        sha = _req(entry, "sha256", str, where).lower()
        url = _req(entry, "url", str, where)
        if not _WHEEL_NAME.match(name) or len(name) > 200:
            raise UpdateRefused("manifest_invalid", f"{where}name : nom de wheel attendu", version)
        if not 0 < size <= MAX_FILE_BYTES:
            raise UpdateRefused("manifest_invalid", f"{where}size : hors limites", version)
        if not _SHA256.match(sha):
            raise UpdateRefused("manifest_invalid", f"{where}sha256 : 64 chiffres hexadécimaux attendus", version)
        absolute = urljoin(manifest_url, url)
        if not url_allowed(absolute):
            raise UpdateRefused("insecure_url", absolute[:200], version)
        files.append(ManifestFile(name, size, sha, absolute))
    if len({f.name for f in files}) != len(files):
        raise UpdateRefused("manifest_invalid", "files : noms en double", version)
    if sum(f.size for f in files) > MAX_TOTAL_BYTES:
        raise UpdateRefused("manifest_invalid", "files : taille totale hors limites", version)
    if sum(1 for f in files if f.name.startswith(f"{PRODUCT}-{version}-")) != 1:
        raise UpdateRefused("manifest_invalid", f"files : une et une seule wheel {PRODUCT}-{version}-….whl", version)
    return Manifest(product, version, published, tuple(files), min_agent, unchanged, dict(notes),
                    hashlib.sha256(data).hexdigest())


def check_applicable(manifest: Manifest, running: str, failed: set[str] | frozenset[str] = frozenset()) -> bool:
    """True when ``manifest`` is an update for ``running``; False when it is the running version.

    Raises UpdateRefused for an older version (no downgrade), a ``min_agent`` above the running
    version, or a version that already failed to start here.
    """
    new, current = Version.parse(manifest.version), Version.parse(running)
    if new == current:
        return False
    if new < current:
        raise UpdateRefused("downgrade", f"{manifest.version} < {running}", manifest.version)
    if manifest.min_agent and current < Version.parse(manifest.min_agent):
        raise UpdateRefused("min_agent", f"{manifest.min_agent} au moins, {running} en cours", manifest.version)
    if manifest.version in failed:
        raise UpdateRefused("failed_before", manifest.version, manifest.version)
    return True


def verify_and_parse(data: bytes, signature: bytes, public_keys: tuple[str, ...] | list[str],
                     manifest_url: str) -> Manifest:
    """Size limit, then the signature against the pinned keys, then parsing (in that order)."""
    if len(data) > MAX_MANIFEST_BYTES:
        raise UpdateRefused("manifest_too_large")
    verify_signature(data, signature, public_keys)
    return parse_manifest(data, manifest_url)
