"""Sealed bids: CMS envelopes (RFC 5652 section 6 EnvelopedData, RFC 5083 AuthEnvelopedData),
streamed in constant memory, and the safe extraction of the ZIP archives they carry.

Engines only: they take streams, certificates, an ``unwrap`` callback (the private key stays in
its key store) and a progress callback, and never import the bridge, the UI or the HTTP client.
Everything is synchronous; job kinds run it in a worker thread.

* :func:`recipients` lists who an envelope is for, without decrypting.
* :func:`decrypt` opens DER or BER (``openssl cms -stream``) envelopes, RSA PKCS #1 v1.5 or OAEP
  key transport, AES-CBC or AES-GCM content encryption.
* :func:`encrypt` seals a file for one or more RSA certificates; ``openssl cms -decrypt`` opens it.
* :func:`extract_zip` unpacks an archive without zip-slip nor zip-bomb.

Errors are :class:`EnvelopeError` with a stable ``code`` and a French message.
"""

from __future__ import annotations

from ..pki.archive import extract_zip
from ..pki.ber import EnvelopeError
from .decrypt import (
    CONTENT_ALGORITHMS,
    DecryptInfo,
    RecipientInfo,
    Unwrap,
    decrypt,
    recipients,
    session_unwrapper,
)
from .encrypt import KEY_TRANSPORTS, encrypt

__all__ = [
    "CONTENT_ALGORITHMS",
    "KEY_TRANSPORTS",
    "DecryptInfo",
    "EnvelopeError",
    "RecipientInfo",
    "Unwrap",
    "decrypt",
    "encrypt",
    "extract_zip",
    "recipients",
    "session_unwrapper",
]
