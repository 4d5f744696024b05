"""``compagnon doctor --bundle``: one ZIP file the user can send to their IT support.

Members (JSON unless said otherwise; every one goes through agent.redact):

    LISEZMOI.txt      what the file holds and what was removed (French)
    versions.json     Compagnon, Python, cryptography, pyHanko, python-pkcs11, aiohttp…, the OS
    system.json       operating system, machine, locale, time zone
    diagnose.json     the ``diagnose`` job's checks (the same kind ``compagnon diagnose`` runs)
    pkcs11.json       PKCS#11 modules found (configured + usual paths), their readers (slots) and tokens
    certificates.json certificates with a private key: subject, issuer, serial, validity, SHA-256,
                      key usages (never a key)
    config.json       the effective settings
    jobs.json         a summary of each stored job (kind, origin, state, error code, counts; no file name)
    audit.json        the audit journal's verification and counts per action (no entry)
    logs/…            the agent's logs, newest first, 5 MiB at most (text)

No private key, PIN, password or bearer token is read into it; what could slip in through a log
line is removed (PEM private keys, ``Authorization``/``Bearer``, ``token=…`` and other secret
values, e-mail addresses), and the home folder is written ``~``. Each part is gathered on its
own: a failing PKCS#11 module or an unreadable file is reported in the bundle, not fatal. The ZIP
is written under a temporary name and renamed when complete, mode 0600.
"""

from __future__ import annotations

import json
import locale
import os
import platform
import sys
import time
import zipfile
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from . import __version__
from .audit import AuditLog
from .config import Settings
from .fsutil import atomic_output
from .logs import LOG_FILE
from .redact import redact, redact_data

#: At most this much of the logs (the newest) goes into a bundle.
LOG_BUDGET = 5 * 1024 * 1024
#: At most this many jobs are summarised (the newest).
MAX_JOBS = 500
PACKAGES = ("cryptography", "pyhanko", "python-pkcs11", "aiohttp", "asn1crypto", "platformdirs", "signxml", "lxml")

README = """Fichier de diagnostic Compagnon
================================

Créé le {when} par Compagnon {version}, pour l'assistance informatique.

Contenu : versions et système, résultat du test du poste (diagnose.json), modules PKCS#11, lecteurs
et supports trouvés, résumé des certificats (sujet, émetteur, numéro de série, validité, empreinte
SHA-256, usages), configuration effective, résumé des traitements, état du journal d'audit, et les
journaux de l'agent (les 5 derniers Mio).

Retirés : clés privées, codes PIN, mots de passe, jetons d'accès (Authorization, Bearer, token=…),
adresses électroniques ; le dossier personnel est noté « ~ ». Aucun nom de fichier traité ne figure
dans le résumé des traitements ni dans l'état du journal d'audit.

Vous pouvez relire chaque fichier avant de l'envoyer.
"""


def default_bundle_path(now: datetime | None = None) -> Path:
    """``Compagnon-diagnostic-<YYYYmmdd-HHMMSS>.zip`` in the user's Documents folder, else home."""
    import platformdirs

    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    documents = Path(platformdirs.user_documents_dir())
    folder = documents if documents.is_dir() else Path.home()
    return folder / f"Compagnon-diagnostic-{stamp}.zip"


# -- the parts -----------------------------------------------------------------------------------


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def versions() -> dict[str, Any]:
    return {
        "compagnon": __version__,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "packages": {name: _version(name) for name in PACKAGES},
        "os": platform.platform(),
    }


def system() -> dict[str, Any]:
    info: dict[str, Any] = {
        "system": platform.system(),
        "release": platform.release(),
        "version": platform.version(),
        "machine": platform.machine(),
        "python_executable": sys.executable,
        "frozen": bool(getattr(sys, "frozen", False)),
        "cpu_count": os.cpu_count(),
        "locale": locale.getlocale(),
        "encoding": locale.getpreferredencoding(False),
        "time_zone": time.tzname,
        "utc_offset": datetime.now().astimezone().strftime("%z"),
    }
    if info["system"] == "Linux":
        try:
            release = platform.freedesktop_os_release()
            info["distribution"] = release.get("PRETTY_NAME")
        except OSError:
            pass
    elif info["system"] == "Darwin":
        info["macos"] = platform.mac_ver()[0]
    elif info["system"] == "Windows":
        info["windows"] = platform.win32_ver()[:2]
    return info


def _failure(exc: BaseException) -> dict[str, str]:
    return {"error": f"{type(exc).__name__}: {exc}"}


