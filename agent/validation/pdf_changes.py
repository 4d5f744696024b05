"""What changed in a PDF after a signature, and whether the signature still stands (ISO 32000-1 section 12.8.2.2).

A PDF signature covers one revision; later incremental updates (section 7.5.6) are judged here,
following the EU validation policy (EU DSS, the European Commission's reference validator) rather
than the strictest reading, so that real-world files are not refused for what their workflow
legitimately adds:

* validation data (DSS, VRI), document time-stamps, new signatures, form filling that the
  signature's DocMDP permission (``/P``, table 254) and FieldMDP locks allow: **passed**;
* annotations added, changed or removed (comments, stamps): **warning** when DocMDP allows them
  (no DocMDP, or ``/P 3``); page-piece dictionaries (``/PieceInfo``, section 14.5): allowed;
* a change the signer forbade (DocMDP below the level of the change, a locked field changed):
  **TOTAL_FAILED/FORMAT_FAILURE** — section 12.8.2.2.1: such changes invalidate the signature;
* pages added or removed, or the content of a signed page changed (its content streams,
  resources, boxes, through any object they reach): **TOTAL_FAILED/FORMAT_FAILURE** — the
  document shown is not the document signed (EU DSS: ``PdfPageDifference`` fails);
* anything else that cannot be classified: **warning** (EU DSS: ``UndefinedChanges`` warns);
* an analysis that cannot finish (malformed update, exhausted budget): **INDETERMINATE/GENERIC**.

The object-level analysis is pyHanko's difference policy (``StandardDiffPolicy``, its
``ModificationLevel``), extended with a rule that explains annotations and ``/PieceInfo``; the page
survey below (deep comparison of each signed page with its current state) separates content
changes from the changes pyHanko leaves unexplained.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import cast

from .. import asn1_names  # noqa: F401  (pyHanko's OID names, whatever the import order)
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import HistoricalResolver, PdfFileReader
from pyhanko.sign.diff_analysis import (
    DEFAULT_DIFF_POLICY,
    DiffResult,
    ModificationLevel,
    StandardDiffPolicy,
)
from pyhanko.sign.diff_analysis.commons import compare_dicts
from pyhanko.sign.diff_analysis.constants import ROOT_EXEMPT_STRICT_COMPARISON
from pyhanko.sign.diff_analysis.form_rules_api import FormUpdatingRule
from pyhanko.sign.diff_analysis.rules.file_structure_rules import CatalogModificationRule
from pyhanko.sign.diff_analysis.rules.form_field_rules import (
    GenericFieldModificationRule,
    SigFieldCreationRule,
    SigFieldModificationRule,
)
from pyhanko.sign.diff_analysis.rules_api import QualifiedWhitelistRule, ReferenceUpdate
from pyhanko.sign.fields import FieldMDPSpec, MDPPerm

from .chain import Environment
from .model import Check, SubIndication, indeterminate, passed, total_failed, warning

__all__ = ["ChangePolicy", "changes_check"]

#: Objects one page survey may visit (pages, resources, fonts, forms...): beyond, INDETERMINATE.
SURVEY_BUDGET = 200_000
#: What a page shows (ISO 32000-1 table 30): content, resources, boxes, rotation, transparency group.
#: Other page entries (/Tabs, /StructParents, /AA ...) do not change the signed content.
_PAGE_RENDERING = ("/Contents", "/Resources", "/MediaBox", "/CropBox", "/Rotate", "/Group", "/UserUnit")
_INHERITABLE = frozenset({"/Resources", "/MediaBox", "/CropBox", "/Rotate"})


class _AnalysisError(Exception):
    """The analysis could not finish (budget, malformed structure)."""


def _deref(value: object) -> object:
    return value.get_object() if isinstance(value, generic.IndirectObject) else value


def _page_refs(resolver: HistoricalResolver) -> list[generic.Reference]:
    """The page objects of a revision, in order (ISO 32000-1 section 7.7.3.2), bounded and cycle-safe."""
    pages: list[generic.Reference] = []
    seen: set[generic.Reference] = set()
    stack = [resolver.root.raw_get("/Pages")]
    while stack:
        node = stack.pop()
        if not isinstance(node, generic.IndirectObject) or node.reference in seen:
            raise _AnalysisError("page tree")
        seen.add(node.reference)
        if len(seen) > SURVEY_BUDGET:
            raise _AnalysisError("page tree too large")
        value = node.get_object()
        if not isinstance(value, generic.DictionaryObject):
            raise _AnalysisError("page tree node")
        if value.get("/Type") == "/Pages" or "/Kids" in value:
            kids = _deref(value.raw_get("/Kids"))
            if not isinstance(kids, generic.ArrayObject):
                raise _AnalysisError("page tree kids")
            stack.extend(reversed(list(kids)))
        else:
            pages.append(node.reference)
    return pages


def _is_widget(annotation: object) -> bool:
    value = _deref(annotation)
    return isinstance(value, generic.DictionaryObject) and value.get("/Subtype") == "/Widget"


def _annotations(page: generic.DictionaryObject) -> list[object]:
    value = _deref(page.get("/Annots")) if "/Annots" in page else None
    return list(value) if isinstance(value, generic.ArrayObject) else []


def _raw(value: generic.DictionaryObject, key: str) -> object:
    return value.raw_get(key) if key in value else None


class _AnnotationsAndPieceInfoRule(QualifiedWhitelistRule):
    """Explains annotations (``ANNOTATIONS`` level) and new ``/PieceInfo`` data (``LTA_UPDATES``).

    A page object is approved only when nothing but its ``/Annots`` and ``/PieceInfo`` changed, and
    only new objects are approved below them: an old object reached from a new annotation (a
    content stream, a font) stays for the other rules to explain. Widgets are form fields: the
    form rule's business.
    """

    def apply_qualified(self, old: HistoricalResolver, new: HistoricalResolver
                        ) -> Iterable[tuple[ModificationLevel, ReferenceUpdate]]:
        try:
            approved = list(self._approve(old, new))
        except Exception:  # noqa: BLE001 (an odd structure: approve nothing, the other rules and the survey judge)
            return
        yield from approved

    def _approve(self, old: HistoricalResolver, new: HistoricalResolver
                 ) -> Iterator[tuple[ModificationLevel, ReferenceUpdate]]:
        yield from self._new_below(new, _raw(new.root, "/PieceInfo"), ModificationLevel.LTA_UPDATES)
        try:
            old_pages, new_pages = _page_refs(old), _page_refs(new)
        except _AnalysisError:
            return
        if old_pages != new_pages:
            return
        explicit = set(new.explicit_refs_in_revision())
        for ref in new_pages:
            old_page, new_page = old(ref), new(ref)
            if not isinstance(old_page, generic.DictionaryObject) or not isinstance(new_page, generic.DictionaryObject):
                continue
            if not compare_dicts(old_page, new_page, frozenset({"/Annots", "/PieceInfo"}), raise_exc=False):
                continue
            yield from self._new_below(new, _raw(new_page, "/PieceInfo"), ModificationLevel.LTA_UPDATES)
            changed, updates = self._annotation_updates(old, new, old_page, new_page, explicit)
            yield from updates
            if ref not in explicit:
                continue
            if changed:
                yield ModificationLevel.ANNOTATIONS, ReferenceUpdate(ref)
            elif _raw(old_page, "/Annots") == _raw(new_page, "/Annots") and \
                    _raw(old_page, "/PieceInfo") != _raw(new_page, "/PieceInfo"):
                yield ModificationLevel.LTA_UPDATES, ReferenceUpdate(ref)

    @staticmethod
    def _new_below(new: HistoricalResolver, value: object, level: ModificationLevel
                   ) -> Iterator[tuple[ModificationLevel, ReferenceUpdate]]:
        if value is None:
            return
        for dep in new.collect_dependencies(cast(generic.PdfObject, value), since_revision=new.revision):
            yield level, ReferenceUpdate(dep)

    @staticmethod
    def _was_annotation(old: HistoricalResolver, ref: generic.Reference) -> bool:
        try:
            value = old(ref)
        except Exception:  # noqa: BLE001 (a reference free in the old revision)
            return False
        return isinstance(value, generic.DictionaryObject) and not isinstance(value, generic.StreamObject) \
            and "/Subtype" in value and not _is_widget(value)

    def _annotation_updates(self, old: HistoricalResolver, new: HistoricalResolver,
                            old_page: generic.DictionaryObject, new_page: generic.DictionaryObject,
                            explicit: set[generic.Reference]
                            ) -> tuple[bool, list[tuple[ModificationLevel, ReferenceUpdate]]]:
        old_items, new_items = _annotations(old_page), _annotations(new_page)
        old_refs = {a.reference for a in old_items if isinstance(a, generic.IndirectObject)}
        new_refs = {a.reference for a in new_items if isinstance(a, generic.IndirectObject)}
        updates: list[tuple[ModificationLevel, ReferenceUpdate]] = []
        changed = False
        for item in new_items:
            if not isinstance(item, generic.IndirectObject):
                continue
            ref = item.reference
            if (ref in old_refs and ref not in explicit) or _is_widget(item):
                continue
            if not old.is_ref_unassignable(ref) and not self._was_annotation(old, ref):
                if ref not in old_refs and ref not in explicit and self._was_annotation(new, ref):
                    changed = True  # an unchanged annotation moved here from elsewhere
                continue
            changed = True
            updates.append((ModificationLevel.ANNOTATIONS, ReferenceUpdate(ref)))
            for dep in new.collect_dependencies(new(ref), since_revision=new.revision):
                updates.append((ModificationLevel.ANNOTATIONS, ReferenceUpdate(dep)))
        if any(not _is_widget(old(r)) for r in old_refs - new_refs):
            changed = True
        annots = _raw(new_page, "/Annots")
        if changed and isinstance(annots, generic.IndirectObject):
            updates.append((ModificationLevel.ANNOTATIONS, ReferenceUpdate(annots.reference)))
        return changed, updates


def _policy() -> StandardDiffPolicy:
    rules = [r for r in DEFAULT_DIFF_POLICY.global_rules if not isinstance(r, CatalogModificationRule)]
    return StandardDiffPolicy(
        global_rules=[CatalogModificationRule(ignored_keys=ROOT_EXEMPT_STRICT_COMPARISON | {"/PieceInfo"}),
                      *rules, _AnnotationsAndPieceInfoRule()],
        form_rule=FormUpdatingRule(field_rules=[
            # ISO 32000-1 table 254: P=2 permits "signing": a new visible signature field included.
            SigFieldCreationRule(allow_new_visible_after_certify=True),
            SigFieldModificationRule(),
            GenericFieldModificationRule(),
        ]),
    )


#: The policy used for every signature (built once: the rules hold no state).
ChangePolicy = _policy()


# -- the page survey ----------------------------------------------------------------------------


class _Fingerprint:
    """Deep digest of PDF objects: references resolved, streams by their encoded bytes, bounded."""

    def __init__(self) -> None:
        self.visited = 0
        self.memo: dict[generic.Reference, bytes] = {}

    def of(self, value: object, depth: int = 0) -> bytes:
        self.visited += 1
        if self.visited > SURVEY_BUDGET or depth > 200:
            raise _AnalysisError("page content too large to compare")
        if isinstance(value, generic.IndirectObject):
            ref = value.reference
            if ref in self.memo:
                return self.memo[ref]
            self.memo[ref] = b"cycle"
            digest = self.of(value.get_object(), depth + 1)
            self.memo[ref] = digest
            return digest
        h = hashlib.sha256()
        if isinstance(value, generic.StreamObject):
            h.update(b"S")
            h.update(self._dict(value, depth))
            h.update(hashlib.sha256(value.encoded_data).digest())
        elif isinstance(value, generic.DictionaryObject):
            h.update(b"D" + self._dict(value, depth))
        elif isinstance(value, generic.ArrayObject):
            h.update(b"A")
            for item in value:
                h.update(self.of(item, depth + 1))
        else:
            h.update(b"V" + repr(value).encode("utf-8", "replace"))
        return h.digest()

    def _dict(self, value: generic.DictionaryObject, depth: int) -> bytes:
        h = hashlib.sha256()
        for key in sorted(str(k) for k in value):
            if key in ("/Parent", "/P") or (isinstance(value, generic.StreamObject) and key == "/Length"):
                continue
            h.update(key.encode("utf-8", "replace"))
            h.update(self.of(value.raw_get(key), depth + 1))
        return h.digest()

    def page(self, resolver: HistoricalResolver, ref: generic.Reference) -> bytes:
        page = resolver(ref)
        if not isinstance(page, generic.DictionaryObject):
            raise _AnalysisError("page object")
        h = hashlib.sha256()
        missing = set(_INHERITABLE)
        for key in _PAGE_RENDERING:
            if key in page:
                h.update(key.encode() + self.of(page.raw_get(key)))
                missing.discard(key)
        node: object = page
        for _ in range(64):  # inherited attributes, from the nearest ancestor (ISO 32000-1 section 7.7.3.4)
            parent = _deref(node.get("/Parent")) if isinstance(node, generic.DictionaryObject) else None
            if not isinstance(parent, generic.DictionaryObject) or not missing:
                break
            for key in sorted(missing):
                if key in parent:
                    h.update(b"inherited" + key.encode() + self.of(parent.raw_get(key)))
                    missing.discard(key)
            node = parent
        return h.digest()


def _page_content_changed(reader: PdfFileReader, signed_revision: int) -> bool:
    """True when pages were added or removed, or a signed page's content differs now (any later revision)."""
    old = reader.get_historical_resolver(signed_revision)
    old_pages = _page_refs(old)
    old_prints = _Fingerprint()
    reference = [old_prints.page(old, ref) for ref in old_pages]
    for revision in range(signed_revision + 1, reader.xrefs.total_revisions):
        new = reader.get_historical_resolver(revision)
        new_pages = _page_refs(new)
        if len(new_pages) != len(old_pages):
            return True
        prints = _Fingerprint()
        if [prints.page(new, ref) for ref in new_pages] != reference:
            return True
    return False


