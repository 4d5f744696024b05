"""CAdES / CMS validation: every SignerInfo (co-signers) and every counter-signature, each on its own.

ETSI EN 319 102-1 building blocks, in order (section 5.2): format checking (5.2.2), identification
of the signing certificate (5.2.3, through ``sid`` and the ESS signing-certificate(-v2) attribute),
cryptographic verification (5.2.7: message-digest against the content, then the signature value
over the DER of the signed attributes, RFC 5652 section 5.4), X.509 validation at the best
signature time (5.2.6 and 5.5.4, see ``chain``), signature acceptance (5.2.8: weak algorithms).

Baseline levels are those of ETSI EN 319 122-1 section 6: B-B (content-type, message-digest,
signing-time, signing-certificate-v2), B-T (a valid signature-time-stamp), B-LT (certificates and
revocation values in the SignedData), B-LTA (archive-time-stamp-v3, reported but not verified).

Counter-signatures (RFC 5652 section 11.4) are checked here because no stock tool does: their
message-digest is the digest of the target's signature value and they must not carry content-type.
A bad counter-signature is reported under its target and never changes the target's verdict.

The SignerInfos are taken in file order and identified by ``sid``, never re-encoded; detached
content is hashed once, in chunks, for every digest algorithm in use. The shared pieces here
(``verify_signer_info``, ``verify_timestamp``) also serve the PAdES and XAdES validators.

Kept as one module: it follows EN 319 102-1 section 5.2 building block by building block for a
SignerInfo, and its time-stamp pieces verify the token's own SignerInfo with ``verify_signer_info``,
so the two stay together.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from .. import asn1_names  # noqa: F401  (pyHanko's OID names, whatever the import order)
from asn1crypto import cms, core, tsp, x509 as asn1_x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from pyhanko_certvalidator.sig_validate import DefaultSignatureValidator, SignatureValidationContext

from ..pki.cms import PARSE_ERRORS, CmsMaterial, ess_certid_matches, find_certificate
from ..pki.streams import CHUNK, Progress
from .chain import (
    ChainResult,
    Environment,
    SigningTimes,
    certificate_category,
    common_name,
    crypto_cert,
    has_oid,
    is_weak_digest,
    signer_identity,
    validate_certificate,
)
from .cades_forms import OID_CONTENT_TIME_STAMP, cades_form
from .cms_stream import CmsFormatError, cms_source, looks_like_cms, read_signed_data
from .detached import detached_content_name, find_detached_content
from .rsa_pkcs1 import hash_for, verify_pkcs1_v15
from .model import (
    Check,
    Indication,
    SignatureReport,
    SubIndication,
    indeterminate,
    not_applicable,
    not_checked,
    passed,
    total_failed,
    warning,
)
from .validation_material import Skipped, material_from_signed_data, skipped_check

__all__ = ["CmsVerification", "TimestampOutcome", "detached_content_name", "extract_content",
           "find_detached_content", "format_failure", "hash_chunks", "hash_file", "material_of", "verify_cms",
           "verify_signer_info", "verify_timestamp"]

OID_ARCHIVE_TIME_STAMP_V3 = "0.4.0.1733.2.4"
OID_TIME_STAMPING = "1.3.6.1.5.5.7.3.8"
#: ``rule(info, counter=, timestamped=, long_term=) -> (level, "baseline_level" check)``.
LevelRule = Callable[..., tuple[str | None, Check]]


def format_failure(env: Environment, id_: str, fmt: str, message: str) -> SignatureReport:
    """A report for input that cannot be read as a signature at all."""
    report = SignatureReport(id=id_, format=fmt)
    report.add(total_failed("format", message, SubIndication.FORMAT_FAILURE))
    return report


# -- material -------------------------------------------------------------------------------------


def material_of(signed_data: cms.SignedData) -> CmsMaterial:
    found = CmsMaterial()
    for choice in signed_data["certificates"] or []:
        if choice.name == "certificate":
            found.certificates.append(choice.chosen)
    for choice in signed_data["crls"] or []:
        if choice.name == "crl":
            found.crls.append(choice.chosen)
        elif choice.name == "other" and choice.chosen["other_rev_info_format"].native == "ocsp_response":
            found.ocsps.append(choice.chosen["other_rev_info"])
    return found


def _attrs(attributes: cms.CMSAttributes | core.Void, name: str) -> list[object]:
    if not isinstance(attributes, cms.CMSAttributes):
        return []
    values: list[object] = []
    for attribute in attributes:
        if attribute["type"].native == name or attribute["type"].dotted == name:
            values.extend(attribute["values"])
    return values


def _attr_count(attributes: cms.CMSAttributes | core.Void, name: str) -> int:
    if not isinstance(attributes, cms.CMSAttributes):
        return 0
    return sum(1 for a in attributes if a["type"].native == name or a["type"].dotted == name)


# -- detached content -----------------------------------------------------------------------------


def hash_chunks(chunks: Iterable[bytes], algorithms: Iterable[str], progress: Progress | None = None,
                total: int = 0) -> dict[str, bytes]:
    """Digests of the concatenated ``chunks`` for every known algorithm, in one pass."""
    hashers = {}
    for name in set(algorithms):
        try:
            hashers[name] = hashlib.new(name)
        except ValueError:
            continue
    done = 0
    for chunk in chunks:
        for hasher in hashers.values():
            hasher.update(chunk)
        done += len(chunk)
        if progress is not None:
            progress(done, total)
    return {name: h.digest() for name, h in hashers.items()}


def hash_file(path: Path, algorithms: Iterable[str], progress: Progress | None = None) -> dict[str, bytes]:
    """Digests of ``path`` for every algorithm, read once in ``CHUNK`` pieces."""
    with path.open("rb") as stream:
        return hash_chunks(iter(functools.partial(stream.read, CHUNK), b""), algorithms, progress,
                           path.stat().st_size)


# -- cryptographic verification -----------------------------------------------------------------


_VALIDATOR = DefaultSignatureValidator()


def verify_signer_info(env: Environment, info: cms.SignerInfo, cert: asn1_x509.Certificate,
                       actual_digest: bytes | None, *, expected_content_type: str | None,
                       content_missing: str | None = None) -> list[Check]:
    """The "integrity" and "signature_value" checks of one SignerInfo (EN 319 102-1 section 5.2.7).

    ``expected_content_type`` None means a counter-signature: content-type must be absent.
    ``actual_digest`` None means the signed data could not be found (``content_missing`` says why).
    """
    checks: list[Check] = []
    digest_name = info["digest_algorithm"]["algorithm"].native
    signed_attrs = info["signed_attrs"]
    if not isinstance(signed_attrs, cms.CMSAttributes) or not len(signed_attrs):
        # No signed attributes: the signature is over the content itself (RFC 5652 section 5.4).
        if actual_digest is None:
            return [indeterminate("integrity", content_missing or env.t("Données signées introuvables.",
                                                                        "Signed data not found."),
                                  SubIndication.SIGNED_DATA_NOT_FOUND),
                    not_checked("signature_value", env.t("Non vérifiée : impossible sans les données signées.",
                                                         "Not checked: impossible without the signed data."))]
        ok, problem = _verify_value(info, cert, actual_digest, prehashed=True)
        if ok:
            return [passed("integrity", env.t("Empreinte des données conforme.", "Data digest matches.")),
                    passed("signature_value", env.t("Valeur de signature correcte.", "Signature value is correct."))]
        return [total_failed("integrity", env.t("Données ou signature modifiées (signature sans attributs signés).",
                                                "Data or signature changed (signature without signed attributes)."),
                             SubIndication.HASH_FAILURE),
                total_failed("signature_value", problem or env.t("Valeur de signature incorrecte.",
                                                                  "Incorrect signature value."),
                             SubIndication.SIG_CRYPTO_FAILURE)]
    # Content type (RFC 5652 section 11.1 and 11.4).
    content_types = _attrs(signed_attrs, "content_type")
    if expected_content_type is None:
        if content_types:
            checks.append(total_failed("format", env.t(
                "Contre-signature portant un attribut content-type (interdit, RFC 5652 §11.4).",
                "Counter-signature with a content-type attribute (forbidden, RFC 5652 §11.4)."),
                SubIndication.FORMAT_FAILURE))
    elif len(content_types) != 1 or content_types[0].native != expected_content_type:  # type: ignore[attr-defined]
        checks.append(total_failed("format", env.t(
            "Attribut content-type absent, multiple ou différent du contenu ({e}).",
            "content-type attribute missing, repeated or not the content's ({e}).", e=expected_content_type),
            SubIndication.FORMAT_FAILURE))
    digests = _attrs(signed_attrs, "message_digest")
    if len(digests) != 1:
        checks.append(total_failed("integrity", env.t("Attribut message-digest absent ou multiple.",
                                                      "message-digest attribute missing or repeated."),
                                   SubIndication.FORMAT_FAILURE))
    elif actual_digest is None:
        checks.append(indeterminate("integrity", content_missing or env.t("Données signées introuvables.",
                                                                          "Signed data not found."),
                                    SubIndication.SIGNED_DATA_NOT_FOUND))
    elif digests[0].native != actual_digest:  # type: ignore[attr-defined]
        checks.append(total_failed("integrity", env.t(
            "Les données ont été modifiées après la signature (empreinte {a} différente).",
            "The data changed after signing ({a} digest differs).", a=digest_name), SubIndication.HASH_FAILURE))
    else:
        checks.append(passed("integrity", env.t("Empreinte {a} des données signées conforme.",
                                                "{a} digest of the signed data matches.", a=digest_name)))
    protection = algorithm_protection_check(env, info)
    if protection is not None:
        checks.append(protection)
    ok, problem = _verify_value(info, cert, b"\x31" + signed_attrs.dump()[1:], prehashed=False)
    if ok:
        algorithm = info["signature_algorithm"]["algorithm"].native
        checks.append(correct_signature_value(env, digest_name, f"{algorithm}, {digest_name}"))
    elif problem is None:
        checks.append(total_failed("signature_value", env.t(
            "Valeur de signature incorrecte : la signature ou ses attributs signés ont été modifiés.",
            "Incorrect signature value: the signature or its signed attributes were changed."),
            SubIndication.SIG_CRYPTO_FAILURE))
    else:
        checks.append(indeterminate("signature_value", problem, SubIndication.CRYPTO_CONSTRAINTS_FAILURE))
    return checks


def _algorithm_parameters(identifier: core.Sequence) -> bytes:
    """The parameters' DER, absent and NULL alike (RFC 5754 section 2: both encodings occur)."""
    parameters = identifier["parameters"]
    if isinstance(parameters, (core.Void, core.Null)) or parameters.native is None:
        return b""
    return bytes(parameters.dump())


