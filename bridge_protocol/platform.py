"""The platform contract: what a platform serves so that Compagnon can download its sealed bids.

This is the other side of the bridge: HTTP endpoints on the platform's own origin, which the agent
calls during a ``bids.download`` job (and, later, ``bids.open``). ``PLATFORM.md`` beside this file
is the written contract for platform developers; the dataclasses below are its one definition,
used by the agent to parse what a platform sends and by the demo platform to produce it.

A consultation descriptor lists the sealed plis ("plis chiffrés"), each with its envelopes
(candidature, offre, anonymat, ...), each with its files::

    {"id": "2026-042", "title": "Travaux de voirie", "plis": [
      {"id": "p1", "label": "Pli 1", "company": "LOCAL TRUST", "envelopes": [
        {"id": "e1", "label": "candidature", "files": [
          {"id": "f1", "name": "EL1_Enveloppe_Candidature.zip", "size": 98611,
           "sha256": "9f86d0...", "url": "/api/consultations/2026-042/files/f1"}]},
        {"id": "e2", "label": "offre", "files": [
          {"id": "f2", "name": "offre.p7m", "size": 3145728, "sha256": "...",
           "blocks": [{"index": 0, "size": 2097152, "sha256": "...", "url": ".../f2/blocks/0"},
                      {"index": 1, "size": 1048576, "sha256": "...", "url": ".../f2/blocks/1"}]}]}]}]}

Parsing is tolerant of members this version does not know (a platform may send more), and strict
about everything it does know (types, limits, identifiers, digests, block order and sizes).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal, get_args, get_origin

from .typed import ParseError, field_map, parse, type_hints

#: Identifiers chosen by the platform: plain tokens (they end up in folder and file names).
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
SHA256_PATTERN = r"^[0-9a-fA-F]{64}$"
#: Largest file a descriptor may announce (1 TiB).
MAX_FILE_SIZE = 2**40


@dataclass
class FileBlock:
    """One block of a file stored in blocks. The file is the concatenation of its blocks in
    ``index`` order (0, 1, 2, ...); each block has its own size, SHA-256 and download URL."""

    index: int = field(metadata={"minimum": 0, "maximum": 1_000_000})
    size: int = field(metadata={"minimum": 0, "maximum": MAX_FILE_SIZE})
    sha256: str = field(metadata={"pattern": SHA256_PATTERN})
    url: str = field(metadata={"maxLength": 2048})


@dataclass
class SealedFile:
    """A file of an envelope, as the platform stores it (still encrypted: a sealed bid).

    ``size`` and ``sha256`` are those of the whole file. Exactly one of ``url`` (the file in one
    piece, served with HTTP Range support) and ``blocks`` (the file in ordered blocks) is given.
    """

    id: str = field(metadata={"pattern": ID_PATTERN})
    name: str = field(metadata={"maxLength": 255})
    size: int = field(metadata={"minimum": 0, "maximum": MAX_FILE_SIZE})
    sha256: str = field(metadata={"pattern": SHA256_PATTERN})
    url: str | None = field(default=None, metadata={"maxLength": 2048})
    blocks: list[FileBlock] | None = field(default=None, metadata={"maxItems": 100_000})


@dataclass
class Envelope:
    """An envelope of a pli: ``label`` is its kind as the platform names it ("candidature",
    "offre", "offre technique", "anonymat", ...)."""

    id: str = field(metadata={"pattern": ID_PATTERN})
    label: str = field(metadata={"maxLength": 200})
    files: list[SealedFile] = field(default_factory=list, metadata={"maxItems": 10_000})


@dataclass
class Pli:
    """A bidder's sealed response ("pli"): ``label`` such as "Pli 1" ("EL1"), and the company
    when the platform may tell it before opening."""

    id: str = field(metadata={"pattern": ID_PATTERN})
    label: str = field(metadata={"maxLength": 200})
    company: str | None = field(default=None, metadata={"maxLength": 200})
    envelopes: list[Envelope] = field(default_factory=list, metadata={"maxItems": 100})


@dataclass
class Consultation:
    """The consultation descriptor, served at a URL of the platform's origin (``GET``, JSON).

    ``result_url``, when given, is where ``bids.open`` will upload what it opened (see
    ``OpenedResultUpload``); ``reference`` is the consultation's reference as users know it.
    """

    id: str = field(metadata={"pattern": ID_PATTERN})
    title: str = field(metadata={"maxLength": 500})
    plis: list[Pli] = field(default_factory=list, metadata={"maxItems": 10_000})
    reference: str | None = field(default=None, metadata={"maxLength": 200})
    result_url: str | None = field(default=None, metadata={"maxLength": 2048})


@dataclass
class OpenedResultUpload:
    """The form fields of one upload to ``Consultation.result_url`` (multipart/form-data, one
    ``file`` part with the opened content). Reserved for ``bids.open``; see PLATFORM.md."""

    pli_id: str = field(metadata={"pattern": ID_PATTERN})
    envelope_id: str = field(metadata={"pattern": ID_PATTERN})
    file_id: str = field(metadata={"pattern": ID_PATTERN})
    #: Name of the opened file (e.g. the sealed file's name without its encryption extension).
    name: str = field(metadata={"maxLength": 255})
    size: int = field(metadata={"minimum": 0})
    sha256: str = field(metadata={"pattern": SHA256_PATTERN})
    #: SHA-256 of the sealed file it was opened from (as announced in the descriptor).
    sealed_sha256: str = field(metadata={"pattern": SHA256_PATTERN})
    #: The analyse of the opened file's signatures (PLATFORM.md section 5): "signed", "unsigned"
    #: (no signature: no failure) or "error" (it could not be checked).
    signature_status: Literal["signed", "unsigned", "error"] | None = None
    #: For "signed": TOTAL_PASSED, TOTAL_FAILED or INDETERMINATE (ETSI EN 319 102-1).
    signature_indication: Literal["TOTAL_PASSED", "TOTAL_FAILED", "INDETERMINATE"] | None = None
    #: For "signed": the signers' names, as a JSON array of strings.
    signature_signers: str | None = field(default=None, metadata={"maxLength": 4000})


@dataclass
class ReceiptFile:
    """One sealed file as the platform received it: its name in the pli, size and SHA-256."""

    name: str = field(metadata={"maxLength": 255})
    size: int = field(metadata={"minimum": 0, "maximum": MAX_FILE_SIZE})
    sha256: str = field(metadata={"pattern": SHA256_PATTERN})


@dataclass
class DepositReceipt:
    """The receipt ("accusé de réception") a platform returns for a deposited sealed file, as the
    ``receipt`` member of its JSON answer (PLATFORM.md section 6): the pli with every file received
    in it so far, and when the platform received the last one (RFC 3339, UTC)."""

    id: str = field(metadata={"pattern": ID_PATTERN})
    consultation: str = field(metadata={"pattern": ID_PATTERN})
    pli: str = field(metadata={"pattern": ID_PATTERN})
    received_at: str = field(metadata={"maxLength": 40})
    files: list[ReceiptFile] = field(default_factory=list, metadata={"maxItems": 10_000})
    #: The pli as users know it ("Pli 3").
    label: str | None = field(default=None, metadata={"maxLength": 200})


@dataclass
class DepositAnswer:
    """The JSON answer (``201``) to a deposited sealed file: ``receipt`` is read by the agent
    (PLATFORM.md section 6); a platform may add members of its own."""

    ok: bool
    receipt: DepositReceipt | None = None


@dataclass
class SealedUpload:
    """The form fields of one sealed file POSTed to ``encrypt``'s ``upload_url`` (multipart/form-data,
    with one ``file`` part: the CMS envelope, ``<source>.p7m``)."""

    #: Name of the file it was sealed from.
    source: str = field(metadata={"maxLength": 255})


@dataclass
class SignedUpload:
    """The form fields of one signed output POSTed to ``sign``'s ``upload_url`` (multipart/form-data,
    with one ``file`` part: the signed PDF, the ``.p7s``/``.p7m`` or the XML signature)."""

    #: Name of the file that was signed.
    source: str = field(metadata={"maxLength": 255})
    #: SHA-256 of the file that was signed (empty when it could not be computed).
    source_sha256: str = field(metadata={"pattern": r"^([0-9a-fA-F]{64})?$"})


@dataclass
class KeyRegistration:
    """What ``keygen`` POSTs (JSON) to its ``register_url``: the new encryption certificate, never
    the private key. ``sha256`` is the SHA-256 of the certificate's DER encoding."""

    #: The key's name (the certificate's common name).
    name: str = field(metadata={"maxLength": 200})
    #: A backup ("secours") key.
    secours: bool
    #: The certificate, PEM (RFC 7468).
    certificate: str = field(metadata={"maxLength": 65_536})
    sha256: str = field(metadata={"pattern": SHA256_PATTERN})


