"""An error's message and its ``data`` texts follow the reader's locale (PROTOCOL.md section 6,
"Language of the agent's texts"): a raiser's own message is shown in a language only when it
exists in that language; otherwise the code's message in the reader's language."""

from __future__ import annotations

import pickle

import pytest

from agent.i18n import Rendered, Text
from bridge_protocol.errors import ERRORS, ErrorCode, ProtocolError
from bridge_protocol.messages import HelloParams
from bridge_protocol.typed import ParseError, parse

GENERIC_EN = ERRORS[ErrorCode.FILE_NOT_FOUND].en
GENERIC_FR = ERRORS[ErrorCode.FILE_NOT_FOUND].fr


def test_a_plain_french_message_never_reaches_an_english_reader() -> None:
    error = ProtocolError(ErrorCode.FILE_NOT_FOUND, "Fichier introuvable : offre.pdf")
    assert error.message("fr") == "Fichier introuvable : offre.pdf"
    assert error.message("en") == GENERIC_EN
    assert error.to_rpc_error("en")["message"] == GENERIC_EN
    assert str(error) == "Fichier introuvable : offre.pdf"


def test_a_message_in_both_languages_is_rendered_for_each_reader() -> None:
    error = ProtocolError(ErrorCode.FILE_NOT_FOUND, Text("Introuvable : {n}", "Not found: {n}").filled(n="offre.pdf"))
    assert error.message("en") == "Not found: offre.pdf"
    assert error.message("fr") == "Introuvable : offre.pdf"
    assert error.message(None) == "Introuvable : offre.pdf"  # type: ignore[arg-type]
    assert str(error) == "Introuvable : offre.pdf"


@pytest.mark.parametrize("locale", ["fr", "en"])
def test_a_message_rendered_in_one_language_is_shown_in_that_language_only(locale: str) -> None:
    text = Text("Accès refusé ({s})", "Access denied ({s})")
    error = ProtocolError(ErrorCode.FILE_NOT_FOUND, text.render(locale, s=403))
    other = "fr" if locale == "en" else "en"
    assert error.message(locale) == text.render(locale, s=403)
    assert error.message(other) == (GENERIC_EN if other == "en" else GENERIC_FR)
    # Concatenation loses the language: the result is a plain (French) string.
    assert not isinstance(text.render(locale) + "!", Rendered)


def test_rendered_texts_keep_their_language_across_processes() -> None:
    rendered = Text("oui", "yes").render("en")
    copy = pickle.loads(pickle.dumps(rendered))
    assert copy == "yes" and isinstance(copy, Rendered) and copy.locale == "en"


def test_data_texts_follow_the_reader() -> None:
    error = ProtocolError(ErrorCode.INVALID_PARAMS, path="/params/files",
                          reason=Text("aucun fichier", "no file"), limit=3)
    assert error.to_rpc_error("en")["data"] == {"code": "INVALID_PARAMS", "path": "/params/files",
                                                "reason": "no file", "limit": 3}
    assert error.to_rpc_error("fr")["data"]["reason"] == "aucun fichier"


@pytest.mark.parametrize(("value", "french", "english"), [
    ({"protocol": 1}, "membre obligatoire manquant", "required member missing"),
    ({"protocol": 1, "client": {"name": "p", "version": "2"}, "extra": 1}, "membre inconnu", "unknown member"),
    ({"protocol": "1", "client": {"name": "p", "version": "2"}}, "entier attendu", "integer expected"),
    ({"protocol": 1, "client": {"name": "p" * 101, "version": "2"}}, "au plus 100 caractères",
     "at most 100 characters"),
])
def test_parameter_checks_say_why_in_both_languages(value: object, french: str, english: str) -> None:
    with pytest.raises(ParseError) as err:
        parse(HelloParams, value)
    assert err.value.reason == french and err.value.english == english
    assert err.value.wording.render("en") == english and err.value.wording.render("fr") == french


def test_the_windows_store_is_named_in_the_readers_language() -> None:
    from agent.keystores.windows_store import WindowsMyStore
    from agent.kinds.keygen import _Plan

    plan = _Plan("windows", "Jérôme DUPONT", None, True, 3072)
    assert plan.location(False, "en") == "Windows store: Jérôme DUPONT (secours)"
    assert plan.location(False, "fr") == "Magasin Windows : Jérôme DUPONT (secours)"
    store = WindowsMyStore.__new__(WindowsMyStore)  # no CryptoAPI here: only its names are read
    assert store.display_label("en") == "Windows store" and store.display_label("fr") == store.label
