"""The administrator's policy: a system-wide TOML file merged over the user's settings.

IT deploys one file per machine (configuration management, GPO, MDM); users can read it but not
change it, and the per-user agent applies it on top of the user's ``config.toml``:

- Linux: ``/etc/compagnon/policy.toml``
- Windows: ``%ProgramData%\\Compagnon\\policy.toml``
- macOS: ``/Library/Application Support/Compagnon/policy.toml``

The environment variable ``COMPAGNON_POLICY`` names another file instead (tests, pilots).
No file means no policy. A file that cannot be read or is invalid stops the agent with a
:class:`~agent.config.ConfigError` naming the file: an administrator's intent is never ignored
silently. ``installers/policy/compagnon-policy.example.toml`` documents every key::

    [bridge]
    allowed_origins = ["https://marches.example.fr"]
    lock = false                 # true: only the policy's sites, the user's list is ignored

    [pairing]
    preapproved = ["https://marches.example.fr"]   # no pairing prompt; also allowed
    lock = false                 # true: only the policy's pre-approvals

    [keystores]
    pkcs11_modules = ["/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so"]

    [update]
    url = "https://maj.example.fr/compagnon/"
    key_fingerprint = "sha256:<64 hex digits>"

    [consent]
    policy = "prompt"            # "prompt": never approve without asking | "deny": refuse all
    timeout_seconds = 120        # ceiling
    max_prompts_per_minute = 6   # ceiling

Merge rules (admin precedence), implemented by :func:`apply_policy`:

- origins and pre-approvals are **added** to the user's, or **replace** them when the section
  says ``lock = true`` (and then ``Settings.with_origins``, used by ``--allow-origin``, adds
  nothing: see ``Settings.policy_locks``); a pre-approved origin is also an allowed one;
- PKCS#11 modules are added;
- the update URL and signing key fingerprint win over the user's;
- consent: ``deny`` wins; ``prompt`` drops a user's ``approve-all-for-tests`` (each command then
  asks through its own UI); the timeout and the prompts per minute are ceilings (a user may
  choose lower values, not higher).
"""

from __future__ import annotations

import ipaddress
import os
import sys
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path, PurePath, PurePosixPath, PureWindowsPath
from typing import Any
from urllib.parse import urlsplit

from .config import ConfigError, Settings, normalize_origin

#: The environment variable naming another policy file than the system one.
POLICY_ENV = "COMPAGNON_POLICY"

#: ``Settings.policy_locks`` entries: the lists the policy fixed.
LOCK_ALLOWED = "bridge.allowed_origins"
LOCK_PREAPPROVED = "pairing.preapproved"

#: Consent policies an administrator may impose (the test-only auto-approval is not one).
POLICY_CONSENT = ("prompt", "deny")

_SETTINGS_FIELDS = frozenset(f.name for f in fields(Settings))

_KEYS: dict[str, frozenset[str]] = {
    "bridge": frozenset({"allowed_origins", "lock"}),
    "pairing": frozenset({"preapproved", "lock"}),
    "keystores": frozenset({"pkcs11_modules"}),
    "update": frozenset({"url", "key_fingerprint"}),
    "consent": frozenset({"policy", "timeout_seconds", "max_prompts_per_minute"}),
}


@dataclass(frozen=True)
class Policy:
    """One administrator policy file, validated and normalised."""

    path: Path
    allowed_origins: tuple[str, ...] = ()
    lock_allowed: bool = False
    preapproved_origins: tuple[str, ...] = ()
    lock_preapproved: bool = False
    pkcs11_modules: tuple[Path, ...] = ()
    update_url: str | None = None
    #: SHA-256 of the update signing key, 64 lower-case hex digits.
    update_key_fingerprint: str | None = None
    consent_policy: str | None = None
    consent_timeout: float | None = None
    consent_max_prompts_per_minute: int | None = None


def default_policy_path(platform: str | None = None, environ: Mapping[str, str] | None = None) -> PurePath:
    """Where the system-wide policy lives on ``platform`` (default: this one)."""
    platform = platform or sys.platform
    environ = os.environ if environ is None else environ
    if platform == "win32":
        program_data = environ.get("ProgramData") or environ.get("PROGRAMDATA") or r"C:\ProgramData"
        return PureWindowsPath(program_data, "Compagnon", "policy.toml")
    if platform == "darwin":
        return PurePosixPath("/Library/Application Support/Compagnon/policy.toml")
    return PurePosixPath("/etc/compagnon/policy.toml")