def _text(value: Any) -> str:
    return str(value).strip() if value is not None else ""


def _flags(value: Any) -> str:
    """A PKCS#11 flags value by its names (``TOKEN_PRESENT|REMOVABLE_DEVICE``)."""
    return str(getattr(value, "name", None) or value)


def pkcs11(settings: Settings) -> list[dict[str, Any]]:
    """Each PKCS#11 module found, whether it loads, its slots (readers) and their tokens."""
    from .keystores.pkcs11_modules import check_module, find_modules

    modules = []
    configured = {p.resolve() for p in settings.pkcs11_modules}
    for path in find_modules([str(p) for p in settings.pkcs11_modules]):
        entry: dict[str, Any] = {"path": str(path), "configured": path in configured}
        try:
            check = check_module(path)
            entry["loadable"] = check.loadable
            if check.error:
                entry["error"] = check.error
            if check.loadable:
                entry |= _module_slots(path)
        except Exception as exc:  # vendor libraries fail in many ways
            entry |= _failure(exc)
        modules.append(entry)
    return modules


def _module_slots(path: Path) -> dict[str, Any]:
    from .keystores.pkcs11_store import Pkcs11Module

    lib = Pkcs11Module(path).lib
    info: dict[str, Any] = {"library": {
        "manufacturer": _text(lib.manufacturer_id), "description": _text(lib.library_description),
        "cryptoki_version": _text(lib.cryptoki_version), "library_version": _text(lib.library_version),
    }}
    slots = []
    for slot in lib.get_slots(token_present=False):
        entry: dict[str, Any] = {"slot": int(slot.slot_id), "reader": _text(slot.slot_description),
                                 "manufacturer": _text(slot.manufacturer_id), "flags": _flags(slot.flags)}
        try:
            token = slot.get_token()
            entry["token"] = {"label": _text(token.label), "manufacturer": _text(token.manufacturer_id),
                              "model": _text(token.model), "serial": bytes(token.serial).hex(),
                              "flags": _flags(token.flags)}
        except Exception as exc:  # no token in this reader
            entry["token"] = None
            entry["token_error"] = type(exc).__name__
        slots.append(entry)
    info["slots"] = slots
    return info


def certificate_facts(certificate: Any) -> dict[str, Any]:
    """What support needs to know about a certificate (public facts only)."""
    from cryptography import x509

    from .keystores.base import certificate_sha256
    from .keystores.facts import key_description

    def extension(cls: type) -> Any:
        try:
            return certificate.extensions.get_extension_for_class(cls).value
        except x509.ExtensionNotFound:
            return None

    usage = extension(x509.KeyUsage)
    usages = []
    if usage is not None:
        for name in ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
                     "key_agreement", "key_cert_sign", "crl_sign"):
            if getattr(usage, name):
                usages.append("non_repudiation" if name == "content_commitment" else name)
    extended = extension(x509.ExtendedKeyUsage)
    return {
        "subject": certificate.subject.rfc4514_string(),
        "issuer": certificate.issuer.rfc4514_string(),
        "serial": format(certificate.serial_number, "x"),
        "not_before": certificate.not_valid_before_utc.isoformat(),
        "not_after": certificate.not_valid_after_utc.isoformat(),
        "sha256": certificate_sha256(certificate),
        "key": key_description(certificate),
        "key_usage": usages,
        "extended_key_usage": [getattr(oid, "_name", None) or oid.dotted_string for oid in extended or ()],
    }


def certificates(settings: Settings) -> list[dict[str, Any]]:
    """The certificates with a private key the agent finds (tokens, PKCS#12 files' published ones)."""
    from .keystores.registry import KeyStoreRegistry

    found = []
    for store, key in KeyStoreRegistry(settings).keys():
        try:
            found.append({"store": store.label, "store_kind": store.kind, **certificate_facts(key.certificate)})
        except Exception as exc:
            found.append({"store": store.label, **_failure(exc)})
    return found


def configuration(settings: Settings) -> dict[str, Any]:
    def plain(value: Any) -> Any:
        if isinstance(value, Path):
            return str(value)
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    return plain(asdict(settings))


