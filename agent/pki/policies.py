"""Signature policy constants shared by the signer and the verifiers (ETSI EN 319 132-1 section 5.2.9,
the SignaturePolicyIdentifier property: a policy OID, the hash of its document, its SPURI).

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

__all__ = ["DGFIP_PES_POLICY_DESCRIPTION", "DGFIP_PES_POLICY_OID", "DGFIP_PES_POLICY_SHA1", "DGFIP_PES_POLICY_URI"]

#: Hélios PES V2 signature policy of the DGFiP ("Politique de signature Helios de la DGFiP").
DGFIP_PES_POLICY_OID = "1.2.250.1.131.1.5.18.21.1.4"
DGFIP_PES_POLICY_URI = "https://portail.dgfip.finances.gouv.fr/documents/PS_Helios_DGFiP.pdf"
DGFIP_PES_POLICY_DESCRIPTION = "Politique de signature Helios de la DGFiP"
#: SHA-1 of the policy PDF, as published with it and recommended by the DGFiP's checker.
DGFIP_PES_POLICY_SHA1 = base64.b64decode("Jkdb+aba0Hz6+ZPKmKNhPByzQ+Q=")
