"""agent.validation.xml_references: canonicalisation never touches the live tree, and the XPath subset
refuses anything outside it (functions, variables, extensions, long or deeply nested expressions)."""

from __future__ import annotations

import io

import pytest
from lxml import etree

from agent.pki.xml_safe import parse_untrusted
from agent.validation.xml_references import (
    C14N10,
    EXC_C14N,
    FILTER2,
    Misplaced,
    Unsupported,
    canonicalize,
    digest_input,
)

DS = "http://www.w3.org/2000/09/xmldsig#"
DOCUMENT = f"""<r:Racine xmlns:r="urn:racine" xmlns="urn:defaut" xmlns:inutile="urn:inutile" xml:lang="fr">
  <Partie Id="p1"><Texte>un</Texte><x:Note xmlns:x="urn:x" xmlns="">deux</x:Note></Partie>
  <ds:Signature xmlns:ds="{DS}" Id="sig"><ds:SignedInfo><ds:Reference URI=""><ds:Transforms>
    <ds:Transform Algorithm="{DS}enveloped-signature"/>
    <ds:Transform Algorithm="{FILTER2}"><f:XPath xmlns:f="{FILTER2}" Filter="subtract">EXPRESSION</f:XPath>
    </ds:Transform></ds:Transforms></ds:Reference></ds:SignedInfo></ds:Signature>
  <Fin/>
</r:Racine>"""


def _tree(expression: str = "/descendant::*[@Id='p1']") -> etree._ElementTree:
    text = DOCUMENT.replace("EXPRESSION", expression.replace("&", "&amp;").replace("<", "&lt;"))
    return parse_untrusted(io.BytesIO(text.encode()))


def test_canonicalisation_leaves_the_live_tree_unchanged() -> None:
    tree = _tree()
    before = etree.tostring(tree)
    signature = tree.getroot().find(f"{{{DS}}}Signature")
    part = tree.getroot().find("{urn:defaut}Partie")
    for algorithm in (C14N10, EXC_C14N):
        canonicalize(tree, algorithm, removed=[signature])
        canonicalize(part, algorithm)
        canonicalize(signature.find(f"{{{DS}}}SignedInfo"), algorithm)
    assert etree.tostring(tree) == before


def test_inclusive_canonical_form_of_an_element_keeps_its_context() -> None:
    part = _tree().getroot().find("{urn:defaut}Partie")
    assert canonicalize(part, C14N10) == (
        b'<Partie xmlns="urn:defaut" xmlns:inutile="urn:inutile" xmlns:r="urn:racine" Id="p1" xml:lang="fr">'
        b'<Texte>un</Texte><x:Note xmlns="" xmlns:x="urn:x">deux</x:Note></Partie>')
    assert canonicalize(part, EXC_C14N) == (
        b'<Partie xmlns="urn:defaut" Id="p1"><Texte>un</Texte><x:Note xmlns:x="urn:x">deux</x:Note></Partie>')


def test_filter2_subtract_by_id_and_enveloped() -> None:
    tree = _tree()
    signature = tree.getroot().find(f"{{{DS}}}Signature")
    transforms = signature.findall(f".//{{{DS}}}Transform")
    result = digest_input(tree, None, signature, transforms, comments=False)
    assert result.signature_removed
    assert b"Partie" not in result.octets and b"Signature" not in result.octets and b"<Fin></Fin>" in result.octets


@pytest.mark.parametrize("expression", [
    "document('file:///etc/passwd')",
    "//*[string-length(name()) > 3]",
    "//*[@Id=$secret]",
    "//*[exslt:foo()]",
    "//*[a[b[c]]]",
    "//" + "a/" * 600 + "b",
    "following::*",
    "//*[@Id='p1']/@Id",
])
def test_expressions_outside_the_subset_are_unsupported(expression: str) -> None:
    tree = _tree(expression)
    signature = tree.getroot().find(f"{{{DS}}}Signature")
    transforms = signature.findall(f".//{{{DS}}}Transform")
    with pytest.raises(Unsupported):
        digest_input(tree, None, signature, transforms, comments=False)


def test_enveloped_transform_outside_its_signature_is_misplaced() -> None:
    tree = _tree()
    signature = tree.getroot().find(f"{{{DS}}}Signature")
    part = tree.getroot().find("{urn:defaut}Partie")
    with pytest.raises(Misplaced):
        digest_input(tree, part, signature, signature.findall(f".//{{{DS}}}Transform")[:1], comments=False)
