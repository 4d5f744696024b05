"""Signing engines: PAdES, CAdES (with co- and counter-signature), XAdES.

Engines take streams, a ``SigningKey`` and optional ``Timestamper`` and progress callback; they
never import the bridge, the UI or an HTTP client.
"""

from .. import asn1_names  # noqa: F401  (pyHanko's OID names, whatever the import order)