def _same_algorithm(protected: core.Sequence, used: core.Sequence) -> bool:
    return (protected["algorithm"].dotted == used["algorithm"].dotted
            and _algorithm_parameters(protected) == _algorithm_parameters(used))


def algorithm_protection_check(env: Environment, info: cms.SignerInfo) -> Check | None:
    """RFC 6211 section 3: the CMSAlgorithmProtection signed attribute, when present, must name the
    SignerInfo's own digestAlgorithm and signatureAlgorithm (and no macAlgorithm). A mismatch means
    the algorithms the verifier is told to use are not those the signer signed: an algorithm
    substitution, TOTAL_FAILED. Absent, there is nothing to check (the attribute is optional)."""
    signed_attrs = info["signed_attrs"]
    if not _attr_count(signed_attrs, "cms_algorithm_protection"):
        return None
    values = _attrs(signed_attrs, "cms_algorithm_protection")
    if _attr_count(signed_attrs, "cms_algorithm_protection") > 1 or len(values) != 1:
        return total_failed("algorithm_protection", env.t(
            "Attribut CMSAlgorithmProtection (RFC 6211) répété.",
            "Repeated CMSAlgorithmProtection attribute (RFC 6211)."), SubIndication.FORMAT_FAILURE)
    try:
        value = values[0]
        protected_digest = value["digest_algorithm"]  # type: ignore[index]
        protected_signature = value["signature_algorithm"]  # type: ignore[index]
        has_mac = not isinstance(value["mac_algorithm"], core.Void)  # type: ignore[index]
        if isinstance(protected_signature, core.Void) or has_mac:
            return total_failed("algorithm_protection", env.t(
                "Attribut CMSAlgorithmProtection (RFC 6211) sans signatureAlgorithm ou avec un macAlgorithm.",
                "CMSAlgorithmProtection attribute (RFC 6211) without signatureAlgorithm or with a macAlgorithm."),
                SubIndication.FORMAT_FAILURE)
        mismatches = []
        if not _same_algorithm(protected_digest, info["digest_algorithm"]):
            mismatches.append(env.t("empreinte {p} signée, {u} annoncée", "digest {p} signed, {u} stated",
                                    p=protected_digest["algorithm"].native,
                                    u=info["digest_algorithm"]["algorithm"].native))
        if not _same_algorithm(protected_signature, info["signature_algorithm"]):
            mismatches.append(env.t("signature {p} signée, {u} annoncée", "signature {p} signed, {u} stated",
                                    p=protected_signature["algorithm"].native,
                                    u=info["signature_algorithm"]["algorithm"].native))
    except PARSE_ERRORS as exc:
        return total_failed("algorithm_protection", env.t(
            "Attribut CMSAlgorithmProtection (RFC 6211) illisible : {e}",
            "Unreadable CMSAlgorithmProtection attribute (RFC 6211): {e}", e=exc), SubIndication.FORMAT_FAILURE)
    if mismatches:
        return total_failed("algorithm_protection", env.t(
            "Les algorithmes de la signature ne sont pas ceux que protège l'attribut signé CMSAlgorithmProtection "
            "(RFC 6211) : {m}. Substitution d'algorithme.",
            "The signature's algorithms are not those the signed CMSAlgorithmProtection attribute (RFC 6211) "
            "protects: {m}. Algorithm substitution.", m="; ".join(mismatches)), SubIndication.SIG_CRYPTO_FAILURE)
    return passed("algorithm_protection", env.t(
        "Algorithmes d'empreinte et de signature protégés (RFC 6211) et conformes.",
        "Digest and signature algorithms protected (RFC 6211) and matching."))


