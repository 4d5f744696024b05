"""Same-document references of XML signatures: node-set transforms and canonicalisation over copies.

XMLDSig 1.1 section 4.4.3.3 turns a same-document URI into a node-set (``""`` the document without
comments, ``#id`` an element's subtree without comments, ``#xpointer(/)``/``#xpointer(id('x'))``
with comments); the transforms of section 6.6 then work on that node-set, and a canonicalisation
algorithm turns it into the octets that are digested. This module does that for the XAdES verifier
and the trusted-list checker:

* canonicalisation is always computed on a *copy* of the nodes (``canonicalize``): lxml changes a
  live tree when an element is removed and put back (it re-declares, and may re-prefix, the
  namespaces the element uses), so the document read by the verifier is never modified. Inclusive
  C14N 1.0/1.1 of an element keeps every namespace in scope at that element (C14N 1.0 section 2.4)
  and, for C14N 1.0, the ``xml:*`` attributes it inherits from its ancestors;
* transforms: enveloped-signature (section 6.6.4); C14N 1.0, C14N 1.1 and exclusive C14N, with or
  without comments; base64 (section 6.6.2); the XPath transform (section 6.6.3) in the two forms
  producers use to leave signatures out — ``not(ancestor-or-self::ds:Signature)`` and
  ``count(ancestor-or-self::ds:Signature | here()/ancestor::ds:Signature[1]) >
  count(ancestor-or-self::ds:Signature)``; XPath Filter 2.0 (W3C Recommendation of 8 November
  2002, ``intersect``/``subtract``/``union``) whose expressions are location paths over names and
  attribute equality tests, ``/``, ``here()`` and ``id('x')``, evaluated once over the document;
* anything else — XSLT, other XPath expressions, a node-set transform after octets, a filter whose
  result is not a set of subtrees in document order — raises :class:`Unsupported`: the data signed
  cannot be computed here, which is an INDETERMINATE verdict (EN 319 102-1 section 5.2.7,
  SIGNED_DATA_NOT_FOUND), never a claim that the data changed;
* an enveloped-signature transform (or the ``here()`` XPath form, which means the same) whose
  signature is not inside the referenced node-set raises :class:`Misplaced`: the signature was
  moved away from the data it signed (signature wrapping).

Every expression is bounded: at most ``MAX_FILTERS`` filters of at most ``MAX_EXPRESSION`` characters,
only the tokens listed above (no variable, no function other than ``here``, ``id``, ``not``, no
extension), and each filter costs one pass over the document.
"""

from __future__ import annotations

import base64
import copy
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from xml.sax.saxutils import quoteattr

from lxml import etree

__all__ = [
    "BASE64", "C14N10", "C14N11", "CANONICALIZATIONS", "ENVELOPED", "EXC_C14N", "FILTER2", "XPATH",
    "DigestInput", "Misplaced", "Unsupported", "canonicalize", "digest_input", "id_index",
]

DS = "http://www.w3.org/2000/09/xmldsig#"
XML_NS = "http://www.w3.org/XML/1998/namespace"
C14N10 = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
C14N11 = "http://www.w3.org/2006/12/xml-c14n11"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
CANONICALIZATIONS = frozenset({C14N10, C14N10 + "#WithComments", C14N11, C14N11 + "#WithComments", EXC_C14N,
                               EXC_C14N + "WithComments"})
ENVELOPED = DS + "enveloped-signature"
BASE64 = DS + "base64"
XPATH = "http://www.w3.org/TR/1999/REC-xpath-19991116"
FILTER2 = "http://www.w3.org/2002/06/xmldsig-filter2"
MAX_FILTERS = 16
MAX_EXPRESSION = 1024
_ID_ATTRIBUTES = ("Id", "ID", "id", f"{{{XML_NS}}}id")


class Unsupported(Exception):
    """A transform or expression this verifier does not compute; ``fr``/``en`` say which and why."""

    def __init__(self, fr: str, en: str) -> None:
        super().__init__(en)
        self.fr = fr
        self.en = en


class Misplaced(Exception):
    """The reference points away from the data signed: an enveloped-signature transform whose
    signature is not inside the referenced node-set, or an ``id()`` naming several elements."""


