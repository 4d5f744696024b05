"""All the key stores of this workstation, found from the settings.

PKCS#11 modules are the configured ones plus the usual middleware paths; PKCS#12 files are those
of the configured folder and those the user picked in this session; on Windows, the current user's
certificate store (agent/keystores/windows_store.py) too. Listing is done afresh each
time, so a token inserted or removed while the agent runs is seen without a restart.
"""

from __future__ import annotations

import logging
import sys
import threading
from typing import Any, NamedTuple
from collections.abc import Callable, Iterable
from pathlib import Path

from bridge_protocol.certificates import CertificateInfo, Purpose

from ..config import Settings
from ..errors import ErrorCode, ReportedError
from ..i18n import Text
from ..pki.key_usage import key_purposes
from ..secret import Secret
from ..trust import TrustAnchors
from .base import KeyStore, StoredKey
from .facts import certificate_info
from .pkcs11_modules import check_module, find_modules
from .pkcs12_store import Pkcs12FileStore, p12_files

log = logging.getLogger(__name__)


class KeySelection(NamedTuple):
    """A key named by its store (:meth:`KeyStoreRegistry.select`): the registry that holds it, the
    key, and the PKCS#12 password when one was read to open the file."""

    registry: KeyStoreRegistry
    key: StoredKey
    secret: Secret | None


