"""Error codes of the Compagnon bridge protocol.

Two families share one table:

* the JSON-RPC 2.0 codes (section 5.1 of the JSON-RPC 2.0 specification) for malformed traffic;
* stable application codes, sent in ``error.data.code`` of a JSON-RPC error and in the ``error.code``
  of a job snapshot. Pages branch on these strings; they never change meaning once published.

Every code carries a French message (the default) and an English one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Protocol


class ErrorCode(str, Enum):
    """Stable error codes. The value is what travels on the wire."""

    # JSON-RPC 2.0 transport errors.
    PARSE_ERROR = "PARSE_ERROR"
    INVALID_REQUEST = "INVALID_REQUEST"
    METHOD_NOT_FOUND = "METHOD_NOT_FOUND"
    INVALID_PARAMS = "INVALID_PARAMS"
    INTERNAL_ERROR = "INTERNAL_ERROR"
    # Session and protocol.
    PROTOCOL_UNSUPPORTED = "PROTOCOL_UNSUPPORTED"
    TOO_MANY_REQUESTS = "TOO_MANY_REQUESTS"
    # Pairing and consent (docs/SECURITY.md promises 3 and 4).
    PAIRING_REFUSED = "PAIRING_REFUSED"
    USER_CANCELLED = "USER_CANCELLED"
    USER_TIMEOUT = "USER_TIMEOUT"
    CONSENT_UNAVAILABLE = "CONSENT_UNAVAILABLE"
    CONSENT_RATE_LIMITED = "CONSENT_RATE_LIMITED"
    # Pairing key and per-connection authentication (PROTOCOL.md "Pairing").
    NOT_AUTHENTICATED = "NOT_AUTHENTICATED"
    NOT_PAIRED = "NOT_PAIRED"
    PAIRING_FAILED = "PAIRING_FAILED"
    PAIRING_CODE_INCORRECT = "PAIRING_CODE_INCORRECT"
    AUTH_FAILED = "AUTH_FAILED"
    # Jobs.
    UNKNOWN_JOB_KIND = "UNKNOWN_JOB_KIND"
    JOB_NOT_FOUND = "JOB_NOT_FOUND"
    JOB_INTERRUPTED = "JOB_INTERRUPTED"
    # Keys, tokens and PINs.
    PIN_INCORRECT = "PIN_INCORRECT"
    PIN_LOCKED = "PIN_LOCKED"
    PIN_REQUIRED = "PIN_REQUIRED"
    TOKEN_REMOVED = "TOKEN_REMOVED"
    NO_SUCH_CERTIFICATE = "NO_SUCH_CERTIFICATE"
    KEY_NOT_USABLE = "KEY_NOT_USABLE"
    KEY_USAGE_NOT_SIGNING = "KEY_USAGE_NOT_SIGNING"
    KEY_USAGE_NOT_ENCRYPTION = "KEY_USAGE_NOT_ENCRYPTION"
    # Sealed bids (envelopes).
    NO_MATCHING_RECIPIENT = "NO_MATCHING_RECIPIENT"
    DECRYPTION_FAILED = "DECRYPTION_FAILED"
    UNSUPPORTED_ALGORITHM = "UNSUPPORTED_ALGORITHM"
    ARCHIVE_UNSAFE = "ARCHIVE_UNSAFE"
    # Files.
    FILE_NOT_FOUND = "FILE_NOT_FOUND"
    FILE_TOO_LARGE = "FILE_TOO_LARGE"
    FILE_UNREADABLE = "FILE_UNREADABLE"
    # Platform access (docs/SECURITY.md promise 6).
    ORIGIN_NOT_ALLOWED = "ORIGIN_NOT_ALLOWED"
    PLATFORM_UNREACHABLE = "PLATFORM_UNREACHABLE"


@dataclass(frozen=True)
class ErrorInfo:
    """What the protocol says about one code."""

    rpc_code: int
    fr: str
    en: str

    def message(self, locale: str = "fr") -> str:
        return self.en if locale == "en" else self.fr


ERRORS: dict[ErrorCode, ErrorInfo] = {
    ErrorCode.PARSE_ERROR: ErrorInfo(
        -32700, "Message illisible : JSON invalide.", "Unreadable message: invalid JSON."
    ),
    ErrorCode.INVALID_REQUEST: ErrorInfo(
        -32600, "Requête JSON-RPC 2.0 invalide.", "Invalid JSON-RPC 2.0 request."
    ),
    ErrorCode.METHOD_NOT_FOUND: ErrorInfo(-32601, "Méthode inconnue.", "Unknown method."),
    ErrorCode.INVALID_PARAMS: ErrorInfo(-32602, "Paramètres invalides.", "Invalid parameters."),
    ErrorCode.INTERNAL_ERROR: ErrorInfo(
        -32603,
        "Erreur interne de Compagnon. Consultez le journal de l'agent.",
        "Compagnon internal error. See the agent's log.",
    ),
    ErrorCode.PROTOCOL_UNSUPPORTED: ErrorInfo(
        -32001,
        "Version du protocole non prise en charge par cette version de Compagnon.",
        "Protocol version not supported by this version of Compagnon.",
    ),
    ErrorCode.TOO_MANY_REQUESTS: ErrorInfo(
        -32002, "Trop de requêtes : réessayez plus tard.", "Too many requests: try again later."
    ),
    ErrorCode.PAIRING_REFUSED: ErrorInfo(
        -32010,
        "L'utilisateur n'a pas autorisé ce site à utiliser Compagnon.",
        "The user did not allow this site to use Compagnon.",
    ),
    ErrorCode.USER_CANCELLED: ErrorInfo(
        -32011, "Opération refusée par l'utilisateur.", "Operation refused by the user."
    ),
    ErrorCode.USER_TIMEOUT: ErrorInfo(
        -32012,
        "L'utilisateur n'a pas répondu à temps.",
        "The user did not answer in time.",
    ),
    ErrorCode.CONSENT_UNAVAILABLE: ErrorInfo(
        -32013,
        "Compagnon ne peut pas demander l'accord de l'utilisateur (aucune fenêtre ni terminal).",
        "Compagnon cannot ask for the user's consent (no window nor terminal).",
    ),
    ErrorCode.CONSENT_RATE_LIMITED: ErrorInfo(
        -32014,
        "Trop de demandes d'autorisation de ce site : une demande est déjà affichée ou la limite par "
        "minute est atteinte. Réessayez plus tard.",
        "Too many authorisation requests from this site: one is already shown or the limit per minute "
        "was reached. Try again later.",
    ),
    ErrorCode.NOT_AUTHENTICATED: ErrorInfo(
        -32015,
        "Connexion non authentifiée : la page doit d'abord prouver qu'elle est jumelée avec ce Compagnon "
        "(agent.auth).",
        "Connection not authenticated: the page must first prove it is paired with this Compagnon (agent.auth).",
    ),
    ErrorCode.NOT_PAIRED: ErrorInfo(
        -32016,
        "Ce site n'est pas jumelé avec ce Compagnon (ou le jumelage a été retiré) : jumelez-le à nouveau.",
        "This site is not paired with this Compagnon (or the pairing was removed): pair it again.",
    ),
    ErrorCode.PAIRING_FAILED: ErrorInfo(
        -32017,
        "Jumelage interrompu : étape inattendue ou preuve incorrecte. Recommencez le jumelage.",
        "Pairing interrupted: unexpected step or wrong proof. Start the pairing again.",
    ),
    ErrorCode.PAIRING_CODE_INCORRECT: ErrorInfo(
        -32019,
        "Code de jumelage incorrect : ce jumelage est annulé. Recommencez le jumelage et tapez le nouveau "
        "code que Compagnon affiche.",
        "Incorrect pairing code: this pairing is cancelled. Start the pairing again and type the new code "
        "Compagnon shows.",
    ),
    ErrorCode.AUTH_FAILED: ErrorInfo(
        -32018,
        "Authentification refusée : la preuve de la page est incorrecte ou déjà utilisée.",
        "Authentication refused: the page's proof is wrong or was already used.",
    ),
    ErrorCode.UNKNOWN_JOB_KIND: ErrorInfo(
        -32020, "Type de traitement inconnu.", "Unknown job kind."
    ),
    ErrorCode.JOB_NOT_FOUND: ErrorInfo(-32021, "Traitement introuvable.", "Job not found."),
    ErrorCode.JOB_INTERRUPTED: ErrorInfo(
        -32022,
        "Traitement interrompu : Compagnon s'est arrêté pendant son exécution.",
        "Job interrupted: Compagnon stopped while it was running.",
    ),
    ErrorCode.PIN_INCORRECT: ErrorInfo(
        -32040,
        "Code PIN ou mot de passe incorrect.",
        "Incorrect PIN or password.",
    ),
    ErrorCode.PIN_LOCKED: ErrorInfo(
        -32041,
        "Code PIN bloqué : utilisez le code de déblocage (PUK) fourni avec votre support.",
        "PIN locked: use the unblocking code (PUK) supplied with your token.",
    ),
    ErrorCode.PIN_REQUIRED: ErrorInfo(
        -32042,
        "Le code PIN ou le mot de passe est nécessaire.",
        "The PIN or password is required.",
    ),
    ErrorCode.TOKEN_REMOVED: ErrorInfo(
        -32043,
        "Le support (carte à puce ou clé USB) a été retiré.",
        "The token (smart card or USB key) was removed.",
    ),
    ErrorCode.NO_SUCH_CERTIFICATE: ErrorInfo(
        -32044,
        "Certificat introuvable : il n'est plus disponible sur ce poste.",
        "Certificate not found: it is no longer available on this workstation.",
    ),
    ErrorCode.KEY_NOT_USABLE: ErrorInfo(
        -32045,
        "La clé privée de ce certificat ne permet pas cette opération.",
        "This certificate's private key cannot perform this operation.",
    ),
    ErrorCode.KEY_USAGE_NOT_SIGNING: ErrorInfo(
        -32046,
        "Ce certificat ne permet pas de signer : son usage de clé le réserve à autre chose (chiffrement…).",
        "This certificate cannot sign: its key usage reserves it for something else (encryption…).",
    ),
    ErrorCode.KEY_USAGE_NOT_ENCRYPTION: ErrorInfo(
        -32047,
        "Ce certificat ne permet pas de chiffrer pour son titulaire : son usage de clé le réserve à la signature.",
        "This certificate cannot receive encrypted content: its key usage reserves it for signing.",
    ),
    ErrorCode.NO_MATCHING_RECIPIENT: ErrorInfo(
        -32060,
        "Aucune de vos clés de déchiffrement n'est destinataire de ce pli.",
        "None of your decryption keys is a recipient of this bid.",
    ),
    ErrorCode.DECRYPTION_FAILED: ErrorInfo(
        -32061,
        "Déchiffrement impossible : la clé ne convient pas ou l'enveloppe a été altérée.",
        "Decryption failed: the key does not fit or the envelope was altered.",
    ),
    ErrorCode.UNSUPPORTED_ALGORITHM: ErrorInfo(
        -32062, "Algorithme de chiffrement non pris en charge.", "Unsupported encryption algorithm."
    ),
    ErrorCode.ARCHIVE_UNSAFE: ErrorInfo(
        -32063,
        "Archive refusée : un fichier sortirait du dossier ou sa taille décompressée est anormale.",
        "Archive refused: an entry would leave the folder or its uncompressed size is abnormal.",
    ),
    ErrorCode.FILE_NOT_FOUND: ErrorInfo(-32050, "Fichier introuvable.", "File not found."),
    ErrorCode.FILE_TOO_LARGE: ErrorInfo(-32051, "Fichier trop volumineux.", "File too large."),
    ErrorCode.FILE_UNREADABLE: ErrorInfo(
        -32052,
        "Fichier illisible ou dans un format inattendu.",
        "Unreadable file or unexpected format.",
    ),
    ErrorCode.ORIGIN_NOT_ALLOWED: ErrorInfo(
        -32030,
        "Adresse refusée : Compagnon ne contacte que le site qui a lancé le traitement.",
        "Address refused: Compagnon only contacts the site that started the job.",
    ),
    ErrorCode.PLATFORM_UNREACHABLE: ErrorInfo(
        -32031,
        "Impossible de joindre la plateforme.",
        "The platform cannot be reached.",
    ),
}


def error_message(code: ErrorCode, locale: str = "fr") -> str:
    """The user-facing message of ``code`` in ``locale`` (``fr`` or ``en``)."""
    return ERRORS[code].message(locale)


class LocalizedText(Protocol):
    """A text in both of the protocol's languages (``agent.i18n.Text``): ``render(locale)``."""

    def render(self, locale: str | None = None) -> str: ...


