"""Many files verified in one run — a whole "pli" — with one report (ETSI EN 319 102-1 for each
signature, the items of the arrêté du 22 mars 2019, art. 5, for each signer).

:func:`collect` walks the folders it is given; :func:`pair_detached` gives each detached token
(``x.pdf.p7s``, ``x.pdf - 20240311091502 - Signature 1.xp7s``) the file of the same batch it signs,
by the rule of :func:`agent.validation.detached.detached_content_name`; :func:`verify_item` verifies
one file and never raises (an unreadable file is an entry with its error); :class:`BatchReport`
adds the entries up. Only each file's JSON summary is kept between files: the parsed documents,
certificates and validation contexts of a file are gone when the next one starts, while the
revocation fetchers and their caches are shared (``chain.DEFAULT_POOL``).

The JSON report::

    {"summary": {"files", "signatures", "valid", "invalid", "indeterminate", "unsigned", "errors",
                 "indication"},
     "files": [{"file", "status": "signed"|"unsigned"|"error", "format", "content", "signed_by",
                "indication", "signatures": [...], "contents": [...], "error", "container"}]}

where ``signatures``, ``contents`` and ``container`` (None but for a ZIP or ASiC container) are those
of ``VerificationReport.to_json()``.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import asn1_names  # noqa: F401  (pyHanko's OID names, whatever the import order)
from asn1crypto import x509 as asn1_x509
from cryptography import x509

from ..i18n import Text
from ..pki.streams import Progress
from .model import Indication

__all__ = ["UNREADABLE", "BatchItem", "BatchReport", "FileEntry", "collect", "pair_detached",
           "configure", "prepare_certificates", "unreadable_message", "verify_configured", "verify_item"]

#: The error code of a file that cannot be read (the bridge's ``FILE_UNREADABLE``).
UNREADABLE = "FILE_UNREADABLE"
_UNREADABLE = Text("Fichier illisible : {e}", "Unreadable file: {e}")
_REASONS = {
    errno.EACCES: Text("accès refusé", "access denied"),
    errno.EPERM: Text("accès refusé", "access denied"),
    errno.ENOENT: Text("fichier introuvable", "file not found"),
    errno.EIO: Text("erreur de lecture du support", "input/output error"),
    errno.EISDIR: Text("c'est un dossier", "it is a folder"),
}


def unreadable_message(exc: OSError, locale: str = "fr") -> str:
    """"Fichier illisible : accès refusé" — the reason in the user's language, or the system's code."""
    reason = _REASONS.get(exc.errno or 0)
    text = reason.render(locale) if reason else Text("erreur système {n}", "system error {n}").render(
        locale, n=exc.errno if exc.errno is not None else "?")
    return _UNREADABLE.render(locale, e=text)


@dataclass
class BatchItem:
    """One file of the batch. ``label`` is what the report shows (a path relative to the folder
    given, or the name the page gave), ``name`` the file name detached tokens are paired by, and
    ``group`` the set it is paired within (its folder, or one set for the page's files).
    ``error`` is a file that could not even be located: ``(code, message)``."""

    label: str
    path: Path | None
    name: str = ""
    group: str = ""
    content: Path | None = None
    content_label: str | None = None
    signed_by: list[str] = field(default_factory=list)
    error: tuple[str, str] | None = None

    def __post_init__(self) -> None:
        if not self.name:
            self.name = self.path.name if self.path is not None else self.label.rsplit("/", 1)[-1]


def collect(paths: Iterable[Path]) -> list[BatchItem]:
    """The files named and, for each folder, every file under it (sorted, symbolic links to
    folders not followed; a broken link stays, to be reported unreadable). Each file once."""
    items: list[BatchItem] = []
    seen: set[Path] = set()

    def add(path: Path, label: str) -> None:
        key = Path(os.path.abspath(path))
        if key not in seen:
            seen.add(key)
            items.append(BatchItem(label=label, path=path, group=str(key.parent)))

    for given in paths:
        if given.is_dir():
            found = []
            for folder, dirs, files in os.walk(given):
                dirs.sort()
                found += [Path(folder) / name for name in files]
            for path in sorted(found, key=lambda p: p.relative_to(given).as_posix()):
                add(path, path.relative_to(given).as_posix())
        else:
            add(given, given.name)
    return items


def pair_detached(items: Sequence[BatchItem]) -> None:
    """Give each detached token without an explicit content the file of its group it signs
    (``x.pdf.p7s`` -> ``x.pdf``), and record the token on that file (``signed_by``). A token whose
    content is not in the batch keeps the engine's own look-up next to it."""
    from .detached import detached_content_name, find_detached_content

    by_name = {(item.group, item.name): item for item in items if item.error is None}
    for token in items:
        if token.error is not None or token.content is not None:
            continue
        wanted = detached_content_name(token.name)
        if wanted is None:
            continue
        target = by_name.get((token.group, wanted))
        if target is not None and target is not token and target.path is not None:
            token.content, token.content_label = target.path, target.label
            target.signed_by.append(token.label)
        elif token.path is not None and (beside := find_detached_content(token.path)) is not None:
            token.content, token.content_label = beside, beside.name


def prepare_certificates(certificates: Iterable[x509.Certificate | asn1_x509.Certificate | bytes]
                         ) -> list[asn1_x509.Certificate]:
    """Anchors and intermediates (DER or parsed) as the validators use them, converted once for the
    whole batch: asn1crypto keeps what it has parsed and the names it has normalised (RFC 5280
    section 7.1) on the object, so a system store of ~150 roots is not converted and normalised
    again per file."""
    from .chain import anchor_certs

    return anchor_certs(certificates)


@dataclass
class FileEntry:
    """One file of the report: ``signed`` (with its signatures' verdicts), ``unsigned`` (no
    signature in it: not a signature format, or a PDF without signature) or ``error``."""

    file: str
    status: str
    format: str | None = None
    content: str | None = None
    signed_by: list[str] = field(default_factory=list)
    signatures: list[dict[str, Any]] = field(default_factory=list)
    #: Reports of the documents the file encapsulates (the PDF, XML or CMS inside a ``.p7m``), same shape.
    contents: list[dict[str, Any]] = field(default_factory=list)
    error: dict[str, str] | None = None
    #: The container's own report (ASiC, ETSI EN 319 162-1): its files, those no signature covers.
    container: dict[str, Any] | None = None

    def every_signature(self) -> Iterator[dict[str, Any]]:
        """Signatures and, depth first, their counter-signatures, then those of the encapsulated documents."""
        def walk(signatures: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
            for signature in signatures:
                yield signature
                yield from walk(signature.get("countersignatures") or [])

        def documents(reports: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
            for report in reports:
                yield from walk(report.get("signatures") or [])
                yield from documents(report.get("contents") or [])

        yield from walk(self.signatures)
        yield from documents(self.contents)

    @property
    def indication(self) -> str | None:
        """The file's verdict: TOTAL_FAILED if any signature failed, TOTAL_PASSED if all passed,
        INDETERMINATE otherwise or when the file could not be read; None without signature."""
        if self.status == "error":
            return str(Indication.INDETERMINATE)
        found = {s.get("indication") for s in self.every_signature()}
        if not found:
            return None
        if str(Indication.TOTAL_FAILED) in found:
            return str(Indication.TOTAL_FAILED)
        passed = found == {str(Indication.TOTAL_PASSED)}
        return str(Indication.TOTAL_PASSED if passed else Indication.INDETERMINATE)

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "status": self.status, "format": self.format, "content": self.content,
                "signed_by": list(self.signed_by), "indication": self.indication, "signatures": self.signatures,
                "contents": self.contents, "error": self.error, "container": self.container}


def verify_item(item: BatchItem, *, trust_roots: Sequence[x509.Certificate | asn1_x509.Certificate | bytes],
                locale: str = "fr", allow_fetching: bool = True, progress: Progress | None = None,
                rgs_policies: Collection[str] = (),
                intermediates: Sequence[x509.Certificate | asn1_x509.Certificate | bytes] = (),
                trusted_lists: Any = None) -> FileEntry:
    """Verify one file of the batch with :func:`agent.validation.detect.verify_file`; never raises
    for the file (unreadable: an ``error`` entry). Give ``trust_roots`` and ``intermediates``
    through :func:`prepare_certificates` once per batch."""
    from .detect import detect_format, verify_file

    entry = FileEntry(file=item.label, status="error", content=item.content_label, signed_by=list(item.signed_by))
    if item.error is not None or item.path is None:
        code, message = item.error or (UNREADABLE, unreadable_message(FileNotFoundError(errno.ENOENT, ""), locale))
        entry.error = {"code": code, "message": message}
        return entry
    try:
        with item.path.open("rb") as stream:
            head = stream.read(4096)
        entry.format = detect_format(head)
        if entry.format is None:
            entry.status = "unsigned"
            return entry
        report = verify_file(item.path, content=item.content, trust_roots=trust_roots, allow_fetching=allow_fetching,
                             locale=locale, progress=progress, rgs_policies=rgs_policies,
                             intermediates=intermediates, trusted_lists=trusted_lists)
    except OSError as exc:
        entry.error = {"code": UNREADABLE, "message": unreadable_message(exc, locale)}
        return entry
    document = report.to_json()
    entry.signatures, entry.contents = document["signatures"], document.get("contents", [])
    entry.container = document.get("container")
    entry.status = "signed" if next(entry.every_signature(), None) is not None else "unsigned"
    return entry


#: The options of the batch a worker process verifies (agent.isolation): set once per worker.
_CONFIGURED: dict[str, Any] = {}


def configure(**options: Any) -> None:
    """Keep the batch's options (trust anchors, trusted lists, locale...) for ``verify_configured``,
    its anchors and intermediates converted once (:func:`prepare_certificates`)."""
    for key in ("trust_roots", "intermediates"):
        if key in options:
            options[key] = prepare_certificates(options[key])
    _CONFIGURED.clear()
    _CONFIGURED.update(options)


def verify_configured(item: BatchItem, *, progress: Progress | None = None, **options: Any) -> FileEntry:
    """:func:`verify_item` with the options given to :func:`configure` (or these ones)."""
    return verify_item(item, progress=progress, **(options or _CONFIGURED))


@dataclass
class BatchReport:
    """The entries of a batch and their counts. ``exit_code``: 1 when any signature failed, 2 when
    any is indeterminate, a file could not be read or no file holds a signature, else 0."""

    entries: list[FileEntry] = field(default_factory=list)

    def add(self, entry: FileEntry) -> None:
        self.entries.append(entry)

    def summary(self) -> dict[str, Any]:
        every = [s.get("indication") for e in self.entries for s in e.every_signature()]
        errors = sum(1 for e in self.entries if e.status == "error")
        failed = every.count(str(Indication.TOTAL_FAILED))
        passed = every.count(str(Indication.TOTAL_PASSED))
        if failed:
            overall = Indication.TOTAL_FAILED
        elif every and passed == len(every) and not errors:
            overall = Indication.TOTAL_PASSED
        else:
            overall = Indication.INDETERMINATE
        return {
            "files": len(self.entries),
            "signatures": len(every),
            "valid": passed,
            "invalid": failed,
            "indeterminate": len(every) - passed - failed,
            "unsigned": sum(1 for e in self.entries if e.status == "unsigned" and not e.signed_by),
            "errors": errors,
            "indication": str(overall),
        }

    @property
    def exit_code(self) -> int:
        return {"TOTAL_PASSED": 0, "TOTAL_FAILED": 1}.get(self.summary()["indication"], 2)

    def to_json(self) -> dict[str, Any]:
        return {"summary": self.summary(), "files": [e.to_json() for e in self.entries]}