def _verify_value(info: cms.SignerInfo, cert: asn1_x509.Certificate, data: bytes, *, prehashed: bool
                  ) -> tuple[bool, str | None]:
    """(valid, problem): problem is set when the algorithm cannot be used at all.

    RSA PKCS #1 v1.5 goes through ``rsa_pkcs1`` (SHA-3, DigestInfo without NULL); anything else
    (ECDSA, RSASSA-PSS, EdDSA, DSA) through pyhanko-certvalidator's verifier."""
    digest_name = info["digest_algorithm"]["algorithm"].native
    pkcs1_hash = hash_for(info["signature_algorithm"], digest_name)
    if pkcs1_hash is not None:
        try:
            if prehashed and pkcs1_hash != digest_name:
                return False, f"algorithme non pris en charge / unsupported algorithm: {pkcs1_hash} ≠ {digest_name}"
            return verify_pkcs1_v15(info["signature"].native, data, cert.public_key, pkcs1_hash,
                                    prehashed=prehashed), None
        except (ValueError, TypeError, KeyError, UnsupportedAlgorithm) as exc:
            return False, f"algorithme non pris en charge / unsupported algorithm: {exc}"
    try:
        _VALIDATOR.validate_signature(
            info["signature"].native, data, cert.public_key, info["signature_algorithm"],
            SignatureValidationContext(contextual_md_algorithm=info["digest_algorithm"]["algorithm"].native,
                                       prehashed=prehashed))
    except InvalidSignature as exc:
        if type(exc) is InvalidSignature:
            return False, None
        return False, f"{type(exc).__name__}: {exc}"
    except (ValueError, TypeError, AssertionError, NotImplementedError, UnsupportedAlgorithm) as exc:
        # UnsupportedAlgorithm: a public key cryptography cannot load (e.g. a garbled algorithm OID).
        return False, f"algorithme non pris en charge / unsupported algorithm: {exc}"
    return True, None