@dataclass(frozen=True)
class Wording:
    """A text of the contract package in French and English (the agent's own is ``agent.i18n.Text``)."""

    fr: str
    en: str

    def render(self, locale: str | None = None) -> str:
        return self.en if locale == "en" else self.fr


def localized(value: object, locale: str) -> object:
    """``value`` in ``locale`` when it is a text in both languages, else ``value`` itself."""
    render = getattr(value, "render", None)
    return render(locale) if callable(render) else value


def message_in(custom: object, locale: str, standard: Callable[[str], str]) -> str:
    """A raiser's message ``custom`` in ``locale``: rendered when it has both languages; kept when it
    is a one-language text of that language (a plain ``str`` counts as French); otherwise the
    standard message ``standard(locale)``, so a page never reads a language it did not ask for."""
    if custom is not None and not isinstance(custom, str):
        return str(localized(custom, locale))
    language = "en" if locale == "en" else "fr"
    if custom is None or getattr(custom, "locale", "fr") != language:
        return standard(locale)
    return str(custom)


class ProtocolError(Exception):
    """An error that is reported to the client with a stable code.

    ``message`` is the raiser's more precise message. It is shown in the page's locale: given in
    both languages (an object with ``render(locale)``, such as ``agent.i18n.Text``) it is rendered
    in the locale asked for; a string already rendered in one language (``agent.i18n.Rendered``,
    which has a ``locale``) is shown to readers of that language only; a plain string is French.
    Any other reader gets the code's message from :data:`ERRORS` in their language: a sentence
    never reaches a page in a language it did not ask for. ``detail`` is extra, non-sensitive
    information for ``error.data`` (never a path, a traceback or key material); its texts in both
    languages are rendered in the page's locale too.
    """

    def __init__(self, code: ErrorCode, message: str | LocalizedText | None = None, **detail: object) -> None:
        super().__init__(localized(message, "fr") if message is not None else ERRORS[code].fr)
        self.code = code
        self.custom_message = message
        self.detail = detail

    def message(self, locale: str = "fr") -> str:
        """The message in ``locale``: the raiser's when it exists in that language, else the table's."""
        return message_in(self.custom_message, locale, ERRORS[self.code].message)

    def data(self, locale: str = "fr") -> dict[str, object]:
        """``error.data``: the stable code and the detail, its texts in ``locale``."""
        return {"code": self.code.value, **{key: localized(value, locale) for key, value in self.detail.items()}}

    def to_rpc_error(self, locale: str = "fr") -> dict[str, object]:
        """The JSON-RPC 2.0 ``error`` member (section 5.1)."""
        return {
            "code": ERRORS[self.code].rpc_code,
            "message": self.message(locale),
            "data": self.data(locale),
        }
