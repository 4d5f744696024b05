"""User-facing text in French (the default) and English."""

from __future__ import annotations

from dataclasses import dataclass

LOCALES = ("fr", "en")
DEFAULT_LOCALE = "fr"


@dataclass(frozen=True)
class Text:
    """One message in both languages; ``str.format`` fields are filled by ``render``."""

    fr: str
    en: str

    def render(self, locale: str | None = None, **fields: object) -> str:
        template = self.en if locale == "en" else self.fr
        return template.format(**fields) if fields else template


def pick_locale(*candidates: str | None) -> str:
    """The first supported locale among ``candidates``, else French."""
    for value in candidates:
        if value in LOCALES:
            return value
    return DEFAULT_LOCALE