def identify_signing_certificate(env: Environment, info: cms.SignerInfo,
                                 certificates: Iterable[asn1_x509.Certificate]) -> tuple[asn1_x509.Certificate | None,
                                                                                         Check]:
    """EN 319 102-1 section 5.2.3: the certificate ``sid`` names, bound by signing-certificate(-v2)."""
    cert = find_certificate(certificates, info["sid"])
    if cert is None:
        return None, indeterminate("signing_certificate", env.t(
            "Certificat du signataire absent du fichier.", "The signer's certificate is not in the file."),
            SubIndication.NO_SIGNING_CERTIFICATE_FOUND)
    signed_attrs = info["signed_attrs"]
    for name in ("signing_certificate_v2", "signing_certificate"):
        values = _attrs(signed_attrs, name)
        if not values:
            continue
        if _attr_count(signed_attrs, name) > 1 or len(values) != 1:
            return cert, indeterminate("signing_certificate", env.t(
                "Attribut {n} répété.", "Repeated {n} attribute.", n=name), SubIndication.NO_SIGNING_CERTIFICATE_FOUND)
        try:
            certid = values[0]["certs"][0]  # type: ignore[index]
            matches = ess_certid_matches(cert, certid)
        except PARSE_ERRORS:
            matches = False
        if not matches:
            return cert, indeterminate("signing_certificate", env.t(
                "L'attribut {n} ne désigne pas le certificat joint.",
                "The {n} attribute does not match the certificate.",
                n=name), SubIndication.NO_SIGNING_CERTIFICATE_FOUND)
        return cert, passed("signing_certificate", env.t("Certificat du signataire identifié ({n}).",
                                                         "Signer's certificate identified ({n}).", n=name))
    return cert, warning("signing_certificate", env.t(
        "Certificat désigné par l'identifiant du signataire seulement (pas d'attribut signing-certificate).",
        "Certificate named by the signer identifier only (no signing-certificate attribute)."))


# -- time-stamps ----------------------------------------------------------------------------------


@dataclass
class TimestampOutcome:
    """A validated (or refused) RFC 3161 time-stamp token."""

    ok: bool
    time: datetime | None
    message: str
    tsa: asn1_x509.Certificate | None = None
    checks: list[Check] = field(default_factory=list)
    chain: ChainResult | None = None


async def verify_timestamp(env: Environment, token: cms.ContentInfo, expected: Callable[[str], bytes | None],
                           extra: CmsMaterial | None = None) -> TimestampOutcome:
    """An RFC 3161 token: imprint (``expected(hash_name)``), TSA signature, TSA chain now (EN 319 102-1
    section 5.4). ``checks`` are the token's own integrity/signature/chain checks."""
    try:
        if token["content_type"].native != "signed_data":
            raise ValueError("not SignedData")
        signed_data = token["content"]
        eci = signed_data["encap_content_info"]
        if eci["content_type"].native != "tst_info":
            raise ValueError("not a TSTInfo")
        tst_info = eci["content"].parsed
        if not isinstance(tst_info, tsp.TSTInfo):
            raise ValueError("not a TSTInfo")
        gen_time = tst_info["gen_time"].native
        imprint = tst_info["message_imprint"]
        imprint_alg = imprint["hash_algorithm"]["algorithm"].native
        imprint_value = imprint["hashed_message"].native
        (info,) = list(signed_data["signer_infos"])
        found = material_of(signed_data)
        if extra is not None:
            found.extend(extra)
        econtent = eci["content"].contents
    except PARSE_ERRORS as exc:
        message = env.t("jeton d'horodatage illisible ({e})", "unreadable time-stamp token ({e})", e=exc)
        return TimestampOutcome(False, None, message, checks=[total_failed("format", message,
                                                                           SubIndication.FORMAT_FAILURE)])
    checks: list[Check] = []
    expected_value = expected(imprint_alg)
    if expected_value is None or expected_value != imprint_value:
        message = env.t("le jeton ne porte pas sur cette signature (empreinte différente)",
                        "the token is not over this signature (imprint differs)")
        checks.append(total_failed("integrity", message, SubIndication.HASH_FAILURE))
    else:
        checks.append(passed("integrity", env.t("Empreinte {a} horodatée conforme.",
                                                "Time-stamped {a} imprint matches.",
                                                a=imprint_alg)))
    cert, identified = identify_signing_certificate(env, info, found.certificates)
    checks.append(identified)
    if cert is None:
        return TimestampOutcome(False, gen_time, identified.message, checks=checks)
    try:
        digest = hashlib.new(info["digest_algorithm"]["algorithm"].native, econtent).digest()
    except (ValueError, TypeError):
        digest = None
    for check in verify_signer_info(env, info, cert, digest, expected_content_type="tst_info"):
        if check.name == "integrity":  # the token's own TSTInfo digest: part of its signature value
            if check.indication is None:
                continue
            check.name = "signature_value"
        checks.append(check)
    if not has_oid(crypto_cert(cert), OID_TIME_STAMPING):
        checks.append(indeterminate("chain", env.t("Le certificat de l'horodateur n'a pas l'usage timeStamping.",
                                                   "The TSA certificate lacks the timeStamping usage."),
                                    SubIndication.CHAIN_CONSTRAINTS_FAILURE))
    chain = await validate_certificate(env, cert, found.certificates, SigningTimes(claimed=gen_time, claimed_by="tsa"),
                                       crls=found.crls, ocsps=found.ocsps)
    checks += chain.checks
    tsa_name = common_name(cert)
    problem = next((c for c in checks if c.indication is not None), None)
    if problem is None:
        message = env.t("horodatage du {t} par {n}, valide", "time-stamp of {t} by {n}, valid", t=env.when(gen_time),
                        n=tsa_name)
        return TimestampOutcome(True, gen_time, message, cert, checks, chain)
    message = env.t("horodatage du {t} par {n} non valide : {m}", "time-stamp of {t} by {n} not valid: {m}",
                    t=env.when(gen_time), n=tsa_name, m=problem.message)
    return TimestampOutcome(False, gen_time, message, cert, checks, chain)