@dataclass
class UploadAccepted:
    """A platform's JSON answer to an accepted upload (opened result, signature, key): the agent only
    reads the status (any 2xx); the demo platform answers these members, and a platform may add its own."""

    ok: bool
    size: int | None = field(default=None, metadata={"minimum": 0})
    sha256: str | None = field(default=None, metadata={"pattern": SHA256_PATTERN})


def _known_members(tp: Any, value: Any) -> Any:
    """``value`` without the object members ``tp`` does not declare (recursively)."""
    if value is None:
        return None
    origin = get_origin(tp)
    if origin is list and isinstance(value, list):
        (item,) = get_args(tp)
        return [_known_members(item, v) for v in value]
    if get_args(tp) and origin is not list:  # X | None
        inner = [a for a in get_args(tp) if a is not type(None)]
        return _known_members(inner[0], value) if len(inner) == 1 else value
    if isinstance(tp, type) and dataclasses.is_dataclass(tp) and isinstance(value, dict):
        hints, names = type_hints(tp), field_map(tp)
        return {k: _known_members(hints[k], v) for k, v in value.items() if k in names}
    return value


def parse_consultation(data: Any) -> Consultation:
    """A descriptor as received (decoded JSON) checked into a ``Consultation``; ParseError else."""
    consultation: Consultation = parse(Consultation, _known_members(Consultation, data), "")
    check_consultation(consultation)
    return consultation


