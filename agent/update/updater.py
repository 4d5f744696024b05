"""Check a signed manifest, stage the new version, report the update state.

    check()  fetch ``manifest.json`` and ``manifest.json.sig`` (bounded), verify the signature
             against the pinned keys, parse, apply the rules (product, no downgrade, min_agent,
             not a version that failed here); remembers the result in ``update-state.json``.
    stage()  check, then download every file into ``app/staging/<version>/`` (streamed to a
             temporary file, size and SHA-256 checked as it comes), build
             ``app/versions/<version>/venv`` with the installer, and mark it ``pending``; the
             launcher switches to it at the next start (installers/common/launcher.py).
    status() what is installed, pending, failed, and the last check.

Refusals raise ``UpdateRefused`` (stable code + French reason) and leave nothing staged: the
version's staging folder and partly built version folder are removed. Staged, refused (a bad
signature, a wrong hash or size, a downgrade, …) and failed builds are recorded in the audit
journal (``update.staged``, ``update.refused``); the launcher records ``update.applied`` and
``update.rolled_back``. Network failures are not recorded (they are no decision).
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .. import __version__
from ..audit import AuditLog, utc_timestamp
from ..config import Settings
from ..fsutil import atomic_output, atomic_write_bytes, file_sha256
from ..i18n import Text
from .config import UpdateSettings, key_fingerprint
from .installer import Installer, InstallRequest, VenvInstaller
from .layout import InstallLayout
from .manifest import (
    MAX_MANIFEST_BYTES,
    MAX_SIGNATURE_BYTES,
    Manifest,
    UpdateRefused,
    check_applicable,
    verify_and_parse,
)
from .runtime import READY_FILE
from .transport import download, fetch

#: Refusals that are no decision about a manifest: not written to the audit journal.
NOT_AUDITED = frozenset({"disabled", "busy", "download_failed", "not_installed", "no_space"})


def signature_url(manifest_url: str) -> str:
    """``…/manifest.json`` → ``…/manifest.json.sig`` (query string kept)."""
    parts = urlsplit(manifest_url)
    return urlunsplit(parts._replace(path=parts.path + ".sig"))


@dataclass(frozen=True)
class CheckOutcome:
    running: str
    manifest: Manifest
    #: True when ``manifest`` is a newer version this agent may install.
    available: bool


@dataclass(frozen=True)
class StageOutcome:
    running: str
    version: str
    #: ``staged`` (built now), ``already`` (was pending already) or ``up_to_date``.
    status: str
    manifest: Manifest


class Updater:
    def __init__(self, settings: Settings, *, installer: Installer | None = None, audit: AuditLog | None = None,
                 running: str = __version__, origin: str = "cli:",
                 progress: Callable[[Text], None] | None = None) -> None:
        self.settings = settings
        self.config = UpdateSettings.from_settings(settings)
        self.layout = InstallLayout(self.config.app_dir)
        self.installer = installer or VenvInstaller()
        self.audit = audit or AuditLog.in_state_dir(settings.state_dir)
        self.running = running
        self.origin = origin
        self.progress = progress or (lambda _text: None)

    # -- audit -----------------------------------------------------------------------------------
    def _audit(self, action: str, *, version: str | None, result: str = "succeeded", error: str | None = None,
               reason: str | None = None, inputs: list[dict[str, Any]] | None = None) -> None:
        self.audit.record({
            "action": action, "origin": self.origin, "job": None, "result": result, "error": error,
            "inputs": inputs or [], "outputs": [], "certificate": None,
            "version": version, "from_version": self.running, "reason": reason,
        })

    def _refused(self, exc: UpdateRefused, version: str | None = None) -> None:
        if exc.code not in NOT_AUDITED:
            self._audit("update.refused", version=exc.version or version, result="failed", error=exc.code,
                        reason=exc.message())

    # -- check -----------------------------------------------------------------------------------
    def check(self) -> CheckOutcome:
        """Fetch and verify the manifest; UpdateRefused when it is not acceptable (recorded)."""
        try:
            outcome = self._check()
        except UpdateRefused as exc:
            self._refused(exc)
            if exc.code != "disabled":
                self._remember_check(None, exc)
            raise
        self._remember_check(outcome, None)
        return outcome

    def _check(self) -> CheckOutcome:
        url = self.config.url
        if not self.config.enabled or url is None:
            raise UpdateRefused("disabled", self.config.disabled_reason())
        self.progress(Text("Vérification de {url}", "Checking {url}").filled(url=url))
        data = fetch(url, MAX_MANIFEST_BYTES, too_large="manifest_too_large")
        signature = fetch(signature_url(url), MAX_SIGNATURE_BYTES, too_large="signature_invalid")
        manifest = verify_and_parse(data, signature, self.config.public_keys, url)
        available = check_applicable(manifest, self.running, self.layout.failed_versions())
        return CheckOutcome(self.running, manifest, available)

    def _remember_check(self, outcome: CheckOutcome | None, error: UpdateRefused | None) -> None:
        record = {
            "time": utc_timestamp(), "url": self.config.url, "running": self.running,
            "available": outcome.manifest.version if outcome and outcome.available else None,
            "error": error.code if error else None,
            "notes": outcome.manifest.notes if outcome and outcome.available else {},
        }
        try:
            self.layout.update_state(lambda state: state.__setitem__("last_check", record))
        except (OSError, UpdateRefused):
            pass  # a read-only or absent layout: the check's answer is still printed

    # -- stage -----------------------------------------------------------------------------------
    def stage(self) -> StageOutcome:
        """Check, download, verify, build and mark pending (see the module docstring)."""
        if not self.config.enabled:
            raise UpdateRefused("disabled", self.config.disabled_reason())
        if not self.layout.installed():
            raise UpdateRefused("not_installed", str(self.layout.app_dir))
        with self.layout.staging_lock():
            outcome = self.check()
            manifest = outcome.manifest
            if not outcome.available:
                return StageOutcome(self.running, manifest.version, "up_to_date", manifest)
            pending = self.layout.read_state().get("pending") or {}
            if (pending.get("version") == manifest.version and pending.get("manifest_sha256") == manifest.digest
                    and self.layout.script(manifest.version).exists()):
                return StageOutcome(self.running, manifest.version, "already", manifest)
            try:
                self._stage(manifest)
            except UpdateRefused as exc:
                self._refused(exc, manifest.version)
                raise
            return StageOutcome(self.running, manifest.version, "staged", manifest)

    def _stage(self, manifest: Manifest) -> None:
        version = manifest.version
        layout = self.layout
        staging = layout.staging_dir(version)
        version_dir = layout.version_dir(version)
        protected = {layout.current_version(), layout.previous_version()}
        if version in protected:
            raise UpdateRefused("install_failed", f"{version} est déjà installée", version)
        total = sum(f.size for f in manifest.files)
        layout.app_dir.mkdir(parents=True, exist_ok=True)
        if shutil.disk_usage(layout.app_dir).free < 3 * total + 256 * 1024**2:
            raise UpdateRefused("no_space", f"{(3 * total) // 1024**2 + 256} Mo nécessaires", version)
        done = False
        try:
            staging.mkdir(parents=True, exist_ok=True, mode=0o700)
            paths = [self._download(f, staging) for f in manifest.files]
            wheel = staging / manifest.wheel.name
            if version_dir.exists():
                shutil.rmtree(version_dir)  # a build left half-way, or an older pending build
            version_dir.mkdir(parents=True)
            self.progress(Text("Installation de la version {version}", "Installing version {version}").filled(version=version))
            self.installer(InstallRequest(version, version_dir, wheel, tuple(paths), staging,
                                          manifest.dependencies_unchanged))
            if not layout.script(version).exists():
                raise UpdateRefused("install_failed", "commande compagnon absente du nouvel environnement", version)
            atomic_write_bytes(version_dir / "version.json", json.dumps({
                "version": version, "installed_at": utc_timestamp(), "manifest_sha256": manifest.digest,
                "files": [{"name": f.name, "size": f.size, "sha256": f.sha256} for f in manifest.files],
            }, indent=2).encode())
            done = True
        except UpdateRefused as exc:
            exc.version = exc.version or version
            raise
        except Exception as exc:
            raise UpdateRefused("install_failed", f"{type(exc).__name__}: {exc}"[:300], version) from exc
        finally:
            shutil.rmtree(staging, ignore_errors=True)
            if not done:
                shutil.rmtree(version_dir, ignore_errors=True)

        pending = {
            # The active version it replaces: the launcher drops the update if an installer changed it.
            "version": version, "from": layout.current_version(), "running": self.running,
            "staged_at": utc_timestamp(),
            "manifest_sha256": manifest.digest,
            "ready_file": str(self.settings.state_dir / READY_FILE),
            "audit_dir": str(self.audit.folder),
            "health_timeout": self.config.health_timeout,
        }
        state = layout.update_state(lambda s: s.__setitem__("pending", pending))
        self._audit("update.staged", version=version,
                    inputs=[{"name": f.name, "size": f.size, "sha256": f.sha256} for f in manifest.files])
        self._cleanup(keep={version, *protected, *self._trial_versions(state), self._running_folder()})

    def _download(self, entry: Any, staging: Path) -> Path:
        target = staging / entry.name
        if target.exists() and target.stat().st_size == entry.size and file_sha256(target) == entry.sha256:
            return target
        self.progress(Text("Téléchargement de {name} ({size} Mo)", "Downloading {name} ({size} MB)")
                      .filled(name=entry.name, size=f"{entry.size / 1024**2:.1f}"))
        with atomic_output(target, mode=0o600) as out:
            download(entry.url, out, entry.size, entry.sha256, name=entry.name)
        return target

    def _running_folder(self) -> str | None:
        """The version folder this process runs from, if it runs from the layout (never removed)."""
        prefix = Path(sys.prefix).resolve()
        return prefix.parent.name if prefix.parent.parent == self.layout.versions_dir.resolve() else None

    @staticmethod
    def _trial_versions(state: dict[str, Any]) -> set[str]:
        trial = state.get("trial") or {}
        return {v for v in (trial.get("version"), trial.get("from")) if isinstance(v, str)}

    def _cleanup(self, keep: set[str | None]) -> None:
        """Remove version folders nothing points to any more (failed, older), and stale staging."""
        for name in self.layout.installed_versions():
            if name not in keep:
                shutil.rmtree(self.layout.version_dir(name), ignore_errors=True)
        try:
            for entry in self.layout.staging_root.iterdir():
                shutil.rmtree(entry, ignore_errors=True)
        except OSError:
            pass

    # -- status ----------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        state = self.layout.read_state()
        return {
            "running": self.running,
            "enabled": self.config.enabled,
            "disabled_reason": self.config.disabled_reason() or None,
            "url": self.config.url,
            "public_keys": [key_fingerprint(k) for k in self.config.public_keys],
            "key_fingerprint": self.config.key_fingerprint,
            "app_dir": str(self.layout.app_dir),
            "installed": self.layout.installed(),
            "current": self.layout.current_version(),
            "previous": self.layout.previous_version(),
            "pending": state.get("pending"),
            "trial": state.get("trial"),
            "failed": state.get("failed") or {},
            "last_check": state.get("last_check"),
            "health_timeout": self.config.health_timeout,
        }
