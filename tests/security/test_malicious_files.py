"""Malicious files (issue "Hardening"): docs/SECURITY.md promises 8 and 9 against hostile input.

Every hostile input is generated here (``tests.support.malicious``) and fed to the agent's real
code. Inputs that could cost time or memory go to the ``compagnon`` command (verify, sign, decrypt
jobs) or to its engines called from ``python -c``, in a child process limited to 1.5 GiB of
address space and 60 seconds whose peak resident size is measured (``tests.support.bounded``).
Each must end with a stable refusal (a report's TOTAL_FAILED / FORMAT_FAILURE, or FILE_UNREADABLE,
DECRYPTION_FAILED, ARCHIVE_UNSAFE) without expanding an entity, reading a local file, calling a
URL, writing anything outside the output folder, or leaving a file that looks finished.
Signature wrapping and changes appended to a signed PDF are about the verdict, not resources:
they are verified in this process (and one through the verify job).

Keys and certificates come from the test PKI (certomancer); envelopes are sealed by
``openssl cms -encrypt``; signatures are made by the agent's own signers. Sanity checks make sure
each attack is live: an unsafe parser does leak the secret, a valid file does pass.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import hashlib
import http.server
import io
import json
import secrets
import subprocess
import threading
import xml.sax
import xml.sax.handler
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from asn1crypto import cms
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from lxml import etree

from agent.consent import Secret
from agent.keystores.pkcs12_store import Pkcs12FileStore
from agent.signing import xades
from agent.signing.base import SigningKey
from agent.signing.cades import sign_cades
from agent.signing.pades import sign_pdf
from agent.signing.xades_build import DataObject, SignedAttributes, new_signature, seal
from agent.signing.xades_xml import DS, EXC_C14N, XADES, c14n
from agent.validation import Indication, SignatureReport, SubIndication, VerificationReport, verify_file
from tests.support import malicious, xml_samples
from tests.support.bounded import TIME_LIMIT, Bounded, compagnon, python_code
from tests.support.pdf import make_pdf
from tests.support.pki import TestPki

PASSWORD = "mot de passe des tests"
PASSED, FAILED = Indication.TOTAL_PASSED, Indication.TOTAL_FAILED
NS = {"ds": DS, "xades": XADES}
#: Peak resident size a refusal may cost. A normal verify or decrypt stays near 100-150 MiB; the
#: XML flood, parsed, goes past 1.5 GiB (cut by the address-space limit).
RSS_BOUND_MIB = 512
#: What /etc/passwd starts with: never to be seen in an output.
PASSWD = "root:x:0:0"
#: The codes a hostile envelope may end with (bridge_protocol.errors), never INTERNAL_ERROR.
ENVELOPE_CODES = {"FILE_UNREADABLE", "DECRYPTION_FAILED", "NO_MATCHING_RECIPIENT", "UNSUPPORTED_ALGORITHM"}


# --- fixtures --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def root(test_pki: TestPki) -> x509.Certificate:
    return x509.load_pem_x509_certificate(test_pki.root_pem.read_bytes())


@pytest.fixture(scope="module")
def signing_p12(test_pki: TestPki) -> Path:
    return test_pki.p12("qualified", PASSWORD)


@pytest.fixture(scope="module")
def encryption_p12(test_pki: TestPki) -> Path:
    return test_pki.p12("encryption", PASSWORD)


@pytest.fixture(scope="module")
def signing_key(signing_p12: Path, test_pki: TestPki) -> Iterator[SigningKey]:
    """The qualified key of the test PKI (PKCS#12), its intermediate CA in the chain."""
    store = Pkcs12FileStore(signing_p12)
    (stored,) = store.unlock(Secret(PASSWORD))
    intermediate = x509.load_pem_x509_certificate(test_pki.intermediate_pem.read_bytes())
    with store.open(Secret(PASSWORD)) as session:
        yield SigningKey.from_session(session, stored, (intermediate,))


@dataclass
class Secrets:
    """A local file whose content must never appear anywhere, and an HTTP server no one may call."""

    file: Path
    token: str
    url: str
    hits: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def canary(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secrets]:
    folder = tmp_path_factory.mktemp("canary")
    token = f"SECRET-COMPAGNON-{secrets.token_hex(8)}"
    secret = folder / "secret.txt"
    secret.write_text(token)
    found = Secrets(secret, token, "")

    class Recorder(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            found.hits.append(self.path)
            body = malicious.evil_dtd(found.url, secret) if self.path.endswith("evil.dtd") else b""
            self.send_response(200)
            self.send_header("Content-Type", "application/xml-dtd")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    found.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield found
    server.shutdown()
    server.server_close()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


# --- helpers ---------------------------------------------------------------------------------------


def assert_bounded(result: Bounded, rss_bound: float = RSS_BOUND_MIB) -> None:
    """Ended by itself, without MemoryError or traceback, below ``rss_bound`` MiB."""
    assert not result.timed_out, result.describe()
    assert "Traceback" not in result.stderr and "MemoryError" not in result.stderr, result.describe()
    assert result.max_rss_mib < rss_bound, result.describe()


def assert_no_logged_traceback(home: Path) -> None:
    """The agent's log (under the child's HOME) holds no traceback: nothing ended in a catch-all."""
    for log in home.rglob("*.log"):
        assert "Traceback" not in log.read_text(errors="replace"), log.read_text(errors="replace")[-3000:]


def assert_secret_absent(canary: Secrets, *places: str | Path) -> None:
    """The secret's content is in none of these texts, nor in any file under these folders."""
    for place in places:
        if isinstance(place, Path):
            files = [place] if place.is_file() else [p for p in place.rglob("*") if p.is_file()]
            for path in files:
                assert canary.token.encode() not in path.read_bytes(), f"secret leaked into {path}"
        else:
            assert canary.token not in place, "secret leaked into the output"


def tree(folder: Path, skip: Path | None = None) -> dict[str, tuple[int, int, int]]:
    """Every entry under ``folder`` (except ``skip``'s subtree): relative path -> (mode, size, mtime)."""
    found = {}
    for path in folder.rglob("*"):
        if skip is not None and (path == skip or skip in path.parents):
            continue
        info = path.lstat()
        found[str(path.relative_to(folder))] = (info.st_mode, info.st_size, info.st_mtime_ns)
    return found


def unfinished(folder: Path) -> list[Path]:
    """Temporary outputs (``.name.xxxx.part``) left anywhere under ``folder``."""
    return [p for p in folder.rglob("*") if p.name.endswith(".part")] if folder.exists() else []


def verify_cli(home: Path, path: Path, root_pem: Path, timeout: float = TIME_LIMIT) -> tuple[Bounded, dict]:
    """``compagnon verify --json --lang en`` bounded; the JSON report."""
    result = compagnon(home, "verify", str(path), "--trust", str(root_pem), "--json", "--lang", "en", timeout=timeout)
    assert_bounded(result)
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"no JSON report:\n{result.describe()}")
    return result, report


def only_check(report: dict, name: str = "format") -> dict:
    (signature,) = report["signatures"]
    return next(c for c in signature["checks"] if c["name"] == name)


#: Child: verify each file with the agent's verify_file; one JSON line per file.
VERIFY_CHILD = r'''
import json, sys, time
from pathlib import Path
from cryptography import x509
from agent.validation import verify_file
root = x509.load_pem_x509_certificate(Path(sys.argv[1]).read_bytes())
for name in sys.argv[2:]:
    started = time.monotonic()
    report = verify_file(Path(name), trust_roots=[root], locale="en")
    print(json.dumps({"file": Path(name).name, "seconds": time.monotonic() - started,
                      "exit_code": report.exit_code, "report": report.to_json()}), flush=True)
'''


def verify_batch(home: Path, root_pem: Path, files: list[Path]) -> dict[str, dict]:
    """The reports of ``files``, verified one after the other in one bounded child."""
    result = python_code(home, VERIFY_CHILD, str(root_pem), *map(str, files))
    assert_bounded(result)
    assert result.returncode == 0, result.describe()
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [line["file"] for line in lines] == [f.name for f in files], result.describe()
    return {line["file"]: line for line in lines}


def verdicts(report: dict) -> set[tuple[str, str | None]]:
    def walk(entries: list[dict]) -> Iterator[tuple[str, str | None]]:
        for entry in entries:
            yield entry["indication"], entry["sub_indication"]
            yield from walk(entry.get("countersignatures", []))

    return set(walk(report["signatures"]))


def openssl_seal(source: Path, target: Path, recipient: Path, *options: str) -> Path:
    """``openssl cms -encrypt`` to ``recipient`` (AES-256-GCM unless ``options`` say otherwise)."""
    subprocess.run(["openssl", "cms", "-encrypt", "-binary", "-outform", "DER", *(options or ("-aes-256-gcm",)),
                    "-in", str(source), "-out", str(target), "-recip", str(recipient)],
                   check=True, capture_output=True, timeout=60)
    return target


def dump(report: VerificationReport | SignatureReport) -> str:
    return json.dumps(report.to_json(), indent=1, ensure_ascii=False)


# --- XML: DTDs, entities, floods --------------------------------------------------------------------

#: Attacks through a DOCTYPE (XML 1.0 section 2.8): refused before the internal subset is read.
DOCTYPE_ATTACKS = ["xxe-file", "xxe-passwd", "xxe-utf16", "parameter-entity-file", "external-dtd",
                   "parameter-entity-url", "billion-laughs", "quadratic-blowup"]
XML_ATTACKS = [*DOCTYPE_ATTACKS, "flood", "deep"]


def test_the_xml_attacks_are_live(canary: Secrets) -> None:
    """Sanity: unsafe parsers do leak the secret (lxml with entities resolved) and do call the
    recorder (expat with external entities: this libxml2 has no HTTP client, Python's urllib has).
    The agent's refusals below are not vacuous."""
    documents = malicious.hostile_xml(canary.file, canary.url)
    unsafe = etree.XMLParser(resolve_entities=True, load_dtd=True, no_network=False)
    for name in ("xxe-file", "xxe-utf16"):
        assert canary.token in "".join(etree.fromstring(documents[name], unsafe).itertext()), name
    assert PASSWD in "".join(etree.fromstring(documents["xxe-passwd"], unsafe).itertext())
    try:
        for name, path in (("external-dtd", "/pes.dtd"), ("parameter-entity-url", "/evil.dtd")):
            parser = xml.sax.make_parser()
            parser.setFeature(xml.sax.handler.feature_external_ges, True)
            with contextlib.suppress(xml.sax.SAXException):
                parser.parse(io.BytesIO(documents[name]))
            assert path in canary.hits, (name, canary.hits)
    finally:
        canary.hits.clear()


@pytest.mark.parametrize("name", XML_ATTACKS)
def test_hostile_xml_refused_by_the_verify_job(name: str, tmp_path: Path, home: Path, canary: Secrets,
                                               test_pki: TestPki) -> None:
    path = tmp_path / f"{name}.xml"
    path.write_bytes(malicious.hostile_xml(canary.file, canary.url)[name])
    result, report = verify_cli(home, path, test_pki.root_pem)
    assert result.returncode == 1, result.describe()  # TOTAL_FAILED
    (signature,) = report["signatures"]
    assert (signature["indication"], signature["sub_indication"]) == ("TOTAL_FAILED", "FORMAT_FAILURE"), report
    message = only_check(report)["message"]
    if name in DOCTYPE_ATTACKS:
        assert "DOCTYPE declarations" in message, message  # refused before the internal subset is read
    elif name == "flood":
        assert "too many elements" in message, message  # refused before any tree is built
    assert canary.hits == []
    assert_secret_absent(canary, result.stdout, result.stderr, home)
    assert PASSWD not in result.stdout + result.stderr
    assert_no_logged_traceback(home)


@pytest.mark.parametrize("name", XML_ATTACKS)
def test_hostile_xml_refused_by_the_xades_signer(name: str, tmp_path: Path, home: Path, canary: Secrets,
                                                 signing_p12: Path) -> None:
    """XAdES enveloped signing of a PES-like document (``--pes``: one signature per Bordereau)."""
    path = tmp_path / f"{name}.xml"
    path.write_bytes(malicious.hostile_xml(canary.file, canary.url)[name])
    out = tmp_path / "signes"
    result = compagnon(home, "sign", str(path), "--format", "xades", "--pes", "--p12", str(signing_p12),
                       "--role", "Ordonnateur", "--city", "Montpellier", "--postal-code", "34000", "--country", "France",
                       "--pin-stdin", "--out-dir", str(out), stdin=PASSWORD + "\n")
    assert_bounded(result)
    assert result.returncode == 1, result.describe()
    assert "FILE_UNREADABLE" in result.stderr, result.describe()
    if name in DOCTYPE_ATTACKS:
        assert "DOCTYPE" in result.stderr
    assert not out.exists() or list(out.iterdir()) == []  # no signed file, no temporary one
    assert canary.hits == []
    assert_secret_absent(canary, result.stdout, result.stderr, home)
    assert PASSWD not in result.stdout + result.stderr
    assert_no_logged_traceback(home)


def test_xinclude_is_signed_as_text_never_included(tmp_path: Path, home: Path, canary: Secrets, signing_p12: Path,
                                                   root: x509.Certificate) -> None:
    """XInclude is a processing step nobody runs here: the element is signed as it is."""
    path = tmp_path / "xinclude.xml"
    path.write_bytes(malicious.hostile_xml(canary.file, canary.url)["xinclude"])
    out = tmp_path / "signes"
    result = compagnon(home, "sign", str(path), "--format", "xades", "--pes", "--p12", str(signing_p12),
                       "--role", "Ordonnateur", "--city", "Montpellier", "--postal-code", "34000", "--country", "France",
                       "--pin-stdin", "--out-dir", str(out), stdin=PASSWORD + "\n")
    assert_bounded(result)
    assert result.returncode == 0, result.describe()
    (signed,) = out.iterdir()
    assert b"xi:include" in signed.read_bytes()
    assert_secret_absent(canary, result.stdout, result.stderr, signed, home)
    report = verify_file(signed, trust_roots=[root])
    assert {(s.indication, s.sub_indication) for s in report.signatures} == {(PASSED, None)}, dump(report)
    assert_secret_absent(canary, json.dumps(report.to_json(), ensure_ascii=False))
    assert canary.hits == []


# --- XML signature wrapping --------------------------------------------------------------------------


def _sign_pes(key: SigningKey) -> bytes:
    out = io.BytesIO()
    xades.sign_enveloped(io.BytesIO(xml_samples.pes_aller(("BORD-1",))), out, key, pes=True)
    return out.getvalue()


def _sign_plain(key: SigningKey) -> bytes:
    out = io.BytesIO()
    xades.sign_enveloped(io.BytesIO(xml_samples.plain_xml()), out, key)
    return out.getvalue()


def _sign_enveloping(key: SigningKey) -> bytes:
    """An enveloping XAdES signature (XMLDSig section 2.1) built by our engine: the signed data is
    the signature's own ``ds:Object Id="donnees"``."""
    signature = new_signature(None, [DataObject(uri="#donnees", digest=bytes(32), mime_type="text/xml",
                                                transforms=(EXC_C14N,))], key,
                              SignedAttributes(signing_time=datetime.now(UTC)))
    data = etree.SubElement(signature, f"{{{DS}}}Object", Id="donnees")
    etree.SubElement(data, "Offre").text = "Montant : 125000.00 EUR"
    value = signature.find("ds:SignedInfo/ds:Reference[@URI='#donnees']/ds:DigestValue", NS)
    value.text = base64.b64encode(hashlib.sha256(c14n(data)).digest()).decode()
    seal(signature, key, "B-B", None)
    return etree.tostring(signature, xml_declaration=True, encoding="UTF-8")


def _forge(bordereau: etree._Element) -> etree._Element:
    """A copy of a Bordereau with other amounts (what the attacker wants shown)."""
    forged = copy.deepcopy(bordereau)
    for element in forged.iter("{*}MtBordHT", "{*}MtHT"):
        element.set("V", "999999.00")
    for signature in forged.findall("ds:Signature", NS):
        forged.remove(signature)
    return forged


def _pes_parts(signed: bytes) -> tuple[etree._Element, etree._Element, etree._Element]:
    root = etree.fromstring(signed)
    bordereau = root.find(".//{*}Bordereau")
    return root, bordereau, bordereau.find("ds:Signature", NS)


def _serialize(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="ISO-8859-1")


def _wrap_same_id(signed: bytes, forged_first: bool) -> bytes:
    """The forged Bordereau (same Id) shown in place, holding the signature; the signed one moved
    into a wrapper element, before or after it in document order."""
    root, bordereau, signature = _pes_parts(signed)
    forged = _forge(bordereau)
    bordereau.remove(signature)
    forged.append(signature)
    bordereau.getparent().replace(bordereau, forged)
    wrapper = etree.Element("Archives")
    wrapper.append(bordereau)
    if forged_first:
        root.append(wrapper)
    else:
        root.insert(0, wrapper)
    return _serialize(root)


def _wrap_without_id(signed: bytes) -> bytes:
    root, bordereau, signature = _pes_parts(signed)
    forged = _forge(bordereau)
    del forged.attrib["Id"]
    bordereau.remove(signature)
    forged.append(signature)
    bordereau.getparent().replace(bordereau, forged)
    etree.SubElement(root, "Archives").append(bordereau)
    return _serialize(root)


def _wrap_in_object(signed: bytes) -> bytes:
    """The signed Bordereau hidden in a ds:Object of its own signature, a forged one shown."""
    root, bordereau, signature = _pes_parts(signed)
    forged = _forge(bordereau)
    del forged.attrib["Id"]
    bordereau.remove(signature)
    forged.append(signature)
    bordereau.getparent().replace(bordereau, forged)
    etree.SubElement(signature, f"{{{DS}}}Object").append(bordereau)
    return _serialize(root)


def _duplicate_id(signed: bytes, attribute: str) -> bytes:
    """A forged Bordereau carrying the signed Id in another id attribute (ID, id, xml:id)."""
    root, bordereau, _ = _pes_parts(signed)
    forged = _forge(bordereau)
    del forged.attrib["Id"]
    forged.set(attribute, "BORD-1")
    bordereau.addprevious(forged)
    return _serialize(root)


def _duplicate_signed_properties(signed: bytes) -> bytes:
    """A second SignedProperties with the same Id and a forged SigningTime, placed first."""
    root, _, signature = _pes_parts(signed)
    # Any XAdES version: PES signatures carry 1.1.1 properties.
    properties = signature.find("ds:Object/{*}QualifyingProperties/{*}SignedProperties", NS)
    forged = copy.deepcopy(properties)
    forged.find(".//{*}SigningTime").text = "2001-01-01T00:00:00Z"
    properties.addprevious(forged)
    return _serialize(root)


def _new_root(signed: bytes) -> bytes:
    """The whole signed document (URI="") moved under a new root, beside a forged offer."""
    document = etree.fromstring(signed)
    wrapper = etree.Element("Depot")
    wrapper.append(document)
    forged = etree.SubElement(wrapper, "{urn:example:marches:offre}Offre")
    forged.text = "Montant : 999999.00"
    return etree.tostring(wrapper, xml_declaration=True, encoding="UTF-8")


def _embedded_enveloping(signed: bytes) -> bytes:
    """An enveloping signature put inside a foreign document that shows other data."""
    document = etree.fromstring(b"<Offre><Montant>999999.00</Montant></Offre>")
    document.append(etree.fromstring(signed))
    return etree.tostring(document, xml_declaration=True, encoding="UTF-8")


def _enveloping_duplicate_object(signed: bytes) -> bytes:
    """A forged ds:Object with the signed Object's Id, first in the signature."""
    signature = etree.fromstring(signed)
    data = signature.find("ds:Object[@Id='donnees']", NS)
    forged = copy.deepcopy(data)
    forged[0].text = "Montant : 999999.00 EUR"
    data.addprevious(forged)
    return etree.tostring(signature, xml_declaration=True, encoding="UTF-8")


#: name -> (which signed document, how it is altered, the expected sub-indication).
WRAPPINGS = {
    "same-id-forged-first": ("pes", lambda d: _wrap_same_id(d, True), SubIndication.FORMAT_FAILURE),
    "same-id-signed-first": ("pes", lambda d: _wrap_same_id(d, False), SubIndication.FORMAT_FAILURE),
    "moved-into-wrapper": ("pes", _wrap_without_id, SubIndication.FORMAT_FAILURE),
    "moved-into-object": ("pes", _wrap_in_object, SubIndication.FORMAT_FAILURE),
    "duplicate-ID": ("pes", lambda d: _duplicate_id(d, "ID"), SubIndication.FORMAT_FAILURE),
    "duplicate-id": ("pes", lambda d: _duplicate_id(d, "id"), SubIndication.FORMAT_FAILURE),
    "duplicate-xml-id": ("pes", lambda d: _duplicate_id(d, "{http://www.w3.org/XML/1998/namespace}id"),
                         SubIndication.FORMAT_FAILURE),
    "duplicate-signed-properties": ("pes", _duplicate_signed_properties, SubIndication.FORMAT_FAILURE),
    "new-root-with-forged-sibling": ("plain", _new_root, SubIndication.HASH_FAILURE),
    "second-document-root": ("plain", lambda d: d + b"<Offre>Montant : 999999.00</Offre>\n",
                             SubIndication.FORMAT_FAILURE),
    "processing-instruction-after-root": ("plain", lambda d: d + b"<?montant 999999.00?>\n",
                                          SubIndication.HASH_FAILURE),
    "enveloping-in-foreign-document": ("enveloping", _embedded_enveloping, SubIndication.FORMAT_FAILURE),
    "enveloping-duplicate-object": ("enveloping", _enveloping_duplicate_object, SubIndication.FORMAT_FAILURE),
}


@pytest.fixture(scope="module")
def signed_xml(signing_key: SigningKey) -> dict[str, bytes]:
    return {"pes": _sign_pes(signing_key), "plain": _sign_plain(signing_key),
            "enveloping": _sign_enveloping(signing_key)}


@pytest.mark.parametrize("kind", ["pes", "plain", "enveloping"])
def test_the_signatures_to_wrap_are_valid(kind: str, signed_xml: dict[str, bytes], tmp_path: Path,
                                          root: x509.Certificate) -> None:
    """Sanity: before any change, each signature made by our signer is TOTAL_PASSED."""
    path = tmp_path / f"{kind}.xml"
    path.write_bytes(signed_xml[kind])
    report = verify_file(path, trust_roots=[root])
    assert [(s.indication, s.sub_indication) for s in report.signatures] == [(PASSED, None)], dump(report)


@pytest.mark.parametrize("name", list(WRAPPINGS))
def test_xml_signature_wrapping_is_reported_invalid(name: str, signed_xml: dict[str, bytes], tmp_path: Path,
                                                    root: x509.Certificate) -> None:
    kind, alter, sub = WRAPPINGS[name]
    path = tmp_path / f"{name}.xml"
    path.write_bytes(alter(signed_xml[kind]))
    report = verify_file(path, trust_roots=[root])
    assert report.signatures, dump(report)
    for signature in report.signatures:
        assert (signature.indication, signature.sub_indication) == (FAILED, sub), dump(report)
        # Never the forged data or the forged signing time presented as signed.
        assert signature.signing_time is None or signature.signing_time.year != 2001, dump(report)
    assert "999999" not in json.dumps(report.to_json())
    assert report.exit_code == 1


# --- PDF: changes appended after a PAdES signature -------------------------------------------------


@pytest.fixture(scope="module")
def signed_pdf(signing_key: SigningKey, tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A two-page PDF signed PAdES B-B by our signer (objects 4/7 pages, 5/8 their contents)."""
    folder = tmp_path_factory.mktemp("pades")
    source = folder / "lettre.pdf"
    source.write_bytes(make_pdf(pages=2, title="Offre de prix"))
    signed = folder / "lettre-signee.pdf"
    with source.open("rb") as stream, signed.open("w+b") as out:
        sign_pdf(stream, out, signing_key)
    return signed.read_bytes()


def _changed_text(pdf: bytes) -> bytes:
    return malicious.incremental_update(pdf, {5: malicious.content_stream("Montant : 999 999,00 EUR")})


def _new_page(pdf: bytes) -> bytes:
    page = malicious.pdf_size(pdf)
    return malicious.incremental_update(pdf, {
        page: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 3 0 R >> >>"
              b" /Contents %d 0 R >>" % (page + 1),
        page + 1: malicious.content_stream("Avenant : le prix est porte a 999 999,00 EUR"),
        2: b"<< /Type /Pages /Kids [4 0 R 7 0 R %d 0 R] /Count 3 >>" % page,
    })


def _new_contents(pdf: bytes) -> bytes:
    """Page 2 gets a new content stream object (its dictionary updated), the old one left in place."""
    number = malicious.pdf_size(pdf)
    return malicious.incremental_update(pdf, {
        number: malicious.content_stream("Page 2 : conditions modifiees"),
        7: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 3 0 R >> >>"
           b" /Contents %d 0 R >>" % number,
    })


PDF_UPDATES = {"changed-text": _changed_text, "new-page": _new_page, "new-contents": _new_contents}


def test_the_signed_pdf_is_valid(signed_pdf: bytes, tmp_path: Path, root: x509.Certificate) -> None:
    path = tmp_path / "lettre-signee.pdf"
    path.write_bytes(signed_pdf)
    report = verify_file(path, trust_roots=[root])
    assert [(s.indication, s.sub_indication) for s in report.signatures] == [(PASSED, None)], dump(report)


@pytest.mark.parametrize("name", list(PDF_UPDATES))
def test_incremental_update_after_signing_is_reported_modified(name: str, signed_pdf: bytes, tmp_path: Path,
                                                               root: x509.Certificate) -> None:
    """The signed revision is intact (its digest matches), yet the document shown is not the one
    signed: modification analysis must say so (pdfsig does not)."""
    path = tmp_path / f"{name}.pdf"
    data = PDF_UPDATES[name](signed_pdf)
    assert data.startswith(signed_pdf)  # an update appended after the signed bytes, nothing else
    path.write_bytes(data)
    report = verify_file(path, trust_roots=[root])
    (signature,) = report.signatures
    assert (signature.indication, signature.sub_indication) == (FAILED, SubIndication.FORMAT_FAILURE), dump(report)
    checks = {c.name: str(c.status) for c in signature.checks}
    assert checks["modification"] == "failed" and checks["integrity"] == "passed", dump(report)


def test_incremental_update_through_the_verify_job(signed_pdf: bytes, tmp_path: Path, home: Path,
                                                   test_pki: TestPki) -> None:
    path = tmp_path / "avenant.pdf"
    path.write_bytes(_new_page(signed_pdf))
    result, report = verify_cli(home, path, test_pki.root_pem)
    assert result.returncode == 1, result.describe()
    (signature,) = report["signatures"]
    assert (signature["indication"], signature["sub_indication"]) == ("TOTAL_FAILED", "FORMAT_FAILURE")
    assert only_check(report, "modification")["status"] == "failed"


# --- huge files and files without an end -------------------------------------------------------------


def _sparse(path: Path, head: bytes, size: int) -> Path:
    """A sparse file of ``size`` octets starting with ``head`` (costs no disk)."""
    with path.open("wb") as stream:
        stream.write(head)
        stream.truncate(size)
    return path


#: name -> how to make it. Sparse files cost no disk; the PDF without an end is 8 MiB of junk.
HUGE_FILES = {
    "enorme.p7s": lambda path: _sparse(path, b"\x30\x84\xff\xff\xff\xf0" + malicious.OID_SIGNED_DATA, 4 << 30),
    "enorme.pdf": lambda path: _sparse(path, b"%PDF-1.7\n", 4 << 30),
    "enorme.xml": lambda path: _sparse(path, b"<PES_Aller>", 300 << 20),
    "sans-fin.pdf": lambda path: path.write_bytes(b"%PDF-1.7\n" + b"A" * (8 << 20) + b" trailer without end"),
}
#: Seconds a refusal of a huge file may take (pyHanko alone needs minutes for ``sans-fin.pdf``).
QUICK = 20.0


@pytest.mark.parametrize("name", list(HUGE_FILES))
def test_huge_and_endless_files_are_refused_unread(name: str, tmp_path: Path, home: Path, test_pki: TestPki) -> None:
    """A 4 GiB CMS file is refused before being loaded; a PDF whose end holds no trailer (no line
    break for megabytes, which pyHanko would walk back octet by octet) is refused at once."""
    path = tmp_path / name
    HUGE_FILES[name](path)
    result, report = verify_cli(home, path, test_pki.root_pem, timeout=QUICK)
    assert result.returncode == 1, result.describe()
    (signature,) = report["signatures"]
    assert (signature["indication"], signature["sub_indication"]) == ("TOTAL_FAILED", "FORMAT_FAILURE"), report
    assert_no_logged_traceback(home)


def test_signing_a_pdf_without_end_is_refused_at_once(tmp_path: Path, home: Path, signing_p12: Path) -> None:
    path = tmp_path / "sans-fin.pdf"
    HUGE_FILES["sans-fin.pdf"](path)
    out = tmp_path / "signes"
    result = compagnon(home, "sign", str(path), "--format", "pades", "--p12", str(signing_p12), "--pin-stdin",
                       "--out-dir", str(out), stdin=PASSWORD + "\n", timeout=QUICK)
    assert_bounded(result)
    assert result.returncode == 1 and "FILE_UNREADABLE" in result.stderr, result.describe()
    assert not out.exists() or list(out.iterdir()) == []


# --- CMS: truncated, garbled, absurd -------------------------------------------------------------------


@pytest.fixture(scope="module")
def cms_material(tmp_path_factory: pytest.TempPathFactory, test_pki: TestPki, signing_key: SigningKey
                 ) -> dict[str, bytes]:
    """A CAdES attached signature by our signer, and openssl envelopes (DER GCM, BER CBC stream)."""
    folder = tmp_path_factory.mktemp("cms")
    plaintext = folder / "offre.txt"
    plaintext.write_bytes("Offre technique et financière — lot n° 2\n".encode() * 2000)
    signed = io.BytesIO()
    with plaintext.open("rb") as source:
        sign_cades(source, signed, signing_key, attached=True)
    encryption = test_pki.cert_pem("encryption")
    der = openssl_seal(plaintext, folder / "gcm.p7m", encryption)
    subprocess.run(["openssl", "cms", "-encrypt", "-binary", "-outform", "DER", "-in", str(plaintext),
                    "-out", str(folder / "stream.p7m"), "-recip", str(test_pki.cert_pem("plain")), "-recip",
                    str(encryption), "-aes256", "-stream"], check=True, capture_output=True, timeout=60)
    return {"plaintext": plaintext.read_bytes(), "signature": signed.getvalue(), "envelope": der.read_bytes(),
            "stream": (folder / "stream.p7m").read_bytes()}


def _targeted_mutations(signature: bytes, key: SigningKey) -> dict[str, bytes]:
    """Targeted changes of a signature: its signer certificate's key algorithm OID and version,
    the signature value, one octet of the signed content."""
    leaf = key.certificate.public_bytes(serialization.Encoding.DER)
    at = signature.index(leaf)
    rsa_oid = bytes.fromhex("06092a864886f70d010101")
    oid_at = at + leaf.index(rsa_oid) + len(rsa_oid) - 1
    version_at = at + leaf.index(b"\xa0\x03\x02\x01\x02") + 4
    info = cms.ContentInfo.load(signature)["content"]["signer_infos"][0]
    value_at = signature.index(info["signature"].contents) + 40
    content_at = signature.index(b"Offre technique")

    def changed(position: int, value: int) -> bytes:
        data = bytearray(signature)
        data[position] = value
        return bytes(data)

    return {"key-algorithm-oid": changed(oid_at, 0x3E), "certificate-version": changed(version_at, 0x05),
            "signature-value": changed(value_at, signature[value_at] ^ 0xFF),
            "signed-content": changed(content_at, ord("0"))}


def _hostile_cms(material: dict[str, bytes]) -> dict[str, bytes]:
    """Truncations, absurd lengths, deep nesting and 2^40-octet strings, for signatures and envelopes."""
    hostile: dict[str, bytes] = {}
    for origin in ("signature", "envelope", "stream"):
        hostile |= {f"{origin}-{k}": v for k, v in malicious.truncations(material[origin]).items()}
    for origin in ("signature", "envelope"):
        hostile |= {f"{origin}-{k}": v for k, v in malicious.absurd_lengths(material[origin]).items()}
    hostile |= malicious.deep_indefinite(10_000, malicious.OID_ENVELOPED_DATA)
    hostile |= {f"signed-{k}": v for k, v in malicious.deep_indefinite(10_000, malicious.OID_SIGNED_DATA).items()}
    hostile["octet-string-2^40-signed"] = malicious.huge_octet_string(malicious.OID_SIGNED_DATA)
    hostile["octet-string-2^40-enveloped"] = malicious.huge_octet_string(malicious.OID_ENVELOPED_DATA)
    hostile["stream-segment-2^40"] = malicious.stream_segment_2_40(material["stream"])
    return hostile


def test_hostile_cms_refused_by_the_cades_verifier(cms_material: dict[str, bytes], signing_key: SigningKey,
                                                   tmp_path: Path, home: Path, test_pki: TestPki) -> None:
    valid = tmp_path / "valide.p7m"
    valid.write_bytes(cms_material["signature"])
    files = [valid]
    for name, data in _hostile_cms(cms_material).items():
        files.append(tmp_path / f"{name}.p7m")
        files[-1].write_bytes(data)
    mutated = []
    for name, data in _targeted_mutations(cms_material["signature"], signing_key).items():
        mutated.append(tmp_path / f"mutation-{name}.p7m")
        mutated[-1].write_bytes(data)
    results = verify_batch(home, test_pki.root_pem, files + mutated)
    assert verdicts(results["valide.p7m"]["report"]) == {("TOTAL_PASSED", None)}, results["valide.p7m"]
    for path in files[1:]:
        line = results[path.name]
        assert line["seconds"] < 10, line
        assert verdicts(line["report"]) == {("TOTAL_FAILED", "FORMAT_FAILURE")}, line
        assert line["exit_code"] == 1
    for path in mutated:  # readable structure, broken content: judged, never PASSED, never "GENERIC"
        line = results[path.name]
        found = verdicts(line["report"])
        assert ("TOTAL_PASSED", None) not in found and not any(sub == "GENERIC" for _, sub in found), line
    assert verdicts(results["mutation-signature-value.p7m"]["report"]) == {("TOTAL_FAILED", "SIG_CRYPTO_FAILURE")}
    assert verdicts(results["mutation-signed-content.p7m"]["report"]) == {("TOTAL_FAILED", "HASH_FAILURE")}


def test_hostile_cms_refused_by_the_decrypt_job(cms_material: dict[str, bytes], tmp_path: Path, home: Path,
                                                encryption_p12: Path) -> None:
    """``compagnon decrypt`` of every hostile file at once (and one valid envelope, so that the job
    succeeds and reports each file): a stable code each, one output only, nothing unfinished."""
    inbox = tmp_path / "plis"
    inbox.mkdir()
    (inbox / "valide.txt.p7m").write_bytes(cms_material["envelope"])
    hostile = _hostile_cms(cms_material)
    for name, data in hostile.items():
        (inbox / f"{name}.p7m").write_bytes(data)
    out = tmp_path / "ouverts"
    result = compagnon(home, "decrypt", *sorted(map(str, inbox.iterdir())), "--p12", str(encryption_p12),
                       "--pin-stdin", "--out-dir", str(out), stdin=PASSWORD + "\n")
    assert_bounded(result)
    assert result.returncode == 1, result.describe()  # some failed
    codes = {}
    for line in result.stderr.splitlines():
        parts = line.split(" : ")
        if len(parts) >= 4 and parts[0] == "compagnon":
            codes[parts[1]] = parts[2]
    assert set(codes) == {f"{name}.p7m" for name in hostile}, result.describe()
    assert set(codes.values()) <= ENVELOPE_CODES, codes
    assert {n for n, c in codes.items() if c != "FILE_UNREADABLE"} <= {
        n for n in codes if n.startswith(("envelope-truncated", "stream-truncated"))}, codes
    assert sorted(p.name for p in out.iterdir()) == ["valide.txt"]  # nothing else looks finished
    assert (out / "valide.txt").read_bytes() == cms_material["plaintext"]
    assert unfinished(out) == []
    assert_no_logged_traceback(home)


#: Child: decrypt each envelope with the agent's engine into an atomic output (as the job does).
DECRYPT_CHILD = r'''
import json, sys
from pathlib import Path
from agent.consent import Secret
from agent.envelopes import EnvelopeError, decrypt, session_unwrapper
from agent.fsutil import atomic_output
from agent.keystores.pkcs12_store import Pkcs12FileStore
store = Pkcs12FileStore(Path(sys.argv[1]))
out_dir = Path(sys.argv[2])
with store.open(Secret(sys.stdin.readline().rstrip("\n"))) as session:
    unwrap = session_unwrapper(session, store.keys())
    for name in sys.argv[3:]:
        target = out_dir / (Path(name).name + ".ouvert")
        try:
            with open(name, "rb") as source, atomic_output(target) as output:
                decrypt(source, output, unwrap)
            result = "OK"
        except EnvelopeError as exc:
            result = exc.code
        print(json.dumps({"file": Path(name).name, "result": result}), flush=True)
'''


def test_garbled_envelopes_and_signatures(cms_material: dict[str, bytes], tmp_path: Path, home: Path,
                                          encryption_p12: Path, test_pki: TestPki) -> None:
    """Random octets changed (seeded): the decryptor answers with its stable codes (an AES-GCM
    envelope opens only to the authentic plaintext), the verifier never crashes into "GENERIC"."""
    envelopes = tmp_path / "plis"
    envelopes.mkdir()
    for index, data in enumerate(malicious.garbled(cms_material["envelope"], seed=8, count=150)):
        (envelopes / f"g{index:03d}.p7m").write_bytes(data)
    out = tmp_path / "ouverts"
    out.mkdir()
    result = python_code(home, DECRYPT_CHILD, str(encryption_p12), str(out), *sorted(map(str, envelopes.iterdir())),
                         stdin=PASSWORD + "\n")
    assert_bounded(result)
    assert result.returncode == 0, result.describe()  # any other exception than EnvelopeError: a traceback
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 150
    assert {line["result"] for line in lines} <= {"OK", "FORMAT_FAILURE", "DECRYPTION_FAILED",
                                                  "NO_MATCHING_RECIPIENT", "UNSUPPORTED_ALGORITHM"}
    opened = {line["file"] + ".ouvert" for line in lines if line["result"] == "OK"}
    assert {p.name for p in out.iterdir()} == opened  # failures leave nothing, not even a .part
    for name in opened:
        assert (out / name).read_bytes() == cms_material["plaintext"]

    signatures = []
    for index, data in enumerate(malicious.garbled(cms_material["signature"], seed=9, count=120)):
        signatures.append(tmp_path / f"s{index:03d}.p7m")
        signatures[-1].write_bytes(data)
    for line in verify_batch(home, test_pki.root_pem, signatures).values():
        assert not any(sub == "GENERIC" for _, sub in verdicts(line["report"])), line
        assert line["seconds"] < 10, line


# --- archives inside envelopes ------------------------------------------------------------------------

FIRST = ("offre/lisez-moi.txt", b"Premier fichier, extrait avant l'entree piegee.\n")


#: ZIP attacks by name (``outside``: an absolute path out of every folder involved); each starts with
#: an honest entry, extracted before the refusal and then to be removed.
ARCHIVES: dict[str, Callable[[Path], bytes]] = {
    "parent": lambda outside: malicious.zip_bytes([FIRST, ("../../evil.txt", b"hors du dossier")]),
    "nested-parent": lambda outside: malicious.zip_bytes([FIRST, ("offre/../../../evil.txt", b"hors du dossier")]),
    "absolute": lambda outside: malicious.zip_bytes([FIRST, (str(outside), b"chemin absolu")]),
    "windows": lambda outside: malicious.zip_bytes([FIRST, ("..\\..\\evil.txt", b"separateur Windows")]),
    "drive": lambda outside: malicious.zip_bytes([FIRST, ("C:\\evil.txt", b"lecteur Windows")]),
    "symlink": lambda outside: malicious.zip_bytes([FIRST, malicious.symlink_entry("offre/lien", "../../../.."),
                                                    ("offre/lien/evil.txt", b"a travers le lien")]),
    # 64 MiB of zeros in 64 kB.
    "ratio-bomb": lambda outside: malicious.zip_ratio_bomb(64 * 1024 * 1024),
    # 100 entries of 1 MiB - 1 of zeros: each under the per-entry floor, the whole at 1000 to 1.
    "ratio-under-floor": lambda outside: malicious.zip_ratio_under_floor(100),
    # 10,001 entries, honestly announced.
    "many-entries": lambda outside: malicious.zip_many_entries(10_001),
    # Five small entries declaring 4 GiB each.
    "declared-huge": lambda outside: malicious.zip_declared_huge(5),
    # 600,000 central-directory records announced as 1 entry (zipfile reads them all by size).
    "central-directory-flood": lambda outside: malicious.zip_central_flood(600_000),
    # The same behind ZIP64 end records.
    "zip64-central-directory-flood": lambda outside: malicious.zip_central_flood(600_000, zip64=True),
}
#: Peak resident size for the archive cases: a 40 MB central directory loaded by zipfile costs
#: several hundred MiB; refused from its end records, it costs nothing.
ARCHIVE_RSS_BOUND_MIB = 256


@pytest.mark.parametrize("name", ["valid", *ARCHIVES])
def test_archive_attacks_inside_envelopes(name: str, tmp_path: Path, home: Path, test_pki: TestPki,
                                          encryption_p12: Path) -> None:
    case = tmp_path / "poste"
    out = case / "marches" / "2024-AO-017" / "ouverts"
    out.mkdir(parents=True)
    (case / "marches" / "deja-la.txt").write_text("un fichier de l'utilisateur")
    outside = tmp_path / f"absolu-{secrets.token_hex(4)}.txt"
    archive = malicious.zip_bytes([FIRST, ("offre/prix.csv", b"lot;prix\n1;125000\n")]) if name == "valid" \
        else ARCHIVES[name](outside)
    if name == "absolute":
        assert zipfile.ZipFile(io.BytesIO(archive)).namelist()[1] == str(outside)  # stored as is
    source = tmp_path / "offre.zip"
    source.write_bytes(archive)
    envelope = openssl_seal(source, tmp_path / "Pli 1 - offre.zip.p7m", test_pki.cert_pem("encryption"))
    source.unlink()
    before = tree(case, skip=out)
    result = compagnon(home, "decrypt", str(envelope), "--p12", str(encryption_p12), "--pin-stdin", "--out-dir",
                       str(out), "--extract", stdin=PASSWORD + "\n")
    assert_bounded(result, ARCHIVE_RSS_BOUND_MIB)
    extracted = out / "Pli 1 - offre"
    if name == "valid":
        assert result.returncode == 0, result.describe()
        assert (extracted / "offre" / "prix.csv").read_bytes() == b"lot;prix\n1;125000\n"
        return
    assert result.returncode == 1, result.describe()
    assert "ARCHIVE_UNSAFE" in result.stderr, result.describe()
    assert_no_logged_traceback(home)
    # Nothing outside the output folder, nothing half-extracted inside it.
    assert tree(case, skip=out) == before
    assert not outside.exists() and not list(tmp_path.rglob("evil.txt"))
    assert not extracted.exists(), sorted(map(str, extracted.rglob("*")))
    assert unfinished(out) == []
    # The decrypted archive itself is complete and authentic (AES-GCM): kept, reported as failed.
    assert sorted(p.name for p in out.iterdir()) == ["Pli 1 - offre.zip"]
    assert (out / "Pli 1 - offre.zip").read_bytes() == archive


@pytest.mark.parametrize("name", ARCHIVES)
def test_archive_attacks_given_to_the_verifier(name: str, tmp_path: Path, home: Path, test_pki: TestPki) -> None:
    """The same ZIPs named as ASiC containers: refused (FORMAT_FAILURE) by the guards of the sealed
    bids, before anything is inflated, within the memory bound, nothing written next to them."""
    path = tmp_path / "dossier" / "offre.asice"
    path.parent.mkdir()
    path.write_bytes(ARCHIVES[name](tmp_path / f"absolu-{secrets.token_hex(4)}.txt"))
    result, report = verify_cli(home, path, test_pki.root_pem)
    assert result.returncode == 1, result.describe()
    (signature,) = report["signatures"]
    assert (signature["indication"], signature["sub_indication"]) == ("TOTAL_FAILED", "FORMAT_FAILURE"), report
    assert only_check(report)["message"].startswith("ZIP container refused. Archive refused: "), report
    assert "container" not in report
    assert sorted(p.name for p in path.parent.iterdir()) == ["offre.asice"]
    assert not list(tmp_path.rglob("evil.txt"))
    assert_no_logged_traceback(home)


def test_normal_runs_fit_well_within_the_limits(cms_material: dict[str, bytes], tmp_path: Path, home: Path,
                                                encryption_p12: Path, test_pki: TestPki) -> None:
    """The limits are not what refuses hostile files: honest work needs a fraction of them."""
    envelope = tmp_path / "offre.txt.p7m"
    envelope.write_bytes(cms_material["envelope"])
    opened = compagnon(home, "decrypt", str(envelope), "--p12", str(encryption_p12), "--pin-stdin",
                       stdin=PASSWORD + "\n", memory=512 * 1024 * 1024)
    assert opened.returncode == 0, opened.describe()
    assert_bounded(opened, rss_bound=256)
    signature = tmp_path / "offre.txt.p7m.p7m"
    signature.write_bytes(cms_material["signature"])
    checked = compagnon(home, "verify", str(signature), "--trust", str(test_pki.root_pem),
                        memory=512 * 1024 * 1024)
    assert checked.returncode == 0, checked.describe()
    assert_bounded(checked, rss_bound=256)