# -- locked fields (FieldMDP, ISO 32000-1 table 256) --------------------------------------------------


def _field_values(resolver: HistoricalResolver) -> dict[str, bytes]:
    values: dict[str, bytes] = {}
    form = _deref(resolver.root.get("/AcroForm")) if "/AcroForm" in resolver.root else None
    if not isinstance(form, generic.DictionaryObject):
        return values
    prints = _Fingerprint()
    stack: list[tuple[str, object]] = [("", f) for f in cast(Iterable[object], _deref(form.get("/Fields")) or [])]
    seen = 0
    while stack:
        prefix, item = stack.pop()
        seen += 1
        if seen > SURVEY_BUDGET:
            raise _AnalysisError("form too large")
        field = _deref(item)
        if not isinstance(field, generic.DictionaryObject):
            continue
        name = prefix + ("." if prefix and "/T" in field else "") + (str(field.get("/T")) if "/T" in field else "")
        kids = _deref(field.get("/Kids")) if "/Kids" in field else None
        if isinstance(kids, generic.ArrayObject) and any("/T" in _deref(k) for k in kids  # type: ignore[operator]
                                                         if isinstance(_deref(k), generic.DictionaryObject)):
            stack.extend((name, k) for k in kids)
        elif name:
            values[name] = prints.of(field.raw_get("/V")) if "/V" in field else b""
    return values


