"""User-facing text in French (the default) and English."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

LOCALES = ("fr", "en")
DEFAULT_LOCALE = "fr"


class Rendered(str):
    """A text rendered in one language, which it remembers (``locale``): an error built from it is
    shown as is to a reader of that language only (``bridge_protocol.errors.ProtocolError``)."""

    locale: str

    def __new__(cls, text: str, locale: str) -> Rendered:
        made = super().__new__(cls, text)
        made.locale = locale
        return made

    def __reduce__(self) -> tuple[type[Rendered], tuple[str, str]]:
        return Rendered, (str(self), self.locale)


@dataclass(frozen=True)
class Text:
    """One message in both languages; ``str.format`` fields are filled by ``render``."""

    fr: str
    en: str

    def render(self, locale: str | None = None, **fields: object) -> str:
        language = "en" if locale == "en" else "fr"
        template = self.en if language == "en" else elide(self.fr, fields)
        return Rendered(template.format(**fields) if fields else template, language)

    def filled(self, **fields: object) -> Text:
        """The same message with its fields filled in both languages, to be rendered later in the
        locale of whoever reads it (a page's error, a job's snapshot)."""
        return Text(elide(self.fr, fields).format(**fields), self.en.format(**fields))


#: French words elided before a vowel ("de Acheteur" is written "d'Acheteur").
_ELIDED = re.compile(r"(?<![\w'’-])(de|que|jusque|lorsque|puisque|le|la|ne|je|se) \{(\w+)\}")
_VOWEL = re.compile(r"^[aeiouyàâäéèêëîïôöùûüAEIOUYÀÂÄÉÈÊËÎÏÔÖÙÛÜ]")


def elide(template: str, fields: dict[str, object]) -> str:
    """``template`` with French elision where a field filled in starts with a vowel: "de {who}"
    becomes "d'{who}" for "Acheteur DURAND", "le {x}" "l'{x}" for "offre"; a value that starts
    with a consonant, a digit or a sign keeps the full word."""
    if not fields or "{" not in template:
        return template

    def one(match: re.Match[str]) -> str:
        word, name = match.group(1), match.group(2)
        value = fields.get(name)
        if not isinstance(value, str) or not _VOWEL.match(value):
            return match.group(0)
        short = "l" if word in ("le", "la") else word[:-1]
        return f"{short}'{{{name}}}"

    return _ELIDED.sub(one, template)


def pick_locale(*candidates: str | None) -> str:
    """The first supported locale among ``candidates``, else French."""
    for value in candidates:
        if value in LOCALES:
            return value
    return DEFAULT_LOCALE


def human_size(count: float, locale: str = "fr") -> str:
    """``1,5 Mo`` / ``1.5 MB`` (decimal multiples of the octet, as users read them)."""
    units = ("o", "Ko", "Mo", "Go", "To") if locale != "en" else ("B", "KB", "MB", "GB", "TB")
    value, unit = float(count), units[0]
    for unit in units:
        if abs(value) < 1000 or unit == units[-1]:
            break
        value /= 1000
    text = f"{value:.0f}" if unit == units[0] else f"{value:.1f}"
    return f"{text.replace('.', ',') if locale != 'en' else text} {unit}"


def system_locale() -> str:
    """The user's language as the system gives it (``LANGUAGE``, ``LC_ALL``, ``LC_MESSAGES``,
    ``LANG``, then the C library's), for the agent's own windows: English when it says English,
    else French."""
    import locale
    import os

    names = [os.environ.get(name, "") for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")]
    names.append(locale.getlocale()[0] or "")
    for name in names:
        if name and name not in ("C", "POSIX") and not name.startswith("C."):
            return "en" if name.lower().startswith("en") else DEFAULT_LOCALE
    return DEFAULT_LOCALE


def human_datetime(iso: str, locale: str = "fr") -> str:
    """An RFC 3339 time as users read it, in UTC: ``07/12/2026 à 04:40:12 UTC`` /
    ``7 December 2026 at 04:40:12 UTC``; the text itself when it is no such time."""
    try:
        moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return iso
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    if locale == "en":
        return f"{_english_day(moment)} at {moment:%H:%M:%S} UTC"
    return moment.strftime("%d/%m/%Y à %H:%M:%S UTC")


def human_date(iso: str, locale: str = "fr") -> str:
    """The day of an RFC 3339 time as users read it (UTC): ``14/06/2022`` / ``14 June 2022``; the text itself when it
    is no such time."""
    try:
        moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return iso
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return _english_day(moment) if locale == "en" else moment.strftime("%d/%m/%Y")


_MONTHS_EN = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
              "October", "November", "December")


def _english_day(moment: datetime) -> str:
    """``14 June 2022``: the day with the month's English name, whatever the C library's locale."""
    return f"{moment.day} {_MONTHS_EN[moment.month - 1]} {moment.year}"