def id_index(root: etree._Element) -> dict[str, list[etree._Element]]:
    """Every element carrying ``Id``, ``ID``, ``id`` or ``xml:id``, by value (duplicates kept: a value
    carried by two elements must be refused by the caller)."""
    ids: dict[str, list[etree._Element]] = {}
    for element in root.iter(etree.Element):
        for attribute in _ID_ATTRIBUTES:
            value = element.get(attribute)
            if value is not None:
                ids.setdefault(value, []).append(element)
    return ids


# -- canonicalisation over copies -------------------------------------------------------------------


def _path(element: etree._Element, top: etree._Element) -> list[int]:
    """Child indexes from ``top`` down to ``element`` (comments and PIs count, as in the copy)."""
    steps: list[int] = []
    while element is not top:
        parent = element.getparent()
        if parent is None:
            raise ValueError("element outside the copied subtree")
        steps.append(parent.index(element))
        element = parent
    return steps[::-1]


def _follow(top: etree._Element, steps: Sequence[int]) -> etree._Element:
    for step in steps:
        top = top[step]
    return top


def _drop(element: etree._Element) -> None:
    """Remove ``element`` and its subtree; the text after it (its ``tail``) stays in the parent."""
    parent = element.getparent()
    if parent is None:
        return
    tail = element.tail
    if tail:
        previous = element.getprevious()
        if previous is not None:
            previous.tail = (previous.tail or "") + tail
        else:
            parent.text = (parent.text or "") + tail
    element.tail = None
    parent.remove(element)


def _inside(element: etree._Element, container: etree._Element) -> bool:
    return element is container or any(a is container for a in element.iterancestors())


def _outermost(removed: Iterable[etree._Element], top: etree._Element) -> list[etree._Element]:
    """The removed subtrees under ``top``, none inside another."""
    chosen = [e for e in removed if _inside(e, top)]
    return [e for e in chosen if not any(o is not e and _inside(e, o) for o in chosen)]


_COPY_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True,
                               remove_blank_text=False, remove_comments=False, remove_pis=False)
_START_TAG_NAME = re.compile(rb"<[^\s/>]+")


def _copy_element(element: etree._Element, removed: Sequence[etree._Element], inherit_xml: bool) -> etree._ElementTree:
    """A document whose root is a copy of ``element``'s subtree declaring every namespace in scope at
    ``element``, with ``removed`` subtrees left out and, for inclusive C14N 1.0, the ``xml:*``
    attributes of its ancestors copied onto it.

    The copy is the root of its own document, parsed again from the element's serialisation: lxml
    canonicalises a non-root element through a temporary document in which a default namespace
    declared twice turns into ``xmlns=""`` on descendants, and moving an element under a new
    parent rewrites the namespace references of its descendants.
    """
    paths = [_path(e, element) for e in _outermost(removed, element)]
    body = etree.tostring(element, with_tail=False)
    declared = etree.fromstring(body, _COPY_PARSER).nsmap
    missing = []
    for prefix, uri in element.nsmap.items():
        if prefix not in declared:
            missing.append(f" xmlns:{prefix}={quoteattr(uri)}" if prefix else f" xmlns={quoteattr(uri)}")
    start = _START_TAG_NAME.match(body)
    if start is None:
        raise ValueError("unexpected serialisation")
    text = body[:start.end()] + "".join(missing).encode() + body[start.end():]
    duplicate = etree.fromstring(text, _COPY_PARSER)
    if inherit_xml:
        for ancestor in element.iterancestors():
            for key, value in ancestor.attrib.items():
                if key.startswith(f"{{{XML_NS}}}") and key != f"{{{XML_NS}}}id" and key not in duplicate.attrib:
                    duplicate.set(key, value)
    for target in [_follow(duplicate, steps) for steps in paths]:
        _drop(target)
    return duplicate.getroottree()


