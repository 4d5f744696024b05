"""Parameters and results of each job kind: what a page puts in ``jobs.start.params`` and finds in
the snapshot's ``result`` once the job has succeeded.

Kept as one module: it is the one catalogue of the kinds' parameters and results (``KINDS``) from
which the JSON Schema, the AsyncAPI document and the ``.d.ts`` are generated, and the kinds share
some of its types (``FileRef``, ``SignatureCheck``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from .messages import JobError
from .platform import DepositReceipt
from .typed import LOCAL_ONLY

CheckStatus = Literal["pass", "warn", "fail"]


@dataclass
class DiagnoseParams:
    """``diagnose`` ("Tester la configuration de mon poste"). The page sends ``navigator.userAgent``."""

    user_agent: str | None = field(default=None, metadata={"maxLength": 512})


@dataclass
class DiagnoseCheck:
    """One prerequisite: ``label`` as shown in the "Prérequis" column, ``value`` in "Résultat"."""

    id: str
    label: str
    status: CheckStatus
    value: str
    message: str


@dataclass
class DiagnoseResult:
    """``diagnose`` result: every check and the overall verdict (the worst status)."""

    checks: list[DiagnoseCheck]
    status: CheckStatus
    message: str


SignFormat = Literal["pades", "cades", "xades"]


@dataclass
class StampParams:
    """A visible PAdES stamp ("cachet"): page (1-based, -1 = last), box [x1, y1, x2, y2] in points;
    it shows the signer's name, the date and the reason."""

    page: int = -1
    box: list[float] = field(default_factory=lambda: [350.0, 40.0, 570.0, 110.0], metadata={"maxItems": 4})
SignLevel = Literal["B-B", "B-T", "B-LT", "B-LTA"]


@dataclass
class SignFileParams:
    """One file to sign: a ``handle`` from ``files.put`` (pages) or a ``path`` (command line only;
    a page naming a path is refused). For a co-signature of a detached CAdES, ``content_handle``
    or ``content_path`` is the signed file."""

    format: SignFormat
    handle: str | None = field(default=None, metadata={"maxLength": 64})
    #: A document on the page's own origin (relative or absolute URL); anything else is refused.
    url: str | None = field(default=None, metadata={"maxLength": 2048})
    path: str | None = field(default=None, metadata={"maxLength": 4096, LOCAL_ONLY: True})
    attached: bool = False
    enveloped: bool = False
    pes: bool = False
    content_handle: str | None = field(default=None, metadata={"maxLength": 64})
    content_path: str | None = field(default=None, metadata={"maxLength": 4096, LOCAL_ONLY: True})
    stamp: StampParams | None = None


@dataclass
class SignParams:
    """``sign``: sign (``mode`` "sign"), co-sign ("cosign") or counter-sign ("countersign") files
    with the certificate ``certificate`` (an id from ``certificates.list``), one consent and one
    PIN for the batch. ``signer`` is the SHA-256 of the certificate to counter-sign."""

    files: list[SignFileParams] = field(metadata={"maxItems": 1000})
    certificate: str = field(metadata={"maxLength": 64})
    level: SignLevel = "B-B"
    mode: Literal["sign", "cosign", "countersign"] = "sign"
    signer: str | None = field(default=None, metadata={"maxLength": 64})
    out_dir: str | None = field(default=None, metadata={"maxLength": 4096, LOCAL_ONLY: True})
    #: Same-origin URL each signed output is POSTed to (multipart field "file").
    upload_url: str | None = field(default=None, metadata={"maxLength": 2048})
    #: Short-lived bearer token for ``url`` and ``upload_url``; kept in memory only, never stored.
    token: str | None = field(default=None, metadata={"maxLength": 4096})
    #: XAdES options: claimed role (e.g. "Ordonnateur") and production place ({"City", "PostalCode",
    #: "CountryName"}). PES V2 files need both; missing fields are taken from the values the user last
    #: signed a PES flow with, else the job fails with INVALID_PARAMS before the consent.
    claimed_role: str | None = field(default=None, metadata={"maxLength": 200})
    #: PAdES reason (also shown in a stamp), e.g. "Dépôt de l'offre".
    reason: str | None = field(default=None, metadata={"maxLength": 200})
    production_place: dict[str, str] | None = None


@dataclass
class SignedFile:
    """One file of the batch: its output (name, handle for ``files.get``, folder) or its error."""

    source: str
    format: SignFormat
    status: Literal["signed", "failed"]
    sha256: str | None = None
    output: str | None = None
    output_handle: str | None = None
    folder: str | None = None
    uploaded: bool = False
    error: JobError | None = None


@dataclass
class SignResult:
    files: list[SignedFile]
    signed: int
    failed: int


