"""XAdES signing engine: detached tokens over any file, enveloped signatures in XML (PES V2 Hélios).

Signatures follow XMLDSig 1.1 and the XAdES baseline profile of ETSI EN 319 132-1 (levels B-B and
B-T, section 6), namespace ``http://uri.etsi.org/01903/v1.3.2#``. The key is only a sign-digest
callable (it may live on a smart card): the element is built and canonicalised with lxml
(Exclusive C14N 1.0, see ``xades_xml``), every digest is SHA-256, and the key signs the digest of
the canonical ``ds:SignedInfo``.

* ``sign_detached``: a standalone ``ds:Signature`` whose data reference is the file's name
  (URL-escaped, relative: the token sits next to the file) with the digest of its raw bytes,
  hashed in ``CHUNK`` pieces in constant memory.
* ``sign_enveloped``: the signature goes inside the XML document (``URI=""`` with the
  enveloped-signature transform); with ``pes=True`` the PES V2 profile below.

PES V2 profile (``pes=True``), as Hélios receives flows from the local authorities' parapheurs:

* placement: one signature per ``Bordereau`` (``URI="#Id"``, enveloped-signature then exclusive
  C14N, the signature as the Bordereau's last child); a flow whose Bordereaux do not all carry an
  ``Id`` is signed once, on ``PES_Aller`` itself;
* XAdES 1.1.1 (``http://uri.etsi.org/01903/v1.1.1#``, prefix ``xad``): ``SigningTime`` in UTC
  (``Z``), ``SigningCertificate`` (digest and ``IssuerSerial``), ``SignaturePolicyIdentifier``
  (the DGFiP policy, built in: ``xades_policy``), ``SignatureProductionPlace`` (City, PostalCode,
  CountryName) and ``SignerRole/ClaimedRoles`` (the ``sign`` job requires both; the engine writes
  what it is given); SignedProperties referenced with the 1.1.1 type and exclusive C14N;
* Exclusive C14N 1.0 for ``ds:SignedInfo`` and every reference: the DGFiP checker accepts only
  ``xml-exc-c14n#`` (with or without comments) and reports inclusive C14N 1.0 as "Le(s)
  algorithme(s) de canonisation ne sont pas corrects";
* level B-B only (the field's signatures carry no time-stamp; 1.1.1 time-stamps differ in form).

Sources for the profile: the DGFiP's PES producer and checker (Axyus ``com.axyus.signature.pes``,
copy in SICTIAM/stela ``pes-service/src/main/java/fr/sictiam/signature/pes/producer/SignatureGenerator.java``
and ``.../verifier/XMLDsigSignatureAndReferencesProcessor.java``), Libriciel's i-Parapheur signer
(libriciel/i-Parapheur-iOS ``iParapheur/Crypto/XadesEnvSigner.swift``) and LiberSign's PES parameters
(libriciel/s2low, libriciel/pastell). Both producers digest with SHA-1 and sign RSA-SHA1; this
engine keeps SHA-256 digests and the key's own SHA-2 signature method, which the DGFiP checker
reads (its ``DigestUtils`` maps ``xmlenc#sha256``) and which no longer counts as a weak algorithm.

Engines write only to ``output``; inputs are parsed without DTDs or entities (``xades_xml``).
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from pathlib import PurePath
from typing import BinaryIO
from urllib.parse import quote

from lxml import etree

from ..pki.policies import DGFIP_PES_POLICY_DESCRIPTION, DGFIP_PES_POLICY_OID, DGFIP_PES_POLICY_URI
from ..pki.streams import CHUNK, Progress
from ..pki.xml_safe import XmlRefused, parse_untrusted
from .base import SigningKey, Timestamper
from .xades_build import BASELINE, PES, PLACE_FIELDS, DataObject, SignedAttributes, new_signature, seal
from .xades_policy import DGFIP_PES_POLICY, SignaturePolicy, dgfip_pes_policy
from .xades_xml import ENVELOPED, EXC_C14N, XadesError, c14n, find_by_id

__all__ = [
    "DGFIP_PES_POLICY", "DGFIP_PES_POLICY_DESCRIPTION", "DGFIP_PES_POLICY_OID", "DGFIP_PES_POLICY_URI", "LEVELS",
    "PES_PLACE_FIELDS", "SignaturePolicy", "XadesError", "XmlRefused", "count_pes_signatures", "dgfip_pes_policy",
    "guess_mime_type", "missing_pes_fields", "normalize_place", "pes_targets", "sign_detached", "sign_enveloped",
]

LEVELS = ("B-B", "B-T")
MIME_TYPES = {".zip": "application/zip", ".pdf": "application/pdf", ".xml": "text/xml"}
#: The production place a PES V2 signature carries (the parapheurs' City, PostalCode, CountryName).
PES_PLACE_FIELDS = ("City", "PostalCode", "CountryName")
_PLACE_ALIASES = {"city": "City", "street_address": "StreetAddress", "state_or_province": "StateOrProvince",
                  "postal_code": "PostalCode", "country_name": "CountryName", "country": "CountryName"}


def guess_mime_type(name: str) -> str:
    """MIME type for ``DataObjectFormat`` (EN 319 132-1 section 5.2.4), from the file extension."""
    return MIME_TYPES.get(PurePath(name).suffix.lower(), "application/octet-stream")


def sign_detached(source: BinaryIO, source_name: str, output: BinaryIO, key: SigningKey, *, level: str = "B-B",
                  timestamper: Timestamper | None = None, mime_type: str | None = None,
                  progress: Progress | None = None) -> None:
    """Write to ``output`` a detached XAdES signature of ``source``, known to verifiers as ``source_name``.

    The reference URI is ``source_name`` URL-escaped (XMLDSig section 4.4.3.1), with no transform:
    the digest covers the raw bytes. ``progress(done, total)`` follows the hashing (``total`` is 0
    when the source cannot tell its size).
    """
    _check_level(level, timestamper)
    name = PurePath(source_name).name
    if name in ("", ".", "..") or name != source_name:
        raise XadesError(f"Nom de fichier invalide pour une signature détachée : {source_name!r}.")
    digest = _hash_stream(source, progress)
    data = DataObject(uri=quote(name, safe=""), digest=digest, mime_type=mime_type or guess_mime_type(name),
                      description=name)
    signature = new_signature(None, [data], key, SignedAttributes(signing_time=datetime.now(UTC)))
    seal(signature, key, level, timestamper)
    output.write(etree.tostring(signature, encoding="UTF-8", xml_declaration=True))


def sign_enveloped(source: BinaryIO, output: BinaryIO, key: SigningKey, *, level: str = "B-B",
                   timestamper: Timestamper | None = None, policy: SignaturePolicy | None = None,
                   claimed_role: str | None = None, production_place: dict[str, str] | None = None,
                   pes: bool = False, progress: Progress | None = None) -> None:
    """Write to ``output`` the XML document of ``source`` with enveloped XAdES signature(s).

    ``policy`` adds ``SignaturePolicyIdentifier`` (EN 319 132-1 section 5.2.9), ``claimed_role``
    ``SignerRoleV2/ClaimedRoles`` (5.2.6, e.g. "Ordonnateur"), ``production_place``
    ``SignatureProductionPlaceV2`` (5.2.5; keys City, StreetAddress, StateOrProvince, PostalCode,
    CountryName, or their snake_case forms). ``pes`` applies the PES V2 profile (module docstring):
    level B-B, and ``policy`` defaults to the DGFiP's (``missing_pes_fields`` says what a complete
    PES signature still lacks).
    ``progress(done, total)`` is called after each signature (each Bordereau of a PES).
    """
    _check_level(level, timestamper)
    role = (claimed_role or "").strip() or None
    place = _place(production_place or {})
    if pes and level != "B-B":
        raise XadesError("Le profil PES V2 (Hélios) se signe au niveau B-B, sans horodatage, comme le font "
                         "les parapheurs.")
    attributes = SignedAttributes(signing_time=datetime.now(UTC), policy=policy or (DGFIP_PES_POLICY if pes else None),
                                  claimed_role=role, production_place=place)
    profile = PES if pes else BASELINE
    tree = parse_untrusted(source)
    targets = pes_targets(tree) if pes else [(tree.getroot(), "")]
    for done, (parent, uri) in enumerate(targets, 1):
        node = tree if uri == "" else find_by_id(tree, uri[1:])
        # Taken before our signature enters the tree: what the enveloped-signature transform gives back.
        digest = hashlib.sha256(c14n(node)).digest()
        data = DataObject(uri=uri, digest=digest, mime_type="text/xml", transforms=(ENVELOPED, EXC_C14N))
        seal(new_signature(parent, [data], key, attributes, profile), key, level, timestamper, profile)
        if progress is not None:
            progress(done, len(targets))
    info = tree.docinfo
    # standalone="yes" is kept; "no" or absent mean the same without a DTD, so nothing is written.
    tree.write(output, encoding=info.encoding or "UTF-8", xml_declaration=True,
               standalone=True if info.standalone else None)


_BORDEREAU_TAG = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?Bordereau(?=[\s/>])([^<>]*)>")
_ID_ATTRIBUTE = re.compile(rb"\sId\s*=")
_TAG_WINDOW = 64 * 1024


def count_pes_signatures(source: BinaryIO) -> int:
    """How many signatures ``sign_enveloped(pes=True)`` will make in ``source``, read in ``CHUNK``
    pieces without parsing (for progress only: each Bordereau start tag with an ``Id``, or 1)."""
    with_id = without_id = 0
    tail = b""
    while True:
        data = source.read(CHUNK)
        buffer = tail + data
        end = len(buffer) if not data else max(0, len(buffer) - _TAG_WINDOW)
        last = 0
        for match in _BORDEREAU_TAG.finditer(buffer, 0, end):
            if _ID_ATTRIBUTE.search(match.group(1)):
                with_id += 1
            else:
                without_id += 1
            last = match.end()
        if not data:
            break
        cut = buffer.rfind(b"<", last, end)  # a start tag cut by the window boundary is read again
        tail = buffer[end if cut < 0 or len(buffer) - cut > 4 * _TAG_WINDOW else cut:]
    return with_id if with_id and not without_id else 1


def normalize_place(place: dict[str, str]) -> dict[str, str]:
    """Production place with schema names (``city`` → ``City``…), in schema order, empty values
    dropped; an unknown field raises XadesError."""
    return dict(_place(place))


def missing_pes_fields(claimed_role: str | None, production_place: dict[str, str] | None) -> list[str]:
    """What a PES V2 signature lacks among the role and City, PostalCode, CountryName (the DGFiP
    checker reports a missing role as "Rôle du signataire : NON_RENSEIGNE")."""
    place = dict(_place(production_place or {}))
    missing = [] if (claimed_role or "").strip() else ["claimed_role"]
    return missing + [name for name in PES_PLACE_FIELDS if name not in place]


def _check_level(level: str, timestamper: Timestamper | None) -> None:
    if level not in LEVELS:
        raise XadesError(f"Niveau XAdES non pris en charge : {level!r} (B-B ou B-T).")
    if level == "B-T" and timestamper is None:
        raise XadesError("Le niveau B-T exige un service d'horodatage.")


def _hash_stream(source: BinaryIO, progress: Progress | None) -> bytes:
    """SHA-256 of ``source`` read in ``CHUNK`` pieces, reporting progress."""
    total = 0
    if source.seekable():
        start = source.tell()
        total = source.seek(0, 2) - start
        source.seek(start)
    sha = hashlib.sha256()
    done = 0
    while chunk := source.read(CHUNK):
        sha.update(chunk)
        done += len(chunk)
        if progress is not None:
            progress(done, max(total, done))
    if progress is not None and done == 0:
        progress(0, 0)
    return sha.digest()


def _place(place: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """Production place fields in schema order, empty values dropped; unknown keys refused."""
    values: dict[str, str] = {}
    for key, value in place.items():
        name = key if key in PLACE_FIELDS else _PLACE_ALIASES.get(key.lower())
        if name is None:
            raise XadesError(f"Lieu de signature : champ inconnu {key!r} "
                             "(attendus : City, StreetAddress, StateOrProvince, PostalCode, CountryName).")
        if value and value.strip():
            values[name] = value.strip()
    return tuple((name, values[name]) for name in PLACE_FIELDS if name in values)


def _local(element: etree._Element) -> str:
    return etree.QName(element).localname


def pes_targets(tree: etree._ElementTree) -> list[tuple[etree._Element, str]]:
    """PES V2 placement: (parent, reference URI) of each signature to make.

    Each ``Bordereau`` when all of them carry an ``Id``; else ``PES_Aller`` itself (``""`` if it is
    the root, else its ``Id``), so that no Bordereau is left unsigned.
    """
    root = tree.getroot()
    pes = root if _local(root) == "PES_Aller" else next(root.iter("{*}PES_Aller"), None)
    if pes is None:
        raise XadesError("Ce document n'est pas un flux PES V2 : élément PES_Aller introuvable.")
    bordereaux = list(pes.iter("{*}Bordereau"))
    if bordereaux and all(b.get("Id") for b in bordereaux):
        return [(b, f"#{b.get('Id')}") for b in bordereaux]
    if pes is root:
        return [(root, "")]
    if not pes.get("Id"):
        raise XadesError("Élément PES_Aller sans attribut Id : impossible de le signer.")
    return [(pes, f"#{pes.get('Id')}")]
