"""What the audit journal (agent.audit) records of a job, written in one place: the job manager.

Audited kinds and their action (the others — ``diagnose``, ``verify``, ``encrypt``,
``bids.download`` — use no private key and ask no consent, and are not recorded):

    sign       -> "sign", "cosign" or "countersign" (the job's mode)
    decrypt    -> "decrypt"
    bids.open  -> "bids.open"
    keygen     -> "keygen"

A record's files and certificate come from two places, never from the parameters (they may hold
a bearer token):

* the **consent** the kind asked for (promise 4): the input files as the user approved them
  (name, size, SHA-256) and the certificate shown (its SHA-256). A per-job ``JobWitness`` sees it
  by wrapping the job's consent provider; it also wraps the key-store registry to know the full
  certificate (subject, issuer, serial) behind that SHA-256.
* the job's **result**: each output's name, and its SHA-256 when the result gives one (decrypt,
  bids.open; a signature's output has none in the result and is recorded by name), and the
  per-file errors. ``keygen``'s result holds its new certificate.

Only names, sizes and digests are kept: no path, no content, no PIN, no token.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..consent import ConsentDecision, ConsentProvider, ConsentRequest

if TYPE_CHECKING:
    from cryptography import x509

    from ..audit import AuditLog
    from .context import JobServices
    from .model import Job

log = logging.getLogger(__name__)

#: Kind -> the action recorded, from the (typed) parameters' harmless ``mode`` where there is one.
#: A key update kind, when it comes, is one more line here.
ACTIONS: dict[str, Callable[[Any], str]] = {
    "sign": lambda params: str(getattr(params, "mode", "sign")),
    "decrypt": lambda params: "decrypt",
    "bids.open": lambda params: "bids.open",
    "keygen": lambda params: "keygen",
}

_SHA256 = re.compile(r"\b[0-9a-f]{64}\b")


def _compact(entry: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in entry.items() if v is not None}


def _code(error: Any) -> str | None:
    return error.get("code") if isinstance(error, dict) else None


def _outputs(kind: str, result: dict[str, Any]) -> list[dict[str, Any]]:
    """Each file of the result: its source, what was written (name, size, SHA-256), or its error."""
    outputs = []
    for item in result.get("files") or []:
        entry: dict[str, Any] = {"source": item.get("source"), "status": item.get("status"),
                                 "error": _code(item.get("error"))}
        if kind == "sign":
            entry |= {"name": item.get("output"), "format": item.get("format")}
        elif kind == "decrypt":
            entry |= {"name": item.get("output"), "size": item.get("size"), "sha256": item.get("sha256"),
                      "extracted": len(item.get("extracted") or []) or None}
        elif kind == "bids.open":
            entry |= {"name": item.get("name"), "size": item.get("size"), "sha256": item.get("sha256"),
                      "pli": item.get("pli"), "envelope": item.get("envelope"), "uploaded": item.get("uploaded")}
        outputs.append(_compact(entry))
    return outputs


def _inputs_from_result(kind: str, result: dict[str, Any]) -> list[dict[str, Any]]:
    """The input files when no consent was asked (the result names them too, for some kinds)."""
    key = {"sign": "sha256", "bids.open": "sealed_sha256"}.get(kind)
    if key is None:
        return []
    return [_compact({"name": f.get("source"), "sha256": f.get(key)}) for f in result.get("files") or []]


def _details(kind: str, params: Any, result: dict[str, Any] | None) -> dict[str, Any]:
    result = result or {}
    if kind == "sign":
        fields = {"mode": getattr(params, "mode", None), "level": getattr(params, "level", None),
                  "signed": result.get("signed"), "failed": result.get("failed")}
    elif kind == "decrypt":
        fields = {"decrypted": result.get("decrypted"), "failed": result.get("failed")}
    elif kind == "bids.open":
        fields = {k: result.get(k) for k in ("consultation", "reference", "envelopes", "opened", "failed", "uploaded")}
    elif kind == "keygen":
        location = result.get("location")
        fields = {"store": result.get("store"), "location": Path(location).name if result.get("store") == "pkcs12"
                  and location else location, "key_id": result.get("id"), "secours": result.get("secours"),
                  "bits": result.get("bits"), "registered": result.get("registered"),
                  "register_error": _code(result.get("register_error"))}
    else:
        fields = {}
    return _compact(fields)


def certificate_summary(certificate: x509.Certificate, sha256: str, store: str | None = None) -> dict[str, Any]:
    """Subject, issuer, serial and SHA-256 of a certificate (never a key)."""
    return _compact({"subject": certificate.subject.rfc4514_string(), "issuer": certificate.issuer.rfc4514_string(),
                     "serial": format(certificate.serial_number, "x"), "sha256": sha256, "store": store})


class JobWitness:
    """Sees, for one job, the consent it asked and the keys it looked up; records the job's end."""

    def __init__(self, audit: AuditLog, action: Callable[[Any], str]) -> None:
        self.audit = audit
        self.action = action
        self.consent: ConsentRequest | None = None
        #: (store, key) pairs the kind looked up by id, then those it listed: the certificate it
        #: used is among them (the one whose SHA-256 the consent showed).
        self.found: list[tuple[Any, Any]] = []
        self.listed: list[tuple[Any, Any]] = []

    @classmethod
    def for_kind(cls, audit: AuditLog | None, kind: str) -> JobWitness | None:
        """A witness when ``kind`` is audited (and there is a journal), else None."""
        action = ACTIONS.get(kind)
        return cls(audit, action) if audit is not None and action is not None else None

    def services(self, services: JobServices) -> JobServices:
        """The job's services, with the consent provider and the key stores watched."""
        keystores = _WatchedKeystores(services.keystores, self) if services.keystores is not None else None
        return replace(services, consent=_WatchedConsent(services.consent, self),
                       keystores=keystores)  # type: ignore[arg-type]

    def record(self, job: Job, params: Any) -> None:
        """Append the finished job's record; never raises (a journal failure is logged)."""
        try:
            self.audit.record(self.event(job, params))
        except Exception:
            log.exception("cannot build the audit record of job %s", job.id)

    def event(self, job: Job, params: Any) -> dict[str, Any]:
        # A failed job's result holds the outcomes it kept (a bids.open whose upload was refused
        # still opened its files): they are recorded as a success's are.
        result = job.result if isinstance(job.result, dict) and job.state in ("succeeded", "failed") else None
        if self.consent is not None:
            inputs = [{"name": f.name, "size": f.size, "sha256": f.sha256} for f in self.consent.files]
        else:
            inputs = _inputs_from_result(job.kind, result or {})
        return {
            "action": self.action(params),
            "kind": job.kind,
            "origin": job.origin,
            "job": job.id,
            "started": job.created_at,
            "result": job.state,
            "error": _code(job.error),
            "inputs": inputs,
            "outputs": _outputs(job.kind, result or {}),
            "certificate": self._certificate(job.kind, result),
            "details": _details(job.kind, params, result),
        }

    def _certificate(self, kind: str, result: dict[str, Any] | None) -> dict[str, Any] | None:
        if kind == "keygen" and result and result.get("certificate"):
            from cryptography import x509

            cert = x509.load_pem_x509_certificate(str(result["certificate"]).encode("ascii"))
            return certificate_summary(cert, str(result.get("sha256")), result.get("store"))
        shown = self.consent.certificate if self.consent is not None else None
        found = _SHA256.findall(shown or "")
        sha = found[-1] if found else None
        if sha is None:  # no consent reached: the key named by id, if any
            candidates = self.found[-1:]
        else:
            candidates = [(s, k) for s, k in (*self.found, *self.listed) if k.sha256 == sha][:1]
        for store, key in candidates:
            return certificate_summary(key.certificate, key.sha256, getattr(store, "label", None))
        if sha is not None and shown is not None:
            return {"subject": re.sub(r"\s*—\s*SHA-256\s+[0-9a-f]{64}.*$", "", shown), "sha256": sha}
        return None