@dataclass
class VerifyFileRef:
    """One file of a ``verify`` batch: a ``handle``, a same-origin ``url`` or (command line only) a
    ``path``, and, for a detached signature whose content the page knows, that content
    (``content_*``); otherwise a token is paired by name with the batch's file it signs."""

    handle: str | None = field(default=None, metadata={"maxLength": 64})
    url: str | None = field(default=None, metadata={"maxLength": 2048})
    path: str | None = field(default=None, metadata={"maxLength": 4096, LOCAL_ONLY: True})
    content_handle: str | None = field(default=None, metadata={"maxLength": 64})
    content_url: str | None = field(default=None, metadata={"maxLength": 2048})
    content_path: str | None = field(default=None, metadata={"maxLength": 4096, LOCAL_ONLY: True})
    #: The name the report shows (the command line gives the path relative to the folder walked).
    name: str | None = field(default=None, metadata={"maxLength": 4096})


@dataclass
class VerifyParams:
    """``verify``: check every signature of a file (PAdES, CAdES with co- and counter-signatures,
    XAdES). The file is a ``handle``, a same-origin ``url`` or (command line only) a ``path``; a
    detached signature's content likewise (``content_*``). ``files`` verifies several files in one
    job with one report (a whole pli): then the single-file fields are not given."""

    handle: str | None = field(default=None, metadata={"maxLength": 64})
    url: str | None = field(default=None, metadata={"maxLength": 2048})
    path: str | None = field(default=None, metadata={"maxLength": 4096, LOCAL_ONLY: True})
    content_handle: str | None = field(default=None, metadata={"maxLength": 64})
    content_url: str | None = field(default=None, metadata={"maxLength": 2048})
    content_path: str | None = field(default=None, metadata={"maxLength": 4096, LOCAL_ONLY: True})
    token: str | None = field(default=None, metadata={"maxLength": 4096})
    files: list[VerifyFileRef] | None = field(default=None, metadata={"maxItems": 1000})


@dataclass
class VerifySummary:
    """The counts at the top of a multi-file report: files, signatures (counter-signatures and
    document time-stamps included) valid / invalid / indeterminate, files without any signature
    (not counting a file a detached signature of the batch covers), unreadable files."""

    files: int
    signatures: int
    valid: int
    invalid: int
    indeterminate: int
    unsigned: int
    errors: int
    indication: Literal["TOTAL_PASSED", "TOTAL_FAILED", "INDETERMINATE"]


@dataclass
class VerifyResult:
    """The JSON report (``{"file", "signatures": [{"id", "format", "level", "signer", "signing_time",
    "signing_time_source", "indication", "sub_indication", "checks", "countersignatures", "covers"?}],
    "container"?}``, ``covers`` and ``container`` for an ASiC container only; with ``files``,
    ``{"summary", "files": [{"file", "status", "format", "content", "signed_by", "indication",
    "signatures", "error", "container"}]}``), the overall verdict, the batch's counts (``summary``,
    with ``files`` only), and the HTML report ("Ouvrir le rapport") as a file handle."""

    report: dict[str, Any]
    indication: Literal["TOTAL_PASSED", "TOTAL_FAILED", "INDETERMINATE"]
    report_name: str
    report_handle: str | None = None
    summary: VerifySummary | None = None


@dataclass
class FileRef:
    """A file for a job: a ``handle`` (uploaded or picked), a same-origin ``url``, or a ``path``
    (command line only)."""

    handle: str | None = field(default=None, metadata={"maxLength": 64})
    url: str | None = field(default=None, metadata={"maxLength": 2048})
    path: str | None = field(default=None, metadata={"maxLength": 4096, LOCAL_ONLY: True})


@dataclass
class SignatureCheck:
    """The analyse of one file a job opened (``decrypt``, ``bids.open``), made in the same job with
    the ``verify`` engine: ``status`` "signed" (``indication`` is the file's verdict, ETSI EN 319
    102-1: the worst of its signatures'), "unsigned" ("non signé": no signature in it, which is no
    failure) or "error" (it could not be checked: ``error``). A file signed by detached signatures
    opened in the same job (``offre.pdf`` and ``offre.pdf.p7s``) takes their verdict and names them
    in ``signed_by``; a detached signature names the file it signs in ``content``. ``label`` is the
    verdict in the job's language; ``report_name``/``report_handle`` the HTML report of a signed
    file (a path for the command line, a handle for ``files.get`` for a page)."""

    status: Literal["signed", "unsigned", "error"]
    label: str
    indication: Literal["TOTAL_PASSED", "TOTAL_FAILED", "INDETERMINATE"] | None = None
    format: str | None = None
    signers: list[str] = field(default_factory=list)
    signatures: int = 0
    signed_by: list[str] = field(default_factory=list)
    content: str | None = None
    report_name: str | None = None
    report_handle: str | None = None
    error: JobError | None = None


