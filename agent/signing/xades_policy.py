"""Signature policies for XAdES: the SignaturePolicyIdentifier property (ETSI EN 319 132-1 section 5.2.9).

A policy is named by its OID and bound to the exact policy document by a digest
(``SigPolicyHash``, section 5.2.9.1). When the caller supplies the document, the digest is computed
here from it (SHA-256), never copied: when the issuer publishes a new version, the hash follows.
The document's location goes in the ``SPURI`` qualifier (section 5.2.9.2).

The one built-in policy, the DGFiP's Hélios PES V2 policy, is named in ``agent.pki.policies``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from ..pki.policies import (
    DGFIP_PES_POLICY_DESCRIPTION,
    DGFIP_PES_POLICY_OID,
    DGFIP_PES_POLICY_SHA1,
    DGFIP_PES_POLICY_URI,
)
from .xades_xml import XadesError

_OID = re.compile(r"^[0-2](\.(0|[1-9][0-9]*))+$")
_DIGEST_SIZES = {"sha1": 20, "sha256": 32, "sha384": 48, "sha512": 64}


@dataclass(frozen=True)
class SignaturePolicy:
    """An explicit signature policy: ``SignaturePolicyId`` of EN 319 132-1 section 5.2.9.1.

    ``digest`` is the hash of the policy document (``SigPolicyHash``) with ``digest_algorithm``,
    ``uri`` where it is published (``SPURI``, section 5.2.9.2), ``description`` the optional
    ``SigPolicyId/Description``.
    """

    oid: str
    uri: str
    digest: bytes
    description: str | None = None
    digest_algorithm: str = "sha256"

    def __post_init__(self) -> None:
        if not _OID.match(self.oid):
            raise XadesError(f"Identifiant de politique de signature invalide : {self.oid!r} (OID attendu).")
        if _DIGEST_SIZES.get(self.digest_algorithm) != len(self.digest):
            raise XadesError("Empreinte de la politique de signature invalide.")

    @classmethod
    def from_document(cls, oid: str, uri: str, document: bytes, description: str | None = None) -> SignaturePolicy:
        """The policy ``oid`` bound to ``document`` (its SHA-256 is computed here)."""
        if not document:
            raise XadesError("Le document de politique de signature est vide.")
        return cls(oid, uri, hashlib.sha256(document).digest(), description)


#: The DGFiP PES V2 policy as Hélios and the parapheurs know it (no document to configure).
DGFIP_PES_POLICY = SignaturePolicy(DGFIP_PES_POLICY_OID, DGFIP_PES_POLICY_URI, DGFIP_PES_POLICY_SHA1,
                                   DGFIP_PES_POLICY_DESCRIPTION, "sha1")


def dgfip_pes_policy(document: bytes | None = None) -> SignaturePolicy:
    """The DGFiP Hélios PES V2 policy: built in, or bound to ``document`` (a copy the administrator
    configured, whose SHA-256 is then computed)."""
    if document is None:
        return DGFIP_PES_POLICY
    return SignaturePolicy.from_document(DGFIP_PES_POLICY_OID, DGFIP_PES_POLICY_URI, document,
                                         DGFIP_PES_POLICY_DESCRIPTION)
