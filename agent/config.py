"""Agent settings: a TOML file under the platformdirs config folder, overridden by the command line.

``Settings`` and the reading of config.toml are here; agent/settings_load.py's ``load_settings``
adds the ``[update]`` table and the administrator's policy, which both read ``Settings``.

Example ``config.toml``::

    [bridge]
    port = 47230
    allowed_origins = ["https://marches.example.fr"]
    max_frame_bytes = 1048576
    same_user_only = true      # Linux: connections from other users' processes are closed at once

    [pairing]
    preapproved = ["https://marches.example.fr"]

    [jobs]
    max_concurrent = 4
    max_per_site = 3           # jobs of one site running at once (default: max_concurrent - 1 from 3 on)
    max_pending_per_site = 50  # jobs of one site queued or running; more are refused (TOO_MANY_REQUESTS)
    keep = 500                 # finished jobs kept, per site

    [consent]
    policy = "prompt"          # "prompt" | "console" | "native" | "deny" | "approve-all-for-tests"
                               # (default: "prompt" for compagnon serve, "console" for compagnon tray;
                               # "native": the agent's own windows, no browser window)
    timeout_seconds = 120
    file_picker = "auto"       # files.pick with the console: "auto" (the system's chooser when a
                               # display is there) | "native" | "console" (a path field)
    max_prompts_per_minute = 6 # per site; and one prompt of a site on screen at a time

    [verify]
    max_memory_mb = 2048       # the worker process that parses a file to verify is stopped past it
    timeout_seconds = 600      # and past this time, per file
    warm_workers = true        # POSIX: a process beside the agent (about 70 MB) forks those workers
                               # warm, for its jobs and for `compagnon verify` (agent.fork_server)

    [files]
    max_file_mb = 4096         # one upload
    site_total_mb = 8192       # everything one site uploads or has encrypted, while the agent runs
    site_files = 1000          # files one site uploads or has encrypted, while the agent runs

    [console]
    port = 0                   # the local console's loopback port (0: any free port)

    [keystores]
    pkcs11_modules = ["/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so"]   # besides the usual paths
    p12_dir = "~/Certificats"     # PKCS#12 files ("certificats logiciels")

    [trust]
    roots = ["/etc/compagnon/racine.pem"]   # trusted roots, besides the system's
    intermediates = []
    system = true
    rgs_policies = ["1.2.250.1.…"]          # policy OIDs that count as RGS**
    lotl_url = "https://ec.europa.eu/tools/lotl/eu-lotl.xml"   # EU list of trusted lists
    lotl_signers = ["/etc/compagnon/lotl-signers.pem"]         # pinned LOTL signing certificates

    [signing]
    tsa_url = "https://horodatage.example.fr/tsa"   # RFC 3161 service for B-T and above
    output_dir = "~/Documents/Compagnon"            # results of files the page uploaded
    pes_policy_document = "~/politiques/ps_helios_dgfip.pdf"   # PES V2: hash computed from it

    [paths]
    state_dir = "/custom/state"   # jobs, pairings
    log_dir = "/custom/log"

    [update]                      # signed updates (agent/update/config.py); off without keys
    url = "https://editeur.example.fr/compagnon/manifest.json"
    public_keys = ["<base64 Ed25519 public key>"]
    health_timeout_seconds = 30

An administrator's policy file (``/etc/compagnon/policy.toml``, see agent/policy.py) is merged over
these settings: it adds (or, locked, fixes) allowed and pre-approved origins and PKCS#11 modules,
and sets the update source and consent limits.

The folders default to platformdirs' per-user folders, so a test run with its own ``HOME`` (and
XDG variables) never touches the user's real settings.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import platformdirs

from bridge_protocol.transport import DEFAULT_PORT, MAX_FRAME_BYTES

APP_NAME = "compagnon"

ConsentPolicy = Literal["prompt", "console", "native", "deny", "approve-all-for-tests"]
CONSENT_POLICIES: tuple[str, ...] = ("prompt", "console", "native", "deny", "approve-all-for-tests")
FilePicker = Literal["auto", "native", "console"]
FILE_PICKERS: tuple[str, ...] = ("auto", "native", "console")


class ConfigError(ValueError):
    """The configuration file or an option is invalid; the message says which and why (in French,
    and in English too when ``english`` is given)."""

    def __init__(self, message: str, english: str | None = None) -> None:
        super().__init__(message)
        self.english = english

    def message(self, locale: str = "fr") -> str:
        """The message in ``locale`` when it exists in it, else the French one."""
        return self.english if locale == "en" and self.english else str(self)


def default_config_path() -> Path:
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)) / "config.toml"


def normalize_origin(value: str) -> str:
    """The RFC 6454 serialisation of a web origin (``scheme://host[:port]``) or ConfigError.

    Browsers send the ``Origin`` header in this exact form (lower-case scheme and host, default
    port omitted), so the configured list is normalised once and compared byte for byte.
    """
    parts = urlsplit(value.strip())
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"origine invalide {value!r} : attendu http(s)://hôte[:port]",
                          f"invalid origin {value!r}: expected http(s)://host[:port]")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username or parts.password:
        raise ConfigError(f"origine invalide {value!r} : ni chemin, ni paramètres, ni identifiants",
                          f"invalid origin {value!r}: no path, parameters or credentials")
    try:
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"origine invalide {value!r} : port incorrect",
                          f"invalid origin {value!r}: wrong port") from exc
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    default = {"http": 80, "https": 443}[scheme]
    return f"{scheme}://{host}" if port in (None, default) else f"{scheme}://{host}:{port}"


@dataclass(frozen=True)
class Settings:
    """Everything the agent reads at start."""

    port: int = DEFAULT_PORT
    #: When true, the next ports up to 47233, then the shared range 47234-47329, are tried if ``port`` is taken.
    port_fallback: bool = True
    allowed_origins: tuple[str, ...] = ()
    preapproved_origins: tuple[str, ...] = ()
    max_frame_bytes: int = MAX_FRAME_BYTES
    #: Serve only this user's processes (and root's), from the kernel's socket tables (Linux).
    same_user_only: bool = True
    max_concurrent_jobs: int = 4
    #: Jobs of one site running at once (None: agent.jobs.slots.default_per_site).
    max_jobs_per_site: int | None = None
    #: Jobs of one site queued or running at once; more are refused with TOO_MANY_REQUESTS.
    max_pending_jobs_per_site: int = 50
    #: Finished jobs kept, per site.
    jobs_keep: int = 500
    consent_policy: ConsentPolicy = "prompt"
    #: Whether the configuration file chose the policy (else each command uses its own default:
    #: ``prompt`` for ``compagnon serve``, ``console`` for ``compagnon tray``).
    consent_policy_explicit: bool = False
    consent_timeout: float = 120.0
    #: Consent prompts one origin may cause per minute (agent.consent.limits).
    consent_max_prompts_per_minute: int = 6
    #: Who answers ``files.pick`` under the console policy (agent.desktop.dialogs).
    consent_file_picker: FilePicker = "auto"
    #: The local console's loopback port (agent.desktop.console); 0 lets the system choose.
    console_port: int = 0
    state_dir: Path = field(default_factory=lambda: Path(platformdirs.user_state_dir(APP_NAME, appauthor=False)))
    log_dir: Path = field(default_factory=lambda: Path(platformdirs.user_log_dir(APP_NAME, appauthor=False)))
    config_path: Path | None = None
    pkcs11_modules: tuple[Path, ...] = ()
    p12_dir: Path = field(default_factory=lambda: Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)) / "keys")
    #: More folders of PKCS#12 files (the demo's identity, for ``compagnon demo`` only).
    extra_p12_dirs: tuple[Path, ...] = ()
    trust_roots: tuple[Path, ...] = ()
    trust_intermediates: tuple[Path, ...] = ()
    trust_system: bool = True
    rgs_policies: tuple[str, ...] = ()
    #: EU trusted lists (ETSI TS 119 612): off unless LOTL signer certificates are pinned.
    lotl_url: str = "https://ec.europa.eu/tools/lotl/eu-lotl.xml"
    lotl_signers: tuple[Path, ...] = ()
    trusted_lists_max_age_hours: float = 24.0
    tsa_url: str | None = None
    #: Limits of the worker process that parses files to verify (agent.isolation).
    verify_max_memory_mb: int = 2048
    verify_timeout_seconds: float = 600.0
    verify_warm_workers: bool = True
    #: PES V2 signature policy: the document whose SHA-256 goes in the signatures (never a copied hash).
    pes_policy_document: Path | None = None
    #: Another policy than the DGFiP preset (agent.pki.policies) when set.
    pes_policy_oid: str | None = None
    pes_policy_uri: str | None = None
    output_dir: Path = field(default_factory=lambda: Path(platformdirs.user_documents_dir()) / "Compagnon")
    max_upload_bytes: int = 4 * 1024**3
    #: What one site may upload and have written without consent, in all (default: twice
    #: ``max_upload_bytes``), and in files (agent.files).
    site_upload_bytes: int | None = None
    site_files: int = 1000
    #: Where updates come from and the SHA-256 of their signing key (agent.update; an admin policy sets them).
    update_url: str | None = None
    update_key_fingerprint: str | None = None
    #: Pinned Ed25519 public keys (base64, raw 32 bytes) of the update manifests, the launcher's
    #: health timeout and the install layout (agent.update.config; ``[update]`` of config.toml).
    update_public_keys: tuple[str, ...] = ()
    update_health_timeout: float = 30.0
    #: Seconds between the desktop agent's automatic checks (agent.update.scheduler); 0: only on demand.
    update_check_interval: float = 24 * 3600.0
    update_app_dir: Path | None = None
    #: The administrator's policy file applied (agent.policy), and the lists it locked
    #: ("bridge.allowed_origins", "pairing.preapproved"): ``with_origins`` adds nothing to those.
    policy_path: Path | None = None
    policy_locks: tuple[str, ...] = ()

    def with_origins(self, allowed: list[str], preapproved: list[str] | None = None) -> Settings:
        """A copy with more allowed (and pre-approved) origins, except where an admin policy locked the list."""
        allowed = [] if "bridge.allowed_origins" in self.policy_locks else allowed
        preapproved = [] if "pairing.preapproved" in self.policy_locks else preapproved
        allowed_n = tuple(dict.fromkeys([*self.allowed_origins, *map(normalize_origin, allowed)]))
        pre_n = tuple(
            dict.fromkeys([*self.preapproved_origins, *map(normalize_origin, preapproved or [])])
        )
        return replace(self, allowed_origins=allowed_n, preapproved_origins=pre_n)


def _get(table: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    value = table.get(key)
    if value is not None and (not isinstance(value, kind) or isinstance(value, bool) and kind is int):
        raise ConfigError(f"{where}.{key} : type incorrect", f"{where}.{key}: wrong type")
    return value


def read_config(config_path: Path | None = None) -> tuple[Path, dict[str, Any]]:
    """The file read (``config_path``, else the default one) and its tables: none when the default
    file does not exist; ConfigError when the named one does not, or is not TOML."""
    explicit = config_path is not None
    path = config_path or default_config_path()
    data: dict[str, Any] = {}
    if path.exists():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path} : TOML invalide ({exc})", f"{path}: invalid TOML ({exc})") from exc
    elif explicit:
        raise ConfigError(f"{path} : fichier introuvable", f"{path}: file not found")
    return path, data


def settings_arguments(path: Path, data: dict[str, Any]) -> dict[str, Any]:
    """config.toml's tables as ``Settings`` keyword arguments, except ``[update]`` (agent/update/config.py
    reads it): agent.settings_load.load_settings puts them together and applies the administrator's
    policy, so this module imports neither."""
    bridge = data.get("bridge", {})
    pairing = data.get("pairing", {})
    jobs = data.get("jobs", {})
    consent = data.get("consent", {})
    paths = data.get("paths", {})
    keystores = data.get("keystores", {})
    trust = data.get("trust", {})
    kwargs: dict[str, Any] = {"config_path": path if path.exists() else None}

    if (port := _get(bridge, "port", int, "bridge")) is not None:
        if not 1 <= port <= 65535:
            raise ConfigError("bridge.port : hors de 1-65535", "bridge.port: outside 1-65535")
        kwargs["port"] = port
    for key, name in (("max_frame_bytes", "max_frame_bytes"),):
        if (v := _get(bridge, key, int, "bridge")) is not None:
            if v < 1024:
                raise ConfigError(f"bridge.{key} : au moins 1024", f"bridge.{key}: at least 1024")
            kwargs[name] = v
    if (v := _get(bridge, "same_user_only", bool, "bridge")) is not None:
        kwargs["same_user_only"] = v
    kwargs["allowed_origins"] = tuple(
        normalize_origin(o) for o in (_get(bridge, "allowed_origins", list, "bridge") or [])
    )
    kwargs["preapproved_origins"] = tuple(
        normalize_origin(o) for o in (_get(pairing, "preapproved", list, "pairing") or [])
    )
    if (v := _get(jobs, "max_concurrent", int, "jobs")) is not None:
        if v < 1:
            raise ConfigError("jobs.max_concurrent : au moins 1", "jobs.max_concurrent: at least 1")
        kwargs["max_concurrent_jobs"] = v
    if (v := _get(jobs, "keep", int, "jobs")) is not None:
        kwargs["jobs_keep"] = max(1, v)
    for key, name in (("max_per_site", "max_jobs_per_site"), ("max_pending_per_site", "max_pending_jobs_per_site")):
        if (v := _get(jobs, key, int, "jobs")) is not None:
            if v < 1:
                raise ConfigError(f"jobs.{key} : au moins 1", f"jobs.{key}: at least 1")
            kwargs[name] = v
    if (v := _get(consent, "policy", str, "consent")) is not None:
        if v not in CONSENT_POLICIES:
            raise ConfigError(f"consent.policy : une valeur parmi {', '.join(CONSENT_POLICIES)}",
                              f"consent.policy: one of {', '.join(CONSENT_POLICIES)}")
        kwargs["consent_policy"] = v
        kwargs["consent_policy_explicit"] = True
    if (v := _get(consent, "timeout_seconds", (int, float), "consent")) is not None:
        kwargs["consent_timeout"] = float(v)
    if (v := _get(consent, "max_prompts_per_minute", int, "consent")) is not None:
        if v < 1:
            raise ConfigError("consent.max_prompts_per_minute : au moins 1", "consent.max_prompts_per_minute: at least 1")
        kwargs["consent_max_prompts_per_minute"] = v
    if (v := _get(consent, "file_picker", str, "consent")) is not None:
        if v not in FILE_PICKERS:
            raise ConfigError(f"consent.file_picker : une valeur parmi {', '.join(FILE_PICKERS)}",
                              f"consent.file_picker: one of {', '.join(FILE_PICKERS)}")
        kwargs["consent_file_picker"] = v
    verify = data.get("verify", {})
    if (v := _get(verify, "max_memory_mb", int, "verify")) is not None:
        if v < 128:
            raise ConfigError("verify.max_memory_mb : au moins 128", "verify.max_memory_mb: at least 128")
        kwargs["verify_max_memory_mb"] = v
    if (v := _get(verify, "timeout_seconds", (int, float), "verify")) is not None:
        if v < 1:
            raise ConfigError("verify.timeout_seconds : au moins 1", "verify.timeout_seconds: at least 1")
        kwargs["verify_timeout_seconds"] = float(v)
    if (v := _get(verify, "warm_workers", bool, "verify")) is not None:
        kwargs["verify_warm_workers"] = v
    files = data.get("files", {})
    for key, name, scale in (("max_file_mb", "max_upload_bytes", 1024 * 1024),
                             ("site_total_mb", "site_upload_bytes", 1024 * 1024),
                             ("site_files", "site_files", 1)):
        if (v := _get(files, key, int, "files")) is not None:
            if v < 1:
                raise ConfigError(f"files.{key} : au moins 1", f"files.{key}: at least 1")
            kwargs[name] = v * scale
    console = data.get("console", {})
    if (v := _get(console, "port", int, "console")) is not None:
        if not 0 <= v <= 65535:
            raise ConfigError("console.port : hors de 0-65535", "console.port: outside 0-65535")
        kwargs["console_port"] = v
    for table, key, name, where in (
        (keystores, "pkcs11_modules", "pkcs11_modules", "keystores"),
        (trust, "roots", "trust_roots", "trust"),
        (trust, "intermediates", "trust_intermediates", "trust"),
        (trust, "lotl_signers", "lotl_signers", "trust"),
    ):
        if (v := _get(table, key, list, where)) is not None:
            kwargs[name] = tuple(Path(str(p)).expanduser() for p in v)
    if (v := _get(keystores, "p12_dir", str, "keystores")) is not None:
        kwargs["p12_dir"] = Path(v).expanduser()
    signing = data.get("signing", {})
    if (v := _get(signing, "tsa_url", str, "signing")) is not None:
        if not v.startswith(("http://", "https://")):
            raise ConfigError("signing.tsa_url : URL http(s) attendue", "signing.tsa_url: an http(s) URL expected")
        kwargs["tsa_url"] = v
    for key in ("pes_policy_oid", "pes_policy_uri"):
        if (v := _get(signing, key, str, "signing")) is not None:
            kwargs[key] = v
    if (v := _get(signing, "pes_policy_document", str, "signing")) is not None:
        kwargs["pes_policy_document"] = Path(v).expanduser()
    if (v := _get(signing, "output_dir", str, "signing")) is not None:
        kwargs["output_dir"] = Path(v).expanduser()
    if (v := _get(trust, "lotl_url", str, "trust")) is not None:
        if not v.startswith(("http://", "https://")):
            raise ConfigError("trust.lotl_url : URL http(s) attendue", "trust.lotl_url: an http(s) URL expected")
        kwargs["lotl_url"] = v
    if (v := _get(trust, "trusted_lists_max_age_hours", (int, float), "trust")) is not None:
        kwargs["trusted_lists_max_age_hours"] = float(v)
    if (v := _get(trust, "system", bool, "trust")) is not None:
        kwargs["trust_system"] = v
    if (v := _get(trust, "rgs_policies", list, "trust")) is not None:
        kwargs["rgs_policies"] = tuple(str(p) for p in v)
    for key in ("state_dir", "log_dir"):
        if (v := _get(paths, key, str, "paths")) is not None:
            kwargs[key] = Path(v).expanduser()
    return kwargs