def correct_signature_value(env: Environment, digest_name: str, what: str) -> Check:
    """The check of a mathematically correct signature value: passed, or INDETERMINATE /
    CRYPTO_CONSTRAINTS_FAILURE when its digest is no longer secure (EN 319 102-1 section 5.2.8)."""
    if is_weak_digest(digest_name):
        return indeterminate("signature_value", env.t(
            "Valeur de signature correcte, mais l'algorithme {a} n'est plus sûr.",
            "Signature value correct, but {a} is no longer secure.", a=digest_name),
            SubIndication.CRYPTO_CONSTRAINTS_FAILURE)
    return passed("signature_value", env.t("Valeur de signature correcte ({a}).", "Signature value is correct ({a}).",
                                           a=what))


def imprint_checker(data: bytes) -> Callable[[str], bytes | None]:
    """``expected(hash_name)``: the digest of ``data`` a time-stamp's message imprint must equal
    (RFC 3161 section 2.4.2), None for an algorithm ``hashlib`` does not know."""
    def expected(name: str) -> bytes | None:
        try:
            return hashlib.new(name, data).digest()
        except (ValueError, TypeError):
            return None

    return expected


async def signature_timestamps(env: Environment, info: cms.SignerInfo, extra: CmsMaterial
                               ) -> tuple[TimestampOutcome | None, list[TimestampOutcome]]:
    """The earliest valid signature-time-stamp of ``info`` (EN 319 122-1 section 5.3) and all outcomes."""
    outcomes = []
    for value in _attrs(info["unsigned_attrs"], "signature_time_stamp_token"):
        outcomes.append(await verify_timestamp(env, value, imprint_checker(info["signature"].native),
                                               extra))
    valid = [o for o in outcomes if o.ok and o.time is not None]
    best = min(valid, key=lambda o: o.time) if valid else None  # type: ignore[arg-type, return-value]
    return best, outcomes


def _content_timestamps(info: cms.SignerInfo) -> list[cms.ContentInfo | Exception]:
    """The content-time-stamp tokens of a SignerInfo (EN 319 122-1 section 5.2.8), or the parse error of each."""
    tokens: list[cms.ContentInfo | Exception] = []
    for value in _attrs(info["signed_attrs"], OID_CONTENT_TIME_STAMP):
        try:
            tokens.append(cms.ContentInfo.load(value.dump()))  # type: ignore[attr-defined]
        except PARSE_ERRORS as exc:
            tokens.append(exc)
    return tokens


def content_timestamp_algorithms(info: cms.SignerInfo) -> set[str]:
    """The imprint digest algorithms of the content-time-stamps of ``info`` (to hash the content with)."""
    names = set()
    for token in _content_timestamps(info):
        try:
            tst = token["content"]["encap_content_info"]["content"].parsed  # type: ignore[index]
            names.add(tst["message_imprint"]["hash_algorithm"]["algorithm"].native)
        except PARSE_ERRORS:
            continue
    return names