@dataclass
class DecryptParams:
    """``decrypt`` ("Déchiffrement hors ligne"): open sealed bids (CMS envelopes) with a key the user
    holds. Without ``certificate``, the agent uses whichever of the user's decryption keys is a
    recipient (personal or secours). ``extract`` unpacks a decrypted ZIP, safely."""

    files: list[FileRef] = field(metadata={"maxItems": 1000})
    certificate: str | None = field(default=None, metadata={"maxLength": 64})
    extract: bool = False
    out_dir: str | None = field(default=None, metadata={"maxLength": 4096, LOCAL_ONLY: True})
    token: str | None = field(default=None, metadata={"maxLength": 4096})


@dataclass
class DecryptedFile:
    source: str
    status: Literal["decrypted", "failed"]
    output: str | None = None
    output_handle: str | None = None
    folder: str | None = None
    size: int | None = None
    sha256: str | None = None
    algorithm: str | None = None
    extracted: list[str] = field(default_factory=list)
    #: The signatures of the decrypted file, checked in the same job.
    signature: SignatureCheck | None = None
    #: The signatures of each file of ``extracted`` (same order), checked in the same job.
    extracted_signatures: list[SignatureCheck] = field(default_factory=list)
    error: JobError | None = None


@dataclass
class DecryptResult:
    files: list[DecryptedFile]
    decrypted: int
    failed: int


@dataclass
class EncryptParams:
    """``encrypt``: seal files (CMS EnvelopedData, or AuthEnvelopedData with AES-GCM) to the
    consultation's encryption certificates (PEM), e.g. the buyer's personal and secours keys."""

    files: list[FileRef] = field(metadata={"maxItems": 1000})
    recipients: list[str] = field(metadata={"maxItems": 50})
    algorithm: Literal["aes-256-cbc", "aes-256-gcm", "aes-128-cbc", "aes-128-gcm"] = "aes-256-cbc"
    key_transport: Literal["rsa-oaep", "rsa-oaep-sha256", "rsa-pkcs1v15"] = "rsa-oaep"
    out_dir: str | None = field(default=None, metadata={"maxLength": 4096, LOCAL_ONLY: True})
    upload_url: str | None = field(default=None, metadata={"maxLength": 2048})
    token: str | None = field(default=None, metadata={"maxLength": 4096})


@dataclass
class EncryptedFile:
    """One sealed file: its output (name, handle, folder, size and SHA-256 of the sealed bytes),
    whether the platform accepted it (``uploaded``) and whether the platform's receipt lists it
    with that size and SHA-256 (``receipted``)."""

    source: str
    status: Literal["encrypted", "failed"]
    output: str | None = None
    output_handle: str | None = None
    folder: str | None = None
    size: int | None = None
    sha256: str | None = None
    uploaded: bool = False
    receipted: bool = False
    error: JobError | None = None


@dataclass
class EncryptResult:
    """With ``upload_url``, ``receipt`` is the deposit receipt the platform returned with the last
    file it accepted (``bridge_protocol.platform.DepositReceipt``: the pli's files with their sizes
    and SHA-256, and the time), kept with the job; None when the platform gave none."""

    files: list[EncryptedFile]
    encrypted: int
    failed: int
    receipt: DepositReceipt | None = None


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


@dataclass
class BidsDownloadParams:
    """``bids.download``: download the sealed plis of a consultation ("Télécharger les plis
    chiffrés"). ``url`` is the consultation descriptor on the page's own origin (PLATFORM.md);
    ``token`` a short-lived bearer token for it and its files, kept in memory only; ``plis``
    restricts the download to these pli ids ("plis sélectionnés"). ``out_dir`` is for the
    command line only: a page naming a folder is refused."""

    url: str = field(metadata={"maxLength": 2048})
    token: str | None = field(default=None, metadata={"maxLength": 4096})
    plis: list[str] | None = field(default=None, metadata={"maxItems": 10_000})
    out_dir: str | None = field(default=None, metadata={"maxLength": 4096, LOCAL_ONLY: True})


@dataclass
class DownloadedFile:
    """One file of the consultation: where it is (``name``, relative to the folder, with ``/``),
    its verified size and SHA-256, and whether it was ``downloaded`` whole, ``resumed`` from an
    earlier part, or already ``present`` and complete."""

    pli: str
    envelope: str
    file: str
    name: str
    size: int
    sha256: str
    status: Literal["downloaded", "resumed", "present"]
    #: Bytes received from the platform for it by this job.
    transferred: int = 0