class _WatchedConsent(ConsentProvider):
    """The job's consent provider, unchanged, except that the witness keeps the last request."""

    def __init__(self, inner: ConsentProvider, witness: JobWitness) -> None:
        self._inner = inner
        self._witness = witness

    async def ask(self, request: ConsentRequest) -> ConsentDecision:
        self._witness.consent = request
        return await self._inner.ask(request)

    async def pick_files(self, origin: str, multiple: bool, accept: tuple[str, ...]) -> list[Path]:
        return await self._inner.pick_files(origin, multiple, accept)

    def place(self, locale: str) -> str | None:
        place = getattr(self._inner, "place", None)
        return place(locale) if place is not None else None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _WatchedKeystores:
    """The key-store registry, unchanged, except that the witness keeps the keys it hands out."""

    def __init__(self, inner: Any, witness: JobWitness) -> None:
        self._inner = inner
        self._witness = witness

    def find(self, key_id: str) -> tuple[Any, Any]:
        found = self._inner.find(key_id)
        self._witness.found.append(found)
        return found  # type: ignore[no-any-return]

    def keys(self, purpose: Any = None) -> list[tuple[Any, Any]]:
        found = self._inner.keys(purpose)
        self._witness.listed.extend(found)
        return found  # type: ignore[no-any-return]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)