def _locked_field_changed(reader: PdfFileReader, signed_revision: int, spec: FieldMDPSpec | None) -> str | None:
    if spec is None:
        return None
    before = _field_values(reader.get_historical_resolver(signed_revision))
    after = _field_values(reader.get_historical_resolver(reader.xrefs.total_revisions - 1))
    for name in sorted(set(before) | set(after)):
        if before.get(name) != after.get(name) and spec.is_locked(name):
            return name
    return None


# -- the verdict ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Texts:
    env: Environment

    def shown(self) -> str:
        return self.env.t("le document affiché n'est pas celui qui a été signé",
                          "the document shown is not the one signed")


_LEVEL_TEXT = {
    ModificationLevel.NONE: ("Aucune modification après la signature.", "No change after signing."),
    ModificationLevel.LTA_UPDATES: (
        "Ajouts après la signature limités aux données de validation (DSS, VRI, horodatages de document).",
        "Additions after signing limited to validation data (DSS, VRI, document time-stamps)."),
    ModificationLevel.FORM_FILLING: (
        ("Ajouts après la signature limités à d'autres signatures et au remplissage de champs de formulaire "
         "permis."),
        "Additions after signing limited to other signatures and permitted form filling."),
}
_PERMISSION_TEXT = {
    MDPPerm.NO_CHANGES: ("aucune modification", "no changes"),
    MDPPerm.FILL_FORMS: ("remplissage de formulaire et signatures", "form filling and signing"),
    MDPPerm.ANNOTATE: ("formulaires, signatures et annotations", "forms, signing and annotations"),
}
_CHANGE_TEXT = {
    ModificationLevel.FORM_FILLING: ("remplissage de formulaire ou signature", "form filling or signing"),
    ModificationLevel.ANNOTATIONS: ("annotations", "annotations"),
}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]