def canonicalize(node: etree._Element | etree._ElementTree, algorithm: str, *, prefixes: Sequence[str] | None = None,
                 comments: bool = False, removed: Sequence[etree._Element] = ()) -> bytes:
    """The canonical form of an element's subtree or of a whole document, without ``removed`` subtrees.

    ``algorithm`` is one of ``CANONICALIZATIONS``; comments are kept only when both the algorithm
    ("WithComments") and the caller (``comments``: an XPointer reference) allow them. The live tree
    is never modified.
    """
    exclusive = algorithm.startswith(EXC_C14N)
    with_comments = comments and algorithm.endswith("WithComments")
    options = {"method": "c14n", "exclusive": exclusive, "with_comments": with_comments,
               "inclusive_ns_prefixes": list(prefixes) if exclusive and prefixes else None}
    if isinstance(node, etree._ElementTree):
        root = node.getroot()
        inside = _outermost(removed, root)
        if not inside:
            return etree.tostring(node, **options)
        if any(e is root for e in inside):
            return b""
        paths = [_path(e, root) for e in inside]
        document = copy.deepcopy(node)
        for target in [_follow(document.getroot(), steps) for steps in paths]:
            _drop(target)
        return etree.tostring(document, **options)
    if any(e is node for e in removed):
        return b""
    duplicate = _copy_element(node, removed, inherit_xml=not exclusive and not algorithm.startswith(C14N11))
    if not exclusive and algorithm.startswith(C14N11):
        # C14N 1.1 section 2.4: xml:lang and xml:space are inherited, xml:id is not.
        apex = duplicate.getroot()
        for ancestor in node.iterancestors():
            for name in ("lang", "space"):
                key = f"{{{XML_NS}}}{name}"
                if ancestor.get(key) is not None and apex.get(key) is None:
                    apex.set(key, ancestor.get(key))
    return etree.tostring(duplicate, **options)


# -- node-sets ------------------------------------------------------------------------------------


@dataclass
class _Selection:
    """A node-set made of subtrees: the whole document or some elements (``apexes``), minus ``removed``
    subtrees. ``comments``: comment nodes belong to it (XPointer references only)."""

    tree: etree._ElementTree
    apexes: list[etree._Element] | None
    comments: bool
    removed: list[etree._Element] = field(default_factory=list)

    def contains(self, element: etree._Element) -> bool:
        if any(_inside(element, r) for r in self.removed):
            return False
        return self.apexes is None or any(_inside(element, a) for a in self.apexes)

    def octets(self, algorithm: str, prefixes: Sequence[str] | None) -> bytes:
        if self.apexes is None:
            return canonicalize(self.tree, algorithm, prefixes=prefixes, comments=self.comments, removed=self.removed)
        return b"".join(canonicalize(a, algorithm, prefixes=prefixes, comments=self.comments, removed=self.removed)
                        for a in self.apexes)

    def text(self) -> bytes:
        """String value of the node-set's text nodes (the base64 transform's input, section 6.6.2)."""
        parts: list[str] = []

        def walk(element: etree._Element) -> None:
            if element.text:
                parts.append(element.text)
            for child in element:
                if isinstance(child.tag, str) and not any(child is r for r in self.removed):
                    walk(child)
                if child.tail:
                    parts.append(child.tail)

        for top in [self.tree.getroot()] if self.apexes is None else self.apexes:
            if not any(_inside(top, r) for r in self.removed):
                walk(top)
        return "".join(parts).encode()


def _signature_prefixes(nsmap: dict[str | None, str]) -> set[str]:
    return {prefix for prefix, uri in nsmap.items() if prefix and uri == DS}


_SPACES = re.compile(r"\s+")


def _xpath_transform(selection: _Selection, transform: etree._Element, signature: etree._Element) -> None:
    """XMLDSig section 6.6.3 for the expressions that leave signatures out of the node-set."""
    expression = transform.find(f"{{{DS}}}XPath")
    if expression is None:
        raise Unsupported("transformation XPath sans expression", "XPath transform without an expression")
    text = _SPACES.sub("", expression.text or "")
    for prefix in _signature_prefixes(expression.nsmap):
        sig = f"{prefix}:Signature"
        if text == f"not(ancestor-or-self::{sig})":
            selection.removed.extend(s for s in selection.tree.getroot().iter(f"{{{DS}}}Signature")
                                     if selection.contains(s))
            return
        if text == (f"count(ancestor-or-self::{sig}|here()/ancestor::{sig}[1])>count(ancestor-or-self::{sig})"):
            _remove_own(selection, signature)
            return
    raise Unsupported(f"expression XPath non prise en charge : {text[:120]}",
                      f"unsupported XPath expression: {text[:120]}")


def _remove_own(selection: _Selection, signature: etree._Element) -> None:
    if not selection.contains(signature):
        raise Misplaced
    selection.removed.append(signature)