class KeyStoreRegistry:
    def __init__(self, settings: Settings, extra_modules: Iterable[Path] = (), p12: Iterable[Pkcs12FileStore] = (),
                 discover: bool = True) -> None:
        """``discover=False``: only the modules and files given (the command line names its store)."""
        self.settings = settings
        self.discover = discover
        if discover:
            self._module_paths = find_modules([*map(str, settings.pkcs11_modules), *map(str, extra_modules)])
        else:
            self._module_paths = [Path(m).resolve() for m in extra_modules if Path(m).is_file()]
        self._modules: dict[Path, Any] = {}
        self._picked: dict[Path, Pkcs12FileStore] = {s.path.resolve(): s for s in p12}
        self._folder: dict[Path, Pkcs12FileStore] = {}
        self._anchors: TrustAnchors | None = None
        self._windows: KeyStore | None = None
        self._lock = threading.Lock()

    @property
    def anchors(self) -> TrustAnchors:
        if self._anchors is None:
            s = self.settings
            self._anchors = TrustAnchors.from_files(s.trust_roots, s.trust_intermediates, system=s.trust_system)
        return self._anchors

    def add_p12(self, store: Pkcs12FileStore) -> None:
        """A PKCS#12 file the user picked (and unlocked) during this session."""
        self._picked[store.path.resolve()] = store

    def _pkcs11_modules(self) -> list[Any]:
        modules = []
        for path in self._module_paths:
            module = self._modules.get(path)
            if module is None:
                if not check_module(path).loadable:
                    continue
                from .pkcs11_store import Pkcs11Module  # python-pkcs11 only when a module is there

                try:
                    module = Pkcs11Module(path)
                except Exception as exc:  # vendor libraries fail in many ways
                    log.warning("cannot load PKCS#11 module %s: %s", path.name, exc)
                    continue
                self._modules[path] = module
            modules.append(module)
        return modules

    def stores(self) -> list[KeyStore]:
        """Every store present now (blocking: call from a worker thread)."""
        with self._lock:
            stores: list[KeyStore] = []
            for module in self._pkcs11_modules():
                stores.extend(module.tokens())
            folders = (self.settings.p12_dir, *self.settings.extra_p12_dirs) if self.discover else ()
            for path in (p for folder in folders for p in p12_files(folder)):
                resolved = path.resolve()
                if resolved not in self._picked:
                    stores.append(self._folder.setdefault(resolved, Pkcs12FileStore(path)))
            stores.extend(self._picked.values())
            if self.discover and sys.platform == "win32":
                if self._windows is None:
                    from .windows_store import WindowsMyStore  # ctypes over crypt32: Windows only

                    self._windows = WindowsMyStore()
                stores.append(self._windows)
            return stores

    def keys(self, purpose: Purpose | None = None) -> list[tuple[KeyStore, StoredKey]]:
        found = []
        for store in self.stores():
            for key in store.keys():
                if purpose is None or purpose in key_purposes(key.certificate):
                    found.append((store, key))
        return found

    def find(self, key_id: str) -> tuple[KeyStore, StoredKey]:
        for store, key in self.keys():
            if key.id == key_id:
                return store, key
        raise ReportedError(ErrorCode.NO_SUCH_CERTIFICATE)

    def certificate_infos(self, purpose: Purpose | None = None, locale: str = "fr") -> list[CertificateInfo]:
        """The facts of every certificate with a private key, suitable ones first."""
        infos = [
            certificate_info(key, store, self.anchors, rgs_policies=self.settings.rgs_policies, locale=locale)
            for store, key in self.keys(purpose)
        ]
        infos.sort(key=lambda i: (not i.suitable, i.subject.lower(), i.not_after))
        return infos

    @classmethod
    def select(cls, settings: Settings, *, p12: Path | None = None, pkcs11: Path | None = None,
               token: str | None = None, label: str | None = None, certificate: str | None = None,
               purpose: Purpose | None = None,
               password: Callable[[str], Secret | None] = lambda name: None) -> KeySelection:
        """The one key named by exactly one of: a PKCS#12 file (``p12``, opened with ``password(name)``),
        a PKCS#11 module (``pkcs11``; ``token`` and ``label`` choose the token and the key when there
        are several), or a ``certificate`` of the stores found from the settings (its id, or the
        start, 8 hex digits at least, of its SHA-256 fingerprint). For ``purpose="signing"`` a
        PKCS#12 whose published certificate cannot sign is refused before its password is asked
        (the sign job itself refuses any such key before the consent and the PIN).

        Several keys on the token and no ``label``: ``NO_SUCH_CERTIFICATE`` with their ``labels``
        (comma-separated) in its detail, so the caller can say how to choose one.
        """
        if [p12 is not None, pkcs11 is not None, bool(certificate)].count(True) != 1:
            raise ReportedError(ErrorCode.INVALID_PARAMS, Text(
                "Indiquez un seul emplacement de la clé : un fichier PKCS#12, un module PKCS#11 ou un certificat.",
                "Give one place for the key: a PKCS#12 file, a PKCS#11 module or a certificate."))
        if certificate:
            registry = cls(settings)
            wanted = certificate.strip().lower()
            matches = [key for _, key in registry.keys()
                       if key.id == wanted or (len(wanted) >= 8 and key.sha256.startswith(wanted))]
            if len(matches) != 1:
                raise ReportedError(ErrorCode.NO_SUCH_CERTIFICATE, Text(
                    "Certificat introuvable : {id}", "Certificate not found: {id}").filled(id=certificate))
            return KeySelection(registry, matches[0], None)
        if p12 is not None:
            if not p12.is_file():
                raise ReportedError(ErrorCode.FILE_NOT_FOUND, Text(
                    "Fichier introuvable : {path}. Vérifiez le chemin du certificat logiciel (fichier .p12 ou .pfx).",
                    "File not found: {path}. Check the path of the software certificate (.p12 or .pfx file).",
                ).filled(path=str(p12)))
            store = Pkcs12FileStore(p12)
            if purpose == "signing":
                from ..pki.key_usage import usage_refusal

                for published in store.keys():  # a certificate published beside the file: judged before the password
                    refusal = usage_refusal(published.certificate, "signing")
                    if refusal is not None:
                        english = usage_refusal(published.certificate, "signing", "en") or refusal
                        raise ReportedError(ErrorCode.KEY_USAGE_NOT_SIGNING, Text(refusal, english))
            secret = password(p12.name)
            unlocked = store.unlock(secret)
            if not unlocked:
                raise ReportedError(ErrorCode.NO_SUCH_CERTIFICATE)
            return KeySelection(cls(settings, p12=[store], discover=False), unlocked[0], secret)
        assert pkcs11 is not None
        if not pkcs11.is_file():
            raise ReportedError(ErrorCode.FILE_NOT_FOUND, Text(
                "Module PKCS#11 introuvable : {path}. Indiquez le fichier .so (ou .dll) fourni avec la carte ou la clé USB.",
                "PKCS#11 module not found: {path}. Give the .so (or .dll) file supplied with the card or USB key.",
            ).filled(path=str(pkcs11)))
        from .pkcs11_store import Pkcs11TokenStore  # python-pkcs11 only when a module is named

        registry = cls(settings, extra_modules=[pkcs11], discover=False)
        tokens = [s for s in registry.stores() if isinstance(s, Pkcs11TokenStore)
                  and s.module.path == pkcs11.resolve() and (token is None or s.token_label == token)]
        if not tokens:
            raise ReportedError(ErrorCode.TOKEN_REMOVED, Text("Support introuvable : {name}", "Token not found: {name}")
                                .filled(name=token or pkcs11.name))
        keys = [k for k in tokens[0].keys() if label is None or k.label == label]
        if label is None and len(keys) > 1:
            names = ", ".join(k.label for k in keys)
            raise ReportedError(ErrorCode.NO_SUCH_CERTIFICATE, Text(
                "Plusieurs certificats sur ce support : précisez lequel ({names}).",
                "Several certificates on this token: say which one ({names}).").filled(names=names),
                labels=names)
        if not keys:
            raise ReportedError(ErrorCode.NO_SUCH_CERTIFICATE)
        return KeySelection(registry, keys[0], None)
