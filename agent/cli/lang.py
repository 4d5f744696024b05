"""The command line's language: ``--lang fr|en`` wherever it is given, else the system locale
(``LANGUAGE``, ``LC_ALL``, ``LC_MESSAGES``, ``LANG``); and argparse's
own texts ("usage:", "error:", "show this help message and exit"…) in French through argparse's
gettext hook (the module's ``_``), so a French command line is French throughout."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

from ..i18n import DEFAULT_LOCALE, LOCALES

#: argparse's messages (CPython 3.11 msgids) in French, with the French space before ":".
ARGPARSE_FR = {
    "usage: ": "utilisation : ",
    "%(prog)s: error: %(message)s\n": "%(prog)s : erreur : %(message)s\n",
    "positional arguments": "arguments",
    "options": "options",
    "show this help message and exit": "afficher cette aide et quitter",
    "argument %(argument_name)s: %(message)s": "argument %(argument_name)s : %(message)s",
    "invalid choice: %(value)r (choose from %(choices)s)": "choix invalide : %(value)r (au choix : %(choices)s)",
    "invalid %(type)s value: %(value)r": "valeur invalide (%(type)s) : %(value)r",
    "the following arguments are required: %s": "arguments obligatoires manquants : %s",
    "unrecognized arguments: %s": "arguments inconnus : %s",
    "expected one argument": "une valeur attendue",
    "expected at least one argument": "au moins une valeur attendue",
    "expected at most one argument": "au plus une valeur attendue",
    "ambiguous option: %(option)s could match %(matches)s": "option ambiguë : %(option)s peut désigner %(matches)s",
    "not allowed with argument %s": "incompatible avec l'argument %s",
    "one of the arguments %s is required": "l'un des arguments %s est obligatoire",
    "ignored explicit argument %r": "valeur %r ignorée",
    "unknown parser %(parser_name)r (choices: %(choices)s)": "commande inconnue %(parser_name)r (au choix : %(choices)s)",
    "can't open '%(filename)s': %(error)s": "impossible d'ouvrir « %(filename)s » : %(error)s",
}


def cli_locale(argv: Sequence[str]) -> str:
    """The language the command line speaks: ``--lang`` (or ``--lang=``) in ``argv``, else the
    first of ``LANGUAGE``, ``LC_ALL``, ``LC_MESSAGES``, ``LANG`` that names a language (English
    when it says English), else French."""
    for index, arg in enumerate(argv):
        value = arg.split("=", 1)[1] if arg.startswith("--lang=") else (
            argv[index + 1] if arg == "--lang" and index + 1 < len(argv) else None)
        if value is not None and value.lower() in LOCALES:
            return value.lower()
    for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(name, "")
        if value and value not in ("C", "POSIX") and not value.startswith(("C.", "POSIX.")):
            return "en" if value.lower().startswith("en") else DEFAULT_LOCALE
    return DEFAULT_LOCALE  # the C locale names no language: the product's own (French)


def use_argparse_language(locale: str) -> None:
    """argparse's texts in ``locale`` (its gettext hook: every message goes through ``argparse._``)."""
    table = ARGPARSE_FR if locale == "fr" else {}
    argparse._ = lambda message: table.get(message, message)  # type: ignore[attr-defined]  # argparse imports gettext as _, which typeshed does not declare


__all__ = ["ARGPARSE_FR", "cli_locale", "use_argparse_language"]