def policy_path() -> tuple[Path, bool]:
    """The policy file to read and whether it was named explicitly (``COMPAGNON_POLICY``)."""
    named = os.environ.get(POLICY_ENV, "").strip()
    return (Path(named).expanduser(), True) if named else (Path(default_policy_path()), False)


def load_policy(path: Path | None = None) -> Policy | None:
    """The policy at ``path`` (default: :func:`policy_path`), or None when there is none.

    A missing system file means no policy; a missing file named by ``path`` or
    ``COMPAGNON_POLICY`` is an error, like an unreadable or invalid one.
    """
    explicit = path is not None
    if path is None:
        path, explicit = policy_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if explicit:
            raise _error(path, "fichier introuvable", "file not found") from None
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise _error(path, f"illisible ({exc})", f"unreadable ({exc})") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _error(path, f"TOML invalide ({exc})", f"invalid TOML ({exc})") from exc
    return parse_policy(data, path)


def parse_policy(data: dict[str, Any], path: Path) -> Policy:
    """Validate the TOML tables of a policy file; every error names ``path`` and the key."""
    for section, table in data.items():
        if section not in _KEYS:
            raise _error(path, f"section inconnue [{section}] (attendu : {', '.join(sorted(_KEYS))})",
                         f"unknown section [{section}] (expected: {', '.join(sorted(_KEYS))})")
        if not isinstance(table, dict):
            raise _error(path, f"{section} doit être une section [{section}]", f"{section} must be a section [{section}]")
        for key in table:
            if key not in _KEYS[section]:
                raise _error(path, f"clé inconnue {section}.{key}", f"unknown key {section}.{key}")

    def get(section: str, key: str, kind: type | tuple[type, ...]) -> Any:
        value = data.get(section, {}).get(key)
        if value is not None and (not isinstance(value, kind) or isinstance(value, bool) and bool not in _types(kind)):
            raise _error(path, f"{section}.{key} : type incorrect", f"{section}.{key}: wrong type")
        return value

    def origins(section: str, key: str) -> tuple[str, ...]:
        values = get(section, key, list) or []
        try:
            return tuple(dict.fromkeys(normalize_origin(_text(path, section, key, v)) for v in values))
        except ConfigError as exc:
            raise _error(path, f"{section}.{key} : {exc}", f"{section}.{key}: {exc.message('en')}") from exc

    modules = []
    for value in get("keystores", "pkcs11_modules", list) or []:
        module = Path(_text(path, "keystores", "pkcs11_modules", value))
        if not (module.is_absolute() or PureWindowsPath(value).is_absolute()):
            raise _error(path, f"keystores.pkcs11_modules : chemin absolu attendu, pas {value!r}",
                         f"keystores.pkcs11_modules: an absolute path expected, not {value!r}")
        modules.append(module)

    url = get("update", "url", str)
    if url is not None:
        url = _update_url(path, url)
    fingerprint = get("update", "key_fingerprint", str)
    if fingerprint is not None:
        fingerprint = _fingerprint(path, fingerprint)

    consent = get("consent", "policy", str)
    if consent is not None and consent not in POLICY_CONSENT:
        raise _error(path, f"consent.policy : une valeur parmi {', '.join(POLICY_CONSENT)}",
                     f"consent.policy: one of {', '.join(POLICY_CONSENT)}")
    timeout = get("consent", "timeout_seconds", (int, float))
    if timeout is not None and timeout <= 0:
        raise _error(path, "consent.timeout_seconds : une durée positive", "consent.timeout_seconds: a positive duration")
    per_minute = get("consent", "max_prompts_per_minute", int)
    if per_minute is not None and per_minute < 1:
        raise _error(path, "consent.max_prompts_per_minute : au moins 1", "consent.max_prompts_per_minute: at least 1")

    return Policy(
        path=path,
        allowed_origins=origins("bridge", "allowed_origins"),
        lock_allowed=bool(get("bridge", "lock", bool)),
        preapproved_origins=origins("pairing", "preapproved"),
        lock_preapproved=bool(get("pairing", "lock", bool)),
        pkcs11_modules=tuple(dict.fromkeys(modules)),
        update_url=url,
        update_key_fingerprint=fingerprint,
        consent_policy=consent,
        consent_timeout=None if timeout is None else float(timeout),
        consent_max_prompts_per_minute=per_minute,
    )


