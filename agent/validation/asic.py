"""ASiC containers (ETSI EN 319 162-1): every signature, the container files each covers, and those none covers.

An ASiC container is a ZIP file (EN 319 162-1 section 4.1) whose root holds the data objects and a
``META-INF/`` folder holding the signatures:

* ASiC-S (section 4.3): one data object, signed by ``META-INF/signature.p7s`` (a detached CAdES
  signature of it), by ``META-INF/signatures.xml`` (XAdES signatures whose references name it), or
  time-stamped by ``META-INF/timestamp.tst`` (an RFC 3161 token over it);
* ASiC-E (section 4.4): any number of data objects, in folders. A CAdES signature
  ``META-INF/*signature*.p7s`` (or a time-stamp ``META-INF/*timestamp*.tst``) signs an
  ``META-INF/ASiCManifest*.xml`` (Annex A.4) that names it in ``SigReference`` and gives the digest
  of each data object it covers in ``DataObjectReference``; a XAdES signature in
  ``META-INF/*signatures*.xml`` (Annex A.5, ``XAdESSignatures``) names the data objects directly
  in its references, by their path from the container's root;
* ``mimetype`` (Annex A.1), optional: when present, the first entry, stored (not compressed),
  holding ``application/vnd.etsi.asic-s+zip`` or ``application/vnd.etsi.asic-e+zip``. Absent, the
  container type is read from its layout and a warning says so; present but not as A.1 wants, it
  is a FORMAT_FAILURE of every signature (EN 319 102-1 section 5.2.2, format checking).

The container is never extracted: data objects are hashed while streaming from the archive (once
per digest algorithm), manifests and XAdES signatures are read in memory up to ``MAX_METADATA``, a
CAdES signature is copied to a private temporary file for the streaming CMS reader. The ZIP guards
of the sealed-bid archives apply (``agent.pki.archive``: entry names, links, duplicates,
encryption, entry count, central directory size, declared and actual sizes and compression
ratios); a container they refuse is a FORMAT_FAILURE before anything is inflated. A data object
that no signature covers is named in the container's ``uncovered_files`` warning: it may have
been added after signing.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

from asn1crypto import cms

from .. import asn1_names  # noqa: F401  (pyHanko's OID names, whatever the import order)
from ..pki.archive import Inflation, open_archive
from ..pki.ber import EnvelopeError
from ..pki.streams import Progress
from ..pki.xml_safe import XmlRefused, parse_untrusted
from ..pki.cms import PARSE_ERRORS
from .cades import format_failure, hash_chunks, verify_cms, verify_timestamp
from .chain import Environment, signer_identity
from .model import (Check, Container, SignatureReport, SubIndication, indeterminate, not_applicable, passed,
                    total_failed, warning)
from .xades import DIGESTS, DetachedData, verify_xml_stream

__all__ = ["MIMETYPES", "verify_asic"]

MIMETYPES = {"application/vnd.etsi.asic-s+zip": "ASiC-S", "application/vnd.etsi.asic-e+zip": "ASiC-E"}
ASIC_NS = "http://uri.etsi.org/02918/v1.2.1#"
DS = "http://www.w3.org/2000/09/xmldsig#"
#: Limits on what a container may make us inflate (the sealed-bid archives' figures).
MAX_ENTRIES = 10_000
MAX_TOTAL = 16 * 1024**3
MAX_RATIO = 200.0
#: XAdES signatures, manifests and time-stamp tokens are read in memory, up to this size each.
MAX_METADATA = 64 * 1024 * 1024
MAX_MIMETYPE = 1024
_S_NAMES = {"META-INF/signature.p7s", "META-INF/signatures.xml", "META-INF/timestamp.tst"}


class _Refused(Exception):
    """A container part that cannot be used: (sub-indication, message)."""

    def __init__(self, sub: SubIndication, message: str) -> None:
        super().__init__(message)
        self.sub = sub
        self.message = message


# -- the archive ----------------------------------------------------------------------------------


class _Archive:
    """The checked ZIP: entries by path, their bytes streamed under the archive guards, digests cached."""

    def __init__(self, archive: zipfile.ZipFile, entries: dict[str, zipfile.ZipInfo], first: str | None,
                 inflation: Inflation, progress: Progress | None, total: int) -> None:
        self.archive = archive
        self.entries = entries
        self.first = first
        self.inflation = inflation
        self.progress = progress
        self.total = total
        self.done = 0
        self._digests: dict[str, dict[str, bytes]] = {}

    def chunks(self, name: str) -> Iterator[bytes]:
        for block in self.inflation.blocks(self.archive, self.entries[name]):
            self.done += len(block)
            if self.progress is not None:
                self.progress(min(self.done, self.total), self.total)
            yield block

    def read(self, name: str, cap: int) -> bytes | None:
        """The whole entry, or None when it is larger than ``cap``."""
        if self.entries[name].file_size > cap:
            return None
        data = bytearray()
        for block in self.chunks(name):
            data += block
            if len(data) > cap:
                return None
        return bytes(data)

    def digests(self, name: str, algorithms: set[str]) -> dict[str, bytes]:
        """Digests of the entry for ``algorithms``, hashing it at most once per call for the missing ones."""
        known = self._digests.setdefault(name, {})
        missing = {a for a in algorithms if a not in known}
        if missing:
            known.update(hash_chunks(self.chunks(name), missing))
        return {a: known[a] for a in algorithms if a in known}

    def resolve(self, uri: str) -> DetachedData | None:
        """A XAdES reference's URI among the container's files: a path from the container's root
        (EN 319 162-1 Annex A.5), percent-decoded; a URI naming a scheme, a query, a fragment or an
        absolute path resolves to nothing."""
        name = _entry_name(uri)
        if name is None or name not in self.entries:
            return None
        return DetachedData(name, self.entries[name].file_size, lambda: self.chunks(name))


def _entry_name(uri: str) -> str | None:
    if not uri or any(c in uri for c in "?#\\") or uri.startswith("/") or ":" in uri.split("/", 1)[0]:
        return None
    parts = [p for p in unquote(uri).split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        return None
    return "/".join(parts)


def _open(path: Path, progress: Progress | None) -> _Archive:
    archive, infos, parts = open_archive(path, max_total=MAX_TOTAL, max_ratio=MAX_RATIO, max_entries=MAX_ENTRIES)
    entries: dict[str, zipfile.ZipInfo] = {}
    first: str | None = None
    for info, names in zip(infos, parts):
        if info.is_dir():
            continue
        name = "/".join(names)
        entries[name] = info
        if first is None:
            first = name
    total = sum(i.file_size for i in entries.values())
    inflation = Inflation(max_total=MAX_TOTAL, max_ratio=MAX_RATIO, archive_size=path.stat().st_size)
    return _Archive(archive, entries, first, inflation, progress, total)


# -- layout and mimetype --------------------------------------------------------------------------


@dataclass
class _Layout:
    data: list[str]
    cades: list[str]
    xades: list[str]
    timestamps: list[str]
    manifests: list[str]
    type: str
    mimetype: Check
    problem: str | None = None  # a FORMAT_FAILURE of every signature (A.1, 4.3)
    signatures_count: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self.signatures_count = len(self.cades) + len(self.xades) + len(self.timestamps)


def _layout(env: Environment, box: _Archive) -> _Layout:
    data, cades, xades, timestamps, manifests = [], [], [], [], []
    for name in box.entries:
        if name == "mimetype":
            continue
        if not name.startswith("META-INF/"):
            data.append(name)
            continue
        leaf = name[len("META-INF/"):]
        if "/" in leaf:
            continue
        if leaf.startswith("ASiCManifest") and leaf.endswith(".xml"):
            manifests.append(name)
        elif "signatures" in leaf and leaf.endswith(".xml"):
            xades.append(name)
        elif "signature" in leaf and leaf.endswith(".p7s"):
            cades.append(name)
        elif "timestamp" in leaf and leaf.endswith(".tst"):
            timestamps.append(name)
    from_layout = "ASiC-S" if (len(data) == 1 and not manifests
                               and all(n in _S_NAMES for n in (*cades, *xades, *timestamps))) else "ASiC-E"
    declared, mimetype, problem = _mimetype(env, box)
    kind = declared or from_layout
    if declared == "ASiC-S" and from_layout == "ASiC-E":
        problem = problem or env.t(
            "Le conteneur se déclare ASiC-S mais ne contient pas exactement un fichier de données signé par "
            "META-INF/signature.p7s, signatures.xml ou timestamp.tst (EN 319 162-1 §4.3).",
            "The container declares itself ASiC-S but does not hold exactly one data file signed by "
            "META-INF/signature.p7s, signatures.xml or timestamp.tst (EN 319 162-1 §4.3).")
    if not (cades or xades or timestamps) and declared is None:  # an office document, a plain archive
        kind = "ZIP"
    return _Layout(sorted(data), sorted(cades), sorted(xades), sorted(timestamps), sorted(manifests), kind,
                   mimetype, problem)


def _mimetype(env: Environment, box: _Archive) -> tuple[str | None, Check, str | None]:
    """(declared type, the container's ``mimetype`` check, the problem that fails every signature)."""
    info = box.entries.get("mimetype")
    if info is None:
        return None, warning("mimetype", env.t(
            "Pas de fichier « mimetype » (facultatif, EN 319 162-1 annexe A.1) : type de conteneur déduit de "
            "son contenu.",
            "No \"mimetype\" file (optional, EN 319 162-1 Annex A.1): container type read from its content.")), None
    raw = box.read("mimetype", MAX_MIMETYPE)
    value = raw.decode("ascii", "replace").strip() if raw is not None else ""
    if box.first != "mimetype":
        problem = env.t("le fichier « mimetype » n'est pas le premier de l'archive",
                        "the \"mimetype\" file is not the first in the archive")
    elif info.compress_type != zipfile.ZIP_STORED:
        problem = env.t("le fichier « mimetype » est compressé", "the \"mimetype\" file is compressed")
    elif value not in MIMETYPES:
        problem = env.t("le fichier « mimetype » contient « {v} », pas un type ASiC",
                        "the \"mimetype\" file holds \"{v}\", not an ASiC type", v=value[:80])
    else:
        return MIMETYPES[value], passed("mimetype", env.t(
            "Fichier « mimetype » conforme : {v} (EN 319 162-1 annexe A.1).",
            "\"mimetype\" file as required: {v} (EN 319 162-1 Annex A.1).", v=value)), None
    message = env.t("Conteneur non conforme à EN 319 162-1 annexe A.1 : {p}.",
                    "Container not as EN 319 162-1 Annex A.1 requires: {p}.", p=problem)
    return None, total_failed("mimetype", message, SubIndication.FORMAT_FAILURE), message


# -- ASiCManifest (Annex A.4) ---------------------------------------------------------------------


@dataclass
class _Manifest:
    name: str
    signature: str | None
    references: list[tuple[str, str | None, bytes]]  # (entry name, hashlib name, digest)


def _manifest(env: Environment, box: _Archive, name: str) -> _Manifest:
    data = box.read(name, MAX_METADATA)
    if data is None:
        raise _Refused(SubIndication.FORMAT_FAILURE, env.t("Manifeste {n} trop volumineux.",
                                                           "Manifest {n} too large.", n=name))
    try:
        root = parse_untrusted(io.BytesIO(data)).getroot()
    except XmlRefused as refused:
        raise _Refused(SubIndication.FORMAT_FAILURE, env.t("Manifeste {n} illisible : {e}",
                                                           "Unreadable manifest {n}: {e}", n=name, e=refused)) from None
    if root.tag != f"{{{ASIC_NS}}}ASiCManifest":
        raise _Refused(SubIndication.FORMAT_FAILURE, env.t(
            "{n} n'est pas un ASiCManifest (EN 319 162-1 annexe A.4).",
            "{n} is not an ASiCManifest (EN 319 162-1 Annex A.4).", n=name))
    sig_refs = root.findall(f"{{{ASIC_NS}}}SigReference")
    signature = _entry_name(sig_refs[0].get("URI", "")) if len(sig_refs) == 1 else None
    references = []
    for ref in root.findall(f"{{{ASIC_NS}}}DataObjectReference"):
        method = ref.find(f"{{{DS}}}DigestMethod")
        try:
            digest = base64.b64decode("".join((ref.findtext(f"{{{DS}}}DigestValue") or "").split()), validate=True)
        except (binascii.Error, ValueError):
            digest = b""
        references.append((_entry_name(ref.get("URI", "")) or ref.get("URI", ""),
                           DIGESTS.get(method.get("Algorithm", "") if method is not None else ""), digest))
    return _Manifest(name, signature, references)


def _manifest_check(env: Environment, box: _Archive, manifest: _Manifest) -> tuple[Check, list[str]]:
    """The ``manifest`` check (each DataObjectReference digest against the container's file) and the
    files the manifest names that the container holds."""
    if not manifest.references:
        return total_failed("manifest", env.t("Le manifeste {m} ne désigne aucun fichier.",
                                              "Manifest {m} names no file.", m=manifest.name),
                            SubIndication.FORMAT_FAILURE), []
    changed, absent, unknown, covered = [], [], [], []
    for name, algorithm, expected in manifest.references:
        if name not in box.entries or name == "mimetype" or name.startswith("META-INF/"):
            absent.append(name)
            continue
        covered.append(name)
        if algorithm is None:
            unknown.append(name)
        elif box.digests(name, {algorithm}).get(algorithm) != expected:
            changed.append(name)
    if changed:
        return total_failed("manifest", env.t(
            "Fichiers modifiés après la signature (empreinte différente de celle du manifeste {m}) : {f}.",
            "Files changed after signing (digest differs from manifest {m}): {f}.", m=manifest.name,
            f=", ".join(changed)), SubIndication.HASH_FAILURE), covered
    if absent:
        return indeterminate("manifest", env.t(
            "Fichiers signés absents du conteneur : {f}.", "Signed files missing from the container: {f}.",
            f=", ".join(absent)), SubIndication.SIGNED_DATA_NOT_FOUND), covered
    if unknown:
        return total_failed("manifest", env.t("Méthode d'empreinte inconnue dans le manifeste {m} pour : {f}.",
                                              "Unknown digest method in manifest {m} for: {f}.",
                                              m=manifest.name, f=", ".join(unknown)),
                            SubIndication.FORMAT_FAILURE), covered
    return passed("manifest", env.t("Le manifeste {m} couvre : {f} ; empreintes conformes.",
                                    "Manifest {m} covers: {f}; digests match.", m=manifest.name,
                                    f=", ".join(covered))), covered


# -- signatures -----------------------------------------------------------------------------------


def _insert_after(report: SignatureReport, name: str, check: Check) -> None:
    at = next((i + 1 for i, c in enumerate(report.checks) if c.name == name), len(report.checks))
    report.checks.insert(at, check)


def _renumber(report: SignatureReport, new_id: str) -> None:
    old = report.id
    report.id = new_id
    for counter in report.countersignatures:
        _renumber(counter, new_id + counter.id[len(old):] if counter.id.startswith(old) else counter.id)


async def _cades(env: Environment, box: _Archive, name: str, layout: _Layout, manifests: dict[str, _Manifest],
                 progress: Progress | None) -> list[SignatureReport]:
    manifest = next((m for m in manifests.values() if m.signature == name), None)
    if layout.type == "ASiC-S" and manifest is None:
        target = layout.data[0] if len(layout.data) == 1 else None
        missing = env.t("Le conteneur ASiC-S doit contenir un seul fichier de données.",
                        "An ASiC-S container must hold exactly one data file.")
    else:
        target = manifest.name if manifest is not None else None
        missing = env.t("Aucun ASiCManifest du conteneur ne désigne la signature {n} (EN 319 162-1 §4.4).",
                        "No ASiCManifest of the container names signature {n} (EN 319 162-1 §4.4).", n=name)
    with tempfile.TemporaryDirectory(prefix="compagnon-asic-") as folder:  # the CMS reader takes a file
        token = Path(folder) / "signature.p7s"
        with token.open("wb") as copy:
            for block in box.chunks(name):
                copy.write(block)
        reports = (await verify_cms(
            env, token, None, progress, content_missing=missing,
            detached=lambda algorithms: box.digests(target, algorithms) if target is not None else None)).signatures
    if target is not None and manifest is None:
        for report in reports:
            report.covers = [target]
            _insert_after(report, "format", passed("coverage", env.t(
                "La signature couvre le fichier « {f} » du conteneur.",
                "The signature covers the container's file \"{f}\".", f=target)))
    elif manifest is not None:
        check, covered = _manifest_check(env, box, manifest)
        for report in reports:
            report.covers = list(covered)
            _insert_after(report, "integrity", check)
    return reports


async def _timestamp(env: Environment, box: _Archive, name: str, layout: _Layout,
                     manifests: dict[str, _Manifest]) -> SignatureReport:
    report = SignatureReport(id="S1", format="ASiC-TimeStamp")
    data = box.read(name, MAX_METADATA)
    manifest = next((m for m in manifests.values() if m.signature == name), None)
    target = manifest.name if manifest is not None else (
        layout.data[0] if layout.type == "ASiC-S" and len(layout.data) == 1 else None)
    if data is None:
        report.add(total_failed("format", env.t("Jeton {n} trop volumineux.", "Token {n} too large.", n=name),
                                SubIndication.FORMAT_FAILURE))
        return report
    report.add(passed("format", env.t("Jeton d'horodatage RFC 3161 {n}.", "RFC 3161 time-stamp token {n}.", n=name)))
    if target is None:
        report.add(indeterminate("integrity", env.t(
            "Aucun fichier du conteneur n'est désigné comme horodaté par {n}.",
            "No container file is designated as time-stamped by {n}.", n=name), SubIndication.SIGNED_DATA_NOT_FOUND))
        return report
    try:
        token = cms.ContentInfo.load(data)
        outcome = await verify_timestamp(env, token, lambda algorithm: box.digests(target, {algorithm}).get(algorithm))
    except PARSE_ERRORS as exc:
        report.add(total_failed("format", env.t("Jeton d'horodatage illisible : {e}",
                                                "Unreadable time-stamp token: {e}", e=exc),
                                SubIndication.FORMAT_FAILURE))
        return report
    report.signer = signer_identity(outcome.tsa)
    report.signing_time = outcome.time
    report.signing_time_source = "timestamp" if outcome.time else None
    report.add(*outcome.checks)
    report.add(not_applicable("baseline_level", env.t("Horodatage de conteneur (pas de niveau propre).",
                                                      "Container time-stamp (no level of its own).")))
    if manifest is not None:
        check, covered = _manifest_check(env, box, manifest)
        report.covers = covered
        _insert_after(report, "integrity", check)
    else:
        report.covers = [target]
    return report


async def _xades(env: Environment, box: _Archive, name: str, progress: Progress | None) -> list[SignatureReport]:
    data = box.read(name, MAX_METADATA)
    if data is None:
        return [format_failure(env, "S1", "XAdES", env.t("Signatures {n} trop volumineuses.",
                                                         "Signatures {n} too large.", n=name))]
    signatures = await verify_xml_stream(env, io.BytesIO(data), progress, resolver=box.resolve)
    if not signatures:  # a signature file by its name in the container (EN 319 162-1 §4.3): it must hold one
        return [format_failure(env, "S1", "XAdES", env.t("Aucune signature XML (ds:Signature) dans {n}.",
                                                         "No XML signature (ds:Signature) in {n}.", n=name))]
    return signatures


async def _signatures(env: Environment, box: _Archive, layout: _Layout, progress: Progress | None
                      ) -> list[tuple[str, list[SignatureReport]]]:
    manifests: dict[str, _Manifest] = {}
    broken: list[tuple[str, list[SignatureReport]]] = []
    for name in layout.manifests:
        try:
            manifests[name] = _manifest(env, box, name)
        except _Refused as refused:
            broken.append((name, [format_failure(env, "S1", "ASiC", refused.message)]))
    found: list[tuple[str, list[SignatureReport]]] = []
    for name in layout.cades:
        found.append((name, await _cades(env, box, name, layout, manifests, progress)))
    for name in layout.xades:
        found.append((name, await _xades(env, box, name, progress)))
    for name in layout.timestamps:
        found.append((name, [await _timestamp(env, box, name, layout, manifests)]))
    return found + broken


# -- the container --------------------------------------------------------------------------------


async def verify_asic(env: Environment, path: Path, progress: Progress | None
                      ) -> tuple[list[SignatureReport], Container | None]:
    """Every signature and time-stamp of the ASiC container ``path``, and the container's own report
    (None when the ZIP itself is refused)."""
    try:
        box = _open(path, progress)
    except EnvelopeError as exc:
        return [_refused(env, exc)], None
    with box.archive:
        try:
            return await _verify(env, box, progress)
        except EnvelopeError as exc:  # the bytes actually inflated broke a limit the headers hid
            return [_refused(env, exc)], None


def _refused(env: Environment, exc: EnvelopeError) -> SignatureReport:
    return format_failure(env, "S1", "ASiC", env.t("Conteneur ZIP refusé. {m}", "ZIP container refused. {m}",
                                                   m=exc.message(env.locale)))


async def _verify(env: Environment, box: _Archive, progress: Progress | None
                  ) -> tuple[list[SignatureReport], Container]:
    layout = _layout(env, box)
    container = Container(type=layout.type, files=list(layout.data), checks=[layout.mimetype])
    if layout.type == "ZIP":
        container.checks = []
    if not layout.signatures_count:
        container.uncovered = list(layout.data)
        container.checks.append(total_failed("signatures", env.t(
            "Aucune signature trouvée : pas de META-INF/*signature*.p7s, *signatures*.xml ni *timestamp*.tst, "
            "ce n'est pas un conteneur ASiC signé (EN 319 162-1).",
            "No signature found: no META-INF/*signature*.p7s, *signatures*.xml nor *timestamp*.tst, this is not "
            "a signed ASiC container (EN 319 162-1)."), SubIndication.SIGNED_DATA_NOT_FOUND))
        return [], container
    reports: list[SignatureReport] = []
    for name, found in await _signatures(env, box, layout, progress):
        for report in found:
            if layout.problem is not None:
                report.checks.insert(0, total_failed("container", layout.problem, SubIndication.FORMAT_FAILURE))
            else:
                report.checks.insert(0, passed("container", env.t(
                    "{t} : signature lue dans {n}.", "{t}: signature read from {n}.", t=layout.type, n=name)))
            if re.fullmatch(r"S\d+", report.id):  # numbered per file: numbered again across the container
                _renumber(report, f"S{len(reports) + 1}")
            reports.append(report)
    covered = {name for report in reports for name in report.covers}
    container.uncovered = [name for name in layout.data if name not in covered]
    if container.uncovered:
        container.checks.append(warning("uncovered_files", env.t(
            "Fichiers couverts par aucune signature (ajoutés ou laissés hors signature) : {f}.",
            "Files covered by no signature (added, or left out of the signatures): {f}.",
            f=", ".join(container.uncovered))))
    else:
        container.checks.append(passed("uncovered_files", env.t(
            "Chaque fichier du conteneur est couvert par au moins une signature.",
            "Every file of the container is covered by at least one signature.")))
    return reports, container
