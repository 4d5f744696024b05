"""asn1crypto's OID name maps, kept whole whatever registers names and when.

pyHanko names the CAdES attributes of ETSI EN 319 122-1 (``pyhanko.sign.ades.cades_asn1``) and the
QCStatements extension of ETSI EN 319 412-5 (``qc_statements``, ``pyhanko.sign.ades.qualified_asn1``)
by adding them to ``CMSAttributeType._map`` and ``ExtensionId._map`` only. asn1crypto builds each
class's reverse map (name → OID) once, the first time any name of that class is written. When that
happened before pyHanko's modules were imported — a certificate built by name, a test PKI, another
library — a registered name can be read but not written back: re-encoding a qualified certificate's
extensions (as PAdES signing does) fails with ``invalid literal for int() … 'qc_statements'``,
depending only on import order.

Importing this module makes both forward maps keep their reverse map in step: a name added later
(by pyHanko or anyone) is written back as well as read. It imports asn1crypto only, so a format
whose validator needs no pyHanko still loads none. The signing and validation packages import it.
"""

from __future__ import annotations

from typing import Any

from asn1crypto import cms, core, x509


class _NameMap(dict[str, str]):
    """An OID → name map that adds each new name to its owner's reverse map, once that exists."""

    def __init__(self, owner: type[core.ObjectIdentifier], names: dict[str, str]) -> None:
        super().__init__(names)
        self._owner = owner

    def __setitem__(self, oid: str, name: str) -> None:
        super().__setitem__(oid, name)
        reverse: dict[str, Any] | None = self._owner._reverse_map
        if reverse is not None:
            reverse[name] = oid


def keep_names_whole(owner: type[core.ObjectIdentifier]) -> None:
    """Make ``owner``'s name maps consistent now and after any later registration."""
    if not isinstance(owner._map, _NameMap):
        owner._map = _NameMap(owner, owner._map)
    if owner._reverse_map is not None:
        owner._reverse_map = {name: oid for oid, name in owner._map.items()}


for _names in (cms.CMSAttributeType, x509.ExtensionId):
    keep_names_whole(_names)
