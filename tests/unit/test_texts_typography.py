"""Every user-facing text pair of the project, French and English, read as a proof-reader would:
accents on the common words that lose them (Émetteur, Échec, État…), French elision (no "de
Acheteur": "d'Acheteur", also when a name is filled in), the French space before ":" and ";" and
inside « », and none of it in English.

The pairs are collected from the source: every ``Text(fr, en)`` / ``T(fr, en)`` call and
``env.t(fr, en)`` / ``t(fr, en)`` call with literal strings, every ``ErrorInfo`` (bridge_protocol/
errors.py), the demo pages' French and English tables (common.js) and the platform kit's job view's
(bridge_protocol/js/job-view.js)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from agent.i18n import Text

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [p for folder in ("agent", "bridge_protocol") for p in (ROOT / folder).rglob("*.py")]
COMMON_JS = ROOT / "agent" / "demo_platform" / "static" / "common.js"
JOB_VIEW_JS = ROOT / "bridge_protocol" / "js" / "job-view.js"
_CALLS = {"Text", "T", "ErrorInfo"}


def _literal(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def python_pairs() -> list[tuple[str, str, str]]:
    """``(where, french, english)`` of every literal text pair in the Python sources."""
    pairs = []
    for path in SOURCES:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            if name not in _CALLS and name != "t":
                continue
            keywords = {k.arg: k.value for k in node.keywords}
            strings = [a for a in node.args if _literal(a) is not None]
            fr = _literal(keywords.get("fr")) or (_literal(strings[0]) if len(strings) >= 2 else None)
            en = _literal(keywords.get("en")) or (_literal(strings[1]) if len(strings) >= 2 else None)
            if fr is not None and en is not None:
                pairs.append((f"{path.relative_to(ROOT)}:{node.lineno}", fr, en))
    return pairs


def page_pairs() -> list[tuple[str, str, str]]:
    """The demo pages' and the kit's job view's texts, French and English, paired by key."""
    entry = re.compile(r'(\w+): "((?:[^"\\]|\\.)*)"')
    pairs = []
    for script in (COMMON_JS, JOB_VIEW_JS):
        text = script.read_text(encoding="utf-8")
        fr = dict(entry.findall(text.split("fr: {", 1)[1].split("\n  },", 1)[0]))
        en = dict(entry.findall(text.split("en: {", 1)[1].split("\n  },", 1)[0]))
        assert fr.keys() == en.keys(), (script.name, fr.keys() ^ en.keys())
        pairs += [(f"{script.name}:{key}", fr[key], en[key]) for key in fr]
    return pairs


PAIRS = python_pairs() + page_pairs()

#: Words that lose their accent, as they must be written (checked whole, any case).
ACCENTED = {
    "emetteur": "émetteur", "echec": "échec", "etat": "état", "ecriture": "écriture", "etape": "étape",
    "verification": "vérification", "controle": "contrôle", "deja": "déjà", "recu": "reçu",
    "acces": "accès", "succes": "succès", "periode": "période", "genere": "généré", "electronique": "électronique",
    "cle": "clé", "cles": "clés", "telechargement": "téléchargement", "reessayez": "réessayez",
}
_ELISION = re.compile(r"(?<![\w'’-])(de|que|le|la|ne|je|se|me|te|jusque|lorsque|puisque) [aeiouyéèêàâîôAEIOUYÉÈÊÀÂÎÔ]")


def _shown(text: str) -> str:
    """The text as read: fields as a neutral word, URLs and times left out."""
    text = re.sub(r"\{[^}]*\}|\$\{[^}]*\}", "X", text)
    return re.sub(r"\w+://\S+|\b\d{1,2}:\d{2}\b", "", text)


def test_the_collection_sees_the_texts() -> None:
    assert len(PAIRS) > 800
    where = {w.split(":")[0] for w, _, _ in PAIRS}
    assert {"bridge_protocol/errors.py", "agent/kinds/sign.py", "agent/validation/pes.py", "common.js",
            "job-view.js"} <= where


@pytest.mark.parametrize("word", sorted(ACCENTED))
def test_french_words_keep_their_accents(word: str) -> None:
    pattern = re.compile(rf"\b{word}\b", re.IGNORECASE)
    bad = [(w, fr) for w, fr, _ in PAIRS if pattern.search(_shown(fr))]
    assert not bad, f"« {ACCENTED[word]} » : {bad}"


def test_french_elides_before_a_vowel() -> None:
    bad = [(w, fr) for w, fr, _ in PAIRS if _ELISION.search(_shown(fr))]
    assert not bad, bad


def test_french_spacing_only_in_french() -> None:
    french = [(w, fr) for w, fr, _ in PAIRS if re.search(r"[^\s\d(\[/:'’X]:(\s|$)|[^\s(]«|«[^\s]|[^\s]»", _shown(fr))]
    assert not french, french
    english = [(w, en) for w, _, en in PAIRS if re.search(r" [:;!?](\s|$)|[«»]", _shown(en))]
    assert not english, english


@pytest.mark.parametrize(("template", "fields", "expected"), [
    ("avec la clé de {who}.", {"who": "Acheteur DURAND"}, "avec la clé d'Acheteur DURAND."),
    ("avec le certificat de {who}.", {"who": "Émile ZOLA"}, "avec le certificat d'Émile ZOLA."),
    ("avec la clé de {who}.", {"who": "Jean DUPONT"}, "avec la clé de Jean DUPONT."),
    ("Signer {n} fichier(s) de {who}", {"n": 2, "who": "ACME"}, "Signer 2 fichier(s) d'ACME"),
    ("le {item}", {"item": "offre"}, "l'offre"),
    ("de {n} octets", {"n": 8}, "de 8 octets"),
])
def test_a_filled_in_name_is_elided_in_french(template: str, fields: dict[str, object], expected: str) -> None:
    assert Text(template, "unchanged {who}").render("fr", **fields) == expected
    assert Text(template, template).render("en", **fields) == template.format(**fields)
