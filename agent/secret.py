"""A PIN or password in memory: shown as ``***`` by ``str``, ``repr`` and therefore in any log line.

It sits below every layer (key stores, consent, job kinds) so that none imports another for it.
"""

from __future__ import annotations


class Secret:
    """A PIN or password: its text is never shown by ``str``, ``repr`` or a log line."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__


def is_blank(secret: Secret | None) -> bool:
    """No PIN or password given, or an empty one: both are ``PIN_REQUIRED`` (PROTOCOL.md section 2, "PIN")."""
    return secret is None or not secret.reveal()
