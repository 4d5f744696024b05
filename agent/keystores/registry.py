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
from typing import Any
from collections.abc import Iterable
from pathlib import Path

from bridge_protocol.certificates import CertificateInfo, Purpose

from ..config import Settings
from ..errors import ErrorCode, ReportedError
from ..pki.key_usage import key_purposes
from ..trust import TrustAnchors
from .base import KeyStore, StoredKey
from .facts import certificate_info
from .pkcs11_modules import check_module, find_modules
from .pkcs12_store import Pkcs12FileStore, p12_files

log = logging.getLogger(__name__)


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