async def content_timestamp_checks(env: Environment, info: cms.SignerInfo, found: CmsMaterial,
                                   content_digests: Mapping[str, bytes] | None) -> list[Check]:
    """The "content_timestamp" check of each content-time-stamp (EN 319 122-1 section 5.2.8): an RFC 3161
    token over the signed content, signed before the signature. Its imprint is compared with the
    content's digest and its TSA validated (``verify_timestamp``). An imprint or token signature
    that does not hold makes the signature INDETERMINATE (the signer vouched for a false time-stamp);
    a TSA that cannot be trusted only makes the time-stamp ignored, with a warning."""
    checks = []
    for token in _content_timestamps(info):
        if isinstance(token, Exception):
            checks.append(warning("content_timestamp", env.t(
                "Horodatage du contenu illisible, ignoré ({e}).", "Unreadable content time-stamp, ignored ({e}).",
                e=token)))
            continue
        if not content_digests:
            checks.append(warning("content_timestamp", env.t(
                "Horodatage du contenu non vérifié : l'empreinte des données signées n'est pas disponible.",
                "Content time-stamp not checked: the digest of the signed data is not available.")))
            continue
        outcome = await verify_timestamp(env, token, content_digests.get, found)
        if outcome.ok:
            checks.append(passed("content_timestamp", env.t("Contenu horodaté avant la signature : {m}.",
                                                            "Content time-stamped before signing: {m}.",
                                                            m=outcome.message)))
        elif any(c.indication is Indication.TOTAL_FAILED for c in outcome.checks):
            checks.append(indeterminate("content_timestamp", env.t(
                "Horodatage du contenu faux : {m}.", "False content time-stamp: {m}.", m=outcome.message),
                SubIndication.SIG_CONSTRAINTS_FAILURE))
        else:
            checks.append(warning("content_timestamp", env.t("Horodatage du contenu ignoré, {m}.",
                                                             "Content time-stamp ignored, {m}.", m=outcome.message)))
    return checks


def timestamp_check(env: Environment, best: TimestampOutcome | None, outcomes: list[TimestampOutcome],
                    none_message: str | None = None) -> Check:
    """The "timestamp" check: a refused time-stamp is ignored (EN 319 102-1 section 5.5.4), with a warning."""
    if best is not None:
        extra = ""
        if len(outcomes) > 1:
            extra = env.t(" ({n} horodatages)", " ({n} time-stamps)", n=len(outcomes))
        return passed("timestamp", env.t("Signature horodatée : {m}{x}.", "Signature time-stamped: {m}{x}.",
                                         m=best.message, x=extra))
    if outcomes:
        return warning("timestamp", env.t("Horodatage ignoré, {m}.", "Time-stamp ignored, {m}.", m=outcomes[0].message))
    return not_applicable("timestamp", none_message or env.t(
        "Pas d'horodatage : l'heure de signature est celle déclarée par le signataire.",
        "No time-stamp: the signing time is the one claimed by the signer."))


def claimed_signing_time(info: cms.SignerInfo) -> datetime | None:
    values = _attrs(info["signed_attrs"], "signing_time")
    if len(values) != 1:
        return None
    try:
        moment = values[0].native  # type: ignore[attr-defined]
    except PARSE_ERRORS:
        return None
    return moment if isinstance(moment, datetime) else None


# -- baseline level -------------------------------------------------------------------------------


def cades_level(env: Environment, info: cms.SignerInfo, *, counter: bool, timestamped: bool,
                long_term: bool) -> tuple[str | None, Check]:
    """The EN 319 122-1 baseline level reached (section 6.3, table 1)."""
    attrs = info["signed_attrs"]
    missing = []
    if not counter and _attr_count(attrs, "content_type") != 1:
        missing.append("content-type")
    if _attr_count(attrs, "message_digest") != 1:
        missing.append("message-digest")
    if _attr_count(attrs, "signing_time") != 1:
        missing.append("signing-time")
    if _attr_count(attrs, "signing_certificate_v2") + _attr_count(attrs, "signing_certificate") != 1:
        missing.append("signing-certificate-v2")
    if missing:
        form = cades_form(info, counter=counter)
        if form is not None:  # named by its attributes (TS 101 733, EN 319 122-2): still CAdES
            return form, warning("baseline_level", env.t(
                "Forme CAdES-{f} (ETSI TS 101 733), sans niveau de base EN 319 122-1 : {m} absent(s) ou répété(s).",
                "CAdES-{f} form (ETSI TS 101 733), no EN 319 122-1 baseline level: {m} missing or repeated.",
                f=form, m=", ".join(missing)))
        return None, warning("baseline_level", env.t(
            "Pas de niveau CAdES de base (EN 319 122-1) : {m} absent(s) ou répété(s).",
            "No CAdES baseline level (EN 319 122-1): {m} missing or repeated.", m=", ".join(missing)))
    archive = _attr_count(info["unsigned_attrs"], OID_ARCHIVE_TIME_STAMP_V3) > 0
    if not timestamped:
        return "B-B", passed("baseline_level", env.t(
            "B-B : content-type, message-digest, signing-time et signing-certificate-v2 présents.",
            "B-B: content-type, message-digest, signing-time and signing-certificate-v2 present."))
    if not long_term:
        return "B-T", passed("baseline_level", env.t("B-T : B-B et horodatage de signature valide.",
                                                     "B-T: B-B and a valid signature time-stamp."))
    if archive:
        return "B-LT", warning("baseline_level", env.t(
            "B-LT : données de validation incluses ; horodatage d'archive présent mais non vérifié (B-LTA non évalué).",
            "B-LT: validation data included; archive time-stamp present but not verified (B-LTA not assessed)."))
    return "B-LT", passed("baseline_level", env.t("B-LT : B-T et certificats et données de révocation inclus.",
                                                  "B-LT: B-T with certificates and revocation data included."))


def _long_term(found: CmsMaterial, chain: ChainResult) -> bool:
    if not (found.crls or found.ocsps) or not chain.path:
        return False
    present = {c.dump() for c in found.certificates}
    return all(c.dump() in present for c in chain.path[:-1])


