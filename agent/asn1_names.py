"""asn1crypto's OID name maps, made whole after pyHanko registers its own names.

pyHanko names the CAdES attributes of ETSI EN 319 122-1 (``pyhanko.sign.ades.cades_asn1``) and the
QCStatements extension of ETSI EN 319 412-5 (``qc_statements``, ``pyhanko.sign.ades.qualified_asn1``)
by adding them to ``CMSAttributeType._map`` and ``ExtensionId._map`` only. asn1crypto builds each
class's reverse map (name → OID) once, the first time any name of that class is written. When that
happened before pyHanko's modules were imported — a certificate built by name, a test PKI, another
library — a registered name can be read but not written back: re-encoding a qualified certificate's
extensions (as PAdES signing does) fails with ``invalid literal for int() … 'qc_statements'``,
depending only on import order.

Importing this module performs pyHanko's registrations, then rebuilds both reverse maps from their
forward maps, so every name reads and writes whatever was imported first. The signing and
validation packages import it.
"""

from __future__ import annotations

from asn1crypto import cms, x509
from pyhanko.sign.ades import cades_asn1, qualified_asn1

#: pyHanko's modules whose import registers names (kept referenced: they are imported for that).
REGISTERING_MODULES = (cades_asn1, qualified_asn1)

for _names in (cms.CMSAttributeType, x509.ExtensionId):
    _names._reverse_map = {name: oid for oid, name in _names._map.items()}