def jobs(settings: Settings) -> list[dict[str, Any]]:
    """Kind, origin, state, times, error code and counts of the stored jobs; no file name, no result."""
    summaries = []
    for path in (settings.state_dir / "jobs").glob("*.json"):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            summaries.append({"file": path.name, **_failure(exc)})
            continue
        result = record.get("result") if isinstance(record.get("result"), dict) else {}
        error = record.get("error") if isinstance(record.get("error"), dict) else {}
        summaries.append({
            "id": record.get("id"), "kind": record.get("kind"), "origin": record.get("origin"),
            "state": record.get("state"), "created_at": record.get("created_at"),
            "updated_at": record.get("updated_at"), "error": error.get("code"),
            "counts": {k: v for k, v in result.items() if isinstance(v, int) and not isinstance(v, bool)},
        })
    summaries.sort(key=lambda s: str(s.get("created_at") or ""), reverse=True)
    return summaries[:MAX_JOBS]


def audit(settings: Settings) -> dict[str, Any]:
    """The journal's verification and how many entries per action (not the entries)."""
    journal = AuditLog.in_state_dir(settings.state_dir)
    actions: Counter[str] = Counter()
    first = last = None
    for entry in journal.entries():
        actions[str(entry.get("action"))] += 1
        first = first or entry.get("time")
        last = entry.get("time")
    return {"file": str(journal.path), "verification": journal.verify().to_json(), "actions": dict(actions),
            "first": first, "last": last}


def log_tails(log_dir: Path, budget: int = LOG_BUDGET) -> list[tuple[str, bytes]]:
    """(name, bytes) of the log files, newest first, within ``budget`` bytes; the oldest one kept
    may be cut to its last lines."""
    files = [p for p in log_dir.glob(f"{LOG_FILE}*") if p.is_file()]
    files.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    parts = []
    for path in files:
        if budget <= 0:
            break
        with path.open("rb") as stream:
            size = stream.seek(0, os.SEEK_END)
            start = max(0, size - budget)
            stream.seek(start)
            data = stream.read(size - start)
        if start > 0:  # begin at a line
            newline = data.find(b"\n")
            data = data[newline + 1:] if newline >= 0 else b""
        budget -= len(data)
        parts.append((path.name, data))
    return parts


# -- the bundle ----------------------------------------------------------------------------------


def write_bundle(settings: Settings, target: Path, diagnose: dict[str, Any] | None = None,
                 home: str | os.PathLike[str] | None = None) -> list[str]:
    """Write the ZIP at ``target`` (atomically, 0600); the member names.

    JSON parts are redacted as data (``redact_data``: secret keys masked, every string redacted),
    text parts (the logs) as text (``redact``).
    """
    members: list[tuple[str, str]] = []

    def add(name: str, producer: Callable[[], Any]) -> None:
        try:
            data = producer()
        except Exception as exc:  # one part failing does not stop the others
            data = _failure(exc)
        members.append((name, json.dumps(redact_data(data, home), ensure_ascii=False, indent=2) + "\n"))

    def add_text(name: str, text: str) -> None:
        members.append((name, redact(text, home)))

    add_text("LISEZMOI.txt", README.format(when=datetime.now().astimezone().isoformat(timespec="seconds"),
                                           version=__version__))
    add("versions.json", versions)
    add("system.json", system)
    if diagnose is not None:
        add("diagnose.json", lambda: diagnose)
    add("pkcs11.json", lambda: pkcs11(settings))
    add("certificates.json", lambda: certificates(settings))
    add("config.json", lambda: configuration(settings))
    add("jobs.json", lambda: jobs(settings))
    add("audit.json", lambda: audit(settings))
    try:
        for name, data in log_tails(settings.log_dir):
            add_text(f"logs/{name}", data.decode("utf-8", errors="replace"))
    except OSError as exc:
        add_text("logs/ERREUR.txt", f"{type(exc).__name__}: {exc}\n")

    with atomic_output(target, mode=0o600) as stream, zipfile.ZipFile(stream, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in members:
            archive.writestr(name, text)
    return [name for name, _ in members]


def write_diagnostic_bundle(settings: Settings, target: Path, diagnose_job: dict[str, Any]) -> list[str]:
    """The ZIP for IT support once the workstation test ended: ``diagnose_job`` is the ``diagnose``
    job's snapshot; its result goes in the bundle when it succeeded, else its state and error.
    ``compagnon doctor --bundle`` and the console's "Créer le fichier de diagnostic" both write the
    bundle here (atomically, 0600); the member names."""
    if diagnose_job["state"] == "succeeded":
        diagnose = diagnose_job["result"]
    else:
        diagnose = {"state": diagnose_job["state"], "error": diagnose_job.get("error")}
    return write_bundle(settings, target, diagnose)