# -- the signer -----------------------------------------------------------------------------------


async def verify_signer(env: Environment, info: cms.SignerInfo, id_: str, found: CmsMaterial,
                        actual_digest: bytes | None, *, content_type: str | None, fmt: str,
                        content_missing: str | None = None, claimed: datetime | None = None,
                        extra_poe: datetime | None = None, pdf_checks: Sequence[Check] = (),
                        level_rule: LevelRule | None = None,
                        content_digests: Mapping[str, bytes] | None = None,
                        material_checks: Sequence[Check] = ()) -> SignatureReport:
    """One SignerInfo (or counter-signature when ``content_type`` is None), its counter-signatures
    below it. PAdES passes ``claimed`` (``/M``), ``extra_poe`` (a document time-stamp), its own
    format/coverage/modification checks (``pdf_checks``) and its baseline ``level_rule``.
    ``content_digests`` (hashlib name -> digest of the signed content) verify content time-stamps;
    ``material_checks`` say what validation material of the file was skipped as malformed."""
    report = SignatureReport(id=id_, format=fmt)
    try:
        await _verify_signer(env, report, info, found, actual_digest, content_type=content_type,
                             content_missing=content_missing, claimed=claimed, extra_poe=extra_poe,
                             pdf_checks=pdf_checks, level_rule=level_rule or functools.partial(cades_level, env),
                             content_digests=content_digests, material_checks=material_checks)
    except PARSE_ERRORS as exc:
        report.add(total_failed("format", env.t("Signature mal formée : {e}", "Malformed signature: {e}", e=exc),
                                SubIndication.FORMAT_FAILURE))
    return report


async def _verify_signer(env: Environment, report: SignatureReport, info: cms.SignerInfo, found: CmsMaterial,
                         actual_digest: bytes | None, *, content_type: str | None, content_missing: str | None,
                         claimed: datetime | None, extra_poe: datetime | None, pdf_checks: Sequence[Check],
                         level_rule: LevelRule, content_digests: Mapping[str, bytes] | None,
                         material_checks: Sequence[Check]) -> None:
    counter = content_type is None
    cert, identified = identify_signing_certificate(env, info, found.certificates)
    report.signer = signer_identity(cert)
    if pdf_checks:
        report.add(*pdf_checks)
    elif counter:
        report.add(passed("format", env.t("Contre-signature RFC 5652 §11.4 lisible.",
                                          "Readable RFC 5652 §11.4 counter-signature.")))
    else:
        report.add(passed("format", env.t("Structure CMS SignedData lisible (RFC 5652).",
                                          "Readable CMS SignedData structure (RFC 5652).")))
    report.add(*material_checks)
    report.add(identified)
    if cert is None:
        return
    report.add(*verify_signer_info(env, info, cert, actual_digest, expected_content_type=content_type,
                                   content_missing=content_missing))
    if not counter:
        report.add(*await content_timestamp_checks(env, info, found, content_digests))
    best, outcomes = await signature_timestamps(env, info, found)
    times = SigningTimes(claimed=claimed if claimed is not None else claimed_signing_time(info),
                         poe=min(t for t in (best.time if best else None, extra_poe) if t is not None)
                         if (best or extra_poe) else None)
    report.signing_time = times.best
    report.signing_time_source = "timestamp" if times.poe else ("claimed" if times.claimed else None)
    chain = await validate_certificate(env, cert, found.certificates, times, crls=found.crls, ocsps=found.ocsps)
    report.add(*chain.checks)
    report.add(certificate_category(cert, env, chain.path, times.best))
    if best is None and extra_poe is not None:
        report.add(passed("timestamp", env.t(
            "Signature couverte par un horodatage de document du {t}.",
            "Signature covered by a document time-stamp of {t}.", t=env.when(extra_poe))))
    else:
        report.add(timestamp_check(env, best, outcomes))
    level, level_check = level_rule(info, counter=counter, timestamped=times.poe is not None,
                                    long_term=_long_term(found, chain))
    report.level = level
    report.add(level_check)
    if level is None and report.format == "CAdES":
        report.format = "CMS"
    report.countersignatures = await countersignatures(env, info, report.id, found)


async def countersignatures(env: Environment, info: cms.SignerInfo, parent_id: str, found: CmsMaterial
                            ) -> list[SignatureReport]:
    """Each RFC 5652 section 11.4 counter-signature of ``info``, recursively."""
    reports = []
    for index, counter in enumerate(_attrs(info["unsigned_attrs"], "counter_signature"), start=1):
        try:
            digest_name = counter["digest_algorithm"]["algorithm"].native  # type: ignore[index]
            digest: bytes | None = hashlib.new(digest_name, info["signature"].native).digest()
        except PARSE_ERRORS:
            digest = None
        reports.append(await verify_signer(env, counter, f"{parent_id}-C{index}", found, digest,
                                           content_type=None, fmt="CAdES",
                                           content_missing=env.t("Algorithme d'empreinte inconnu.",
                                                                 "Unknown digest algorithm.")))
    return reports


# -- the file -------------------------------------------------------------------------------------


@dataclass
class CmsVerification:
    """The reports of every SignerInfo of a CMS file and, when asked, where its attached content was copied."""

    signatures: list[SignatureReport]
    #: The spool file holding the attached content, when ``spool_if`` accepted it.
    content: Path | None = None


