"""XML signature templates that ``xmlsec1 --sign`` completes, in the shapes real producers use: default
namespaces, several prefixes, trusted-list and office-suite layouts, XPath and XPath Filter 2.0
transforms, enveloping objects, manifests, references to KeyInfo and to sibling elements.

xmlsec1 is the independent producer and verifier here: a template is signed by it, verified by it,
then verified by Compagnon.
"""

from __future__ import annotations

import base64
import hashlib
import subprocess
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.support.pki import TestPki

DS = "http://www.w3.org/2000/09/xmldsig#"
XADES = "http://uri.etsi.org/01903/v1.3.2#"
C14N = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
C14N11 = "http://www.w3.org/2006/12/xml-c14n11"
EXC = "http://www.w3.org/2001/10/xml-exc-c14n#"
ENVELOPED = DS + "enveloped-signature"
FILTER2 = "http://www.w3.org/2002/06/xmldsig-filter2"
XPATH = "http://www.w3.org/TR/1999/REC-xpath-19991116"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
SIGNED_PROPERTIES = "http://uri.etsi.org/01903#SignedProperties"


def _der(path: Path) -> bytes:
    return x509.load_pem_x509_certificate(path.read_bytes()).public_bytes(serialization.Encoding.DER)


def key_info(pki: TestPki, prefix: str = "ds:", key_info_id: str | None = None) -> str:
    """KeyInfo with the signer's certificate and the intermediate CA (xmlsec1 builds the path from them)."""
    ident = f' Id="{key_info_id}"' if key_info_id else ""
    certs = "".join(f"<{prefix}X509Certificate>{base64.b64encode(_der(p)).decode()}</{prefix}X509Certificate>"
                    for p in (pki.cert_pem("qualified"), pki.intermediate_pem))
    return f"<{prefix}KeyInfo{ident}><{prefix}X509Data>{certs}</{prefix}X509Data></{prefix}KeyInfo>"


def transform(algorithm: str, body: str = "", prefix: str = "ds:") -> str:
    return f'<{prefix}Transform Algorithm="{algorithm}">{body}</{prefix}Transform>'


def filter2(*filters: tuple[str, str], prefix: str = "ds:") -> str:
    """An XPath Filter 2.0 transform; the expressions may use the ``ds`` prefix."""
    body = "".join(f'<f:XPath xmlns:f="{FILTER2}" xmlns:ds="{DS}" Filter="{op}">{expr}</f:XPath>'
                   for op, expr in filters)
    return transform(FILTER2, body, prefix)


def xpath(expression: str, prefix: str = "ds:") -> str:
    return transform(XPATH, f'<{prefix}XPath xmlns:ds="{DS}">{expression}</{prefix}XPath>', prefix)


def reference(uri: str, transforms: Sequence[str] = (), *, prefix: str = "ds:", ref_type: str | None = None,
              ref_id: str | None = None) -> str:
    attributes = f' URI="{uri}"' + (f' Type="{ref_type}"' if ref_type else "") + (f' Id="{ref_id}"' if ref_id else "")
    body = f"<{prefix}Transforms>{''.join(transforms)}</{prefix}Transforms>" if transforms else ""
    return (f"<{prefix}Reference{attributes}>{body}<{prefix}DigestMethod Algorithm=\"{SHA256}\"/>"
            f"<{prefix}DigestValue/></{prefix}Reference>")


def signed_properties(pki: TestPki, signature_id: str, properties_id: str, data_ref_id: str | None,
                      prefix: str = "ds:") -> str:
    """A ds:Object holding XAdES B-B SignedProperties (SigningTime, SigningCertificateV2, DataObjectFormat)."""
    digest = base64.b64encode(hashlib.sha256(_der(pki.cert_pem("qualified"))).digest()).decode()
    when = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    data_format = (f'<xades:SignedDataObjectProperties><xades:DataObjectFormat ObjectReference="#{data_ref_id}">'
                   f"<xades:MimeType>text/xml</xades:MimeType></xades:DataObjectFormat>"
                   f"</xades:SignedDataObjectProperties>") if data_ref_id else ""
    return (f'<{prefix}Object><xades:QualifyingProperties xmlns:xades="{XADES}" Target="#{signature_id}">'
            f'<xades:SignedProperties Id="{properties_id}"><xades:SignedSignatureProperties>'
            f"<xades:SigningTime>{when}</xades:SigningTime><xades:SigningCertificateV2><xades:Cert><xades:CertDigest>"
            f'<{prefix}DigestMethod Algorithm="{SHA256}"/><{prefix}DigestValue>{digest}</{prefix}DigestValue>'
            f"</xades:CertDigest></xades:Cert></xades:SigningCertificateV2></xades:SignedSignatureProperties>"
            f"{data_format}</xades:SignedProperties></xades:QualifyingProperties></{prefix}Object>")


def signature(references: Sequence[str], tail: str, *, prefix: str = "ds:", declare: str | None = None,
              c14n: str = EXC, signature_id: str = "sig") -> str:
    """A ds:Signature template; ``declare`` is its namespace declaration (``xmlns:ds="..."`` by default,
    ``""`` when an ancestor declares the prefix)."""
    if declare is None:
        declare = f'xmlns:{prefix[:-1]}="{DS}"' if prefix else f'xmlns="{DS}"'
    return (f'<{prefix}Signature {declare} Id="{signature_id}"><{prefix}SignedInfo>'
            f'<{prefix}CanonicalizationMethod Algorithm="{c14n}"/><{prefix}SignatureMethod Algorithm="{RSA_SHA256}"/>'
            f"{''.join(references)}</{prefix}SignedInfo><{prefix}SignatureValue/>{tail}</{prefix}Signature>")


def xmlsec_sign(template: str, output: Path, pki: TestPki, id_attributes: Sequence[str] = ()) -> Path:
    """``xmlsec1 --sign`` of ``template`` into ``output``; ``id_attributes`` are ``--id-attr:Id`` nodes
    (``namespace:name``) whose ``Id`` xmlsec1 must know to resolve ``#id`` references."""
    source = output.with_suffix(".template.xml")
    source.write_text(template, encoding="utf-8")
    command = ["xmlsec1", "--sign", "--privkey-pem", str(pki.key_pem("qualified"))]
    for node in id_attributes:
        command += ["--id-attr:Id", node]
    result = subprocess.run([*command, "--output", str(output), str(source)], capture_output=True, text=True,
                            cwd=output.parent)
    assert result.returncode == 0, result.stderr
    return output


def xmlsec_verifies(path: Path, pki: TestPki, id_attributes: Sequence[str] = ()) -> bool:
    """xmlsec1 trusting only the test root (never an inline key)."""
    command = ["xmlsec1", "--verify", "--enabled-key-data", "x509", "--trusted-pem", str(pki.root_pem),
               "--untrusted-pem", str(pki.intermediate_pem)]
    for node in id_attributes:
        command += ["--id-attr:Id", node]
    result = subprocess.run([*command, path.name], cwd=path.parent, capture_output=True, text=True)
    return result.returncode == 0