# XPath Filter 2.0 expressions: location paths, unions, "/" , here() and id('x'); nothing else.
_TOKEN = re.compile(r"""\s*(?:(?P<literal>'[^']*'|"[^"]*")|(?P<number>\d+)"""
                    r"""|(?P<symbol>//|/|::|\[|\]|\(|\)|\||@|\*|!=|=|\.\.|\.)"""
                    r"""|(?P<name>[A-Za-z_][\w.\-]*(?::(?:[A-Za-z_][\w.\-]*|\*))?))""")
_AXES = {"child", "descendant", "descendant-or-self", "self", "parent", "ancestor", "ancestor-or-self", "attribute"}
_FUNCTIONS = {"here", "not", "node", "text", "comment"}
_ID_CALL = re.compile(r"""\s*id\(\s*(?:'([^']*)'|"([^"]*)")\s*\)\s*""")


def _check_expression(text: str) -> None:
    """Refuse any token outside the small XPath subset of the module docstring."""
    if len(text) > MAX_EXPRESSION:
        raise Unsupported("expression XPath trop longue", "XPath expression too long")
    position, depth = 0, 0
    tokens: list[tuple[str, str]] = []
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            if not text[position:].strip():
                break
            raise Unsupported(f"expression XPath non prise en charge : {text[:120]}",
                              f"unsupported XPath expression: {text[:120]}")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        position = match.end()
    for index, (kind, value) in enumerate(tokens):
        following = tokens[index + 1][1] if index + 1 < len(tokens) else ""
        if kind == "symbol" and value == "[":
            depth += 1
            if depth > 2:
                raise Unsupported("expression XPath trop imbriquée", "XPath expression nested too deeply")
        elif kind == "symbol" and value == "]":
            depth -= 1
        elif kind == "name" and following == "(" and value not in _FUNCTIONS:
            raise Unsupported(f"fonction XPath non admise : {value}()", f"XPath function not allowed: {value}()")
        elif kind == "name" and following == "::" and value not in _AXES:
            raise Unsupported(f"axe XPath non admis : {value}", f"XPath axis not allowed: {value}")


def _evaluate(text: str, context: etree._Element, tree: etree._ElementTree,
              ids: dict[str, list[etree._Element]]) -> tuple[bool, set[etree._Element]]:
    """(the document node is selected, the elements selected) for one Filter 2.0 expression."""
    if text.strip() == "/":
        return True, set()
    called = _ID_CALL.fullmatch(text)
    if called:
        found = ids.get(called.group(1) if called.group(1) is not None else called.group(2), [])
        if len(found) > 1:
            raise Misplaced
        return False, set(found)
    _check_expression(text)
    namespaces = {prefix: uri for prefix, uri in context.nsmap.items() if prefix}
    try:
        compiled = etree.XPath(text, namespaces=namespaces, smart_strings=False,
                               extensions={(None, "here"): lambda _context: [context]})
        result = compiled(tree)
    except (etree.XPathError, TypeError, ValueError):
        raise Unsupported(f"expression XPath non évaluable : {text[:120]}",
                          f"XPath expression that cannot be evaluated: {text[:120]}") from None
    if not isinstance(result, list) or not all(isinstance(n, etree._Element) for n in result):
        raise Unsupported(f"expression XPath qui ne désigne pas des éléments : {text[:120]}",
                          f"XPath expression that does not select elements: {text[:120]}")
    return False, {n for n in result if isinstance(n.tag, str)}


