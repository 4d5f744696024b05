"""The update settings: where the signed manifest is, which keys sign it, the install layout.

User configuration (``config.toml``)::

    [update]
    url = "https://editeur.example.fr/compagnon/manifest.json"   # signature: <url>.sig
    public_keys = ["<base64 of a raw 32-byte Ed25519 public key>", …]
    health_timeout_seconds = 30     # the launcher's wait for the new version's ready.json
    app_dir = "~/.local/share/compagnon/app"   # the install layout (default: $COMPAGNON_APP_DIR,
                                               # else <data folder>/app)

A URL ending with ``/`` names a folder: the manifest is ``<url>manifest.json``. The
administrator's policy (agent/policy.py, ``[update] url`` and ``key_fingerprint``) wins: its URL
replaces the user's, and its fingerprint — the SHA-256 of the raw 32-byte public key (or of its
DER SubjectPublicKeyInfo), hex — keeps only the matching key among the known ones.

No pinned key, no update: the built-in list (``DEFAULT_PUBLIC_KEYS``) is empty, so an agent
updates only when its configuration pins the publisher's keys. Several keys may be pinned (key
rotation): a manifest signed by any one of them is accepted.

URLs must be ``https``. Plain ``http`` is accepted only for a loopback host (``127.0.0.0/8``,
``::1``, ``localhost``): a local mirror, and the tests' manifest server. Integrity never rests on
the transport: the manifest is signed and every file's size and SHA-256 are checked.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import platformdirs

if TYPE_CHECKING:
    from ..config import Settings

#: Keys built into this release (none: updates are off unless the configuration pins keys).
DEFAULT_PUBLIC_KEYS: tuple[str, ...] = ()
DEFAULT_HEALTH_TIMEOUT = 30.0
MANIFEST_NAME = "manifest.json"


def default_app_dir() -> Path:
    """The install layout: ``COMPAGNON_APP_DIR`` (set by the installers' ``bin/compagnon``), else
    ``<user data folder>/app`` (``$XDG_DATA_HOME/compagnon/app`` on Linux)."""
    explicit = os.environ.get("COMPAGNON_APP_DIR", "").strip()
    if explicit:
        return Path(explicit)
    return Path(platformdirs.user_data_dir("compagnon", appauthor=False)) / "app"


def app_dir_of(settings: Settings) -> Path:
    """The install layout's ``app`` folder for ``settings`` (no key parsing: cheap, for hello)."""
    return getattr(settings, "update_app_dir", None) or default_app_dir()


def is_loopback_host(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def url_allowed(url: str) -> bool:
    """``https://…``, or ``http://`` to a loopback host only (see the module docstring)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return False
    if parts.username or parts.password or not host:
        return False
    if parts.scheme == "https":
        return True
    return parts.scheme == "http" and is_loopback_host(host)


def manifest_url(url: str) -> str:
    """``url`` itself, or ``<url>manifest.json`` when it names a folder (ends with ``/``)."""
    parts = urlsplit(url)
    if parts.path.endswith("/") or not parts.path:
        return urlunsplit(parts._replace(path=(parts.path or "/") + MANIFEST_NAME))
    return url


def decode_public_key(text: str) -> bytes:
    """The 32 raw bytes of a base64 Ed25519 public key, or ValueError."""
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("base64 invalide") from None
    if len(raw) != 32:
        raise ValueError("une clé Ed25519 brute fait 32 octets")
    return raw


def key_fingerprints(text: str) -> set[str]:
    """The SHA-256 fingerprints (hex) a pinned key answers to: of its raw bytes and of its SPKI DER."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    raw = decode_public_key(text)
    spki = Ed25519PublicKey.from_public_bytes(raw).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return {hashlib.sha256(raw).hexdigest(), hashlib.sha256(spki).hexdigest()}


def key_fingerprint(text: str) -> str:
    """The fingerprint ``compagnon update status`` shows: SHA-256 of the raw public key."""
    return hashlib.sha256(decode_public_key(text)).hexdigest()


@dataclass(frozen=True)
class UpdateSettings:
    """The effective update settings (user configuration with the admin policy applied)."""

    url: str | None = None
    public_keys: tuple[str, ...] = DEFAULT_PUBLIC_KEYS
    health_timeout: float = DEFAULT_HEALTH_TIMEOUT
    app_dir: Path = Path()
    #: The admin policy's fingerprint, when it restricts the keys (see ``from_settings``).
    key_fingerprint: str | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.url and self.public_keys)

    def disabled_reason(self, locale: str = "fr") -> str:
        """Why updates are off, in French or English ("" when they are on)."""
        english = locale == "en"
        if not self.url:
            return "no update address ([update] url)" if english else "aucune adresse de mise à jour ([update] url)"
        if not self.public_keys and self.key_fingerprint:
            if english:
                return (f"the key the administration policy requires (fingerprint {self.key_fingerprint[:16]}…) "
                        "is not among the known keys ([update] public_keys)")
            return (f"la clé imposée par la politique d'administration (empreinte {self.key_fingerprint[:16]}…) "
                    "n'est pas parmi les clés connues ([update] public_keys)")
        if not self.public_keys:
            return "no pinned public key ([update] public_keys)" if english else \
                "aucune clé publique épinglée ([update] public_keys)"
        return ""

    @classmethod
    def from_settings(cls, settings: Settings) -> UpdateSettings:
        keys = tuple(dict.fromkeys((*DEFAULT_PUBLIC_KEYS, *getattr(settings, "update_public_keys", ()))))
        fingerprint = getattr(settings, "update_key_fingerprint", None)
        if fingerprint:
            keys = tuple(k for k in keys if fingerprint in key_fingerprints(k))
        url = getattr(settings, "update_url", None)
        return cls(
            url=manifest_url(url) if url else None,
            public_keys=keys,
            health_timeout=getattr(settings, "update_health_timeout", DEFAULT_HEALTH_TIMEOUT),
            app_dir=app_dir_of(settings),
            key_fingerprint=fingerprint,
        )


def parse_update_table(table: Any) -> dict[str, Any]:
    """``[update]`` of config.toml as ``Settings`` keyword arguments; raises agent.config.ConfigError."""
    from ..config import ConfigError

    if not isinstance(table, dict):
        raise ConfigError("update : table attendue", "update: a table expected")
    unknown = set(table) - {"url", "public_keys", "health_timeout_seconds", "app_dir", "check_interval_hours"}
    if unknown:
        raise ConfigError(f"update.{sorted(unknown)[0]} : clé inconnue", f"update.{sorted(unknown)[0]}: unknown key")
    kwargs: dict[str, Any] = {}
    url = table.get("url")
    if url is not None:
        if not isinstance(url, str) or not url_allowed(url):
            raise ConfigError("update.url : URL https attendue (http seulement vers 127.0.0.1)",
                              "update.url: an https URL expected (http only to 127.0.0.1)")
        kwargs["update_url"] = url
    keys = table.get("public_keys")
    if keys is not None:
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            raise ConfigError("update.public_keys : liste de clés en base64 attendue",
                              "update.public_keys: a list of base64 keys expected")
        for index, key in enumerate(keys):
            try:
                decode_public_key(key)
            except ValueError as exc:
                raise ConfigError(f"update.public_keys[{index}] : {exc}", f"update.public_keys[{index}]: {exc}") from None
        kwargs["update_public_keys"] = tuple(k.strip() for k in keys)
    timeout = table.get("health_timeout_seconds")
    if timeout is not None:
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 1 <= timeout <= 600:
            raise ConfigError("update.health_timeout_seconds : entre 1 et 600", "update.health_timeout_seconds: between 1 and 600")
        kwargs["update_health_timeout"] = float(timeout)
    interval = table.get("check_interval_hours")
    if interval is not None:
        if isinstance(interval, bool) or not isinstance(interval, (int, float)) or not 0 <= interval <= 24 * 30:
            raise ConfigError("update.check_interval_hours : entre 0 (sur demande seulement) et 720",
                              "update.check_interval_hours: between 0 (on demand only) and 720")
        kwargs["update_check_interval"] = float(interval) * 3600
    app_dir = table.get("app_dir")
    if app_dir is not None:
        if not isinstance(app_dir, str):
            raise ConfigError("update.app_dir : chemin attendu", "update.app_dir: a path expected")
        kwargs["update_app_dir"] = Path(app_dir).expanduser()
    return kwargs
