"""One error model for the agent's engines and services (docs/ARCHITECTURE.md, section 1).

Every error the engines raise on purpose is a :class:`CompagnonError`: a stable ``code``, a message
in French and English, and non-sensitive ``detail``. Two families:

* :class:`ReportedError`: its code is one of the protocol's stable codes (``ErrorCode``); the job
  manager, the bridge, the console and the command line report it as is. The wire form (a JSON-RPC
  ``error`` member) is made in one place, the bridge's dispatcher (``agent/bridge/rpc.py``).
* the engines' own classes (``EnvelopeError``, ``CadesError``, ``XadesError``, ``CmsFormatError``,
  ``FetchError``): codes of the engine, which the job kinds translate into a protocol code (a file
  that cannot be read, a decryption that failed...) or into a line of a report.

Messages come from one table per code: the protocol's (``bridge_protocol/errors.py``: the codes
pages branch on, and their two messages) for reported errors, :data:`ENGINE_MESSAGES` for the
engines' codes. A raiser may give a more precise message, under the protocol's rule: shown in a
language only when it was written in that language.
Engines import this module, never the wire type ``ProtocolError`` nor the bridge.
"""

from __future__ import annotations

from bridge_protocol.errors import ERRORS, ErrorCode, LocalizedText, localized, message_in

from .i18n import Text

__all__ = ["ENGINE_MESSAGES", "CompagnonError", "ErrorCode", "ReportedError", "message_of"]

#: The two messages of the engines' own codes (French, English), used when the raiser gives none.
ENGINE_MESSAGES: dict[str, tuple[str, str]] = {
    "FORMAT_FAILURE": ("Enveloppe illisible.", "Unreadable envelope."),
    "CADES_FAILURE": ("Signature CAdES impossible.", "CAdES signature impossible."),
    "XADES_FAILURE": ("Signature XML impossible.", "XML signature impossible."),
    "XML_REFUSED": ("Document XML refusé.", "XML document refused."),
    "CMS_FORMAT": ("Fichier CMS illisible.", "Unreadable CMS file."),
    "FETCH_FAILED": ("Téléchargement impossible.", "Download failed."),
}


def message_of(code: str, locale: str = "fr") -> str:
    """The table's message of ``code`` in ``locale`` (``fr`` or ``en``)."""
    if code in ErrorCode.__members__:
        return ERRORS[ErrorCode(code)].message(locale)
    french, english = ENGINE_MESSAGES[code]
    return english if locale == "en" else french


class CompagnonError(Exception):
    """Base of the agent's errors: a stable ``code``, its message in both languages, ``detail``.

    ``message`` is the raiser's more precise message, with the protocol's rule for it
    (``bridge_protocol.errors.ProtocolError``): in both languages (``english`` given, or an object
    with ``render(locale)`` such as ``agent.i18n.Text``) it is shown in the reader's language; a
    plain string is French and shown to French readers only, the others get the table's message.
    ``detail`` is extra, non-sensitive information (never a path, a traceback or key material).
    """

    def __init__(self, code: str, message: str | LocalizedText | None = None, english: str | None = None,
                 **detail: object) -> None:
        if isinstance(message, str) and english:
            message = Text(message, english)
        super().__init__(str(localized(message, "fr")) if message is not None else message_of(code, "fr"))
        self.code = code
        self.custom_message = message
        self.detail = detail

    def message(self, locale: str = "fr") -> str:
        """The message in ``locale``: the raiser's when it exists in that language, else the table's."""
        return message_in(self.custom_message, locale, lambda language: message_of(self.code, language))


class ReportedError(CompagnonError):
    """An error reported with one of the protocol's stable codes (pages branch on them)."""

    code: ErrorCode

    def __init__(self, code: ErrorCode, message: str | LocalizedText | None = None, english: str | None = None,
                 **detail: object) -> None:
        super().__init__(code, message, english, **detail)
        self.code = code
