"""The catalogue of job kinds (``KINDS``): each kind's parameters and result as the protocol
documents them, from which the JSON Schema, the AsyncAPI document and the ``.d.ts`` are generated."""

from __future__ import annotations

from dataclasses import dataclass

from .bids import BidsDownloadParams, BidsDownloadResult, BidsOpenParams, BidsOpenResult
from .decrypt import DecryptParams, DecryptResult
from .diagnose import DiagnoseParams, DiagnoseResult
from .encrypt import EncryptParams, EncryptResult
from .keygen import KeygenParams, KeygenResult
from .sign import SignParams, SignResult
from .verify import VerifyParams, VerifyResult


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