@dataclass
class FailedDownload:
    """A file of the consultation that could not be had (``error``: FILE_UNREADABLE when its
    SHA-256 or size differs from the descriptor's, FILE_NOT_FOUND when the platform lacks it)."""

    pli: str
    envelope: str
    file: str
    name: str
    error: JobError


@dataclass
class BidsDownloadResult:
    """``files`` holds every file that is in the folder, checked; ``failed`` the files that are
    not. A job that fails because some files failed keeps this result (with both lists)."""

    consultation: str
    title: str
    #: The folder as the page may show it (``~/Documents/...``); the full path for the command line.
    folder: str
    plis: int
    files: list[DownloadedFile]
    #: Total size of the files, and the bytes this job received from the platform.
    bytes: int
    transferred: int
    failed: list[FailedDownload] = field(default_factory=list)



@dataclass
class BidsOpenParams:
    """``bids.open`` ("Ouvrir en ligne"): fetch the sealed files of a consultation (as
    ``bids.download`` does, into the same folder: what is there already is only checked), decrypt
    them with a key the user holds (consent and PIN once, in the agent's own UI) and, when the
    descriptor gives a ``result_url`` and ``upload`` is true, send each opened file back to it
    (PLATFORM.md section 5). ``plis`` and ``envelopes`` (envelope ids, in every selected pli)
    restrict what is opened; ``certificate`` names the key (else whichever decryption key the user
    holds is a recipient). ``out_dir`` is for the command line only."""

    url: str = field(metadata={"maxLength": 2048})
    token: str | None = field(default=None, metadata={"maxLength": 4096})
    plis: list[str] | None = field(default=None, metadata={"maxItems": 10_000})
    envelopes: list[str] | None = field(default=None, metadata={"maxItems": 100})
    certificate: str | None = field(default=None, metadata={"maxLength": 64})
    upload: bool = True
    out_dir: str | None = field(default=None, metadata={"maxLength": 4096, LOCAL_ONLY: True})


@dataclass
class OpenedFile:
    """One sealed file of the consultation and what became of it: ``status`` "opened" (``name``
    is the opened file, relative to the folder, with its size and SHA-256) or "failed"
    (``error``). ``uploaded`` tells whether the platform accepted the opened content."""

    pli: str
    envelope: str
    file: str
    source: str
    sealed_sha256: str
    status: Literal["opened", "failed"]
    name: str | None = None
    size: int | None = None
    sha256: str | None = None
    algorithm: str | None = None
    #: A handle on the opened file for ``files.get`` (pages only: open or download it).
    handle: str | None = None
    #: The signatures of the opened file, checked in the same job ("Ouverture et analyse").
    signature: SignatureCheck | None = None
    uploaded: bool = False
    error: JobError | None = None


@dataclass
class BidsOpenResult:
    consultation: str
    title: str
    reference: str | None
    #: The folder as the page may show it (``~/Documents/...``); the full path for the command line.
    folder: str
    #: Envelopes (of all selected plis) that had files to open.
    envelopes: int
    opened: int
    failed: int
    uploaded: int
    files: list[OpenedFile]


@dataclass(frozen=True)
class KindContract:
    """A job kind as the protocol documents it."""

    name: str
    params: type
    result: type
    summary: str


KINDS: dict[str, KindContract] = {
    k.name: k
    for k in (
        KindContract(
            "diagnose",
            DiagnoseParams,
            DiagnoseResult,
            "Test the workstation: system, agent, key stores, browser, platform link, clock, port.",
        ),
        KindContract(
            "sign",
            SignParams,
            SignResult,
            "Sign, co-sign or counter-sign files in PAdES, CAdES or XAdES (one consent and PIN per batch).",
        ),
        KindContract(
            "verify",
            VerifyParams,
            VerifyResult,
            "Verify every signature of a file with a report (JSON and HTML, French or English).",
        ),
        KindContract("decrypt", DecryptParams, DecryptResult,
                     "Open sealed bids (CMS envelopes) with a decryption key the user holds; consent and PIN once."),
        KindContract("keygen", KeygenParams, KeygenResult,
                     "Create an encryption key pair ('bi-clé', personal or secours) on a token or in a PKCS#12 file, "
                     "or from an existing certificate's key, and register its certificate with the platform."),
        KindContract("bids.download", BidsDownloadParams, BidsDownloadResult,
                     "Download the sealed plis of a consultation (Range resume, SHA-256 checked, free space first)."),
        KindContract("bids.open", BidsOpenParams, BidsOpenResult,
                     "Open a consultation's sealed plis online: fetch, decrypt with the user's key (consent and "
                     "PIN once), send the opened files back to the platform."),
        KindContract("encrypt", EncryptParams, EncryptResult,
                     "Seal files to the consultation's encryption certificates (openssl cms -decrypt opens them)."),
    )
}