def _content_digests(path: Path, names: set[str]) -> dict[str, bytes]:
    """A second pass over an attached content, for digest algorithms ``digestAlgorithms`` did not announce."""
    with path.open("rb") as raw:
        return read_signed_data(cms_source(raw), digest_names=names).digests


async def verify_cms(env: Environment, path: Path, content: Path | None, progress: Progress | None, *,
                     spool: Path | None = None, spool_if: Callable[[bytes], bool] | None = None,
                     detached: Callable[[set[str]], dict[str, bytes] | None] | None = None,
                     content_missing: str | None = None) -> CmsVerification:
    """Every SignerInfo of a ``.p7s``/``.p7m``/``.xp7s`` (DER, BER, PEM or bare base64), any size.

    The attached content is streamed (``cms_stream``): hashed in chunks and, if ``spool_if`` accepts
    its first piece, copied to ``spool`` so that the caller can verify the document it is.

    ``detached`` makes the signature one of a container (ETSI EN 319 162-1 sections 4.3 and 4.4):
    ``detached(digest algorithms)`` gives the digests of the container file it signs (None: not
    found, ``content_missing`` says why), and an encapsulated content is refused.
    """
    total = path.stat().st_size

    def content_progress(done: int) -> None:
        if progress is not None:
            progress(min(done, total), total)

    try:
        with path.open("rb") as raw, (spool.open("wb") if spool is not None else contextlib.nullcontext()) as sink:
            parsed = read_signed_data(cms_source(raw), sink=sink, sink_if=spool_if, progress=content_progress)
        signer_infos = list(parsed.signer_infos)
        econtent_type = parsed.content_type
        skipped = Skipped()
        found = material_from_signed_data(parsed.signed_data, "signature", skipped)
        material_checks = [skipped_check(env, skipped)] if skipped else []
    except (CmsFormatError, *PARSE_ERRORS) as exc:
        return CmsVerification([format_failure(env, "S1", "CMS", env.t(
            "Fichier illisible comme signature CMS/CAdES : {e}", "File unreadable as a CMS/CAdES signature: {e}",
            e=exc))])
    if not signer_infos:
        return CmsVerification([format_failure(env, "S1", "CMS", env.t("Aucun signataire dans ce fichier CMS.",
                                                                        "No signer in this CMS file."))])
    algorithms = parsed.digest_names()
    for info in signer_infos:
        try:
            algorithms |= content_timestamp_algorithms(info)
        except PARSE_ERRORS:
            continue  # a garbled SignerInfo: reported on its own below
    digests: dict[str, bytes] = {}
    missing: str | None = None
    spooled = spool if spool is not None and spool.is_file() and spool.stat().st_size else None
    if parsed.attached and detached is not None:
        return CmsVerification([format_failure(env, "S1", "CMS", env.t(
            "Signature CMS avec contenu encapsulé : dans un conteneur, elle doit être détachée du fichier signé.",
            "CMS signature with encapsulated content: in a container it must be detached from the signed file."))])
    if parsed.attached:
        digests = dict(parsed.digests)
        unannounced = {name for name in algorithms - digests.keys() if _hash_known(name)}
        if unannounced:
            try:
                digests.update(_content_digests(path, unannounced))
            except (CmsFormatError, *PARSE_ERRORS):
                pass
        missing = env.t("Algorithme d'empreinte non pris en charge.", "Unsupported digest algorithm.")
        content_progress(total)
    elif detached is not None:
        found_digests = detached(algorithms)
        if found_digests is None:
            missing = content_missing
        else:
            digests = found_digests
    else:
        source = content if content is not None else find_detached_content(path)
        if source is None or not source.is_file():
            missing = env.t("Signature détachée : le fichier signé est introuvable à côté de la signature ; "
                            "indiquez-le explicitement.",
                            "Detached signature: the signed file is not next to the signature; give it explicitly.")
        else:
            digests = hash_file(source, algorithms, progress)
    reports = []
    for index, info in enumerate(signer_infos, start=1):
        try:
            digest_name = info["digest_algorithm"]["algorithm"].native
        except PARSE_ERRORS:
            digest_name = ""
        reports.append(await verify_signer(env, info, f"S{index}", found, digests.get(digest_name),
                                           content_type=econtent_type, fmt="CAdES", content_missing=missing,
                                           content_digests=digests, material_checks=material_checks))
    return CmsVerification(reports, spooled)


def _hash_known(name: str) -> bool:
    try:
        hashlib.new(name)
    except (ValueError, TypeError):
        return False
    return True


def extract_content(path: Path, output: BinaryIO) -> int:
    """Copy the attached content of the CMS SignedData at ``path`` to ``output``, streamed; its size.

    Raises ``CmsFormatError`` for a file that is no readable SignedData or a detached signature."""
    with path.open("rb") as raw:
        if not looks_like_cms(raw.read(4096)):
            raise CmsFormatError("ce fichier n'est pas une signature CMS enveloppante (.p7m)")
        raw.seek(0)
        parsed = read_signed_data(cms_source(raw), sink=output)
    if not parsed.attached:
        raise CmsFormatError("signature détachée : le fichier ne contient pas le document signé")
    return parsed.content_size
