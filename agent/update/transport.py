"""Downloads for the updater: https only (loopback http for tests), redirects held to the same rule.

Blocking (urllib): the updater runs in the command line or a worker thread. Bodies are bounded:
``fetch`` reads at most ``max_bytes`` (+1 to tell "too large"), ``download`` streams into a binary
stream while hashing, in constant memory, and stops as soon as more bytes come than announced.
"""

from __future__ import annotations

import hashlib
import http.client
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import BinaryIO

from .config import url_allowed
from .manifest import UpdateRefused

CHUNK = 1024 * 1024
USER_AGENT = "Compagnon-updater"


class _CheckedRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        if not url_allowed(newurl):
            raise UpdateRefused("insecure_url", f"redirection vers {newurl[:200]}")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_opener = urllib.request.build_opener(_CheckedRedirects)


def _open(url: str, timeout: float):  # type: ignore[no-untyped-def]
    if not url_allowed(url):
        raise UpdateRefused("insecure_url", url[:200])
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"})
    try:
        return _opener.open(request, timeout=timeout)
    except UpdateRefused:
        raise
    except urllib.error.HTTPError as exc:
        raise UpdateRefused("download_failed", f"{url[:200]} : HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as exc:
        raise UpdateRefused("download_failed", f"{url[:200]} : {getattr(exc, 'reason', exc)}") from None


def fetch(url: str, max_bytes: int, too_large: str = "download_failed", timeout: float = 30.0) -> bytes:
    """The body of ``url``; UpdateRefused(``too_large``) beyond ``max_bytes``."""
    with _open(url, timeout) as response:
        try:
            body = response.read(max_bytes + 1)
        except (OSError, http.client.HTTPException) as exc:
            raise UpdateRefused("download_failed", f"{url[:200]} : {exc!r}") from None
    if len(body) > max_bytes:
        raise UpdateRefused(too_large, url[:200])
    return body


def download(url: str, sink: BinaryIO, expected_size: int, expected_sha256: str, *, name: str = "",
             timeout: float = 60.0, progress: Callable[[int], None] | None = None) -> None:
    """Stream ``url`` into ``sink``, checking its size and SHA-256 as it comes (constant memory).

    Raises UpdateRefused ``size_mismatch`` (as soon as the announced or received length exceeds
    ``expected_size``, or when it ends short) or ``hash_mismatch``.
    """
    label = name or url[:200]
    digest = hashlib.sha256()
    received = 0
    with _open(url, timeout) as response:
        announced = response.headers.get("Content-Length")
        if announced is not None and announced.isdigit() and int(announced) != expected_size:
            raise UpdateRefused("size_mismatch", f"{label} : {announced} octets annoncés, {expected_size} attendus")
        while True:
            try:
                chunk = response.read(min(CHUNK, expected_size - received + 1))
            except (OSError, http.client.HTTPException) as exc:
                raise UpdateRefused("download_failed", f"{label} : {exc!r}") from None
            if not chunk:
                break
            received += len(chunk)
            if received > expected_size:
                raise UpdateRefused("size_mismatch", f"{label} : plus de {expected_size} octets reçus")
            digest.update(chunk)
            sink.write(chunk)
            if progress is not None:
                progress(received)
    if received != expected_size:
        raise UpdateRefused("size_mismatch", f"{label} : {received} octets reçus, {expected_size} attendus")
    if digest.hexdigest() != expected_sha256:
        raise UpdateRefused("hash_mismatch", label)