def apply_policy(settings: Settings, policy: Policy | None) -> Settings:
    """``settings`` with ``policy`` merged over them (admin precedence; see the module's rules)."""
    if policy is None:
        return settings
    # A pre-approved origin needs no pairing prompt: it must first be allowed to connect.
    admin_allowed = (*policy.allowed_origins, *policy.preapproved_origins)
    allowed = _union(() if policy.lock_allowed else settings.allowed_origins, admin_allowed)
    preapproved = _union(() if policy.lock_preapproved else settings.preapproved_origins,
                         policy.preapproved_origins)
    # The user's pre-approvals of sites the policy does not allow would never be used.
    preapproved = tuple(o for o in preapproved if o in allowed)
    locks = [*settings.policy_locks]
    if policy.lock_allowed:
        locks.append(LOCK_ALLOWED)
    if policy.lock_preapproved:
        locks.append(LOCK_PREAPPROVED)
    changes: dict[str, Any] = {
        "allowed_origins": allowed,
        "preapproved_origins": preapproved,
        "pkcs11_modules": _union(settings.pkcs11_modules, policy.pkcs11_modules),
        "policy_path": policy.path,
        "policy_locks": tuple(dict.fromkeys(locks)),
    }
    if policy.update_url is not None:
        changes["update_url"] = policy.update_url
    if policy.update_key_fingerprint is not None:
        changes["update_key_fingerprint"] = policy.update_key_fingerprint
    if policy.consent_policy == "deny" or (policy.consent_policy == "prompt"
                                           and settings.consent_policy == "approve-all-for-tests"):
        # "deny" refuses everything that needs consent; "prompt" only forbids approving without
        # asking, and each command then asks through its own UI (terminal or console).
        changes["consent_policy"] = policy.consent_policy
        if "consent_policy_explicit" in _SETTINGS_FIELDS:
            changes["consent_policy_explicit"] = policy.consent_policy == "deny"
    if policy.consent_timeout is not None:
        changes["consent_timeout"] = min(settings.consent_timeout, policy.consent_timeout)
    if policy.consent_max_prompts_per_minute is not None:
        changes["consent_max_prompts_per_minute"] = min(settings.consent_max_prompts_per_minute,
                                                         policy.consent_max_prompts_per_minute)
    return replace(settings, **changes)


def with_admin_policy(settings: Settings) -> Settings:
    """``settings`` with the machine's policy (``COMPAGNON_POLICY`` or the system file) applied."""
    return apply_policy(settings, load_policy())


# -- helpers -------------------------------------------------------------------------------------


def _error(path: Path, detail: str, english: str) -> ConfigError:
    return ConfigError(f"{path} (politique d'administration) : {detail}", f"{path} (administrator's policy): {english}")


def _types(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _text(path: Path, section: str, key: str, value: object) -> str:
    if not isinstance(value, str):
        raise _error(path, f"{section}.{key} : des chaînes de caractères attendues", f"{section}.{key}: strings expected")
    return value


def _union(first: Iterable[Any], second: Iterable[Any]) -> tuple[Any, ...]:
    return tuple(dict.fromkeys([*first, *second]))


def _update_url(path: Path, url: str) -> str:
    """An https URL, or http on a loopback address (a local mirror, tests)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    loopback = host == "localhost"
    try:
        loopback = loopback or ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    if not host or parts.scheme not in ("https", "http") or parts.scheme == "http" and not loopback:
        raise _error(path, f"update.url : URL https attendue, pas {url!r}", f"update.url: an https URL expected, not {url!r}")
    if parts.username or parts.password:
        raise _error(path, "update.url : pas d'identifiants dans l'URL", "update.url: no credentials in the URL")
    return url


def _fingerprint(path: Path, value: str) -> str:
    """``sha256:AB:CD…`` or plain hex → 64 lower-case hex digits."""
    text = value.strip()
    if text.lower().startswith("sha256:"):
        text = text[len("sha256:"):]
    text = text.replace(":", "").replace(" ", "").lower()
    if len(text) != 64 or any(c not in "0123456789abcdef" for c in text):
        raise _error(path, "update.key_fingerprint : empreinte SHA-256 attendue (64 chiffres hexadécimaux)",
                     "update.key_fingerprint: a SHA-256 fingerprint expected (64 hexadecimal digits)")
    return text
