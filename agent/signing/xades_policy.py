"""Signature policies for XAdES: the SignaturePolicyIdentifier property (ETSI EN 319 132-1 section 5.2.9).

A policy is named by its OID and bound to the exact policy document by a digest
(``SigPolicyHash``, section 5.2.9.1). When the caller supplies the document, the digest is computed
here from it (SHA-256), never copied: when the issuer publishes a new version, the hash follows.
The document's location goes in the ``SPURI`` qualifier (section 5.2.9.2).

One policy is built in: the DGFiP's Hélios PES V2 policy, as every PES signer in the field writes it
and as the DGFiP's own PES signature checker recommends it (identifier, description, SHA-1 hash
of the published PDF and SPURI). Sources:

* the DGFiP's PES tools (Axyus ``com.axyus.signature.pes``, a copy of which SICTIAM/stela keeps
  under ``pes-service/src/main/java/fr/sictiam/signature/pes/``; its checker's report, in the
  same repository's ``pes-service`` tests): "Il est préconisé de mettre l'OID de la PS de la
  DGFiP : urn:oid:1.2.250.1.131.1.5.18.21.1.4", hash
  ``Jkdb+aba0Hz6+ZPKmKNhPByzQ+Q=``, SPURI ``https://portail.dgfip.finances.gouv.fr/documents/PS_Helios_DGFiP.pdf``;
* Libriciel's parapheur signers: the LiberSign parameters ``pespolicyid``, ``pespolicydesc``,
  ``pespolicyhash``, ``pesspuri`` written by libriciel/s2low and libriciel/pastell, and the
  i-Parapheur signer (libriciel/i-Parapheur-iOS ``iParapheur/Crypto/XadesEnvSigner.swift`` and the
  SignedProperties it expects in ``iParapheurTests/Utils_CryptoUtils_Tests.swift``), SHA-1
  ``SigPolicyHash``.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass

from .xades_xml import XadesError

_OID = re.compile(r"^[0-2](\.(0|[1-9][0-9]*))+$")
_DIGEST_SIZES = {"sha1": 20, "sha256": 32, "sha384": 48, "sha512": 64}

#: Hélios PES V2 signature policy of the DGFiP ("Politique de signature Helios de la DGFiP").
DGFIP_PES_POLICY_OID = "1.2.250.1.131.1.5.18.21.1.4"
DGFIP_PES_POLICY_URI = "https://portail.dgfip.finances.gouv.fr/documents/PS_Helios_DGFiP.pdf"
DGFIP_PES_POLICY_DESCRIPTION = "Politique de signature Helios de la DGFiP"
#: SHA-1 of the policy PDF, as published with it and recommended by the DGFiP's checker.
DGFIP_PES_POLICY_SHA1 = base64.b64decode("Jkdb+aba0Hz6+ZPKmKNhPByzQ+Q=")


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