def changes_check(env: Environment, reader: PdfFileReader, signed_revision: int, docmdp: MDPPerm | None,
                  fieldmdp: FieldMDPSpec | None) -> Check:
    """The "modification" check of a signature whose revision is followed by incremental updates."""
    shown = _Texts(env).shown()
    try:
        result = ChangePolicy.review_file(reader, signed_revision, field_mdp_spec=fieldmdp, doc_mdp=docmdp)
        if isinstance(result, DiffResult):
            return _judge_level(env, result.modification_level, docmdp)
        if _page_content_changed(reader, signed_revision):
            return total_failed("modification", env.t(
                "Pages ajoutées, retirées ou contenu d'une page signée changé après la signature : {s}.",
                "Pages added, removed, or the content of a signed page changed after signing: {s}.", s=shown),
                SubIndication.FORMAT_FAILURE)
        locked = _locked_field_changed(reader, signed_revision, fieldmdp)
        if locked is not None:
            return total_failed("modification", env.t(
                "Le champ « {f} », verrouillé par la signature (FieldMDP), a été modifié après la signature.",
                "Field \"{f}\", locked by the signature (FieldMDP), was changed after signing.", f=locked),
                SubIndication.FORMAT_FAILURE)
        if fieldmdp is not None or docmdp is not None:
            free = ChangePolicy.review_file(reader, signed_revision)
            if isinstance(free, DiffResult):
                return total_failed("modification", env.t(
                    "Modification interdite par le signataire (DocMDP/FieldMDP) : {e}.",
                    "Change forbidden by the signer (DocMDP/FieldMDP): {e}.", e=_first_line(result)),
                    SubIndication.FORMAT_FAILURE)
        return warning("modification", env.t(
            "Modifications après la signature non classées (ni données de validation, ni formulaire, ni "
            "annotation, ni contenu des pages signées) : {e}.",
            "Changes after signing that could not be classified (not validation data, forms, annotations nor "
            "the content of signed pages): {e}.", e=_first_line(result)))
    except Exception as exc:  # noqa: BLE001 (pyHanko's analysis of hostile files raises anything)
        return indeterminate("modification", env.t(
            "Analyse des modifications après la signature impossible : {e}.",
            "The changes made after signing could not be analysed: {e}.", e=f"{type(exc).__name__}: "
                                                                             f"{_first_line(exc)}"),
            SubIndication.GENERIC)


