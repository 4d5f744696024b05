"""Signature policies for XAdES: the SignaturePolicyIdentifier property (ETSI EN 319 132-1 section 5.2.9).

A policy is named by its OID and bound to the exact policy document by a digest
(``SigPolicyHash``, section 5.2.9.1) computed here from the document the caller supplies, never
copied from somewhere: when the issuer publishes a new version of the document, the hash follows.
The document's location goes in the ``SPURI`` qualifier (section 5.2.9.2).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from .xades_xml import XadesError

_OID = re.compile(r"^[0-2](\.(0|[1-9][0-9]*))+$")

#: Hélios PES V2 signature policy of the DGFiP ("Politique de signature Helios de la DGFiP").
#: Sources: the policy identifier, description and SPURI used by Hélios signing integrations,
#: e.g. bseddon/xml-signer ``src/XAdES_DGFiP.php`` and libriciel/s2low (libersign parameters
#: ``pespolicyid`` / ``pesspuri``). The earlier version of the policy was ``...18.21.1.4``.
DGFIP_PES_POLICY_OID = "1.2.250.1.131.1.5.18.21.1.7"
DGFIP_PES_POLICY_URI = (
    "https://www.collectivites-locales.gouv.fr/files/files/finances_locales/dematerialisation/ps_helios_dgfip.pdf"
)
DGFIP_PES_POLICY_DESCRIPTION = "Politique de signature Helios de la DGFiP"


@dataclass(frozen=True)
class SignaturePolicy:
    """An explicit signature policy: ``SignaturePolicyId`` of EN 319 132-1 section 5.2.9.1.

    ``digest_sha256`` is the SHA-256 of the policy document (``SigPolicyHash``), ``uri`` where it is
    published (``SPURI``, section 5.2.9.2), ``description`` the optional ``SigPolicyId/Description``.
    """

    oid: str
    uri: str
    digest_sha256: bytes
    description: str | None = None

    def __post_init__(self) -> None:
        if not _OID.match(self.oid):
            raise XadesError(f"Identifiant de politique de signature invalide : {self.oid!r} (OID attendu).")
        if len(self.digest_sha256) != 32:
            raise XadesError("Empreinte de la politique de signature invalide (SHA-256 attendu).")

    @classmethod
    def from_document(cls, oid: str, uri: str, document: bytes, description: str | None = None) -> SignaturePolicy:
        """The policy ``oid`` bound to ``document`` (its SHA-256 is computed here)."""
        if not document:
            raise XadesError("Le document de politique de signature est vide.")
        return cls(oid, uri, hashlib.sha256(document).digest(), description)


def dgfip_pes_policy(document: bytes) -> SignaturePolicy:
    """The DGFiP Hélios PES V2 policy bound to ``document``, the policy PDF as published by the DGFiP."""
    return SignaturePolicy.from_document(DGFIP_PES_POLICY_OID, DGFIP_PES_POLICY_URI, document,
                                         DGFIP_PES_POLICY_DESCRIPTION)
