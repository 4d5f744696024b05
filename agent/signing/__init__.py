"""Signing engines: PAdES, CAdES (with co- and counter-signature), XAdES.

Engines take streams, a ``SigningKey`` and optional ``Timestamper`` and progress callback; they
never import the bridge, the UI or an HTTP client.
"""