def check_consultation(consultation: Consultation) -> None:
    """Rules a schema cannot say: one ``url`` xor ``blocks``; blocks numbered 0..n-1 whose sizes
    add up to the file's; identifiers unique where they must be."""
    pli_ids: set[str] = set()
    for p, pli in enumerate(consultation.plis):
        where = f"/plis/{p}"
        if pli.id in pli_ids:
            raise ParseError(f"{where}/id", "identifiant de pli en double", "duplicate pli id")
        pli_ids.add(pli.id)
        envelope_ids: set[str] = set()
        for e, envelope in enumerate(pli.envelopes):
            where_e = f"{where}/envelopes/{e}"
            if envelope.id in envelope_ids:
                raise ParseError(f"{where_e}/id", "identifiant d'enveloppe en double", "duplicate envelope id")
            envelope_ids.add(envelope.id)
            file_ids: set[str] = set()
            for f, sealed in enumerate(envelope.files):
                where_f = f"{where_e}/files/{f}"
                if sealed.id in file_ids:
                    raise ParseError(f"{where_f}/id", "identifiant de fichier en double", "duplicate file id")
                file_ids.add(sealed.id)
                if (sealed.url is None) == (sealed.blocks is None):
                    raise ParseError(where_f, "url ou blocks attendu (l'un des deux)", "url or blocks expected (one of them)")
                if sealed.blocks is not None:
                    if sorted(b.index for b in sealed.blocks) != list(range(len(sealed.blocks))):
                        raise ParseError(f"{where_f}/blocks", "blocs numérotés de 0 à n-1 attendus", "blocks numbered 0 to n-1 expected")
                    if sum(b.size for b in sealed.blocks) != sealed.size:
                        raise ParseError(f"{where_f}/blocks", "la somme des tailles des blocs diffère de size", "the blocks' sizes do not add up to size")


def parse_receipt(data: Any) -> DepositReceipt:
    """A deposit's receipt as received (the ``receipt`` member of the answer) checked into a
    ``DepositReceipt``; ParseError else."""
    receipt: DepositReceipt = parse(DepositReceipt, _known_members(DepositReceipt, data), "/receipt")
    return receipt


def ordered_blocks(sealed: SealedFile) -> list[FileBlock]:
    """The blocks of ``sealed`` in file order (empty for a file in one piece)."""
    return sorted(sealed.blocks or [], key=lambda b: b.index)


__all__ = [
    "Consultation",
    "DepositAnswer",
    "KeyRegistration",
    "SealedUpload",
    "SignedUpload",
    "UploadAccepted",
    "DepositReceipt",
    "Envelope",
    "FileBlock",
    "OpenedResultUpload",
    "Pli",
    "ReceiptFile",
    "SealedFile",
    "check_consultation",
    "ordered_blocks",
    "parse_consultation",
    "parse_receipt",
]
