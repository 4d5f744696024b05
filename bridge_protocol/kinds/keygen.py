"""``keygen``: its parameters and result."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ..messages import JobError
from ..typed import LOCAL_ONLY


@dataclass
class KeygenParams:
    """``keygen``: create an encryption key pair named ``name`` (the certificate's CN), a backup
    ("secours") key when ``secours``. ``target`` "p12" puts it in a new PKCS#12 file in the
    user's key folder (the consent's password field is the new file's password), "pkcs11" on a
    token named by ``token_label`` or by ``token_certificate`` (the id of any certificate on it,
    from ``certificates.list``), "windows" in the user's Windows certificate store (non-exportable
    key, certificate in the Personal store; Windows only). ``from_certificate`` (an id from ``certificates.list``) reuses
    the RSA key of that certificate instead of generating one. When ``register_url`` (same
    origin) is given, the public certificate is POSTed there as JSON with ``token`` as bearer."""

    name: str = field(metadata={"minLength": 1, "maxLength": 200})
    secours: bool = False
    bits: Literal[2048, 3072, 4096] = 2048
    organization: str | None = field(default=None, metadata={"maxLength": 200})
    target: Literal["p12", "pkcs11", "windows"] = "p12"
    token_label: str | None = field(default=None, metadata={"maxLength": 300})
    token_certificate: str | None = field(default=None, metadata={"maxLength": 64})
    from_certificate: str | None = field(default=None, metadata={"maxLength": 64})
    #: Command line only: where to write the PKCS#12 file (a page naming a path is refused).
    out: str | None = field(default=None, metadata={"maxLength": 4096, LOCAL_ONLY: True})
    #: Same-origin URL the public certificate is POSTed to (JSON); no registration when absent.
    register_url: str | None = field(default=None, metadata={"maxLength": 2048})
    #: Short-lived bearer token for ``register_url``; kept in memory only, never stored.
    token: str | None = field(default=None, metadata={"maxLength": 4096})


@dataclass
class KeygenResult:
    """The new encryption certificate (PEM) and where its private key is: ``store`` "pkcs11"
    (``location`` is the token's label), "pkcs12" (``location`` is the file name; the full path
    for the command line) or "windows" (``location`` names the Windows store and the bi-clé). ``id`` is the certificate's id as ``certificates.list`` gives it.
    ``registered`` tells whether the platform accepted it; ``register_error`` says why not."""

    certificate: str
    sha256: str
    id: str
    name: str
    secours: bool
    bits: int
    store: Literal["pkcs11", "pkcs12", "windows"]
    location: str
    not_after: str
    registered: bool = False
    register_error: JobError | None = None


# -- the plan: where the key goes, decided before the consent -------------------------------------