def _judge_level(env: Environment, level: ModificationLevel, docmdp: MDPPerm | None) -> Check:
    if docmdp is not None and level.value > docmdp.value:
        allowed_fr, allowed_en = _PERMISSION_TEXT.get(docmdp, ("?", "?"))
        change_fr, change_en = _CHANGE_TEXT.get(level, ("modification", "change"))
        return total_failed("modification", env.t(
            "Modification interdite par la signature de certification (DocMDP P={p} : {a}) : {c} après la "
            "signature.", "Change forbidden by the certification signature (DocMDP P={p}: {a}): {c} after signing.",
            p=docmdp.value, a=env.t(allowed_fr, allowed_en), c=env.t(change_fr, change_en)),
            SubIndication.FORMAT_FAILURE)
    if level == ModificationLevel.ANNOTATIONS:
        return warning("modification", env.t(
            "Annotations ajoutées, modifiées ou retirées après la signature (permis) : le contenu signé des pages "
            "est intact, vérifiez que les annotations ne masquent rien.",
            "Annotations added, changed or removed after signing (allowed): the signed content of the pages is "
            "intact; check that the annotations hide nothing."))
    if level == ModificationLevel.OTHER:
        return warning("modification", env.t("Modifications après la signature non classées.",
                                             "Changes after signing that could not be classified."))
    fr, en = _LEVEL_TEXT.get(level, _LEVEL_TEXT[ModificationLevel.FORM_FILLING])
    return passed("modification", env.t(fr, en))
