"""The agent's one error model (agent/errors.py, docs/ARCHITECTURE.md section 1): every engine error
is a CompagnonError with a stable code and a message in both languages, and a ReportedError becomes
exactly the protocol's JSON-RPC error at the bridge (JSON-RPC 2.0 section 5.1)."""

from __future__ import annotations

import pytest

from agent.bridge.rpc import _error
from agent.pki.ber import EnvelopeError, format_failure
from agent.errors import ENGINE_MESSAGES, CompagnonError, ReportedError, message_of
from agent.public_http import FetchError
from agent.signing.cades import CadesError
from agent.pki.xml_safe import XmlRefused
from agent.signing.xades_xml import XadesError
from agent.tsa_client import TimestampError
from agent.validation.cms_stream import CmsFormatError
from bridge_protocol.errors import ERRORS, ErrorCode, ProtocolError

ENGINE_CLASSES = [
    (EnvelopeError("DECRYPTION_FAILED", "Déchiffrement impossible.", "Decryption failed."), ValueError),
    (format_failure("fichier tronqué"), ValueError),
    (CadesError("Pas une signature CMS."), ValueError),
    (XadesError("Pas de signature."), ValueError),
    (XmlRefused("DOCTYPE refusé."), ValueError),
    (CmsFormatError("base64 invalide"), ValueError),
    (FetchError("adresse refusée"), ConnectionError),
    (TimestampError("refusé (rejection)"), Exception),
]


@pytest.mark.parametrize(("error", "legacy"), ENGINE_CLASSES, ids=[type(e).__name__ for e, _ in ENGINE_CLASSES])
def test_every_engine_error_is_a_compagnon_error_with_a_code_and_two_messages(
        error: CompagnonError, legacy: type[Exception]) -> None:
    assert isinstance(error, CompagnonError) and isinstance(error, legacy)
    assert error.code in ENGINE_MESSAGES or error.code in ErrorCode.__members__
    assert error.message("fr") and error.message("en")
    assert str(error) == error.message("fr")


def test_the_table_has_both_languages_for_every_code() -> None:
    for code in [*ENGINE_MESSAGES, *ErrorCode.__members__]:
        french, english = message_of(code, "fr"), message_of(code, "en")
        assert french and english and french != english, code
    assert not set(ENGINE_MESSAGES) & set(ErrorCode.__members__), "an engine code shadows a protocol code"


def test_a_raisers_message_is_given_in_both_languages() -> None:
    error = EnvelopeError("ARCHIVE_UNSAFE", "Archive refusée : entrée hors du dossier.",
                          "Archive refused: entry outside the folder.")
    assert error.message("fr") == "Archive refusée : entrée hors du dossier."
    assert error.message("en") == "Archive refused: entry outside the folder."
    # A sentence written in French only never reaches an English reader: the table's message does.
    french_only = CadesError("Signature illisible.")
    assert french_only.message("fr") == "Signature illisible."
    assert french_only.message("en") == message_of("CADES_FAILURE", "en")


@pytest.mark.parametrize("locale", ["fr", "en"])
@pytest.mark.parametrize(("args", "detail"), [
    ((ErrorCode.PIN_INCORRECT,), {"tries_left": 2}),
    ((ErrorCode.KEY_NOT_USABLE, "Le support est plein : supprimez une clé inutile."), {}),
    ((ErrorCode.FILE_TOO_LARGE,), {"needed": 10, "free": 3}),
])
def test_a_reported_error_is_the_protocols_error_on_the_wire(
        args: tuple, detail: dict[str, object], locale: str) -> None:
    reported = _error(7, ReportedError(*args, **detail), locale)
    expected = _error(7, ProtocolError(*args, **detail), locale)
    assert reported == expected
    assert reported["error"]["code"] == ERRORS[args[0]].rpc_code
    assert reported["error"]["data"] == {"code": args[0].value, **detail}