def _filter2(selection: _Selection, transform: etree._Element, ids: dict[str, list[etree._Element]]) -> _Selection:
    """XPath Filter 2.0 section 3.4: Z starts as every node, each filter intersects, subtracts or joins the
    subtrees it selects; the output is the input node-set intersected with Z."""
    filters = transform.findall(f"{{{FILTER2}}}XPath")
    if not filters or len(filters) > MAX_FILTERS:
        raise Unsupported("filtre XPath 2.0 vide ou trop long", "empty or too long XPath Filter 2.0")
    operations = []
    for element in filters:
        operation = element.get("Filter")
        if operation not in ("intersect", "subtract", "union"):
            raise Unsupported(f"opération de filtre XPath 2.0 inconnue : {operation}",
                              f"unknown XPath Filter 2.0 operation: {operation}")
        document, chosen = _evaluate(element.text or "", element, selection.tree, ids)
        operations.append((operation, document, chosen))

    def fold(flags: Sequence[bool]) -> bool:
        z = True
        for (operation, _, _), flag in zip(operations, flags, strict=True):
            if operation == "intersect":
                z = z and flag
            elif operation == "subtract":
                z = z and not flag
            else:
                z = z or flag
        return z

    root = selection.tree.getroot()
    document_flags = [document for _, document, _ in operations]
    document_kept = selection.apexes is None and fold(document_flags)
    apexes: list[etree._Element] = []
    removed: list[etree._Element] = []
    stack: list[tuple[list[bool], bool]] = []  # (flags, included) of the open elements
    open_apex = 0
    for event, element in etree.iterwalk(root, events=("start", "end")):
        if not isinstance(element.tag, str):
            continue
        if event == "end":
            _, included = stack.pop()
            parent_included = stack[-1][1] if stack else document_kept
            if included and not parent_included:
                open_apex -= 1
            continue
        parent_flags = stack[-1][0] if stack else document_flags
        flags = [parent or element in chosen for parent, (_, _, chosen) in zip(parent_flags, operations, strict=True)]
        included = fold(flags) and selection.contains(element)
        parent_included = stack[-1][1] if stack else document_kept
        if included and not parent_included:
            if open_apex or any(_inside(element, r) for r in removed):
                raise Unsupported("filtre XPath 2.0 qui rend des sous-arbres imbriqués",
                                  "XPath Filter 2.0 giving nested subtrees")
            apexes.append(element)
            open_apex += 1
        elif parent_included and not included:
            removed.append(element)
        stack.append((flags, included))
    if document_kept:
        return _Selection(selection.tree, None, selection.comments, removed)
    return _Selection(selection.tree, apexes, selection.comments, removed)


@dataclass(frozen=True)
class DigestInput:
    """The octets a reference digests, and whether its own signature was left out of them."""

    octets: bytes
    signature_removed: bool


def digest_input(tree: etree._ElementTree, target: etree._Element | None, signature: etree._Element,
                 transforms: Sequence[etree._Element], *, comments: bool,
                 ids: dict[str, list[etree._Element]] | None = None, final: str = C14N10,
                 final_prefixes: Sequence[str] | None = None) -> DigestInput:
    """Apply the ``ds:Transform`` elements of a same-document reference (XMLDSig section 4.4.3.2).

    ``target`` is the dereferenced element (``None``: the whole document). A node-set left by the
    last transform is canonicalised with ``final`` (C14N 1.0 for a digest, XMLDSig section
    4.4.3.2; a XAdES content time-stamp names its own, EN 319 132-1 section 5.2.8). Raises
    :class:`Unsupported` or :class:`Misplaced` (see the module docstring), ``ValueError`` for
    invalid base64.
    """
    selection = _Selection(tree, None if target is None else [target], comments)
    removed_own = False
    octets: bytes | None = None
    for transform in transforms:
        algorithm = transform.get("Algorithm", "")
        if octets is not None and algorithm != BASE64:
            raise Unsupported(f"transformation après la canonicalisation : {algorithm or '?'}",
                              f"transform after canonicalisation: {algorithm or '?'}")
        if algorithm == ENVELOPED:
            _remove_own(selection, signature)
            removed_own = True
        elif algorithm == XPATH:
            held = selection.contains(signature)
            _xpath_transform(selection, transform, signature)
            removed_own = removed_own or (held and not selection.contains(signature))
        elif algorithm == FILTER2:
            held = selection.contains(signature)
            selection = _filter2(selection, transform, ids if ids is not None else id_index(tree.getroot()))
            removed_own = removed_own or (held and not selection.contains(signature))
        elif algorithm in CANONICALIZATIONS:
            inclusive = transform.find(f"{{{EXC_C14N}}}InclusiveNamespaces")
            prefixes = inclusive.get("PrefixList", "").split() if inclusive is not None else None
            octets = selection.octets(algorithm, prefixes)
        elif algorithm == BASE64:
            source = selection.text() if octets is None else octets
            octets = base64.b64decode(b"".join(source.split()))
        else:
            raise Unsupported(f"transformation non prise en charge : {algorithm or '?'}",
                              f"unsupported transform: {algorithm or '?'}")
    if octets is None:
        octets = selection.octets(final, final_prefixes)
    return DigestInput(octets, removed_own)
